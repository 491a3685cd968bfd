#!/usr/bin/env bash
# The GPU benchmarks, for a session that has the device machine. Each step fits in the device's 10-minute limit.
# Here first:   bash benchmarks/gather_wheels.sh              (-> .whl/, git-ignored)
# On the device (carry [".whl"], and "data" if it holds cifar-10-batches-py/):
#   bash benchmarks/run_gpu.sh eager        # throughput: fp32, channels_last, bf16, both; loader; kit pipeline (~2 min on an H100)
#   bash benchmarks/run_gpu.sh compile      # the same plus torch.compile rows (compiling takes several minutes)
#   bash benchmarks/run_gpu.sh cifar10      # time to 94 % on CIFAR-10 with the kit's fast recipe (needs data/cifar-10-batches-py)
#   extra arguments go to the python script, e.g.: bash benchmarks/run_gpu.sh compile --models resnet18_cifar,resnet9
# Each step appends its section to benchmarks/BENCHMARKS.md there and copies the new sections to $OUT/BENCHMARKS.new-<step>.md
# with the log: append that file to benchmarks/BENCHMARKS.md here (the device works on a copy of the tree).
set -uo pipefail
cd "$(dirname "$0")/.."
step=${1:-eager}; shift || true
OUT=${OUT:-benchmarks/out}; mkdir -p "$OUT"
if ! python3 -c "import fastai" 2>/dev/null; then
  if [ ! -f /tmp/site/.installed ]; then
    ls .whl/*.whl >/dev/null 2>&1 || { echo "no .whl/ here: run benchmarks/gather_wheels.sh on the CPU machine and carry .whl"; exit 2; }
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && touch /tmp/site/.installed
  fi
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv > "$OUT/nvidia-smi.csv" 2>&1
before=$(wc -l < benchmarks/BENCHMARKS.md)
case "$step" in
  eager)   python3 benchmarks/bench_throughput.py --no-compile "$@" ;;
  compile) python3 benchmarks/bench_throughput.py --pipeline off "$@" ;;
  cifar10) python3 benchmarks/bench_time_to_accuracy.py --data cifar10 --no-plain "$@" ;;
  *) echo "unknown step $step: eager, compile or cifar10"; exit 2 ;;
esac 2>&1 | grep -v -i 'warn' | tee "$OUT/$step.log"
status=${PIPESTATUS[0]}
tail -n +$((before + 1)) benchmarks/BENCHMARKS.md > "$OUT/BENCHMARKS.new-$step.md"
echo "new sections: $OUT/BENCHMARKS.new-$step.md ($(wc -l < "$OUT/BENCHMARKS.new-$step.md") lines); exit status $status"
exit "$status"
