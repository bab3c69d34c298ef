#!/usr/bin/env bash
# Peer benchmark: recs against implicit, LensKit and numpy on the ML-1M NCF split, 2 threads each.
#
#   bash benches/peers.sh                    # all models
#   PEERS="numpy-ease" RECS_SPECS="ease" bash benches/peers.sh
#
# Creates a throwaway venv in target/peers-venv (first run: pip install implicit lenskit numpy
# scipy pandas threadpoolctl, ~6 GB because lenskit pulls torch), runs benches/peers.py for the
# peers and `cargo bench --bench models` for recs, then prints one markdown table with recs/peer
# ratios and writes it to target/peers.md. Models recs does not have yet print "not available".
#
# Environment: RECS_DATA_DIR (default ../shared/data next to the workspace), THREADS (2),
# PEERS (space-separated peer models), RECS_SPECS (space-separated recs specs), REUSE_PEERS=1
# (keep target/peers/peers.jsonl from an earlier run and rerun only the recs side).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data="${RECS_DATA_DIR:-$root/../shared/data}"
data="$(cd "$data" && pwd)"
threads="${THREADS:-2}"
venv="$root/target/peers-venv"
out="$root/target/peers"
mkdir -p "$out"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet implicit lenskit numpy scipy pandas threadpoolctl
fi
"$venv/bin/pip" list 2>/dev/null | grep -iE '^(implicit|lenskit|numpy|scipy|pandas|threadpoolctl) ' >"$out/versions.txt" || true

# The same thread count everywhere. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on some hosts for old
# OpenBLAS builds) slow a current numpy down, so they are unset for this benchmark only;
# peers.py prints the kernel threadpoolctl reports.
export OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" \
    NUMBA_NUM_THREADS="$threads" LK_NUM_THREADS="$threads" LK_NUM_BACKEND_THREADS="$threads" \
    LK_NUM_PROCS=1 RAYON_NUM_THREADS="$threads" PEER_THREADS="$threads"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

read -r -a peers <<<"${PEERS:-implicit-als implicit-bpr implicit-itemknn lenskit-itemknn numpy-ease}"
read -r -a specs <<<"${RECS_SPECS:-als:factors=64,reg=0.01,iterations=15,alpha=0 als bpr:factors=64,iterations=100 item-knn:neighbors=20,weighting=none item-knn ease:lambda=500 ease}"

if [ "${REUSE_PEERS:-0}" = 1 ] && [ -s "$out/peers.jsonl" ]; then
    echo "== peers: reusing $out/peers.jsonl" >&2
else
    echo "== peers (${peers[*]})" >&2
    "$venv/bin/python" "$root/benches/peers.py" run "$data" "${peers[@]}" 2> >(tee "$out/peers.err" >&2) \
        | tee "$out/peers.jsonl"
fi

echo "== recs (${specs[*]})" >&2
cargo bench -p recs-benches --bench models -- --data "$data" "${specs[@]}" | tee "$out/recs.jsonl"

{
    echo "ML-1M NCF split, $threads threads, $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    grep -m1 '^threadpool' "$out/peers.err" 2>/dev/null | sed 's/^/numpy /' || true
    echo
    "$venv/bin/python" "$root/benches/peers.py" table "$out/peers.jsonl" "$out/recs.jsonl"
    echo
    echo "Peer packages: $(tr -s ' ' <"$out/versions.txt" | paste -sd, -)."
} >"$root/target/peers.md"
cat "$root/target/peers.md"
