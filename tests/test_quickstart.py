"Plain papermill runs of the quickstart report, including a real learning check."

import json
from conftest import BIN, run, read_metrics

PAPERMILL = str(BIN / 'papermill')


def test_quickstart_learns_digits(out_env, tmp_path):
    "The default recipe reaches >= 0.95 test accuracy on scikit-learn's digits (CPU, seconds)."
    out = tmp_path / 'qs'
    result = run(
        [
            PAPERMILL,
            'reports/quickstart.ipynb',
            str(tmp_path / 'executed.ipynb'),
            '-p',
            'out_dir',
            str(out),
            '-p',
            'device',
            'cpu',
        ],
        out_env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(out)
    assert metrics['test_accuracy'] >= 0.95, metrics
    assert metrics['device'] == 'cpu'
    record = json.loads((out / 'record.json').read_text())
    assert len(record['history']) == metrics['epochs']
    assert (out / 'curves.png').exists() and (out / 'confusion.png').exists()


def test_plain_papermill_refuses_unknown_parameter(out_env, tmp_path):
    result = run(
        [PAPERMILL, 'reports/quickstart.ipynb', str(tmp_path / 'executed.ipynb'), '-p', 'epoch', '3'], out_env
    )
    assert result.returncode != 0
    assert "unknown report parameter 'epoch'" in result.stderr + result.stdout


def test_plain_papermill_refuses_wrong_type(out_env, tmp_path):
    result = run(
        [PAPERMILL, 'reports/quickstart.ipynb', str(tmp_path / 'executed.ipynb'), '-p', 'epochs', 'three'],
        out_env,
    )
    assert result.returncode != 0
    assert 'epochs accepts a value of type int' in result.stderr + result.stdout
