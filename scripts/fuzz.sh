#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [SECONDS-PER-TARGET] [TARGET...]
# Long fuzzing runs (default 600 s per target, every target in turn) on the
# build of scripts/test-sanitize.sh (build-sanitize/, built when missing).
# The corpus grows in build-sanitize/fuzz/<target>/corpus across runs; a
# crash is written there as crash-* (copy it into test/fuzz/corpus/<target>/
# with the fix, so that every smoke run replays it). Prints each target's
# executions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FRESCO_SANITIZE_BUILD_DIR:-$root/build-sanitize}
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(plan safetensors checkpoint npy json scheduler_config clip_tokenizer
    t5_tokenizer store_request)
fi
if [ ! -d "$build" ]; then
  FRESCO_SANITIZE_BUILD_DIR=$build "$root/scripts/test-sanitize.sh"
fi
cmake --build "$build" -j2 --target fresco_fuzz
status=0
for t in "${targets[@]}"; do
  work=$build/fuzz/$t
  log=$work/fuzz.log
  mkdir -p "$work"
  echo "== fuzz-$t for ${seconds}s (log: $log)"
  if "$root/test/fuzz/run-fuzz.sh" "$build/bin/fuzz-$t" "$seconds" \
      "$root/test/fuzz/corpus/$t" "$work" >"$log" 2>&1; then
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
  else
    echo "fuzz-$t FAILED: see $log and $work/crash-* / timeout-* / oom-*"
    tail -30 "$log"
    status=1
  fi
done
exit $status
