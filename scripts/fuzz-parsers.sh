#!/usr/bin/env bash
# Fuzz the stream log-line parser (fuzz/fuzz_targets/log_line.rs: no input may panic, and a
# parsed log line formats to a fixed point) with libFuzzer for a bounded time, and print the
# execution count.
#
# Needs cargo-fuzz (installed here on first use: `cargo install cargo-fuzz --locked`, ~2 min)
# and a compiler that accepts `-Z` flags: a nightly toolchain when rustup has one, otherwise
# the stable one with RUSTC_BOOTSTRAP=1 (same compiler, unstable flags unlocked).
#
# Env: FUZZ_SECONDS (default 60), FUZZ_TARGET (default log_line), FUZZ_USE_STABLE=1 (skip nightly).
# The corpus grows in fuzz/corpus/<target> (git-ignored); crashes land in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${FUZZ_SECONDS:-60}
TARGET=${FUZZ_TARGET:-log_line}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== cargo install cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
TOOLCHAIN=()
if [ "${FUZZ_USE_STABLE:-0}" != 1 ] && rustup run nightly rustc --version >/dev/null 2>&1; then
  TOOLCHAIN=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

CORPUS=fuzz/corpus/$TARGET
mkdir -p "$CORPUS"
# Seeds: one line of each kind the parser knows, plus JSON.
if [ -z "$(ls -A "$CORPUS")" ]; then
  printf '%s' '2024-02-01T12:00:00,1,GET /data/m/the+matrix+1999/12.mpg' >"$CORPUS/watch"
  printf '%s' '2024-02-01T12:00:00,1,GET /rate/10=4' >"$CORPUS/rate"
  printf '%s' '2024-02-01T12:00:00.123,7,recommendation request s:8082, status 200, result: 1, 2, 3, 41 ms' >"$CORPUS/reco"
  printf '%s' '{"type":"watch","ts":1700000000,"user_id":1,"movie_id":"m","minute":3}' >"$CORPUS/json"
fi

LOG=$(mktemp -t fuzz.XXXXXX.log)
echo "== cargo ${TOOLCHAIN[*]} fuzz run $TARGET for ${SECS}s (log $LOG)"
cargo "${TOOLCHAIN[@]}" fuzz run "$TARGET" "$CORPUS" -- \
  -max_total_time="$SECS" -max_len=1024 -print_final_stats=1 2>&1 | tee "$LOG" | tail -n 25
execs=$(grep -E '^stat::number_of_executed_units' "$LOG" | awk '{s+=$2} END {print s+0}')
echo "== $TARGET: $execs executions in ${SECS}s, no crash"
