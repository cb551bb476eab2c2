#!/usr/bin/env bash
# Latency predictor accuracy (issue 5): for each search space, profile a block lookup
# table on this machine, fit the correction on CALIBRATE subnets measured end to end, and
# score table sum and predictor on HOLDOUT further random subnets, each measured end to
# end on its extracted stand-alone network (batch 1, one thread, RUNS passes; profiling
# and measured subnets all interleaved in one session). Run it on a quiet machine: other processes add noise.
#
#   bash bench/latency_predictor.sh [OUT=runs/latency]
# Environment: SPACES, CALIBRATE (60), HOLDOUT (100), RUNS (50), STATISTIC (p10).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/latency}
SPACES=${SPACES:-configs/spos_shufflenet_small.yaml configs/mbv2_macro.yaml configs/spos_shufflenet.yaml}
mkdir -p "$OUT"
bazel build //nas:nas >&2
export OMP_WAIT_POLICY=PASSIVE
for space in $SPACES; do
  name=$(basename "$space" .yaml)
  bazel-bin/nas/nas profile --space "$space" --out "$OUT/$name.json" --force --threads 1 \
    --calibrate "${CALIBRATE:-60}" --holdout "${HOLDOUT:-100}" --runs "${RUNS:-50}" \
    --statistic "${STATISTIC:-p10}" 2> "$OUT/$name.log" | sed "s|^|$name: |"
done
/usr/bin/env python3 - "$OUT" $SPACES <<'PY'
import json, os, sys
out = sys.argv[1]
print("| space | input | subnets (fit / held out) | range over held-out (ms) | table sum MAPE | table sum tau | predictor MAPE | predictor RMSE (ms) | predictor tau |")
print("|---|---|---|---|---|---|---|---|---|")
for space in sys.argv[2:]:
    name = os.path.basename(space)[:-5]
    lut = json.load(open(os.path.join(out, name + ".json")))
    v = lut["validation"]
    ms = [a["measured_ms"] for a in v["archs"]]
    print("| %s | %d | %d / %d | %.2f - %.2f | %.2f %% | %.3f | %.2f %% | %.3f | %.3f |" % (
        name, lut["space"]["input_size"], lut["correction"]["samples"], v["subnets"], min(ms), max(ms),
        v["table_sum"]["mape_percent"], v["table_sum"]["kendall_tau"],
        v["predictor"]["mape_percent"], v["predictor"]["rmse_ms"], v["predictor"]["kendall_tau"]))
PY
