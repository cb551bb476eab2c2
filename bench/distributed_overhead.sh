#!/usr/bin/env bash
# Data-parallel overhead on this machine: the Fashion-MNIST quick supernet trained for
# STEPS steps as (a) one process with one thread, (b) one process with two threads,
# (c) two processes (c10d/Gloo, loopback) with one thread each. Prints the median
# global images/s of each (rank 0's steps: all-reduce included) and the ratios.
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
def rate(name):
    vals = []
    for r in (1, 2):
        path = os.path.join(out, "%s_%d" % (name, r), "summary.json")
        vals.append(json.load(open(path))["median_images_per_second"])
    return statistics.median(vals), vals
base = rate("p1t1")[0]
print("| setup | median images/s (2 runs) | vs 1 process x 1 thread |")
print("|---|---|---|")
for name, label in (("p1t1", "1 process x 1 thread"), ("p1t2", "1 process x 2 threads"), ("p2t1", "2 processes x 1 thread (Gloo)")):
    m, vals = rate(name)
    print("| %s | %.0f (%s) | %.2f |" % (label, m, ", ".join("%.0f" % v for v in vals), m / base))
PY
