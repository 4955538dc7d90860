# shellcheck shell=bash disable=SC2154,SC2034
# gpu-check-unet.sh: phase 5c of bench/gpu-check.sh, sourced there after its
# helpers (say, row, gen_parity) and variables (bindir, plans, backend, py, work,
# failed). The tiny pipeline and its plans come from bench/gpu-artifacts.sh.
# (SC2154/SC2034: those variables are gpu-check.sh's.)

# Phase 5c: a tiny random StableDiffusionPipeline (CFG, 4 steps) with the
# UNet's latent rows split over 2 ranks sharing the GPU (ulysses=2: halo
# exchanges at the 3x3 convolutions, group norms over both bands), against
# the 1-rank run on the CPU: f32 within 1e-4 of the latents' max magnitude;
# bf16 within twice the distance of the CPU's emulation (cpu-staged, 2
# ranks) from the f32 CPU run, plus 1e-3. Then the same with a ControlNet
# in the UNet's function (its control image's rows split too).
unet_generation_phase() {
  say "phase 5c: UNet rows split (tiny SD pipeline, ulysses=2 on 2 ranks) on $backend vs cpu"
  local g=$work/unet-gen
  rm -rf "$g"
  mkdir -p "$g"
  if [ ! -f "$plans/sd-gen-uly2.fplan" ]; then
    row "sd ulysses=2 generation (tiny)" "n/a" "no $plans/sd-gen-uly2.fplan (a bundle made before phase 5c)"
    return
  fi
  local prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!"
                 --negative-prompt "blurry" --steps 4 --seed 1 --stats)
  local common=(--weights "$plans/sd-pipe" "${prompts[@]}")
  local gen_ref=("$plans/sd-gen.fplan" "${common[@]}")
  local gen_dev=("$plans/sd-gen-uly2.fplan" "${common[@]}" --ranks 2)
  gen_parity "$g" "sd ulysses=2 generation"
  g=$work/unet-controlnet
  rm -rf "$g"
  mkdir -p "$g"
  if [ ! -f "$plans/sdcn-gen-uly2.fplan" ]; then
    row "sd controlnet uly2 generation (tiny)" "n/a" "no $plans/sdcn-gen-uly2.fplan (a bundle made before the ControlNet)"
    return
  fi
  common=(--weights "$plans/sdcn-pipe" "${prompts[@]}"
          --control-image "$plans/sdcn-ctl.png" --controlnet-scale 0.7)
  gen_ref=("$plans/sdcn-gen.fplan" "${common[@]}")
  gen_dev=("$plans/sdcn-gen-uly2.fplan" "${common[@]}" --ranks 2)
  gen_parity "$g" "sd controlnet uly2 generation"
}
