#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test
# (GoogleTest, lit, end-to-end parity against diffusers on CPU PyTorch),
# then scripts/test-sanitize.sh: the runtime's unit tests under ASan + UBSan
# and a 5 s smoke run of every fuzz target, in a second build folder.
# FRESCO_BUILD_DIR overrides the build folder (default: <repo>/build);
# FRESCO_SKIP_SANITIZE=1 skips the second half.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FRESCO_BUILD_DIR:-$root/build}

"$root/scripts/install-deps.sh"
"$root/scripts/setup-venv.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir
cmake --build "$build" -j2
ctest --test-dir "$build" --output-on-failure -j2
if [ "${FRESCO_SKIP_SANITIZE:-0}" != 1 ]; then
  "$root/scripts/test-sanitize.sh"
fi
