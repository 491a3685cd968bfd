"""Reports, sweeps and grading as jobs: the local executor (processes on this machine), a real one-node SLURM
cluster (tests/slurm_cluster.py) and the refusals that come before anything runs."""

import json
import os

from conftest import BIN, ROOT, rows, run, scratch

CLI = str(BIN / 'course-kit')
REPORTS = ['a_ensemble', 'b_cifar100', 'c_digit_sum', 'd_cifar10', 'e_caltech101']


def test_gpus_on_a_machine_without_them_are_refused_before_anything_runs(tmp_path):
    done = run([CLI, 'report', 'run', 'quickstart', '--executor', 'local', '--gpus', '0'], scratch(tmp_path))
    assert done.returncode == 2
    assert 'was asked for, but this machine has 0 CUDA GPU' in done.stderr
    assert not (tmp_path / 'out' / 'quickstart').exists()


def test_slurm_options_without_slurm_are_refused(tmp_path):
    done = run([CLI, 'report', 'run', 'quickstart', '--max-parallel', '2'], scratch(tmp_path))
    assert done.returncode == 2 and '--max-parallel is for --executor slurm' in done.stderr


def test_a_failed_job_names_its_report_and_log_and_the_batch_goes_on(tmp_path):
    command = [CLI, 'report', 'run', 'quickstart', 'c_digit_sum', '--executor', 'local', '--jobs', '2']
    done = run([*command, '-p', 'device', 'tpu'], scratch(tmp_path))  # each report stops in its first cell
    assert done.returncode == 1
    for name in ('quickstart', 'c_digit_sum'):
        assert f'FAILED report {name}: cell' in done.stderr
    assert 'for the job' in done.stderr and "unknown device 'tpu'" in done.stderr
    assert (tmp_path / 'out' / 'summary.json').exists()


def test_a_resumed_report_reads_back_what_finished(tmp_path):
    command = [CLI, 'report', 'run', 'c_digit_sum', '--profile', 'smoke', '-p', 'experiments', 'custom CNN']
    first = run(command, scratch(tmp_path))
    assert first.returncode == 0, first.stderr[-2000:]
    before = rows(tmp_path / 'out')
    again = run([*command, '--resume', '--force'], scratch(tmp_path))
    assert again.returncode == 0, again.stderr[-2000:]
    executed = (tmp_path / 'out' / 'c_digit_sum' / 'c_digit_sum.ipynb').read_text()
    assert 'finished before the interruption: read back' in executed
    assert rows(tmp_path / 'out') == before  # the same row, read back


def test_a_killed_slurm_job_is_resubmitted_with_resume(slurm, tmp_path, monkeypatch):
    from course_kit.core import Settings
    from course_kit.jobs import run_jobs

    def dies_once(x, resume=False):
        "Killed (SIGKILL) the first time, as the out-of-memory killer would; 2x when resumed."
        if not resume:
            os.kill(os.getpid(), 9)
        return 2 * x

    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    settings = Settings(reports_out=tmp_path, root=ROOT)
    done = run_jobs(dies_once, {'fragile': (21,)}, 'slurm', settings=settings, time_min=5, gpus_per_job=0)
    assert (done[0].status, done[0].value, done[0].attempts) == ('done', 42, 2)


def test_a_training_script_as_one_slurm_job_of_two_processes(slurm, tmp_path):
    script = str(ROOT / 'tests' / 'ddp_child.py')
    command = [CLI, 'launch', '--executor', 'slurm', '--procs-per-node', '2', '--time-min', '10', script]
    done = run([*command, str(tmp_path / 'run')], {**slurm, **scratch(tmp_path), 'OMP_NUM_THREADS': '1'})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / 'run' / 'result.json').read_text())
    assert result['processes'] == 2 and result['valid_predictions'] == 270


def test_report_d_sweeps_with_each_trial_as_a_local_job(tmp_path):
    command = [CLI, 'report', 'run', 'd_cifar10', '--profile', 'smoke', '-p', 'experiments', 'CNN sweep']
    done = run([*command, '-p', 'sweep_executor', 'local', '-p', 'sweep_jobs', '2'], scratch(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = list((tmp_path / 'out' / 'd_cifar10' / 'sweep' / 'cnn').glob('trial-*.json'))
    assert len(records) == 2  # smoke: two trials, each recorded as in one process
    assert all(json.loads(p.read_text())['status'] == 'ok' for p in records)
    jobs = list((tmp_path / 'out' / 'jobs').glob('cnn-*/*_log.out'))
    assert len(jobs) == 2, jobs
