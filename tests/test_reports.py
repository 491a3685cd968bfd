"Every writeup report, run by the `course-kit` CLI: smoke end to end, full stopping honestly on a CPU."
import json
import pytest
from conftest import BIN, ROOT, run

CLI = str(BIN/'course-kit')
REPORTS = ['a_ensemble', 'b_cifar100', 'c_digit_sum', 'd_cifar10', 'e_caltech101']
CLAIMS = json.loads((ROOT/'reports'/'claims.json').read_text())

@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    "All five reports in the smoke profile, two at a time, as CI runs them."
    out = tmp_path_factory.mktemp('smoke')
    env = {'COURSE_KIT_REPORTS_OUT': str(out/'out'), 'COURSE_KIT_RUNS_DIR': str(out/'runs'), 'COURSE_KIT_DATA_DIR': str(ROOT/'data')}
    result = run([CLI, 'report', 'run', *REPORTS, '--profile', 'smoke', '--jobs', '2'], env)
    return result, out/'out'

def test_every_report_runs_in_smoke(smoke):
    result, out = smoke
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    for name in REPORTS:
        assert (out/name/f'{name}.ipynb').exists() and (out/name/f'{name}.html').exists(), name

def test_summary_has_every_experiment_with_claims_beside_reproduced(smoke):
    _, out = smoke
    rows = json.loads((out/'summary.json').read_text())['rows']
    for name in REPORTS:
        mine = [r for r in rows if r['report'] == name]
        claimed = {c['experiment']: c['claimed'] for c in CLAIMS[name]}
        ran = {r['experiment'] for r in mine}
        assert set(claimed) <= ran, f"{name} lacks rows for {set(claimed) - ran}"
        for r in mine:
            assert r['profile'] == 'smoke'
            if r['experiment'] in claimed: assert r['claimed'] == claimed[r['experiment']]   # claims come from claims.json
            else: assert r['claimed'] is None                                                  # extra rows claim nothing
            if r['status'] == 'done':
                assert r['reproduced'] is None or 0.0 <= r['reproduced'] <= 1.0
                assert r['dataset'] and r['device']                 # (epochs is None for rows that train nothing: A's vote)
            else:
                assert r['status'].startswith('not run: ') and r['reproduced'] is None
    assert (out/'summary.md').exists() and (out/'index.html').exists()

def test_submissions_are_written_and_valid(smoke):
    _, out = smoke
    assert list((out/'a_ensemble').glob('*.csv')), 'report A writes its (file name, label) list'
    kaggle = list((out/'b_cifar100').glob('*.csv'))
    assert kaggle and kaggle[0].read_text().splitlines()[0] == '"Id","Prediction1"'

def test_full_profile_on_a_cpu_stops_with_one_clear_message(tmp_path):
    env = {'COURSE_KIT_REPORTS_OUT': str(tmp_path/'out'), 'CUDA_VISIBLE_DEVICES': ''}
    result = run([CLI, 'report', 'run', 'd_cifar10', '--profile', 'full'], env)
    assert result.returncode == 1
    assert "cannot run profile 'full'" in result.stderr and 'needs a CUDA GPU' in result.stderr
    rows = json.loads((tmp_path/'out'/'summary.json').read_text())['rows']
    stop = [r for r in rows if r['report'] == 'd_cifar10' and r['experiment'] == '(whole report)']
    assert stop and stop[0]['status'].startswith('not run:') and stop[0]['reproduced'] is None
    assert all(r['reproduced'] is None for r in rows)                 # no number without a run

def test_bad_profile_is_refused_before_running(tmp_path):
    result = run([CLI, 'report', 'run', 'd_cifar10', '--profile', 'fast'], {'COURSE_KIT_REPORTS_OUT': str(tmp_path)})
    assert result.returncode == 2 and "unknown profile 'fast'" in result.stderr
    assert not (tmp_path/'d_cifar10').exists()
