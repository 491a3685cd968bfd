"""A real `kill -9` of a training process at several moments, then a resume: the resumed run ends bit-identical to an
uninterrupted one, and best.pt holds the true best epoch (also after a kill between the writes of best.pt and last.pt)."""
import json, signal, subprocess, sys, textwrap
import pytest, torch
from conftest import ROOT

CHILD = textwrap.dedent('''
    import json, os, signal, sys
    from pathlib import Path
    import torch
    import course_kit.checkpoints as checkpoints
    from course_kit.core import seed_everything
    from course_kit.data import digits_splits, get_dls
    from course_kit.models import get_model
    from course_kit.learner import Recipe
    from fastai.callback.core import Callback
    torch.set_num_threads(1)
    run_dir, moment, resume = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == 'resume'
    KILL_EPOCH = 2
    def die(): os.kill(os.getpid(), signal.SIGKILL)

    real_save, real_replace = checkpoints.save_checkpoint, checkpoints.os.replace
    def save(learn, path, keep_previous=False):
        if moment == 'in_temporary_file' and Path(path).name == 'last.pt' and learn.epoch >= KILL_EPOCH:
            checkpoints.torch.save(checkpoints.checkpoint_state(learn), Path(path).with_name('.last.pt.1.tmp')); die()
        real_save(learn, path, keep_previous)
        if moment == 'between_best_and_last' and Path(path).name == 'best.pt' and learn.epoch >= KILL_EPOCH: die()
    def replace(src, dst):
        real_replace(src, dst)
        if moment == 'between_renames' and Path(dst).name == 'previous.pt' and load_epoch(dst) >= KILL_EPOCH - 1: die()
    def load_epoch(path): return checkpoints.load_checkpoint(path)['epoch']
    checkpoints.save_checkpoint, checkpoints.os.replace = save, replace

    class MidEpoch(Callback):
        "A kill in the middle of an epoch's training batches."
        def after_batch(self):
            if moment == 'mid_epoch' and self.training and self.epoch == KILL_EPOCH and self.iter == 1: die()

    seed_everything(0)
    splits = digits_splits(seed=0)
    splits.train, splits.valid = splits.train.subset(range(128)), splits.valid.subset(range(64))
    dls = get_dls(splits, batch_size=32, device='cpu', normalize=([0.5], [0.5]))
    model = get_model('small_cnn', 10, in_channels=1, widths=(8, 16), dropout=0.1)
    recipe = Recipe(epochs=5, lr=0.05, optimizer='sgd', schedule='step', step_size=2, gamma=0.5, keep_best=True, monitor='valid_loss')
    learn = checkpoints.train(dls, model, recipe, run_dir=run_dir, resume=resume, progress=False, cbs=[MidEpoch()])
    torch.save(learn.model.state_dict(), run_dir/'final_weights.pt')
    (run_dir/'history.json').write_text(json.dumps([list(row) for row in learn.recorder.values]))
''')

def child(tmp_path, run_dir, moment, resume=False):
    script = tmp_path/'child.py'
    script.write_text(CHILD)
    return subprocess.run([sys.executable, str(script), str(run_dir), moment, 'resume' if resume else 'fresh'],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)

@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('whole')
    result = child(tmp, tmp/'run', 'none')
    assert result.returncode == 0, result.stderr[-2000:]
    return tmp/'run'

@pytest.mark.parametrize('moment', ['mid_epoch', 'in_temporary_file', 'between_renames', 'between_best_and_last'])
def test_kill_9_then_resume_ends_as_the_uninterrupted_run(tmp_path, uninterrupted, moment):
    run_dir = tmp_path/'run'
    killed = child(tmp_path, run_dir, moment)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])   # it really died, at that moment
    resumed = child(tmp_path, run_dir, 'none', resume=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((run_dir/'history.json').read_text()) == json.loads((uninterrupted/'history.json').read_text())
    mine, theirs = torch.load(run_dir/'final_weights.pt'), torch.load(uninterrupted/'final_weights.pt')
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    best, reference = (torch.load(d/'best.pt', weights_only=True) for d in (run_dir, uninterrupted))
    losses = [row[2] for row in json.loads((uninterrupted/'history.json').read_text())]
    assert best['epoch'] == reference['epoch'] == losses.index(min(losses))                   # best.pt is the true best
    assert all(torch.equal(best['model'][k], reference['model'][k]) for k in reference['model'])
    assert not list(run_dir.glob('.*.tmp'))                                                      # no temporary file left
