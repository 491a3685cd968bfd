"""One model on several processes: the same training script under torchrun, two processes with gloo on this
CPU (tests/ddp_child.py), against one process."""

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
import torch
from conftest import BIN, ROOT

CHILD = str(ROOT / 'tests' / 'ddp_child.py')


def launch(out, *args, processes=2):
    "Run the child script in `processes` processes (torchrun) or one (python); returns the finished process."
    env = dict(os.environ, OMP_NUM_THREADS='1')
    if processes == 1:
        command = [sys.executable, CHILD, str(out), *args]
    else:
        command = [str(BIN / 'torchrun'), '--nproc_per_node', str(processes), CHILD, str(out), *args]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "The same 3-epoch run of the digits in one process and in two, at the same global batch of 64."
    tmp = tmp_path_factory.mktemp('ddp')
    for processes in (1, 2):
        done = launch(tmp / str(processes), processes=processes)
        assert done.returncode == 0, done.stderr[-3000:]
    return {n: json.loads((tmp / str(n) / 'result.json').read_text()) for n in (1, 2)}, tmp


def test_two_processes_reach_the_accuracy_of_one(runs):
    results, _ = runs
    assert (results[1]['processes'], results[2]['processes']) == (1, 2)
    assert results[1]['global_batch_size'] == results[2]['global_batch_size'] == 64
    assert abs(results[1]['valid_accuracy'] - results[2]['valid_accuracy']) <= 0.01
    assert results[2]['valid_accuracy'] > 0.8  # it learned


def test_each_process_trains_on_its_own_half_of_every_epoch(runs):
    _, tmp = runs
    one = json.loads((tmp / '1' / 'seen-0.json').read_text())
    shares = [json.loads((tmp / '2' / f'seen-{rank}.json').read_text()) for rank in range(2)]
    for epoch, images in one.items():
        first, second = Counter(shares[0][epoch]), Counter(shares[1][epoch])
        assert len(shares[0][epoch]) == len(shares[1][epoch]) == (len(images) + 1) // 2
        assert not (first + second) - Counter(images) - Counter({k: 1 for k in first & second})
        assert Counter(images) - (first + second) == Counter()  # every image of the epoch, once
        assert sum((first & second).values()) <= 1  # disjoint but for one padding image (1,257 is odd)


def test_predictions_under_two_processes_have_one_row_per_image(runs):
    results, _ = runs
    assert results[2]['valid_predictions'] == results[2]['valid_images'] == 270


def test_a_killed_two_process_run_resumes_exactly(tmp_path):
    args = ['--epochs', '4', '--augment']
    whole = launch(tmp_path / 'whole', *args, '--run-dir', str(tmp_path / 'run-whole'))
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = launch(tmp_path / 'killed', *args, '--run-dir', str(tmp_path / 'run'), '--kill-after', '1')
    assert killed.returncode != 0  # SIGKILL in process 0 after epoch 1; torchrun stops the other
    resumed = launch(tmp_path / 'killed', *args, '--run-dir', str(tmp_path / 'run'), '--resume')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'epochs 0-1 done' in resumed.stdout + resumed.stderr
    a = torch.load(tmp_path / 'whole' / 'weights.pt')
    b = torch.load(tmp_path / 'killed' / 'weights.pt')
    assert all(torch.equal(a[k], b[k]) for k in a)
    # another number of processes is refused, with the number to use
    other = launch(tmp_path / 'other', *args, '--run-dir', str(tmp_path / 'run'), '--resume', processes=1)
    assert other.returncode != 0 and 'written by 2 process(es), and this run has 1' in other.stderr
