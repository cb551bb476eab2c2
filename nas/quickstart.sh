#!/usr/bin/env bash
# The README's main command: installs what the project needs, builds the `nas` tool
# and describes the shipped search spaces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash third_party/setup.sh
bazel build //nas:nas
bazel-bin/nas/nas space describe --config configs/spos_shufflenet.yaml configs/mbv2_macro.yaml configs/nb201.yaml "$@"
