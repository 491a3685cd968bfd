"""A training run that kills itself (SIGKILL) at a chosen moment: run by tests/test_crash.py as
`python crash_child.py RUN_DIR MOMENT fresh|resume`."""

import json
import os
import signal
import sys
from pathlib import Path

import torch
from fastai.callback.core import Callback

import course_kit.checkpoints as checkpoints
from course_kit.core import seed_everything
from course_kit.data import digits_splits, get_dls
from course_kit.models import get_model
from course_kit.recipe import Recipe
from course_kit.training import train

KILL_EPOCH = 2
run_dir, moment, resume = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == 'resume'


def die():
    os.kill(os.getpid(), signal.SIGKILL)


real_save, real_replace = checkpoints.save_checkpoint, checkpoints.os.replace


def save(learn, path, recipe, keep_previous=False):
    "save_checkpoint, with a kill in its temporary file or between best.pt and last.pt."
    name = Path(path).name
    if moment == 'in_temporary_file' and name == 'last.pt' and learn.epoch >= KILL_EPOCH:
        half_written = Path(path).with_name('.last.pt.1.tmp')
        checkpoints.torch.save(checkpoints.checkpoint_state(learn, recipe), half_written)
        die()
    real_save(learn, path, recipe, keep_previous)
    if moment == 'between_best_and_last' and name == 'best.pt' and learn.epoch >= KILL_EPOCH:
        die()


def load_epoch(path):
    return checkpoints.load_checkpoint(path)['epoch']


def replace(src, dst):
    "os.replace, with a kill between the two renames of last.pt's rotation."
    real_replace(src, dst)
    if moment == 'between_renames' and Path(dst).name == 'previous.pt' and load_epoch(dst) >= KILL_EPOCH - 1:
        die()


checkpoints.save_checkpoint = save
checkpoints.os.replace = replace


class MidEpoch(Callback):
    "A kill in the middle of an epoch's training batches."

    def after_batch(self):
        if moment == 'mid_epoch' and self.training and self.epoch == KILL_EPOCH and self.iter == 1:
            die()


torch.set_num_threads(1)
seed_everything(0)
splits = digits_splits(seed=0)
splits.train = splits.train.subset(range(128))
splits.valid = splits.valid.subset(range(64))
dls = get_dls(splits, batch_size=32, device='cpu', normalize=([0.5], [0.5]))
model = get_model('small_cnn', 10, in_channels=1, widths=(8, 16), dropout=0.1)
recipe = Recipe(
    epochs=5,
    lr=0.05,
    optimizer='sgd',
    schedule='step',
    step_size=2,
    gamma=0.5,
    keep_best=True,
    monitor='valid_loss',
)
learn = train(dls, model, recipe, run_dir=run_dir, resume=resume, progress=False, cbs=[MidEpoch()]).learn
torch.save(learn.model.state_dict(), run_dir / 'final_weights.pt')
(run_dir / 'history.json').write_text(json.dumps([list(row) for row in learn.recorder.values]))
