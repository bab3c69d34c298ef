#!/usr/bin/env bash
# recs's untuned models against numpy EASE (lambda = 500) and implicit ALS (64 factors) on ML-1M P1,
# ML-100K leave-last-out and ML-100K random 80/20 per user, paired user by user (issue 18).
#
#   bash benches/untuned.sh                      # all three splits
#   SPLITS="ml100k-llo" bash benches/untuned.sh  # one of ml1m-p1 ml100k-llo ml100k-random
#
# Creates a throwaway venv in target/untuned-venv (first run: pip install numpy scipy implicit
# threadpoolctl), builds the release `recs` binary unless RECS_BIN names one, runs
# benches/untuned.py, which writes the splits, fits the peers, runs `recs eval --per-user` and
# pairs the per-user values, and prints a markdown table; JSON and table in target/untuned/.
#
# Environment: RECS_DATA_DIR (default ../shared/data next to the workspace), THREADS (2),
# RECS_MODELS (the recs specs of the first run; default pop,itemknn,als,ease,fresh,ease:lambda=500),
# RECS_BIN (a built recs binary).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data="${RECS_DATA_DIR:-$root/../shared/data}"
if [ ! -d "$data/ml-100k" ] || [ ! -d "$data/ml-1m-ncf" ]; then
    echo "skipped: no MovieLens data under $data (set RECS_DATA_DIR)" >&2
    exit 0
fi
data="$(cd "$data" && pwd)"
threads="${THREADS:-2}"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/untuned-venv"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy scipy implicit threadpoolctl
fi
bin="${RECS_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release -p recs-server --bin recs
    bin="$target/release/recs"
fi

# The same thread count for numpy's BLAS, implicit and recs.
export OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" \
    RAYON_NUM_THREADS="$threads" THREADS="$threads"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

"$venv/bin/python" "$root/benches/untuned.py" "$data" "$bin" "$target/untuned"
