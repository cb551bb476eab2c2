#!/usr/bin/env bash
# Export of the largest subnet of one supernet per space type (TorchScript + ONNX, all
# checks, 1,000 test images in both runtimes, batch-1 latency): wall time and the checks'
# measured differences. Supernets that do not exist yet are trained for a few steps (the
# export's cost does not depend on how well the supernet is trained).
#
#   NAS_SHARED_DATA=../shared/data bash bench/export_time.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/export_time}
NAS=bazel-bin/nas/nas
[ -x "$NAS" ] || bazel build //nas:nas
mkdir -p "$OUT"
for entry in train_fmnist_quick train_cifar10_mbv2 train_cifar10_nb201_proxy train_cifar10_nb201; do
  ckpt="$OUT/$entry/checkpoint.nasckpt"
  [ -f "$ckpt" ] || "$NAS" train --config "configs/$entry.yaml" --steps 20 --out "$OUT/$entry" > /dev/null
  rm -rf "$OUT/$entry.bundle"
  start=$(date +%s.%N)
  "$NAS" export --checkpoint "$ckpt" --arch largest --out "$OUT/$entry.bundle" --verify-images 1000 --json \
    > "$OUT/$entry.json"
  end=$(date +%s.%N)
  python3 - "$OUT/$entry.json" "$start" "$end" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
c, o, l = j["check"], j["onnx"], j["latency"]
print(f"| {j['space']} | {j['flops'] / 1e6:.1f} | {wall:.1f} | {c['max_abs_diff_vs_supernet_path']:.1e} | "
      f"{c['max_abs_diff_folded_vs_unfolded']:.1e} | {o['max_abs_diff_vs_torchscript']:.1e} | "
      f"{j['test_accuracy']:.2f} / {o['test_accuracy']:.2f} | {l['torchscript_ms']:.2f} | {l['onnx_opencv_ms']:.2f} |")
PY
done
