#!/usr/bin/env bash
# Usage: run-fuzz.sh TARGET SECONDS SEED_DIR WORK_DIR
# Runs a libFuzzer target for SECONDS over its seeds (read-only: new inputs
# go to WORK_DIR/corpus, a crash to WORK_DIR/crash-*). Every seed, so every
# former crash kept in the corpus, runs first.
set -euo pipefail
target=$1 seconds=$2 seeds=$3 work=$4
mkdir -p "$work/corpus"
# -rss_limit_mb bounds memory (a reader that allocates what a header claims
# fails); -timeout flags an input that takes over 10 s (a hang).
exec "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/" \
  "$work/corpus" "$seeds"
