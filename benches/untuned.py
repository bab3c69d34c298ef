#!/usr/bin/env python3
"""recs's untuned models against numpy EASE (lambda = 500) and implicit ALS (64 factors) on three
MovieLens splits, paired user by user (issue 18). Run through benches/untuned.sh.

    python benches/untuned.py DATA_DIR RECS_BIN OUT_DIR

Splits (written once to OUT_DIR/<split>/ as dense 0-based NCF-format files, so that recs and
the peers see the same users, the same training items and the same test items):

- ml1m-p1: the NCF leave-one-out split of ML-1M as shipped (ml-1m-ncf/), P1 protocol.
- ml100k-llo: ML-100K u.data, each user's latest rating held out (largest timestamp, ties
  broken by file order: the later line is the later rating), as `recs eval --split
  leave-last-out`.
- ml100k-random: ML-100K u.data, round(0.2 n) random ratings of each user held out (numpy
  default_rng(SEED), SEED = 42), as `recs eval --split random:0.2`.

Protocol everywhere: full ranking of every item, the user's training items excluded; HR@10 (1
when any held-out item is in the top 10) and Recall@20 (hits in the top 20 / held-out items),
averaged over test users. recs writes its per-user values with `recs eval --per-user`; the
peers' are computed here from their top-20 lists. For each recs model the script prints the
mean paired difference recs - best peer (the peer with the higher mean on that metric) and its
standard error (sample standard deviation of the per-user differences / sqrt(n)).

Peers: numpy EASE (float64 inverse of X'X + 500 I on binary X, diagonal zeroed; the formula of
Steck 2019) and implicit's AlternatingLeastSquares(factors=64, num_threads=THREADS,
random_state=42) with implicit's other defaults (regularization 0.01, alpha 1, 15 iterations).

recs models: its untuned defaults, as a user who names the model gets them (`ease` and `fresh`
choose their parameters with `auto` on a validation split carved from the training data the way
the test split was carved: each user's latest training rating, or 20 % of each user's training
ratings at random on ml100k-random, `--validation random:0.2`, cross-validated over 5 folds that
hold out each training rating once, `--validation-folds 5`, recs's default), plus
`ease:lambda=500` as a calibration row (it should match numpy EASE user by user), and `fresh`
fitted without rating times (a second `recs eval` run).

Writes OUT_DIR/results.json and OUT_DIR/table.md and prints the table.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import scipy.sparse as sp

SEED = 42
THREADS = int(os.environ.get("THREADS", "2"))
RECS_MODELS = os.environ.get("RECS_MODELS", "pop,itemknn,als,ease,fresh,ease:lambda=500")
# like-for-like: models that read only the interactions (no release years, no rating times)
LIKE_FOR_LIKE = ("pop", "itemknn", "als", "ease")
CALIBRATION = "ease:lambda=500"
METRICS = ("hr@10", "recall@20")


# ---------------------------------------------------------------- splits


def write_split(out_dir, train, test, item_map=None):
    """train: rows (user, item, rating, ts or None); test: rows (user, item); dense 0-based ids."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {
        "train": os.path.join(out_dir, "train.tsv"),
        "train_notime": os.path.join(out_dir, "train_notime.tsv"),
        "test": os.path.join(out_dir, "test.tsv"),
    }
    with open(paths["train"], "w") as f, open(paths["train_notime"], "w") as g:
        for u, i, r, t in train:
            g.write(f"{u}\t{i}\t{r:g}\n")
            f.write(f"{u}\t{i}\t{r:g}\t{t}\n" if t is not None else f"{u}\t{i}\t{r:g}\n")
    with open(paths["test"], "w") as f:
        for u, i in test:
            f.write(f"{u}\t{i}\n")
    if item_map is not None:
        paths["item_map"] = os.path.join(out_dir, "item_map.tsv")
        with open(paths["item_map"], "w") as f:
            f.write("item\tMovieID\n")
            for dense, raw in item_map:
                f.write(f"{dense}\t{raw}\n")
    return paths


def ml100k_rows(data_dir):
    rows = np.loadtxt(os.path.join(data_dir, "ml-100k", "u.data"), dtype=np.int64)
    # ML-100K ids are 1..943 and 1..1682, all used: dense id = id - 1
    return rows[:, 0] - 1, rows[:, 1] - 1, rows[:, 2], rows[:, 3]


def split_ml100k_llo(data_dir, out_dir):
    u, i, r, t = ml100k_rows(data_dir)
    line = np.arange(len(u))
    order = np.lexsort((line, t, u))  # by user, then time, then file order
    last = np.zeros(len(u), dtype=bool)
    ends = np.flatnonzero(np.diff(u[order], append=-1) != 0)
    counts = np.bincount(u)
    for e in ends:
        if counts[u[order][e]] > 1:  # a user with one rating stays in train
            last[order[e]] = True
    train = [(a, b, c, d) for a, b, c, d, l in zip(u, i, r, t, last) if not l]
    test = [(a, b) for a, b, l in zip(u, i, last) if l]
    return write_split(out_dir, train, test, [(k, k + 1) for k in range(1682)])


def split_ml100k_random(data_dir, out_dir, fraction=0.2):
    u, i, r, t = ml100k_rows(data_dir)
    rng = np.random.default_rng(SEED)
    held = np.zeros(len(u), dtype=bool)
    for user in np.unique(u):
        idx = np.flatnonzero(u == user)
        n_test = int(round(fraction * len(idx)))
        n_test = min(n_test, len(idx) - 1)  # every user keeps one training rating
        if n_test > 0:
            held[rng.choice(idx, size=n_test, replace=False)] = True
    train = [(a, b, c, d) for a, b, c, d, h in zip(u, i, r, t, held) if not h]
    test = [(a, b) for a, b, h in zip(u, i, held) if h]
    return write_split(out_dir, train, test, [(k, k + 1) for k in range(1682)])


def split_ml1m_p1(data_dir, out_dir):
    d = os.path.join(data_dir, "ml-1m-ncf")
    os.makedirs(out_dir, exist_ok=True)
    return {
        "train": os.path.join(d, "ml-1m.train.pairs.gz"),
        "train_notime": os.path.join(d, "ml-1m.train.pairs.gz"),
        "test": os.path.join(d, "ml-1m.test.rating"),
        "item_map": os.path.join(d, "item_id_map.tsv"),
    }


def read_pairs(path, cols=2):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return np.loadtxt(f, dtype=np.int64, usecols=tuple(range(cols)), ndmin=2)


# ---------------------------------------------------------------- peers


def user_values(top, test_sets):
    """Per test user: hr@10 and recall@20 from a top-20 list (dict user -> (hr, recall))."""
    out = {}
    for u, truth in test_sets.items():
        row = top[u]
        hr = float(np.isin(row[:10], truth).any())
        rec = float(np.isin(row[:20], truth).sum()) / len(truth)
        out[u] = (hr, rec)
    return out


def top_from_scores(s, k=20):
    part = np.argpartition(-s, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def numpy_ease(x, lam=500.0):
    t = time.perf_counter()
    g = (x.T @ x).toarray().astype(np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    b[np.diag_indices_from(b)] = 0.0
    fit_s = time.perf_counter() - t
    top = np.empty((x.shape[0], 20), dtype=np.int64)
    for start in range(0, x.shape[0], 1024):
        xb = x[start : start + 1024]
        s = xb.toarray().astype(np.float64) @ b
        s[xb.nonzero()] = -np.inf
        top[start : start + xb.shape[0]] = top_from_scores(s)
    return top, fit_s


def implicit_als(x):
    from implicit.cpu.als import AlternatingLeastSquares

    from threadpoolctl import threadpool_limits

    # implicit parallelises over users itself and asks for a single-threaded BLAS
    with threadpool_limits(1, "blas"):
        m = AlternatingLeastSquares(factors=64, num_threads=THREADS, random_state=SEED)
        t = time.perf_counter()
        m.fit(x, show_progress=False)
        fit_s = time.perf_counter() - t
        ids, _ = m.recommend(np.arange(x.shape[0]), x, N=20, filter_already_liked_items=True)
    return np.asarray(ids), fit_s


# ---------------------------------------------------------------- recs


def run_recs(recs_bin, paths, out_dir, tag, models, extra, times, validation):
    per_user = os.path.join(out_dir, f"recs-{tag}.per-user.csv")
    report = os.path.join(out_dir, f"recs-{tag}.json")
    cmd = [recs_bin, "eval", "--train", paths["train" if times else "train_notime"]]
    cmd += ["--test", paths["test"], "--models", models, "--metrics", "hr,recall", "--k", "10,20"]
    cmd += ["--per-user", per_user, "--json", report, "--quiet", "--validation", validation]
    cmd += ["--validation-folds", "5"]
    cmd += extra
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        sys.exit(f"recs failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr}")
    values = {}
    with open(per_user) as f:
        for row in csv.DictReader(f):
            values.setdefault(row["model"], {})[int(row["user"])] = tuple(
                float(row[m]) for m in METRICS
            )
    with open(report) as f:
        reports = json.load(f)
    train_s = {r["name"]: r.get("timings", {}).get("train_seconds") for r in reports}
    return values, train_s, " ".join(cmd), res.stdout + res.stderr, wall


# ---------------------------------------------------------------- comparison


def paired(a, b, users, m):
    d = np.array([a[u][m] - b[u][m] for u in users])
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def evaluate_split(name, paths, data_dir, recs_bin, out_dir):
    train = read_pairs(paths["train_notime"])
    test = read_pairs(paths["test"])
    n_users = int(max(train[:, 0].max(), test[:, 0].max())) + 1
    n_items = int(max(train[:, 1].max(), test[:, 1].max())) + 1
    x = sp.csr_matrix(
        (np.ones(len(train), dtype=np.float32), (train[:, 0], train[:, 1])),
        shape=(n_users, n_items),
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    test_sets = {}
    for u, i in test:
        test_sets.setdefault(int(u), set()).add(int(i))
    test_sets = {u: np.array(sorted(s)) for u, s in test_sets.items()}
    users = sorted(test_sets)

    peers, fit_s = {}, {}
    top, fit_s["numpy-ease:lambda=500"] = numpy_ease(x)
    peers["numpy-ease:lambda=500"] = user_values(top, test_sets)
    top, fit_s["implicit-als:factors=64"] = implicit_als(x)
    peers["implicit-als:factors=64"] = user_values(top, test_sets)

    if name == "ml1m-p1":
        movies = os.path.join(data_dir, "ml-1m", "movies.dat")
        times = ["--times", os.path.join(data_dir, "ml-1m", "ratings_users0001-2999.dat.gz")]
    else:
        movies = os.path.join(data_dir, "ml-100k", "u.item")
        times = []  # the training file's fourth column
    side = ["--movies", movies, "--item-map", paths["item_map"]]
    # the validation holds out what the test holds out (recs::model::auto): 20 % of each user's
    # training ratings at random on the random split, as `recs eval --split random:0.2` does
    validation = "random:0.2" if name.endswith("random") else "latest"
    recs, train_s, cmd1, log1, wall1 = run_recs(
        recs_bin, paths, out_dir, "models", RECS_MODELS, side + times, True, validation
    )
    nt, nt_s, cmd2, log2, wall2 = run_recs(
        recs_bin, paths, out_dir, "fresh-notime", "fresh", side, False, validation
    )
    recs["fresh (no times)"] = nt["fresh"]
    train_s["fresh (no times)"] = nt_s.get("fresh")
    for model, vals in recs.items():
        missing = set(users) - set(vals)
        if missing:
            sys.exit(f"{name}: recs {model} has no per-user value for {len(missing)} test users")

    mean = lambda vals, m: float(np.mean([vals[u][m] for u in users]))  # noqa: E731
    best_peer = {}
    for m, label in enumerate(METRICS):
        best_peer[label] = max(peers, key=lambda p: mean(peers[p], m))
    rows = []
    for model, vals in list(peers.items()) + list(recs.items()):
        row = {"model": model, "side": "peer" if model in peers else "recs"}
        row["train_s"] = fit_s.get(model, train_s.get(model))
        for m, label in enumerate(METRICS):
            row[label] = mean(vals, m)
            if model not in peers:
                d, se = paired(vals, peers[best_peer[label]], users, m)
                row[f"{label} diff"] = d
                row[f"{label} se"] = se
        rows.append(row)
    untuned = [r for r in rows if r["side"] == "recs" and r["model"] != CALIBRATION]
    summary = {}
    for m, label in enumerate(METRICS):
        for kind, pool in (
            ("best untuned recs", untuned),
            ("best like-for-like untuned recs", [r for r in untuned if r["model"] in LIKE_FOR_LIKE]),
        ):
            best = max(pool, key=lambda r: r[label])
            summary[f"{kind} {label}"] = {
                "model": best["model"],
                "value": best[label],
                "best peer": best_peer[label],
                "peer value": mean(peers[best_peer[label]], m),
                "diff": best[f"{label} diff"],
                "se": best[f"{label} se"],
            }
        if "fresh" in recs:
            d, se = paired(recs["fresh"], recs["fresh (no times)"], users, m)
            summary[f"fresh auto - fresh (no times) {label}"] = {"diff": d, "se": se}
        if CALIBRATION in recs:
            ease = peers["numpy-ease:lambda=500"]
            same = sum(recs[CALIBRATION][u][m] == ease[u][m] for u in users)
            summary[f"calibration {label}: users where recs {CALIBRATION} == numpy"] = (
                f"{same}/{len(users)}"
            )
    chosen = [line for line in (log1 + log2).splitlines() if "auto" in line or "validation" in line]
    return {
        "split": name,
        "n_users": len(users),
        "n_items": n_items,
        "n_train": int(x.nnz),
        "n_test": int(sum(len(s) for s in test_sets.values())),
        "rows": rows,
        "summary": summary,
        "recs_commands": [cmd1, cmd2],
        "recs_wall_s": [wall1, wall2],
        "recs_auto_log": chosen,
    }


def fmt(v, spec=".4f"):
    return "-" if v is None else format(v, spec)


def table(results):
    out = []
    for r in results:
        out.append(
            f"\n#### {r['split']}: {r['n_users']} test users, {r['n_items']} items, "
            f"{r['n_train']} training / {r['n_test']} test interactions\n"
        )
        out.append(
            "| model | HR@10 | recs − best peer (± s.e.) | Recall@20 | recs − best peer (± s.e.) | fit s |"
        )
        out.append("|---|--:|--:|--:|--:|--:|")
        for row in r["rows"]:
            cells = [row["model"] if row["side"] == "recs" else f"*{row['model']}* (peer)"]
            for label in METRICS:
                cells.append(fmt(row[label]))
                if row["side"] == "recs":
                    cells.append(f"{row[label + ' diff']:+.4f} ± {row[label + ' se']:.4f}")
                else:
                    cells.append("")
            cells.append(fmt(row["train_s"], ".2f"))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        for key, v in r["summary"].items():
            if isinstance(v, dict) and "model" in v:
                out.append(
                    f"- {key}: {v['model']} {v['value']:.4f} vs {v['best peer']} "
                    f"{v['peer value']:.4f}: {v['diff']:+.4f} ± {v['se']:.4f}"
                )
            elif isinstance(v, dict):
                out.append(f"- {key}: {v['diff']:+.4f} ± {v['se']:.4f}")
            else:
                out.append(f"- {key}: {v}")
    return "\n".join(out)


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    data_dir, recs_bin, out_dir = argv[1:]
    os.makedirs(out_dir, exist_ok=True)
    splits = {
        "ml1m-p1": split_ml1m_p1,
        "ml100k-llo": split_ml100k_llo,
        "ml100k-random": split_ml100k_random,
    }
    wanted = os.environ.get("SPLITS", " ".join(splits)).split()
    results = []
    t0 = time.perf_counter()
    for name in wanted:
        paths = splits[name](data_dir, os.path.join(out_dir, name))
        print(f"== {name}", file=sys.stderr, flush=True)
        results.append(evaluate_split(name, paths, data_dir, recs_bin, os.path.join(out_dir, name)))
    import implicit
    from threadpoolctl import threadpool_info

    head = (
        f"{THREADS} threads, {os.cpu_count()} cores; load average at the end "
        f"{' '.join(open('/proc/loadavg').read().split()[:3])}; whole run {time.perf_counter() - t0:.0f} s wall; "
        f"numpy {np.__version__}, scipy {sp.__name__ and __import__('scipy').__version__}, "
        f"implicit {implicit.__version__}, BLAS "
        + ", ".join(
            f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info() if i.get("user_api") == "blas"
        )
    )
    text = head + "\n" + table(results)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"environment": head, "results": results}, f, indent=1)
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main(sys.argv)
