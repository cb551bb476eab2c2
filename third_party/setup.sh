#!/usr/bin/env bash
# Installs every Debian package the project needs. Idempotent: when all packages
# are already installed it does nothing (no apt-get update, no network).
set -euo pipefail

PACKAGES=(
  bazel-bootstrap bazel-platforms bazel-rules-java
  g++ libtorch-dev libopenblas0-openmp
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libtbb-dev libyaml-cpp-dev libgtest-dev libgmock-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev libsqlite3-dev
  libjpeg62-turbo-dev libpng-dev zlib1g-dev libbenchmark-dev dataset-fashion-mnist
  clang-14 libclang-rt-14-dev libgloo-dev libjemalloc-dev
  python3-grpcio python3-protobuf
  libonnx-dev libopencv-dnn-dev python3-torch python3-opencv python3-onnx
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${#missing[@]} Debian package(s): ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done" >&2
