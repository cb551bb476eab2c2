#!/usr/bin/env bash
# Runs the whole test suite: installs the Debian packages the project needs (a no-op
# when they are there), builds everything with Bazel, runs every test, and ends with
# one summary line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bash third_party/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

# Shared read-only data (../shared/data): tests read it from here, never a copy.
export NAS_SHARED_DATA="${NAS_SHARED_DATA:-$(cd .. && pwd)/shared/data}"

extra=()
# In CI every test really runs (results are not taken from the disk cache).
if [ "${CI:-}" = "true" ]; then extra+=(--nocache_test_results); fi

log="$(mktemp)"
bazel test //... --test_env=NAS_SHARED_DATA "${extra[@]}" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE)' "$log")
rm -f "$log"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # The build itself failed.
fi
echo "${passed} passed, ${failed} failed"
exit "$status"
