#!/usr/bin/env python3
"""Independent numpy computation of the top-K metrics for the fixed cases in recs's
`eval::metrics` test `values_match_independent_numpy_script`.

    python3 benches/metric_values.py

Written from the textbook definitions with 0/1 relevance vectors and numpy array operations,
not from the Rust code (which walks the list item by item with a binary search):

- rel[r] = 1 when the item at 0-based rank r < k is held out (a list shorter than k is padded
  with misses), T = number of distinct held-out items
- hr = max(rel); recall = sum(rel) / T; recall_capped = sum(rel) / min(T, k);
  precision = sum(rel) / k
- ndcg = sum(rel / log2(r + 2)) / sum over r < min(T, k) of 1 / log2(r + 2)
- map = sum(rel * cumsum(rel) / (r + 1)) / min(T, k)
- mrr = 1 / (1 + first r with rel[r] = 1), 0 without one

Prints one Rust array row per case: (case, k, [hr, ndcg, recall, recall_capped, precision, map,
mrr]) as Python's shortest round-trip repr, which the Rust test compares to within 1e-12.
"""

import numpy as np

# (ranked list best first, held-out items, k)
CASES = [
    ([4, 2, 7, 9, 1], [7], 3),  # one hit at rank 3
    ([3, 5, 8, 0, 6, 1], [8, 3, 11], 5),  # two of three held-out items
    ([3, 5, 8, 0, 6, 1], [8, 3, 11], 2),  # cut before the second hit
    ([10, 11, 12, 13, 14, 15, 16, 17], [11, 13, 14, 20, 21], 4),  # more held out than k
    ([9, 8], [1, 8], 5),  # list shorter than k
    ([1, 2, 3, 4], [5, 6], 4),  # no hit
    ([5, 6, 7], [5, 6, 7], 3),  # perfect list
]


def values(ranked, truth, k):
    truth = np.unique(np.asarray(truth))
    top = np.full(k, -1)
    n = min(k, len(ranked))
    top[:n] = np.asarray(ranked[:n])
    rel = np.isin(top, truth).astype(np.float64)
    ranks = np.arange(k, dtype=np.float64)
    t = len(truth)
    cap = min(t, k)
    hits = rel.sum()
    hr = rel.max()
    dcg = np.sum(rel / np.log2(ranks + 2))
    idcg = np.sum(1.0 / np.log2(np.arange(cap, dtype=np.float64) + 2))
    ndcg = dcg / idcg
    recall = hits / t
    recall_capped = hits / cap
    precision = hits / k
    map_ = np.sum(rel * np.cumsum(rel) / (ranks + 1)) / cap
    first = np.flatnonzero(rel)
    mrr = 1.0 / (first[0] + 1) if len(first) else 0.0
    return [hr, ndcg, recall, recall_capped, precision, map_, mrr]


def main():
    print("// case, k, [hr, ndcg, recall, recall_capped, precision, map, mrr]")
    for i, (ranked, truth, k) in enumerate(CASES):
        vals = ", ".join(repr(float(v)) for v in values(ranked, truth, k))
        print(f"({i}, {k}, [{vals}]),")


if __name__ == "__main__":
    main()
