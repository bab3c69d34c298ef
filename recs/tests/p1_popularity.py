#!/usr/bin/env python3
"""Independent check of recs' evaluation: Popularity on the ML-1M NCF split (numpy only).

Usage: p1_popularity.py DATA_DIR   (DATA_DIR holds ml-1m-ncf/)
Prints one JSON object: {"p1": {"hr@10": .., "ndcg@10": ..}, "p2": {...}, "users": N}.

Written without looking at recs' Rust code paths; it shares only the protocol definition:
- Popularity score of an item = number of training ratings of it (every rating counts).
- P1: every item not in the user's training items is a candidate (full ranking).
- P2: candidates = the held-out item plus its listed negatives, duplicates removed
  (in 156 upstream lines the held-out item is also listed as a negative).
- Ties are pessimistic: every other candidate with a score equal to the held-out item's
  score is ranked ahead of it. 0-based rank r; HR@10 = [r < 10], NDCG@10 = 1/log2(r + 2) if hit.
"""
import gzip
import json
import os
import sys

import numpy as np


def main(data_dir):
    d = os.path.join(data_dir, "ml-1m-ncf")
    with gzip.open(os.path.join(d, "ml-1m.train.pairs.gz"), "rt") as f:
        train = np.loadtxt(f, dtype=np.int64, usecols=(0, 1), delimiter="\t")
    test = np.loadtxt(os.path.join(d, "ml-1m.test.rating"), dtype=np.int64,
                      usecols=(0, 1), delimiter="\t")
    negatives = {}
    with open(os.path.join(d, "ml-1m.test.negative")) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            u, i = parts[0].strip("()").split(",")
            negatives[int(u)] = np.array([int(x) for x in parts[1:] if x], dtype=np.int64)

    n_items = int(max(train[:, 1].max(), test[:, 1].max(),
                      max(v.max() for v in negatives.values()))) + 1
    counts = np.bincount(train[:, 1], minlength=n_items).astype(np.float64)

    order = np.argsort(train[:, 0], kind="stable")
    tu, ti = train[order, 0], train[order, 1]
    starts = np.searchsorted(tu, test[:, 0], side="left")
    ends = np.searchsorted(tu, test[:, 0], side="right")

    k = 10
    res = {"p1": [0.0, 0.0], "p2": [0.0, 0.0]}
    for (u, h), a, b in zip(test, starts, ends):
        s = counts[h]
        # P1: rank among all items that are not training items of u.
        eligible = np.ones(n_items, dtype=bool)
        eligible[ti[a:b]] = False
        eligible[h] = False
        rank = int(np.count_nonzero(counts[eligible] >= s))
        if rank < k:
            res["p1"][0] += 1.0
            res["p1"][1] += 1.0 / np.log2(rank + 2)
        # P2: rank among the held-out item and its negatives.
        cand = np.unique(negatives[int(u)])
        cand = cand[cand != h]
        rank = int(np.count_nonzero(counts[cand] >= s))
        if rank < k:
            res["p2"][0] += 1.0
            res["p2"][1] += 1.0 / np.log2(rank + 2)
    n = len(test)
    out = {p: {"hr@10": v[0] / n, "ndcg@10": v[1] / n} for p, v in res.items()}
    out["users"] = n
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../../shared/data"))
