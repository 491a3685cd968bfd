"""Images per second: the kit's DeviceLoader (uint8 on the device, crops and flips on the whole batch)
vs a torch DataLoader with per-image PIL transforms doing the same augmentation, at the same batch size.

usage: python benchmarks/bench_loader.py [--epochs 2] [--batch-size 256] [--workers 2] [--no-write]
Prints a table and appends a dated section to benchmarks/BENCHMARKS.md.
"""

import argparse
import datetime
import os
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from course_kit.core import environment
from course_kit.data import DeviceLoader
from course_kit.datasets import fashion_mnist_splits, read_cifar
from course_kit.fixtures import write_cifar_fixture
from course_kit.augment import batch_augment, image_transforms, normalize_stats


class PILSet(torch.utils.data.Dataset):
    "What torchvision's CIFAR10/FashionMNIST do per item: uint8 array -> PIL image -> transform."

    def __init__(self, data, transform):
        self.images, self.labels, self.transform = (
            data.images.permute(0, 2, 3, 1).numpy(),
            data.labels,
            transform,
        )

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        array = self.images[i]
        img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
        return self.transform(img), self.labels[i]


def images_per_second(loader, epochs):
    "Mean img/s over `epochs` full epochs (after one warm-up batch)."
    next(iter(loader))
    start, seen = time.perf_counter(), 0
    for _ in range(epochs):
        for x, y in loader:
            seen += len(y)
    return seen / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--epochs', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--no-write', action='store_true')
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp())
    fashion = fashion_mnist_splits(seed=0)
    # 50,000 training images in the real pickle format
    folder = write_cifar_fixture(tmp, n_per_class=5000)
    # all 50,000 (the kit's reader of the python batches)
    cifar_train, _, _ = read_cifar(folder)
    rows = []
    for name, data, norm in [
        ('Fashion-MNIST (50,000 x 1x28x28)', fashion.train, 'half'),
        ('CIFAR-format fixture (50,000 x 3x32x32)', cifar_train, 'half'),
    ]:
        channels, size = data.image_shape[0], data.image_shape[-1]
        normalize = normalize_stats(norm, channels)
        pil = torch.utils.data.DataLoader(
            PILSet(
                data,
                image_transforms(['crop_flip'], size, None, 1.0)
                if channels == 1
                else image_transforms(['crop_flip'], size, normalize),
            ),
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=args.workers,
            persistent_workers=True,
        )
        pil_speed = images_per_second(pil, args.epochs)
        del pil
        result = dict(data=name, pil=pil_speed)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            kit = DeviceLoader(
                data,
                args.batch_size,
                shuffle=True,
                device='cpu',
                normalize=normalize,
                augment=batch_augment('crop_flip', size),
                seed=0,
            )
            result[f'kit_{threads}'] = images_per_second(kit, args.epochs)
        torch.set_num_threads(os.cpu_count())
        rows.append(result)

    load = os.getloadavg()
    env = environment('cpu')
    header = (
        f'| data set | PIL DataLoader ({args.workers} workers) | kit, 1 torch thread | kit, 2 torch '
        'threads | best kit / PIL |\n|---|---|---|---|---|\n'
    )
    lines = [
        f'| {r["data"]} | {r["pil"]:,.0f} | {r["kit_1"]:,.0f} | {r["kit_2"]:,.0f} | '
        f'{max(r["kit_1"], r["kit_2"]) / r["pil"]:.1f}x |'
        for r in rows
    ]
    table = header + '\n'.join(lines)
    print(table)
    print(f'load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}')
    if args.no_write:
        return
    command = (
        f'python benchmarks/bench_loader.py --epochs {args.epochs} --batch-size {args.batch_size} '
        f'--workers {args.workers}'
    )
    section = f"""
## Loader: kit vs PIL pipeline ({datetime.date.today().isoformat()})

Augmentation in both: pad 4 + random crop back to the size, and a random left-right flip (p = 0.5), per image;
then to float and normalise ((.5,.5,.5)/(.5,.5,.5); Fashion-MNIST's PIL pipeline without the Normalize step).
Batch size {args.batch_size}, {args.epochs} full shuffled epochs each, images per second (higher is better).
The kit: `DeviceLoader` + `batch_augment('crop_flip')` (uint8 set in memory, one gather per batch).
The baseline: `torch.utils.data.DataLoader` over a dataset doing what torchvision's CIFAR10/FashionMNIST
do (uint8 array -> PIL image) + `image_transforms(['crop_flip'])` (torchvision v2), {args.workers} worker
processes.

Device: {env['device_name']}; torch {env['torch']}, torchvision {env['torchvision']},
python {env['python']}, {env['platform']}.
Command: `{command}`

{table}

Load average after the run: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min). The machine's 2
cores were shared with other jobs during the measurement, so numbers are noisy; with 2 torch threads on a
busy 2-core machine OpenMP threads wait for each other, which is why the 1-thread column can be faster.
"""
    path = Path(__file__).parent / 'BENCHMARKS.md'
    if not path.exists():
        path.write_text(
            '# Benchmarks\n\nMeasured numbers, newest last. Each section says how it was measured.\n'
        )
    with open(path, 'a') as f:
        f.write(section)
    print(f'appended to {path}')


if __name__ == '__main__':
    main()
