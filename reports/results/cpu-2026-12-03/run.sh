#!/usr/bin/env bash
# The standin runs of this folder, exactly as they ran: five reports on a 2-core CPU, about two and a quarter hours in all on a shared machine (README.md).
# Run from the repository root: bash reports/results/cpu-2026-12-03/run.sh
set -uo pipefail
here=reports/results/cpu-2026-12-03
export COURSE_KIT_REPORTS_OUT="$here" COURSE_KIT_DEVICE=cpu OMP_NUM_THREADS=2
kit=.venv/bin/course-kit
$kit report run a_ensemble   --profile standin -p experiments 'simple CNN,fast recipe' -p epoch_scale 0.5
$kit report run b_cifar100   --profile standin -p experiments 'BaseNet,step 1,step 2,step 3,step 4,fast recipe' -p epoch_scale 1.0
$kit report run c_digit_sum  --profile standin -p experiments 'custom CNN,segment + classify,autoencoder latent,fast recipe' -p epoch_scale 0.5
$kit report run d_cifar10    --profile standin -p experiments 'CNN sweep,CNN,fast recipe' -p epoch_scale 0.7
$kit report run e_caltech101 --profile standin -p experiments 'AlexNet scratch lr0.01 30ep s0.5,fast recipe' -p epoch_scale 0.4
# weights, sweep records and the unlabelled PNGs stay out of the repository (large, and remade by a rerun)
rm -rf "$here"/*/checkpoints "$here"/*/runs "$here"/a_ensemble/unlabelled "$here"/*/.fingerprint
