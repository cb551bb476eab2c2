#!/usr/bin/env bash
# Joint architecture and bit-width search against post-training int8 quantization, on one
# quantization-aware CIFAR-10 supernet (configs/train_cifar10_mbv2_mixed.yaml):
#   1. the float pick: the space restricted to 32-bit layers, searched under FLOPS;
#   2. that pick quantized after training (nas export --int8: every searched layer int8,
#      ranges calibrated), and exported in float32;
#   3. the joint pick: the full mixed-precision space under the same FLOPs bound and at
#      most the model size of (2);
#   4. the joint pick restricted to 8-bit layers (integer kernels everywhere);
#   5. with FT_STEPS > 0: the float pick fine-tuned in float for FT_STEPS steps
#      (configs/finetune_cifar10.yaml) and then quantized after training (--int8): the
#      post-training int8 of a float-trained network; and the joint pick fine-tuned
#      quantization-aware (its fixed path fake-quantized) for the same steps;
#   6. with LUT (an integer latency table of the space, bench/int8_latency.sh): the joint
#      pick at equal latency, i.e. under the same FLOPs bound and at most the table's
#      latency of the int8 PTQ pick (its searched layers at w8:a8); both picks then timed
#      side by side by `nas latency --measure` (OUT/latency_pair.json); with RERANK > 0
#      also that search with its RERANK best re-evaluated on the whole validation split
#      (--rerank-top), and the same started from the PTQ architecture (--initial-arch).
# Every pick is exported (integer kernels where its layers are 8 bits or less) and scored
# on all 10,000 test images; the bundles report size, BitOPs and batch-1 latency. CPU time
# (user + sys) of each step is appended to OUT/cpu.txt. Resumable: finished steps are kept.
#
#   NAS_SHARED_DATA=../shared/data bash bench/mixed_precision.sh [OUT_DIR]
# Environment: CKPT (default: train it into OUT/train), FLOPS (default 50M), BUDGET
# (architectures per search, default 40), EVAL_IMAGES (validation images per
# architecture in the searches, default 2000), THREADS (default 2), FT_STEPS (fine-tuning
# steps of batch 128 per pick, default 0: none), LUT (default none), RERANK (default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/mixed_precision}
FLOPS=${FLOPS:-50M}
BUDGET=${BUDGET:-40}
EVAL_IMAGES=${EVAL_IMAGES:-2000}
THREADS=${THREADS:-2}
FT_STEPS=${FT_STEPS:-0}
LUT=${LUT:-}
RERANK=${RERANK:-0}
NAS=bazel-bin/nas/nas
[ -x "$NAS" ] || bazel build //nas:nas
mkdir -p "$OUT"
timed() { local name=$1; shift; /usr/bin/time -f "$name %U %S %e" -a -o "$OUT/cpu.txt" "$@"; }
CKPT=${CKPT:-$OUT/train/checkpoint.nasckpt}
if [ ! -f "$OUT/train/summary.json" ] && [ "$CKPT" = "$OUT/train/checkpoint.nasckpt" ]; then
  resume=(); [ -f "$CKPT" ] && resume=(--resume)
  timed train "$NAS" train --config configs/train_cifar10_mbv2_mixed.yaml --out "$OUT/train" --threads "$THREADS" \
    "${resume[@]}"
fi
sed 's/^  weight_bits: .*/  weight_bits: [32]/; s/^  activation_bits: .*/  activation_bits: [32]/; s/^name: .*/name: mbv2_macro_mixed_float/' \
  configs/mbv2_macro_mixed.yaml > "$OUT/float_space.yaml"
sed 's/^  weight_bits: .*/  weight_bits: [8]/; s/^  activation_bits: .*/  activation_bits: [8]/; s/^name: .*/name: mbv2_macro_mixed_int8/' \
  configs/mbv2_macro_mixed.yaml > "$OUT/int8_space.yaml"
grep -q "weight_bits: \[32\]" "$OUT/float_space.yaml" || { echo "float_space.yaml: no precision list" >&2; exit 1; }

search() {  # NAME SPACE CONSTRAINT... [-- MORE_SEARCH_FLAGS...]
  local name=$1 space=$2; shift 2
  local cons=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do cons+=(--constraint "$1"); shift; done
  [ $# -gt 0 ] && shift
  cons+=("$@")
  if [ ! -f "$OUT/$name/result.json" ]; then
    space_arg=(); [ -n "$space" ] && space_arg=(--space "$space")
    [ -n "$LUT" ] && space_arg+=(--latency "lut:$LUT")
    timed "search_$name" "$NAS" search --evaluator "supernet:$CKPT" "${space_arg[@]}" "${cons[@]}" --combine none \
      --eval-images "$EVAL_IMAGES" --algorithm evolution --budget "$BUDGET" --population 20 --parents 5 --archive none --threads "$THREADS" \
      --out "$OUT/$name" > "$OUT/$name.txt"
  fi
  /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['best']['arch'])" "$OUT/$name/result.json"
}
export_bundle() {  # NAME ARCH [--int8]
  local name=$1 arch=$2; shift 2
  if [ ! -f "$OUT/$name/subnet.json" ]; then
    timed "export_$name" "$NAS" export --checkpoint "$CKPT" --arch "$arch" --out "$OUT/$name" --verify-images 10000 \
      --format torchscript --threads "$THREADS" "$@" > "$OUT/$name.txt"
  fi
}

FLOAT_PICK=$(search float_search "$OUT/float_space.yaml" "flops<=$FLOPS")
echo "float pick: $FLOAT_PICK"
export_bundle float_fp32 "$FLOAT_PICK"
export_bundle float_ptq_int8 "$FLOAT_PICK" --int8
SIZE=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['size_bytes'])" "$OUT/float_ptq_int8/subnet.json")
echo "size of the int8 float pick: $SIZE B"
JOINT_PICK=$(search joint_search "" "flops<=$FLOPS" "size<=${SIZE}B")
echo "joint pick: $JOINT_PICK"
export_bundle joint "$JOINT_PICK"
INT8_PICK=$(search int8_search "$OUT/int8_space.yaml" "flops<=$FLOPS" "size<=${SIZE}B")
echo "8-bit pick: $INT8_PICK"
export_bundle int8_only "$INT8_PICK"

names="float_fp32 float_ptq_int8 joint int8_only"
if [ "$FT_STEPS" -gt 0 ]; then
  finetune() {  # NAME ARCH
    if [ ! -f "$OUT/$1/bundle/subnet.json" ]; then
      resume=(); [ -f "$OUT/$1/checkpoint.nasckpt" ] && resume=(--resume)
      timed "finetune_$1" "$NAS" finetune --checkpoint "$CKPT" --arch "$2" --config configs/finetune_cifar10.yaml \
        --steps "$FT_STEPS" --out "$OUT/$1" --threads "$THREADS" "${resume[@]}" > "$OUT/$1.txt"
    fi
  }
  finetune ft_float "$FLOAT_PICK"
  if [ ! -f "$OUT/ft_float_ptq_int8/subnet.json" ]; then
    timed export_ft_float_ptq_int8 "$NAS" export --checkpoint "$OUT/ft_float/checkpoint.nasckpt" --arch "$FLOAT_PICK" \
      --int8 --out "$OUT/ft_float_ptq_int8" --verify-images 10000 --format torchscript --threads "$THREADS" \
      > "$OUT/ft_float_ptq_int8.txt"
  fi
  finetune ft_joint "$JOINT_PICK"
  names="$names ft_float/bundle ft_float_ptq_int8 ft_joint/bundle"
fi

if [ -n "$LUT" ]; then
  # The PTQ pick as the table sees it: every searched layer at w8:a8 (identity layers too:
  # the table merges their bit-widths, they run no convolution).
  PTQ_ARCH=$(sed 's/:w32:a32/:w8:a8/g' <<<"$FLOAT_PICK")
  PTQ_MS=$("$NAS" latency --table "$LUT" --arch "$PTQ_ARCH" --json | \
    /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)[0]['predicted_ms'])")
  echo "table latency of the int8 PTQ pick: $PTQ_MS ms"
  LAT_PICK=$(search joint_latency_search "" "flops<=$FLOPS" "latency@cpu<=${PTQ_MS}ms")
  echo "joint pick at equal latency: $LAT_PICK"
  export_bundle joint_latency "$LAT_PICK"
  [ -f "$OUT/latency_pair.json" ] || "$NAS" latency --table "$LUT" --arch "$PTQ_ARCH" --arch "$LAT_PICK" \
    --arch "$JOINT_PICK" --measure --runs 100 --json > "$OUT/latency_pair.json"
  names="$names joint_latency"
  if [ "$RERANK" -gt 0 ]; then
    # Levers against the winner's curse at equal latency: the same search with its RERANK
    # best re-evaluated on the whole validation split, and that search started from the
    # PTQ architecture (--initial-arch).
    RR_PICK=$(search joint_latency_rerank_search "" "flops<=$FLOPS" "latency@cpu<=${PTQ_MS}ms" -- \
      --rerank-top "$RERANK" --rerank-images 0)
    echo "joint pick at equal latency, re-ranked: $RR_PICK"
    export_bundle joint_latency_rerank "$RR_PICK"
    SEEDED_PICK=$(search joint_latency_seeded_search "" "flops<=$FLOPS" "latency@cpu<=${PTQ_MS}ms" -- \
      --rerank-top "$RERANK" --rerank-images 0 --initial-arch "$PTQ_ARCH")
    echo "joint pick at equal latency, from the PTQ architecture, re-ranked: $SEEDED_PICK"
    export_bundle joint_latency_seeded "$SEEDED_PICK"
    names="$names joint_latency_rerank joint_latency_seeded"
  fi
fi

/usr/bin/python3 - "$OUT" $names <<'PY'
import json, os, sys
out = sys.argv[1]
print("| pick | arch | test acc. % | float32 acc. % | size KB | GBitOPs | MFLOPs | batch-1 ms (float32 ms) |")
print("|---|---|---|---|---|---|---|---|")
for name in sys.argv[2:]:
    j = json.load(open(os.path.join(out, name, "subnet.json")))
    q = j.get("quantization") or {}
    lat = j.get("latency") or {}
    fl = lat.get("float32_torchscript_ms")
    print(f"| {name} | `{j['arch']}` | {j['test_accuracy']:.2f} | {q.get('float32_test_accuracy', j['test_accuracy']):.2f} | "
          f"{j['size_bytes'] / 1e3:.1f} | {j['bitops'] / 1e9:.2f} | {j['flops'] / 1e6:.1f} | "
          f"{lat.get('torchscript_ms', 0):.3f}" + (f" ({fl:.3f})" if fl else "") + " |")
cpu = {}
for line in open(os.path.join(out, "cpu.txt")):
    p = line.split()
    if len(p) == 4 and not p[0].startswith("Command"):
        cpu[p[0]] = cpu.get(p[0], 0) + float(p[1]) + float(p[2])
print("CPU minutes (user+sys): " + ", ".join(f"{k} {v / 60:.1f}" for k, v in cpu.items()))
PY
