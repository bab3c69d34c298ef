"""Loaders, splits and evaluation from Python."""

import gzip

import numpy as np
import pytest

import recs
from conftest import data_dir

pd = pytest.importorskip("pandas")


def small_dataset():
    # user 1: items 10 (t=5), 11 (t=9), 12 (t=7); user 2: 10 (t=1), 12 (t=2); user 3: one item
    return recs.Dataset.from_arrays(
        [1, 1, 1, 2, 2, 3], [10, 11, 12, 10, 12, 11], timestamps=[5, 9, 7, 1, 2, 3]
    )


def test_leave_last_out_holds_out_the_latest_item():
    split = recs.leave_last_out(small_dataset())
    assert split.name == "leave-last-out"
    assert split.test_users.tolist() == [0, 1]  # user 3 has one interaction: train only
    cases = split.test_cases()
    assert [(u, split.item_ids[i].tolist(), n) for u, i, n in cases] == [(0, [11], None), (1, [12], None)]
    assert split.train.nnz + split.test.nnz == 6
    assert split.train.shape == split.test.shape == (3, 3)
    # train and test are disjoint
    assert not (split.train.to_csr().multiply(split.test.to_csr())).nnz


@pytest.mark.parametrize("seed", range(3))
def test_splits_partition_the_data(seed):
    ds = recs.synthetic(80, 60, 1500, seed=seed)
    full = ds.interactions.to_csr()
    for split in (
        recs.leave_last_n(ds, 3),
        recs.random_holdout(ds, fraction=0.2, seed=seed),
        recs.random_holdout(ds, count=2, seed=seed),
        recs.temporal_cut(ds, fraction=0.25),
    ):
        train, test = split.train.to_csr(), split.test.to_csr()
        assert train.nnz + test.nnz == full.nnz
        assert ((train + test) != 0).sum() == full.nnz
        assert not train.multiply(test).nnz
    assert recs.random_holdout(ds, fraction=0.2, seed=seed).test.indices.tolist() == \
        recs.random_holdout(ds, fraction=0.2, seed=seed).test.indices.tolist()


def test_split_errors():
    ds = small_dataset()
    with pytest.raises(ValueError, match="exactly one"):
        recs.random_holdout(ds)
    with pytest.raises(ValueError, match="fraction"):
        recs.random_holdout(ds, fraction=1.5)
    with pytest.raises(ValueError, match="n"):
        recs.leave_last_n(ds, 0)
    with pytest.raises(ValueError, match="timestamps"):
        recs.temporal_cut(recs.Dataset.from_arrays([1], [2]), fraction=0.5)


def test_string_ids_survive_a_split():
    df = pd.DataFrame({"user": ["a", "a", "b", "b"], "item": ["x", "y", "x", "z"], "timestamp": [1, 2, 3, 4]})
    split = recs.leave_last_out(recs.Dataset.from_pandas(df))
    assert split.user_ids.tolist() == ["a", "b"]
    assert [split.item_ids[i].tolist() for _, i, _ in split.test_cases()] == [["y"], ["z"]]


def test_full_ranking_matches_a_hand_computed_case():
    # Each user's latest item is held out:
    #   user 0: train {0}, test 2;  users 1, 2: train {0}, test 1;  user 3: train {2}, test 1.
    # Popularity on train: item 0: 3, item 1: 0, item 2: 1 (3 items in all).
    # Ranks (train items excluded): user 0 -> item 2 first (rank 1); users 1, 2 -> [2, 1]
    # (rank 2); user 3 -> [0, 1] (rank 2).
    ds = recs.Dataset.from_arrays(
        [0, 1, 2, 1, 2, 3, 0, 3], [0, 0, 0, 1, 1, 2, 2, 1], timestamps=[0, 1, 2, 3, 4, 5, 10, 11]
    )
    split = recs.leave_last_out(ds)
    assert [i.tolist() for _, i, _ in split.test_cases()] == [[2], [1], [1], [1]]
    model = recs.Popularity().fit(split)
    report = recs.FullRanking(k=[1, 2], metrics=["hr", "ndcg", "mrr"]).report(model, split)
    assert report.n_users == 4
    assert report["hr@1"] == pytest.approx(1 / 4)
    assert report["hr@2"] == 1.0
    assert report["ndcg@2"] == pytest.approx((1 + 3 / np.log2(3)) / 4)
    assert report["mrr@2"] == pytest.approx((1 + 3 * 0.5) / 4)
    frame = report.to_pandas()
    assert frame["k"].tolist() == [1, 2]
    assert frame["hr"].tolist() == [0.25, 1.0]
    assert list(frame.columns[:5]) == ["model", "k", "hr", "ndcg", "mrr"]
    with pytest.raises(KeyError, match="recall@2"):
        report["recall@2"]
    # recs.measure on the same lists gives the same numbers
    ids, _ = model.recommend(split.test_users, N=2)
    again = recs.measure(ids, split, ["hr@1", "hr@2", "ndcg@2"])
    assert again["hr@2"] == report["hr@2"] and again["ndcg@2"] == report["ndcg@2"]


def test_report_round_trips_and_per_user():
    ds = recs.synthetic(100, 60, 2000, seed=4)
    split = recs.leave_last_out(ds)
    model = recs.Popularity().fit(split)
    report = recs.FullRanking(k=[5, 10], per_user=True, latency_users=20).report(model, split, name="pop")
    assert report.name == "pop"
    assert report.timings["train_seconds"] is not None and report.timings["p50_ms"] is not None
    back = recs.Report.from_json(report.to_json())
    assert back.summary == report.summary
    per_user = report.per_user()
    assert len(per_user) == report.n_users
    assert per_user["hr@10"].mean() == pytest.approx(report["hr@10"])
    assert "| pop" in report.to_markdown() or "pop" in report.to_markdown()
    for value in report.summary.values():
        assert 0.0 <= value <= 1.0
    assert recs.FullRanking(k=5).report(model, split).per_user() is None


def test_evaluator_arguments_are_checked():
    with pytest.raises(ValueError, match="ks"):
        recs.FullRanking(k=[])
    with pytest.raises(ValueError):
        recs.FullRanking(k=0)
    with pytest.raises(ValueError, match="metric"):
        recs.FullRanking(metrics=["accuracy"])
    with pytest.raises(ValueError, match="2-D"):
        recs.measure([1, 2], recs.leave_last_out(small_dataset()), ["hr@1"])
    split = recs.leave_last_out(small_dataset())
    with pytest.raises(TypeError, match="recs model"):
        recs.FullRanking().evaluate(object(), split)
    with pytest.raises(RuntimeError, match="not fitted"):
        recs.FullRanking().evaluate(recs.Popularity(), split)


def test_sampled_candidates_rank_among_negatives():
    split = recs.leave_last_out(recs.synthetic(120, 80, 3000, seed=2))
    model = recs.Popularity().fit(split)
    full = recs.FullRanking(k=10, metrics=["hr"]).report(model, split)["hr@10"]
    sampled = recs.SampledCandidates(n=20, seed=0, k=10, metrics=["hr"]).report(model, split)["hr@10"]
    # 20 negatives are easier than the whole catalogue (80 items)
    assert sampled >= full


def test_movielens_loaders_parse_errors_and_files(tmp_path):
    bad = tmp_path / "ratings.dat"
    bad.write_text("1::10::5::100\n1::x::3::200\n")
    with pytest.raises(ValueError, match="ratings.dat:2"):
        recs.load_movielens(bad)
    assert recs.load_movielens(bad, skip_bad_lines=True).interactions.nnz == 1
    gz = tmp_path / "u.data.gz"
    with gzip.open(gz, "wt") as f:
        f.write("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    ds = recs.load_movielens(gz)
    assert ds.user_ids.tolist() == [196, 186] and ds.interactions.timestamps is not None
    with pytest.raises(FileNotFoundError):
        recs.load_movielens(tmp_path / "missing.dat")


def test_real_movielens_100k():
    path = data_dir() / "ml-100k" / "u.data"
    if not path.exists():
        pytest.skip(f"no ML-100K under {data_dir()}")
    ds = recs.load_movielens(path)
    assert (ds.n_users, ds.n_items, ds.interactions.nnz) == (943, 1682, 100000)
    movies = recs.load_movies(data_dir() / "ml-100k" / "u.item")
    assert len(movies) == 1682
    assert movies["title"][49] == "Star Wars (1977)"  # item 50
    split = recs.leave_last_out(ds)
    assert len(split.test_users) == 943
