#!/usr/bin/env bash
# Fuzzes `recs serve` against its OpenAPI document (docs/openapi.json) with schemathesis.
#
#   scripts/fuzz-server.sh                  # bounded run (MAX_EXAMPLES per operation, default 100)
#   MAX_EXAMPLES=500 scripts/fuzz-server.sh  # longer run
#   EXCLUDE_CHECKS= scripts/fuzz-server.sh   # every schemathesis check, none excluded
#
# Builds `recs`, writes a small synthetic interaction file, trains and publishes two models
# (pop, als) to a temporary registry, starts `recs serve` on a free 127.0.0.1 port with an admin
# token (so the admin endpoints are fuzzed past the 401 too), and runs schemathesis (installed in
# a throwaway venv under target/ when missing) over every operation. Fails on any 5xx, any
# response that does not conform to the document (status code, content type, schema), or a
# server crash. Stops the server whatever happens.
#
# Checks: all of schemathesis's, except `positive_data_acceptance` by default: it expects every
# schema-valid request to succeed, but some rules cannot be written in JSON Schema (the versions
# of one rollout must differ: `{"mode":"shadow","primary":"v0.0","shadow":"v0.0"}` is a 400).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=target/fuzz-venv
MAX_EXAMPLES="${MAX_EXAMPLES:-100}"
CHECKS="${CHECKS:-all}"
EXCLUDE_CHECKS="${EXCLUDE_CHECKS-positive_data_acceptance}"
SEED="${SEED:-42}"

if [ ! -x "$VENV/bin/st" ]; then
    echo "fuzz-server: installing schemathesis in $VENV" >&2
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet schemathesis
fi

echo "== build recs"
cargo build -q -p recs-server --bin recs
RECS=target/debug/recs

WORK="$(mktemp -d -t recs-fuzz.XXXXXX)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Small synthetic data: 60 users x 40 items, user u rates items (u*7 + j*3) % 40.
"$PYTHON" - "$WORK/ratings.tsv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for u in range(1, 61):
        for j in range(12):
            f.write(f"{u}\t{100 + (u * 7 + j * 3) % 40}\t{1 + (u + j) % 5}\t{1000 + j}\n")
PY
echo "== train and publish pop, als"
"$RECS" eval --data "$WORK/ratings.tsv" --models pop,als --quiet \
    --publish "$WORK/registry" --promote >/dev/null

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
TOKEN=fuzz-admin-token
RECS_ADMIN_TOKEN="$TOKEN" "$RECS" serve --registry "$WORK/registry" --data "$WORK/ratings.tsv" \
    --addr "127.0.0.1:$PORT" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 300); do
    if "$PYTHON" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/readyz', timeout=1)" 2>/dev/null; then
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "fuzz-server: server exited:" >&2; cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
done

echo "== schemathesis $("$VENV/bin/st" --version | awk '{print $NF}'): $MAX_EXAMPLES examples per operation, checks $CHECKS except ${EXCLUDE_CHECKS:-none}"
EXCLUDE_ARGS=()
[ -n "$EXCLUDE_CHECKS" ] && EXCLUDE_ARGS=(--exclude-checks "$EXCLUDE_CHECKS")
status=0
# Run from the scratch directory: schemathesis and hypothesis leave state directories in the cwd.
ROOT="$PWD"
(cd "$WORK" && "$ROOT/$VENV/bin/st" run "$ROOT/docs/openapi.json" --url "http://127.0.0.1:$PORT" \
    -H "Authorization: Bearer $TOKEN" \
    --checks "$CHECKS" "${EXCLUDE_ARGS[@]}" --max-examples "$MAX_EXAMPLES" --seed "$SEED" \
    --phases examples,coverage,fuzzing --workers 1 --no-color --warnings off \
    --generation-database none) || status=$?

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "fuzz-server: the server crashed:" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi
if grep -q "panicked" "$WORK/server.log"; then
    echo "fuzz-server: a panic was logged:" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi
exit "$status"
