#!/usr/bin/env bash
# What limits the NB201 supernet's ranking quality: one change at a time against the best
# sampler of bench/nb201_ranking.sh (flops_uniform, proxy supernet, 4,000 steps of batch
# 128, one thread), each scored on the same 200 random cells (seed 7) against NAS-Bench-201
# (read only for scoring). Long: run it in the background; output is appended to
# RUNS/log.txt. Finished steps are skipped; an interrupted training resumes.
#
#   [WORKERS=1] bash bench/nb201_levers.sh [RUNS=runs/nb201_levers] [VARIANT...]
#
# Variants (default: all):
#   eval5000      the baseline's checkpoint (BASELINE, from bench/nb201_ranking.sh), scored on
#                 all 5,000 validation images with 4 BN calibration batches instead of 500 and 2
#   steps2000     half the training budget (2,000 steps)
#   steps8000     twice the training budget (8,000 steps)
#   NAME_eval5000 the checkpoint of variant NAME (run it first) scored as eval5000
#   bn_nonaffine  BN without learnable scale/shift (as SPOS trains its supernet)
#   lr0.05        half the learning rate
#   steps8000_bn_nonaffine  both of the training changes that helped
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/nb201_levers}
shift || true
VARIANTS=${*:-eval5000 steps2000 steps8000 steps8000_eval5000 bn_nonaffine lr0.05 steps8000_bn_nonaffine steps8000_bn_nonaffine_eval5000}
BASELINE=${BASELINE:-runs/nb201_ranking/flops_uniform/checkpoint.nasckpt}
SPACE=$(readlink -f configs/nb201_proxy.yaml)
mkdir -p "$RUNS/cfg"
exec >> "${LOG:-$RUNS/log.txt}" 2>&1
bazel build //nas:nas //bench:nb201_ranking
NAS=bazel-bin/nas/nas
RANK=bazel-bin/bench/nb201_ranking
export OMP_WAIT_POLICY=PASSIVE

rank() {  # CHECKPOINT OUT EVAL_IMAGES CALIBRATION_BATCHES
  if [ ! -f "$2/ranking.json" ]; then
    /usr/bin/time -f "rank_cpu_seconds %U user %S sys %e wall" \
      $RANK --checkpoint "$1" --n 200 --seed 7 --eval-images "$3" --calibration-batches "$4" --workers "${WORKERS:-1}" --out "$2"
  fi
}

for variant in $VARIANTS; do
  out="$RUNS/$variant"
  mkdir -p "$out"
  echo "== $(date -u +%FT%TZ) $variant"
  steps=4000
  affine=true  # the baseline's BN, whatever configs/train_cifar10_nb201.yaml says
  edits=()
  case "$variant" in
    eval5000) rank "$BASELINE" "$out" 5000 4; continue ;;
    *_eval5000) rank "$RUNS/${variant%_eval5000}/checkpoint.nasckpt" "$out" 5000 4; continue ;;
    steps2000) steps=2000 ;;
    steps8000) steps=8000 ;;
    bn_nonaffine) affine=false ;;
    steps8000_bn_nonaffine) steps=8000; affine=false ;;
    lr0.05) edits=(-e 's|lr: 0.1,|lr: 0.05,|') ;;
    *) echo "unknown variant $variant"; exit 2 ;;
  esac
  cfg="$RUNS/cfg/$variant.yaml"
  sed -e "s|^space: .*|space: $SPACE|" -e "s|^sampler: .*|sampler: {kind: flops_uniform}|" \
      -e "s|^description: .*|description: NB201 ranking levers, $variant|" -e '/^supernet:/d' \
      -e "\$a supernet: {bn_affine: $affine}" "${edits[@]}" configs/train_cifar10_nb201.yaml > "$cfg"
  if [ ! -f "$out/summary.json" ] || ! grep -q '"finished": true' "$out/summary.json"; then
    resume=""
    [ -f "$out/checkpoint.nasckpt" ] && resume="--resume"
    /usr/bin/time -f "train_cpu_seconds %U user %S sys %e wall" \
      $NAS train --config "$cfg" --out "$out" --steps "$steps" --threads 1 $resume
  fi
  rank "$out/checkpoint.nasckpt" "$out" 500 2
done
echo "== $(date -u +%FT%TZ) done"
