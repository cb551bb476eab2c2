#!/usr/bin/env bash
# `nas train` images/s of this checkout against another build of the engine (NAS_BEFORE),
# on the spaces other than the 224x224 one (bench/spos224.sh): MobileNetV2 macro and the
# NB201 proxy on CIFAR-10 by default. The two binaries alternate REPS times per config,
# same steps, threads and data; reports the medians (over runs) of each run's median
# per-step images/s (summary.json) and the ratio.
#
# Resumable: results are appended to OUT/results.jsonl, finished entries skipped.
# Usage: NAS_BEFORE=path/to/old/nas bash bench/train_before_after.sh [OUT=runs/before_after] [REPS=3]
#   CONFIGS="configs/train_cifar10_mbv2.yaml configs/train_cifar10_nb201_proxy.yaml" STEPS=40 THREADS=2
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/before_after}"
REPS="${2:-3}"
CONFIGS="${CONFIGS:-configs/train_cifar10_mbv2.yaml configs/train_cifar10_nb201_proxy.yaml}"
STEPS="${STEPS:-40}"
THREADS="${THREADS:-2}"
: "${NAS_BEFORE:?set NAS_BEFORE to the nas binary to compare against}"
mkdir -p "$OUT/bin"
OUT="$(cd "$OUT" && pwd)"
RESULTS="$OUT/results.jsonl"
touch "$RESULTS"
exec > >(tee -a "$OUT/log.txt") 2>&1
bash third_party/setup.sh
bazel build //nas:nas >/dev/null 2>&1
cp -f bazel-bin/nas/nas "$OUT/bin/nas"
cp -f "$NAS_BEFORE" "$OUT/bin/nas_before"
export NAS_SHARED_DATA="${NAS_SHARED_DATA:-$(cd .. && pwd)/shared/data}"

for rep in $(seq 1 "$REPS"); do
  for config in $CONFIGS; do
    for impl in nas nas_before; do
      key="\"rep\": $rep, \"config\": \"$config\", \"impl\": \"$impl\""
      grep -qF "$key" "$RESULTS" && continue
      echo "$(date +%T) rep $rep $config $impl"
      rm -rf "$OUT/run"
      "$OUT/bin/$impl" train --config "$config" --out "$OUT/run" --threads "$THREADS" \
        --steps "$STEPS" --json > "$OUT/summary.json" 2>/dev/null
      ips=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median_images_per_second"])' "$OUT/summary.json")
      echo "{$key, \"images_per_s\": $ips}" >> "$RESULTS"
    done
  done
done

/usr/bin/python3 - "$RESULTS" "$STEPS" "$THREADS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{sys.argv[2]} steps, {sys.argv[3]} threads, median per-step images/s of each run")
print("| config | before img/s | after img/s | after/before |")
print("|---|---|---|---|")
for config in dict.fromkeys(r["config"] for r in rows):
    pick = lambda impl: [r["images_per_s"] for r in rows if r["config"] == config and r["impl"] == impl]
    a, b = pick("nas"), pick("nas_before")
    if a and b:
        print(f"| `{config}` | {statistics.median(b):.1f} ({', '.join(f'{v:.1f}' for v in b)}) | "
              f"{statistics.median(a):.1f} ({', '.join(f'{v:.1f}' for v in a)}) | {statistics.median(a) / statistics.median(b):.2f}x |")
PY
