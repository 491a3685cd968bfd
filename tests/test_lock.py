"""The known-good environment: constraints.txt is current for pyproject.toml, its check fails when it is not,
and `make install` installed exactly its versions (LOCK=1, the default)."""

import importlib.metadata
import runpy
import sys

import pytest
from conftest import BIN, ROOT, need, run

LOCK = runpy.run_path(str(ROOT / '.ci' / 'lock.py'))  # its functions, as `make lock` and CI use them


def test_the_lock_is_current():
    result = run([sys.executable, '.ci/lock.py', '--check'])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_dependency_without_a_new_lock_fails(tmp_path):
    pyproject = tmp_path / 'pyproject.toml'
    text = (ROOT / 'pyproject.toml').read_text()
    pyproject.write_text(text.replace('dependencies = [\n', 'dependencies = [\n    "tensorboard>=2",\n', 1))
    errors = LOCK['problems'](pyproject, ROOT / 'constraints.txt')
    assert len(errors) == 2, errors
    assert 'was made for other dependencies' in errors[0] and 'run `make lock`' in errors[0]
    assert errors[1] == 'tensorboard (pyproject.toml) has no pin in constraints.txt: run `make lock`'


def test_a_pin_outside_its_range_fails(tmp_path):
    lock = tmp_path / 'constraints.txt'
    text = (ROOT / 'constraints.txt').read_text()
    version = LOCK['pins'](text)['torch']
    lock.write_text(text.replace(f'torch=={version}\n', 'torch==2.0.0\n'))
    errors = LOCK['problems'](ROOT / 'pyproject.toml', lock)
    assert errors == ['torch==2.0.0 in constraints.txt is outside pyproject.toml\'s "torch>=2.3,<3"']


def test_a_missing_lock_says_how_to_make_one(tmp_path):
    errors = LOCK['problems'](ROOT / 'pyproject.toml', tmp_path / 'constraints.txt')
    assert errors == ['constraints.txt is missing: run `make lock`']


def test_the_environment_has_the_locked_versions():
    marker = BIN.parent / '.course-kit-lock'
    need(marker.exists(), f'{marker} (written by `make install`)')
    if marker.read_text().strip() == '0':
        pytest.skip('installed from the ranges of pyproject.toml (LOCK=0)')
    pins = LOCK['pins']((ROOT / 'constraints.txt').read_text())
    differ = []
    for name, version in pins.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a package of another platform's set
        if installed != version:
            differ.append(f'{name} {installed} (locked {version})')
    assert not differ, 'installed versions differ from constraints.txt: ' + ', '.join(differ)
    for line in LOCK['wanted'](ROOT / 'pyproject.toml'):
        name = line.split('>')[0].split('<')[0].split('=')[0].strip()
        assert importlib.metadata.version(name), f'{name} is not installed'
