#!/usr/bin/env bash
# Runs client_test.py (Debian's python3 with python3-grpcio) against a real `nas serve` on
# a free loopback port, with the tiny space and a slice of Fashion-MNIST.
set -uo pipefail
NAS="$PWD/nas/nas"
T="${TEST_TMPDIR:-/tmp}/py_client"
rm -rf "$T" && mkdir -p "$T/configs"
cp tests/tiny_space.yaml "$T/configs/tiny.yaml"
cat > "$T/configs/train_tiny.yaml" <<'YAML'
space: tiny.yaml
data: {dataset: fashion_mnist, validation_size: 64, train_limit: 128}
training: {seed: 1, batch_size: 32, steps: 6, checkpoint_every: 3, log_every: 1}
evaluation: {calibration_batches: 1, calibration_batch_size: 32, batch_size: 64}
YAML
"$NAS" serve --port 0 --data-dir "$T/data" --config-dir "$T/configs" --threads 1 >"$T/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
PORT=""
for _ in $(seq 1 300); do
  PORT=$(sed -n 's/^nas server listening on [^ ]*:\([0-9][0-9]*\) .*/\1/p' "$T/server.log")
  [ -n "$PORT" ] && break
  kill -0 $SERVER 2>/dev/null || { cat "$T/server.log"; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "the server did not start"; cat "$T/server.log"; exit 1; }
export NAS_SERVER="127.0.0.1:$PORT"
PYTHONPATH="$PWD/nas/python" /usr/bin/python3 nas/python/client_test.py
status=$?
if [ $status -eq 0 ]; then
  # The example script, as its docstring runs it.
  out=$(PYTHONPATH="$PWD/nas/python" /usr/bin/python3 nas/python/example_search.py --server "$NAS_SERVER" \
        --space tiny --evaluator cost --objective max:flops --constraint 'flops<=2M' --budget 5 2>"$T/example.err")
  echo "$out" | grep -q "^best: .* MFLOPs" || { echo "FAIL: example output: $out $(cat "$T/example.err")"; status=1; }
  grep -q "^generation 0: 5/5 evaluated" "$T/example.err" || { echo "FAIL: example progress: $(cat "$T/example.err")"; status=1; }
fi
[ $status -eq 0 ] || cat "$T/server.log"
exit $status
