#!/usr/bin/env bash
# gpu_check_unet_dry.sh: bench/gpu-check.sh's phase 5c (the tiny Stable
# Diffusion pipeline with its UNet's rows split, without and with a
# ControlNet) as a dry run on the CPU (backend cpu-staged): its rows must be
# there and pass. Needs FRESCO_BIN and FRESCO_PYTHON.
set -euo pipefail
. "$(dirname "$0")/common.sh"
gpu_check_dry "5c"
for r in 'sd ulysses=2 generation f32 +ok' 'sd ulysses=2 generation bf16 +ok' \
  'sd controlnet uly2 generation f32 +ok' \
  'sd controlnet uly2 generation bf16 +ok'; do
  grep -Eq "^$r" "$log" || { echo "missing row: $r"; exit 1; }
done
