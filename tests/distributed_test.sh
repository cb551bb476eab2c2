#!/usr/bin/env bash
# Data-parallel training on c10d/Gloo over loopback:
#  1. two ranks (nas train --nproc 2) end with the same weights as one process that
#     splits the same global batches into two micro-batches (same path sequence);
#  2. resuming the two-rank run's checkpoint with one process works (another world size);
#  3. a search with its evaluations split across two ranks equals the one-process search;
#  4. killing one rank makes the other stop with a clear error within a bounded time.
set -uo pipefail
NAS=nas/nas
DIFF=tests/checkpoint_diff
T="${TEST_TMPDIR:-/tmp}/distributed"
rm -rf "$T" && mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }
cp tests/tiny_space.yaml "$T/space.yaml"
cat > "$T/train.yaml" <<'YAML'
space: space.yaml
data: {dataset: fashion_mnist, validation_size: 64, train_limit: 256}
training: {seed: 3, batch_size: 32, steps: 8, checkpoint_every: 4, log_every: 1}
sampler: {kind: shifted}
evaluation: {calibration_batches: 1, calibration_batch_size: 32, batch_size: 64}
YAML

# 1. Two ranks against one process with two micro-batches.
$NAS train --config "$T/train.yaml" --out "$T/single" --threads 1 --micro-batches 2 >"$T/single.out" 2>&1 \
  || fail "single-process run: $(cat "$T/single.out")"
$NAS train --config "$T/train.yaml" --out "$T/dist" --threads 1 --nproc 2 >"$T/dist.out" 2>&1 \
  || fail "two-rank run: $(cat "$T/dist.out")"
grep -q "finished at step 8/8" "$T/dist.out" || fail "two-rank output: $(cat "$T/dist.out")"
grep -q "x 2 ranks" "$T/dist.out" || fail "no rank count in: $(cat "$T/dist.out")"
[ "$(wc -l < "$T/dist/metrics.jsonl")" -eq 8 ] || fail "metrics.jsonl should have 8 lines (rank 0 only)"
$DIFF "$T/single/checkpoint.nasckpt" "$T/dist/checkpoint.nasckpt" 1e-5 || fail "weights differ from the single-process run"

# 2. Resume the two-rank checkpoint (step 8) in one process for 4 more steps.
$NAS train --config "$T/train.yaml" --out "$T/dist" --threads 1 --micro-batches 2 --resume --steps 12 \
  >"$T/resume.out" 2>&1 || fail "resume with one process: $(cat "$T/resume.out")"
grep -q "finished at step 12/12" "$T/resume.out" || fail "resume output: $(cat "$T/resume.out")"

# 3. Distributed evaluation: a search over the trained supernet with its generations split
# across two ranks gives the same history as one process.
SEARCH=(search --evaluator "supernet:$T/single/checkpoint.nasckpt" --algorithm evolution --budget 12
        --population 4 --parents 2 --seed 1 --archive none --threads 1 --json)
$NAS "${SEARCH[@]}" > "$T/search1.json" 2>"$T/search1.err" || fail "search: $(cat "$T/search1.err")"
$NAS "${SEARCH[@]}" --nproc 2 --out "$T/search2" > "$T/search2.json" 2>"$T/search2.err" \
  || fail "two-rank search: $(cat "$T/search2.err")"
strip() { grep -E '"(arch|accuracy)"' "$1"; }
[ "$(strip "$T/search1.json" | wc -l)" -gt 20 ] || fail "search output: $(head -c 500 "$T/search1.json")"
diff <(strip "$T/search1.json") <(strip "$T/search2.json") >/dev/null \
  || fail "two-rank search differs: $(diff <(strip "$T/search1.json") <(strip "$T/search2.json") | head)"
grep -q '"world_size": 2' "$T/search2.json" || fail "rank 0 did not report world_size 2"
[ -f "$T/search2/result.json" ] || fail "rank 0 did not write result.json"

# 4. A rank that dies: start the ranks by hand (the environment PyTorch's launcher sets),
# kill rank 1 once training runs, and time rank 0's exit.
PORT=$(( 20000 + RANDOM % 20000 ))
cat > "$T/long.yaml" <<'YAML'
space: space.yaml
data: {dataset: fashion_mnist, validation_size: 64, train_limit: 256}
training: {seed: 3, batch_size: 32, steps: 100000, checkpoint_every: 1000, log_every: 1}
evaluation: {calibration_batches: 1, calibration_batch_size: 32, batch_size: 64}
YAML
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT \
    $NAS train --config "$T/long.yaml" --out "$T/fail" --threads 1 --dist-timeout 20 >"$T/rank$r.out" 2>&1 &
  eval "PID$r=$!"
done
for _ in $(seq 1 600); do
  [ -s "$T/fail/metrics.jsonl" ] && [ "$(wc -l < "$T/fail/metrics.jsonl")" -ge 3 ] && break
  sleep 0.1
done
[ -s "$T/fail/metrics.jsonl" ] || fail "the two ranks did not start training: $(cat "$T/rank0.out" "$T/rank1.out")"
kill -9 "$PID1"
start=$(date +%s)
wait "$PID0"
rc=$?
elapsed=$(( $(date +%s) - start ))
[ $rc -ne 0 ] || fail "rank 0 exited 0 after rank 1 died"
[ $elapsed -le 40 ] || fail "rank 0 took ${elapsed}s to notice (bound: --dist-timeout 20 + slack)"
grep -q "rank 0: .*failed" "$T/rank0.out" || fail "rank 0's error is unclear: $(cat "$T/rank0.out")"
echo "rank 0 stopped ${elapsed}s after rank 1 died: $(grep error "$T/rank0.out")"
echo PASS
