#!/usr/bin/env bash
# Ranking quality of NB201 supernets per sampler (issue: shifted vs uniform sampling).
# For each sampler: train the supernet on CIFAR-10 with the same CPU budget (one thread,
# a fixed number of path evaluations), then evaluate 200 random cells (seed 7) with
# inherited weights and score them against NAS-Bench-201 (read only for scoring).
# Long: run it in the background; output is appended to RUNS/log.txt. Finished steps are
# skipped, and an interrupted training resumes from its checkpoint.
#
#   [EVAL_IMAGES=5000] [CALIBRATION_BATCHES=4] [BN_AFFINE=true|false] \
#   [SAMPLERS="uniform flops_uniform shifted sandwich"] \
#     bash bench/nb201_ranking.sh [RUNS=runs/nb201_ranking] [SPACE=configs/nb201_proxy.yaml] [STEPS=8000]
#
# Defaults are what measured best (docs/benchmarks.md, bench/nb201_levers.sh): 8,000 steps
# (about 40 CPU-minutes per sampler on the proxy) and every one of the 5,000 validation
# images (about 37 CPU-minutes to score 200 cells; EVAL_IMAGES=500 takes 6).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/nb201_ranking}
SPACE=${2:-configs/nb201_proxy.yaml}
STEPS=${3:-8000}
EVAL_IMAGES=${EVAL_IMAGES:-5000}
CALIBRATION_BATCHES=${CALIBRATION_BATCHES:-4}
BN_AFFINE=${BN_AFFINE:-}  # empty: configs/train_cifar10_nb201.yaml's choice
SAMPLERS=${SAMPLERS:-uniform flops_uniform shifted sandwich}
mkdir -p "$RUNS/cfg"
exec >> "${LOG:-$RUNS/log.txt}" 2>&1
bazel build //nas:nas //bench:nb201_ranking
NAS=bazel-bin/nas/nas
RANK=bazel-bin/bench/nb201_ranking
export OMP_WAIT_POLICY=PASSIVE
for sampler in $SAMPLERS; do
  steps=$STEPS
  # sandwich trains 4 paths per step (largest, smallest, 2 random): same budget in paths.
  [ "$sampler" = sandwich ] && steps=$((STEPS / 4))
  cfg="$RUNS/cfg/$sampler.yaml"
  bn=()
  [ -n "$BN_AFFINE" ] && bn=(-e '/^supernet:/d' -e "\$a supernet: {bn_affine: $BN_AFFINE}")
  sed -e "s|^space: .*|space: $(readlink -f "$SPACE")|" -e "s|^sampler: .*|sampler: {kind: $sampler}|" \
      -e "s|^description: .*|description: NB201 ranking benchmark, $sampler sampling|" "${bn[@]}" \
      configs/train_cifar10_nb201.yaml > "$cfg"
  out="$RUNS/$sampler"
  echo "== $(date -u +%FT%TZ) $sampler: $steps steps"
  if [ ! -f "$out/summary.json" ] || ! grep -q '"finished": true' "$out/summary.json"; then
    resume=""
    [ -f "$out/checkpoint.nasckpt" ] && resume="--resume"
    /usr/bin/time -f "train_cpu_seconds %U user %S sys %e wall" \
      $NAS train --config "$cfg" --out "$out" --steps "$steps" --threads 1 $resume
  fi
  if [ ! -f "$out/ranking.json" ]; then
    $RANK --checkpoint "$out/checkpoint.nasckpt" --n 200 --seed 7 --eval-images "$EVAL_IMAGES" \
      --calibration-batches "$CALIBRATION_BATCHES" --workers 1 --out "$out"
  fi
done
echo "== $(date -u +%FT%TZ) done"
