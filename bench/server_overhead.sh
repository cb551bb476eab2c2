#!/usr/bin/env bash
# The same fine-tuning run directly (`nas finetune`) and as a job of `nas serve` (after a
# supernet search on the same server, as in the quickstart), for one or more `nas`
# binaries, alternating: training images/s (median of the logged steps) and the bundle's
# batch-1 TorchScript latency as its export measured it.
#
#   bash bench/server_overhead.sh CHECKPOINT ARCH STEPS NAS_BINARY [NAS_BINARY...]
# Output: one line per run, appended to runs/server_overhead/log.txt as well.
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=$(readlink -f "$1")
ARCH=$2
STEPS=$3
shift 3
OUT=runs/server_overhead
mkdir -p "$OUT"
LOG="$OUT/log.txt"
CONF=$(mktemp -d)
trap 'rm -rf "$CONF"' EXIT
printf 'training: {seed: 0, batch_size: 128, steps: %d, checkpoint_every: 100000, log_every: 10}\n' "$STEPS" \
  > "$CONF/ft.yaml"
median() { python3 -c 'import json,sys,statistics; v=[json.loads(l)["images_per_second"] for l in open(sys.argv[1])][1:]; print(round(statistics.median(v)))' "$1"; }
latency() { python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["latency"]["torchscript_ms"], 3))' "$1"; }

for nas in "$@"; do
  tag=$(basename "$(dirname "$(dirname "$(dirname "$nas")")")")
  run="$OUT/$(date +%s%N)"
  "$nas" finetune --checkpoint "$CKPT" --arch "$ARCH" --config "$CONF/ft.yaml" --out "$run/direct" \
    --verify-images 500 > /dev/null
  echo "$tag direct: $(median "$run/direct/metrics.jsonl") img/s, batch-1 latency $(latency "$run/direct/bundle/subnet.json") ms" \
    | tee -a "$LOG"
  "$nas" serve --port 0 --data-dir "$run/server" --config-dir "$CONF" --allow-dir "$(dirname "$CKPT")" \
    > "$run/server.log" 2>&1 &
  server=$!
  port=""
  for _ in $(seq 1 100); do
    port=$(sed -n 's/^nas server listening on [^ ]*:\([0-9][0-9]*\) .*/\1/p' "$run/server.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  "$nas" search --server "127.0.0.1:$port" --evaluator "supernet:$CKPT" --algorithm evolution --budget 10 \
    --population 5 --parents 2 --seed 0 > /dev/null
  "$nas" finetune --server "127.0.0.1:$port" --checkpoint "$CKPT" --arch "$ARCH" --config ft.yaml \
    --verify-images 500 > /dev/null
  kill -TERM "$server"
  wait "$server" || true
  job=$(ls -d "$run"/server/jobs/job-* | tail -1)
  echo "$tag server: $(median "$job/metrics.jsonl") img/s, batch-1 latency $(latency "$job/bundle/subnet.json") ms" \
    | tee -a "$LOG"
done
