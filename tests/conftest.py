import json
import os
import subprocess
import sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def need(present: bool, what: str):
    """Skip the test when `what` is missing here; under CI (`CI=true`), whose machine always has it (the
    README's commands install it), fail instead: a skip there would hide a broken setup."""
    if present:
        return
    if os.environ.get('CI') == 'true':
        pytest.fail(f'{what} is missing on the CI machine, where the setup installs it', pytrace=False)
    pytest.skip(f'{what} is missing here', allow_module_level=True)


def run(args, env_extra=None, **kw):
    "Run a command from the repository root; returns the CompletedProcess (never raises on exit code)."
    # kernels draw inline
    env = {k: v for k, v in {**os.environ, **(env_extra or {})}.items() if k != 'MPLBACKEND'}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, **kw)


def scratch(tmp_path) -> dict:
    "The environment that sends report output and runs to `tmp_path` instead of reports/_out and runs/."
    return {'COURSE_KIT_REPORTS_OUT': str(tmp_path / 'out'), 'COURSE_KIT_RUNS_DIR': str(tmp_path / 'runs')}


@pytest.fixture
def out_env(tmp_path):
    "Send report output to a temporary folder instead of reports/_out."
    return scratch(tmp_path)


def rows(out) -> dict:
    "(report, experiment) -> (status, epochs, dataset, reproduced) from a batch's summary.json."
    found = json.loads((out / 'summary.json').read_text())['rows']
    return {
        (r['report'], r['experiment']): (r['status'], r['epochs'], r['dataset'], r['reproduced'])
        for r in found
    }


def read_metrics(folder):
    return json.loads((Path(folder) / 'metrics.json').read_text())


@pytest.fixture(scope='module')
def one_thread():
    "Batches of 32 8x8 images: one CPU thread is quicker than several (and far quicker on a busy machine)."
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def small():
    "96 training, 32 validation and 32 test digits: 3 training batches of 32."
    from course_kit.data import digits_splits

    splits = digits_splits(seed=0)
    splits.train, splits.valid, splits.test = (
        splits.train.subset(range(96)),
        splits.valid.subset(range(32)),
        splits.test.subset(range(32)),
    )
    return splits


@pytest.fixture(scope='session')
def slurm(tmp_path_factory):
    """A one-node SLURM cluster on localhost for the session (tests/slurm_cluster.py): the environment its
    commands need. Skipped, with the reason, where it cannot start (not root, no apt)."""
    import slurm_cluster

    folder = tmp_path_factory.mktemp('slurm')
    try:
        env = slurm_cluster.start(folder)
    except slurm_cluster.Unavailable as e:
        need(False, f'a test SLURM cluster ({e})')
    yield env
    slurm_cluster.stop(folder)
