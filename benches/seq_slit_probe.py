#!/usr/bin/env python3
"""Probe (issue 19 item 3, step 2): SLIT-style ridge transitions on S1's validation item.

A closed-form sequential model in the EASE family (the transition half of SLIST, Choi et al.
2021): each training position t of a user's fit sequence (all but the last two items) gives a
decayed history vector h_t = sum_{k=1..10} 0.5^(k-1) e[s[t-k]] and the target e[s[t]];
B = (H^T H + lam I)^-1 H^T T; a user's scores are h B from their last 10 items. Scored on the
validation item (s[-2]) with full ranking, history removed, ties against. Plain numpy, dense
items x items (S1: 3.4k items, ~1 GB peak); not part of recs.

Usage: python3 benches/seq_slit_probe.py ../shared/data/ml-1m/ratings_users0001-2999.dat.gz 100,1000
"""
import gzip, sys, numpy as np, time
path = sys.argv[1]
rows = []
with gzip.open(path, "rt") as f:
    for n, line in enumerate(f):
        p = line.split("::")
        rows.append((int(p[0]), int(p[3]), n, int(p[1])))
rows.sort()
ids = {i: k for k, i in enumerate(sorted({r[3] for r in rows}))}
seqs = {}
for u, _, _, i in rows:
    seqs.setdefault(u, []).append(ids[i])
seqs = [s for s in seqs.values() if len(s) >= 3]
n = len(ids)
W, D = 10, 0.5
def hist_vec(h):
    v = np.zeros(n)
    for k, i in enumerate(h[::-1][:W]):
        v[i] += D ** k
    return v
# training pairs on fit = s[:-2] (validation target s[-2])
t0 = time.time()
gi, gw, ci, cw = [], [], [], []
for s in seqs:
    s = np.array(s[:-2])
    L = len(s)
    if L < 2: continue
    # pos t (1..L-1) has sources s[t-k] (k=1..W) with weight D^(k-1)
    t = np.arange(1, L)
    src = np.full((L - 1, W), -1); wt = np.zeros((L - 1, W))
    for k in range(1, W + 1):
        ok = t - k >= 0
        src[ok, k - 1] = s[(t - k)[ok]]
        wt[ok, k - 1] = D ** (k - 1)
    a = src[:, :, None]; b = src[:, None, :]
    m = (a >= 0) & (b >= 0)
    gi.append((np.broadcast_to(a, m.shape) * n + np.broadcast_to(b, m.shape))[m])
    gw.append((wt[:, :, None] * wt[:, None, :])[m])
    okc = src >= 0
    ci.append((src * n + s[t][:, None])[okc]); cw.append(wt[okc])
G = np.bincount(np.concatenate(gi), np.concatenate(gw), minlength=n * n).reshape(n, n)
C = np.bincount(np.concatenate(ci), np.concatenate(cw), minlength=n * n).reshape(n, n)
del gi, gw
print("accum", time.time() - t0, file=sys.stderr)
def evaluate(B, name):
    hits, nd = [], []
    for s in seqs:
        h, want = s[:-2], s[-2]
        sc = hist_vec(h) @ B
        sc[h] = -np.inf
        rank = int((np.delete(sc, want) >= sc[want]).sum())
        hit = rank < 10
        hits.append(hit); nd.append(1 / np.log2(rank + 2) if hit else 0)
    print(f"{name}: HR@10 {np.mean(hits):.4f} NDCG@10 {np.mean(nd):.4f}", flush=True)
for lam in [float(x) for x in sys.argv[2].split(",")]:
    B = np.linalg.solve(G + lam * np.eye(n), C)
    evaluate(B, f"slit lam={lam}")
