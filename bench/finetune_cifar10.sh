#!/usr/bin/env bash
# CIFAR-10 deployment example: one subnet picked by a supernet search, trained as a
# stand-alone network for the same number of steps twice, from its inherited supernet
# weights and from scratch, then exported (TorchScript + ONNX, checked in OpenCV DNN) and
# scored on all 10,000 test images, in C++ and again in Python. CPU time (user + sys) of
# each run is recorded next to it. Resumable: rerun the same command after an
# interruption and each run continues from its last checkpoint.
#
#   NAS_SHARED_DATA=../shared/data bash bench/finetune_cifar10.sh [OUT_DIR]
# Environment: CKPT (supernet checkpoint), ARCH (architecture), STEPS (default 1500),
# THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/ft_cifar10}
CKPT=${CKPT:-runs/nb201_budget/s0/supernet/checkpoint.nasckpt}
ARCH=${ARCH:-"|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_1x1~2|"}
STEPS=${STEPS:-1500}
THREADS=${THREADS:-2}
DATA=${NAS_SHARED_DATA:-../shared/data}
NAS=bazel-bin/nas/nas
[ -x "$NAS" ] || bazel build //nas:nas
[ -f "$CKPT" ] || { echo "no supernet checkpoint at $CKPT (set CKPT; bench/nb201_budget.sh trains one)" >&2; exit 1; }
mkdir -p "$OUT"
for mode in inherited scratch; do
  dir="$OUT/$mode"
  extra=()
  [ "$mode" = scratch ] && extra+=(--from-scratch)
  [ -f "$dir/checkpoint.nasckpt" ] && extra+=(--resume)
  echo "== $mode: $STEPS steps ($(date -u +%H:%M:%S))"
  # CPU seconds of each (partial) run are appended; their sum is the run's budget.
  /usr/bin/time -f "%U %S %e" -a -o "$dir.cpu" "$NAS" finetune --checkpoint "$CKPT" --arch "$ARCH" \
    --config configs/finetune_cifar10.yaml --steps "$STEPS" --threads "$THREADS" --out "$dir" "${extra[@]}" \
    | tee "$dir.txt"
  /usr/bin/python3 nas/python/check_bundle.py "$dir/bundle" --dataset cifar10 --data "$DATA/cifar10-jpeg.tar.gz" \
    --threads "$THREADS" > "$dir.python.json"
  awk '{u += $1; s += $2; e += $3} END {printf "CPU: %.1f min user+sys, %.1f min wall\n", (u + s) / 60, e / 60}' \
    "$dir.cpu" | tee -a "$dir.txt"
done
