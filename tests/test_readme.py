"""The README as a user reads it: every shell and Python command in it runs as written (with a scratch output
folder), and its Architecture table draws the modules' real imports. A README that drifts from the code
fails here."""

import ast
import re
import shlex
import subprocess
import sys

import pytest
from conftest import ROOT

README = (ROOT / 'README.md').read_text()

# Commands that are not run here, and why. Every other command of the README is.
NOT_RUN = {
    'make test': 'it is the command running these tests',
    'make lab': 'it starts a server and waits (tests/test_browser.py starts JupyterLab the same way)',
    'make install LOCK=0': 'it would change the environment these tests run in (make check-latest runs it)',
    'make lock': 'it rewrites constraints.txt (tests/test_lock.py checks the file is current)',
    'make check-latest': 'it runs these tests again in a fresh clone (about 45 minutes)',
    '.venv/bin/course-kit fixtures --full-size data/full': (
        '0.7 GB of data (tests/test_rehearsal.py writes them at 0.1 of the size)'
    ),
    (
        'COURSE_KIT_DATA_DIR=data/full .venv/bin/course-kit report run e_caltech101 '
        '--profile full -p rehearse 2'
    ): 'an hour on 2 cores (tests/test_rehearsal.py rehearses report E on data at 0.1 of the size)',
    '.venv/bin/python benchmarks/bench_rehearsal.py --rehearse 1 --epoch-scale 0.1': (
        'hours on 2 cores; its table is in benchmarks/BENCHMARKS.md'
    ),
}
# What a placeholder in a command stands for here.
PLACEHOLDERS = {'FOLDER': '{tmp}/graded', 'DIR': '{tmp}/copies'}


def blocks(kind: str) -> list:
    "The fenced blocks of one kind (`sh` or `python`) of the README."
    return re.findall(rf'^ *```{kind}\n(.*?)^ *```', README, re.M | re.S)


def shell_commands() -> list:
    "Every command line of the README's `sh` blocks, without its comment."
    commands = []
    for block in blocks('sh'):
        for line in block.splitlines():
            command = line.split('  #')[0].strip()
            if command and not command.startswith('#'):
                commands.append(command)
    return commands


def prepared(command: str, tmp) -> list:
    "The command as an argument list, its placeholders filled in."
    words = shlex.split(command)
    return [PLACEHOLDERS.get(word, word).format(tmp=tmp) for word in words]


def test_the_readme_has_commands():
    assert len(shell_commands()) >= 8 and blocks('python'), 'the README lost its commands'
    assert set(NOT_RUN) <= set(shell_commands()), 'a command listed as not run is no longer in the README'


@pytest.fixture(scope='module')
def scratch(tmp_path_factory):
    "A scratch folder and the environment that sends every output there (never into the repository's)."
    tmp = tmp_path_factory.mktemp('readme')
    env = {
        'COURSE_KIT_REPORTS_OUT': str(tmp / 'out'),
        'COURSE_KIT_RUNS_DIR': str(tmp / 'runs'),
        'PATH': f'{ROOT / ".venv" / "bin"}:/usr/bin:/bin',
        'HOME': str(tmp),
    }
    # a folder of one student's copy of one lesson, for the grading command
    copies = tmp / 'one'
    subprocess.run(
        [str(ROOT / '.venv/bin/course-kit'), 'student', '--out', str(copies)], check=True, cwd=ROOT
    )
    (tmp / 'graded' / 'student-1').mkdir(parents=True)
    (copies / '00_core.ipynb').rename(tmp / 'graded' / 'student-1' / '00_core.ipynb')
    return tmp, env


@pytest.mark.parametrize('command', [c for c in shell_commands() if c not in NOT_RUN])
def test_shell_command_runs_as_written(command, scratch, request):
    tmp, env = scratch
    if '--executor slurm' in command:
        env = {**env, **request.getfixturevalue('slurm')}  # the test cluster (skipped where it cannot start)
    args = prepared(command, tmp)
    if args[0].startswith('.venv/bin/papermill'):
        args[2] = str(tmp / 'by-hand.ipynb')  # the README's output file, in the scratch folder
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f'{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}'


@pytest.mark.parametrize('code', blocks('python'))
def test_python_block_runs_as_written(code, scratch):
    tmp, env = scratch
    result = subprocess.run(
        [sys.executable, '-c', code], cwd=tmp, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]


def real_imports() -> dict:
    "Each module of the package and the kit modules it imports directly, less those reached through another."
    package = ROOT / 'course_kit'
    modules = [p.stem for p in package.glob('*.py') if p.stem not in ('__init__', '_modidx')]
    direct = {}
    for module in modules:
        imported = set()
        for node in ast.parse((package / f'{module}.py').read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                imported.add(node.module.split('.')[0])
            elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('course_kit.'):
                imported.add(node.module.split('.')[1])
        direct[module] = imported

    def reached(module, seen):
        for other in direct[module]:
            if other not in seen:
                seen.add(other)
                reached(other, seen)
        return seen

    return {
        module: {m for m in imported if not any(m in reached(o, set()) for o in imported if o != m)}
        for module, imported in direct.items()
    }


def drawn_imports() -> dict:
    "The Architecture table of the README: module -> the modules it builds on."
    rows = re.findall(r'^\| `(\w+)` \(`\w+`\) \|\s*([\w, ]*?)\s*\|', README, re.M)
    return {module: {m.strip() for m in builds_on.split(',') if m.strip()} for module, builds_on in rows}


def test_the_architecture_section_draws_the_real_imports():
    assert drawn_imports() == real_imports()
