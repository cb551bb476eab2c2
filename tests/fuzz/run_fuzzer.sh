#!/usr/bin/env bash
# Builds the libFuzzer target with clang (Debian's clang-14 and libclang-rt-14-dev, which
# third_party/setup.sh installs) in a separate Bazel output base, so the main gcc build
# cache is untouched, and fuzzes request validation and architecture parsing.
#
#   bash tests/fuzz/run_fuzzer.sh [SECONDS=120] [WORKDIR=runs/fuzz]
# New interesting inputs go to WORKDIR/corpus; crashes to WORKDIR/crash-*.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_BUDGET=${1:-120}
WORK=${2:-runs/fuzz}
mkdir -p "$WORK/corpus"
bazel --output_base="$HOME/.cache/supernet_nas/bazel-fuzz" build --config=fuzz --symlink_prefix=/ //tests/fuzz:request_fuzzer >&2
BIN="$(bazel --output_base="$HOME/.cache/supernet_nas/bazel-fuzz" info --config=fuzz bazel-bin 2>/dev/null)/tests/fuzz/request_fuzzer"
NAS_FUZZ_CONFIGS=configs TEST_TMPDIR="$WORK" "$BIN" -max_total_time="$SECONDS_BUDGET" -print_final_stats=1 \
  -artifact_prefix="$WORK/" "$WORK/corpus" tests/fuzz/corpus
