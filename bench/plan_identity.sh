#!/usr/bin/env bash
# plan_identity.sh BASE_BIN NEW_BIN WORK: compiles one matrix of plans with
# two builds of fresco-compile and compares them byte for byte, for a
# refactor that must not change any plan. The matrix: DiT tiny, tiny-4heads
# and tiny-6heads-25tokens over 1 rank and 20 layouts (batch 1 and 2;
# placement, bf16 and per-sample splits); Flux tiny over 1 rank and 10
# layouts (batch 1 and 2; bf16, placement); a tiny SD UNet pipeline over 1
# rank and 5 layouts (ulysses=2 among them: refused before 2026-12-05, when
# the UNet's rows began to split, so a build before it and one after differ
# there). Layouts that do not fit must fail alike. Needs
# FRESCO_PYTHON (the SD pipeline is written by diffusers). Exits 1 on a
# difference.
set -uo pipefail
A=${1:?base bin folder}
N=${2:?new bin folder}
W=${3:?work folder}
root=$(cd "$(dirname "$0")/.." && pwd)
py=${FRESCO_PYTHON:-$root/.venv/bin/python}
mkdir -p "$W/pipes"
for p in dit-tiny dit-tiny-4heads dit-tiny-6heads-25tokens; do
  [ -d "$W/pipes/$p" ] || "$A/fresco-random-checkpoint" \
    "$root/models/dit/pipelines/$p" -o "$W/pipes/$p" > /dev/null 2>&1
done
[ -d "$W/pipes/flux-tiny" ] || "$A/fresco-random-checkpoint" \
  "$root/models/flux/pipelines/flux-tiny" -o "$W/pipes/flux-tiny" > /dev/null 2>&1
[ -d "$W/pipes/sd" ] || "$py" "$root/test/e2e/sd_pipeline_reference.py" make \
  --out "$W/pipes/sd" --seed 3 --scheduler DDIMScheduler > /dev/null

ranks() { # layout -> product of its degrees
  local n=1 d
  for d in $(echo "$1" | tr ',' '\n' | cut -d= -f2); do n=$((n * d)); done
  echo $n
}
compile() { # bin out name args...: a plan, or the error it gives
  local bin=$1 out=$2 name=$3
  shift 3
  "$bin/fresco-compile" "$@" -o "$out/$name.fplan" --quiet \
    > "$out/$name.log" 2>&1 || grep -m1 error "$out/$name.log" > "$out/$name.err"
}
matrix() { # bin out
  local bin=$1 out=$2 p lay b extra n par nr
  rm -rf "$out"
  mkdir -p "$out"
  for p in dit-tiny dit-tiny-4heads dit-tiny-6heads-25tokens; do
    for lay in - cfg=2 tp=2 tp=4 cfg=2,tp=2 cfg=2,tp=4 ulysses=2 ulysses=4 \
      cfg=2,ulysses=2 tp=2,ulysses=2 ring=2 ring=4 cfg=2,ring=2 tp=2,ring=2 \
      ulysses=2,ring=2 pipeline=2 pipeline=4 cfg=2,pipeline=2 \
      tp=2,pipeline=2 ring=2,pipeline=2 cfg=2,tp=2,ulysses=2; do
      for b in 1 2; do
        for extra in "" place "--dtype bf16" "--tp-split-min-bytes 0"; do
          n=1 par=()
          [ "$lay" != - ] && n=$(ranks "$lay") par=(--parallel "$lay")
          nr=$n
          if [ "$extra" = place ]; then
            [ "$lay" = - ] && continue
            par+=(--place "vae=0,transformer=$(seq -s+ 1 "$n")")
            nr=$((n + 1))
          else
            par+=($extra)
          fi
          compile "$bin" "$out" "$p-$lay-b$b-${extra// /}" "$W/pipes/$p" \
            --batch $b --ranks $nr "${par[@]}" &
        done
        wait
      done
    done
  done
  for lay in - ulysses=2 ring=2 ulysses=2,ring=2 tp=2,ulysses=2 ulysses=4 \
    ring=4 ring=5 tp=2 ring=2,pipeline=2 cfg=2; do
    for b in 1 2; do
      for extra in "" place "--dtype bf16"; do
        n=1 par=()
        [ "$lay" != - ] && n=$(ranks "$lay") par=(--parallel "$lay")
        nr=$n
        if [ "$extra" = place ]; then
          [ "$lay" = - ] && continue
          par+=(--place "text_encoder=0,text_encoder_2=0,vae=0,transformer=$(seq -s+ 1 "$n")")
          nr=$((n + 1))
        else
          par+=($extra)
        fi
        compile "$bin" "$out" "flux-$lay-b$b-${extra// /}" "$W/pipes/flux-tiny" \
          --height 32 --width 48 --max-sequence-length 16 --batch $b \
          --ranks $nr "${par[@]}" &
      done
      wait
    done
  done
  for lay in - tp=2 cfg=2 cfg=2,tp=2 pipeline=2 ulysses=2; do
    for b in 1 2; do
      n=1 par=()
      [ "$lay" != - ] && n=$(ranks "$lay") par=(--parallel "$lay")
      compile "$bin" "$out" "sd-$lay-b$b" "$W/pipes/sd" --height 32 --width 24 \
        --batch $b --ranks $n "${par[@]}" &
    done
    wait
  done
}
matrix "$A" "$W/base"
matrix "$N" "$W/new"
plans=0 differ=0
for f in "$W"/base/*.fplan; do
  plans=$((plans + 1))
  cmp -s "$f" "$W/new/$(basename "$f")" || {
    differ=$((differ + 1))
    echo "differs: $(basename "$f")"
  }
done
errors=$(ls "$W"/base/*.err 2> /dev/null | wc -l)
failed=0
diff <(cd "$W/base" && ls *.fplan *.err 2> /dev/null) \
  <(cd "$W/new" && ls *.fplan *.err 2> /dev/null) || failed=1
for e in "$W"/base/*.err; do
  [ -e "$e" ] || continue
  cmp -s "$e" "$W/new/$(basename "$e")" || {
    failed=1
    echo "error differs: $(basename "$e" .err)"
  }
done
echo "$plans plans compared, $differ differ; $errors layouts refused alike: $([ $failed = 0 ] && echo yes || echo no)"
[ $differ = 0 ] && [ $failed = 0 ]
