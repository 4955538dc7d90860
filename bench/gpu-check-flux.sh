# shellcheck shell=bash disable=SC2154,SC2034
# gpu-check-flux.sh: phases 4d and 5b of bench/gpu-check.sh, sourced there
# after its helpers (say, row, tmo, left, jget, run_ms, tflops, ms_of,
# log_findings) and variables (bindir, plans, backend, py, tdev, torch_runs, work, failed).
# The plans and the tiny pipeline come from bench/gpu-artifacts.sh.
# (SC2154/SC2034: those variables are gpu-check.sh's.)

# flux_inputs DIR: fresco-run's --input arguments (into the array flux_in)
# for the .npy files of a torch_flux.py inputs folder, in the order of
# FluxTransformer2DModel.forward's arguments.
flux_inputs() {
  flux_in=()
  local n
  for n in hidden_states encoder_hidden_states pooled_projections timestep \
    img_ids txt_ids guidance; do
    if [ -f "$1/$n.npy" ]; then flux_in+=(--input "$n=@$1/$n.npy"); fi
  done
}

# flux_blocks CONFIG: "double single" block counts of a config.json.
flux_blocks() {
  "$py" -c 'import json, sys; c = json.load(open(sys.argv[1])); print(c["num_layers"], c["num_single_layers"])' "$1"
}

# scale_ms MS FACTOR: a time in ms times FACTOR; words ("failed", "-") as given.
scale_ms() {
  awk -v v="$1" -v f="$2" 'BEGIN {if (v ~ /^[0-9.]+$/) printf "%.1f", v * f; else print v}'
}

# Phase 4d: FLUX.1-dev's transformer forward in bf16, Fresco against the
# PyTorch Flux of bench/torch_flux.py (eager and torch.compile), on random
# weights drawn on the GPU. By default FLUX.1-dev's width and sequence with
# 2 double + 4 single blocks (its 1:2 ratio), the full model's time
# extrapolated by the FLOP ratio; FRESCO_GPU_CHECK_FLUX_FULL=1: all 19 + 38.
# The weights are deleted afterwards (23.8 GB at full depth, on a 64 GB disk).
flux_dev_phase() {
  flux_dev_run
  rm -rf "$work/flux-dev/model"
}

flux_dev_run() {
  local full=${FRESCO_GPU_CHECK_FLUX_FULL:-0}
  local fd=$plans/flux-dev
  [ "$full" = 1 ] && fd=$plans/flux-dev-full
  say "phase 4d: FLUX.1-dev's transformer forward in bf16 ($fd)"
  local d=$work/flux-dev
  rm -rf "$d" # no earlier run's results may stand in for this one's
  mkdir -p "$d"
  if [ ! -f "$fd/plan.fplan" ] || [ ! -f "$plans/flux-dev-full/config.json" ]; then
    row "flux-dev bf16" "n/a" "no $fd/plan.fplan (a bundle made before phase 4d)"
    return
  fi
  local fh fw ft fb nd ns full_nd full_ns
  read -r fh fw ft fb < "$fd/shape"
  read -r nd ns < <(flux_blocks "$fd/config.json")
  read -r full_nd full_ns < <(flux_blocks "$plans/flux-dev-full/config.json")
  local label="flux-dev $nd+$ns"
  local shape=(--height "$fh" --width "$fw" --max-sequence-length "$ft" --batch "$fb")
  # Writing the weights: 2.6 GB take seconds; the full 23.8 GB about a
  # minute, then each of the three loads below reads them again.
  local need=120
  [ "$full" = 1 ] && need=300
  if [ "$(left)" -lt $need ]; then
    row "$label bf16" "skipped" "under $need s of the budget left"
    return
  fi
  if ! tmo 300 "$py" bench/torch_flux.py make --config "$fd/config.json" \
         --out "$d" "${shape[@]}" --device "$tdev" --dtype bfloat16 > "$d/make.log" 2>&1; then
    cat "$d/make.log"
    failed=1
    row "$label bf16" "FAIL" "could not write weights: $(tail -1 "$d/make.log" | cut -c1-70)"
    return
  fi
  cat "$d/make.log"
  flux_inputs "$d/in"
  tmo 300 "$bindir/fresco-run" "$fd/plan.fplan" --weights "$d/model" --function transformer \
    "${flux_in[@]}" --backend "$backend" --dtype bf16 --repeat 6 --stats \
    --output "@$d/fresco.npy" > "$d/fresco.log" 2>&1
  local rc=$?
  cat "$d/fresco.log"
  if [ $rc -ne 0 ]; then
    failed=1
    row "$label fresco bf16" "FAIL" "rc $rc: $(grep -m1 -i error "$d/fresco.log" | cut -c1-80)"
    return
  fi
  # Ran, but without its CUDA graphs or without cuDNN's attention: not
  # the forward this phase measures.
  local finding
  finding=$(log_findings "$d/fresco.log")
  if [ -n "$finding" ]; then
    failed=1
    row "$label fresco bf16 log" "FAIL" "$finding"
  fi
  local f_ms flops full_flops
  f_ms=$(run_ms "$d/fresco.log")
  flops=$("$py" bench/torch_flux.py flops --config "$fd/config.json" "${shape[@]}" > "$d/flops.json" &&
    jget "$d/flops.json" total)
  full_flops=$("$py" bench/torch_flux.py flops --config "$plans/flux-dev-full/config.json" "${shape[@]}" \
    > "$d/flops-full.json" && jget "$d/flops-full.json" total)
  local e_ms="-" c_ms="-"
  local tf=(bench/torch_flux.py time --model "$d/model" --inputs "$d/in" --device "$tdev")
  if [ "$torch_runs" = 1 ] && tmo 240 "$py" "${tf[@]}" --dtype bfloat16 --runs 5 \
       --out "$d/torch.npy" > "$d/eager.json" 2> "$d/eager.err"; then
    cat "$d/eager.json"
    e_ms=$(ms_of "$d/eager.json" 1)
    # Both in bf16, rounded differently: each against PyTorch in f32 (one
    # run), Fresco within twice PyTorch's own distance plus 1e-3; where the
    # f32 run does not fit, the loose bound between the two (a wrong kernel
    # is off by O(1)).
    if tmo 180 "$py" "${tf[@]}" --dtype float32 --warmup 0 --runs 1 --out "$d/torch32.npy" \
         > "$d/torch32.json" 2>&1 &&
       "$py" bench/gpu_dit.py compare-ref "$d/fresco.npy" "$d/torch.npy" "$d/torch32.npy" > "$d/cmp.txt"; then
      row "$label parity vs torch" "ok" "$(cat "$d/cmp.txt")"
    elif [ -s "$d/cmp.txt" ]; then
      failed=1
      row "$label parity vs torch" "FAIL" "$(cat "$d/cmp.txt")"
    elif "$py" bench/gpu_dit.py compare "$d/fresco.npy" "$d/torch.npy" --tol 5e-2 > "$d/cmp.txt"; then
      row "$label parity vs torch bf16" "ok" "$(cat "$d/cmp.txt") (no f32 reference: $(tail -c 60 "$d/torch32.json"))"
    else
      failed=1
      row "$label parity vs torch bf16" "FAIL" "$(cat "$d/cmp.txt")"
    fi
  elif [ "$torch_runs" = 1 ]; then
    # No PyTorch output: the parity check did not happen, which is a failure.
    e_ms=failed failed=1
    row "$label parity vs torch" "FAIL" "torch_flux.py time (eager, bf16): $(tail -1 "$d/eager.err" | cut -c1-70)"
  fi
  # torch.compile of the whole model at this depth; per block at full depth
  # (one graph per block kind: minutes less compilation).
  local mode=${FRESCO_GPU_CHECK_FLUX_COMPILE:-model}
  [ "$full" = 1 ] && mode=${FRESCO_GPU_CHECK_FLUX_COMPILE:-blocks}
  if [ "$torch_runs" = 0 ]; then
    c_ms="-"
  elif [ "$(left)" -lt 120 ]; then
    c_ms="skipped (time)"
  else
    tmo 240 "$py" "${tf[@]}" --dtype bfloat16 --runs 5 --compile "$mode" \
      > "$d/compile.json" 2> "$d/compile.err"
    case $? in
      0) cat "$d/compile.json"
         c_ms=$(ms_of "$d/compile.json" 1) ;;
      4) c_ms="n/a" ;;
      124|137) c_ms="timeout"; tail -3 "$d/compile.err" ;;
      *) c_ms="failed"; tail -3 "$d/compile.err" ;;
    esac
  fi
  local bf16_peak="" share tflop
  [ -s "$work/peak.json" ] && bf16_peak=$(jget "$work/peak.json" bf16_tflops)
  tflop=$(tflops "$flops" "$f_ms" 1)
  share=${bf16_peak:+$(awk -v t="$tflop" -v p="$bf16_peak" 'BEGIN {if (t != "n/a") printf "%.0f%%", 100 * t / p; else print "n/a"}')}
  row "$label fwd bf16 (ms)" "timing" "fresco $f_ms ($tflop TFLOP/s${share:+, $share of bf16 GEMM}), torch eager $e_ms, torch.compile ($mode) $c_ms; ${fh}x${fw} px, $(( (fh / 16) * (fw / 16) ))+$ft tokens, batch $fb"
  if [ "$nd $ns" != "$full_nd $full_ns" ]; then
    local factor
    factor=$(awk -v a="$full_flops" -v b="$flops" 'BEGIN {if (a + 0 > 0 && b + 0 > 0) printf "%.3f", a / b; else print "n/a"}')
    row "flux-dev $full_nd+$full_ns (ms)" "estimate" "x$factor (FLOP ratio) of the row above: fresco $(scale_ms "$f_ms" "$factor"), torch eager $(scale_ms "$e_ms" "$factor"), torch.compile $(scale_ms "$c_ms" "$factor"); FRESCO_GPU_CHECK_FLUX_FULL=1 measures it"
  fi
}

# Phase 5b: text to image on a tiny random FluxPipeline (CLIP and T5
# encoders with their tokenizers, guidance embedded, 4 steps) on the GPU
# against the CPU, final packed latents compared: f32 within 1e-4 of their
# max magnitude; bf16 within twice the distance of the CPU's emulation of
# the same storage (cpu-staged --dtype bf16) from the f32 CPU run, plus 1e-3.
flux_generation_phase() {
  say "phase 5b: Flux generation (tiny random FluxPipeline, 4 steps) on $backend vs cpu"
  local g=$work/flux-gen
  rm -rf "$g"
  mkdir -p "$g"
  if [ ! -f "$plans/flux-gen.fplan" ]; then
    row "flux generation (tiny)" "n/a" "no $plans/flux-gen.fplan (a bundle made before phase 5b)"
    return
  fi
  local gen_ref=("$plans/flux-gen.fplan" --weights "$plans/flux-pipe" --prompt "a red fox in the snow"
                 --steps 4 --guidance-scale 3.5 --seed 1 --stats)
  local gen_dev=("${gen_ref[@]}")
  gen_parity "$g" "flux generation 4 steps"
}
