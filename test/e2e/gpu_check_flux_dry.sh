#!/usr/bin/env bash
# gpu_check_flux_dry.sh: bench/gpu-check.sh's Flux phases (4d, 5b) as a dry
# run on the CPU (backend cpu-staged, a tiny Flux config for FLUX.1-dev's
# transformer): every Flux row must be there and pass. The whole-script dry
# run only checks the exit code, which a phase that skips itself ("n/a")
# would not change. Needs FRESCO_BIN and FRESCO_PYTHON.
set -euo pipefail
. "$(dirname "$0")/common.sh"
gpu_check_dry "4d 5b"
for r in 'flux-dev 2\+4 parity vs torch +ok' 'flux-dev 2\+4 fwd bf16 \(ms\) +timing +fresco [0-9.]+ ' \
  'flux generation 4 steps f32 +ok' 'flux generation 4 steps bf16 +ok'; do
  grep -Eq "^$r" "$log" || { echo "missing row: $r"; exit 1; }
done
