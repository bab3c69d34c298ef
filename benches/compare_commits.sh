#!/usr/bin/env bash
# Behaviour and speed of two builds of `recs` side by side (issue 16: "figures unchanged"):
# the README's ML-1M P1 table for the fixed-parameter models, and the server load benchmark,
# in one run with the rounds interleaved (old, new, old, new) on the same machine.
#
#   bash benches/compare_commits.sh OLD_RECS_BIN NEW_RECS_BIN
#
# Build each commit's binary with `cargo build --release -p recs-server --bin recs` (e.g. in a
# `git worktree` of the old commit) and copy it out first. Model files are not shared: each
# build trains and publishes its own (the file format changed). Knobs: RECS_DATA_DIR, ROUNDS (2),
# DURATION (wrk, 15s), CONNECTIONS (16), PORT (18095), ORDER ("old new"; "new old" runs the new
# build first in each round). Prints one line per round and binary.
set -euo pipefail
OLD=$1 NEW=$2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${RECS_DATA_DIR:-$root/../shared/data}"
D="$DATA/ml-1m-ncf"
RATINGS="$DATA/ml-1m/ratings_uir.dat.gz"
[ -f "$D/ml-1m.train.pairs.gz" ] && [ -f "$RATINGS" ] || { echo "skipped: no ML-1M under $DATA" >&2; exit 0; }
command -v wrk >/dev/null || { echo "wrk not found" >&2; exit 1; }
ROUNDS=${ROUNDS:-2} DURATION=${DURATION:-15s} CONNECTIONS=${CONNECTIONS:-16} PORT=${PORT:-18095}
WORK=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
export RAYON_NUM_THREADS=2 USER_MIN=1 USER_MAX=6040 K=10
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  for which in ${ORDER:-old new}; do
    bin=$OLD; [ "$which" = new ] && bin=$NEW
    # the fixed-parameter rows of the README table (the old `ease` default is lambda 1200)
    ease=ease:lambda=1200; [ "$which" = old ] && ease=ease
    "$bin" eval --train "$D/ml-1m.train.pairs.gz" --test "$D/ml-1m.test.rating" \
      --models "pop,itemknn,als,bpr,$ease" --k 10 --quiet 2>/dev/null \
      | grep '^| [a-z]' | grep -v '^| model' | sed "s/^/P1 round $r $which /"
    reg="$WORK/reg-$which"
    [ -d "$reg" ] || "$bin" eval --data "$RATINGS" --split leave-last-out --models als \
      --publish "$reg" --promote --quiet > /dev/null 2>&1
    "$bin" serve --registry "$reg" --data "$RATINGS" --addr "127.0.0.1:$PORT" > "$WORK/serve-$which.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 300); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
    out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$root/benches/random_user.lua" "http://127.0.0.1:$PORT")
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    echo "server round $r $which req/s=$rps p50=$p50 p99=$p99 non2xx=${non2xx:-0} load=$(cut -d' ' -f1 /proc/loadavg)"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
