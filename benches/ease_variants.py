"""EASE variants on ML-1M (issue 3): do validation gains carry over to the test split?

Independent numpy code (not recs) so the figures double as a cross-check of recs' EASE.
Validation split: as `examples/tune.rs` (users 1-2999, each one's latest training rating by
timestamp held out, negatives sampled with seed 0 from unrated items). Test: protocol P1 (full
ranking, training items excluded) and P2 (the 99 given negatives).

    RECS_DATA_DIR=../shared/data python3 benches/ease_variants.py      # ~3 min, numpy only

Variants: lambda; popularity penalty (scores / (count+1)^beta, as RP3beta's beta); rating-
weighted input rows; a blend with user-kNN (cosine, k=50, z-scored scores); test split by user
group (users 1-2999 vs 3000-6040) to show where the validation/test gap comes from; release-year
re-weighting as recs' `fresh` model (scores · (1 + boost · exp(-age / decay)), age = 2000 - year
from ml-1m/movies.dat; a cross-check of recs' figures), alone and with a genre prior whose
per-genre ratio (share among the validation held-out items / share among all validation training
ratings) is learned on the validation split only; and `fresh` with its recency weights (each
user's history item counts 1 + 15 · exp(-rank / 5) times, rank = the number of the user's training
pairs with a later rating time; times exist for users 1-2999 only, the others stay unweighted).
"""

import gzip
import os
import sys

import numpy as np

D = os.environ.get("RECS_DATA_DIR", os.path.join(os.path.dirname(__file__), "../../shared/data"))
NCF = os.path.join(D, "ml-1m-ncf")
if not os.path.exists(os.path.join(NCF, "ml-1m.train.pairs.gz")):
    print(f"skipping: no ML-1M NCF data under {D} (set RECS_DATA_DIR)", file=sys.stderr)
    sys.exit(0)

U, I = 6040, 3706
TIMES = {}  # (user, item) -> rating time of the training pairs of users 1-2999


def load_movie_to_item():
    """MovieID -> NCF item, from item_id_map.tsv."""
    out = {}
    with open(os.path.join(NCF, "item_id_map.tsv")) as f:
        next(f)
        for line in f:
            a, b = line.split()
            out[int(b)] = int(a)
    return out


def load_splits():
    tr = np.loadtxt(gzip.open(os.path.join(NCF, "ml-1m.train.pairs.gz")), dtype=np.int64)
    movie_to_item = load_movie_to_item()
    pairs = set(zip(tr[:, 0].tolist(), tr[:, 1].tolist()))
    latest = {}
    with gzip.open(os.path.join(D, "ml-1m/ratings_users0001-2999.dat.gz"), "rt") as f:
        for line in f:
            u, m, _, t = line.strip().split("::")
            u, i, t = int(u) - 1, movie_to_item[int(m)], int(t)
            if (u, i) not in pairs:
                continue  # the NCF test pair
            TIMES[(u, i)] = t
            if u not in latest or t >= latest[u][0]:
                latest[u] = (t, i)
    held = {(u, i) for u, (_, i) in latest.items()}
    keep = np.array([p not in held for p in zip(tr[:, 0].tolist(), tr[:, 1].tolist())])
    val_test = np.array([(u, i) for u, (_, i) in sorted(latest.items())])
    test = np.loadtxt(os.path.join(NCF, "ml-1m.test.rating"), dtype=np.int64)[:, :2]
    with open(os.path.join(NCF, "ml-1m.test.negative")) as f:
        neg = np.array([[int(x) for x in line.split("\t")[1:100]] for line in f])
    return {"val": (tr[keep], val_test, None), "test": (tr, test, neg)}


def matrix(train, values=False):
    x = np.zeros((U, I), dtype=np.float32)
    x[train[:, 0], train[:, 1]] = train[:, 2] if values else 1.0
    return x


def ease(x, lam):
    g = (x.T @ x).astype(np.float64)
    g[np.diag_indices(I)] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)
    b[np.diag_indices(I)] = 0
    return b.astype(np.float32)


def sample_negatives(x, cases, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for u, i in cases:
        c = []
        while len(c) < 99:
            j = rng.integers(I)
            if x[u, j] == 0 and j != i:
                c.append(j)
        out.append(c)
    return np.array(out)


def full(s, x, cases):
    users, items = cases[:, 0], cases[:, 1]
    s = s[users].copy()
    s[x[users] > 0] = -np.inf
    rank = (s > s[np.arange(len(users)), items][:, None]).sum(1)
    hit = rank < 10
    return hit.mean(), (hit / np.log2(rank + 2)).mean()


def sampled(s, cases, neg):
    users, items = cases[:, 0], cases[:, 1]
    rank = (s[users[:, None], neg] > s[users, items][:, None]).sum(1)
    hit = rank < 10
    return hit.mean(), (hit / np.log2(rank + 2)).mean()


def item_meta():
    """Release year and row-normalized genre indicators per NCF item, from movies.dat."""
    import re

    movie_to_item = load_movie_to_item()
    year = np.zeros(I)
    genres, pairs = {}, []
    with open(os.path.join(D, "ml-1m/movies.dat"), encoding="latin1") as f:
        for line in f:
            mid, title, g = line.rstrip("\n").split("::")
            if int(mid) in movie_to_item:
                i = movie_to_item[int(mid)]
                year[i] = int(re.search(r"\((\d{4})\)\s*$", title).group(1))
                pairs += [(i, genres.setdefault(x, len(genres))) for x in g.split("|")]
    gm = np.zeros((I, len(genres)))
    for i, g in pairs:
        gm[i, g] = 1
    return year, gm / gm.sum(1, keepdims=True)


def recency_ranks(train):
    """Per (user, item) of `train`: how many of the user's pairs are strictly newer (0 = latest);
    0 for users without times, so their history is unweighted."""
    r = np.zeros((U, I), dtype=np.float32)
    by_user = {}
    for u, i in train[:, :2].tolist():
        if (u, i) in TIMES:
            by_user.setdefault(u, []).append((i, TIMES[(u, i)]))
    for u, pairs in by_user.items():
        items = np.array([i for i, _ in pairs])
        t = np.array([t for _, t in pairs])
        r[u, items] = (t[None, :] > t[:, None]).sum(1)
    # a user's pairs without a time (none here: times cover users 1-2999 whole) would be oldest
    return r


def z(s):
    return (s - s.mean(1, keepdims=True)) / (s.std(1, keepdims=True) + 1e-9)


def user_knn(x, k=50):
    xn = x / (np.sqrt(x.sum(1)) + 1e-9)[:, None]
    sim = xn @ xn.T
    np.fill_diagonal(sim, 0)
    idx = np.argpartition(-sim, k, axis=1)[:, :k]
    kept = np.zeros_like(sim)
    rows = np.arange(U)[:, None]
    kept[rows, idx] = sim[rows, idx]
    return kept @ x


def main():
    print("| split | variant | full HR@10 / NDCG@10 | sampled HR@10 / NDCG@10 |")
    print("|---|---|---|---|")
    year, genre = item_meta()
    ratio = None
    for name, (train, cases, neg) in load_splits().items():
        if ratio is None:  # "val" comes first: the genre prior is learned there only
            held = genre[cases[:, 1]].sum(0) + 1
            every = genre[train[:, 1]].sum(0) + 1
            ratio = (held / held.sum()) / (every / every.sum())
        x = matrix(train)
        if neg is None:
            neg = sample_negatives(x, cases)
        count = x.sum(0) + 1

        def row(variant, s, sel=slice(None)):
            f, p = full(s, x, cases[sel]), sampled(s, cases[sel], neg[sel])
            print(f"| {name} | {variant} | {f[0]:.4f} / {f[1]:.4f} | {p[0]:.4f} / {p[1]:.4f} |", flush=True)

        b500 = ease(x, 500)
        for lam in (500, 800, 1200):
            s = x @ (b500 if lam == 500 else ease(x, lam))
            for beta in (0.0, 0.15, 0.25):
                row(f"EASE λ={lam}, popularity penalty β={beta}", s / count**beta)
        r = matrix(train, values=True)
        row("EASE λ=500, input rows rating/5", (r / 5) @ b500)
        row("EASE λ=500 + 0.3 · user-kNN (k=50)", z(x @ b500) + 0.3 * z(user_knn(x)))
        fresh = np.maximum(x @ ease(x, 800), 0) * (1 + 0.75 * np.exp(-(year.max() - year) / 0.5))
        row("fresh: EASE λ=800 · year weight (boost 0.75, decay 0.5 y)", fresh)
        for b in (0.5, 1.0):
            row(f"fresh · genre prior^{b}", fresh * np.exp(b * (genre @ np.log(ratio))))
        hist = x * (1 + 15 * np.exp(-recency_ranks(train) / 5))
        recent = np.maximum(hist @ ease(x, 800), 0) * (1 + 0.75 * np.exp(-(year.max() - year) / 0.5))
        row("fresh + recency (history weight 1 + 15 · exp(-rank / 5))", recent)
        if name == "test":
            row("fresh + recency, users 1-2999 only", recent, cases[:, 0] < 2999)
            row("fresh + recency, users 3000-6040 only", recent, cases[:, 0] >= 2999)
        if name == "test":
            s = x @ b500
            row("EASE λ=500, users 1-2999 only", s, cases[:, 0] < 2999)
            row("EASE λ=500, users 3000-6040 only", s, cases[:, 0] >= 2999)


if __name__ == "__main__":
    main()
