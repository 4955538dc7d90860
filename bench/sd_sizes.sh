#!/usr/bin/env bash
# sd_sizes.sh BIN WORK: fresco-inspect's weights and arena per rank for the
# real Stable Diffusion configs (models/unet/pipelines/sd15, sdxl-base,
# models/sd3/pipelines/sd3.5-large), one image at the pipeline's default
# size, bf16 storage, under the layouts each supports. Configs only: no
# weights are read.
set -euo pipefail
B=${1:?bin folder}
W=${2:?work folder}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$W"
sizes() { # label folder compile-args...
  local label=$1 folder=$2
  shift 2
  if ! "$B/fresco-compile" "$folder" -o "$W/x.fplan" --dtype bf16 --quiet "$@" \
      2> "$W/err.log"; then
    echo "$label: does not compile: $(tail -1 "$W/err.log")"
    return
  fi
  echo "$label:"
  "$B/fresco-inspect" "$W/x.fplan" | grep -E "^rank [0-9]+:" | sed 's/^/  /'
}
sd15=$root/models/unet/pipelines/sd15
sdxl=$root/models/unet/pipelines/sdxl-base
sd35=$root/models/sd3/pipelines/sd3.5-large
for m in sd15 sdxl; do
  f=${!m}
  enc=text_encoder=0,vae=0
  [ $m = sdxl ] && enc=text_encoder=0,text_encoder_2=0,vae=0
  sizes "$m 1 rank" "$f"
  sizes "$m cfg=2" "$f" --ranks 2 --parallel cfg=2
  sizes "$m placement" "$f" --ranks 2 --place "$enc,unet=1"
  sizes "$m tp=2" "$f" --ranks 2 --parallel tp=2
  sizes "$m placement x tp=2" "$f" --ranks 3 --place "$enc,unet=1+2" --parallel tp=2
  sizes "$m cfg=2 x tp=2" "$f" --ranks 4 --parallel cfg=2,tp=2
  sizes "$m pipeline=2" "$f" --ranks 2 --parallel pipeline=2
  sizes "$m ulysses=2" "$f" --ranks 2 --parallel ulysses=2
  sizes "$m ulysses=4" "$f" --ranks 4 --parallel ulysses=4
  sizes "$m cfg=2 x ulysses=2" "$f" --ranks 4 --parallel cfg=2,ulysses=2
done
enc=text_encoder=0,text_encoder_2=0,text_encoder_3=0,vae=0
sizes "sd3.5-large 1 rank" "$sd35"
sizes "sd3.5-large cfg=2" "$sd35" --ranks 2 --parallel cfg=2
sizes "sd3.5-large placement" "$sd35" --ranks 2 --place "$enc,transformer=1"
sizes "sd3.5-large tp=2" "$sd35" --ranks 2 --parallel tp=2
sizes "sd3.5-large placement x tp=2" "$sd35" --ranks 3 --place "$enc,transformer=1+2" --parallel tp=2
sizes "sd3.5-large placement x tp=4" "$sd35" --ranks 5 --place "$enc,transformer=1+2+3+4" --parallel tp=4
sizes "sd3.5-large cfg=2 x tp=2" "$sd35" --ranks 4 --parallel cfg=2,tp=2
sizes "sd3.5-large tp=4" "$sd35" --ranks 4 --parallel tp=4
sizes "sd3.5-large tp=8" "$sd35" --ranks 8 --parallel tp=8
sizes "sd3.5-large ulysses=2" "$sd35" --ranks 2 --parallel ulysses=2
sizes "sd3.5-large cfg=2 x ulysses=2 x tp=2" "$sd35" --ranks 8 --parallel cfg=2,ulysses=2,tp=2
sizes "sd3.5-large pipeline=2" "$sd35" --ranks 2 --parallel pipeline=2
