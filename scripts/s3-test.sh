#!/usr/bin/env bash
# Runs the S3 tests (registry and stream snapshots) against a real S3-protocol server
# (moto_server) on 127.0.0.1.
#
#   scripts/s3-test.sh                 # cargo test -p recs --features s3 --test registry_s3 --test registry_crash --test stream_s3
#   scripts/s3-test.sh CMD ARGS...     # runs CMD with the server's environment instead
#
# Installs `moto[server]` with pip when `moto_server` is missing, starts it on a free port,
# creates the bucket, exports RECS_S3_ENDPOINT / RECS_S3_BUCKET (read by the tests) and the
# standard AWS_* variables (so `recs::registry::open("s3://recs-test/...")` works too), runs the
# command and stops the server, whatever happens. Exits with the command's status.
set -euo pipefail

cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! command -v moto_server >/dev/null 2>&1; then
    echo "s3-test: installing moto[server] with pip" >&2
    "$PYTHON" -m pip install --quiet 'moto[server]'
fi
MOTO="$(command -v moto_server || true)"
if [ -z "$MOTO" ]; then
    echo "s3-test: moto_server not found after pip install" >&2
    exit 1
fi

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BUCKET="${RECS_S3_BUCKET:-recs-test}"
LOG="$(mktemp -t moto.XXXXXX.log)"

"$MOTO" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!
cleanup() {
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    rm -f "$LOG"
}
trap cleanup EXIT INT TERM

# Wait for the server, then create the bucket (moto accepts unsigned requests).
"$PYTHON" - "$PORT" "$BUCKET" <<'PY' || { echo "s3-test: moto_server did not start:" >&2; cat "$LOG" >&2; exit 1; }
import sys, time, urllib.request
port, bucket = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        urllib.request.urlopen(base + "/", timeout=1).read()
        break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit(1)
urllib.request.urlopen(urllib.request.Request(f"{base}/{bucket}", method="PUT"), timeout=5).read()
PY

export RECS_S3_ENDPOINT="http://127.0.0.1:$PORT"
export RECS_S3_BUCKET="$BUCKET"
export AWS_ENDPOINT="$RECS_S3_ENDPOINT"
export AWS_ALLOW_HTTP=true
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
echo "s3-test: moto_server on $RECS_S3_ENDPOINT, bucket $BUCKET" >&2

if [ "$#" -eq 0 ]; then
    set -- cargo test -p recs --features s3 --test registry_s3 --test registry_crash --test stream_s3
fi
set +e
"$@"
STATUS=$?
set -e
exit "$STATUS"
