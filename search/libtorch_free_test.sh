#!/usr/bin/env bash
# The search algorithms and the space model build without LibTorch: nothing on their
# dependency path (a genquery of deps(), computed by Bazel) is the torch library.
set -uo pipefail
deps="$1"
[ -s "$deps" ] || { echo "FAIL: empty dependency list $deps"; exit 1; }
grep -q "^//search:algorithms$" "$deps" || { echo "FAIL: the query did not cover //search:algorithms"; exit 1; }
grep -q "^//supernet:search_space$" "$deps" || { echo "FAIL: the query did not cover //supernet:search_space"; exit 1; }
if grep -E "^//third_party:torch$|libtorch" "$deps"; then
  echo "FAIL: LibTorch is on the dependency path of //search:algorithms or //supernet:search_space"
  exit 1
fi
echo "PASS: $(wc -l < "$deps") targets, none of them LibTorch"
