#!/usr/bin/env bash
# The sanitizer half of the test command (scripts/test.sh runs it last):
# a runtime-only build (no MLIR) with clang, AddressSanitizer + UBSan and the
# libFuzzer targets, in build-sanitize/. Runs the runtime's unit tests under
# the sanitizers, two end-to-end parity tests with the sanitized fresco-run,
# then every fuzz target for FRESCO_FUZZ_SMOKE_SECONDS (5 s)
# over its seed corpus (test/fuzz/corpus, former crashes included).
# FRESCO_SANITIZE_BUILD_DIR overrides the build folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FRESCO_SANITIZE_BUILD_DIR:-$root/build-sanitize}
# The compiler tools for its e2e tests: the normal build's (scripts/test.sh
# builds it first); none there, no e2e tests.
compiler_bin=${FRESCO_BUILD_DIR:-$root/build}/bin
[ -x "$compiler_bin/fresco-compile" ] || compiler_bin=""
seconds=${FRESCO_FUZZ_SMOKE_SECONDS:-5}

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
  -DFRESCO_RUNTIME_ONLY=ON -DFRESCO_FUZZ=ON -DFRESCO_ENABLE_CUDA=OFF \
  -DFRESCO_FUZZ_SMOKE_SECONDS="$seconds" -DFRESCO_COMPILER_BIN="$compiler_bin" \
  "${launcher[@]}"
cmake --build "$build" -j2
# The tests set ASAN_OPTIONS/UBSAN_OPTIONS themselves (test/unit, and
# libFuzzer's defaults for the fuzz targets); leak checking stays on.
ctest --test-dir "$build" --output-on-failure -j2
