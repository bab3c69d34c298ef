#!/usr/bin/env bash
# Connection management figure of docs/benchmarks.md (issue 17): `recs serve` with its default
# connection settings, a popularity model over a generated MovieLens-shaped file, then
# scripts/slow_clients.py (1,000 slow sockets from 127.0.0.2 + wrk normal load from 127.0.0.1;
# 5,000 idle sockets from 127.0.0.3 + a new client). Installs wrk (Debian package) if missing.
# RECS_BIN picks the binary (default target/release/recs, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
ulimit -n 20000
bin=${RECS_BIN:-${CARGO_TARGET_DIR:-target}/release/recs}
[ -x "$bin" ] || cargo build --release -p recs-server
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
python3 - "$tmp/ratings.dat" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    for u in range(1, 2001):
        for m in random.sample(range(1, 1001), 20):
            f.write(f"{u}::{m}::{random.randint(1, 5)}::{978300000 + u}\n")
PY
"$bin" eval --data "$tmp/ratings.dat" --models pop --publish "$tmp/registry" --promote --quiet >/dev/null
"$bin" serve --registry "$tmp/registry" --data "$tmp/ratings.dat" --addr 127.0.0.1:18089 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 100); do curl -fs http://127.0.0.1:18089/readyz >/dev/null && break; sleep 0.2; done
echo "server: $bin (pid $pid), load: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)"
python3 scripts/slow_clients.py 127.0.0.1:18089
curl -fs http://127.0.0.1:18089/metrics | grep '^recs_http_connections_refused_total' || true
echo "server peak RSS: $(grep VmHWM /proc/$pid/status)"
