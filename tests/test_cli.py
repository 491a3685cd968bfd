"The `course-kit` command over papermill: list, run, bad input."

import json
from conftest import BIN, run, read_metrics

CLI = str(BIN / 'course-kit')


def test_list_shows_reports_and_their_parameters():
    result = run([CLI, 'report', 'list'])
    assert result.returncode == 0, result.stderr
    assert 'quickstart' in result.stdout
    for name in ('epochs', 'batch_size', 'lr', 'seed', 'device', 'out_dir'):
        assert name in result.stdout


def test_run_quickstart_writes_notebook_html_and_metrics(out_env, tmp_path):
    result = run([CLI, 'report', 'run', 'quickstart', '-p', 'epochs', '3'], out_env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / 'out' / 'quickstart'
    assert (out / 'quickstart.ipynb').exists() and (out / 'quickstart.html').exists()
    metrics = read_metrics(out)
    assert metrics['epochs'] == 3
    assert {'test_accuracy', 'wall_seconds', 'device', 'versions'} <= set(metrics)
    assert {'python', 'torch', 'torchvision', 'fastai'} <= set(metrics['versions'])
    record = json.loads((out / 'record.json').read_text())
    correct = metrics['test_accuracy'] * record['split']['test']  # a whole number of the 270 test digits
    assert (
        abs(correct - round(correct)) < 1e-9
        and metrics['test_accuracy'] == record['metrics']['test_accuracy']
    )
    # the valid accuracy of the last epoch's row, as fastai measured it (float32) while training
    assert abs(record['history'][-1]['valid_accuracy'] - metrics['valid_accuracy']) < 1e-6
    assert '\r' not in result.stdout  # no carriage-return progress flood in logs
    summary = json.loads((tmp_path / 'out' / 'summary.json').read_text())
    assert [row['report'] for row in summary['rows']] == ['quickstart']
    assert (
        summary['rows'][0]['reproduced'] == round(metrics['test_accuracy'], 4)
        and summary['rows'][0]['claimed'] is None
    )
    assert (tmp_path / 'out' / 'summary.md').exists() and (tmp_path / 'out' / 'index.html').exists()
    # the same run again is skipped; --force runs it again
    again = run([CLI, 'report', 'run', 'quickstart', '-p', 'epochs', '3'], out_env)
    assert again.returncode == 0 and 'skipped' in again.stdout
    changed = run([CLI, 'report', 'run', 'quickstart', '-p', 'epochs', '2'], out_env)
    assert changed.returncode == 0 and 'skipped' not in changed.stdout
    assert read_metrics(out)['epochs'] == 2


def test_unknown_parameter_is_refused_before_running(out_env, tmp_path):
    result = run([CLI, 'report', 'run', 'quickstart', '-p', 'epoch', '3'], out_env)
    assert result.returncode == 2
    assert "unknown parameter of report 'quickstart' 'epoch'" in result.stderr
    assert "did you mean 'epochs'" in result.stderr
    assert not (tmp_path / 'out' / 'quickstart').exists()


def test_wrong_type_is_refused(out_env):
    result = run([CLI, 'report', 'run', 'quickstart', '-p', 'lr', 'fast'], out_env)
    assert result.returncode == 2
    assert "'lr' got 'fast'" in result.stderr and 'lr accepts a value of type float' in result.stderr


def test_unknown_report_is_refused(out_env):
    result = run([CLI, 'report', 'run', 'quikstart'], out_env)
    assert result.returncode == 2 and "did you mean 'quickstart'" in result.stderr


def test_failing_report_exits_nonzero_and_names_the_cell(out_env, tmp_path):
    # a device this machine does not have: the report itself stops with the kit's error
    result = run([CLI, 'report', 'run', 'quickstart', '-p', 'device', 'tpu'], out_env)
    assert result.returncode == 1
    assert 'FAILED report quickstart: cell' in result.stderr and "unknown device 'tpu'" in result.stderr
    assert (
        tmp_path / 'out' / 'quickstart' / 'quickstart.ipynb'
    ).exists()  # the executed notebook keeps the error
