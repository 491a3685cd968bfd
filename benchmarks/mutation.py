"""Mutation testing of the modules listed in pyproject.toml's [tool.mutmut], and the score of each.

`make mutate` runs this: `mutmut run` (each small change to the code, run against the tests that cover it),
then one line per module: mutants killed (a test failed), survived (every test passed: a check is missing,
or the change cannot alter behaviour), and without a covering test. With --record it appends the table to
benchmarks/BENCHMARKS.md under a label (for example 'before' or 'after').

Run: .venv/bin/python benchmarks/mutation.py [--record LABEL] [--survivors]
"""

import argparse
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
    parser.add_argument('--survivors', action='store_true', help='list the surviving mutants')
    parser.add_argument('--no-run', action='store_true', help='only read the results of the last run')
    args = parser.parse_args()
    start = time.perf_counter()
    if not args.no_run:
        env = dict(os.environ, OMP_NUM_THREADS='1')
        subprocess.run([MUTMUT, 'run', '--max-children', str(os.cpu_count() or 2)], cwd=ROOT, env=env)
    minutes = (time.perf_counter() - start) / 60
    result = table(scores())
    print(result)
    if args.survivors:
        shown = subprocess.run([MUTMUT, 'results'], cwd=ROOT, capture_output=True, text=True)
        print(shown.stdout)
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
