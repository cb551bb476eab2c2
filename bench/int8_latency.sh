#!/usr/bin/env bash
# The integer latency table of a bit-width space (nas profile) against what deploys:
#   1. nas profile on SPACE (statistic median, HOLDOUT random subnets measured end to end in
#      the same session as the profiling networks: the table's held-out MAPE);
#   2. a checkpoint to export from (CKPT, or TRAIN_STEPS steps of TRAIN_CONFIG: the weights
#      set the scales, not the speed, of the integer kernels);
#   3. the largest architecture and RANDOM_ARCHS seeded random ones exported as TorchScript
#      bundles (integer kernels where a layer has at most 8 bits);
#   4. each one's batch-1 latency predicted by the table, measured by `nas latency
#      --measure` (C++), by the export itself (the saved bundle reloaded in C++) and in
#      Python (bench/bundle_latency.py, onednn), all at THREADS threads.
# Resumable: finished steps are kept. Output: OUT/summary.md.
#
#   NAS_SHARED_DATA=../shared/data bash bench/int8_latency.sh [OUT_DIR]
# Environment: SPACE, TRAIN_CONFIG, CKPT, TRAIN_STEPS (default 20), HOLDOUT (30),
# RANDOM_ARCHS (4), THREADS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/int8_latency}
SPACE=${SPACE:-configs/mbv2_macro_mixed.yaml}
TRAIN_CONFIG=${TRAIN_CONFIG:-configs/train_cifar10_mbv2_mixed.yaml}
TRAIN_STEPS=${TRAIN_STEPS:-20}
HOLDOUT=${HOLDOUT:-30}
RANDOM_ARCHS=${RANDOM_ARCHS:-4}
THREADS=${THREADS:-1}
NAS=bazel-bin/nas/nas
bazel build //nas:nas
mkdir -p "$OUT"
if [ ! -f "$OUT/lut.json" ]; then
  /usr/bin/time -f "profile cpu_seconds %U user %S sys %e wall" -o "$OUT/profile.time" \
    $NAS profile --space "$SPACE" --out "$OUT/lut.json" --statistic median --holdout "$HOLDOUT" --calibrate 0 \
    --threads "$THREADS" > "$OUT/profile.txt"
fi
cat "$OUT/profile.txt"
CKPT=${CKPT:-$OUT/train/checkpoint.nasckpt}
if [ ! -f "$CKPT" ]; then
  $NAS train --config "$TRAIN_CONFIG" --out "$OUT/train" --steps "$TRAIN_STEPS" --threads 2 > "$OUT/train.txt"
fi
$NAS latency --table "$OUT/lut.json" --arch largest --random "$RANDOM_ARCHS" --seed 11 --json > "$OUT/archs.json"
mapfile -t ARCHS < <(/usr/bin/python3 -c "import json,sys; [print(a['arch']) for a in json.load(open(sys.argv[1]))]" "$OUT/archs.json")
dirs=()
for i in "${!ARCHS[@]}"; do
  d="$OUT/bundle_$i"
  if [ ! -f "$d/subnet.json" ]; then
    $NAS export --checkpoint "$CKPT" --arch "${ARCHS[$i]}" --out "$d" --format torchscript --verify-images 64 \
      --threads "$THREADS" > "$OUT/export_$i.txt"
  fi
  dirs+=("$d")
done
measure_args=()
for a in "${ARCHS[@]}"; do measure_args+=(--arch "$a"); done
$NAS latency --table "$OUT/lut.json" "${measure_args[@]}" --measure --runs 50 --json > "$OUT/measured.json"
/usr/bin/python3 bench/bundle_latency.py --threads "$THREADS" --rounds 5 --runs 20 --json "$OUT/python.json" "${dirs[@]}" \
  > "$OUT/python.md"
/usr/bin/python3 - "$OUT" "${#ARCHS[@]}" <<'PY' | tee "$OUT/summary.md"
import json, os, sys
out, n = sys.argv[1], int(sys.argv[2])
measured = json.load(open(os.path.join(out, "measured.json")))
python = json.load(open(os.path.join(out, "python.json")))
lut = json.load(open(os.path.join(out, "lut.json")))
v = lut.get("validation", {})
print(f"table: {lut['fit']['networks']} profiling networks, engine {lut['fit']['quantized_engine']}, "
      f"held-out {v.get('subnets')} subnets MAPE {v['table_sum']['mape_percent']:.2f} %")
print("| arch | integer convs | predicted ms | C++ measured ms | C++ bundle ms | Python bundle ms | Python / predicted |")
print("|---|---|---|---|---|---|---|")
for i in range(n):
    d = os.path.join(out, f"bundle_{i}")
    meta = json.load(open(os.path.join(d, "subnet.json")))
    q = meta.get("quantization") or {}
    m = measured[i]
    py = [r for r in python["rows"] if r["bundle"] == f"bundle_{i}" and r["engine"] in ("onednn", "float32")][0]
    pred = m["predicted_ms"]
    print(f"| `{m['arch']}` | {q.get('integer_convolutions', 0)} | {pred:.3f} | {m['measured_median_ms']:.3f} | "
          f"{meta['latency']['torchscript_ms']:.3f} | {py['batch1_median_ms']:.3f} | {py['batch1_median_ms'] / pred:.3f} |")
PY
