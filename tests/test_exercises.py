"""Exercises: student copies without solutions, checks that fail on the stubs, and grading a folder in batch
with papermill."""

import csv
import re
from pathlib import Path
import nbformat
import pytest
from conftest import BIN, ROOT, run

CLI = str(BIN / 'course-kit')
LESSONS = ROOT / 'nbs'
# at the start of a line, as solutions are marked
MARKER = re.compile(r'^[ \t]*### BEGIN SOLUTION', re.M)


def code_cells(path):
    return {c.id: c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == 'code'}


WITH_EXERCISES = sorted(
    p for p in LESSONS.glob('*.ipynb') if any(MARKER.search(s) for s in code_cells(p).values())
)


def solution_lines(source):
    """The lines between the solution markers of a cell, without blanks, comments and lines of brackets only
    (a closing `)` of a formatted call is in any code)."""
    lines, inside = [], False
    for line in source.splitlines():
        if '### BEGIN SOLUTION' in line:
            inside = True
        elif '### END SOLUTION' in line:
            inside = False
        elif inside and any(c.isalnum() for c in line) and not line.strip().startswith('#'):
            lines.append(line.strip())
    return lines


def test_enough_exercises_with_solutions_and_checks():
    numbers = [
        n
        for p in WITH_EXERCISES
        for source in code_cells(p).values()
        for n in re.findall(r"^check\('([\w.]+)'", source, re.M)
    ]
    assert len(numbers) >= 25 and len(numbers) == len(set(numbers)), numbers
    assert {p.stem for p in WITH_EXERCISES} >= {
        '01_data',
        '02_augment',
        '03_transfer',
        '04_models',
        '06_learner',
        '07_evaluate',
        '07a_submissions',
        '09_runs',
    }
    for path in WITH_EXERCISES:  # never exported: no solution in the package
        for source in code_cells(path).values():
            assert not (MARKER.search(source) and source.lstrip().startswith('#| export')), path.name


@pytest.fixture(scope='module')
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp('student')
    result = run([CLI, 'student', '--out', str(out)])
    assert result.returncode == 0, result.stderr
    return out


def test_student_copies_hold_no_solution_code(student):
    for path in WITH_EXERCISES:
        source, copy = code_cells(path), code_cells(student / path.name)
        assert source.keys() == copy.keys(), f'{path.name}: the copy keeps every cell'
        for cell_id, text in source.items():
            for line in solution_lines(text):
                assert line not in copy[cell_id], (
                    f'{path.name}: solution line {line!r} is in the student copy'
                )
            if MARKER.search(text):
                assert "raise NotImplementedError('TODO" in copy[cell_id]
        assert not any(
            c.get('outputs')
            for c in nbformat.read(student / path.name, as_version=4).cells
            if c.cell_type == 'code'
        )


def read_grades(folder):
    with open(folder / 'grades.csv') as f:
        return {row['student']: row for row in csv.DictReader(f)}


def test_every_check_fails_on_the_student_stubs(student, tmp_path):
    folder = tmp_path / 'handed_in' / 'stub'
    folder.mkdir(parents=True)
    for path in WITH_EXERCISES:
        (folder / path.name).write_bytes((student / path.name).read_bytes())
    result = run(
        [CLI, 'grade', str(tmp_path / 'handed_in'), '--out', str(tmp_path / 'graded'), '--timeout', '120']
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    row = read_grades(tmp_path / 'graded')['stub']
    exercises = {k: v for k, v in row.items() if k[:1].isdigit()}
    assert len(exercises) >= 25 and set(exercises.values()) == {'fail'}, exercises
    assert row['status'] == 'ok', row['status']  # a stub copy still runs top to bottom


def broken_copy(source: Path, target: Path, how: str):
    "A copy of `source` that raises (error), never ends (loop) or lost its check cells (missing)."
    notebook = nbformat.read(source, as_version=4)
    first = next(
        i for i, c in enumerate(notebook.cells) if c.cell_type == 'code' and 'BEGIN SOLUTION' in c.source
    )
    if how == 'error':
        notebook.cells.insert(first, nbformat.v4.new_code_cell("raise RuntimeError('my mistake')"))
    if how == 'loop':
        notebook.cells.insert(first, nbformat.v4.new_code_cell('while True: pass'))
    if how == 'missing':
        notebook.cells = [c for c in notebook.cells if not c.source.startswith('def test_')]
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


def test_grading_a_mixed_folder(student, tmp_path):
    lesson = LESSONS / '02_augment.ipynb'
    folder = tmp_path / 'handed_in'
    (folder / 'alice').mkdir(parents=True)
    # solved: the reference solutions
    (folder / 'alice' / lesson.name).write_bytes(lesson.read_bytes())
    (folder / 'bob').mkdir()
    (folder / 'bob' / lesson.name).write_bytes((student / lesson.name).read_bytes())  # nothing done
    for name in ('error', 'loop', 'missing'):
        broken_copy(lesson, folder / name / lesson.name, name)
    (folder / 'nobody').mkdir()  # handed in nothing
    result = run([CLI, 'grade', str(folder), '--out', str(tmp_path / 'graded'), '--timeout', '20'])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    grades = read_grades(tmp_path / 'graded')
    numbers = ['2.1', '2.2', '2.3', '2.4']
    assert [grades['alice'][n] for n in numbers] == ['pass'] * 4 and grades['alice']['status'] == 'ok'
    assert [grades['bob'][n] for n in numbers] == ['fail'] * 4 and grades['bob']['passed'] == '0 of 4'
    assert (
        grades['error']['status'].startswith('error in 02_augment.ipynb cell')
        and 'my mistake' in grades['error']['status']
    )
    assert [grades['error'][n] for n in numbers] == ['missing'] * 4
    assert grades['loop']['status'].startswith('timed out') and grades['loop']['2.1'] == 'missing'
    assert [grades['missing'][n] for n in numbers] == ['missing'] * 4 and grades['missing']['status'] == 'ok'
    assert grades['nobody']['status'] == 'no notebook handed in'
    page = (tmp_path / 'graded' / 'grades.html').read_text()
    assert 'alice' in page and 'timed out' in page


def test_grade_names_a_missing_folder(tmp_path):
    result = run([CLI, 'grade', str(tmp_path / 'nowhere')])
    assert result.returncode == 2 and 'no folder' in result.stderr and 'Traceback' not in result.stderr
