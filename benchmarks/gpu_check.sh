#!/usr/bin/env bash
# Issue 15's one GPU check, about 9 minutes on one H200: install the carried wheels, run the standin profile of the
# five reports, the throughput benchmark (eager; channels_last + bf16; torch.compile for ResNet-18), time to 93 % on
# Fashion-MNIST with the fast recipe (and 94 % on CIFAR-10 where data/cifar-10-batches-py is there), and pack everything
# into one archive, $OUT/gpu_check.tar.gz. It is the kit's one GPU script.
#
# Here first (CPU machine, repository root):
#   bash benchmarks/gather_wheels.sh               # .whl/ : fastai, papermill, ... for the device's Python 3.12
#   bash benchmarks/gpu_check.sh prepare           # .carry/fashion-mnist/ : the four .gz files (30 MB)
#   bash benchmarks/gpu_check.sh dry               # every step on tiny data, on this CPU (smoke reports, a few steps)
# On the device, one call:  run(command="bash benchmarks/gpu_check.sh", carry=[".whl", ".carry"], timeout_s=600)
# Back here:
#   tar xzf <files_at>/gpu_check.tar.gz -C reports/results/    # -> reports/results/h200-<date>/ with its README
#   cat reports/results/h200-<date>/BENCHMARKS.new.md >> benchmarks/BENCHMARKS.md
#
# Settings (environment): EPOCH_SCALE (0.3: standin epochs x 0.3), REPORT_LIMIT (seconds each report may run: 240 on the
# device, where the five run side by side on the one GPU; 900 in dry), BENCH_LIMIT (seconds for each benchmark step, 100; dry 300).
# A report cut off by its limit keeps the rows it finished, and the README and log say it was cut off.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-real}
case "$mode" in
  prepare)
    mkdir -p .carry/fashion-mnist
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
      for dir in /usr/share/datasets/fashion-mnist data/FashionMNIST/raw; do
        if [ -f "$dir/$f.gz" ]; then cp "$dir/$f.gz" .carry/fashion-mnist/; break; fi
      done
      [ -f ".carry/fashion-mnist/$f.gz" ] || { echo "no $f.gz: install Debian's dataset-fashion-mnist (make install does) or place it in data/FashionMNIST/raw/"; exit 2; }
    done
    du -sh .whl .carry 2>/dev/null; echo "carry [\".whl\", \".carry\"]: together they must stay under 64 MiB"
    exit 0 ;;
  real|dry) ;;
  *) echo "usage: bash benchmarks/gpu_check.sh [prepare|dry|real]"; exit 2 ;;
esac

OUT=${OUT:-benchmarks/out}; mkdir -p "$OUT"
if [ "$mode" = dry ]; then profile=smoke; name=dry-$(date +%F); PY=${PY:-.venv/bin/python}; write=--no-write; limits="900 300"
else profile=standin; name=h200-$(date +%F); PY=${PY:-python3}; write=; limits="240 100"; fi
SCALE=${EPOCH_SCALE:-0.3}; REPORT_LIMIT=${REPORT_LIMIT:-${limits% *}}; BENCH_LIMIT=${BENCH_LIMIT:-${limits#* }}
here=$(mktemp -d)/$name; mkdir -p "$here"
log() { echo "[$(date +%T)] $*" | tee -a "$here/gpu_check.log"; }
start=$(date +%s)

# 1. wheels (the device has torch and torchvision, not fastai, papermill or the kit)
if ! $PY -c "import fastai, papermill" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "no .whl/: run benchmarks/gather_wheels.sh here and carry .whl"; exit 2; }
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 2
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
log "wheels ready ($(( $(date +%s) - start )) s)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv > "$here/nvidia-smi.csv" 2>&1 || true
$PY -c "import torch, torchvision, fastai, sys; print('python', sys.version.split()[0], '| torch', torch.__version__, '| torchvision', torchvision.__version__, '| fastai', fastai.__version__, '| cuda', torch.cuda.is_available())" | tee -a "$here/gpu_check.log"

# 2. Fashion-MNIST where the kit looks first (data/FashionMNIST/raw; the kit unpacks the .gz files once)
if [ "$mode" = real ]; then
  mkdir -p data/FashionMNIST/raw && cp -n .carry/fashion-mnist/*.gz data/FashionMNIST/raw/ 2>/dev/null \
    || { echo "no .carry/fashion-mnist/: run 'bash benchmarks/gpu_check.sh prepare' here and carry .carry"; exit 2; }
fi

# 3. the five reports, side by side, each with its own time limit (a report cut off says so in the README)
reports="a_ensemble b_cifar100 c_digit_sum d_cifar10 e_caltech101"
export COURSE_KIT_REPORTS_OUT="$here" PYTHONUNBUFFERED=1
for r in $reports; do
  ( timeout "$REPORT_LIMIT" $PY -c "import sys; from course_kit.cli import main; sys.exit(main(sys.argv[1:]))" \
      report run "$r" --profile "$profile" -p epoch_scale "$SCALE" > "$here/report-$r.log" 2>&1; echo $? > "$here/report-$r.rc" ) &
done
wait
for r in $reports; do
  rc=$(cat "$here/report-$r.rc"); rm -f "$here/report-$r.rc"
  case "$rc" in
    0) log "report $r: done" ;;
    124) log "report $r: CUT OFF after $REPORT_LIMIT s; its HTML shows the experiments that ran before (report-$r.log)"
         $PY -c "import sys; from pathlib import Path; from course_kit.cli import to_html; to_html(Path(sys.argv[1]))" "$here/$r/$r.ipynb" >> "$here/report-$r.log" 2>&1 ;;
    *) log "report $r: FAILED (exit $rc; report-$r.log and $r/$r.html say why)" ;;
  esac
done
$PY -c "from course_kit.summary import write_summary; write_summary()" >> "$here/gpu_check.log" 2>&1
log "reports ended ($(( $(date +%s) - start )) s)"

# 4. benchmarks, after the reports so nothing shares the GPU with them
before=$(wc -l < benchmarks/BENCHMARKS.md)
if [ "$mode" = dry ]; then
  timeout "$BENCH_LIMIT" $PY benchmarks/bench_throughput.py --models small_cnn --steps 1 --no-compile $write > "$here/throughput.log" 2>&1
  timeout "$BENCH_LIMIT" $PY benchmarks/bench_time_to_accuracy.py --train-limit 600 --epochs 1 --no-plain $write > "$here/time_to_accuracy.log" 2>&1
else
  timeout "$BENCH_LIMIT" $PY benchmarks/bench_throughput.py --no-compile > "$here/throughput.log" 2>&1
  timeout "$BENCH_LIMIT" $PY benchmarks/bench_throughput.py --pipeline off --models resnet18_cifar > "$here/compile.log" 2>&1
  timeout "$BENCH_LIMIT" $PY benchmarks/bench_time_to_accuracy.py --no-plain > "$here/time_to_accuracy.log" 2>&1
  if [ -d data/cifar-10-batches-py ]; then   # 94 % on CIFAR-10, only where the data is there (too large to carry)
    timeout "$BENCH_LIMIT" $PY benchmarks/bench_time_to_accuracy.py --data cifar10 --no-plain > "$here/cifar10.log" 2>&1
  fi
fi
for f in "$here"/throughput.log "$here"/compile.log "$here"/time_to_accuracy.log "$here"/cifar10.log; do
  [ -f "$f" ] && log "$(basename "$f"), its last line: $(tail -n 1 "$f")"
done
tail -n +$((before + 1)) benchmarks/BENCHMARKS.md > "$here/BENCHMARKS.new.md"
log "benchmarks ended ($(( $(date +%s) - start )) s)"

# 5. one archive: the reports' HTML, figures, metrics and summaries, the logs; no weights, no executed notebooks
cat > "$here/README.md" <<EOF
# $name: what ran

Made by \`bash benchmarks/gpu_check.sh $mode\` at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(date '+%F %T %Z').
Profile \`$profile\`, \`epoch_scale\` $SCALE, every experiment of each report; the five reports ran side by side (on the one GPU, in a real run),
each limited to $REPORT_LIMIT s; then the benchmarks (each limited to $BENCH_LIMIT s). Device: $(if [ "$mode" = real ]; then head -n 2 "$here/nvidia-smi.csv" | tail -n 1; else echo "this machine's CPU (dry run: nothing here is a GPU number)"; fi).
Library versions: in gpu_check.log and in each report's metrics.json. What finished, what was cut off (from gpu_check.log):

$(grep -E 'report |\.log, its last line' "$here/gpu_check.log" | sed 's/^/    /')
Transfer rows train from random weights (no ImageNet weights on an offline machine): their status says so.
EOF
find "$here" \( -name checkpoints -o -name runs -o -name unlabelled -o -name fixture -o -name sweep \) -type d -prune -exec rm -rf {} +
find "$here" \( -name '*.ipynb' -o -name '.fingerprint' \) -delete
tar czf "$OUT/gpu_check.tar.gz" -C "$(dirname "$here")" "$name"
log "archive $OUT/gpu_check.tar.gz: $(du -h "$OUT/gpu_check.tar.gz" | cut -f1) ($(( $(date +%s) - start )) s in all)"
cp "$here/gpu_check.log" "$OUT/"
