"""A rehearsal of a `full` profile on this CPU: data in the real formats (smaller here, full size by the
documented command), every epoch cut short, numbers marked as a rehearsal, memory and time recorded."""

import json

import pytest
from conftest import BIN, run

CLI = str(BIN / 'course-kit')


@pytest.fixture(scope='module')
def full_data(tmp_path_factory):
    "The full-size formats at a tenth of their size: CIFAR-10/100, Caltech101 (one truncated JPEG), MNIST."
    folder = tmp_path_factory.mktemp('full')
    done = run([CLI, 'fixtures', '--full-size', str(folder), '--scale', '0.1'])
    assert done.returncode == 0, done.stderr[-2000:]
    return folder


def test_the_fixtures_are_in_the_real_layout(full_data):
    for part in (
        'cifar-10-batches-py/data_batch_5',
        'cifar-100-python/meta',
        'MNIST/raw/t10k-labels-idx1-ubyte',
    ):
        assert (full_data / part).is_file(), part
    classes = [p for p in (full_data / 'caltech101' / '101_ObjectCategories').iterdir() if p.is_dir()]
    assert len(classes) == 101


def test_a_rehearsal_runs_the_full_profile_on_a_cpu_and_says_so(full_data, tmp_path):
    env = {
        'COURSE_KIT_REPORTS_OUT': str(tmp_path / 'out'),
        'COURSE_KIT_RUNS_DIR': str(tmp_path / 'runs'),
        'COURSE_KIT_DATA_DIR': str(full_data),
    }
    experiment = 'AlexNet scratch lr0.01 30ep s0.5'
    command = [CLI, 'report', 'run', 'e_caltech101', '--profile', 'full', '-p', 'rehearse', '1']
    done = run([*command, '-p', 'epoch_scale', '0.1', '-p', 'experiments', experiment], env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    metrics = json.loads((tmp_path / 'out' / 'e_caltech101' / 'metrics.json').read_text())
    row = next(r for r in metrics['rows'] if r['experiment'] == experiment)
    assert row['status'] == 'rehearsal (1 batches per epoch)' and row['reproduced'] is None
    assert 'fixture' in row['dataset'] and 'not results' in row['note']
    need = metrics['needs'][experiment]
    assert need['rehearsal']['batches'] == row['epochs']  # one training batch in every epoch
    assert need['rehearsal']['full_batches'] > need['rehearsal']['batches']
    assert need['memory']['host_peak_mb'] < 6 * 1024 and need['memory']['device_estimate_mb'] > 0
    page = (tmp_path / 'out' / 'e_caltech101' / 'e_caltech101.html').read_text()
    assert 'projected_hours_here' in page and 'a rehearsal' in page
    # the run's own host peak, the kernel's since it started, and what a GPU machine's host would hold
    assert need['memory']['process_peak_mb'] >= need['memory']['host_peak_mb']
    assert 'kernel_peak_gb' in page and 'host_less_gpu_estimate_gb' in page
    assert 'skipped 1' in page or 'skipped 1' in done.stdout + page  # the truncated JPEG, named and skipped


def test_a_rehearsal_of_report_b_writes_its_submission_and_figures(full_data, tmp_path):
    "Report B's last cells use the test predictions: a rehearsal predicts 256 of the test images, not all."
    env = {
        'COURSE_KIT_REPORTS_OUT': str(tmp_path / 'out'),
        'COURSE_KIT_RUNS_DIR': str(tmp_path / 'runs'),
        'COURSE_KIT_DATA_DIR': str(full_data),
    }
    command = [CLI, 'report', 'run', 'b_cifar100', '--profile', 'full', '-p', 'rehearse', '1']
    done = run([*command, '-p', 'epoch_scale', '0.1', '-p', 'experiments', 'step 1'], env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / 'out' / 'b_cifar100'
    assert len((out / 'submission.csv').read_text().splitlines()) == 1 + 256
    assert (out / 'predictions.png').stat().st_size > 10_000
