#!/bin/sh
# Runs fresco-comm-check through one launch path and checks what it prints.
# usage: comm_check.sh MODE FRESCO_COMM_CHECK [MPIRUN]
#   launcher      --ranks 3 with fresco's own launcher: every rank sums 0+1+2
#   torchrun-env  2 processes with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT
#                 (the TCP store served by rank 0)
#   mpirun        mpirun -np 2 (skipped, exit 77, without mpirun)
#   kill          --ranks 3 --die-rank 1: the launcher and both survivors
#                 name rank 1, within the timeout + 5 s
#   report        --ranks 3 --fail-rank 1: survivors quote rank 1's error
#   timeout       --ranks 2 --hang-rank 1: rank 0 times out, rank 1 is killed
#   interrupt     SIGINT to the launcher reaches the ranks at once
set -u
MODE=$1
BIN=$2
MPIRUN=${3:-}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

fail() {
  echo "FAIL: $*"
  echo "--- stdout"; cat "$OUT/stdout"
  echo "--- stderr"; cat "$OUT/stderr"
  exit 1
}
expect() { # FILE PATTERN (fixed string)
  grep -qF -- "$2" "$OUT/$1" || fail "$1 lacks '$2'"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The ranks must not inherit launcher variables from whoever runs ctest.
unset FRESCO_RANK FRESCO_WORLD_SIZE FRESCO_RENDEZVOUS OMPI_COMM_WORLD_RANK \
  OMPI_COMM_WORLD_SIZE SLURM_PROCID SLURM_NTASKS RANK WORLD_SIZE MASTER_ADDR \
  MASTER_PORT TORCHELASTIC_RUN_ID FRESCO_COMM_TIMEOUT

case $MODE in
launcher)
  "$BIN" --ranks 3 --timeout 30 >"$OUT/stdout" 2>"$OUT/stderr" ||
    fail "exit status $?"
  for r in 0 1 2; do
    expect stdout "[rank $r] [ok] rank $r of 3 sum 3 (launcher fresco)"
  done
  ;;
torchrun-env)
  PORT=$("$BIN" --free-port) || fail "no free port"
  for r in 0 1; do
    RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT \
      "$BIN" --timeout 30 >"$OUT/stdout.$r" 2>"$OUT/stderr.$r" &
    eval "PID$r=\$!"
  done
  wait "$PID0"; S0=$?
  wait "$PID1"; S1=$?
  cat "$OUT/stdout.0" "$OUT/stdout.1" >"$OUT/stdout"
  cat "$OUT/stderr.0" "$OUT/stderr.1" >"$OUT/stderr"
  [ "$S0" -eq 0 ] && [ "$S1" -eq 0 ] || fail "exit status $S0, $S1"
  for r in 0 1; do
    expect stdout "[ok] rank $r of 2 sum 1 (launcher torchrun)"
  done
  ;;
mpirun)
  if [ -z "$MPIRUN" ] || [ "${MPIRUN%NOTFOUND}" != "$MPIRUN" ]; then
    echo "SKIP: mpirun not found"
    exit 77
  fi
  "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$BIN" --timeout 30 \
    >"$OUT/stdout" 2>"$OUT/stderr" || fail "exit status $?"
  for r in 0 1; do
    expect stdout "[ok] rank $r of 2 sum 1 (launcher mpirun)"
  done
  ;;
kill)
  TIMEOUT=5
  START=$(now_ms)
  "$BIN" --ranks 3 --die-rank 1 --timeout $TIMEOUT >"$OUT/stdout" \
    2>"$OUT/stderr" && fail "exit status 0 despite a killed rank"
  ELAPSED=$(($(now_ms) - START))
  echo "finished in $ELAPSED ms"
  [ "$ELAPSED" -le $(((TIMEOUT + 5) * 1000)) ] ||
    fail "took $ELAPSED ms, more than the timeout + 5 s"
  expect stderr "fresco-run: rank 1 was killed by signal 9 (SIGKILL)"
  for r in 0 2; do
    grep -q "^\[rank $r\] fresco-comm-check: error: .*rank 1 (pid [0-9]*) is gone" \
      "$OUT/stderr" || fail "rank $r does not name rank 1"
  done
  ;;
report)
  "$BIN" --ranks 3 --fail-rank 1 --timeout 5 >"$OUT/stdout" 2>"$OUT/stderr" &&
    fail "exit status 0 despite a failed rank"
  expect stderr "fresco-run: rank 1 exited with status 1"
  for r in 0 2; do
    expect stderr "[rank $r] fresco-comm-check: error: allReduceSum"
    grep -q "^\[rank $r\] .*rank 1 failed: cannot read weights.safetensors (simulated)" \
      "$OUT/stderr" || fail "rank $r does not quote rank 1"
  done
  ;;
timeout)
  START=$(now_ms)
  "$BIN" --ranks 2 --hang-rank 1 --timeout 2 >"$OUT/stdout" 2>"$OUT/stderr" &&
    fail "exit status 0 despite a stuck rank"
  ELAPSED=$(($(now_ms) - START))
  echo "finished in $ELAPSED ms"
  # 2 s for rank 0 to time out, 2 s for rank 1 to stop, then it is killed.
  [ "$ELAPSED" -le 9000 ] || fail "took $ELAPSED ms"
  expect stderr "[rank 0] fresco-comm-check: error: allReduceSum of 1 float on the world of 2 ranks failed on rank 0 after 2.0"
  expect stderr "timed out (limit 2.00 s, FRESCO_COMM_TIMEOUT)"
  expect stderr "fresco-run: rank 0 exited with status 1"
  expect stderr "fresco-run: killing rank 1: still running 2.0 s after the first failure"
  ;;
interrupt)
  START=$(now_ms)
  "$BIN" --ranks 2 --hang-rank 1 --timeout 60 >"$OUT/stdout" 2>"$OUT/stderr" &
  PID=$!
  sleep 1
  kill -INT $PID
  wait $PID && fail "exit status 0 despite SIGINT"
  ELAPSED=$(($(now_ms) - START))
  echo "finished in $ELAPSED ms"
  [ "$ELAPSED" -le 5000 ] || fail "took $ELAPSED ms"
  expect stderr "fresco-run: SIGINT: stopping the ranks"
  ;;
*)
  echo "unknown mode $MODE"
  exit 2
  ;;
esac
echo "--- stdout"; cat "$OUT/stdout"
echo "--- stderr"; cat "$OUT/stderr"
echo OK
