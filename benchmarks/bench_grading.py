"""Grading a class: 20 copies of one lesson (half solved, half stubs) graded with --jobs 1 and --jobs 2.

Run: .venv/bin/python benchmarks/bench_grading.py [--copies 20] [--lesson 02_augment]
(appends a section to benchmarks/BENCHMARKS.md)
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / 'course-kit')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--copies', type=int, default=20)
    parser.add_argument('--lesson', default='02_augment')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([CLI, 'student', '--out', str(tmp / 'stubs')], check=True, capture_output=True)
        name = f'{args.lesson}.ipynb'
        for i in range(args.copies):
            source = ROOT / 'nbs' / name if i % 2 == 0 else tmp / 'stubs' / name
            (tmp / 'class' / f'student-{i:02d}').mkdir(parents=True)
            shutil.copyfile(source, tmp / 'class' / f'student-{i:02d}' / name)
        seconds = {}
        for jobs in (1, 2):
            start = time.perf_counter()
            command = [
                CLI,
                'grade',
                str(tmp / 'class'),
                '--out',
                str(tmp / f'grades-{jobs}'),
                '--jobs',
                str(jobs),
            ]
            subprocess.run(command, check=True, capture_output=True)
            seconds[jobs] = time.perf_counter() - start
        same = (tmp / 'grades-1' / 'grades.csv').read_text() == (tmp / 'grades-2' / 'grades.csv').read_text()
    load = ' / '.join(f'{x:.2f}' for x in os.getloadavg())
    section = f"""
## Grading a class ({time.strftime('%Y-%m-%d')})

`benchmarks/bench_grading.py`: {args.copies} copies of `{args.lesson}` (half solved, half stubs), each run in
a kernel of its own with the lesson's checks, on {os.cpu_count()} CPU cores. Load average after: {load}.
The two tables are {'identical' if same else 'DIFFERENT'}.

| jobs | seconds | seconds per copy |
|---|---|---|
| 1 | {seconds[1]:.1f} | {seconds[1] / args.copies:.1f} |
| 2 | {seconds[2]:.1f} | {seconds[2] / args.copies:.1f} |
"""
    with open(ROOT / 'benchmarks' / 'BENCHMARKS.md', 'a') as f:
        f.write(section)
    print(section)


if __name__ == '__main__':
    main()
