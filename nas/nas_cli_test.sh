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
echo "all CLI checks passed"
