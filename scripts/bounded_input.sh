#!/usr/bin/env bash
# The 2 GiB figure of docs/benchmarks.md (issue 17): recs-server/tests/bounded_input.rs with a
# 2 GiB line (RECS_LONG_LINE_MB, default here 2048) in a small gzip, on stdin, and appended to
# the file `recs serve --events-file` follows; each test prints the child's peak RSS and fails
# past the bound. The test suite runs the same tests with a 256 MiB line. Needs ~2.1 GiB of free
# disk in $TMPDIR for the followed file. Pass --release to use the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
export RECS_LONG_LINE_MB=${RECS_LONG_LINE_MB:-2048}
echo "line: $RECS_LONG_LINE_MB MiB; load: $(cut -d' ' -f1-3 /proc/loadavg), cores: $(nproc)"
cargo test "$@" -p recs-server --test bounded_input -- --test-threads 1 --nocapture 2>&1 |
  grep -E "MiB line|test result|panicked|FAILED"
