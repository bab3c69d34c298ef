"""The model API, checked the same way for every model class."""

import inspect
import json
import pickle
import threading

import numpy as np
import pytest
import scipy.sparse as sp

import recs
from conftest import random_interactions

# Every model class with small, fast parameters. A model added to the binding is added here.
MODELS = [
    (recs.Popularity, {}),
    (recs.ALS, {"factors": 8, "iterations": 5}),
    (recs.BPR, {"factors": 8, "iterations": 5, "hogwild": False}),
    (recs.ItemKNN, {"neighbors": 20}),
    (recs.EASE, {"lambda_": 10.0}),
    # release years 1990-2000 over the 40 items of `random_interactions`, every 7th unknown
    (recs.Fresh, {"years": [None if i % 7 == 0 else 1990 + i % 11 for i in range(40)], "ease_lambda": 10.0}),
    (recs.NCF, {"factors": 4, "mlp_layers": [8, 4], "epochs": 2, "seed": 1}),
    (recs.GMF, {"factors": 4, "epochs": 2}),
    (recs.MLP, {"mlp_layers": [8, 4], "epochs": 2}),
    (recs.NeuMF, {"factors": 4, "mlp_layers": [8, 4], "epochs": 2}),
]
MODEL_IDS = [cls.__name__ for cls, _ in MODELS]
# Sequence models need ordered (timed) histories; tests/test_sequences.py checks them.
SEQUENCE_MODELS = [recs.Transition, recs.SASRec]
# Models with item similarity (similar_items) and latent factors (user_factors, item_factors).
SIMILAR = {"ALS", "BPR", "ItemKNN", "EASE", "Fresh", "NCF", "GMF", "MLP", "NeuMF"}
FACTORS = {"ALS", "BPR"}


@pytest.fixture(params=MODELS, ids=MODEL_IDS)
def fitted(request, train):
    cls, params = request.param
    return cls(**params).fit(train)


def test_every_model_class_is_tested():
    native = {
        name
        for name in dir(recs)
        if isinstance(getattr(recs, name), type)
        and issubclass(getattr(recs, name), recs.Recommender)
        and getattr(recs, name) is not recs.Recommender
    }
    assert native == set(MODEL_IDS) | {cls.__name__ for cls in SEQUENCE_MODELS}


@pytest.mark.parametrize(
    "cls",
    [c for c, _ in MODELS] + SEQUENCE_MODELS,
    ids=MODEL_IDS + [c.__name__ for c in SEQUENCE_MODELS],
)
def test_signature_defaults_equal_rust_defaults(cls):
    """help(cls) shows the defaults of the signature; they must be the core's defaults."""
    sig = inspect.signature(cls)
    shown = {name: p.default for name, p in sig.parameters.items()}
    assert all(p.kind is p.KEYWORD_ONLY for p in sig.parameters.values())
    params = cls().get_params()
    assert shown.keys() == params.keys()
    for name, default in shown.items():
        if default is not Ellipsis:  # a list default shows as "..." in the signature
            assert default == params[name], name
    # The Rust params built from the Python defaults are exactly `X::params()`.
    assert json.loads(cls()._core_params) == json.loads(cls._core_defaults)
    assert cls.__doc__ and ">>>" in cls.__doc__
    for name in shown:
        assert name in cls.__doc__, f"{cls.__name__} docstring does not document {name}"


def test_recommend_single_user_shapes_and_filters(fitted, train):
    for u in range(train.n_users):
        ids, scores = fitted.recommend(u, N=5)
        assert ids.dtype == np.int32 and scores.dtype == np.float32
        assert ids.shape == scores.shape and len(ids) <= 5
        assert len(set(ids.tolist())) == len(ids)
        assert not set(ids.tolist()) & set(train.items_of(u).tolist())
        assert np.all(np.diff(scores) <= 0)
        # unfiltered: all items are eligible, so exactly N come back
        ids_all, _ = fitted.recommend(u, N=5, filter_already_liked_items=False)
        assert len(ids_all) == 5


def test_recommend_filter_items_and_items(fitted, train):
    u = 3
    deny = fitted.recommend(u, N=4)[0]
    ids, _ = fitted.recommend(u, N=10, filter_items=deny)
    assert not set(ids.tolist()) & set(deny.tolist())
    allow = np.array([0, 5, 7, 11, 39])
    ids, scores = fitted.recommend(u, N=10, items=allow, filter_already_liked_items=False)
    assert sorted(ids.tolist()) == sorted(allow.tolist())
    np.testing.assert_allclose(scores, fitted.score_items(u, ids), rtol=1e-6)


def test_batch_equals_single_calls(fitted, train):
    users = np.array([0, 4, 4, 17, 29])
    ids, scores = fitted.recommend(users, N=7)
    assert ids.shape == (5, 7) and scores.shape == (5, 7)
    for row, u in enumerate(users):
        one_ids, one_scores = fitted.recommend(int(u), N=7)
        n = len(one_ids)
        np.testing.assert_array_equal(ids[row, :n], one_ids)
        np.testing.assert_allclose(scores[row, :n], one_scores, rtol=1e-6)
        assert np.all(ids[row, n:] == -1) and np.all(np.isneginf(scores[row, n:]))
    # a list works as well as an array, and np.int64 scalars as ints
    assert fitted.recommend([0, 4], N=3)[0].shape == (2, 3)
    assert fitted.recommend(np.int64(4), N=3)[0].ndim == 1


def test_user_items_conventions(fitted, train):
    """scipy user_items: one row per requested user (implicit); recs matrices: by user."""
    csr = train.to_csr()
    users = np.array([2, 9])
    want_ids, _ = fitted.recommend(users, N=6)
    got_ids, _ = fitted.recommend(users, user_items=csr[users], N=6)
    np.testing.assert_array_equal(got_ids, want_ids)
    got_ids, _ = fitted.recommend(users, user_items=train, N=6)
    np.testing.assert_array_equal(got_ids, want_ids)
    one, _ = fitted.recommend(9, user_items=csr[9], N=6)
    np.testing.assert_array_equal(one, want_ids[1])
    with pytest.raises(ValueError, match="one row per user"):
        fitted.recommend(users, user_items=csr, N=6)
    # an empty history filters nothing
    empty = sp.csr_matrix((1, train.n_items), dtype=np.float32)
    ids, _ = fitted.recommend(2, user_items=empty, N=train.n_items)
    assert len(ids) == train.n_items


def test_unknown_ids_raise_index_error(fitted, train):
    with pytest.raises(IndexError):
        fitted.recommend(-1)
    with pytest.raises(IndexError):
        fitted.recommend(0, items=[train.n_items + 5])
    with pytest.raises(IndexError):
        fitted.score_items(0, [train.n_items])
    with pytest.raises(IndexError):
        fitted.recommend([0, -3])


def test_similar_items(fitted, train):
    name = type(fitted).__name__
    if name not in SIMILAR:
        with pytest.raises(recs.RecsError, match="similarity"):
            fitted.similar_items(0)
        return
    ids, scores = fitted.similar_items(3, N=5)
    assert 3 not in ids.tolist() and len(ids) == 5 and np.all(np.diff(scores) <= 0)
    batch_ids, _ = fitted.similar_items([3, 4], N=5)
    np.testing.assert_array_equal(batch_ids[0], ids)
    with pytest.raises(IndexError):
        fitted.similar_items(train.n_items)


def test_factors(fitted, train):
    name = type(fitted).__name__
    if name not in FACTORS:
        with pytest.raises(AttributeError):
            fitted.user_factors
        with pytest.raises(AttributeError):
            fitted.item_factors
        return
    uf, itf = fitted.user_factors, fitted.item_factors
    assert uf.dtype == np.float32 and itf.dtype == np.float32
    assert uf.shape[0] == train.n_users and itf.shape[0] == train.n_items
    assert uf.shape[1] == itf.shape[1]


def test_save_load_round_trip(fitted, train, tmp_path):
    path = tmp_path / "model.recs"
    fitted.save(path)
    exact = type(fitted).load(str(path))
    assert type(exact) is type(fitted)
    for loaded in (recs.load(path), exact, recs.Recommender.load(path)):
        # recs.load picks the class of the file's kind (GMF, MLP and NeuMF files are "ncf")
        assert loaded.kind == fitted.kind and loaded.is_fitted
        users = np.arange(train.n_users)
        csr = train.to_csr()
        want = fitted.recommend(users, N=5)
        got = loaded.recommend(users, user_items=csr, N=5)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.recommend(1, user_items=train)[0], fitted.recommend(1)[0])
    assert recs.Recommender.from_bytes(fitted.to_bytes()).kind == fitted.kind


def test_model_file_errors(tmp_path, train):
    with pytest.raises(FileNotFoundError, match="nope"):
        recs.load(tmp_path / "nope.recs")
    bad = tmp_path / "bad.recs"
    bad.write_bytes(b"not a model")
    with pytest.raises(recs.RecsError, match="not a recs model file"):
        recs.load(bad)
    good = recs.Popularity().fit(train).to_bytes()
    damaged = bytearray(good)
    damaged[-1] ^= 0xFF
    with pytest.raises(recs.RecsError, match="checksum"):
        recs.Recommender.from_bytes(bytes(damaged))
    for cls, params in MODELS:
        if cls is not recs.Popularity:
            with pytest.raises(ValueError, match="popularity"):
                cls.from_bytes(good)


def test_unfitted_and_abstract():
    model = recs.Popularity()
    assert not model.is_fitted
    with pytest.raises(RuntimeError, match="not fitted"):
        model.recommend(0)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.save("x.recs")
    with pytest.raises(TypeError, match="abstract"):
        recs.Recommender()
    with pytest.raises(TypeError):
        recs.Popularity(0.5)  # parameters are keyword-only


def test_invalid_params_raise_value_error_at_construction():
    with pytest.raises(ValueError, match="min_value"):
        recs.Popularity(min_value=float("inf"))


def test_repr_and_params():
    model = recs.Popularity(min_value=4.0)
    assert repr(model) == "Popularity(min_value=4.0)"
    assert model.get_params() == {"min_value": 4.0}
    assert model.kind == "popularity"


def test_popularity_scores_are_counts():
    # hand-computed: item counts [2, 1, 0, 3] with min_value 0; with min_value 4 only ratings >= 4
    train = recs.Interactions.from_arrays(
        [0, 1, 2, 0, 1, 3], [0, 0, 1, 3, 3, 3], [5, 4, 3, 2, 5, 5], shape=(5, 4)
    )
    ids, scores = recs.Popularity().fit(train).recommend(4, N=4)
    assert ids.tolist() == [3, 0, 1, 2] and scores.tolist() == [3.0, 2.0, 1.0, 0.0]
    ids, scores = recs.Popularity(min_value=4.0).fit(train).recommend(4, N=3)
    assert ids.tolist() == [0, 3, 1] and scores.tolist() == [2.0, 2.0, 0.0]


def test_concurrent_calls_from_threads(fitted, train):
    """The GIL is released during scoring: threads may share a model and get the same answers."""
    users = np.arange(train.n_users)
    want = fitted.recommend(users, N=5)[0]
    out = [None] * 4

    def work(k):
        out[k] = fitted.recommend(users, N=5)[0]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in out:
        np.testing.assert_array_equal(got, want)


def test_refit_replaces_state():
    a = random_interactions(seed=1)
    b = random_interactions(seed=2)
    model = recs.Popularity()
    ids_a = model.fit(a).recommend(0, N=5, filter_already_liked_items=False)[0]
    ids_b = model.fit(b).recommend(0, N=5, filter_already_liked_items=False)[0]
    np.testing.assert_array_equal(ids_b, recs.Popularity().fit(b).recommend(0, N=5, filter_already_liked_items=False)[0])
    assert model.fit(a) is model
    np.testing.assert_array_equal(model.recommend(0, N=5, filter_already_liked_items=False)[0], ids_a)


def test_recalculate_user_matches_the_trained_factors(train):
    """ALS's fold-in solves the same per-user step as the last training sweep, so folding a
    user in from their own training row lands near their trained factors, and recommending
    from the folded-in factors ranks like the model does."""
    model = recs.ALS(factors=8, iterations=10, seed=3).fit(train)
    csr = train.to_csr()
    user = int(np.argmax(np.diff(csr.indptr)))
    folded = model.recalculate_user(user, csr[user])
    assert folded.shape == (8,) and folded.dtype == np.float32
    trained = model.user_factors[user]
    cos = folded @ trained / (np.linalg.norm(folded) * np.linalg.norm(trained))
    assert cos > 0.99, cos
    batch = model.recalculate_user([user, 0], csr[[user, 0]])
    assert batch.shape == (2, 8)
    np.testing.assert_allclose(batch[0], folded, rtol=1e-5, atol=1e-6)
    # the native matrix is indexed by user, like recommend's user_items
    np.testing.assert_allclose(model.recalculate_user(user, train), folded, rtol=1e-5, atol=1e-6)


def test_recalculate_user_errors(train):
    with pytest.raises(recs.RecsError, match="ALS"):
        recs.Popularity().fit(train).recalculate_user(0, train.to_csr()[0])
    model = recs.ALS(factors=4, iterations=2).fit(train)
    n = model.n_items
    with pytest.raises(IndexError):
        model.recalculate_user(0, sp.csr_matrix(([1.0], ([0], [n + 5])), shape=(1, n + 6)))
    with pytest.raises(ValueError, match="one row per user"):
        model.recalculate_user([0, 1], train.to_csr()[0])


def test_fresh_reweights_the_base_scores_by_release_year(train):
    with pytest.raises(ValueError, match="years"):
        recs.Fresh().fit(train)
    years = [None if i % 5 == 0 else 1996 + i % 5 for i in range(train.n_items)]
    base = recs.EASE(lambda_=10.0).fit(train)
    fresh = recs.Fresh(years=years, ease_lambda=10.0, boost=2.0, decay_years=1.0).fit(train)
    for u in range(train.n_users):
        ids_b, s_b = base.recommend(u, N=train.n_items)
        ids_f, s_f = fresh.recommend(u, N=train.n_items)
        base_score = dict(zip(ids_b.tolist(), s_b.tolist()))
        for i, s in zip(ids_f.tolist(), s_f.tolist()):
            w = 1.0 if years[i] is None else 1.0 + 2.0 * np.exp(-(2000 - years[i]) / 1.0)
            b = base_score[i]
            assert s == pytest.approx(b * w if b >= 0 else b / w, rel=1e-5, abs=1e-6)


def test_fresh_weighs_recent_history_by_timestamps():
    # user 0 rated items 0, 1, 2 at times 10, 30, 30 (ranks 2, 0, 0); the others give EASE its weights
    rng = np.random.default_rng(3)
    users = [0, 0, 0] + [u for u in range(1, 30) for _ in range(4)]
    items = [0, 1, 2] + rng.integers(0, 12, size=len(users) - 3).tolist()
    times = [10, 30, 30] + [100] * (len(users) - 3)
    timed = recs.Interactions.from_arrays(users, items, timestamps=times, duplicates="first")
    years = [None] * timed.n_items
    fresh = recs.Fresh(years=years, ease_lambda=10.0, recency_boost=2.0, recency_decay=1.0).fit(timed)
    ease = recs.EASE(lambda_=10.0).fit(timed)
    n = timed.n_items

    def row(i):  # EASE's weights B[i, :], as the scores of the history {i}
        ids, s = ease.recommend(0, sp.csr_matrix(([1.0], ([0], [i])), shape=(1, n)), N=n, filter_already_liked_items=False)
        return dict(zip(ids.tolist(), s.tolist()))

    w = {0: 1.0 + 2.0 * np.exp(-2.0), 1: 3.0, 2: 3.0}
    rows = {i: row(i) for i in w}
    ids, s = fresh.recommend(0, N=n - 3)
    assert len(ids) == n - 3 and not {0, 1, 2} & set(ids.tolist())
    for j, got in zip(ids.tolist(), s.tolist()):
        assert got == pytest.approx(sum(w[i] * rows[i][j] for i in w), rel=1e-4, abs=1e-6)
    # without timestamps every history item counts the same: EASE's own ranking
    plain = recs.Fresh(years=years, ease_lambda=10.0).fit(recs.Interactions.from_arrays(users, items, duplicates="first"))
    assert plain.recommend(0, N=5)[0].tolist() == ease.recommend(0, N=5)[0].tolist()
