"""Overheads of running beyond one process, on this machine: the five smoke reports in this process (two
threads) vs through the local executor (two jobs), and one training of the digits in one process vs two
(torchrun, gloo). On a CPU these check the overheads; they say nothing about a speed-up on GPUs.

Run: .venv/bin/python benchmarks/bench_jobs.py   (appends a section to benchmarks/BENCHMARKS.md)
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPORTS = ['a_ensemble', 'b_cifar100', 'c_digit_sum', 'd_cifar10', 'e_caltech101']


def timed(command: list, env: dict) -> float:
    "Seconds one command takes (it must succeed)."
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True)
    return time.perf_counter() - start


def reports(executor: str) -> float:
    "The five smoke reports, two at a time, in a scratch output folder."
    with tempfile.TemporaryDirectory() as tmp:
        env = {'COURSE_KIT_REPORTS_OUT': f'{tmp}/out', 'COURSE_KIT_RUNS_DIR': f'{tmp}/runs'}
        command = [str(BIN / 'course-kit'), 'report', 'run', *REPORTS, '--profile', 'smoke', '--jobs', '2']
        return timed([*command, '--executor', executor], env)


def training(processes: int) -> float:
    "examples/train_digits.py, 3 epochs at a global batch of 64, in one process or under torchrun."
    script = str(ROOT / 'examples' / 'train_digits.py')
    if processes == 1:
        command = [sys.executable, script]
    else:
        command = [str(BIN / 'torchrun'), '--nproc_per_node', str(processes), script]
    return timed(command, {'OMP_NUM_THREADS': '1'})


def main():
    rows = [
        ('five smoke reports, in this process (2 threads)', reports('process')),
        ('five smoke reports, local executor (2 jobs)', reports('local')),
        ('digits, 3 epochs, 1 process', training(1)),
        ('digits, 3 epochs, 2 processes (torchrun, gloo)', training(2)),
    ]
    load = ' / '.join(f'{x:.2f}' for x in os.getloadavg())
    lines = '\n'.join(f'| {what} | {seconds:.1f} |' for what, seconds in rows)
    section = f"""
## Jobs and processes: overheads on this CPU ({time.strftime('%Y-%m-%d')})

Wall time of each command, start to end, measured by `benchmarks/bench_jobs.py` on {os.cpu_count()} CPU
cores (torch {torch.__version__}, python {sys.version.split()[0]}). A CPU run checks the overheads (processes,
pickling, submitit's files, gloo); it says nothing about the speed-up on GPUs. Load average after the run:
{load}.

| what | seconds |
|---|---|
{lines}
"""
    with open(ROOT / 'benchmarks' / 'BENCHMARKS.md', 'a') as f:
        f.write(section)
    print(section)


if __name__ == '__main__':
    main()
