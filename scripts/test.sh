#!/usr/bin/env bash
# The one test command (README "Install and test"): formatting, lints, every Rust test including
# doctests, a dependency audit (cargo-deny), the S3 registry suite against a real S3-protocol
# server, the Kafka suite against a real Kafka-protocol broker (tansu), the Python suite (with the
# notebook in a real Jupyter kernel), the HTTP server fuzzed against its OpenAPI document
# (schemathesis), and the Prometheus alert rules (promtool check/test, then a real Prometheus
# scraping a failing `recs serve`).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== python test helpers (numpy for the independent metric checks)"
python3 -c "import numpy" 2>/dev/null || python3 -m pip install --quiet numpy
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo clippy -p recs --all-targets --features s3,kafka,parquet,kafka-group -D warnings"
cargo clippy -p recs --all-targets --features s3,kafka,parquet,kafka-group -- -D warnings
echo "== cargo clippy -p recs-server --all-targets --features kafka-group,s3 -D warnings"
# The consumer-group code of the CLI is behind a non-default feature; same recs features as above.
cargo clippy -p recs-server --all-targets --features kafka-group,s3 -- -D warnings
echo "== rust-version (MSRV) = the highest rust-version the dependencies declare"
python3 scripts/msrv.py
echo "== cargo doc -p recs (all features, warnings are errors)"
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps -p recs --features s3,kafka,parquet,kafka-group
echo "== cargo package -p recs --list (publishable: no files or targets outside the crate)"
package_log=$(cargo package -p recs --no-verify --list --allow-dirty 2>&1 >/dev/null)
if [ -n "$package_log" ]; then
  echo "$package_log"
  echo "cargo package -p recs warned (see above)"
  exit 1
fi
echo "== cargo deny (dependency audit: licenses, bans, sources; advisories when reachable)"
scripts/deny.sh
echo "== cargo test (unit, integration, doctests)"
cargo test --workspace
# Every suite is required: a missing or failing script fails the run.
for extra in scripts/s3-test.sh scripts/kafka-test.sh scripts/py-test.sh scripts/fuzz-server.sh scripts/prometheus-test.sh; do
  echo "== $extra"
  bash "$extra"
done
echo "== all tests passed"
