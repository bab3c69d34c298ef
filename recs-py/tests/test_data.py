"""Building interactions from numpy, scipy and pandas, and mapping ids."""

import numpy as np
import pytest
import scipy.sparse as sp

import recs

pd = pytest.importorskip("pandas")


@pytest.mark.parametrize("seed", range(5))
def test_from_arrays_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, nnz = 17, 23, 120
    users = rng.integers(0, n_users, nnz)
    items = rng.integers(0, n_items, nnz)
    values = rng.integers(1, 6, nnz).astype(np.float64)
    m = recs.Interactions.from_arrays(users, items, values, shape=(n_users, n_items), duplicates="sum")
    # scipy sums duplicates too: the two must agree entry for entry.
    want = sp.coo_matrix((values, (users, items)), shape=(n_users, n_items)).tocsr()
    assert m.shape == (n_users, n_items)
    assert m.nnz == want.nnz
    np.testing.assert_array_equal(m.to_csr().toarray(), want.toarray())
    for u in range(n_users):
        np.testing.assert_array_equal(m.items_of(u), np.flatnonzero(want[u].toarray()))


@pytest.mark.parametrize("seed", range(3))
def test_csr_round_trip(seed):
    rng = np.random.default_rng(seed)
    dense = (rng.random((12, 9)) < 0.3) * rng.integers(1, 6, (12, 9))
    csr = sp.csr_matrix(dense.astype(np.float32))
    m = recs.Interactions.from_csr(csr)
    back = m.to_csr()
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back.toarray(), dense)
    np.testing.assert_array_equal(m.indptr, csr.indptr)
    assert recs.Interactions.from_csr(back) == m


def test_from_csr_accepts_non_canonical_input_without_changing_it():
    # duplicate entry (0, 1) and unsorted indices in row 0
    csr = sp.csr_matrix(
        (np.array([1.0, 2.0, 3.0]), np.array([2, 1, 1]), np.array([0, 3, 3])), shape=(2, 3)
    )
    assert not csr.has_canonical_format
    m = recs.Interactions.from_csr(csr)
    assert m.items_of(0).tolist() == [1, 2]
    assert m.values_of(0).tolist() == [5.0, 1.0]
    assert csr.indices.tolist() == [2, 1, 1]  # input untouched
    assert recs.Interactions.from_csr(csr.tocoo()).nnz == 2  # any scipy format


def test_duplicates_policies():
    u, i, v, t = [0, 0, 0], [1, 1, 1], [5.0, 2.0, 4.0], [30, 10, 20]
    def value(dups):
        return recs.Interactions.from_arrays(u, i, v, t, duplicates=dups).values.tolist()
    assert value("last") == [5.0]  # largest timestamp
    assert value("first") == [5.0]
    assert value("sum") == [11.0]
    assert value("max") == [5.0]
    m = recs.Interactions.from_arrays(u, i, v, [10, 30, 20])
    assert m.values.tolist() == [2.0] and m.timestamps.tolist() == [30]
    with pytest.raises(ValueError, match="duplicates"):
        recs.Interactions.from_arrays(u, i, duplicates="mean")


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="parallel"):
        recs.Interactions.from_arrays([0, 1], [0])
    with pytest.raises(ValueError, match="out of range"):
        recs.Interactions.from_arrays([-1], [0])
    with pytest.raises(ValueError, match="finite"):
        recs.Interactions.from_arrays([0], [0], [np.nan])
    with pytest.raises(ValueError, match="outside"):
        recs.Interactions.from_arrays([3], [0], shape=(2, 2))
    with pytest.raises(ValueError, match="integers"):
        recs.Interactions.from_arrays([0.5], [0])
    with pytest.raises(ValueError, match="1-D"):
        recs.Interactions.from_arrays([[0]], [[0]])
    with pytest.raises(TypeError):
        recs.Interactions.from_csr(np.eye(2))


def test_interactions_accessors():
    m = recs.Interactions.from_arrays([0, 0, 2], [1, 3, 1], [2.0, 1.0, 5.0], [7, 8, 9])
    assert (m.n_users, m.n_items, len(m)) == (3, 4, 3)
    assert m.indptr.tolist() == [0, 2, 2, 3]
    assert m.timestamps.tolist() == [7, 8, 9]
    assert m.user_counts().tolist() == [2, 0, 1]
    assert m.item_counts().tolist() == [0, 2, 0, 1]
    assert m.binarized().values.tolist() == [1.0, 1.0, 1.0]
    t = m.transpose()
    assert t.shape == (4, 3) and t.items_of(1).tolist() == [0, 2]
    assert m.items_of(99).tolist() == []
    assert "n_users=3" in repr(m)
    assert recs.Interactions.from_arrays([], [], shape=(2, 2)).nnz == 0


def test_dataset_from_arrays_keeps_ids_in_first_seen_order():
    ds = recs.Dataset.from_arrays([196, 186, 196, 22], [242, 302, 377, 242], [3, 3, 1, 5])
    assert ds.user_ids.tolist() == [196, 186, 22]
    assert ds.item_ids.tolist() == [242, 302, 377]
    assert ds.user_index(22) == 2
    assert ds.item_index([377, 242]).tolist() == [2, 0]
    m = ds.interactions
    assert m.items_of(0).tolist() == [0, 2] and m.values_of(0).tolist() == [3.0, 1.0]
    with pytest.raises(IndexError, match="unknown user id 5"):
        ds.user_index(5)
    with pytest.raises(IndexError, match="unknown item id"):
        ds.item_index([242, 1])


def test_dataset_from_pandas_with_string_ids_and_datetimes():
    df = pd.DataFrame(
        {
            "uid": ["ann", "bob", "ann", "cy"],
            "movie": ["Heat", "Up", "Up", "Heat"],
            "stars": [5, 3, 4, 2],
            "when": pd.to_datetime([1, 2, 3, 4], unit="s"),
        }
    )
    ds = recs.Dataset.from_pandas(df, user="uid", item="movie", rating="stars", timestamp="when")
    assert ds.user_ids.tolist() == ["ann", "bob", "cy"]
    assert ds.item_ids.tolist() == ["Heat", "Up"]
    assert ds.user_index("cy") == 2
    assert ds.item_index(["Up", "Heat"]).tolist() == [1, 0]
    m = ds.interactions
    assert m.values_of(0).tolist() == [5.0, 4.0]
    assert m.timestamps.tolist() == [1, 3, 2, 4]
    with pytest.raises(IndexError, match="'dan'"):
        ds.user_index("dan")
    # round trip through to_pandas keeps the external ids
    back = ds.to_pandas().sort_values(["user", "item"]).reset_index(drop=True)
    assert back["user"].tolist() == ["ann", "ann", "bob", "cy"]
    assert back["item"].tolist() == ["Heat", "Up", "Up", "Heat"]
    assert back["rating"].tolist() == [5.0, 4.0, 3.0, 2.0]


def test_dataset_from_pandas_defaults_and_errors():
    df = pd.DataFrame({"user": [10, 20], "item": [1, 2], "rating": [4.0, 5.0]})
    ds = recs.Dataset.from_pandas(df)
    assert ds.user_ids.dtype == np.int64 and ds.user_ids.tolist() == [10, 20]
    assert ds.interactions.values.tolist() == [4.0, 5.0]
    no_rating = recs.Dataset.from_pandas(df[["user", "item"]])
    assert no_rating.interactions.values.tolist() == [1.0, 1.0]
    with pytest.raises(KeyError, match="stars"):
        recs.Dataset.from_pandas(df, rating="stars")
    with pytest.raises(KeyError, match="uid"):
        recs.Dataset.from_pandas(df, user="uid")
    with pytest.raises(ValueError, match="missing"):
        recs.Dataset.from_pandas(pd.DataFrame({"user": ["a", None], "item": [1, 2]}))


def test_models_train_on_every_matrix_kind():
    ds = recs.Dataset.from_arrays([5, 5, 6], [1, 2, 2])
    want = recs.Popularity().fit(ds.interactions).recommend(1, N=3)
    for data in (ds, ds.interactions, ds.interactions.to_csr(), ds.interactions.to_csr().tocoo()):
        got = recs.Popularity().fit(data).recommend(1, N=3)
        np.testing.assert_array_equal(got[0], want[0])
    with pytest.raises(TypeError, match="scipy.sparse"):
        recs.Popularity().fit([[1, 0]])
