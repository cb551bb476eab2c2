#!/usr/bin/env bash
# End-to-end checks of the `nas` binary: help, JSON output, exit codes, errors.
set -uo pipefail
NAS=nas/nas
ERR="${TEST_TMPDIR:-/tmp}/nas_cli_err.txt"
fail() { echo "FAIL: $*"; exit 1; }

$NAS --help | grep -q "space" || fail "--help does not list 'space'"
$NAS space cost --help | grep -q -- "--arch" || fail "space cost --help lacks --arch"

out=$($NAS space sample --config configs/nb201.yaml --n 3 --seed 1 --json) || fail "sample failed"
[ "$(echo "$out" | grep -c '"arch"')" -eq 3 ] || fail "sample --json did not give 3 archs"

$NAS space cost --config configs/nb201.yaml --arch '|nor_conv_3x3~0|' >/dev/null 2>"$ERR"
rc=$?
[ $rc -eq 2 ] || fail "bad arch exit code $rc, want 2"
grep -q "error: arch:" "$ERR" || fail "bad arch message: $(cat "$ERR")"

$NAS space describe --config configs/missing.yaml >/dev/null 2>"$ERR"
[ $? -eq 1 ] || fail "missing config should exit 1"
grep -q "configs/missing.yaml" "$ERR" || fail "missing config message: $(cat "$ERR")"

$NAS space frobnicate >/dev/null 2>&1 && fail "unknown subcommand accepted"
# Training and evaluation on a tiny space and a slice of Fashion-MNIST.
T="${TEST_TMPDIR:-/tmp}/cli_train"
rm -rf "$T" && mkdir -p "$T"
cp tests/tiny_space.yaml "$T/space.yaml"
cat > "$T/train.yaml" <<'YAML'
space: space.yaml
data: {dataset: fashion_mnist, validation_size: 64, train_limit: 128}
training: {seed: 1, batch_size: 32, steps: 4, checkpoint_every: 2, log_every: 1}
evaluation: {calibration_batches: 1, calibration_batch_size: 32, batch_size: 64}
YAML
$NAS train --config "$T/train.yaml" --out "$T/run" --threads 1 >"$T/train.out" 2>"$T/train.err" \
  || fail "train failed: $(cat "$T/train.err")"
grep -q "finished at step 4/4" "$T/train.out" || fail "train output: $(cat "$T/train.out")"
grep -q "step 4/4" "$T/train.err" || fail "no progress lines: $(cat "$T/train.err")"
[ -f "$T/run/summary.json" ] || fail "no summary.json"
[ "$(wc -l < "$T/run/metrics.jsonl")" -eq 4 ] || fail "metrics.jsonl should have 4 lines"

$NAS train --config "$T/train.yaml" --out "$T/run" >/dev/null 2>"$ERR"
[ $? -eq 1 ] || fail "re-running into an existing run should fail"
grep -q -- "--resume" "$ERR" || fail "existing-run message: $(cat "$ERR")"

out=$($NAS eval --checkpoint "$T/run/checkpoint.nasckpt" --arch largest --arch smallest --split both --json) \
  || fail "eval failed"
[ "$(echo "$out" | grep -c '"test_accuracy"')" -eq 2 ] || fail "eval --json: $out"

printf 'garbage' > "$T/bad.nasckpt"
$NAS eval --checkpoint "$T/bad.nasckpt" --arch largest >/dev/null 2>"$ERR"
[ $? -eq 1 ] || fail "a corrupt checkpoint should exit 1"
grep -q "not a usable checkpoint" "$ERR" || fail "corrupt checkpoint message: $(cat "$ERR")"

# Search-space shrinking: half-way, the worst-scored option leaves the space; the search
# then keeps to the options the supernet trained at the end.
sed 's/^training: .*/training: {seed: 1, batch_size: 32, steps: 4, checkpoint_every: 2, log_every: 1}\nshrink: {at: 0.5, archs: 4, images: 32}/' \
  "$T/train.yaml" > "$T/shrink.yaml"
$NAS train --config "$T/shrink.yaml" --out "$T/run_shrink" --threads 1 >/dev/null 2>"$T/shrink.err" \
  || fail "shrinking train failed: $(cat "$T/shrink.err")"
grep -q "shrinking the space at step 2" "$T/shrink.err" || fail "shrink announcement: $(cat "$T/shrink.err")"
grep -q "shrinking: q90 rank of each option's architectures: .*; dropped " "$T/shrink.err" \
  || fail "shrink report: $(cat "$T/shrink.err")"
out=$($NAS search --evaluator "supernet:$T/run_shrink/checkpoint.nasckpt" --algorithm random --budget 6 --zc-batch 8 \
  --archive none --threads 1 --json 2>"$ERR") || fail "search of a shrunk supernet failed: $(cat "$ERR")"
grep -q "searching 'tiny' without .*: the supernet did not train them at the end" "$ERR" \
  || fail "shrunk search message: $(cat "$ERR")"
echo "$out" >"$T/shrunk_search.json"
/usr/bin/python3 - "$T/run_shrink/shrink.json" "$T/shrunk_search.json" <<'PY' || fail "shrunk search: $out"
import json, sys
dropped = json.load(open(sys.argv[1]))["dropped"]
assert len(dropped) == 1, dropped
history = json.load(open(sys.argv[2]))["history"]
# Budget 6, besides the reference sample's free ones; the tiny space may be covered.
assert 6 <= len(history) and len([e for e in history if not e.get("prescored")]) <= 6, history
assert any(e.get("prescored") for e in history), history
for e in history:
    assert dropped[0] not in e["arch"].split(","), (dropped, e["arch"])
PY

# Search over the NAS-Bench-201 table.
SHARED="${NAS_SHARED_DATA:-$(dirname "$(dirname "$(readlink -f configs/nb201.yaml)")")/../shared/data}"
out=$($NAS search --space configs/nb201.yaml --evaluator "table:$SHARED/nb201_test_acc_200ep.csv" \
  --algorithm aging --budget 30 --constraint 'flops<=100M' --seed 2 --out "$T/search" --json \
  --archive "$T/archive.sqlite" 2>"$T/search.err") \
  || fail "search failed"
grep -q "generation .*: 30/30 evaluated, best" "$T/search.err" || fail "no progress lines: $(cat "$T/search.err")"
grep -q '"evaluations": 30' <<<"$out" || fail "search --json: $out"
[ -f "$T/search/result.json" ] || fail "no result.json"
grep -q "</svg>" "$T/search/plot.svg" || fail "no plot.svg"
$NAS search --space configs/nb201.yaml --evaluator "table:$SHARED/nb201_test_acc_200ep.csv" \
  --constraint 'flops<=1M' --archive "$T/rejected.sqlite" >/dev/null 2>"$ERR"
rc=$?; [ $rc -eq 2 ] || fail "an impossible constraint should exit 2, got $rc: $(cat "$ERR")"
grep -q "smallest flops in space 'nb201' is 7.783M" "$ERR" || fail "impossible constraint: $(cat "$ERR")"
ls "$T"/rejected.sqlite* >/dev/null 2>&1 && fail "a rejected search left an archive behind"


# Under 8 MFLOPs: 729 cells, 291 functions; by default one cell per function is evaluated,
# --evaluate-equivalent evaluates them all.
for flag in "" --evaluate-equivalent; do
  out=$($NAS search --space configs/nb201.yaml --evaluator "table:$SHARED/nb201_test_acc_200ep.csv" \
    --algorithm random --budget 1000 --constraint 'flops<=8M' --archive none --json $flag 2>"$ERR") \
    || fail "search $flag failed: $(cat "$ERR")"
  want=291; [ -n "$flag" ] && want=729
  grep -q "\"evaluations\": $want," <<<"$out" || fail "search $flag: $(echo "$out" | grep '"evaluations"')"
done

# The same search again pays nothing: every evaluation comes from the archive.
out=$($NAS search --space configs/nb201.yaml --evaluator "table:$SHARED/nb201_test_acc_200ep.csv" \
  --algorithm aging --budget 30 --constraint 'flops<=100M' --seed 2 --archive "$T/archive.sqlite" --json 2>/dev/null) \
  || fail "repeated search failed"
grep -q '"paid_evaluations": 0' <<<"$out" || fail "repeated search paid: $(echo "$out" | grep paid)"
grep -q '"archive_hits": 30' <<<"$out" || fail "repeated search hits: $(echo "$out" | grep archive_hits)"

# The supernet evaluator on the tiny checkpoint (the space comes from the checkpoint).
out=$($NAS search --evaluator "supernet:$T/run/checkpoint.nasckpt" --combine none --algorithm random --budget 3 \
  --archive none --threads 1 --json 2>"$ERR") || fail "supernet search failed: $(cat "$ERR")"
grep -q '"evaluator": "supernet:' <<<"$out" || fail "supernet search: $out"
grep -q '"paid_evaluations": 3' <<<"$out" || fail "supernet search paid: $out"
# Started from a given architecture, and the 2 best re-evaluated on the whole validation
# split: the first evaluation is the given one, and the best is one of the re-ranked.
arch=$(/usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['history'][2]['arch'])" <<<"$out")
out=$($NAS search --evaluator "supernet:$T/run/checkpoint.nasckpt" --combine none --algorithm random --budget 3 \
  --initial-arch "$arch" --rerank-top 2 --rerank-images 0 --archive none --threads 1 --json 2>"$ERR") \
  || fail "re-ranked search failed: $(cat "$ERR")"
echo "$out" >"$T/rerank.json"
/usr/bin/python3 - "$arch" "$T/rerank.json" <<'PY' || fail "re-ranked search: $out"
import json, sys
r = json.load(open(sys.argv[2]))
assert r["history"][0]["arch"] == sys.argv[1], "the initial architecture was not evaluated first"
assert r["rerank_top"] == 2 and ":spread0" in r["rerank_evaluator"], r["rerank_evaluator"]
reranked = [e for e in r["history"] if "rerank_accuracy" in e]
assert len(reranked) == 2, reranked
assert r["best"]["rerank_accuracy"] == max(e["rerank_accuracy"] for e in reranked)
PY
$NAS search --evaluator "supernet:$T/run/checkpoint.nasckpt" --combine none --budget 3 --initial-arch "$arch" \
  --initial-arch "$arch" --archive none >/dev/null 2>"$ERR"
[ $? -eq 2 ] || fail "a repeated --initial-arch should exit 2"
grep -q "initial_archs\[1\] (.*): given twice" "$ERR" || fail "repeated initial arch: $(cat "$ERR")"
$NAS search --space configs/nb201.yaml --evaluator "table:$SHARED/nb201_test_acc_200ep.csv" --rerank-top 3 \
  >/dev/null 2>"$ERR"
[ $? -eq 2 ] || fail "--rerank-top with a table should exit 2"
grep -q "rerank_top: the table evaluator has nothing to evaluate on more images" "$ERR" \
  || fail "rerank with a table: $(cat "$ERR")"
# By default the supernet is combined with the label-free signals that ranked best.
out=$($NAS search --evaluator "supernet:$T/run/checkpoint.nasckpt" --algorithm random --budget 2 --zc-batch 8 \
  --archive none --threads 1 --json 2>"$ERR") || fail "default supernet search failed: $(cat "$ERR")"
grep -q '"evaluator": "combo:supernet_loss\[supernet:.*zc:meco' <<<"$out" || fail "default combination: $out"
grep -q '"rerank_top": 5,' <<<"$out" || fail "default re-ranking of a supernet: search: $out"
$NAS search --evaluator "supernet:$T/run/checkpoint.nasckpt" --space configs/nb201.yaml >/dev/null 2>"$ERR"
[ $? -eq 2 ] || fail "a space that differs from the checkpoint's should exit 2"
grep -q "is not a restriction of the space the checkpoint was trained on, 'tiny': " "$ERR" \
  || fail "space mismatch: $(cat "$ERR")"

# Few-shot: the tiny supernet split on gene 0 (one step per sub-supernet); the folder then
# stands in for the checkpoint in search and export.
$NAS fewshot --checkpoint "$T/run/checkpoint.nasckpt" --out "$T/fewshot" --steps 1 --threads 1 \
  >"$T/fewshot.out" 2>"$ERR" || fail "fewshot failed: $(cat "$ERR")"
grep -q "few-shot supernet: $T/fewshot/fewshot.json" "$T/fewshot.out" || fail "fewshot output: $(cat "$T/fewshot.out")"
grep -q "few-shot sub-supernet 4/4" "$ERR" || fail "fewshot progress: $(cat "$ERR")"
out=$($NAS search --evaluator "supernet:$T/fewshot" --combine none --algorithm random --budget 3 \
  --archive none --threads 1 --json 2>"$ERR") || fail "few-shot search failed: $(cat "$ERR")"
grep -q '"evaluator": "fewshot:' <<<"$out" || fail "few-shot search: $out"
out=$($NAS eval --checkpoint "$T/fewshot" --arch largest --arch smallest --split val --json) \
  || fail "few-shot eval failed"
[ "$(echo "$out" | grep -c '"val_accuracy"')" -eq 2 ] || fail "few-shot eval --json: $out"
$NAS export --checkpoint "$T/fewshot" --arch largest --out "$T/fewshot_export" --format torchscript \
  --verify-images 64 --threads 1 >/dev/null 2>"$ERR" || fail "few-shot export failed: $(cat "$ERR")"
[ -f "$T/fewshot_export/subnet.pt" ] || fail "few-shot export wrote no subnet.pt"
$NAS fewshot --checkpoint "$T/run/checkpoint.nasckpt" --out "$T/fewshot_bad" --steps 1 --gene 7 >/dev/null 2>"$ERR"
[ $? -eq 2 ] || fail "a bad --gene should exit 2"
grep -q -- "--gene: must be in \[0, 1\]" "$ERR" || fail "bad gene: $(cat "$ERR")"
$NAS fewshot --checkpoint "$T/run/checkpoint.nasckpt" --out "$T/fewshot" --steps 2 >/dev/null 2>"$ERR"
[ $? -ne 0 ] || fail "another split into the same folder should fail"
grep -q -- "--out: .* holds another split" "$ERR" || fail "other split: $(cat "$ERR")"

# Training-free and combined evaluators: a zero-cost proxy from a training config, and
# the supernet combined with proxies and FLOPs (reference sample of 4).
out=$($NAS search --evaluator "zc:naswot:$T/train.yaml" --algorithm random --budget 3 --zc-batch 8 \
  --archive none --threads 1 --json 2>"$ERR") || fail "zc search failed: $(cat "$ERR")"
grep -q '"evaluator": "zc:naswot:tiny:b8:s0"' <<<"$out" || fail "zc search: $out"
out=$($NAS search --evaluator "combo:supernet:$T/run/checkpoint.nasckpt+zc:synflow+zc:snip+flops*0.5+ref=4" \
  --algorithm random --budget 3 --zc-batch 8 --archive none --threads 1 --json 2>"$ERR") \
  || fail "combo search failed: $(cat "$ERR")"
grep -q '"evaluator": "combo:supernet\[supernet:' <<<"$out" || fail "combo search: $out"
grep -q "scoring the combination's reference sample (4 random architectures)" "$ERR" || fail "combo log: $(cat "$ERR")"
# The reference sample starts the search for free (outside the budget of 3), and is the
# predictor's training set: the default algorithm then; --no-reference-start: evolution.
grep -q '"prescored_evaluations": 4,' <<<"$out" || fail "reference start: $out"
/usr/bin/python3 -c 'import json, sys; h = json.load(sys.stdin)["history"]; assert len(h) == 7 and all(e.get("prescored") for e in h[:4]), h' \
  <<<"$out" || fail "prescored entries: $out"
out=$($NAS search --evaluator "combo:flops+zc:synflow:$T/train.yaml+ref=4" --budget 3 --zc-batch 8 --archive none \
  --threads 1 --json 2>"$ERR") || fail "default-algorithm combo search failed: $(cat "$ERR")"
grep -q '"algorithm": "predictor"' <<<"$out" || fail "default algorithm with a reference sample: $out"
grep -q "evaluated (and 4 free from the reference sample)" "$ERR" || fail "progress with prescored: $(cat "$ERR")"
out=$($NAS search --evaluator "combo:flops+zc:synflow:$T/train.yaml+ref=4" --budget 3 --zc-batch 8 --archive none \
  --threads 1 --json --no-reference-start 2>"$ERR") || fail "--no-reference-start failed: $(cat "$ERR")"
grep -q '"algorithm": "evolution"' <<<"$out" || fail "default algorithm without the reference start: $out"
grep -q '"prescored_evaluations": 0,' <<<"$out" || fail "--no-reference-start: $out"
# With an archive, a combination keeps its items' scores: a second search (another bound)
# reads the reference sample's 4 x 3 supernet and proxy scores instead of computing them.
for run in 1 2; do
  $NAS search --evaluator "combo:supernet_loss:$T/run/checkpoint.nasckpt+zc:synflow+zc:snip+flops*0.5+ref=4" \
    --algorithm random --budget 3 --seed $run --zc-batch 8 --archive "$T/items.sqlite" --threads 1 >/dev/null 2>"$ERR" \
    || fail "archived combo search $run failed: $(cat "$ERR")"
done
grep -q "reference sample scored in .* s (12 item scores from the archive" "$ERR" || fail "archived combo: $(cat "$ERR")"
$NAS search --evaluator "combo:zc:fisher+flops" >/dev/null 2>"$ERR"
[ $? -eq 2 ] || fail "a bad combo should exit 2"
grep -q "unknown zero-cost proxy 'fisher'" "$ERR" || fail "bad combo: $(cat "$ERR")"

# Export: TorchScript and ONNX bundle, reloaded and checked against the supernet path.
out=$($NAS export --checkpoint "$T/run/checkpoint.nasckpt" --arch smallest --out "$T/export" --threads 1 \
  --verify-images 64 --json 2>"$ERR") || fail "export failed: $(cat "$ERR")"
for f in subnet.pt subnet.onnx bn_stats.pt subnet.json; do [ -f "$T/export/$f" ] || fail "export lacks $f"; done
grep -q '"runtime": "OpenCV 4' <<<"$out" || fail "export ONNX check: $out"
grep -q '"batch": "any"' <<<"$out" || fail "export input: $out"
# The bundle in Python: TorchScript (python3-torch) and ONNX (python3-opencv) at batch 1, 7, 64.
/usr/bin/python3 nas/python/check_bundle.py "$T/export" --threads 1 >"$T/py.json" 2>"$ERR" \
  || fail "python bundle check: $(cat "$T/py.json" "$ERR")"
grep -q '"failures": \[\]' "$T/py.json" || fail "python bundle check: $(cat "$T/py.json")"
# An existing bundle is replaced only with --force; a directory that is not a bundle never.
$NAS export --checkpoint "$T/run/checkpoint.nasckpt" --arch largest --out "$T/export" --threads 1 \
  --verify-images 0 >/dev/null 2>"$ERR" && fail "an export over a bundle without --force succeeded"
grep -q "already holds a bundle; set force (nas export --force)" "$ERR" || fail "no --force: $(cat "$ERR")"
out=$($NAS export --checkpoint "$T/run/checkpoint.nasckpt" --arch largest --out "$T/export" --threads 1 \
  --verify-images 0 --force --format torchscript 2>"$ERR") || fail "export --force failed: $(cat "$ERR")"
[ -e "$T/export/subnet.onnx" ] && fail "--format torchscript left an ONNX file in the replaced bundle"
grep -q "latency at batch 1 (median): .* ms TorchScript" <<<"$out" || fail "export text: $out"
mkdir -p "$T/notbundle" && touch "$T/notbundle/keep"
$NAS export --checkpoint "$T/run/checkpoint.nasckpt" --arch largest --out "$T/notbundle" --force --threads 1 \
  >/dev/null 2>"$ERR" && fail "an export replaced a directory that is not a bundle"
[ -f "$T/notbundle/keep" ] || fail "a refused export removed files"
$NAS export --checkpoint "$T/run/checkpoint.nasckpt" --arch largest --out "$T/export3" --format tflite \
  >/dev/null 2>"$ERR"
[ $? -eq 2 ] || fail "a bad --format should exit 2"
$NAS export --checkpoint "$T/run/checkpoint.nasckpt" --arch bogus --out "$T/export2" >/dev/null 2>"$ERR"
[ $? -eq 2 ] || fail "a bad --arch should exit 2"
[ -e "$T/export2/subnet.pt" ] && fail "a failed export wrote files"
# Fine-tuning one subnet from the supernet's weights, then its bundle.
printf 'training: {seed: 2, batch_size: 32, steps: 3, checkpoint_every: 2, log_every: 1}\n' > "$T/ft.yaml"
out=$($NAS finetune --checkpoint "$T/run/checkpoint.nasckpt" --arch largest --config "$T/ft.yaml" --out "$T/ft" \
  --threads 1 --verify-images 64 2>"$ERR") || fail "finetune failed: $(cat "$ERR")"
grep -q "fine-tuned .* for 3 steps: test accuracy .* on 64 images (inherited weights: " <<<"$out" \
  || fail "finetune output: $out"
[ -f "$T/ft/bundle/subnet.pt" ] || fail "finetune wrote no bundle"
[ "$(grep -c '"loss"' "$T/ft/metrics.jsonl")" -eq 3 ] || fail "finetune metrics.jsonl should have 3 step lines"
grep -q '"validation_accuracy"' "$T/ft/metrics.jsonl" || fail "finetune metrics.jsonl has no validation accuracy"
out=$($NAS finetune --checkpoint "$T/run/checkpoint.nasckpt" --arch largest --config "$T/ft.yaml" --out "$T/ft" \
  --resume --threads 1 --verify-images 64 --json 2>"$ERR") || fail "finetune --resume --json failed: $(cat "$ERR")"
grep -q '"steps_this_run": "0"' <<<"$out" || fail "a finished fine-tune resumed should train no more: $out"
printf 'sampler: {kind: uniform}\n' > "$T/ft_bad.yaml"
$NAS finetune --checkpoint "$T/run/checkpoint.nasckpt" --arch largest --config "$T/ft_bad.yaml" --out "$T/ft2" \
  >/dev/null 2>"$ERR"
[ $? -eq 2 ] || fail "a fine-tune config that changes the sampler should exit 2"
grep -q "ft_bad.yaml: sampler: fine-tuning keeps" "$ERR" || fail "finetune bad config: $(cat "$ERR")"
$NAS finetune --checkpoint "$T/run/checkpoint.nasckpt" --arch bogus --out "$T/ft3" >/dev/null 2>"$ERR"
[ $? -eq 2 ] || fail "finetune with a bad --arch should exit 2"
grep -q -- "--arch: " "$ERR" || fail "finetune bad arch: $(cat "$ERR")"

$NAS finetune --server 127.0.0.1:1 --checkpoint x --arch largest --out "$T/x" >/dev/null 2>"$ERR"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--out and --resume: not used with --server" "$ERR" || fail "finetune --server --out: $(cat "$ERR")"

$NAS serve --help | grep -q -- "--allow-insecure-remote" || fail "serve --help"
# Startup errors are messages with a non-zero exit, never a crash.
$NAS serve --port 0 --data-dir "$T/srv" --max-jobs 0 >/dev/null 2>"$ERR"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "--max-jobs" "$ERR" || fail "serve --max-jobs 0 (rc $rc): $(cat "$ERR")"
$NAS serve --port 0 --data-dir "$T/srv" --token-file "$T/no-such-token" >/dev/null 2>"$ERR"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "--token-file" "$ERR" || fail "serve --token-file missing (rc $rc): $(cat "$ERR")"
: > "$T/empty-token"
$NAS serve --port 0 --data-dir "$T/srv" --token-file "$T/empty-token" >/dev/null 2>"$ERR"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "empty" "$ERR" || fail "serve --token-file empty (rc $rc): $(cat "$ERR")"
# A remote training job's directory is the server's: --out and --resume are refused, not ignored.
$NAS train --server 127.0.0.1:1 --config train.yaml --out "$T/x" >/dev/null 2>"$ERR"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "not used with --server" "$ERR" || fail "train --server --out (rc $rc): $(cat "$ERR")"

# The cost evaluator: the largest network under a FLOPs bound; accuracy needs an evaluator.
out=$($NAS search --space configs/nb201.yaml --evaluator cost --objective max:flops \
  --constraint 'flops<=50M' --budget 100 --json 2>/dev/null) || fail "cost search failed"
grep -q '"evaluator": "cost"' <<<"$out" || fail "cost search: $out"
$NAS search --space configs/nb201.yaml --evaluator cost >/dev/null 2>"$ERR"
[ $? -eq 2 ] || fail "accuracy with the cost evaluator should exit 2"
grep -q "has no accuracy" "$ERR" || fail "cost/accuracy message: $(cat "$ERR")"
$NAS search --space configs/nb201.yaml --evaluator bogus >/dev/null 2>"$ERR"
grep -q "evaluator: 'bogus' is not one of" "$ERR" || fail "bad evaluator message: $(cat "$ERR")"

# Latency: profile the tiny space, predict and measure, use the table in a search.
$NAS profile --space "$T/space.yaml" --out "$T/lut.json" --runs 3 --warmup 1 --rounds 1 --calibrate 6 \
  --holdout 4 >"$T/profile.out" 2>"$ERR" || fail "profile failed: $(cat "$ERR")"
grep -q "held-out 4 subnets, predictor" "$T/profile.out" || fail "profile output: $(cat "$T/profile.out")"
grep -q "timed round" "$ERR" || fail "profile shows no progress: $(cat "$ERR")"
$NAS profile --space "$T/space.yaml" --out "$T/lut.json" >/dev/null 2>"$ERR"
[ $? -ne 0 ] || fail "profile replaced an existing table without --force"
grep -q -- "--force" "$ERR" || fail "existing-table message: $(cat "$ERR")"
$NAS profile --space configs/nb201_proxy.yaml --out "$T/nb.json" >/dev/null 2>"$ERR"
grep -q "per-architecture latency table" "$ERR" || fail "nb201 profile message: $(cat "$ERR")"
out=$($NAS latency --table "$T/lut.json" --space "$T/space.yaml" --arch largest --measure --runs 3 --json) \
  || fail "latency failed"
grep -q '"measured_ms"' <<<"$out" || fail "latency --measure: $out"
out=$($NAS search --space "$T/space.yaml" --evaluator cost --latency "lut:$T/lut.json" --objective min:latency@cpu \
  --budget 5 --json 2>/dev/null) || fail "search with a latency table failed"
grep -q '"latency_model": "latency_lut:' <<<"$out" || fail "search latency model: $out"
$NAS search --space "$T/space.yaml" --evaluator cost --latency "csv:$T/lut.json" --objective flops >/dev/null 2>"$ERR"
grep -q -- "latency: 'csv:" "$ERR" || fail "bad latency spec message: $(cat "$ERR")"

# Mixed precision: the tiny space with bit-width genes trains (fake quantization), its
# costs know the bits, a search bounds the model size, and a quantized export refuses.
cp tests/tiny_space.yaml "$T/mixed_space.yaml"
printf 'precision: {weight_bits: [4, 8, 32], activation_bits: [8, 32]}\n' >> "$T/mixed_space.yaml"
sed 's/space: space.yaml/space: mixed_space.yaml/; s/steps: 4,/steps: 2,/' "$T/train.yaml" > "$T/mixed_train.yaml"
out=$($NAS space cost --config "$T/mixed_space.yaml" --arch 'shuffle3x3:w4:a8,xception:w8:a8' --json) \
  || fail "mixed cost failed"
grep -q '"bitops"' <<<"$out" && grep -q '"size_bytes"' <<<"$out" || fail "mixed cost: $out"
$NAS train --config "$T/mixed_train.yaml" --out "$T/mixed_run" --threads 1 >/dev/null 2>"$ERR" \
  || fail "mixed train failed: $(cat "$ERR")"
out=$($NAS search --evaluator "supernet:$T/mixed_run/checkpoint.nasckpt" --algorithm random --budget 3 \
  --constraint 'size<=20KB' --archive none --threads 1 --json 2>"$ERR") || fail "mixed search failed: $(cat "$ERR")"
grep -q '"size_bytes"' <<<"$out" || fail "mixed search: $out"
$NAS search --evaluator "supernet:$T/mixed_run/checkpoint.nasckpt" --constraint 'size<=100B' >/dev/null 2>"$ERR"
grep -q "the smallest size in space 'tiny' is" "$ERR" || fail "unreachable size: $(cat "$ERR")"
# A restriction of the trained space (8-bit layers only) is searched through the supernet.
sed 's/^precision: .*/precision: {weight_bits: [8], activation_bits: [8]}/; s/^name: .*/name: tiny_int8/' \
  "$T/mixed_space.yaml" > "$T/int8_space.yaml"
out=$($NAS search --evaluator "supernet:$T/mixed_run/checkpoint.nasckpt" --space "$T/int8_space.yaml" \
  --algorithm random --budget 2 --combine none --archive none --threads 1 --json 2>"$ERR") \
  || fail "sub-space search failed: $(cat "$ERR")"
grep -q ":w8:a8" <<<"$out" && ! grep -q ":w4\|:w32\|:a32" <<<"$out" || fail "sub-space search: $out"
grep -q "a restriction of 'tiny'" "$ERR" || fail "sub-space log: $(cat "$ERR")"

# Quantized exports: integer kernels, checked against the fake-quantized path, loaded in Python.
$NAS export --checkpoint "$T/mixed_run/checkpoint.nasckpt" --arch 'shuffle3x3:w4:a8,xception:w8:a8' \
  --out "$T/mixed_export" --qengine int4 --threads 1 >/dev/null 2>"$ERR"
[ $? -eq 2 ] || fail "a bad --qengine should exit 2"
grep -q 'qengine: quantized engine "int4" is not available; this LibTorch has: ' "$ERR" || fail "qengine: $(cat "$ERR")"
[ ! -e "$T/mixed_export" ] || fail "a refused export left $T/mixed_export behind"
out=$($NAS export --checkpoint "$T/mixed_run/checkpoint.nasckpt" --arch 'shuffle3x3:w4:a8,xception:w8:a8' \
  --out "$T/mixed_export" --verify-images 64 --threads 1 --json 2>"$ERR") || fail "quantized export: $(cat "$ERR")"
grep -q '"integer_convolutions": [1-9]' <<<"$out" || fail "quantized export: $out"
[ ! -e "$T/mixed_export/subnet.onnx" ] || fail "a quantized bundle has no ONNX model"
/usr/bin/python3 nas/python/check_bundle.py "$T/mixed_export" --threads 1 >"$T/pyq.json" 2>"$ERR" \
  || fail "python quantized bundle check: $(cat "$T/pyq.json" "$ERR")"
grep -q '"quantized_engine"' "$T/pyq.json" || fail "python quantized bundle check: $(cat "$T/pyq.json")"
# Quantization-aware fine-tuning of a bit-width architecture: its bundle has integer kernels.
out=$($NAS finetune --checkpoint "$T/mixed_run/checkpoint.nasckpt" --arch 'shuffle3x3:w4:a8,xception:w8:a8' \
  --config "$T/ft.yaml" --steps 2 --out "$T/mixed_ft" --threads 1 --verify-images 64 2>"$ERR") \
  || fail "mixed finetune failed: $(cat "$ERR")"
grep -q "fine-tuned .* for 2 steps: test accuracy" <<<"$out" || fail "mixed finetune output: $out"
grep -q '"integer_convolutions": [1-9]' "$T/mixed_ft/bundle/subnet.json" \
  || fail "mixed finetune bundle: $(head -c 1500 "$T/mixed_ft/bundle/subnet.json")"
# Integer latency table: fitted to end-to-end times of the integer-kernel modules.
$NAS profile --space "$T/mixed_space.yaml" --out "$T/mixed_lut.json" --runs 2 --warmup 1 --rounds 1 --calibrate 0 \
  --holdout 2 --threads 1 >"$T/mprofile.out" 2>"$ERR" || fail "mixed profile failed: $(cat "$ERR")"
grep -q '"quantized_engine"' "$T/mixed_lut.json" || fail "mixed table has no fit: $(head -c 800 "$T/mixed_lut.json")"
grep -q "held-out 2 subnets" "$T/mprofile.out" || fail "mixed profile output: $(cat "$T/mprofile.out")"
out=$($NAS latency --table "$T/mixed_lut.json" --arch 'shuffle3x3:w4:a8,xception:w8:a8' --measure --runs 2 --json) \
  || fail "mixed latency failed"
grep -q '"measured_ms"' <<<"$out" || fail "mixed latency --measure: $out"
# Post-training int8 of a float architecture; not for spaces without searched layers.
out=$($NAS export --checkpoint "$T/run/checkpoint.nasckpt" --arch smallest --out "$T/ptq_export" --int8 \
  --verify-images 64 --threads 1 --json 2>"$ERR") || fail "--int8 export: $(cat "$ERR")"
grep -q '"mode": "post-training, every searched layer at 8 bits"' <<<"$out" || fail "--int8 export: $out"

echo "all CLI checks passed"
