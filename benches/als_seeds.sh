#!/usr/bin/env bash
# ALS parity over seeds: recs ALS against implicit ALS at implicit's configuration (64 factors,
# regularization 0.01, 15 iterations, alpha 1), several seeds each, on the ML-1M NCF split.
# One seed's P1 HR@10 moves by about one standard error (~0.004), so a single-seed comparison
# cannot settle "at least implicit's"; the mean over seeds can.
#
#   RECS_DATA_DIR=../shared/data SEEDS="0 1 2 3 4" bash benches/als_seeds.sh
#
# Creates a light venv in target/implicit-venv (implicit, numpy, scipy; no lenskit/torch) and
# writes target/als_seeds.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
data="$(cd "${RECS_DATA_DIR:-$root/../shared/data}" && pwd)"
if [ ! -f "$data/ml-1m-ncf/ml-1m.train.pairs.gz" ]; then
    echo "skipping: no ML-1M NCF data under $data (set RECS_DATA_DIR)" >&2
    exit 0
fi
read -r -a seeds <<<"${SEEDS:-0 1 2 3 4}"
venv="$root/target/implicit-venv"
out="$root/target/als_seeds"
mkdir -p "$out"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet implicit numpy scipy threadpoolctl
fi
export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 RAYON_NUM_THREADS=2 PEER_THREADS=2
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
: >"$out/implicit.jsonl"
: >"$out/recs.jsonl"
specs=()
for s in "${seeds[@]}"; do
    PEER_SEED="$s" "$venv/bin/python" benches/peers.py run "$data" implicit-als 2>/dev/null \
        | sed "s/^{/{\"seed\": $s, /" >>"$out/implicit.jsonl"
    specs+=("als:factors=64,reg=0.01,iterations=15,alpha=0,seed=$s")
done
cargo bench -q -p recs-benches --bench models -- --data "$data" "${specs[@]}" 2>/dev/null >"$out/recs.jsonl"
"$venv/bin/python" - "$out/implicit.jsonl" "$out/recs.jsonl" "${seeds[@]}" <<'PY' | tee "$root/target/als_seeds.md"
import json, sys, statistics as st
imp = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rec = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
seeds = sys.argv[3:]
def metric(r, key):
    return float(r[key])
keys = ["p1_hr10", "p1_ndcg10", "p2_hr10", "p2_ndcg10"]
print("| seed | implicit P1 HR / NDCG | recs P1 HR / NDCG | implicit P2 HR / NDCG | recs P2 HR / NDCG |")
print("|---|---|---|---|---|")
cols = {("i", k): [] for k in keys} | {("r", k): [] for k in keys}
for s, a, b in zip(seeds, imp, rec):
    for who, r in (("i", a), ("r", b)):
        for k in keys:
            cols[(who, k)].append(metric(r, k))
    f = lambda w, p: f"{cols[(w, p + '_hr10')][-1]:.4f} / {cols[(w, p + '_ndcg10')][-1]:.4f}"
    print(f"| {s} | {f('i','p1')} | {f('r','p1')} | {f('i','p2')} | {f('r','p2')} |")
g = lambda w, p: (f"{st.mean(cols[(w, p + '_hr10')]):.4f} ± {st.stdev(cols[(w, p + '_hr10')]):.4f} / "
                  f"{st.mean(cols[(w, p + '_ndcg10')]):.4f}")
print(f"| mean ± sd | {g('i','p1')} | {g('r','p1')} | {g('i','p2')} | {g('r','p2')} |")
PY
