"""The known-good environment: `constraints.txt` holds the exact versions `make test` last passed with.

    pip freeze --exclude-editable | python .ci/lock.py --write   # `make lock`: from a fresh venv
    python .ci/lock.py --check                                   # CI (tests/test_lock.py): still current?
    pip freeze --exclude-editable | python .ci/lock.py --diff    # `make check-latest`: what moved on

The file starts with a hash of the dependencies it was made for (pyproject.toml's `dependencies` and the `dev`
extra), so a dependency changed without a new lock fails the check, as does a pin outside its range.
"""

import argparse
import hashlib
import platform
import sys
import time
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
HASH_LINE = '# dependencies: '


def wanted(pyproject: Path) -> list:
    "The requirements `make install` installs: the kit's dependencies and its `dev` extra."
    project = tomllib.loads(pyproject.read_text())['project']
    return project['dependencies'] + project['optional-dependencies']['dev']


def dependency_hash(pyproject: Path) -> str:
    "What the lock was made for, as a short hash (the order of the lines does not matter)."
    return hashlib.sha256('\n'.join(sorted(wanted(pyproject))).encode()).hexdigest()[:16]


def pins(text: str) -> dict:
    "`{name: version}` of the `name==version` lines of a freeze or a lock."
    found = {}
    for line in text.splitlines():
        if '==' in line and not line.startswith('#'):
            name, version = line.split('==', 1)
            found[canonicalize_name(name)] = version.strip()
    return found


def problems(pyproject: Path, lock: Path) -> list:
    "Why the lock is not current for pyproject.toml (empty when it is)."
    if not lock.exists():
        return [f'{lock.name} is missing: run `make lock`']
    text = lock.read_text()
    found = [line for line in text.splitlines() if line.startswith(HASH_LINE)]
    made_for = found[0][len(HASH_LINE) :].strip() if found else '(none)'
    errors = []
    if made_for != dependency_hash(pyproject):
        errors.append(
            f"{lock.name} was made for other dependencies than pyproject.toml's now "
            f'({made_for} != {dependency_hash(pyproject)}): run `make lock`, then `make test`, and commit it'
        )
    locked = pins(text)
    for line in wanted(pyproject):
        requirement = Requirement(line)
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            errors.append(f'{requirement.name} (pyproject.toml) has no pin in {lock.name}: run `make lock`')
        elif not requirement.specifier.contains(version, prereleases=True):
            errors.append(
                f'{requirement.name}=={version} in {lock.name} is outside pyproject.toml\'s "{line}"'
            )
    return errors


def write(pyproject: Path, lock: Path, freeze: str) -> None:
    "The lock from a fresh environment's `pip freeze` (the kit itself left out)."
    lines = sorted(
        line
        for line in freeze.splitlines()
        if '==' in line and canonicalize_name(line.split('==')[0]) != 'course-kit'
    )
    head = [
        '# The exact versions `make test` passed with: `make install` installs with these by default;',
        '# `make install LOCK=0` installs from the ranges in pyproject.toml instead. Written by `make lock`',
        f'# on {time.strftime("%Y-%m-%d")}, Python {platform.python_version()}, {platform.machine()} Linux.',
        f'{HASH_LINE}{dependency_hash(pyproject)}',
    ]
    lock.write_text('\n'.join(head + lines) + '\n')
    print(f'{lock}: {len(lines)} pins')


def diff(lock: Path, freeze: str) -> None:
    "The versions a newer environment has that the lock does not."
    locked, latest = pins(lock.read_text()), pins(freeze)
    moved = []
    for name, version in sorted(latest.items()):
        if locked.get(name) != version:
            moved.append(f'{name}: {locked.get(name, "(not in the lock)")} -> {version}')
    print('\n'.join(moved) or 'the newest versions the ranges allow are those of the lock')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument('--write', action='store_true', help='write the lock from a pip freeze on stdin')
    action.add_argument('--check', action='store_true', help='fail if the lock is not current')
    action.add_argument(
        '--diff', action='store_true', help='versions of a pip freeze on stdin not in the lock'
    )
    parser.add_argument('--pyproject', type=Path, default=ROOT / 'pyproject.toml')
    parser.add_argument('--lock', type=Path, default=ROOT / 'constraints.txt')
    args = parser.parse_args()
    if args.write:
        write(args.pyproject, args.lock, sys.stdin.read())
    elif args.diff:
        diff(args.lock, sys.stdin.read())
    else:
        errors = problems(args.pyproject, args.lock)
        print('\n'.join(errors) or f'{args.lock.name} is current')
        sys.exit(1 if errors else 0)


if __name__ == '__main__':
    main()
