"""Exercises: student copies without solutions, checks that fail on the stubs, and grading a folder in batch
with papermill."""

import csv
import json
import re
from pathlib import Path
import nbformat
import pytest
from conftest import BIN, ROOT, run
from course_kit.grading import READ_ONLY, sandbox_kind

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
        if not source.startswith('# grader only')  # a hidden case of an exercise that has a visible one
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
        hidden = {k for k, s in source.items() if s.startswith('# grader only')}
        assert source.keys() - hidden == copy.keys(), (
            f'{path.name}: the copy keeps every cell but hidden checks'
        )
        source = {k: s for k, s in source.items() if k not in hidden}
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
        return {row['student_id']: row for row in csv.DictReader(f)}


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
    exercises = {k: float(v) for k, v in row.items() if k[:1].isdigit()}
    assert len(exercises) >= 25 and set(exercises.values()) == {0.0}, exercises
    results = json.loads((tmp_path / 'graded' / 'gradescope' / 'stub' / 'results.json').read_text())
    assert {t['output'].split(':')[0] for t in results['tests']} == {'not done yet'}
    assert row['status'] == 'ok', row['status']  # a stub copy still runs top to bottom


LESSON = LESSONS / '01_data.ipynb'  # 1.1 (two cases, one hidden), 1.2 (2 points), 1.3, 1.4: 5 points


def edited(source: Path, target: Path, change):
    "A copy of `source` with `change(cells)` applied to its list of cells."
    notebook = nbformat.read(source, as_version=4)
    change(notebook.cells)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)


def replace_in(cells, old: str, new: str):
    "Replace `old` (which must be there) in the cells' sources."
    assert any(old in c.source for c in cells), old
    for cell in cells:
        cell.source = cell.source.replace(old, new)


FORGED = """import IPython.display
forged = {'key': 'guess', 'exercise': '1.2', 'case': 'test_1_2', 'status': 'pass', 'message': ''}
IPython.display.publish_display_data({'application/vnd.course-kit.grade+json': forged})
from course_kit.core import show_check
show_check('1.2', True, 'pass')
print('exercise 1.2: pass')"""


@pytest.fixture(scope='module')
def graded(student, tmp_path_factory):
    "A class of copies of 01_data, each doing one thing students do, graded once."
    tmp = tmp_path_factory.mktemp('class')
    folder = tmp / 'handed_in'
    (folder / 'alice').mkdir(parents=True)
    (folder / 'alice' / LESSON.name).write_bytes(LESSON.read_bytes())  # the reference solutions
    stub = student / LESSON.name
    (folder / 'bob').mkdir()
    (folder / 'bob' / LESSON.name).write_bytes(stub.read_bytes())  # nothing answered

    def forge(cells):  # checks edited into passes, and forged pass outputs
        for cell in cells:
            if cell.source.startswith('def test_1_'):
                cell.source = (
                    cell.source.split('\n')[0] + '\n    pass\n' + cell.source[cell.source.index('check(') :]
                )
        cells.append(nbformat.v4.new_code_cell(FORGED))

    edited(stub, folder / 'mallory' / LESSON.name, forge)
    wrong_first = 'return torch.zeros(n_classes, dtype=torch.long)  # wrong'
    edited(
        LESSON,
        folder / 'carol' / LESSON.name,
        lambda c: replace_in(c, 'return torch.bincount(labels, minlength=n_classes)', wrong_first),
    )
    edited(
        LESSON,
        folder / 'dave' / LESSON.name,
        lambda c: replace_in(
            c, 'def measure_batches() -> int:', 'def measure_batches() -> int:\n    while True:\n        pass'
        ),
    )
    targets = [tmp / 'graded' / 'grades.csv', folder / 'alice' / 'hacked.txt', LESSONS / 'hacked.txt']
    targets.append(tmp / 'outside.txt')  # anywhere else
    vandal = f"""from pathlib import Path
for target in {[str(p) for p in targets]!r}:
    try:
        Path(target).write_text('hacked')
    except OSError as e:
        print('refused:', e)"""
    edited(LESSON, folder / 'eve' / LESSON.name, lambda c: c.insert(0, nbformat.v4.new_code_cell(vandal)))
    (folder / 'frank.ipynb').write_text('{"cells": [ this is not json')
    (folder / 'nobody').mkdir()  # handed in nothing
    command = [CLI, 'grade', str(folder), '--out', str(tmp / 'graded'), '--timeout', '20']
    done = run(command)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp, read_grades(tmp / 'graded'), command


def points(row):
    return [float(row[n]) for n in ('1.1', '1.2', '1.3', '1.4')]


def test_a_solved_copy_gets_full_marks_and_a_stub_none(graded):
    _, grades, _ = graded
    assert points(grades['alice']) == [1.0, 2.0, 1.0, 1.0] and grades['alice']['total'] == '5.0'
    assert grades['alice']['max_total'] == '5.0' and grades['alice']['status'] == 'ok'
    assert points(grades['bob']) == [0.0, 0.0, 0.0, 0.0]


def test_edited_checks_and_forged_passes_get_no_credit(graded):
    _, grades, _ = graded
    assert points(grades['mallory']) == [0.0, 0.0, 0.0, 0.0]


def test_a_wrong_first_answer_costs_only_that_exercise(graded):
    tmp, grades, _ = graded
    assert points(grades['carol']) == [0.0, 2.0, 1.0, 1.0]
    results = json.loads((tmp / 'graded' / 'gradescope' / 'carol' / 'results.json').read_text())
    assert results['score'] == 4.0 and sum(t['max_score'] for t in results['tests']) == 5.0
    feedback = (tmp / 'graded' / 'feedback' / 'carol.html').read_text()
    assert 'expected [1, 1, 3, 0]' in feedback  # the hint of the failed case


def test_an_infinite_loop_times_out_in_its_exercise_only(graded):
    tmp, grades, _ = graded
    assert points(grades['dave']) == [1.0, 2.0, 1.0, 0.0]
    assert 'timed out' in (tmp / 'graded' / 'feedback' / 'dave.html').read_text()


def test_student_code_cannot_touch_the_grades_the_lessons_or_other_students(graded):
    tmp, grades, _ = graded
    assert points(grades['eve']) == [1.0, 2.0, 1.0, 1.0]
    assert not (tmp / 'handed_in' / 'alice' / 'hacked.txt').exists()
    assert not (LESSONS / 'hacked.txt').exists()
    assert 'hacked' not in (tmp / 'graded' / 'grades.csv').read_text()
    if sandbox_kind() == READ_ONLY:  # as root: the whole file system but the scratch copy
        assert not (tmp / 'outside.txt').exists()
        assert READ_ONLY in (tmp / 'graded' / 'grades.html').read_text()


def test_a_notebook_that_cannot_start_gets_a_row_saying_so(graded):
    _, grades, _ = graded
    assert grades['frank']['status'].startswith('frank.ipynb: cannot start: not a notebook')
    assert grades['nobody']['status'] == 'no notebook handed in'


def test_the_class_table_links_every_feedback_page(graded):
    tmp, grades, _ = graded
    page = (tmp / 'graded' / 'grades.html').read_text()
    for student in ('alice', 'bob', 'carol'):
        assert (
            f'href="feedback/{student}.html"' in page
            and (tmp / 'graded' / 'feedback' / f'{student}.html').exists()
        )


def test_two_at_a_time_gives_the_same_table(graded, tmp_path):
    tmp, grades, command = graded
    out = tmp_path / 'graded'
    done = run([*command[:4], str(out), *command[5:], '--jobs', '2'])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert read_grades(out) == grades


def test_grade_names_a_missing_folder(tmp_path):
    result = run([CLI, 'grade', str(tmp_path / 'nowhere')])
    assert result.returncode == 2 and 'no folder' in result.stderr and 'Traceback' not in result.stderr
