"""Mutation testing of the modules listed in pyproject.toml's [tool.mutmut], and the score of each.

`make mutate` runs this: `mutmut run` (each small change to the code, run against the tests that cover it),
then one line per module: mutants killed (a test failed), survived (every test passed: a check is missing,
or the change cannot alter behaviour), and without a covering test. With --record it appends the table to
benchmarks/BENCHMARKS.md under a label (for example 'before' or 'after').

Run: .venv/bin/python benchmarks/mutation.py [--record LABEL] [--survivors]
"""

import argparse
import ast
import difflib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = str(Path(sys.executable).parent / 'mutmut')
KILLED, SURVIVED, NO_TESTS = 'killed', 'survived', 'no test covers it'


def outcome(exit_code) -> str | None:
    "mutmut's exit code of a mutant's test run, in words (None: not run yet)."
    if exit_code is None:
        return None
    if exit_code == 0:
        return SURVIVED
    if exit_code in (33, 34):  # mutmut: no tests for this function / skipped
        return NO_TESTS
    return KILLED  # tests failed, or timed out, or crashed: the change was noticed


def scores() -> dict:
    "module -> Counter of outcomes, from mutmut's result files under mutants/."
    found = {}
    for meta in sorted((ROOT / 'mutants' / 'course_kit').glob('*.py.meta')):
        codes = json.loads(meta.read_text()).get('exit_code_by_key', {})
        counts = Counter(outcome(code) for code in codes.values())
        counts.pop(None, None)
        found[meta.name.removesuffix('.py.meta')] = counts
    return found


class Texts(ast.NodeTransformer):
    "Every string constant made the same, and docstrings dropped: what is left is behaviour."

    def visit_Constant(self, node):
        return ast.Constant('') if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node):
        return ast.Constant('')


def functions(path: Path) -> dict:
    "name -> source of every function (and method) in a mutmut copy of a module."
    tree = ast.parse(path.read_text())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and '__mutmut_' in node.name:
            found[node.name] = node
    return found


def behaviour(node) -> str:
    "The function without its name, docstring and the text of its strings."
    node = Texts().visit(ast.parse(ast.unparse(node))).body[0]
    node.name = 'f'
    return ast.unparse(node)


def explain(survivors: list) -> str:
    """Survivors sorted into those that change only text (docstrings, messages: nothing a result depends on)
    and the rest, each with the line it changes, for reading."""
    sources = {}
    for meta in (ROOT / 'mutants' / 'course_kit').glob('*.py'):
        sources.update({f'course_kit.{meta.stem}.{name}': node for name, node in functions(meta).items()})
    text_only, others = Counter(), []
    for name in survivors:
        mutant = sources.get(name)
        original = sources.get(name.rsplit('__mutmut_', 1)[0] + '__mutmut_orig')
        if mutant is None or original is None:
            others.append(f'- `{name}`: (source not found)')
            continue
        module = name.split('.')[1]
        if behaviour(mutant) == behaviour(original):
            text_only[module] += 1
            continue
        original.name = mutant.name = 'f'
        old, new = ast.unparse(original).splitlines(), ast.unparse(mutant).splitlines()
        changed = [line.strip() for line in difflib.ndiff(old, new) if line.startswith(('- ', '+ '))]
        others.append(f'- `{name}`: `{changed[0][2:][:90]}` -> `{changed[-1][2:][:90]}`')
    lines = ['| module | survivors that change only text |', '|---|---|']
    lines += [f'| {module} | {count} |' for module, count in sorted(text_only.items())]
    return '\n'.join(lines) + '\n\nThe others, to read one by one:\n\n' + '\n'.join(others) + '\n'


def table(found: dict) -> str:
    lines = [
        '| module | mutants | killed | survived | no test covers it | score |',
        '|---|---|---|---|---|---|',
    ]
    for module, counts in found.items():
        tested = counts[KILLED] + counts[SURVIVED]
        score = f'{counts[KILLED] / tested:.0%}' if tested else '-'
        total = sum(counts.values())
        lines.append(
            f'| {module} | {total} | {counts[KILLED]} | {counts[SURVIVED]} | {counts[NO_TESTS]} | {score} |'
        )
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--record', help='append the table to BENCHMARKS.md under this label')
    parser.add_argument('--survivors', action='store_true', help='write benchmarks/SURVIVORS.md')
    parser.add_argument('--no-run', action='store_true', help='only read the results of the last run')
    args = parser.parse_args()
    start = time.perf_counter()
    if not args.no_run:
        env = dict(os.environ, OMP_NUM_THREADS='1')
        (ROOT / 'mutants' / 'reports').mkdir(parents=True, exist_ok=True)  # mutmut copies files, not folders
        subprocess.run([MUTMUT, 'run', '--max-children', str(os.cpu_count() or 2)], cwd=ROOT, env=env)
    minutes = (time.perf_counter() - start) / 60
    result = table(scores())
    print(result)
    if args.survivors:
        shown = subprocess.run([MUTMUT, 'results'], cwd=ROOT, capture_output=True, text=True).stdout
        survivors = [line.split(':')[0].strip() for line in shown.splitlines() if line.endswith('survived')]
        (ROOT / 'benchmarks' / 'SURVIVORS.md').write_text(
            '# Mutants that survived the last `make mutate`\n\n'
            'Written by `benchmarks/mutation.py --survivors`. A mutant that changes only text (a docstring, '
            "an error message's wording) cannot change a result; the others are read, and killed by a "
            'sharper test or explained: the verdicts, module by module, are in benchmarks/survivors/.\n\n'
            + explain(survivors)
        )
    if args.record:
        load = ' / '.join(f'{x:.2f}' for x in os.getloadavg())
        with open(ROOT / 'benchmarks' / 'BENCHMARKS.md', 'a') as f:
            f.write(
                f'\n## Mutation testing: {args.record} ({time.strftime("%Y-%m-%d")})\n\n'
                f'`make mutate` (mutmut over the modules in pyproject.toml, the tests named there), '
                f'{minutes:.0f} min on {os.cpu_count()} cores; load average after: {load}. The score is '
                'killed / (killed + survived).\n\n' + result + '\n'
            )


if __name__ == '__main__':
    main()
