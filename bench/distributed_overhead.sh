#!/usr/bin/env bash
# Data-parallel overhead on this machine: the Fashion-MNIST quick supernet trained for
# STEPS steps as (a) one process with one thread, (b) one process with two threads,
# (c) two processes (c10d/Gloo, loopback) with one thread each. Prints the median over
# steps of global images/s (rank 0's step time: forward, backward, all-reduce, update)
# and the end-to-end rate including data loading (which every rank does for the whole
# global batch), with ratios to (a).
#   bash bench/distributed_overhead.sh [OUT=runs/distributed_bench] [STEPS=80]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/distributed_bench}
STEPS=${2:-80}
rm -rf "$OUT" && mkdir -p "$OUT"
bazel build //nas:nas >&2
export OMP_WAIT_POLICY=PASSIVE
run() {  # name, extra flags
  bazel-bin/nas/nas train --config configs/train_fmnist_quick.yaml --out "$OUT/$1" --steps "$STEPS" --json "${@:2}" \
    > "$OUT/$1.json" 2> "$OUT/$1.log"
}
for round in 1 2; do  # Two rounds, alternating, against drift.
  run "p1t1_$round" --threads 1
  run "p1t2_$round" --threads 2
  run "p2t1_$round" --threads 1 --nproc 2
done
/usr/bin/env python3 - "$OUT" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
def rate(name, key):
    vals = []
    for r in (1, 2):
        path = os.path.join(out, "%s_%d" % (name, r), "summary.json")
        vals.append(json.load(open(path))[key])
    return statistics.median(vals), vals
print("| setup | step images/s, median of steps (2 runs) | ratio | end-to-end images/s incl. data (2 runs) | ratio |")
print("|---|---|---|---|---|")
base = {k: rate("p1t1", k)[0] for k in ("median_images_per_second", "end_to_end_images_per_second")}
for name, label in (("p1t1", "1 process x 1 thread"), ("p1t2", "1 process x 2 threads"), ("p2t1", "2 processes x 1 thread (Gloo)")):
    cells = []
    for k in ("median_images_per_second", "end_to_end_images_per_second"):
        m, vals = rate(name, k)
        cells.append("%.0f (%s) | %.2f" % (m, ", ".join("%.0f" % v for v in vals), m / base[k]))
    print("| %s | %s |" % (label, " | ".join(cells)))
PY
