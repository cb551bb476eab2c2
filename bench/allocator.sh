#!/usr/bin/env bash
# The engine's allocator (jemalloc with retain and no decay, linked into every LibTorch
# binary) against glibc's malloc (`--define allocator=glibc`), side by side: a short
# supernet training and a `nas eval` of a checkpoint, alternating, REPS times each.
# Prints user/sys CPU seconds and wall seconds per run.
#
#   bash bench/allocator.sh CHECKPOINT TRAIN_CONFIG [REPS=3] [STEPS=150]
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=$1
CONFIG=$2
REPS=${3:-3}
STEPS=${4:-150}
export NAS_SHARED_DATA="${NAS_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
export OMP_WAIT_POLICY=PASSIVE
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bazel build --define allocator=glibc //nas:nas >/dev/null 2>&1
cp bazel-bin/nas/nas "$tmp/nas_glibc"
bazel build //nas:nas >/dev/null 2>&1
cp bazel-bin/nas/nas "$tmp/nas_jemalloc"
for r in $(seq "$REPS"); do
  for a in jemalloc glibc; do
    rm -rf "$tmp/train"
    /usr/bin/time -f "$a train  user %U sys %S wall %e" "$tmp/nas_$a" train --config "$CONFIG" --out "$tmp/train" \
      --steps "$STEPS" --threads 1 2>&1 >/dev/null | grep -E "^$a"
    /usr/bin/time -f "$a eval   user %U sys %S wall %e" "$tmp/nas_$a" eval --checkpoint "$CKPT" --arch largest \
      --arch smallest --split val --threads 1 2>&1 >/dev/null | grep -E "^$a"
  done
done
