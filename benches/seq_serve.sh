#!/usr/bin/env bash
# Live sequence serving (issue 19, item 5): `recs serve` p50/p99 for a 200-item streamed history
# and the time from a watch event to a changed answer, for `transition` and `sasrec` (and `ease`
# for reference), on S1 (ML-1M users 1-2999, real rating times).
#
#   RECS_DATA_DIR=/work/shared/data bash benches/seq_serve.sh
#
# Builds the release `recs` (unless RECS_BIN names one); for each model: `recs eval --sequences
# S1 --split seq-loo --models M --publish REG --promote`, `recs serve --registry REG
# --fold-in-posted`, then benches/seq_serve.py (stdlib client, one keep-alive connection).
# SASRec is trained for SASREC_EPOCHS (default 2) epochs only: serving cost does not depend on
# how well it is trained. Knobs: PORT (18090), REQUESTS (2000), TRIALS (200), MODELS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
DATA="${RECS_DATA_DIR:-$root/../shared/data}"
S1="$DATA/ml-1m/ratings_users0001-2999.dat.gz"
[ -f "$S1" ] || { echo "skipped: no $S1 (set RECS_DATA_DIR)" >&2; exit 0; }
PORT=${PORT:-18090}
MODELS=${MODELS:-"transition sasrec:epochs=${SASREC_EPOCHS:-2} ease"}
target="${CARGO_TARGET_DIR:-$root/target}"
BIN=${RECS_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release -q -p recs-server --bin recs
  BIN="$target/release/recs"
fi
WORK="$target/seq-serve"
rm -rf "$WORK" && mkdir -p "$WORK"
export RECS_ADMIN_TOKEN=bench-token
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null || true' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for m in $MODELS; do
  name=${m%%:*}
  reg="$WORK/reg-$name"
  RAYON_NUM_THREADS=2 "$BIN" eval --sequences "$S1" --split seq-loo --models "$m" \
    --publish "$reg" --promote --quiet > "$WORK/eval-$name.txt"
  "$BIN" serve --registry "$reg" --addr "127.0.0.1:$PORT" --fold-in-posted \
    > "$WORK/serve-$name.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 300); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
    sleep 0.1
  done
  python3 benches/seq_serve.py --addr "127.0.0.1:$PORT" --token "$RECS_ADMIN_TOKEN" \
    --data "$S1" --label "$m" ${REQUESTS:+--requests $REQUESTS} ${TRIALS:+--trials $TRIALS} \
    | tee -a "$WORK/results.jsonl"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results: $WORK/results.jsonl"
