#!/usr/bin/env python3
"""Peer side of the recs benchmark (run through benches/peers.sh).

Fits the peer libraries on the ML-1M NCF split and prints one JSON line per model with
train seconds, recommend-all-users seconds (top 10 without training items) and HR@10 /
NDCG@10 under P1 (full ranking without training items) and P2 (rank of the test item among
the 99 given negatives; a negative tied with the test item counts as ranked above it).

    python benches/peers.py run DATA_DIR [MODEL...] > peers.jsonl
    python benches/peers.py table peers.jsonl recs.jsonl > peers.md

Models: implicit-als, implicit-bpr, implicit-itemknn, lenskit-itemknn, numpy-ease.
PEER_SEED (default 42) is the random_state of the implicit models.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import sys
import time

import numpy as np
import scipy.sparse as sp

K = 10


def load(data_dir: str):
    d = os.path.join(data_dir, "ml-1m-ncf")
    with gzip.open(os.path.join(d, "ml-1m.train.pairs.gz"), "rt") as f:
        tr = np.loadtxt(f, dtype=np.int64, usecols=(0, 1))
    test = np.loadtxt(os.path.join(d, "ml-1m.test.rating"), dtype=np.int64, usecols=(0, 1))
    negs = {}
    with open(os.path.join(d, "ml-1m.test.negative")) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            u, i = parts[0].strip("()").split(",")
            u, i = int(u), int(i)
            # 156 lines list the test item among its own negatives: drop it
            negs[u] = np.array([int(x) for x in parts[1:] if x and int(x) != i], dtype=np.int64)
    n_users = int(max(tr[:, 0].max(), test[:, 0].max())) + 1
    n_items = int(max(tr[:, 1].max(), test[:, 1].max(), max(n.max() for n in negs.values()))) + 1
    x = sp.csr_matrix(
        (np.ones(len(tr), dtype=np.float32), (tr[:, 0], tr[:, 1])), shape=(n_users, n_items)
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    return x, test, negs


def metrics(top: np.ndarray, score_fn, test, negs):
    """top: users x K item ids; score_fn(user, items) -> scores."""
    hr1 = nd1 = hr2 = nd2 = 0.0
    for u, i in test:
        row = list(top[u])
        if i in row:
            hr1 += 1
            nd1 += 1 / math.log2(row.index(i) + 2)
        items = np.concatenate([[i], negs[u]])
        s = np.asarray(score_fn(u, items), dtype=np.float64)
        rank = int(np.sum(s[1:] >= s[0]))
        if rank < K:
            hr2 += 1
            nd2 += 1 / math.log2(rank + 2)
    n = len(test)
    return hr1 / n, nd1 / n, hr2 / n, nd2 / n


def topk_dense(scores: np.ndarray, k: int) -> np.ndarray:
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def run_implicit(name, x, test, negs):
    import implicit
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import CosineRecommender

    threads = int(os.environ.get("PEER_THREADS", "2"))
    seed = int(os.environ.get("PEER_SEED", "42"))
    if name == "implicit-als":
        m = AlternatingLeastSquares(
            factors=64, regularization=0.01, iterations=15, num_threads=threads, random_state=seed
        )
        cfg = "factors=64 regularization=0.01 iterations=15"
    elif name == "implicit-bpr":
        m = BayesianPersonalizedRanking(
            factors=64, iterations=100, num_threads=threads, random_state=seed
        )
        cfg = "factors=64 iterations=100 (lr 0.01, reg 0.01 defaults)"
    else:
        m = CosineRecommender(K=20, num_threads=threads)
        cfg = "cosine K=20"
    t, c = time.perf_counter(), time.process_time()
    m.fit(x, show_progress=False)
    train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
    users = np.arange(x.shape[0])
    t, c = time.perf_counter(), time.process_time()
    ids, _ = m.recommend(users, x, N=K, filter_already_liked_items=True)
    rec_s, rec_cpu = time.perf_counter() - t, time.process_time() - c
    if name == "implicit-itemknn":
        sim = m.similarity.tocsc()

        def score(u, items):
            return (x[u] @ sim[:, items]).toarray().ravel()

    else:
        uf, itf = np.asarray(m.user_factors), np.asarray(m.item_factors)

        def score(u, items):
            return itf[items] @ uf[u]

    return dict(
        train_s=train_s,
        recommend_all_s=rec_s,
        train_cpu_s=train_cpu,
        recommend_all_cpu_s=rec_cpu,
        version=f"implicit {implicit.__version__}",
        config=cfg,
        metrics=metrics(ids, score, test, negs),
    )


def run_lenskit(x, test, negs):
    import pandas as pd
    import lenskit
    from lenskit.batch import recommend
    from lenskit.data import ItemList, RecQuery, from_interactions_df
    from lenskit.knn import ItemKNNScorer
    from lenskit.pipeline import topn_pipeline

    coo = x.tocoo()
    df = pd.DataFrame({"user_id": coo.row, "item_id": coo.col})
    ds = from_interactions_df(df, user_col="user_id", item_col="item_id")
    scorer = ItemKNNScorer(k=20, feedback="implicit")
    pipe = topn_pipeline(scorer, n=K)
    t, c = time.perf_counter(), time.process_time()
    pipe.train(ds)
    train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
    users = np.arange(x.shape[0])
    t, c = time.perf_counter(), time.process_time()
    recs = recommend(pipe, users, n=K, n_jobs=1)
    rec_s, rec_cpu = time.perf_counter() - t, time.process_time() - c
    top = np.full((x.shape[0], K), -1, dtype=np.int64)
    for key, il in recs:
        ids = il.ids()
        top[key.user_id, : len(ids)] = ids
    trained = pipe.node("scorer") if hasattr(pipe, "node") else None
    comp = scorer

    def score(u, items):
        hist = ItemList(item_ids=x[u].indices)
        out = comp(RecQuery(user_id=u, user_items=hist), ItemList(item_ids=items))
        s = out.scores()
        return np.where(np.isnan(s), -np.inf, s)

    del trained
    return dict(
        train_s=train_s,
        recommend_all_s=rec_s,
        train_cpu_s=train_cpu,
        recommend_all_cpu_s=rec_cpu,
        version=f"lenskit {lenskit.__version__}",
        config="ItemKNNScorer k=20 feedback=implicit",
        metrics=metrics(top, score, test, negs),
    )


def run_ease(x, test, negs, lam=500.0):
    t, c = time.perf_counter(), time.process_time()
    g = (x.T @ x).toarray().astype(np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    b[np.diag_indices_from(b)] = 0.0
    train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    top = np.empty((x.shape[0], K), dtype=np.int64)
    for start in range(0, x.shape[0], 1024):
        xb = x[start : start + 1024]
        s = xb.toarray().astype(np.float64) @ b
        s[xb.nonzero()] = -np.inf
        top[start : start + xb.shape[0]] = topk_dense(s, K)
    rec_s, rec_cpu = time.perf_counter() - t, time.process_time() - c

    def score(u, items):
        return x[u].toarray().ravel().astype(np.float64) @ b[:, items]

    return dict(
        train_s=train_s,
        recommend_all_s=rec_s,
        train_cpu_s=train_cpu,
        recommend_all_cpu_s=rec_cpu,
        version=f"numpy {np.__version__}",
        config=f"float64 inv, lambda={lam:g}",
        metrics=metrics(top, score, test, negs),
    )


def cmd_run(data_dir, names):
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            print(
                f"threadpool: {info.get('internal_api')} {info.get('version')} "
                f"kernel={info.get('architecture')} threads={info.get('num_threads')}",
                file=sys.stderr,
            )
    except ImportError:
        pass
    x, test, negs = load(data_dir)
    print(f"loaded {x.shape[0]} users x {x.shape[1]} items, {x.nnz} train", file=sys.stderr)
    names = names or [
        "implicit-als",
        "implicit-bpr",
        "implicit-itemknn",
        "lenskit-itemknn",
        "numpy-ease",
    ]
    for name in names:
        try:
            if name.startswith("implicit-"):
                r = run_implicit(name, x, test, negs)
            elif name == "lenskit-itemknn":
                r = run_lenskit(x, test, negs)
            elif name == "numpy-ease":
                r = run_ease(x, test, negs)
            else:
                raise ValueError(f"unknown peer model {name}")
        except ImportError as e:
            print(json.dumps({"model": name, "status": f"not available: {e}"}), flush=True)
            continue
        hr1, nd1, hr2, nd2 = r.pop("metrics")
        r.update(model=name, status="ok", p1_hr10=hr1, p1_ndcg10=nd1, p2_hr10=hr2, p2_ndcg10=nd2)
        print(json.dumps(r), flush=True)


# recs spec -> the peers it is compared with
PAIRS = [
    # implicit's confidence is alpha·r (alpha=1: observed pairs weigh as unobserved ones);
    # recs' is 1 + alpha·r, so implicit's alpha=1 is recs' alpha=0.
    ("als:factors=64,reg=0.01,iterations=15,alpha=0", ["implicit-als"]),
    ("als", ["implicit-als"]),
    ("bpr:factors=64,iterations=100", ["implicit-bpr"]),
    ("item-knn:neighbors=20,weighting=none", ["implicit-itemknn", "lenskit-itemknn"]),
    ("item-knn", ["implicit-itemknn", "lenskit-itemknn"]),
    ("ease:lambda=500", ["numpy-ease"]),
    ("ease", ["numpy-ease"]),
]


def read_jsonl(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                d = json.loads(line)
                out[d["model"]] = d
    return out


def cmd_table(peer_path, recs_path):
    peers, recs = read_jsonl(peer_path), read_jsonl(recs_path)

    def f(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    def ratio(a, b):
        return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2g}"

    rows = [
        "| recs model | peer | train s recs / peer (ratio) | train CPU s recs / peer (ratio) "
        "| recommend-all s recs / peer (ratio) | recommend-all CPU s recs / peer (ratio) "
        "| P1 HR@10 recs / peer | P1 NDCG@10 recs / peer | P2 HR@10 recs / peer | P2 NDCG@10 recs / peer |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for spec, peer_names in PAIRS:
        r = recs.get(spec, {"status": "not available"})
        for pn in peer_names:
            p = peers.get(pn, {"status": "not available"})
            if r.get("status") != "ok":
                r = {}
                spec_cell = f"`{spec}` (not available)"
            else:
                spec_cell = f"`{spec}`"
            if p.get("status") != "ok":
                p = {}
                pn = f"{pn} (not available)"
            cells = [spec_cell, f"{pn} ({p.get('config', '')})" if p else pn]
            for key in ("train_s", "train_cpu_s", "recommend_all_s", "recommend_all_cpu_s"):
                a, b = r.get(key), p.get(key)
                cells.append(f"{f(a, '.2f')} / {f(b, '.2f')} ({ratio(a, b)})")
            for key in ("p1_hr10", "p1_ndcg10", "p2_hr10", "p2_ndcg10"):
                cells.append(f"{f(r.get(key), '.4f')} / {f(p.get(key), '.4f')}")
            rows.append("| " + " | ".join(cells) + " |")
    versions = sorted({p.get("version") for p in peers.values() if p.get("version")})
    rows.append("")
    rows.append(
        "Ratios are recs / peer (below 1: recs is faster). CPU s = user + system time of all "
        "threads of the process, steadier than wall time on a shared machine. Peer versions: "
        + ", ".join(versions)
        + "."
    )
    print("\n".join(rows))


def main(argv):
    if len(argv) >= 2 and argv[0] == "run":
        cmd_run(argv[1], argv[2:])
    elif len(argv) == 3 and argv[0] == "table":
        cmd_table(argv[1], argv[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
