#!/usr/bin/env bash
# Load benchmark of `recs serve` against a minimal FastAPI + numpy server serving the SAME ALS
# factors (the original system's stack), with a real load generator (wrk) on loopback.
#
#   RECS_DATA_DIR=/work/shared/data benches/server_load.sh
#
# Steps: build release; fit ALS (default parameters) on the ML-1M NCF train file and publish it
# to a temporary registry, exporting its factors to .npy (examples/als_factors_export.rs);
# start `recs serve`; run wrk on /recommend/{random user}?k=10 (benches/random_user.lua); then
# the same against benches/fastapi_server.py (uvicorn, in a throwaway venv under target/); check
# that both return the same top-10 for a sample of users; print a table with the ratio.
#
# Knobs (environment): THREADS (wrk threads, default 2), CONNECTIONS (default 16), DURATION
# (default 15s), FASTAPI_WORKERS (uvicorn worker processes, default 2 = the cores), PORT_RECS,
# PORT_FASTAPI. wrk, the servers and anything else running share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${RECS_DATA_DIR:-../shared/data}
TRAIN="$DATA/ml-1m-ncf/ml-1m.train.pairs.gz"
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-15s}
FASTAPI_WORKERS=${FASTAPI_WORKERS:-2}
PORT_RECS=${PORT_RECS:-18080}
PORT_FASTAPI=${PORT_FASTAPI:-18081}
WORK=target/server-bench
VENV=target/bench-venv

[ -f "$TRAIN" ] || { echo "missing $TRAIN (set RECS_DATA_DIR)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 1; }

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

echo "== build (release)"
cargo build --release -q -p recs-server --bin recs --example als_factors_export

echo "== fit ALS on $TRAIN, publish, export factors"
rm -rf "$WORK"
mkdir -p "$WORK"
target/release/examples/als_factors_export "$TRAIN" "$WORK/registry" "$WORK/factors"
N_USERS=$(zcat "$TRAIN" | cut -f1 | sort -n | tail -1)
export USER_MIN=0 USER_MAX="$N_USERS" K=10

wait_up() { # url
  for _ in $(seq 1 600); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "server at $1 did not come up" >&2
  return 1
}

# wrk output -> "req_per_s p50_ms p99_ms non2xx"
summarize() {
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                     if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, bad + 0 }' "$1"
}

run_wrk() { # name port
  echo "== wrk on $1: $THREADS threads, $CONNECTIONS connections, $DURATION (after a 3 s warm-up)"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s benches/random_user.lua "http://127.0.0.1:$2" >/dev/null
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/random_user.lua \
    "http://127.0.0.1:$2" | tee "$WORK/wrk-$1.txt"
}

SAMPLE_USERS="0 1 2 17 100 999 3000 6039 999999"

echo "== recs serve"
target/release/recs serve --registry "$WORK/registry" --data "$TRAIN" \
  --addr "127.0.0.1:$PORT_RECS" 2>"$WORK/recs-serve.log" &
PIDS+=($!)
wait_up "http://127.0.0.1:$PORT_RECS/readyz"
for u in $SAMPLE_USERS; do
  curl -fs "http://127.0.0.1:$PORT_RECS/recommend/$u?k=10" >"$WORK/recs-$u.json"
done
run_wrk recs "$PORT_RECS"
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
PIDS=()

echo "== FastAPI + numpy (venv $VENV)"
if [ ! -x "$VENV/bin/uvicorn" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet fastapi uvicorn numpy
fi
# One BLAS thread per worker process: the workers already use the cores (threaded BLAS on a
# 3704 x 64 product only adds contention).
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
FACTORS_DIR="$WORK/factors" "$VENV/bin/uvicorn" fastapi_server:app --app-dir benches \
  --host 127.0.0.1 --port "$PORT_FASTAPI" --workers "$FASTAPI_WORKERS" --log-level warning \
  --no-access-log 2>"$WORK/fastapi.log" &
PIDS+=($!)
wait_up "http://127.0.0.1:$PORT_FASTAPI/healthz"
for u in $SAMPLE_USERS; do
  curl -fs "http://127.0.0.1:$PORT_FASTAPI/recommend/$u?k=10" >"$WORK/fastapi-$u.json"
done
run_wrk fastapi "$PORT_FASTAPI"

echo "== same answers?"
"$VENV/bin/python" - "$WORK" $SAMPLE_USERS <<'PY'
import json, sys
work, users = sys.argv[1], sys.argv[2:]
same = 0
for u in users:
    a = json.load(open(f"{work}/recs-{u}.json"))
    b = json.load(open(f"{work}/fastapi-{u}.json"))
    ok = a["items"] == b["items"] and a["cold_start"] == b["cold_start"]
    same += ok
    if not ok:
        print(f"user {u}: recs {a['items']} (cold {a['cold_start']}) vs fastapi {b['items']} (cold {b['cold_start']})")
print(f"identical top-10 lists for {same}/{len(users)} sample users")
PY

read -r R_RPS R_P50 R_P99 R_BAD < <(summarize "$WORK/wrk-recs.txt")
read -r F_RPS F_P50 F_P99 F_BAD < <(summarize "$WORK/wrk-fastapi.txt")
echo
echo "| server | requests/s | p50 ms | p99 ms | non-2xx |"
echo "|---|---|---|---|---|"
echo "| recs serve (hyper, ALS) | $R_RPS | $R_P50 | $R_P99 | $R_BAD |"
echo "| FastAPI + numpy ($FASTAPI_WORKERS workers, same factors) | $F_RPS | $F_P50 | $F_P99 | $F_BAD |"
awk -v r="$R_RPS" -v f="$F_RPS" 'BEGIN { printf "\nthroughput ratio recs / FastAPI: %.1fx\n", r / f }'
echo "(wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(nproc) cores shared by wrk and the server)"
