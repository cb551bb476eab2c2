#!/usr/bin/env bash
# Training throughput of the C++ trainer against the same loop in Python (PyTorch 1.13
# from Debian's python3-torch), side by side, batch 64 and 256, 2 threads, alternating
# runs, REPS repetitions; prints medians and ratios. Also measures the achieved GFLOP/s
# of the C++ training step against a 2048x2048 matmul peak.
# Usage: bash bench/train_throughput.sh [REPS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS="${1:-3}"
THREADS=2
bash third_party/setup.sh
if ! /usr/bin/python3 -c "import torch, torchvision, PIL" 2>/dev/null; then
  echo "installing Debian's python3-torch and python3-torchvision for the Python baseline" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3-torch python3-torchvision python3-pil >/dev/null
fi
bazel build //nas:nas //bench:matmul_peak >/dev/null 2>&1
SHARED="${NAS_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
CACHE="${NAS_CACHE_DIR:-$HOME/.cache/supernet_nas}"
OUT="$(mktemp -d)"
RESULTS="$OUT/results.jsonl"

for rep in $(seq 1 "$REPS"); do
  for batch in 64 256; do
    steps=$((batch == 64 ? 60 : 25))
    rm -rf "$OUT/run"
    bazel-bin/nas/nas train --config bench/train_throughput_cifar.yaml --out "$OUT/run" \
      --threads "$THREADS" --steps "$steps" --batch-size "$batch" --json 2>/dev/null \
      | BATCH=$batch python3 -c 'import json,sys,os; s=json.load(sys.stdin); print(json.dumps({"impl":"cpp","batch_size":int(os.environ["BATCH"]),"end_to_end_images_per_second":s["end_to_end_images_per_second"]}))' \
      >> "$RESULTS"
    /usr/bin/python3 bench/train_throughput.py --archive "$SHARED/cifar10-jpeg.tar.gz" \
      --cache-dir "$CACHE/bench" --batch-size "$batch" --steps "$steps" --threads "$THREADS" \
      --workers 2 >> "$RESULTS"
  done
done
MEAN_MACS=$(bazel-bin/nas/nas space sample --config configs/spos_shufflenet_small.yaml --n 2000 --seed 1 --json \
  | python3 -c 'import json,sys; a=json.load(sys.stdin); print(sum(x["flops"] for x in a)/len(a))')
echo "raw results: $RESULTS"
python3 - "$RESULTS" "$(bazel-bin/bench/matmul_peak --threads "$THREADS")" "$MEAN_MACS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
peak = float(sys.argv[2])
mean_macs = float(sys.argv[3])
print(f"matmul peak (2048x2048 float32, 2 threads): {peak:.1f} GFLOP/s")
print(f"mean forward MACs of a uniformly sampled path: {mean_macs / 1e6:.2f} M")
for batch in (64, 256):
    cpp = statistics.median(r["end_to_end_images_per_second"] for r in rows if r["impl"] == "cpp" and r["batch_size"] == batch)
    py = statistics.median(r["end_to_end_images_per_second"] for r in rows if r["impl"] == "python" and r["batch_size"] == batch)
    gflops = 3 * 2 * mean_macs * cpp / 1e9  # forward + backward ~ 3x forward; 2 FLOPs per MAC
    print(f"batch {batch}: C++ {cpp:.1f} img/s, Python {py:.1f} img/s, ratio {cpp / py:.2f}; "
          f"C++ step achieves {gflops:.1f} GFLOP/s = {100 * gflops / peak:.1f}% of the matmul peak")
PY
