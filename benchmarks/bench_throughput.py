"""Training throughput (images/s of forward + backward + optimiser step) of the kit's models on synthetic
data, with and without channels_last / bf16 mixed precision / torch.compile, their FLOPs per image and the
fraction of the device's peak; and the kit's loader (DeviceLoader + batched crop and flip) on the same
device.

usage: python benchmarks/bench_throughput.py [--models small_cnn,resnet9,resnet18_cifar,vit,resnet50]
                                             [--steps 20] [--no-compile] [--no-write]
On a CPU it runs a reduced set (fp32 and channels_last, small batches, a few steps) and says the peak is
unknown.
Prints a table and appends a dated section to benchmarks/BENCHMARKS.md.
"""

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from course_kit.core import environment, get_device
from course_kit.models import get_model
from course_kit.data import ImageSet, DeviceLoader, Splits, get_dls
from course_kit.augment import batch_augment
from course_kit.learner import make_learner, fit
from course_kit.training import fast_recipe, FAST_WIDTHS
from fastai.callback.core import Callback

# Dense bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s (no sparsity). First match wins.
PEAK_BF16_TFLOPS = [
    ('H200', 989.0),
    ('H100 SXM', 989.0),
    ('H100 80GB HBM3', 989.0),
    ('H100 PCIe', 756.0),
    ('H100', 989.0),
    ('A100', 312.0),
    ('L40S', 362.0),
    ('L4', 121.0),
    ('A10G', 70.0),
    ('A10', 125.0),
    ('V100', 125.0),
    ('T4', 65.0),
    ('RTX 4090', 165.0),
    ('RTX 3090', 71.0),
]

# name -> (registry name, hparams, image size, GPU batch, CPU batch)
MODELS = {
    'small_cnn': ('small_cnn', {}, 32, 512, 64),
    'resnet9': ('resnet9', {}, 32, 512, 32),
    'resnet18_cifar': ('resnet18_cifar', {}, 32, 512, 16),
    'vit': ('vit', {}, 32, 256, 16),
    'resnet50': ('resnet50', {'pretrained': False}, 224, 256, 4),
}


def peak_tflops(device) -> float | None:
    if device.type != 'cuda':
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_TFLOPS if key in name), None)


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def matmul_tflops(device, n=8192, repeats=20) -> float | None:
    "Measured bf16 matmul TFLOP/s: what the device really reaches on the easiest possible work."
    if device.type != 'cuda':
        return None
    a, b = (
        torch.randn(n, n, device=device, dtype=torch.bfloat16),
        torch.randn(n, n, device=device, dtype=torch.bfloat16),
    )
    for _ in range(3):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def train_flops_per_image(name) -> float:
    """FLOPs of one training step (forward + backward) per image, counted by torch's FlopCounterMode on the
    CPU."""
    arch, hparams, size, _, _ = MODELS[name]
    model = get_model(arch, 10, **hparams)
    x, y = torch.randn(2, 3, size, size), torch.tensor([0, 1])
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / 2


def images_per_second(name, device, channels_last, bf16, compiled, steps, warmup) -> float:
    "Images/s of SGD training steps on one fixed synthetic batch (data loading excluded)."
    arch, hparams, size, gpu_batch, cpu_batch = MODELS[name]
    batch = gpu_batch if device.type == 'cuda' else cpu_batch
    torch.manual_seed(0)
    model = get_model(arch, 10, **hparams).to(device)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    if channels_last:
        model, x = (
            model.to(memory_format=torch.channels_last),
            x.contiguous(memory_format=torch.channels_last),
        )
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    step_model = torch.compile(model) if compiled else model

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(step_model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return batch * steps / (time.perf_counter() - start)


def loader_images_per_second(device, n=50000, batch_size=512, epochs=2) -> float:
    """The kit's DeviceLoader over n CIFAR-shaped uint8 images on `device`, with batched crop + flip and
    normalisation."""
    data = ImageSet(
        torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8),
        torch.randint(0, 10, (n,)),
        [str(i) for i in range(10)],
    )
    loader = DeviceLoader(
        data,
        batch_size,
        shuffle=True,
        device=device,
        normalize=([0.5] * 3, [0.25] * 3),
        augment=batch_augment('crop_flip', 32),
        seed=0,
    )
    for x, y in loader:
        pass
    sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            pass
    sync(device)
    return n * epochs / (time.perf_counter() - start)


class EpochTimer(Callback):
    "Seconds of the training phase of each epoch."

    def before_fit(self):
        self.seconds = []

    def before_train(self):
        self.started = time.perf_counter()

    def after_train(self):
        sync(self.dls.device)
        self.seconds.append(time.perf_counter() - self.started)


def pipeline_images_per_second(device, epochs=3, n=50000, compile=False) -> tuple:
    """The kit's whole fast-recipe loop (DeviceLoader, batched crop + flip, fastai Learner, ResNet-9,
    fast_recipe) on synthetic CIFAR-shaped data."""
    on_gpu = device.type == 'cuda'
    data = ImageSet(
        torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8),
        torch.randint(0, 10, (n,)),
        [str(i) for i in range(10)],
    )
    splits = Splits(data, data.subset(range(1000)), name='synthetic CIFAR-shaped')
    batch_size, widths = (512, FAST_WIDTHS['gpu']) if on_gpu else (128, FAST_WIDTHS['cpu'])
    dls = get_dls(
        splits,
        batch_size=batch_size,
        device=device,
        normalize=([0.5] * 3, [0.25] * 3),
        augment=batch_augment('crop_flip', 32),
    )
    model = get_model('resnet9', 10, widths=widths)
    if not on_gpu:
        model = model.to(memory_format=torch.channels_last)
    recipe = fast_recipe(epochs, compile=compile)
    learn = make_learner(dls, model, recipe, progress=False)
    learn.logger = lambda row: None
    timer = EpochTimer()
    fit(learn, recipe, cbs=timer)
    return n / min(timer.seconds[1:] or timer.seconds), widths, batch_size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--models', default=','.join(MODELS), help='comma-separated, from: ' + ', '.join(MODELS)
    )
    parser.add_argument('--device', default='auto')
    parser.add_argument(
        '--steps', type=int, default=None, help='timed steps per row (default 30 on a GPU, 3 on a CPU)'
    )
    parser.add_argument('--no-compile', action='store_true', help='skip the torch.compile rows')
    parser.add_argument(
        '--pipeline',
        default=None,
        choices=['on', 'off'],
        help="time the kit's whole fast-recipe training loop on 50,000 synthetic "
        'CIFAR-shaped images (default: on a GPU only)',
    )
    parser.add_argument('--no-write', action='store_true')
    args = parser.parse_args()
    device = get_device(args.device)
    on_gpu = device.type == 'cuda'
    steps = args.steps or (30 if on_gpu else 3)
    warmup = 5 if on_gpu else 1
    if on_gpu:
        torch.backends.cudnn.benchmark = True
    # variants: (label, channels_last, bf16, compile). On a CPU: fp32 with and without channels_last only.
    variants = [('fp32', False, False, False), ('channels_last', True, False, False)]
    if on_gpu:
        variants += [('bf16', False, True, False), ('bf16 + channels_last', True, True, False)]
        if not args.no_compile:
            variants.append(('bf16 + channels_last + compile', True, True, True))
    peak, matmul = peak_tflops(device), matmul_tflops(device)

    rows = []
    for name in [m.strip() for m in args.models.split(',') if m.strip()]:
        if name not in MODELS:
            sys.exit(f'unknown model {name!r}; choose from {", ".join(MODELS)}')
        flops = train_flops_per_image(name)
        for label, channels_last, bf16, compiled in variants:
            try:
                speed = images_per_second(name, device, channels_last, bf16, compiled, steps, warmup)
            except Exception as e:  # e.g. compile without a working compiler: say so in the row
                print(
                    f'{name} {label}: failed ({type(e).__name__}: {str(e).splitlines()[0][:120]})', flush=True
                )
                rows.append(dict(model=name, variant=label, speed=None, flops=flops, error=type(e).__name__))
                continue
            rows.append(dict(model=name, variant=label, speed=speed, flops=flops))
            print(
                f'{name:>15} {label:<32} {speed:>10,.0f} img/s  {speed * flops / 1e12:8.3g} TFLOP/s',
                flush=True,
            )
        if on_gpu:
            torch.cuda.empty_cache()
    loader_speed = loader_images_per_second(device, epochs=2 if on_gpu else 1)
    print(
        f'kit loader (DeviceLoader + crop_flip, CIFAR-shaped, batch 512): {loader_speed:,.0f} img/s',
        flush=True,
    )
    pipeline = []
    if (args.pipeline or ('on' if on_gpu else 'off')) == 'on':
        for compiled in [False, True] if on_gpu and not args.no_compile else [False]:
            try:
                speed, widths, batch = pipeline_images_per_second(
                    device, epochs=3 if on_gpu else 2, n=50000 if on_gpu else 2048, compile=compiled
                )
                pipeline.append(
                    f'| ResNet-9 {widths} | {batch} | {"yes" if compiled else "no"} | {speed:,.0f} |'
                )
            except Exception as e:
                pipeline.append(
                    f'| ResNet-9 | - | {"yes" if compiled else "no"} | failed: '
                    f'{type(e).__name__}: {str(e).splitlines()[0][:100]} |'
                )
            print(pipeline[-1], flush=True)
    pipeline_text = (
        ''
        if not pipeline
        else "The kit's whole training loop (fastai `Learner` + `fast_recipe` + `DeviceLoader` with batched "
        'crop '
        '+ flip, bf16 and channels_last on a GPU), '
        'one epoch over synthetic CIFAR-shaped images (fastest epoch after the first), images/s:\n\n'
        '| model | batch | torch.compile | images/s |\n|---|---|---|---|\n' + '\n'.join(pipeline) + '\n'
    )

    def fraction(row, reference):
        return (
            '-'
            if reference is None or row['speed'] is None
            else f'{row["speed"] * row["flops"] / 1e12 / reference:.1%}'
        )

    header = (
        '| model | image | batch | variant | train GFLOP/img | images/s | TFLOP/s | of peak bf16 | of '
        'measured matmul |\n'
        '|---|---|---|---|---|---|---|---|---|\n'
    )
    lines = []
    for r in rows:
        _, _, size, gpu_batch, cpu_batch = MODELS[r['model']]
        speed = 'failed: ' + r['error'] if r['speed'] is None else f'{r["speed"]:,.0f}'
        achieved = '-' if r['speed'] is None else f'{r["speed"] * r["flops"] / 1e12:.3g}'
        lines.append(
            f'| {r["model"]} | {size}x{size} | {gpu_batch if on_gpu else cpu_batch} | '
            f'{r["variant"]} | {r["flops"] / 1e9:.3f} | '
            f'{speed} | {achieved} | {fraction(r, peak)} | {fraction(r, matmul)} |'
        )
    table = header + '\n'.join(lines)
    best = {}
    for r in rows:
        if r['speed'] is not None and MODELS[r['model']][2] == 32:
            best[r['model']] = max(best.get(r['model'], 0), r['speed'])
    lines = []
    for name, speed in best.items():
        if loader_speed >= 2 * speed:
            verdict = 'the loader is not the bottleneck'
        else:
            verdict = 'the loader could hold the model back'
        ratio = loader_speed / speed
        lines.append(f'- {name}: best {speed:,.0f} img/s; loader / model = {ratio:.1f}x ({verdict})')
    loader_lines = '\n'.join(lines)
    print(table)
    print(loader_lines)
    if args.no_write:
        return

    env = environment(device)
    peak_text = (
        f'{peak:.0f} TFLOP/s dense bf16 (data sheet)'
        if peak
        else 'unknown (not a GPU the script knows)'
        if on_gpu
        else "unknown on a CPU: the 'of peak' columns stay empty"
    )
    load = f'; load average after the run {os.getloadavg()[0]:.2f} (1 min)' if not on_gpu else ''
    command = ' '.join(['python', 'benchmarks/bench_throughput.py'] + sys.argv[1:])
    matmul_text = f'{matmul:.0f} TFLOP/s' if matmul else 'not measured (no CUDA)'
    cpu_text = ''
    if not on_gpu:
        cpu_text = 'On a CPU only fp32 and channels_last are timed, with small batches and few steps: '
        cpu_text += 'a rough guide, not a GPU figure.'
    section = f"""
## Training throughput ({datetime.date.today().isoformat()}, {env['device_name']})

Images per second of training steps (forward, cross-entropy, backward, SGD step) on one fixed synthetic
batch of random images (no data loading), after {warmup} warm-up steps, {steps} timed steps. FLOPs per
image: forward + backward of one step, counted by `torch.utils.flop_counter.FlopCounterMode` (a
multiply-add counts 2). Peak: {peak_text}.
Measured bf16 matmul (8192 x 8192): {matmul_text}.
{cpu_text}

Device: {env['device_name']}; torch {env['torch']}, torchvision {env['torchvision']},
fastai {env['fastai']}, python {env['python']}, {env['platform']}{load}.
Command: `{command}`

{table}

The kit's loader on the same device (`DeviceLoader` over 50,000 CIFAR-shaped uint8 images, batched crop +
flip, normalise, batch 512): {loader_speed:,.0f} img/s. Against the fastest variant of each 32x32 model:

{loader_lines}

{pipeline_text}"""
    path = Path(__file__).parent / 'BENCHMARKS.md'
    with open(path, 'a') as f:
        f.write(section)
    print(f'appended to {path}')


if __name__ == '__main__':
    main()
