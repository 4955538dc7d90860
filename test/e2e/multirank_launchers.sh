#!/usr/bin/env bash
# multirank_launchers.sh: the same 2-rank plan (cfg=2) started three ways,
# each matching the 1-rank run: fresco-run's own launcher, `mpirun -np 2`
# (OpenMPI variables) and torchrun-style RANK/WORLD_SIZE/MASTER_ADDR/
# MASTER_PORT; then a rank killed mid-run: the other exits non-zero naming
# it, well within the collective timeout.
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
"$B/fresco-random-checkpoint" "$root/models/dit/pipelines/dit-tiny" \
  -o "$work/pipe" 2> /dev/null
"$B/fresco-compile" "$work/pipe" -o "$work/one.fplan" --batch 2 --quiet
"$B/fresco-compile" "$work/pipe" -o "$work/two.fplan" --batch 2 --ranks 2 \
  --parallel cfg=2 --quiet
args=(--weights "$work/pipe" --class-label 3,7 --steps 4 --quiet)
"$B/fresco-run" "$work/one.fplan" "${args[@]}" -o "$work/one.png" \
  --output-latents "@$work/one.npy"
compare() { "$FRESCO_PYTHON" "$here/compare_npy.py" "$1" "$work/one.npy" --rtol-max 1e-5 | tail -1; }

echo "== built-in launcher"
"$B/fresco-run" "$work/two.fplan" "${args[@]}" -o "$work/a.png" \
  --output-latents "@$work/a.npy"
compare "$work/a.npy"

echo "== mpirun -np 2"
if command -v mpirun > /dev/null; then
  mpirun --allow-run-as-root --oversubscribe -np 2 \
    "$B/fresco-run" "$work/two.fplan" "${args[@]}" -o "$work/b.png" \
    --output-latents "@$work/b.npy"
  compare "$work/b.npy"
else
  echo "SKIP: mpirun not installed"
fi

echo "== torchrun-style environment"
port=$("$FRESCO_PYTHON" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    "$B/fresco-run" "$work/two.fplan" "${args[@]}" -o "$work/c.png" \
    --output-latents "@$work/c.npy" &
done
wait
compare "$work/c.npy"

echo "== a rank killed mid-run"
"$B/fresco-compile" "$work/pipe" -o "$work/tp.fplan" --batch 2 --ranks 2 \
  --parallel tp=2 --quiet
"$B/fresco-run" "$work/tp.fplan" --weights "$work/pipe" --class-label 3,7 \
  --steps 1000 -o "$work/k.png" --timeout 20 > "$work/k.log" 2>&1 &
launcher=$!
# Wait until the ranks are denoising (a loaded machine can take a while).
for _ in $(seq 300); do
  grep -q "denoise: step" "$work/k.log" 2> /dev/null && break
  sleep 0.1
done
# Rank 1 is the second child the launcher started.
victim=$(pgrep -P "$launcher" | sort -n | sed -n 2p)
[ -n "$victim" ] || { cat "$work/k.log"; echo "FAIL: no rank 1 process"; exit 1; }
start=$(date +%s)
kill -9 "$victim"
status=0
wait "$launcher" || status=$?
took=$(( $(date +%s) - start ))
grep -v "denoise: step" "$work/k.log"
[ "$status" -ne 0 ] || { echo "FAIL: the run succeeded"; exit 1; }
grep -q "rank 1 was killed by signal 9" "$work/k.log" || { echo "FAIL: launcher did not name rank 1"; exit 1; }
grep -q "\[rank 0\].*error:.*rank 1 (pid $victim) is gone" "$work/k.log" || { echo "FAIL: rank 0 did not name rank 1"; exit 1; }
[ "$took" -le 25 ] || { echo "FAIL: took $took s (timeout 20 s)"; exit 1; }
echo "killed rank 1: the others stopped in $took s, naming it"
