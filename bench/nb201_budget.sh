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
#   [FEWSHOT_STEPS=0] [FEWSHOT_GENE=0] [FEWSHOT_LR=] [SHRINK_AT=0] [SHRINK_DROP=2] \
#   [SHRINK_SCORE=mean] [SHRINK_ARCHS=100] [SHRINK_CONFIG=] [CONFIG_EXTRA=] [LR=] [SEARCH_ARGS=] [SPACE=] \
#   [DEEP_CELLS=2,3] [ALGORITHM=predictor] [POPULATION=20] [PARENTS=5] \
#   bash bench/nb201_budget.sh RUNS
#
# EVALUATOR is a combo: spec in which CKPT stands for the run's checkpoint; STEPS=0 trains
# nothing (training-free evaluators only: no supernet: items). FEWSHOT_STEPS > 0 splits the
# trained supernet on gene FEWSHOT_GENE into a few-shot supernet (`nas fewshot`, that many
# steps per sub-supernet, learning rate FEWSHOT_LR or the config's); CKPT then stands for
# it and its CPU time counts as training.
# SHRINK_AT > 0 shrinks the space during training (search-space shrinking): train
# SHRINK_AT steps, score SHRINK_ARCHS random cells with the supernet's own validation loss,
# drop the SHRINK_DROP operations whose cells rank worst (bench/shrink_ops.py; SHRINK_SCORE
# mean: the mean rank of the cells using the operation, q90: their 90th percentile),
# then train STEPS - SHRINK_AT more steps from those weights with the sampler excluding
# them (sampler.exclude, nas train --init-from); the searches then run over the shrunk
# space (--space). All of it counts as training CPU time. SHRINK_CONFIG (e.g. "{at: 0.5,
# drop: 1, score: q90}") instead adds a `shrink:` section to the training config: `nas
# train` shrinks the space itself and the searches keep to what it trained at the end.
# CONFIG_EXTRA: lines appended to every seed's training config, e.g. "distillation:
# {teacher: ensemble}" (self-distillation, docs/training.md).
# SPACE: the proxy search space the supernet trains on (default configs/nb201_proxy.yaml:
# one cell per stage, 16 stem channels; configs/nb201_proxy_deep.yaml: three cells per
# stage, 8 stem channels, about the same cost per step). Bounds are mapped to it exactly.
# LR: the optimizer's learning rate instead of the config's 0.1.
# DEEP_CELLS: nb201_signals also scores the supernet with its cells repeated to K per stage
# for each K of this comma-separated list (signals supernet@K and supernet_loss@K, which
# COMBOS may use); 0: not.
# SEARCH_ARGS: more flags for every search (default "--rerank-top 5 --rerank-images 2000").
# ALGORITHM: the search algorithm (predictor, the engine's default with a combination); POPULATION, PARENTS: evolution's population and top-k parents (20, 5).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/nb201_budget}
SEEDS=${SEEDS:-0 1 2}
STEPS=${STEPS:-12000}
SAMPLER=${SAMPLER:-flops_uniform}
REFERENCE=${REFERENCE:-100}
EVALUATOR=${EVALUATOR:-combo:supernet_loss:CKPT*2+supernet@3:CKPT*1.5+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5+ref=$REFERENCE}
BUDGET=${BUDGET:-100}
ALGORITHM=${ALGORITHM:-predictor}
POPULATION=${POPULATION:-20}
PARENTS=${PARENTS:-5}
EVAL_IMAGES=${EVAL_IMAGES:-500}
CALIBRATION_BATCHES=${CALIBRATION_BATCHES:-2}
SIGNALS=${SIGNALS:-1}
FEWSHOT_STEPS=${FEWSHOT_STEPS:-0}
FEWSHOT_GENE=${FEWSHOT_GENE:-0}
FEWSHOT_LR=${FEWSHOT_LR:-}
SHRINK_AT=${SHRINK_AT:-0}
SHRINK_DROP=${SHRINK_DROP:-2}
SHRINK_ARCHS=${SHRINK_ARCHS:-100}
SHRINK_SCORE=${SHRINK_SCORE:-mean}
SHRINK_CONFIG=${SHRINK_CONFIG:-}
CONFIG_EXTRA=${CONFIG_EXTRA:-}
LR=${LR:-}
SPACE=${SPACE:-configs/nb201_proxy.yaml}
DEEP_CELLS=${DEEP_CELLS:-2,3}  # nb201_signals: also the supernet@K / supernet_loss@K signals (cells repeated to K per stage)
# The engine re-ranks a supernet: search's 5 best on 2,000 images by default; the combo:
# spelled out here does not, so the flags say it (SEARCH_ARGS=" " for none).
read -r -a SEARCH_ARGS <<< "${SEARCH_ARGS:---rerank-top 5 --rerank-images 2000}"
COMBOS=${COMBOS:-supernet_loss*2+supernet@3*1.5+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*2+supernet@3+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*2+supernet_loss@3+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*2+supernet_loss@2+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*2+supernet_loss@2*1.5+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*1.5+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*2+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*2+zc:meco+zc:jacob_cov+zc:synflow+flops*0.25;supernet_loss*3+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss*2+supernet+zc:meco+zc:jacob_cov+zc:synflow+flops*0.5;supernet_loss+flops;zc:meco+zc:jacob_cov+zc:synflow+flops*0.5}
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
  sed -e "s|^space: .*|space: $(readlink -f "$SPACE")|" -e "s|^sampler: .*|sampler: {kind: $SAMPLER}|" \
      -e "s|^  seed: .*|  seed: $seed|" ${LR:+-e "s|lr: 0.1,|lr: $LR,|"} configs/train_cifar10_nb201.yaml > "$cfg"
  [ -n "$SHRINK_CONFIG" ] && echo "shrink: $SHRINK_CONFIG" >> "$cfg"
  [ -n "$CONFIG_EXTRA" ] && echo "$CONFIG_EXTRA" >> "$cfg"
  space_arg=()
  if [ "$STEPS" -gt 0 ] && [ "$SHRINK_AT" -gt 0 ]; then
    phase1="$run/phase1/checkpoint.nasckpt"
    if [ ! -f "$run/phase1/summary.json" ] || ! grep -q '"finished": true' "$run/phase1/summary.json"; then
      resume=""
      [ -f "$phase1" ] && resume="--resume"
      "${TIME[@]}" -a -o "$run/train.time" $NAS train --config "$cfg" --out "$run/phase1" --steps "$SHRINK_AT" \
        --threads 1 $resume
    fi
    if [ ! -f "$run/shrink.txt" ]; then
      rm -rf "$run/shrink_score"
      "${TIME[@]}" -a -o "$run/train.time" $NAS search --evaluator "supernet:$phase1" --combine "supernet_loss+ref=2" \
        --algorithm random --budget "$SHRINK_ARCHS" --seed "$seed" --eval-images "$EVAL_IMAGES" \
        --calibration-batches "$CALIBRATION_BATCHES" --threads 1 --archive none --out "$run/shrink_score" >/dev/null
      /usr/bin/python3 bench/shrink_ops.py "$run/shrink_score/result.json" "$SHRINK_DROP" "$SHRINK_SCORE" > "$run/shrink.tmp"
      mv "$run/shrink.tmp" "$run/shrink.txt"
    fi
    dropped=$(tail -1 "$run/shrink.txt")
    echo "seed $seed: shrinking drops $dropped"
    sed -e "s|^sampler: .*|sampler: {kind: $SAMPLER, exclude: [$dropped]}|" "$cfg" > "$RUNS/cfg/s$seed.shrunk.yaml"
    /usr/bin/python3 - "$dropped" "$SPACE" "$run/shrunk_space.yaml" <<'PY'
import re, sys
dropped = [d.strip() for d in sys.argv[1].split(",")]
text = open(sys.argv[2]).read()
ops = re.search(r"^ops: \[(.*)\]$", text, re.M)
kept = [o.strip() for o in ops.group(1).split(",") if o.strip() not in dropped]
text = text.replace(ops.group(0), "ops: [" + ", ".join(kept) + "]")
text = re.sub(r"^name: (.*)$", r"name: \1_shrunk", text, count=1, flags=re.M)
open(sys.argv[3], "w").write(text)
PY
    space_arg=(--space "$run/shrunk_space.yaml")
    if [ ! -f "$run/supernet/summary.json" ] || ! grep -q '"finished": true' "$run/supernet/summary.json"; then
      init=(--init-from "$phase1")
      [ -f "$ckpt" ] && init=(--resume)
      "${TIME[@]}" -a -o "$run/train.time" $NAS train --config "$RUNS/cfg/s$seed.shrunk.yaml" --out "$run/supernet" \
        --steps $((STEPS - SHRINK_AT)) --threads 1 "${init[@]}"
    fi
  elif [ "$STEPS" -gt 0 ]; then
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
      proxy_bound=$(bazel-bin/bench/nb201_pick --proxy "$SPACE" --full-bound "$bound" --print-proxy-bound)
      rm -f "$out.time"
      "${TIME[@]}" -a -o "$out.time" $NAS search --evaluator "$evaluator" "${space_arg[@]}" --constraint "flops<=$proxy_bound" \
        --algorithm "$ALGORITHM" --budget "$BUDGET" --population "$POPULATION" --parents "$PARENTS" --seed "$seed" --zc-seed "$seed" \
        --eval-images "$EVAL_IMAGES" --calibration-batches "$CALIBRATION_BATCHES" --threads 1 \
        --archive "$run/archive.sqlite" "${SEARCH_ARGS[@]}" --out "$out"
    fi
    # Scoring only (reads the table).
    bazel-bin/bench/nb201_pick --full-bound "$bound" --result "$out/result.json" > "$out/pick.txt"
    echo "pick seed $seed $(tail -1 "$out/pick.txt") train $(cpu_of "$run/train.time" "$run/fewshot.time") + search $(cpu_of "$out.time") CPU-min"
  done
  if [ "$SIGNALS" = 1 ] && [ "$STEPS" -gt 0 ] && [ ! -f "$run/signals/signals.json" ]; then
    "${TIME[@]}" bazel-bin/bench/nb201_signals --checkpoint "$ckpt" --out "$run/signals" --workers 1 \
      --eval-images "$EVAL_IMAGES" --calibration-batches "$CALIBRATION_BATCHES" --zc-seed "$seed" --reference "$REFERENCE" \
      --combos "$COMBOS" --deep-cells "$DEEP_CELLS"
  fi
done
echo "== $(date -u +%FT%TZ) done"
