#!/usr/bin/env bash
# Ranking quality per CPU-minute on NAS-Bench-201 (CIFAR-10), end to end: from an untrained
# network to the final pick. For each seed: train the proxy supernet (one thread), then
# search under three FLOPs bounds of the full NB201 network (50M, 75M, 99.87M; the proxy's
# equivalent bounds computed exactly) with the evaluator EVALUATOR, and score the picks
# (bench/nb201_pick); then score every signal and combination on two disjoint sets of 200
# cells (seeds 7 and 8, bench/nb201_signals). The NAS-Bench-201 table is read only by the
# scoring steps, after the searches. CPU = user+sys of each process (/usr/bin/time).
# Long: run it in the background; output is appended to RUNS/log.txt, finished steps are
# skipped and an interrupted training resumes, so rerunning the command continues.
#
#   [SEEDS="0 1 2"] [STEPS=12000] [SAMPLER=flops_uniform] [EVALUATOR=...] [BUDGET=100] \
#   [EVAL_IMAGES=500] [CALIBRATION_BATCHES=2] [SIGNALS=1] [REFERENCE=100] \
#   [FEWSHOT_STEPS=0] [FEWSHOT_GENE=0] [FEWSHOT_LR=] bash bench/nb201_budget.sh RUNS
#
# EVALUATOR is a combo: spec in which CKPT stands for the run's checkpoint; STEPS=0 trains
# nothing (training-free evaluators only: no supernet: items). FEWSHOT_STEPS > 0 splits the
# trained supernet on gene FEWSHOT_GENE into a few-shot supernet (`nas fewshot`, that many
# steps per sub-supernet, learning rate FEWSHOT_LR or the config's); CKPT then stands for
# it and its CPU time counts as training.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/nb201_budget}
SEEDS=${SEEDS:-0 1 2}
STEPS=${STEPS:-12000}
SAMPLER=${SAMPLER:-flops_uniform}
REFERENCE=${REFERENCE:-100}
EVALUATOR=${EVALUATOR:-combo:supernet_loss:CKPT*2+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5+ref=$REFERENCE}
BUDGET=${BUDGET:-100}
EVAL_IMAGES=${EVAL_IMAGES:-500}
CALIBRATION_BATCHES=${CALIBRATION_BATCHES:-2}
SIGNALS=${SIGNALS:-1}
FEWSHOT_STEPS=${FEWSHOT_STEPS:-0}
FEWSHOT_GENE=${FEWSHOT_GENE:-0}
FEWSHOT_LR=${FEWSHOT_LR:-}
COMBOS=${COMBOS:-supernet_loss+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*1.5+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*2+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*2+zc:meco+zc:jacob_cov+zc:synflow+flops*0.25;supernet_loss*3+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*2+supernet+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss+flops;zc:meco+zc:jacob_cov+zc:synflow+flops*0.5}
BOUNDS="50M 75M 99.87M"
export NAS_SHARED_DATA="${NAS_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
export OMP_WAIT_POLICY=PASSIVE
mkdir -p "$RUNS/cfg"
exec >> "${LOG:-$RUNS/log.txt}" 2>&1
bazel build //nas:nas //bench:nb201_signals //bench:nb201_pick
NAS=bazel-bin/nas/nas
TIME=(/usr/bin/time -f "cpu_seconds %U user %S sys %e wall")
cpu_of() { grep -h '^cpu_seconds' "$@" 2>/dev/null | awk '{s += $2 + $4} END {printf "%.1f", s / 60}'; }

for seed in $SEEDS; do
  run="$RUNS/s$seed"
  mkdir -p "$run"
  echo "== $(date -u +%FT%TZ) seed $seed: $STEPS steps of $SAMPLER, evaluator $EVALUATOR"
  ckpt="$run/supernet/checkpoint.nasckpt"
  cfg="$RUNS/cfg/s$seed.yaml"
  sed -e "s|^space: .*|space: $(readlink -f configs/nb201_proxy.yaml)|" -e "s|^sampler: .*|sampler: {kind: $SAMPLER}|" \
      -e "s|^  seed: .*|  seed: $seed|" configs/train_cifar10_nb201.yaml > "$cfg"
  if [ "$STEPS" -gt 0 ]; then
    if [ ! -f "$run/supernet/summary.json" ] || ! grep -q '"finished": true' "$run/supernet/summary.json"; then
      resume=""
      [ -f "$ckpt" ] && resume="--resume"
      "${TIME[@]}" -a -o "$run/train.time" $NAS train --config "$cfg" --out "$run/supernet" --steps "$STEPS" --threads 1 $resume
    fi
  fi
  if [ "$STEPS" -gt 0 ] && [ "$FEWSHOT_STEPS" -gt 0 ]; then
    if [ ! -f "$run/fewshot/fewshot.json" ]; then
      "${TIME[@]}" -a -o "$run/fewshot.time" $NAS fewshot --checkpoint "$ckpt" --out "$run/fewshot" \
        --steps "$FEWSHOT_STEPS" --gene "$FEWSHOT_GENE" ${FEWSHOT_LR:+--lr "$FEWSHOT_LR"} --threads 1
    fi
    ckpt="$run/fewshot"
  fi
  evaluator=${EVALUATOR//CKPT/$ckpt}
  # Training-free items read their data from the run's config.
  evaluator=$(echo "$evaluator" | sed -E "s#zc:([a-z_]+)(\+|\$)#zc:\1:$cfg\2#g")
  [ "$STEPS" -gt 0 ] && evaluator=${evaluator//:$cfg/}
  for bound in $BOUNDS; do
    out="$run/search_$bound"
    if [ ! -f "$out/result.json" ]; then
      proxy_bound=$(bazel-bin/bench/nb201_pick --full-bound "$bound" --print-proxy-bound)
      rm -f "$out.time"
      "${TIME[@]}" -a -o "$out.time" $NAS search --evaluator "$evaluator" --constraint "flops<=$proxy_bound" \
        --algorithm evolution --budget "$BUDGET" --population 20 --parents 5 --seed "$seed" --zc-seed "$seed" \
        --eval-images "$EVAL_IMAGES" --calibration-batches "$CALIBRATION_BATCHES" --threads 1 \
        --archive "$run/archive.sqlite" --out "$out"
    fi
    # Scoring only (reads the table).
    bazel-bin/bench/nb201_pick --full-bound "$bound" --result "$out/result.json" > "$out/pick.txt"
    echo "pick seed $seed $(tail -1 "$out/pick.txt") train $(cpu_of "$run/train.time" "$run/fewshot.time") + search $(cpu_of "$out.time") CPU-min"
  done
  if [ "$SIGNALS" = 1 ] && [ "$STEPS" -gt 0 ] && [ ! -f "$run/signals/signals.json" ]; then
    "${TIME[@]}" bazel-bin/bench/nb201_signals --checkpoint "$ckpt" --out "$run/signals" --workers 1 \
      --eval-images "$EVAL_IMAGES" --calibration-batches "$CALIBRATION_BATCHES" --zc-seed "$seed" --reference "$REFERENCE" \
      --combos "$COMBOS"
  fi
done
echo "== $(date -u +%FT%TZ) done"
