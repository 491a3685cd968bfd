"""The rehearsal of every report's `full` profile on this machine, on data of the real size and format.

Writes the full-size fixtures (CIFAR-10/100, Caltech101, MNIST; once) into data/full, runs the five writeup
reports with `--profile full -p rehearse N -p epoch_scale S` against them, and appends one table to
benchmarks/BENCHMARKS.md: per experiment, the host's peak memory, the GPU memory estimate, the seconds per
training batch here, the training batches the full run needs, and the full run's time projected from them.

Run: .venv/bin/python benchmarks/bench_rehearsal.py [--rehearse 1] [--epoch-scale 0.1] [--reports a,...]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPORTS = ['a_ensemble', 'b_cifar100', 'c_digit_sum', 'd_cifar10', 'e_caltech101']


def row_cells(need: dict, epoch_scale: float) -> list:
    "The table's numbers for one experiment's needs (memory in GiB; '-' where a sweep has no batch times)."
    memory, times = need['memory'], need['rehearsal']
    host, estimate = memory['host_peak_mb'] / 1024, memory['device_estimate_mb'] / 1024
    kernel = memory.get('process_peak_mb', memory['host_peak_mb']) / 1024
    cells = [f'{host:.2f}', f'{kernel:.2f}', f'{estimate:.2f}', f'{host - estimate:.2f}']
    if not times:
        return cells + ['-', '-', '-']
    full = round(times['full_batches'] / epoch_scale)
    hours = times['seconds_per_batch'] * full / 3600
    return cells + [str(times['seconds_per_batch']), f'{full:,}', f'{hours:.1f}']


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rehearse', type=int, default=1, help='training batches per epoch')
    parser.add_argument('--epoch-scale', type=float, default=0.1, help='the full recipes epochs, times this')
    parser.add_argument('--reports', default=','.join(REPORTS))
    parser.add_argument('--data', default=str(ROOT / 'data' / 'full'), help='where the full-size data goes')
    parser.add_argument('--out', default=str(ROOT / 'reports' / '_out' / 'rehearsal'))
    parser.add_argument(
        '--table-only', action='store_true', help='no run: the table of the runs already in --out'
    )
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / 'cifar-10-batches-py').exists():
        subprocess.run([str(BIN / 'course-kit'), 'fixtures', '--full-size', str(data)], check=True)
    env = dict(os.environ, COURSE_KIT_DATA_DIR=str(data), COURSE_KIT_REPORTS_OUT=args.out)
    names = args.reports.split(',')
    command = [str(BIN / 'course-kit'), 'report', 'run', *names, '--profile', 'full', '--force']
    command += ['-p', 'rehearse', str(args.rehearse), '-p', 'epoch_scale', str(args.epoch_scale)]
    start = time.perf_counter()
    returncode = 0 if args.table_only else subprocess.run(command, env=env, cwd=ROOT).returncode
    wall = time.perf_counter() - start
    lines = []
    for name in names:
        path = Path(args.out) / name / 'metrics.json'
        if not path.exists():
            lines.append(f'| {name} | (no metrics.json: the report did not start) | | | | | |')
            continue
        metrics = json.loads(path.read_text())
        statuses = {row['experiment']: row['status'] for row in metrics['rows']}
        for experiment, status in statuses.items():
            need = metrics.get('needs', {}).get(experiment)
            if need is None:
                lines.append(f'| {name} | {experiment} ({status}) |' + ' - |' * 7)
                continue
            lines.append(f'| {name} | {experiment} | ' + ' | '.join(row_cells(need, args.epoch_scale)) + ' |')
    load = ' / '.join(f'{x:.2f}' for x in os.getloadavg())
    ran = f'Exit status {returncode}, {wall / 60:.0f} min in all'
    if args.table_only:
        ran = 'The table of the last run of each report in the output folder (`--table-only`)'
    head = f"""
## Rehearsal of the `full` profiles on this CPU ({time.strftime('%Y-%m-%d')})

`benchmarks/bench_rehearsal.py --rehearse {args.rehearse} --epoch-scale {args.epoch_scale}`: every report's
`full` profile on full-size fixtures in the real formats (`course-kit fixtures --full-size`), every epoch cut
to {args.rehearse} training batch(es), the recipes' epochs times {args.epoch_scale}.
{ran}, on {os.cpu_count()} CPU cores.
Load average after: {load}.
"""
    legend = """
*Host peak* is the report kernel's peak resident memory while the experiment ran (measured; the kit starts
the peak again at each `train`, Linux's `clear_refs`; a sweep's row is its largest trial). *Kernel peak* is
the kernel's peak since it started, loading and decoding the data included. On a CPU the training itself
runs in host memory, so the host peak includes what a GPU would hold (the GPU estimate, activations above
all); *host less GPU* is about what the host of a GPU machine would hold (an estimate, not a measurement).
*GPU estimate* is the kit's estimate of what the run needs on a GPU at the writeup's batch size (data on the
device, weights, gradients, optimiser, one batch of activations). *s/batch* is the median training batch
here. *full batches* is what the full run trains (the writeup's epochs). *projected hours* is their product:
a projection for this CPU, not a measurement; a GPU is many times faster. Rows without numbers trained
nothing (a vote) or did not run.

"""
    columns = [
        'report',
        'experiment',
        'host peak GB',
        'kernel peak GB',
        'GPU estimate GB',
        'host less GPU GB',
    ]
    columns += ['s/batch here', 'full batches', 'projected hours here']
    legend += '| ' + ' | '.join(columns) + ' |\n' + '|---' * len(columns) + '|\n'
    section = head + legend + '\n'.join(lines) + '\n'
    with open(ROOT / 'benchmarks' / 'BENCHMARKS.md', 'a') as f:
        f.write(section)
    print(section)


if __name__ == '__main__':
    main()
