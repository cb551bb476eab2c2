#!/usr/bin/env bash
# The README's main command, end to end on a fresh machine:
#   1. installs what the project needs and builds the `nas` tool;
#   2. trains the quick supernet on Fashion-MNIST (a few minutes on 2 cores; resumes or
#      is skipped when runs/quickstart already has it);
#   3. starts the gRPC server on a free loopback port;
#   4. runs a FLOPs-constrained evolutionary search over gRPC with inherited weights;
#   5. fine-tunes the best subnet over gRPC from its inherited weights (about 5 minutes),
#      which writes its bundle (TorchScript and ONNX, any batch size, BN folded), reloaded
#      in C++ (LibTorch and OpenCV DNN), scored on all 10,000 test images and timed;
#   6. reloads the bundle in Python (torch.jit.load, cv2.dnn) and scores it again;
#   7. says where the Pareto plot and everything else are.
# Usage: bash nas/quickstart.sh [FLOPS_BOUND (default 2.3M)]
set -euo pipefail
cd "$(dirname "$0")/.."
BOUND=${1:-2.3M}
bash third_party/setup.sh
bazel build //nas:nas
NAS=bazel-bin/nas/nas
RUN=runs/quickstart
mkdir -p "$RUN"

echo "== search space"
$NAS space describe --config configs/spos_shufflenet_fmnist_quick.yaml

echo "== training the quick supernet ($RUN/supernet)"
if [ -f "$RUN/supernet/summary.json" ] && grep -q '"finished": true' "$RUN/supernet/summary.json"; then
  echo "already trained"
elif [ -f "$RUN/supernet/checkpoint.nasckpt" ]; then
  $NAS train --config configs/train_fmnist_quick.yaml --out "$RUN/supernet" --resume
else
  $NAS train --config configs/train_fmnist_quick.yaml --out "$RUN/supernet"
fi
CKPT=$(readlink -f "$RUN/supernet/checkpoint.nasckpt")

echo "== starting the server"
$NAS serve --port 0 --data-dir "$RUN/server" --allow-dir "$RUN" > "$RUN/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
PORT=""
for _ in $(seq 1 100); do
  PORT=$(sed -n 's/^nas server listening on [^ ]*:\([0-9][0-9]*\) .*/\1/p' "$RUN/server.log")
  [ -n "$PORT" ] && break
  kill -0 $SERVER 2>/dev/null || { cat "$RUN/server.log"; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "the server did not start"; cat "$RUN/server.log"; exit 1; }
echo "listening on 127.0.0.1:$PORT (log: $RUN/server.log)"

echo "== searching over gRPC: the most accurate subnet under flops<=$BOUND"
$NAS search --server "127.0.0.1:$PORT" --evaluator "supernet:$CKPT" --algorithm evolution \
  --constraint "flops<=$BOUND" --budget 40 --population 10 --parents 4 --seed 0 \
  --request-id "quickstart-$BOUND" | tee "$RUN/search.txt"
BEST=$(sed -n 's/^best arch: //p' "$RUN/search.txt")
JOBDIR=$(sed -n 's/^files: //p' "$RUN/search.txt")

echo "== fine-tuning the best subnet over gRPC from its inherited weights (about 5 minutes)"
$NAS finetune --server "127.0.0.1:$PORT" --checkpoint "$CKPT" --arch "$BEST" --config finetune_fmnist.yaml \
  --request-id "quickstart-finetune-$BOUND" | tee "$RUN/finetune.txt"
BUNDLE=$(sed -n 's/^bundle: //p' "$RUN/finetune.txt")

echo "== reloading the bundle in Python: subnet.pt with torch.jit.load, subnet.onnx with OpenCV DNN"
/usr/bin/python3 nas/python/check_bundle.py "$BUNDLE" --dataset fashion_mnist | tee "$RUN/python_check.json"

cat <<DONE

== where everything is
  supernet checkpoint:   $RUN/supernet/checkpoint.nasckpt (metrics: $RUN/supernet/metrics.jsonl)
  search result:         $JOBDIR/result.json
  Pareto plot (browser): $JOBDIR/plot.svg
  fine-tuned subnet:     $BUNDLE/subnet.pt (TorchScript), $BUNDLE/subnet.onnx (ONNX opset 10),
                         any batch size; metadata in $BUNDLE/subnet.json
  Python reload check:   $RUN/python_check.json (nas/python/check_bundle.py)
  server data:           $RUN/server (jobs.sqlite, evaluations.sqlite)
DONE
