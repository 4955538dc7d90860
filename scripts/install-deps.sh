#!/usr/bin/env bash
# Installs the Debian packages Fresco builds and tests with, only when some are missing.
# clang-22 and its sanitizer/libFuzzer runtimes (and clang's OpenMP) build
# scripts/test-sanitize.sh's folder. python3-scipy is what diffusers' LMSDiscreteScheduler (the
# reference of Fresco's) integrates its coefficients with. The CUDA toolkit is not from apt: it is used when /usr/local/cuda exists.
set -euo pipefail

PKGS=(build-essential cmake ninja-build python3 python3-venv python3-numpy python3-torch
  python3-scipy
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools libzstd-dev
  flatbuffers-compiler flatbuffers-compiler-dev libflatbuffers-dev libgtest-dev
  libgloo-dev libopenmpi-dev openmpi-bin
  libopenblas-dev libopenblas0-pthread libspng-dev nlohmann-json3-dev
  libsentencepiece-dev libicu-dev
  clang-22 libclang-rt-22-dev libfuzzer-22-dev libomp-22-dev)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all Debian packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
