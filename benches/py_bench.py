"""recs vs implicit from Python, in one process, on MovieLens-1M; and the binding's overhead.

Run (after scripts/py-test.sh created the venv):

    .venv/bin/python benches/py_bench.py            # builds recs in release mode first
    .venv/bin/python benches/py_bench.py --no-build # use the installed build as is

It installs ``implicit`` and ``threadpoolctl`` into the running venv when they are missing
(benchmark only; the tests never need them), reads ML-1M from ``$RECS_DATA_DIR`` (default
``<repo>/../shared/data``), and prints two tables:

1. ALS fit and batch recommend (all 6040 users, N=10, seen items filtered), recs vs implicit,
   same hyper-parameters (64 factors, 15 iterations, conjugate gradient with 3 steps,
   regularization 0.01, equivalent confidence), plus HR@10 on one held-out item per user as a
   sanity check that both models learned something comparable.
2. The binding's overhead: the Python call versus the same core call timed inside Rust
   (``Recommender._core_recommend_seconds``), for a batch and for single users.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ensure(package: str, module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        print(f"installing {package} into {sys.prefix} (benchmark only)", flush=True)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", package])


def build_release() -> None:
    print("building recs (maturin develop --release) ...", flush=True)
    subprocess.check_call(
        [str(Path(sys.executable).with_name("maturin")), "develop", "--release", "--quiet"],
        cwd=REPO / "recs-py",
    )


def load_ml1m(data_dir: Path):
    """ML-1M as (users, items) dense indices, every rating as 1.0 (implicit feedback)."""
    import numpy as np

    path = data_dir / "ml-1m" / "ratings_uir.dat.gz"
    with gzip.open(path, "rb") as f:
        text = f.read().replace(b"::", b" ")
    arr = np.array(text.split(), dtype=np.int64).reshape(-1, 3)
    _, users = np.unique(arr[:, 0], return_inverse=True)
    _, items = np.unique(arr[:, 1], return_inverse=True)
    return users.astype(np.int32), items.astype(np.int32)


def holdout(users, items, seed=0):
    """One random held-out item per user; the rest is training data (users × items CSR)."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(users))
    # first occurrence of each user in a random order = its held-out interaction
    _, first = np.unique(users[order], return_index=True)
    test_idx = order[first]
    mask = np.ones(len(users), dtype=bool)
    mask[test_idx] = False
    n_users, n_items = users.max() + 1, items.max() + 1
    train = sp.csr_matrix(
        (np.ones(mask.sum(), dtype=np.float32), (users[mask], items[mask])),
        shape=(n_users, n_items),
    )
    test_items = np.empty(n_users, dtype=np.int64)
    test_items[users[test_idx]] = items[test_idx]
    return train, test_items


def hr_at(ids, test_items):
    import numpy as np

    return float(np.mean((ids == test_items[:, None]).any(axis=1)))


def best_of(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-build", action="store_true", help="do not rebuild recs in release mode")
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions (best is reported)")
    ap.add_argument("--skip-implicit", action="store_true", help="time recs only")
    args = ap.parse_args()

    data_dir = Path(os.environ.get("RECS_DATA_DIR", REPO.parent / "shared" / "data"))
    if not (data_dir / "ml-1m" / "ratings_uir.dat.gz").exists():
        print(f"skipping: no ML-1M under {data_dir} (set RECS_DATA_DIR)", file=sys.stderr)
        return
    if not args.no_build:
        build_release()
    ensure("threadpoolctl", "threadpoolctl")
    if not args.skip_implicit:
        ensure("implicit==0.7.*", "implicit")

    import numpy as np
    from threadpoolctl import threadpool_limits

    import recs

    users, items = load_ml1m(data_dir)
    train_csr, test_items = holdout(users, items)
    n_users, n_items = train_csr.shape
    all_users = np.arange(n_users)
    print(f"ML-1M: {n_users} users, {n_items} items, {train_csr.nnz} training interactions; "
          f"{os.cpu_count()} CPUs; Python {platform.python_version()}; recs {recs.__version__}")

    rows = []
    train = recs.Interactions.from_csr(train_csr)
    # recs: confidence c = 1 + alpha·r; implicit: c = alpha·r. On binary data recs alpha=2
    # equals implicit alpha=3.
    recs_model = recs.ALS(factors=64, iterations=15, regularization=0.01, alpha=2.0, cg_steps=3, seed=0)
    fit_s, _ = best_of(lambda: recs_model.fit(train), args.repeat)
    rec_s, (ids, _) = best_of(lambda: recs_model.recommend(all_users, N=10), args.repeat)
    rows.append(("recs ALS", fit_s, rec_s, hr_at(ids, test_items)))

    if not args.skip_implicit:
        import implicit

        with threadpool_limits(1, "blas"):
            imp = implicit.als.AlternatingLeastSquares(
                factors=64, iterations=15, regularization=0.01, alpha=3.0, use_cg=True,
                calculate_training_loss=False, random_state=0,
            )
            fit_i, _ = best_of(lambda: imp.fit(train_csr, show_progress=False), args.repeat)
            rec_i, (ids_i, _) = best_of(
                lambda: imp.recommend(all_users, train_csr, N=10), args.repeat
            )
        rows.append((f"implicit {implicit.__version__} ALS", fit_i, rec_i, hr_at(ids_i, test_items)))

    print("\n| library | fit (s) | recommend 6040 users, N=10 (s) | HR@10 (1 random held-out item) |")
    print("|---|---|---|---|")
    for name, f, r, hr in rows:
        print(f"| {name} | {f:.2f} | {r:.3f} | {hr:.3f} |")

    # ---- binding overhead -----------------------------------------------------------------
    py_batch, _ = best_of(lambda: recs_model.recommend(all_users, N=10), args.repeat)
    core_batch = min(recs_model._core_recommend_seconds(all_users, N=10) for _ in range(args.repeat))
    one_users = np.random.default_rng(1).integers(0, n_users, 500)
    t = time.perf_counter()
    for u in one_users:
        recs_model.recommend(int(u), N=10)
    py_single = (time.perf_counter() - t) / len(one_users)
    core_single = sum(recs_model._core_recommend_seconds([int(u)], N=10) for u in one_users) / len(one_users)
    # A call that does almost nothing in Rust: a popularity model over 3 items.
    tiny = recs.Popularity().fit(recs.Interactions.from_arrays([0, 1], [0, 2]))
    n = 20000
    t = time.perf_counter()
    for _ in range(n):
        tiny.recommend(0, N=2)
    py_tiny = (time.perf_counter() - t) / n
    core_tiny = tiny._core_recommend_seconds([0], N=2, repeat=n)

    print("\n| call | Python (ms) | core in Rust (ms) | binding overhead (ms) | overhead share |")
    print("|---|---|---|---|---|")
    for name, p, c in [
        ("ALS recommend, batch of 6040 users", py_batch, core_batch),
        ("ALS recommend, one user (mean of 500)", py_single, core_single),
        ("Popularity recommend on 3 items (mean of 20000)", py_tiny, core_tiny),
    ]:
        print(f"| {name} | {p * 1e3:.4f} | {c * 1e3:.4f} | {(p - c) * 1e3:.4f} | {(p - c) / p:.1%} |")


if __name__ == "__main__":
    main()
