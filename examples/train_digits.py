"""A homework-sized training script: a small CNN on scikit-learn's digits, through the kit's `train`.

The same script, unchanged, runs in one process or in several (one model, data parallel):

    python examples/train_digits.py
    torchrun --nproc_per_node 2 examples/train_digits.py
    course-kit launch --executor slurm --nodes 2 --procs-per-node 4 --gpus-per-node 4 examples/train_digits.py

`--batch-size` is the global batch: with N processes each one trains on batch_size / N images of every batch.
"""

import argparse

from course_kit.core import rank_and_world, seed_everything
from course_kit.data import digits_splits, get_dls
from course_kit.models import get_model
from course_kit.recipe import Recipe
from course_kit.training import train


def main():
    parser = argparse.ArgumentParser(description='Train a small CNN on the digits with course_kit.')
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=64, help='the global batch size')
    parser.add_argument('--run-dir', help='write checkpoints here (then --resume goes on from them)')
    parser.add_argument('--resume', action='store_true')
    args = parser.parse_args()
    seed_everything(0)
    splits = digits_splits(seed=0)
    dls = get_dls(splits, args.batch_size, normalize=([0.5], [0.5]), seed=0)
    model = get_model('small_cnn', splits.n_classes, in_channels=1)
    recipe = Recipe(epochs=args.epochs, lr=1e-2)
    result = train(dls, model, recipe, 'digits', splits.name, run_dir=args.run_dir, resume=args.resume)
    rank, processes = rank_and_world()
    if rank == 0:
        record = result.record
        print(
            f'{processes} process(es), global batch {record["global_batch_size"]}: '
            f'valid accuracy {result.metrics["valid_accuracy"]:.4f}, '
            f'test accuracy {result.metrics["test_accuracy"]:.4f}'
        )


if __name__ == '__main__':
    main()
