#!/usr/bin/env bash
# gpu-check.sh: the one command for a lent GPU machine. From the repo root,
# through the device tool (which sets $OUT):
#   run(command="bash bench/gpu-check.sh", carry=["build-gpu-bundle"],
#       timeout_s=540)
# Phases, each under its own timeout so the whole stays within 8 minutes:
#   1. find the tools and libraries (nvcc, cmake, ninja, NCCL, cuDNN, cuBLASLt,
#      torch) in the system or PyTorch's pip packages, and print them;
#      exit 3 at once if there is no GPU;
#   2. build: a source build in build-gpu/ with CUDA on where the machine has
#      Fresco's whole toolchain (MLIR 22 ...); else the bundle made by
#      bench/gpu-bundle.sh (the lent machines lack MLIR, FlatBuffers, Gloo,
#      OpenBLAS, libspng and GoogleTest, and cannot download them); plans
#      and generation weights come from bench/gpu-artifacts.sh;
#   3. the backend conformance suite: every CUDA case must run and pass (a
#      skip is a failure here), then compute-sanitizer memcheck over it;
#      a "CUDA graph capture failed" in its output fails it too (as in
#      4b and 4d, where "cuDNN attention unavailable" also does);
#   4. per DiT config (DiT-S/2 and DiT-XL/2 at 256 px, batch 2): transformer
#      forward with fresco-run --backend cuda --repeat vs PyTorch eager and
#      torch.compile on the same GPU (bench/gpu_dit.py, same weights and
#      inputs), achieved TFLOP/s against the card's measured f32 GEMM rate,
#      outputs compared with each other and with --backend cpu; then the
#      tp=2 (plain, --tp-reduce-scatter, --tp-chunks 2), ulysses=2 and ring=2
#      plans on 2 ranks sharing the one GPU (collectives
#      staged through the host): per-rank times, and outputs against 1 rank;
#      then ring=2 in bf16 (ring attention's blocks on cuDNN) against the
#      1-rank bf16 output within 5e-2;
#   4b. a DiT of Flux.1's width at 1024 px (models/dit/configs/
#      dit-flux-width-1024.json, random weights) in bf16: Fresco --dtype bf16
#      vs PyTorch eager and torch.compile in bf16, TFLOP/s against the
#      measured bf16 GEMM rate, and the same forward with each attention
#      choice side by side (the default: cuDNN where it takes the shape; fresco,
#      Fresco's tensor-core kernel; f32, its CUDA-core one), and FP8 GEMMs
#      (a plan compiled --gemm fp8) against bf16: time and error;
#   4c. attention alone in bf16 on Flux's and DiT-XL's shapes: Fresco's
#      three choices (backend_conformance_test's disabled
#      AttentionSpeed.DISABLED_Bf16) next to PyTorch's SDPA backends (cuDNN,
#      FlashAttention-2, memory-efficient; bench/gpu_attention.py);
#   4e. the memory-bound kernels (MulAdd, add, layer norm with and without
#      modulation, RMS norm, rotary embedding) at the Flux-width DiT's shapes in bf16 and f32:
#      time per call and GB/s against a device-to-device copy of as many
#      bytes in the same run (backend_conformance_test's disabled
#      KernelSpeed.DISABLED_Bandwidth; seconds);
#   4d. FLUX.1-dev's transformer (3072 wide, 24 heads x 128, 4096 image +
#      512 text tokens, batch 1) in bf16 with random weights drawn on the GPU
#      (bench/torch_flux.py make): Fresco --dtype bf16 vs the self-contained
#      PyTorch Flux (bench/torch_flux.py, proven against diffusers by
#      e2e-torch-flux) eager and torch.compile, each against PyTorch in f32.
#      By default 2 double + 4 single blocks (FLUX.1-dev's 1:2 ratio; 2.6 GB
#      of weights), the full model's time extrapolated by the FLOP ratio;
#      FRESCO_GPU_CHECK_FLUX_FULL=1 runs the real 19 + 38 blocks (23.8 GB
#      written and loaded three times: a call of its own, with
#      FRESCO_GPU_CHECK_PHASES=4d);
#   5. a 4-step generation (tiny DiT pipeline with CFG) on the GPU against
#      the same generation on the CPU;
#   6. the cost model on this card, inside phases 4 and 4b (with them,
#      right after each forward they measure, on its weights): fresco-run
#      --calibrate on the plan (tables in $OUT/calibration/, to ship in
#      share/calibrations), and fresco-inspect --predict with the table and
#      with the roofline next to the measured time
#      (bench/gpu-check-calibrate.sh);
#   5b. a 4-step text-to-image generation (tiny random FluxPipeline: CLIP and
#      T5 encoders and tokenizers, guidance embedded) on the GPU in f32 and
#      in bf16 against the CPU in f32: f32 within 1e-4; bf16 within twice
#      the distance of the CPU's emulation of the same bf16 storage
#      (--backend cpu-staged --dtype bf16) plus 1e-3;
#   5c. a 4-step generation of a tiny random StableDiffusionPipeline with
#      the UNet's latent rows split over 2 ranks sharing the GPU (ulysses=2:
#      halo exchanges, group norms over both bands; bench/gpu-check-unet.sh)
#      in f32 and bf16 against the 1-rank CPU run, bounds as in 5b.
# Prints one table last; the full log is $OUT/gpu-check.log.
# FRESCO_GPU_CHECK_CONFIGS picks phase 4's configs (default dit-xl-2-256, so
# that the Flux-width phase fits the budget; plans exist for dit-s-2-256 too).
# FRESCO_GPU_CHECK_PHASES="3 4 4b 4c 4e 4d 6 5 5b 5c" (any subset) reruns only those
# phases; "4d 5b" is the Flux check alone.
# FRESCO_GPU_CHECK_BUDGET (seconds, default 450): every step's timeout is cut
# to what is left of it (phases 3-4d leave the last 30 s to phase 5 and 30 s
# to 5b, when they are to run), and a step that would not fit is skipped, so
# the table prints within 8 minutes.
# FRESCO_GPU_CHECK_CPU=1 is a dry run of the script itself where there is no
# GPU: the local build (FRESCO_BUILD_DIR, default build/), backend cpu-staged
# for cuda, PyTorch on the CPU, dit-tiny; the test suite runs it this way so
# the script cannot rot between GPU sessions.
# Exit: 0 all passed, 1 a check failed, 2 setup/build failed, 3 no GPU.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dry=${FRESCO_GPU_CHECK_CPU:-0}
backend=cuda
[ "$dry" = 1 ] && backend=cpu-staged
OUT=${OUT:-$root/out/gpu-check}
mkdir -p "$OUT"
log=$OUT/gpu-check.log
: > "$log"
exec > >(tee -a "$log") 2>&1
tee_pid=$!
start=$(date +%s)
say() { printf '[gpu-check %3ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }
rows=()   # table rows: "check|result|detail"
row() { rows+=("$1|$2|$3"); }
failed=0
table() {
  echo
  printf '%-34s %-10s %s\n' "check" "result" "detail"
  printf '%-34s %-10s %s\n' "-----" "------" "------"
  for r in "${rows[@]}"; do
    IFS='|' read -r a b c <<< "$r"
    printf '%-34s %-10s %s\n' "$a" "$b" "$c"
  done
  echo "(full log: $log)"
}
# tee outlives the script by a moment: close its pipe and let it write the
# table before exiting (the device tool ends what is left when we return).
finish() {
  table
  exec >&- 2>&-
  for _ in $(seq 50); do kill -0 "$tee_pid" 2>/dev/null || break; sleep 0.1; done
  exit "$1"
}
budget=${FRESCO_GPU_CHECK_BUDGET:-450}
reserve=60   # seconds of the budget kept for phases 5 and 5b (set below)
left() { echo $(( budget - reserve - ($(date +%s) - start) )); }
# tmo SECONDS COMMAND...: timeout(1) cut to what is left of the budget (at
# least 1 s), and SIGKILL 10 s after SIGTERM for a process stuck in the driver.
tmo() {
  local s
  s=$(left)
  [ "$s" -gt "$1" ] && s=$1
  [ "$s" -lt 1 ] && s=1
  timeout -k 10 "$s" "${@:2}"
}
# speed_case CASE OUT: a disabled timing case of the CUDA conformance test
# (Cuda/CASE/cuda; without a GPU it skips) for up to 60 s, output to OUT;
# returns its exit code.
speed_case() {
  tmo 60 "$bindir/backend_conformance_test" --gtest_color=no --gtest_also_run_disabled_tests \
    --gtest_filter="Cuda/$1/cuda" > "$2" 2>&1
}

#=== 1. tools and libraries ===================================================
say "phase 1: tools"
# A mistyped phase would run nothing and pass.
for p in ${FRESCO_GPU_CHECK_PHASES:-}; do
  case $p in
    3|4|4b|4c|4d|4e|5|5b|5c|6) ;;
    *) row "phases" "FAIL" "FRESCO_GPU_CHECK_PHASES: no phase '$p' (3, 4, 4b, 4c, 4d, 4e, 6, 5, 5b, 5c)"; finish 2 ;;
  esac
done
PATH=$PATH:/usr/local/cuda/bin
py=${FRESCO_PYTHON:-$(command -v python3 || true)}
nvcc=$(command -v nvcc || true)
cmake_bin=$(command -v cmake || true)
ninja_bin=$(command -v ninja || true)
say "nvcc:  ${nvcc:-none} $([ -n "$nvcc" ] && "$nvcc" --version | tail -1)"
say "cmake: ${cmake_bin:-none} $([ -n "$cmake_bin" ] && "$cmake_bin" --version | head -1)"
say "ninja: ${ninja_bin:-none} $([ -n "$ninja_bin" ] && "$ninja_bin" --version)"
# PyTorch's pip packages carry CUDA libraries under site-packages/nvidia/*/lib.
site=""
torch_info="none"
if [ -n "$py" ]; then
  site=$(timeout 60 "$py" -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null || true)
  torch_info=$(timeout 60 "$py" -c 'import torch; print(torch.__version__, "cuda" if torch.cuda.is_available() else "no-cuda", torch.version.cuda)' 2>/dev/null || echo none)
fi
say "python: ${py:-none}; torch: $torch_info"
pip_libs=""
for s in $site; do
  for d in "$s"/nvidia/*/lib; do [ -d "$d" ] && pip_libs="$pip_libs:$d"; done
done
find_lib() { # name: prints where libNAME.so* is found (system first, then pip)
  local hit
  hit=$(ldconfig -p 2>/dev/null | awk -v n="lib$1.so" '$1 ~ "^"n {print $NF; exit}')
  [ -z "$hit" ] && hit=$(ls /usr/local/cuda/lib64/lib"$1".so* 2>/dev/null | head -1)
  [ -z "$hit" ] && hit=$(IFS=:; for d in $pip_libs; do ls "$d"/lib"$1".so* 2>/dev/null; done | head -1)
  echo "${hit:-not found}"
}
# cuDNN compiles its flash attention kernels at run time with NVRTC.
for l in cudart cublasLt nccl cudnn nvrtc; do say "lib$l: $(find_lib "$l")"; done
row "tools" "info" "nvcc $([ -n "$nvcc" ] && "$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p' || echo none), torch $torch_info"

if [ "$dry" = 1 ]; then
  gpu="none (dry run on the CPU), -, -, -"
else
  gpu=$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1) || gpu=""
fi
if [ -z "$gpu" ]; then
  say "no GPU on this machine (nvidia-smi gave nothing): nothing to check."
  say "run this on a lent GPU machine: run(command=\"bash bench/gpu-check.sh\", carry=[\"build-gpu-bundle\"])"
  row "gpu" "none" "no GPU (nvidia-smi gave nothing)"
  finish 3
fi
say "GPU: $gpu"
row "gpu" "info" "$(echo "$gpu" | head -1)"
cap=$(echo "$gpu" | head -1 | awk -F', ' '{print $4}' | tr -d .)

#=== 2. build =================================================================
say "phase 2: build"
bindir="" libdir="" plans=""
mlir_dir=${MLIR_DIR:-/usr/lib/llvm-22/lib/cmake/mlir}
if [ "$dry" = 1 ]; then
  bindir=${FRESCO_BUILD_DIR:-$root/build}/bin
  plans=$root/build-gpu/plans-dry
  export FRESCO_GPU_CHECK_CONFIGS=${FRESCO_GPU_CHECK_CONFIGS:-dit-tiny}
  export FRESCO_GPU_CHECK_FLUX=${FRESCO_GPU_CHECK_FLUX:-dit-tiny}
  export FRESCO_GPU_CHECK_FLUX_DEV=${FRESCO_GPU_CHECK_FLUX_DEV:-$root/models/flux/configs/flux-tiny.json}
  export FRESCO_GPU_CHECK_FLUX_DEV_SHAPE=${FRESCO_GPU_CHECK_FLUX_DEV_SHAPE:-64 32 8 1}
  bench/gpu-artifacts.sh "$bindir" "$plans" || { row "build" "FAIL" "gpu-artifacts.sh"; finish 2; }
  row "build" "ok" "dry run with $bindir"
elif [ -n "$cmake_bin" ] && [ -n "$ninja_bin" ] && [ -n "$nvcc" ] && [ -d "$mlir_dir" ]; then
  arch=${cap:+${cap}-real}
  [ "$cap" = 90 ] && arch=90a-real
  say "source build in build-gpu/ (CUDA architectures ${arch:-80-real;90a-real})"
  if timeout 120 "$cmake_bin" -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
       -DMLIR_DIR="$mlir_dir" -DFRESCO_ENABLE_CUDA=ON \
       -DCMAKE_CUDA_COMPILER="$nvcc" ${arch:+-DCMAKE_CUDA_ARCHITECTURES=$arch} \
     && timeout 300 "$ninja_bin" -C build-gpu fresco-run fresco-compile \
          fresco-random-checkpoint backend_conformance_test float_storage_test nccl_test \
     && bench/gpu-artifacts.sh build-gpu/bin build-gpu/plans; then
    bindir=build-gpu/bin plans=build-gpu/plans
    row "build" "ok" "source build, build-gpu/"
  else
    say "source build failed; trying the bundle"
  fi
else
  say "no source build here (needs cmake, ninja, nvcc and MLIR 22 at $mlir_dir)"
fi
if [ -z "$bindir" ]; then
  if [ ! -f build-gpu-bundle/bundle.tar.xz ]; then
    say "no build-gpu-bundle/bundle.tar.xz: run bench/gpu-bundle.sh on the development machine and carry build-gpu-bundle"
    row "build" "FAIL" "no source build possible and no bundle"
    finish 2
  fi
  rm -rf build-gpu/bundle && mkdir -p build-gpu/bundle
  # tar -J needs the xz program, which a minimal image may lack: Python's
  # lzma module unpacks it too.
  tar -C build-gpu/bundle -xJf build-gpu-bundle/bundle.tar.xz ||
    "$py" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
      build-gpu-bundle/bundle.tar.xz build-gpu/bundle ||
    { row "build" "FAIL" "bundle did not unpack"; finish 2; }
  bindir=build-gpu/bundle/bin libdir=$root/build-gpu/bundle/lib plans=build-gpu/bundle/plans
  # The bundle carries the development machine's GCC runtime (libstdc++ ...).
  # First on the library path, an older one would be loaded for the CUDA
  # libraries fresco-run dlopens too: where the machine's libstdc++ is as
  # new, the machine's runtime libraries are used instead.
  ldcache=$(ldconfig -p 2>/dev/null)
  glibcxx() { grep -ao 'GLIBCXX_3\.4\.[0-9]*' "$1" 2>/dev/null | sort -uV | tail -1; }
  sys_cxx=$(awk '$1 == "libstdc++.so.6" && /x86-64/ {print $NF; exit}' <<< "$ldcache")
  if [ -n "$sys_cxx" ] && [ -f "$libdir/libstdc++.so.6" ]; then
    ours=$(glibcxx "$libdir/libstdc++.so.6") theirs=$(glibcxx "$sys_cxx")
    if [ -n "$theirs" ] && [ "$(printf '%s\n' "$ours" "$theirs" | sort -V | tail -1)" = "$theirs" ]; then
      mkdir -p "$libdir/unused"
      for l in libstdc++.so.6 libgcc_s.so.1 libgomp.so.1 libgfortran.so.5 libquadmath.so.0; do
        if [ -f "$libdir/$l" ] && grep -q "^[[:space:]]*$l (.*x86-64" <<< "$ldcache"; then mv "$libdir/$l" "$libdir/unused/"; fi
      done
      say "the machine's GCC runtime ($theirs) is as new as the bundle's ($ours): using it"
    fi
  fi
  row "build" "ok" "prebuilt bundle (bench/gpu-bundle.sh)"
fi
# Python (PyTorch) keeps the caller's library path: the bundle's libraries,
# or /usr/local/cuda's ahead of PyTorch's own pip CUDA libraries, could break
# `import torch` or torch.compile after the probe above said it works.
if [ "$dry" != 1 ] && [ -n "$py" ]; then
  pyw=$root/build-gpu/python3
  { echo '#!/usr/bin/env bash'
    if [ -n "${LD_LIBRARY_PATH+set}" ]; then printf 'export LD_LIBRARY_PATH=%q\n' "$LD_LIBRARY_PATH"
    else echo 'unset LD_LIBRARY_PATH'; fi
    printf 'exec %q "$@"\n' "$py"; } > "$pyw" && chmod +x "$pyw" && py=$pyw
fi
# For Fresco's binaries: the bundle's libraries, then the system's and
# PyTorch's CUDA libraries (cuBLASLt is loaded at run time: the
# configure-time path, else these).
[ "$dry" = 1 ] || export LD_LIBRARY_PATH=${libdir:+$libdir:}/usr/local/cuda/lib64${pip_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# A binary that cannot start (a missing library) is a setup failure.
if ! version=$("$bindir/fresco-run" --version 2>&1); then
  say "$bindir/fresco-run does not start: $version"
  row "build" "FAIL" "fresco-run does not start: $(echo "$version" | head -1 | cut -c1-70)"
  finish 2
fi
say "$bindir/fresco-run: $version"

# The CUDA backend's messages (runtime/backends/cuda) that fail a phase even
# where the run succeeds: a CUDA graph capture that fell back to kernel by
# kernel, and bf16/f16 attention that fell back from cuDNN to Fresco's
# kernel (4b and 4d measure cuDNN's).
capture_msg='CUDA graph capture failed'
cudnn_att_msg='cuDNN attention unavailable'
# log_findings LOG...: the first of those messages in the logs ("" if none).
log_findings() {
  grep -h -m1 -o -e "$capture_msg.*" -e "$cudnn_att_msg.*" "$@" 2>/dev/null | head -1 | cut -c1-80
}

# FRESCO_GPU_CHECK_PHASES="3 4b" reruns only those phases (after a fix,
# within what is left of the device time); phases 1-2 always run.
want() { [ -z "${FRESCO_GPU_CHECK_PHASES:-}" ] || [[ " $FRESCO_GPU_CHECK_PHASES " == *" $1 "* ]]; }
# The last seconds of the budget are the generation checks' (30 s each).
reserve=0
want 5 && reserve=$((reserve + 30))
want 5b && reserve=$((reserve + 30))
want 5c && reserve=$((reserve + 30))

#=== 3. conformance ===========================================================
if want 3; then
say "phase 3: conformance"
conf=$OUT/conformance.txt
FRESCO_CUDA_SYNC=1 tmo 180 "$bindir/backend_conformance_test" --gtest_color=no > "$conf" 2>&1
rc=$?
# bf16/f16 storage: every kernel on 2-byte tensors against its rounded reference.
tmo 60 "$bindir/float_storage_test" --gtest_color=no >> "$conf" 2>&1 || rc=1
# cuDNN attention once more without FRESCO_CUDA_SYNC, which turns graph
# capture off: its CUDA-graph case then replays for real.
tmo 120 "$bindir/backend_conformance_test" --gtest_color=no \
  --gtest_filter='*CudnnAttentionTest*' >> "$conf" 2>&1 || rc=1
cat "$conf"
# The dry run holds the CPU cases to what the CUDA ones must meet here.
kc=cuda
[ "$dry" = 1 ] && kc=cpu
passed=$(grep -c "^\[       OK \] .*/$kc" "$conf")
skipped=$(grep -c "^\[  SKIPPED \] .*/$kc[_a-z0-9]* " "$conf")
failures=$(grep "^\[  FAILED  \] .*/$kc[_a-z0-9]*, " "$conf" | sed 's/.*\.\([A-Za-z0-9]*\)\/.*/\1/' | tr '\n' ' ')
# A capture that failed fell back to kernel by kernel: the cases still
# pass, but a run would lose its CUDA graphs.
capture_failed=$(grep -m1 -o "$capture_msg.*" "$conf" | cut -c1-80)
if [ -n "$capture_failed" ]; then
  failed=1; row "conformance graph capture" "FAIL" "$capture_failed"
fi
# Whether cuBLASLt took the gated GEMM (the gate as a device alpha vector,
# documented for its int8 kernels only) or the backend fell back to a GEMM
# and a * b + c: both are exact, so a fact to record, not a failure.
if [ "$dry" != 1 ]; then
  gated=$(grep -m1 -o 'cuBLASLt runs no gated GEMM.*' "$conf" | cut -c1-80)
  row "gated GEMM (alpha vector)" "info" "${gated:-one cuBLASLt call per gated linear}"
fi
if [ $rc -eq 0 ] && [ "$skipped" -eq 0 ] && [ "$passed" -gt 0 ]; then
  row "conformance ($kc)" "ok" "$passed cases passed"
else
  failed=1
  reason=$(grep -m1 'no CUDA device' "$conf")
  row "conformance ($kc)" "FAIL" "rc $rc, $passed passed, $skipped skipped ${reason:+($reason) }${failures:+failed: $failures}"
fi
# NCCL on one rank (the plumbing; several GPUs are not lent).
if [ "$dry" != 1 ] && [ -x "$bindir/nccl_test" ]; then
  tmo 60 "$bindir/nccl_test" --gtest_color=no > "$OUT/nccl.txt" 2>&1
  rc=$?
  cat "$OUT/nccl.txt"
  if [ $rc -eq 0 ] && grep -q '^\[  PASSED  \] [0-9]* test' "$OUT/nccl.txt" &&
     ! grep -q '^\[  SKIPPED \]' "$OUT/nccl.txt"; then
    row "nccl (1 rank, device memory)" "ok" "collectives queued on the CUDA stream and captured in a CUDA graph"
  else
    failed=1; row "nccl (1 rank, device memory)" "FAIL" "rc $rc: $(grep -m1 -i 'skipped\|failure\|error' "$OUT/nccl.txt" | cut -c1-70)"
  fi
fi
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
[ "$dry" = 1 ] && sanitizer=""
if [ -n "$sanitizer" ]; then
  say "compute-sanitizer memcheck (the DiT-sized case and cuDNN attention's own suite left out for time)"
  # Fresco's own attention kernels: cuDNN's graph builds per shape under the
  # sanitizer would eat the budget (and cuDNN is not ours to check).
  tmo 90 env FRESCO_CUDA_ATTENTION=fresco "$sanitizer" --tool memcheck --error-exitcode 9 \
    "$bindir/backend_conformance_test" --gtest_filter='*/cuda:-*DiTBlock*:*CudnnAttentionTest*' \
    > "$OUT/memcheck.txt" 2>&1
  rc=$?
  tail -5 "$OUT/memcheck.txt"
  # gVisor machines refuse the sanitizer ("Device not supported"): that is
  # the runtime, not a finding.
  grep -q 'Device not supported' "$OUT/memcheck.txt" && rc=unsupported
  # Cases skipped under the sanitizer (no usable device there) checked nothing.
  m_ok=$(grep -c '^\[       OK \]' "$OUT/memcheck.txt")
  m_skip=$(grep -c '^\[  SKIPPED \] .*/cuda ' "$OUT/memcheck.txt")
  [ "$rc" = 0 ] && { [ "$m_ok" -eq 0 ] || [ "$m_skip" -gt 0 ]; } && rc=skipped
  case $rc in
    0) row "memcheck (cuda)" "ok" "no errors in $m_ok cases" ;;
    skipped) row "memcheck (cuda)" "n/a" "$m_ok cases ran, $m_skip skipped under compute-sanitizer" ;;
    unsupported) row "memcheck (cuda)" "n/a" "compute-sanitizer: Device not supported on this runtime" ;;
    124|137) row "memcheck (cuda)" "timeout" "90 s limit (or the budget's)" ;;
    *) failed=1; row "memcheck (cuda)" "FAIL" "rc $rc: $(grep -m1 'Invalid\|ERROR' "$OUT/memcheck.txt" | cut -c1-70)" ;;
  esac
fi

fi # phase 3

#=== 4. DiT forward: Fresco vs PyTorch eager and torch.compile =================
say "phase 4: DiT forward benchmark"
work=build-gpu/dit
mkdir -p "$work"
tdev=cpu
[[ $torch_info == *" cuda "* ]] && [ "$dry" != 1 ] && tdev=cuda
# On the GPU machine, PyTorch on the CPU would only burn the budget (the
# Flux-width forward takes minutes there): its runs are left out, a failure.
torch_runs=1
if [ "$dry" != 1 ] && [ $tdev = cpu ] && { want 4 || want 4b || want 4d; }; then
  torch_runs=0 failed=1
  row "pytorch on the GPU" "FAIL" "torch: $torch_info; PyTorch timings and parity left out"
fi
# The last line: a stray print before the JSON must not hide it.
jget() { "$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])' "$1" "$2"; }
median() { # "a b c ..." -> median
  tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
# "run a b c s" of fresco-run --stats (optionally of one rank) -> median ms,
# the first run (load and warm-up) left out; "n/a" where there is none.
# gen_run DIR NAME ARGS...: fresco-run ARGS (a generation) writing
# DIR/NAME.{png,npy,log}; says the return code and the log's tail when it
# fails, and returns it.
gen_run() {
  local dir=$1 name=$2
  shift 2
  tmo 90 "$bindir/fresco-run" "$@" -o "$dir/$name.png" \
    --output-latents "@$dir/$name.npy" > "$dir/$name.log" 2>&1
  local rc=$?
  [ $rc -eq 0 ] || { say "fresco-run ($name): rc $rc"; tail -5 "$dir/$name.log"; }
  return $rc
}
# gen_parity DIR LABEL: a generation's rows "LABEL f32" and "LABEL bf16"
# against the CPU. The caller sets gen_ref (the reference's fresco-run
# arguments, run on cpu in f32) and gen_dev (the checked run's: on $backend
# in f32 and bf16, and on cpu-staged in bf16), both without --backend. f32
# within 1e-4 of the reference's max magnitude; bf16 within twice the
# distance of the CPU's emulation of the same storage, plus 1e-3.
gen_parity() {
  local g=$1 label=$2 have_cpu=0
  gen_run "$g" cpu "${gen_ref[@]}" --backend cpu && have_cpu=1
  if [ $have_cpu = 1 ] && gen_run "$g" f32 "${gen_dev[@]}" --backend "$backend" &&
     "$py" bench/gpu_dit.py compare "$g/f32.npy" "$g/cpu.npy" --tol 1e-4 > "$g/cmp-f32.txt"; then
    row "$label f32" "ok" "latents vs cpu: $(cat "$g/cmp-f32.txt")"
  else
    failed=1
    row "$label f32" "FAIL" "$(cat "$g/cmp-f32.txt" 2>/dev/null || grep -h -m1 -i error "$g"/*.log | cut -c1-80)"
  fi
  if [ $have_cpu = 1 ] && gen_run "$g" bf16 "${gen_dev[@]}" --backend "$backend" --dtype bf16 &&
     gen_run "$g" staged "${gen_dev[@]}" --backend cpu-staged --dtype bf16 &&
     "$py" bench/gpu_dit.py compare-ref "$g/bf16.npy" "$g/staged.npy" "$g/cpu.npy" \
       --labels "$backend,cpu-staged" > "$g/cmp-bf16.txt"; then
    row "$label bf16" "ok" "latents $(cat "$g/cmp-bf16.txt")"
  else
    failed=1
    row "$label bf16" "FAIL" "$(cat "$g/cmp-bf16.txt" 2>/dev/null || grep -h -m1 -i error "$g"/*.log | cut -c1-80)"
  fi
}
run_ms() { # log [rank]
  local pat='^fresco-run: load'
  [ -n "${2:-}" ] && pat="^\\[rank $2\\] fresco-run: load"
  grep "$pat" "$1" | sed -n 's/.* run \([0-9. ]*\) s,.*/\1/p' | cut -d' ' -f2- | median |
    awk '{if ($1 == "nan") print "n/a"; else printf "%.2f", $1 * 1000}'
}
# tflops FLOPS MS DIGITS: FLOPs over milliseconds in TFLOP/s ("n/a" without a time).
tflops() { awk -v f="$1" -v ms="$2" -v n="$3" 'BEGIN {if (ms + 0 > 0 && f + 0 > 0) printf "%." n "f", f / (ms / 1000) / 1e12; else print "n/a"}'; }
# ms_of FILE DIGITS: gpu_dit.py time's median_s in milliseconds.
ms_of() { awk -v s="$(jget "$1" median_s)" -v n="$2" 'BEGIN {if (s != "") printf "%." n "f", s * 1000; else print "n/a"}'; }
# compile_time OUT TIMEOUT DIGITS ARGS...: gpu_dit.py time --compile ARGS,
# its JSON in OUT.json (stderr OUT.err); prints its median ms, or what
# happened instead (n/a: this torch has no torch.compile).
compile_time() {
  local out=$1 secs=$2 digits=$3
  shift 3
  tmo "$secs" "$py" bench/gpu_dit.py time "$@" --compile > "$out.json" 2> "$out.err"
  case $? in
    0) cat "$out.json" >&2; ms_of "$out.json" "$digits" ;;
    4) echo "n/a ($(cut -c1-40 "$out.err"))" ;;
    124|137) tail -3 "$out.err" >&2; echo timeout ;;
    *) tail -3 "$out.err" >&2; echo failed ;;
  esac
}
peak=""
rm -f "$work/peak.json"
# Forward times (ms) by "config dtype", for phase 6's predictions.
declare -A measured_ms=()
# shellcheck source=bench/gpu-check-calibrate.sh
. bench/gpu-check-calibrate.sh
want 6 && calibration_setup
if { want 4 || want 4b || want 4d; } && [ $torch_runs = 1 ] &&
   tmo 60 "$py" bench/gpu_dit.py peak --device $tdev $([ $tdev = cpu ] && echo --size 512) > "$work/peak.json"; then
  cat "$work/peak.json"
  peak=$(jget "$work/peak.json" f32_tflops)
  row "f32 GEMM rate ($tdev)" "info" "$peak TFLOP/s (torch.mm, TF32 off)"
fi
if want 4; then
for cfg in ${FRESCO_GPU_CHECK_CONFIGS:-dit-xl-2-256}; do
  say "== $cfg, batch 2"
  if [ "$(left)" -lt 120 ]; then
    row "$cfg" "skipped" "under 120 s of the budget left"; continue
  fi
  d=$work/$cfg
  plan=$plans/$cfg-b2.fplan
  # Nothing of an earlier run (a rerun on a warm machine) may stand in for
  # this one's results.
  rm -rf "$d"
  if ! tmo 120 "$py" bench/gpu_dit.py make --config models/dit/configs/$cfg.json \
         --out "$d" --batch 2 --device $tdev; then
    failed=1; row "$cfg" "FAIL" "could not write weights (torch missing?)"; continue
  fi
  args=(--weights "$d/model" --function transformer
        --input "@$d/in/latents.npy" --input "@$d/in/timestep.npy" --input "@$d/in/class_labels.npy")
  tmo 150 "$bindir/fresco-run" "$plan" "${args[@]}" --backend $backend --repeat 11 --stats \
    --output "@$d/fresco-gpu.npy" > "$d/gpu.log" 2>&1
  rc=$?
  cat "$d/gpu.log"
  if [ $rc -ne 0 ]; then
    failed=1; row "$cfg fresco $backend" "FAIL" "rc $rc: $(grep -m1 error "$d/gpu.log" | cut -c1-80)"; continue
  fi
  fresco_ms=$(run_ms "$d/gpu.log")
  replays=$(sed -n 's/.*, \([0-9]*\) replayed$/\1/p' "$d/gpu.log" | head -1)
  tmo 150 "$bindir/fresco-run" "$plan" "${args[@]}" --backend $backend --repeat 11 --stats \
    --graphs off > "$d/nograph.log" 2>&1 && nograph_ms=$(run_ms "$d/nograph.log") || nograph_ms=failed
  tmo 60 "$bindir/fresco-run" "$plan" "${args[@]}" --backend $backend --repeat 3 --profile \
    > "$d/profile.log" 2>&1 && sed -n '/profile over/,$p' "$d/profile.log"
  # The same forward with bf16 storage (--dtype bf16): time, and distance
  # from f32 (bf16 keeps 8 bits: about 1e-2 is expected, O(1) is a bug).
  bf16_ms=failed
  if tmo 150 "$bindir/fresco-run" "$plan" "${args[@]}" --backend $backend --dtype bf16 \
       --repeat 11 --stats --output "@$d/fresco-bf16.npy" > "$d/bf16.log" 2>&1; then
    bf16_ms=$(run_ms "$d/bf16.log")
    if "$py" bench/gpu_dit.py compare "$d/fresco-bf16.npy" "$d/fresco-gpu.npy" --tol 5e-2 > "$d/cmp-bf16.txt"; then
      row "$cfg bf16 vs f32" "ok" "$(cat "$d/cmp-bf16.txt")"
    else
      failed=1; row "$cfg bf16 vs f32" "FAIL" "$(cat "$d/cmp-bf16.txt")"
    fi
  else
    failed=1; row "$cfg fresco bf16" "FAIL" "$(grep -m1 error "$d/bf16.log" | cut -c1-80)"
  fi
  flops=$("$py" bench/gpu_dit.py flops --config models/dit/configs/$cfg.json --batch 2 > "$d/flops.json" && jget "$d/flops.json" total)
  tf=$(tflops "$flops" "$fresco_ms" 2)
  share=${peak:+$(awk -v t="$tf" -v p="$peak" 'BEGIN {if (t != "n/a") printf "%.0f%%", 100 * t / p; else print "n/a"}')}
  eager_ms="-" compile_ms="-"
  if [ $torch_runs = 1 ] && tmo 150 "$py" bench/gpu_dit.py time --model "$d/model" --inputs "$d/in" --device $tdev \
       --runs 10 --out "$d/torch.npy" > "$d/eager.json"; then
    cat "$d/eager.json"
    eager_ms=$(ms_of "$d/eager.json" 2)
    if "$py" bench/gpu_dit.py compare "$d/fresco-gpu.npy" "$d/torch.npy" --tol 1e-4 > "$d/cmp-torch.txt"; then
      row "$cfg parity vs torch $tdev" "ok" "$(cat "$d/cmp-torch.txt")"
    else
      failed=1; row "$cfg parity vs torch $tdev" "FAIL" "$(cat "$d/cmp-torch.txt")"
    fi
  elif [ $torch_runs = 1 ]; then
    # No PyTorch output: the parity check did not happen, which is a failure.
    eager_ms=failed failed=1
    row "$cfg parity vs torch $tdev" "FAIL" "gpu_dit.py time (eager) failed: see the log"
  fi
  if [ $torch_runs = 1 ]; then
    compile_ms=$(compile_time "$d/compile" 180 2 --model "$d/model" --inputs "$d/in" \
      --device $tdev --runs 10)
  fi
  # PyTorch in bf16 on the same weights, against Fresco's bf16 forward
  # (issue 12: keep DiT-XL/2's lead in bf16); compile where it fits.
  beager_ms="-" bcompile_ms="-"
  if [ $torch_runs = 1 ] && tmo 120 "$py" bench/gpu_dit.py time --model "$d/model" --inputs "$d/in" \
       --device $tdev --dtype bfloat16 --runs 10 > "$d/eager-bf16.json"; then
    cat "$d/eager-bf16.json"
    beager_ms=$(ms_of "$d/eager-bf16.json" 2)
    if [ "$(left)" -ge 240 ]; then
      bcompile_ms=$(compile_time "$d/compile-bf16" 150 2 --model "$d/model" --inputs "$d/in" \
        --device $tdev --dtype bfloat16 --runs 10)
    else
      bcompile_ms="skipped (time)"
    fi
  elif [ $torch_runs = 1 ]; then
    beager_ms=failed
  fi
  if tmo 120 "$bindir/fresco-run" "$plan" "${args[@]}" --backend cpu --output "@$d/fresco-cpu.npy" > "$d/cpu.log" 2>&1 &&
     "$py" bench/gpu_dit.py compare "$d/fresco-gpu.npy" "$d/fresco-cpu.npy" --tol 1e-4 > "$d/cmp-cpu.txt"; then
    row "$cfg parity vs fresco cpu" "ok" "$(cat "$d/cmp-cpu.txt")"
  else
    failed=1; row "$cfg parity vs fresco cpu" "FAIL" "$(cat "$d/cmp-cpu.txt" 2>/dev/null || tail -1 "$d/cpu.log")"
  fi
  measured_ms["$cfg f32"]=$fresco_ms measured_ms["$cfg bf16"]=$bf16_ms
  row "$cfg forward b2 (ms)" "timing" "fresco $fresco_ms ($tf TFLOP/s${share:+, $share of f32 GEMM}; ${replays:-0}/11 runs graph replays; without graphs $nograph_ms; bf16 $bf16_ms), torch eager $eager_ms, torch.compile $compile_ms"
  row "$cfg forward b2 bf16 (ms)" "timing" "fresco $bf16_ms, torch eager bf16 $beager_ms, torch.compile bf16 $bcompile_ms"
  if want 6; then # phase 6 on these weights, while they are here
    calibrate_one "$cfg f32" "$plan" "$d/model" f32
    calibrate_one "$cfg bf16" "$plan" "$d/model" bf16
  fi

  # Tensor, Ulysses and ring parallel on 2 ranks sharing this one device.
  for par in tp2 tp2rs tp2ch2 uly2 ring2; do
    case $par in
      tp2) label="$cfg tp=2" ;; tp2rs) label="$cfg tp=2 --tp-reduce-scatter" ;;
      tp2ch2) label="$cfg tp=2 --tp-chunks 2" ;;
      uly2) label="$cfg ulysses=2" ;; *) label="$cfg ring=2" ;;
    esac
    [ -f "$plans/$cfg-b2-$par.fplan" ] || { row "$label on one device" "n/a" "no plan (older bundle)"; continue; }
    tmo 150 "$bindir/fresco-run" "$plans/$cfg-b2-$par.fplan" "${args[@]}" --ranks 2 \
      --backend $backend --repeat 11 --stats --output "@$d/$par.npy" > "$d/$par.log" 2>&1
    rc=$?
    cat "$d/$par.log"
    if [ $rc -ne 0 ]; then
      failed=1; row "$label on one device" "FAIL" "rc $rc: $(grep -m1 error "$d/$par.log" | cut -c1-80)"
    elif "$py" bench/gpu_dit.py compare "$d/$par.npy" "$d/fresco-gpu.npy" --tol 1e-4 > "$d/cmp-$par.txt"; then
      via=$(grep -m1 -o 'collectives staged through the host (Gloo): .*' "$d/$par.log" | cut -c1-60)
      row "$label on one device" "ok" "vs 1 rank: $(cat "$d/cmp-$par.txt"); ms per rank: $(run_ms "$d/$par.log" 0), $(run_ms "$d/$par.log" 1) (1 rank $fresco_ms); ${via:-comm: $([ $backend = cuda ] && echo nccl || echo gloo)}"
    else
      failed=1; row "$label on one device" "FAIL" "$(cat "$d/cmp-$par.txt")"
    fi
  done
  # Ring attention's blocks in bf16 (attentionBlock on cuDNN, its stats
  # merged) inside a real ring: the f32 plans above never reach cuDNN.
  # Against the 1-rank bf16 forward: both round to bf16, differently.
  label="$cfg ring=2 bf16"
  if [ ! -f "$plans/$cfg-b2-ring2.fplan" ] || [ ! -s "$d/fresco-bf16.npy" ]; then
    row "$label on one device" "n/a" "no ring2 plan or no 1-rank bf16 output"
  elif [ "$(left)" -lt 40 ]; then
    row "$label on one device" "skipped" "under 40 s of the budget left"
  else
    tmo 90 "$bindir/fresco-run" "$plans/$cfg-b2-ring2.fplan" "${args[@]}" --ranks 2 \
      --backend $backend --dtype bf16 --repeat 3 --stats --output "@$d/ring2-bf16.npy" \
      > "$d/ring2-bf16.log" 2>&1
    rc=$?
    cat "$d/ring2-bf16.log"
    finding=$(log_findings "$d/ring2-bf16.log")
    if [ $rc -ne 0 ]; then
      failed=1; row "$label on one device" "FAIL" "rc $rc: $(grep -m1 error "$d/ring2-bf16.log" | cut -c1-80)"
    elif [ -n "$finding" ]; then
      failed=1; row "$label on one device" "FAIL" "$finding"
    elif "$py" bench/gpu_dit.py compare "$d/ring2-bf16.npy" "$d/fresco-bf16.npy" --tol 5e-2 > "$d/cmp-ring2-bf16.txt"; then
      row "$label on one device" "ok" "vs 1 rank bf16: $(cat "$d/cmp-ring2-bf16.txt"); ms per rank: $(run_ms "$d/ring2-bf16.log" 0), $(run_ms "$d/ring2-bf16.log" 1)"
    else
      failed=1; row "$label on one device" "FAIL" "$(cat "$d/cmp-ring2-bf16.txt")"
    fi
  fi
done

fi # phase 4

#=== 4b. the Flux-width DiT at 1024 px in bf16 ================================
# FP8 GEMMs (a plan compiled --dtype bf16 --gemm fp8: the blocks' token-wise
# linears) on 4b's weights and inputs, after its bf16 run ($f_ms, fresco.npy):
# the time side by side (the issue's target: 1.3x faster) and the error
# against PyTorch in f32 next to bf16's, within 16 times it (e4m3 rounds
# GEMM operands 16 times coarser than bf16: test/e2e/fp8_forward_error.sh
# derives the bound; without an f32 reference, within 0.1 of the bf16
# output). Not yet run on a GPU.
fp8_row() {
  local plan=$plans/flux-b2-fp8.fplan p_ms rc
  if [ ! -f "$plan" ]; then
    row "$flux fp8 vs bf16" "n/a" "no $plan (bench/gpu-artifacts.sh makes it)"; return
  elif [ "$(left)" -lt 30 ]; then
    row "$flux fp8 vs bf16" "skipped" "under 30 s of the budget left"; return
  fi
  run_fp8() {
    tmo 90 "$bindir/fresco-run" "$plan" "${fargs[@]:1}" --backend $backend --repeat 6 \
      --stats --output "@$d/fresco-fp8.npy" > "$d/fp8.log" 2>&1
    rc=$?
    cat "$d/fp8.log"
  }
  run_fp8
  # cuBLASLt may refuse its bias/GELU epilogues with FP8's outer-vector
  # scaling: once more with them as kernels, and the row says so.
  local note=""
  if [ $rc -ne 0 ] && grep -q 'FRESCO_CUDA_FP8_EPILOGUES=0' "$d/fp8.log" && [ "$(left)" -ge 30 ]; then
    note=" (epilogues refused: bias and GELU as kernels)"
    FRESCO_CUDA_FP8_EPILOGUES=0 run_fp8
  fi
  if [ $rc -ne 0 ]; then
    failed=1; row "$flux fp8 vs bf16" "FAIL" "rc $rc: $(grep -m1 error "$d/fp8.log" | cut -c1-80)"; return
  fi
  p_ms=$(run_ms "$d/fp8.log")
  local speed
  speed=$(awk -v a="$f_ms" -v b="$p_ms" 'BEGIN {if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "n/a"}')
  target_fp8=$speed
  if [ -s "$d/torch32.npy" ] &&
     "$py" bench/gpu_dit.py compare-ref "$d/fresco-fp8.npy" "$d/fresco.npy" "$d/torch32.npy" \
       --factor 16 --slack 0 --labels fp8,bf16 > "$d/cmp-fp8.txt"; then
    row "$flux fp8 vs bf16" "timing" "fp8 $p_ms ms ($(tflops "$flops" "$p_ms" 1) TFLOP/s)$note, bf16 $f_ms ms: $speed; $(cat "$d/cmp-fp8.txt")"
  elif [ ! -s "$d/torch32.npy" ] &&
       "$py" bench/gpu_dit.py compare "$d/fresco-fp8.npy" "$d/fresco.npy" --tol 0.1 > "$d/cmp-fp8.txt"; then
    row "$flux fp8 vs bf16" "timing" "fp8 $p_ms ms$note, bf16 $f_ms ms: $speed; vs bf16 $(cat "$d/cmp-fp8.txt")"
  else
    failed=1; row "$flux fp8 vs bf16" "FAIL" "fp8 $p_ms ms, bf16 $f_ms ms: $speed; $(cat "$d/cmp-fp8.txt")"
  fi
}
if want 4b; then
flux=${FRESCO_GPU_CHECK_FLUX:-dit-flux-width-1024}
say "== $flux, batch 2, bf16"
d=$work/flux
rm -rf "$d"   # no earlier run's results (cmp.txt ...) stand in for this one's
bf16_peak=$([ -s "$work/peak.json" ] && jget "$work/peak.json" bf16_tflops || true)
# grep without -q reads the whole help: with -q it may exit first, and
# fresco-run's SIGPIPE would fail the pipeline (pipefail).
if ! "$bindir/fresco-run" --help | grep -- '--dtype' > /dev/null; then
  row "$flux bf16" "n/a" "this fresco-run has no --dtype"
elif [ "$(left)" -lt 90 ]; then
  row "$flux bf16" "skipped" "under 90 s of the budget left"
elif tmo 240 "$py" bench/gpu_dit.py make --config models/dit/configs/$flux.json \
       --out "$d" --batch 2 --device $tdev --dtype bfloat16; then
  fargs=("$plans/flux-b2.fplan" --weights "$d/model" --function transformer
         --input "@$d/in/latents.npy" --input "@$d/in/timestep.npy" --input "@$d/in/class_labels.npy")
  tmo 240 "$bindir/fresco-run" "${fargs[@]}" --backend $backend --dtype bf16 --repeat 6 --stats \
    --output "@$d/fresco.npy" > "$d/fresco.log" 2>&1
  rc=$?
  cat "$d/fresco.log"
  if [ $rc -ne 0 ]; then
    failed=1; row "$flux fresco bf16" "FAIL" "rc $rc: $(grep -m1 error "$d/fresco.log" | cut -c1-80)"
  else
    f_ms=$(run_ms "$d/fresco.log")
    measured_ms["$flux bf16"]=$f_ms
    flops=$("$py" bench/gpu_dit.py flops --config models/dit/configs/$flux.json --batch 2 > "$d/flops.json" && jget "$d/flops.json" total)
    f_tf=$(tflops "$flops" "$f_ms" 1)
    share=${bf16_peak:+$(awk -v t="$f_tf" -v p="$bf16_peak" 'BEGIN {if (t != "n/a") printf "%.0f%%", 100 * t / p; else print "n/a"}')}
    e_ms="-" c_ms="-"
    if [ $torch_runs = 1 ] && tmo 240 "$py" bench/gpu_dit.py time --model "$d/model" --inputs "$d/in" --device $tdev \
         --dtype bfloat16 --runs 5 --out "$d/torch.npy" > "$d/eager.json"; then
      cat "$d/eager.json"
      e_ms=$(ms_of "$d/eager.json" 1)
      # Both in bf16, rounded differently: each against PyTorch in f32
      # (one run), Fresco within twice PyTorch's own distance. Where the f32
      # run does not fit the budget, the loose bound between the two (a
      # wrong kernel is off by O(1)).
      if tmo 90 "$py" bench/gpu_dit.py time --model "$d/model" --inputs "$d/in" --device $tdev \
           --dtype float32 --warmup 0 --runs 1 --out "$d/torch32.npy" > "$d/torch32.json" 2>&1 &&
         "$py" bench/gpu_dit.py compare-ref "$d/fresco.npy" "$d/torch.npy" "$d/torch32.npy" > "$d/cmp.txt"; then
        row "$flux parity vs torch" "ok" "$(cat "$d/cmp.txt")"
      elif [ -s "$d/cmp.txt" ]; then
        failed=1; row "$flux parity vs torch" "FAIL" "$(cat "$d/cmp.txt")"
      elif "$py" bench/gpu_dit.py compare "$d/fresco.npy" "$d/torch.npy" --tol 5e-2 > "$d/cmp.txt"; then
        row "$flux parity vs torch bf16" "ok" "$(cat "$d/cmp.txt") (no f32 reference: $(tail -c 60 "$d/torch32.json"))"
      else
        failed=1; row "$flux parity vs torch bf16" "FAIL" "$(cat "$d/cmp.txt")"
      fi
    elif [ $torch_runs = 1 ]; then
      # No PyTorch output: the parity check did not happen, which is a failure.
      e_ms=failed failed=1
      row "$flux parity vs torch" "FAIL" "gpu_dit.py time (eager, bf16) failed: see the log"
    fi
    # torch.compile of a model this size takes minutes: only where most of
    # its 150 s fits in what is left of the budget.
    if [ $torch_runs = 0 ]; then
      c_ms="-"
    elif [ "$(left)" -lt 120 ]; then
      c_ms="skipped (time)"
    else
      c_ms=$(compile_time "$d/compile" 150 1 --model "$d/model" --inputs "$d/in" \
        --device $tdev --dtype bfloat16 --runs 5)
    fi
    row "$flux forward b2 bf16 (ms)" "timing" "fresco $f_ms ($f_tf TFLOP/s${share:+, $share of bf16 GEMM}), torch eager $e_ms, torch.compile $c_ms"
    want 6 && calibrate_one "$flux bf16" "$plans/flux-b2.fplan" "$d/model" bf16
    # The attention choices side by side, same weights and inputs: the run
    # above took the default (cuDNN where it loads; it says so on stderr
    # where it does not), then Fresco's tensor-core kernel and its f32 one.
    att="cudnn $f_ms ms"
    finding=$(log_findings "$d/fresco.log")
    if [ -n "$finding" ]; then
      failed=1; att="cudnn (FAILED: $finding) $f_ms ms"
      row "$flux fresco bf16 log" "FAIL" "$finding"
    fi
    cmps=""
    for choice in fresco f32; do
      if [ "$(left)" -lt 30 ]; then
        att="$att, $choice skipped (time)"; continue
      fi
      FRESCO_CUDA_ATTENTION=$choice tmo 90 "$bindir/fresco-run" "${fargs[@]}" --backend $backend \
        --dtype bf16 --repeat 6 --stats --output "@$d/fresco-$choice.npy" > "$d/att-$choice.log" 2>&1
      rc=$?
      if [ $rc -eq 0 ]; then
        att="$att, $choice $(run_ms "$d/att-$choice.log") ms"
        if grep -q "$capture_msg" "$d/att-$choice.log"; then
          failed=1; att="$att (FAILED: graph capture, see the log)"
        fi
        if "$py" bench/gpu_dit.py compare "$d/fresco-$choice.npy" "$d/fresco.npy" --tol 5e-2 > "$d/cmp-$choice.txt"; then
          cmps="$cmps $choice $(sed 's/ (.*//' "$d/cmp-$choice.txt");"
        else
          failed=1; cmps="$cmps $choice FAILED $(cat "$d/cmp-$choice.txt");"
        fi
      elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        att="$att, $choice timeout"
      else
        # A crash of a kernel is a finding, not a missing feature.
        failed=1; att="$att, $choice FAILED rc $rc: $(grep -m1 error "$d/att-$choice.log" | cut -c1-60)"
      fi
    done
    row "$flux attention choices (ms)" "timing" "forward with $att; outputs vs cudnn:${cmps:- none compared}"
    fp8_row
  fi
else
  failed=1; row "$flux bf16" "FAIL" "could not write weights"
fi

fi # phase 4b

#=== 4c. attention alone: Fresco's choices and PyTorch's SDPA backends ========
if want 4c; then
say "phase 4c: attention alone, bf16"
a=$OUT/attention.txt
: > "$a"
if [ "$(left)" -lt 40 ]; then
  row "attention alone (ms)" "skipped" "under 40 s of the budget left"
else
  # Fresco's: a disabled case of the conformance test (no GPU: it skips).
  speed_case AttentionSpeed.DISABLED_Bf16 "$work/attention-fresco.txt"
  rc=$?
  grep -E '^[a-z-]+ +fresco-' "$work/attention-fresco.txt" >> "$a"
  [ $rc -eq 0 ] || say "Fresco's attention timing: rc $rc (see $work/attention-fresco.txt)"
  if [ $torch_runs = 1 ]; then
    tmo 60 "$py" bench/gpu_attention.py --device $tdev > "$work/attention-torch.txt" 2>&1 ||
      say "gpu_attention.py: rc $? (see $work/attention-torch.txt)"
    grep -E '^[a-z-]+ +torch-' "$work/attention-torch.txt" >> "$a"
  fi
  cat "$a"
  # One row per shape: "choice ms" pairs, Fresco's then PyTorch's.
  for shape in flux flux-dev dit-xl; do
    line=$(awk -v s="$shape" '$1 == s {printf "%s%s %s", (n++ ? ", " : ""), $2, $3}' "$a")
    # Issue 12's target: Fresco's cuDNN attention within 1.2x of PyTorch's.
    ratio=$(awk -v s="$shape" '$1 == s && $2 == "fresco-cudnn" {f = $3} $1 == s && $2 == "torch-cudnn" {t = $3}
      END {if (f + 0 > 0 && t + 0 > 0) printf "; fresco-cudnn / torch-cudnn %.2fx", f / t}' "$a")
    row "attention $shape bf16 (ms)" "timing" "${line:-none measured (see $work/attention-*.txt)}$ratio"
    [ "$shape" = flux ] && target_att=${ratio##*cudnn }
  done
fi

fi # phase 4c

#=== 4e. memory-bound kernels against a device-to-device copy =================
if want 4e; then
say "phase 4e: memory-bound kernels vs a device-to-device copy"
k=$OUT/bandwidth.txt
if [ "$(left)" -lt 20 ]; then
  row "kernel bandwidth" "skipped" "under 20 s of the budget left"
else
  speed_case KernelSpeed.DISABLED_Bandwidth "$k"
  rc=$?
  cat "$k"
  # "bandwidth KERNEL DTYPE US us GBS GB/s copy GBS GB/s PCT%": one row per
  # kernel, its dtypes side by side.
  kernels=$(awk '$1 == "bandwidth" && !seen[$2]++ {print $2}' "$k")
  for kern in $kernels; do
    line=$(awk -v n="$kern" '$1 == "bandwidth" && $2 == n {
      printf "%s%s %s us %s GB/s (%s of copy)", (c++ ? ", " : ""), $3, $4, $6, $11}' "$k")
    row "bw $kern" "timing" "$line"
  done
  if [ -z "$kernels" ]; then
    why=$(grep -m1 -o 'no CUDA device.*' "$k" | cut -c1-70)
    if [ "$dry" = 1 ]; then
      row "kernel bandwidth" "n/a" "dry run: ${why:-no timings}"
    else
      failed=1; row "kernel bandwidth" "FAIL" "rc $rc: ${why:-no timings (see $k)}"
    fi
  elif [ $rc -ne 0 ]; then
    # Rows timed before a failure do not make the case pass.
    failed=1; row "kernel bandwidth" "FAIL" "rc $rc after $(echo $kernels | wc -w) kernels: $(grep -m1 -i 'failure\|error' "$k" | cut -c1-60)"
  fi
fi
fi # phase 4e

# Phases 4d and 5b (Flux) live in their own file, on the helpers above.
# shellcheck source=bench/gpu-check-flux.sh
. bench/gpu-check-flux.sh

#=== 4d. FLUX.1-dev's transformer in bf16 =====================================
if want 4d; then
flux_dev_phase
fi # phase 4d

#=== 6. calibration: inside phases 4 and 4b ===================================
if want 6 && ! want 4 && ! want 4b; then
  row "calibration" "n/a" "phase 6 runs inside phases 4 and 4b: ask for them too"
fi

#=== 5. generation ============================================================
if want 5; then
reserve=0   # the last of the budget is this phase's (and 5b's, 5c's)
want 5b && reserve=$((reserve + 30))
want 5c && reserve=$((reserve + 30))
say "phase 5: 4-step generation on $backend vs cpu"
g=$work/gen
rm -rf "$g"
mkdir -p "$g"
gen=("$plans/gen.fplan" --weights "$plans/gen-pipe" --class-label 3,7 --steps 4 --seed 1 --quiet)
if tmo 60 "$bindir/fresco-run" "${gen[@]}" --backend $backend -o "$g/gpu.png" --output-latents "@$g/gpu.npy" &&
   tmo 60 "$bindir/fresco-run" "${gen[@]}" --backend cpu -o "$g/cpu.png" --output-latents "@$g/cpu.npy" &&
   "$py" bench/gpu_dit.py compare "$g/gpu.npy" "$g/cpu.npy" --tol 1e-4 > "$g/cmp.txt"; then
  row "generation 4 steps (tiny, CFG)" "ok" "latents vs cpu: $(cat "$g/cmp.txt")"
else
  failed=1; row "generation 4 steps (tiny, CFG)" "FAIL" "$(cat "$g/cmp.txt" 2>/dev/null || echo 'a run failed')"
fi

fi # phase 5

#=== 5b. Flux generation ======================================================
if want 5b; then
reserve=0
want 5c && reserve=30
flux_generation_phase
fi # phase 5b

#=== 5c. a UNet's rows split ==================================================
# shellcheck source=bench/gpu-check-unet.sh
. bench/gpu-check-unet.sh
if want 5c; then
reserve=0
unet_generation_phase
fi # phase 5c

# Issue 12's targets, from the rows above ("-" where a phase did not run).
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN {if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "-"}'; }
if want 4 || want 4b || want 4c; then
  row "targets (issue 12)" "info" "flux-width fresco/torch.compile $(ratio_of "${f_ms:-}" "${c_ms:-}") (<= 0.9x); attention fresco-cudnn/torch-cudnn ${target_att:--} (<= 1.2x); DiT-XL/2 bf16 fresco/torch.compile $(ratio_of "${bf16_ms:-}" "${bcompile_ms:-}") (keep < 1); fp8 speedup ${target_fp8:--} (>= 1.3x)"
fi
say "done in $(( $(date +%s) - start )) s"
finish $failed
