#!/usr/bin/env python3
"""Issue 19's calibration model in plain numpy, independent of recs: decayed item-transition counts.

Per user, items in time order (file order for Beauty; MovieLens by timestamp, ties by line order).
Counting on the fit part: C[s[t-d], s[t]] += 0.5^(d-1), d = 1..10. Scoring: the last 10 history
items h_0 (newest) .. h_9, score(j) = sum_k 0.5^k C[h_k, j]. Full ranking, history removed, a tie
with the test item counts against it (score 0 = miss). Targets (users with >= 3 items):
  val    fit s[:-2], history s[:-2], target s[-2]  (the validation item; for choosing settings)
  test   fit s[:-2], history s[:-1], target s[-1]  (B1's published protocol; seq-loo-published)
  test1  fit s[:-1], history s[:-1], target s[-1]  (recs eval --split seq-loo)
Usage: python3 benches/seq_calibration.py FILE [val|test|test1]  -> prints HR@10 NDCG@10
"""
import gzip
import sys

import numpy as np

path, target = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "val")
rows = []
with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
    for line_no, line in enumerate(f):
        p = line.split("::") if "::" in line else line.split()
        if p:  # Beauty: `user item` in time order; MovieLens: user, item, rating, timestamp
            rows.append((int(p[0]), int(p[3]) if len(p) > 3 else line_no, line_no, int(p[1])))
rows.sort()
items = {i: n for n, i in enumerate(sorted({r[3] for r in rows}))}
seqs = {}
for u, _, _, i in rows:
    seqs.setdefault(u, []).append(items[i])
seqs = [s for s in seqs.values() if len(s) >= 3]
cut_fit, cut_hist = {"val": (2, 2), "test": (2, 1), "test1": (1, 1)}[target]
counts = [dict() for _ in items]
for s in seqs:
    s = s[:-cut_fit]
    for t in range(1, len(s)):
        for d in range(1, min(10, t) + 1):
            row = counts[s[t - d]]
            row[s[t]] = row.get(s[t], 0.0) + 0.5 ** (d - 1)
counts = [(np.fromiter(r, int, len(r)), np.fromiter(r.values(), float, len(r))) for r in counts]
hits, ndcg = [], []
for s in seqs:
    hist, want = s[:-cut_hist], s[-1 if target != "val" else -2]
    score = np.zeros(len(items))
    for k, h in enumerate(hist[::-1][:10]):
        np.add.at(score, counts[h][0], 0.5**k * counts[h][1])
    score[hist] = -np.inf
    rank = int((score[np.arange(len(items)) != want] >= score[want]).sum())
    hit = score[want] > 0 and rank < 10
    hits.append(hit)
    ndcg.append(1 / np.log2(rank + 2) if hit else 0.0)
print(f"{path} {target}: users {len(seqs)} HR@10 {np.mean(hits):.4f} NDCG@10 {np.mean(ndcg):.4f}")
