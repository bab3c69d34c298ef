#!/usr/bin/env bash
# The Prometheus rules of docs/prometheus: `promtool check rules`, the rule unit tests
# (`promtool test rules`), and one end-to-end run of a real Prometheus scraping a running
# `recs serve` that is made to fail, until the alerts fire.
#
#   scripts/prometheus-test.sh            # all three (builds the recs binary if needed)
#   RECS_PROM_E2E=0 scripts/prometheus-test.sh   # rules only
#
# Installs Prometheus when promtool is missing (Debian package `prometheus`, which provides
# /usr/bin/promtool and /usr/bin/prometheus). Takes about a minute on 2 cores once built.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "prometheus-test: installing the Debian package prometheus"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get install -y --no-install-recommends prometheus >/dev/null \
        || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends prometheus >/dev/null; }
fi
promtool --version | head -1

echo "== promtool check rules"
promtool check rules docs/prometheus/alerts.yml
echo "== promtool test rules"
(cd docs/prometheus && promtool test rules alerts_test.yml alerts_stale_test.yml)

[ "${RECS_PROM_E2E:-1}" = 1 ] || exit 0
echo "== real Prometheus scraping recs serve"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/recs"
[ -x "$BIN" ] || cargo build -q -p recs-server --bin recs
WORK="$(mktemp -d)"
SERVER_PID=""
PROM_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    [ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RECS_PORT="$(free_port)"
PROM_PORT="$(free_port)"

# The failure: an empty registry. The server runs (it polls for a model every second) but
# serves none, so every /recommend answers 503.
mkdir -p "$WORK/registry"
"$BIN" serve --registry "$WORK/registry" --follow-latest 1 --addr "127.0.0.1:$RECS_PORT" \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

# The shipped rules, with `for:` durations cut to 0s so a test does not wait minutes; the
# expressions are unchanged.
sed -E 's/^( +for: ).*/\10s/' docs/prometheus/alerts.yml >"$WORK/alerts.yml"
cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $WORK/alerts.yml
scrape_configs:
  - job_name: recs
    static_configs:
      - targets: ["127.0.0.1:$RECS_PORT"]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!

# firing ALERTNAME: true once Prometheus reports the alert in state "firing".
firing() {
    curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/alerts" 2>/dev/null | python3 -c '
import json, sys
try:
    alerts = json.load(sys.stdin)["data"]["alerts"]
except ValueError:  # Prometheus not up yet
    sys.exit(1)
sys.exit(0 if any(a["labels"]["alertname"] == sys.argv[1] and a["state"] == "firing" for a in alerts) else 1)
' "$1"
}
wait_for_alert() {
    local name="$1" deadline=$((SECONDS + 90))
    while ! firing "$name"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "prometheus-test: $name did not fire within 90 s" >&2
            curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/alerts" >&2 || true
            tail -20 "$WORK/server.log" "$WORK/prometheus.log" >&2
            exit 1
        fi
        # Keep traffic flowing: each request fails with 503 while no model is served.
        for user in 1 2 3 4 5; do
            curl -s -o /dev/null "http://127.0.0.1:$RECS_PORT/recommend/$user" || true
        done
        sleep 1
    done
    echo "prometheus-test: $name is firing"
}
wait_for_alert RecsNotReady
wait_for_alert RecsAvailabilityBudgetFastBurn
# The healthy-path alerts must stay quiet: the server is scraped fine.
if firing RecsDown; then
    echo "prometheus-test: RecsDown fired while the server was up" >&2
    exit 1
fi
# Second failure: the process dies.
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
wait_for_alert RecsDown
echo "prometheus-test: ok"
