"""A real `kill -9` of a training process at several moments, then a resume: the resumed run ends bit-
identical to an uninterrupted one, and best.pt holds the true best epoch (also after a kill between the
writes of best.pt and last.pt)."""

import json
import signal
import subprocess
import sys
import pytest
import torch
from conftest import ROOT

CHILD = ROOT / 'tests' / 'crash_child.py'


def child(tmp_path, run_dir, moment, resume=False):
    return subprocess.run(
        [sys.executable, str(CHILD), str(run_dir), moment, 'resume' if resume else 'fresh'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('whole')
    result = child(tmp, tmp / 'run', 'none')
    assert result.returncode == 0, result.stderr[-2000:]
    return tmp / 'run'


@pytest.mark.parametrize(
    'moment', ['mid_epoch', 'in_temporary_file', 'between_renames', 'between_best_and_last']
)
def test_kill_9_then_resume_ends_as_the_uninterrupted_run(tmp_path, uninterrupted, moment):
    run_dir = tmp_path / 'run'
    killed = child(tmp_path, run_dir, moment)
    # it really died, at that moment
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    resumed = child(tmp_path, run_dir, 'none', resume=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((run_dir / 'history.json').read_text()) == json.loads(
        (uninterrupted / 'history.json').read_text()
    )
    mine, theirs = torch.load(run_dir / 'final_weights.pt'), torch.load(uninterrupted / 'final_weights.pt')
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    best, reference = (torch.load(d / 'best.pt', weights_only=True) for d in (run_dir, uninterrupted))
    losses = [row[2] for row in json.loads((uninterrupted / 'history.json').read_text())]
    # best.pt is the true best
    assert best['epoch'] == reference['epoch'] == losses.index(min(losses))
    assert all(torch.equal(best['model'][k], reference['model'][k]) for k in reference['model'])
    # no temporary file left
    assert not list(run_dir.glob('.*.tmp'))
