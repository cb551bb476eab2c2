#!/usr/bin/env bash
# The SPOS supernet at 224x224, side by side: the official SPOS code (../shared/peers/spos,
# Debian's python3-torch, synthetic data, its own per-step timer) against `nas train` on
# configs/spos_shufflenet.yaml (uniform single path, SGD momentum + Nesterov off, label
# smoothing, non-affine BN as the official code; real JPEGs: CIFAR-10 images decoded and
# resized to 224 at start-up, so decoding costs no step time). For every batch size and
# thread count, the two alternate REPS times in one run, with LibTorch's 2048x2048 matmul
# rate (bench/matmul_peak) measured between them. Reports per-step medians (the first
# two steps of each run dropped, as the peer does), the ratio, the achieved GFLOP/s (3 x 2
# x the mean forward MACs of uniformly sampled paths per image) and its share of the
# matmul rate.
#
# Resumable: results are appended to OUT/results.jsonl, finished (rep, batch, threads,
# impl) entries are skipped on a rerun, the log goes to OUT/log.txt.
#
# Usage: bash bench/spos224.sh [OUT=runs/spos224] [REPS=3]
#   BATCHES="32 64" THREADS_LIST="2 1" STEPS=10 (timed steps per run, after 2 warm-up)
#   NAS_BEFORE=path/to/an/older/nas: a third column, alternating with the other two
#   (before/after comparisons of the engine).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/spos224}"
REPS="${2:-3}"
BATCHES="${BATCHES:-32 64}"
THREADS_LIST="${THREADS_LIST:-2 1}"
STEPS="${STEPS:-10}"
SHARED="${NAS_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
PEER="${PEER:-$(cd .. && pwd)/shared/peers/spos}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
RESULTS="$OUT/results.jsonl"
touch "$RESULTS"
exec > >(tee -a "$OUT/log.txt") 2>&1

bash third_party/setup.sh
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
fi
bazel build //nas:nas //bench:matmul_peak >/dev/null 2>&1
# Copies, so that a rebuild while this runs changes nothing.
mkdir -p "$OUT/bin"
cp -f bazel-bin/nas/nas bazel-bin/bench/matmul_peak "$OUT/bin/"
NAS="$OUT/bin/nas"

# 64 CIFAR-10 training JPEGs per class, once.
IMAGES="$OUT/images"
if [ ! -f "$IMAGES/.done" ]; then
  rm -rf "$IMAGES"
  /usr/bin/python3 - "$SHARED/cifar10-jpeg.tar.gz" "$IMAGES" <<'PY'
import collections, os, sys, tarfile
count = collections.Counter()
with tarfile.open(sys.argv[1]) as tar:
    for m in tar:
        parts = m.name.split("/")
        if len(parts) == 4 and parts[1] == "train" and m.isfile() and count[parts[2]] < 64:
            count[parts[2]] += 1
            os.makedirs(os.path.join(sys.argv[2], parts[2]), exist_ok=True)
            with open(os.path.join(sys.argv[2], parts[2], parts[3]), "wb") as f:
                f.write(tar.extractfile(m).read())
PY
  touch "$IMAGES/.done"
fi
cat > "$OUT/train.yaml" <<EOF
# Written by bench/spos224.sh.
description: SPOS ShuffleNetV2 supernet at 224x224, speed benchmark
space: $(pwd)/configs/spos_shufflenet.yaml
data:
  dataset: image_folder
  path: $IMAGES
  validation_size: 0
  augment: {random_crop: false, horizontal_flip: false}
supernet: {bn_affine: false}
training: {seed: 0, batch_size: 32, steps: 12, checkpoint_every: 1000000, log_every: 1}
optimizer: {lr: 0.5, momentum: 0.9, nesterov: false, weight_decay: 4.0e-5, label_smoothing: 0.1}
schedule: {kind: cosine}
sampler: {kind: uniform}
EOF

done_already() {
  grep -q "\"rep\": $1, \"batch\": $2, \"threads\": $3, \"impl\": \"$4\"" "$RESULTS"
}

for rep in $(seq 1 "$REPS"); do
  for batch in $BATCHES; do
    for threads in $THREADS_LIST; do
      if ! done_already "$rep" "$batch" "$threads" matmul; then
        rate=$("$OUT/bin/matmul_peak" --threads "$threads")
        echo "{\"rep\": $rep, \"batch\": $batch, \"threads\": $threads, \"impl\": \"matmul\", \"gflops\": $rate}" >> "$RESULTS"
      fi
      if ! done_already "$rep" "$batch" "$threads" peer; then
        echo "$(date +%T) rep $rep batch $batch threads $threads: official SPOS"
        line=$(/usr/bin/python3 "$PEER/peer_train_step.py" "$batch" "$threads" "$STEPS" 224 2>/dev/null | tail -1)
        ips=$(echo "$line" | sed -n 's/.*images_per_s=\([0-9.]*\).*/\1/p')
        echo "{\"rep\": $rep, \"batch\": $batch, \"threads\": $threads, \"impl\": \"peer\", \"images_per_s\": $ips}" >> "$RESULTS"
      fi
      for impl in nas ${NAS_BEFORE:+nas_before}; do
        done_already "$rep" "$batch" "$threads" "$impl" && continue
        echo "$(date +%T) rep $rep batch $batch threads $threads: $impl train"
        binary="$NAS"
        [ "$impl" = nas_before ] && binary="$NAS_BEFORE"
        rm -rf "$OUT/run"
        "$binary" train --config "$OUT/train.yaml" --out "$OUT/run" --threads "$threads" \
          --batch-size "$batch" --steps $((STEPS + 2)) --json > /dev/null 2>&1
        ips=$(/usr/bin/python3 -c 'import json,statistics,sys
r=[json.loads(l)["images_per_second"] for l in open(sys.argv[1])][2:]
print(statistics.median(r))' "$OUT/run/metrics.jsonl")
        echo "{\"rep\": $rep, \"batch\": $batch, \"threads\": $threads, \"impl\": \"$impl\", \"images_per_s\": $ips}" >> "$RESULTS"
      done
    done
  done
done

MEAN_MACS=$("$NAS" space sample --config configs/spos_shufflenet.yaml --n 2000 --seed 1 --json |
  /usr/bin/python3 -c 'import json,sys; a=json.load(sys.stdin); print(sum(x["flops"] for x in a)/len(a))')
/usr/bin/python3 - "$RESULTS" "$MEAN_MACS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
macs = float(sys.argv[2])
print(f"mean forward MACs of a uniformly sampled path: {macs / 1e6:.1f} M; "
      f"training work {3 * 2 * macs / 1e9:.2f} GFLOP per image")
before = any(r["impl"] == "nas_before" for r in rows)
print("| batch | threads | official SPOS img/s | nas train img/s | ratio | nas GFLOP/s | matmul GFLOP/s | share |"
      + (" nas train before img/s | after/before |" if before else ""))
print("|---|---|---|---|---|---|---|---|" + ("---|---|" if before else ""))
for batch in sorted({r["batch"] for r in rows}):
    for threads in sorted({r["threads"] for r in rows}, reverse=True):
        pick = lambda impl, key: [r[key] for r in rows if r["batch"] == batch and r["threads"] == threads and r["impl"] == impl]
        peer, nas, mm = pick("peer", "images_per_s"), pick("nas", "images_per_s"), pick("matmul", "gflops")
        if not (peer and nas and mm):
            continue
        p, n, m = statistics.median(peer), statistics.median(nas), statistics.median(mm)
        g = 3 * 2 * macs * n / 1e9
        line = (f"| {batch} | {threads} | {p:.1f} ({', '.join(f'{v:.1f}' for v in peer)}) | "
                f"{n:.1f} ({', '.join(f'{v:.1f}' for v in nas)}) | {n / p:.2f}x | {g:.1f} | {m:.0f} | {100 * g / m:.0f} % |")
        old = pick("nas_before", "images_per_s")
        if before and old:
            o = statistics.median(old)
            line += f" {o:.1f} ({', '.join(f'{v:.1f}' for v in old)}) | {n / o:.2f}x |"
        print(line)
PY
