#!/usr/bin/env bash
# gpu-bundle.sh: prepares, on a development machine, what bench/gpu-check.sh
# needs on a lent GPU machine. Those machines have nvcc, CMake, ninja and
# PyTorch, but not the rest of Fresco's toolchain (MLIR 22, FlatBuffers,
# Gloo, OpenBLAS, libspng, GoogleTest) and no network to fetch it. So the
# CUDA-enabled fresco-run and conformance test are built here (kernels for
# sm_80 and sm_90a), packed with the shared libraries they need beyond glibc
# and with the DiT and Flux plans compiled here (and the tiny random
# FluxPipeline that diffusers writes here), into build-gpu-bundle/bundle.tar.xz
# (ignored by git like every /build*/ folder). Then, through the device tool:
#   run(command="bash bench/gpu-check.sh", carry=["build-gpu-bundle"])
# FRESCO_BUILD_DIR overrides the build folder (default <repo>/build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FRESCO_BUILD_DIR:-$root/build}
bin=$build/bin
[ "$(uname -m)" = x86_64 ] || { echo "gpu-bundle: the GPU machines are x86-64; build the bundle on one" >&2; exit 2; }

# bf16/f16 attention through cuDNN's flash attention needs the cuDNN
# frontend's headers at build time (runtime/backends/cuda/CudnnFrontend.cmake):
# fetched from PyPI into the build folder when the build has none, and the
# build reconfigured to find them. --no-deps: the wheel's other packages are
# not needed for the headers.
if ! grep -q '^FRESCO_CUDNN_FRONTEND_INCLUDE_DIR:PATH=/' "$build/CMakeCache.txt"; then
  pip=$root/.venv/bin/pip
  [ -x "$pip" ] || pip="python3 -m pip"
  $pip install --quiet --no-deps --target "$build/_deps/cudnn-frontend" \
    nvidia-cudnn-frontend==1.32.0
  cmake -S "$root" -B "$build" -UFRESCO_CUDNN_FRONTEND_INCLUDE_DIR > /dev/null
fi
grep -q '^FRESCO_CUDNN_FRONTEND_INCLUDE_DIR:PATH=/' "$build/CMakeCache.txt" || {
  echo "gpu-bundle: the cuDNN frontend was not found; bf16/f16 attention would not use cuDNN" >&2; exit 2; }

# fresco-random-checkpoint too: gpu-artifacts.sh runs it (a stale or missing
# one would fail the bundle, or pack an old generation pipeline).
ninja -C "$build" -j2 fresco-run fresco-compile fresco-random-checkpoint \
  fresco-inspect backend_conformance_test float_storage_test nccl_test
nm -C "$bin/fresco-run" | grep createCudaBackend > /dev/null || {
  echo "gpu-bundle: $build has no CUDA backend (configure with -DFRESCO_ENABLE_CUDA=ON)" >&2; exit 2; }
# No PTX is kept: without sm_90 code no kernel would start on an H100/H200.
grep -q '^CMAKE_CUDA_ARCHITECTURES:STRING=.*90' "$build/CMakeCache.txt" || {
  echo "gpu-bundle: $build has no sm_90 kernels (configure with -DCMAKE_CUDA_ARCHITECTURES='80-real;90a-real')" >&2; exit 2; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/plans"
# fresco-inspect: phase 6's predictions (it links no MLIR).
cp "$bin/fresco-run" "$bin/fresco-inspect" "$bin/backend_conformance_test" \
  "$bin/float_storage_test" "$bin/nccl_test" "$stage/bin/"
strip --strip-unneeded "$stage"/bin/*
"$root/bench/gpu-artifacts.sh" "$bin" "$stage/plans"
[ -f "$stage/plans/flux-gen.fplan" ] && [ -f "$stage/plans/sd-gen-uly2.fplan" ] || {
  echo "gpu-bundle: no Flux or SD pipeline for phases 5b and 5c (FRESCO_PYTHON, default .venv/bin/python, needs diffusers and transformers)" >&2; exit 2; }
# Every shared library but glibc's own (the machine's glibc is as new or newer).
ldd "$stage"/bin/* | awk '/=> \// {print $3}' | sort -u |
  grep -vE '/(libc|libm|libpthread|libdl|librt|libresolv)\.so|/ld-linux' |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done
mkdir -p "$root/build-gpu-bundle"
tar -C "$stage" -cJf "$root/build-gpu-bundle/bundle.tar.xz" .
echo "gpu-bundle: wrote build-gpu-bundle/bundle.tar.xz ($(du -h "$root/build-gpu-bundle/bundle.tar.xz" | cut -f1)):"
tar -tJvf "$root/build-gpu-bundle/bundle.tar.xz" | awk '{print "  " $3 "\t" $6}'
