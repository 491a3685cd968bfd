"""Students read this code in JupyterLab: it is what `ruff format` makes of it, one statement per line, and no
line runs past the limit in pyproject.toml (so nothing scrolls sideways)."""

import ast
import shutil
import subprocess
import sys
import tomllib

import pytest
from conftest import ROOT, need

LIMIT = tomllib.loads((ROOT / 'pyproject.toml').read_text())['tool']['ruff']['line-length']
# course_kit/ is formatted where it is written, in nbs/ (nbdev-export joins the cells with one blank line)
FORMATTED = ['nbs', 'reports', 'tests', 'benchmarks']
CHECKED = FORMATTED + ['course_kit']
RUFF = shutil.which('ruff', path=str(ROOT / '.venv' / 'bin')) or shutil.which('ruff')


def ruff(*args) -> subprocess.CompletedProcess:
    return subprocess.run([RUFF, *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_format_changes_nothing():
    need(RUFF is not None, 'ruff (make installs it with the dev extra)')
    found = ruff('format', '--check', *FORMATTED)
    assert found.returncode == 0, found.stdout + found.stderr


def test_ruff_check_finds_nothing():
    "One statement per line (E701, E702, E703), line length (E501), pyflakes (unused imports, ...)."
    need(RUFF is not None, 'ruff (make installs it with the dev extra)')
    found = ruff('check', '--output-format', 'concise', *CHECKED)
    assert found.returncode == 0, found.stdout + found.stderr


def nbdev_written_lines(text: str) -> set:
    "Line numbers of what nbdev writes itself in a module: the `__all__` list (wrapped by nbdev at 120)."
    lines = set()
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets):
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def long_lines(path) -> list:
    text = path.read_text()
    skip = nbdev_written_lines(text)
    return [
        f'{path.name}:{n}: {len(line)} columns'
        for n, line in enumerate(text.splitlines(), 1)
        if len(line) > LIMIT and n not in skip
    ]


def test_the_package_keeps_the_line_limit():
    """course_kit/ is exported from nbs/ (where ruff checks each line), plus what nbdev adds: each
    module's docstring (from the lesson's `> ` lines, which must be wrapped) and `__all__`, which nbdev
    wraps itself. `__init__.py` is nbdev's list of modules and their summaries."""
    package = sorted((ROOT / 'course_kit').glob('*.py'))
    modules = [p for p in package if p.name not in ('__init__.py', '_modidx.py')]
    found = [line for path in modules for line in long_lines(path)]
    assert not found, found


def test_the_length_check_can_fail(tmp_path):
    module = tmp_path / 'm.py'
    module.write_text(f"__all__ = ['{'a' * 200}']\nx = '{'b' * 200}'\n")
    assert long_lines(module) == [f'm.py:2: {len("x = ") + 202} columns']


if __name__ == '__main__':
    sys.exit(pytest.main([__file__]))
