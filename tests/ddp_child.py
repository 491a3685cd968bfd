"""One training run on scikit-learn's digits through the kit's `train`, for tests/test_distributed.py.

Run in one process (`python tests/ddp_child.py OUT`) or several (`torchrun --nproc_per_node 2 ...`): the
same script, unchanged. Process 0 writes OUT/result.json and OUT/weights.pt; every process writes the images
it trained on (hashes, per epoch) to OUT/seen-<rank>.json.
"""

import argparse
import hashlib
import json
import os
import signal
from pathlib import Path

import torch
from fastai.callback.core import Callback

from course_kit.augment import batch_augment
from course_kit.core import rank_and_world, seed_everything
from course_kit.data import digits_splits, get_dls
from course_kit.models import get_model
from course_kit.recipe import Recipe
from course_kit.training import train


class SeenImages(Callback):
    "A hash of every training image this process is given, per epoch."

    def before_fit(self):
        self.seen = {}

    def before_batch(self):
        if self.training:
            hashes = [hashlib.sha1(x.numpy().tobytes()).hexdigest()[:12] for x in self.xb[0]]
            self.seen.setdefault(self.epoch, []).extend(hashes)


class KillAfter(Callback):
    "Process 0 kills itself with SIGKILL at the end of epoch `epoch`, once its checkpoint is written."

    order = 99  # after the Checkpoint callback (90)

    def __init__(self, epoch: int):
        self.epoch_to_kill = epoch

    def after_epoch(self):
        if self.epoch == self.epoch_to_kill and rank_and_world()[0] == 0:
            os.kill(os.getpid(), signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('out', help='folder for result.json, weights.pt and seen-<rank>.json')
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=64, help='the global batch size')
    parser.add_argument('--augment', action='store_true', help='crops and flips on every batch')
    parser.add_argument('--run-dir', help='write checkpoints here')
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('--kill-after', type=int, help='process 0 dies with SIGKILL after this epoch')
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(0)
    splits = digits_splits(seed=0)
    augment = batch_augment('crop_flip', 8) if args.augment else None
    dls = get_dls(splits, args.batch_size, 'cpu', normalize=([0.5], [0.5]), augment=augment, seed=0)
    model = get_model('small_cnn', 10, in_channels=1, widths=(16, 32))
    seen = SeenImages()
    cbs = [seen] + ([KillAfter(args.kill_after)] if args.kill_after is not None else [])
    result = train(
        dls, model, Recipe(epochs=args.epochs, lr=1e-2), 'digits', splits.name,
        run_dir=args.run_dir, resume=args.resume, cbs=cbs,
    )  # fmt: skip
    rank, world_size = rank_and_world()
    (out / f'seen-{rank}.json').write_text(json.dumps(getattr(seen, 'seen', {})))
    if rank == 0:
        record = result.record
        summary = dict(
            valid_accuracy=result.metrics['valid_accuracy'],
            valid_predictions=len(result.predictions['valid'].targets),
            valid_images=len(splits.valid),
            history=record['history'],
            processes=record['processes'],
            global_batch_size=record['global_batch_size'],
        )
        (out / 'result.json').write_text(json.dumps(summary))
        torch.save(result.learn.model.state_dict(), out / 'weights.pt')


if __name__ == '__main__':
    main()
