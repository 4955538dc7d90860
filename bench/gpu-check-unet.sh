# shellcheck shell=bash disable=SC2154,SC2034
# gpu-check-unet.sh: phase 5c of bench/gpu-check.sh, sourced there after its
# helpers (say, row, gen_run) and variables (bindir, plans, backend, py, work,
# failed). The tiny pipeline and its plans come from bench/gpu-artifacts.sh.
# (SC2154/SC2034: those variables are gpu-check.sh's.)

# unet_gen_run NAME PLAN BACKEND [ARGS...]: the tiny SD generation into
# $g/NAME.{npy,png,log}.
unet_gen_run() {
  local name=$1 plan=$2
  shift 2
  gen_run "$g" "$name" "$plans/$plan" --weights "$plans/sd-pipe" \
    --prompt "a red fox in the snow" --prompt "Two cats, one dog!" \
    --negative-prompt "blurry" --steps 4 --seed 1 --stats --backend "$@"
}

# Phase 5c: a tiny random StableDiffusionPipeline (CFG, 4 steps) with the
# UNet's latent rows split over 2 ranks sharing the GPU (ulysses=2: halo
# exchanges at the 3x3 convolutions, group norms over both bands), against
# the 1-rank run on the CPU: f32 within 1e-4 of the latents' max magnitude;
# bf16 within twice the distance of the CPU's emulation (cpu-staged, 2
# ranks) from the f32 CPU run, plus 1e-3.
unet_generation_phase() {
  say "phase 5c: UNet rows split (tiny SD pipeline, ulysses=2 on 2 ranks) on $backend vs cpu"
  local g=$work/unet-gen
  rm -rf "$g"
  mkdir -p "$g"
  if [ ! -f "$plans/sd-gen-uly2.fplan" ]; then
    row "sd ulysses=2 generation (tiny)" "n/a" "no $plans/sd-gen-uly2.fplan (a bundle made before phase 5c)"
    return
  fi
  local have_cpu=0
  unet_gen_run cpu sd-gen.fplan cpu && have_cpu=1
  if [ $have_cpu = 1 ] && unet_gen_run f32 sd-gen-uly2.fplan "$backend" --ranks 2 &&
     "$py" bench/gpu_dit.py compare "$g/f32.npy" "$g/cpu.npy" --tol 1e-4 > "$g/cmp-f32.txt"; then
    row "sd ulysses=2 generation f32" "ok" "latents vs cpu 1 rank: $(cat "$g/cmp-f32.txt")"
  else
    failed=1
    row "sd ulysses=2 generation f32" "FAIL" "$(cat "$g/cmp-f32.txt" 2>/dev/null || grep -h -m1 -i error "$g"/*.log | cut -c1-80)"
  fi
  if [ $have_cpu = 1 ] && unet_gen_run bf16 sd-gen-uly2.fplan "$backend" --ranks 2 --dtype bf16 &&
     unet_gen_run staged sd-gen-uly2.fplan cpu-staged --ranks 2 --dtype bf16 &&
     "$py" bench/gpu_dit.py compare-ref "$g/bf16.npy" "$g/staged.npy" "$g/cpu.npy" \
       --labels "$backend,cpu-staged" > "$g/cmp-bf16.txt"; then
    row "sd ulysses=2 generation bf16" "ok" "latents $(cat "$g/cmp-bf16.txt")"
  else
    failed=1
    row "sd ulysses=2 generation bf16" "FAIL" "$(cat "$g/cmp-bf16.txt" 2>/dev/null || grep -h -m1 -i error "$g"/*.log | cut -c1-80)"
  fi
}
