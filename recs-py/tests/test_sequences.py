"""Sequence models from a pandas frame with a time column, recommending after a list of item ids."""

import numpy as np
import pandas as pd
import pytest

import recs


def cycle_frame(n_users=12, n_items=6, length=4):
    """User u watches (u + k) % n_items for k = 0..length-1, at times k (string item ids)."""
    rows = [
        (f"u{u}", f"i{(u + k) % n_items}", 100 + k)
        for u in range(n_users)
        for k in range(length)
    ]
    return pd.DataFrame(rows, columns=["user", "item", "time"])


@pytest.fixture
def dataset():
    return recs.Dataset.from_pandas(cycle_frame(), timestamp="time")


def test_transition_follows_the_newest_item_in_raw_ids(dataset):
    model = recs.Transition().fit(dataset)
    ids, scores = model.recommend_sequence(["i0", "i1"], N=1)
    assert ids.tolist() == ["i2"]
    assert scores.dtype == np.float32
    # the order of the list matters: newest last
    assert model.recommend_sequence(["i1", "i4"], N=1)[0].tolist() == ["i5"]
    assert model.recommend_sequence(["i4", "i1"], N=1)[0].tolist() == ["i2"]
    # the given items are left out unless asked otherwise
    ids, _ = model.recommend_sequence(["i0", "i1"], N=6)
    assert not {"i0", "i1"} & set(ids.tolist())
    ids, _ = model.recommend_sequence(["i0", "i1"], N=6, filter_already_liked_items=False)
    assert len(ids) == 6


def test_order_comes_from_the_time_column_not_the_row_order(dataset):
    shuffled = cycle_frame().sample(frac=1.0, random_state=3)
    model = recs.Transition().fit(recs.Dataset.from_pandas(shuffled, timestamp="time"))
    assert model.recommend_sequence(["i3"], N=1)[0].tolist() == ["i4"]


def test_dense_indices_without_a_dataset_and_explicit_dataset(dataset):
    model = recs.Transition().fit(dataset.interactions)
    i0, i1 = dataset.item_index(["i0", "i1"]).tolist()
    ids, _ = model.recommend_sequence([i0, i1], N=1)
    assert ids.dtype == np.int32
    assert ids.tolist() == dataset.item_index(["i2"]).tolist()
    ids, _ = model.recommend_sequence(["i0", "i1"], N=1, dataset=dataset)
    assert ids.tolist() == ["i2"]


def test_bad_input(dataset):
    model = recs.Transition().fit(dataset)
    with pytest.raises(IndexError):
        model.recommend_sequence(["nope"])
    with pytest.raises(TypeError):
        model.recommend_sequence("i0")
    with pytest.raises(ValueError, match="timestamps"):
        recs.Transition().fit(recs.Dataset.from_pandas(cycle_frame().drop(columns="time")))
    with pytest.raises(RuntimeError):
        recs.Transition().recommend_sequence(["i0"])
    # an empty history gets the popular items
    assert len(model.recommend_sequence([], N=3)[0]) == 3


def test_sasrec_through_the_same_path(dataset):
    model = recs.SASRec(hidden=8, epochs=2, patience=0, seed=1).fit(dataset)
    ids, scores = model.recommend_sequence(["i0", "i1"], N=3)
    assert len(ids) == 3 and not {"i0", "i1"} & set(ids.tolist())
    assert np.all(np.diff(scores) <= 0)
    again = recs.SASRec(hidden=8, epochs=2, patience=0, seed=1).fit(dataset)
    assert again.recommend_sequence(["i0", "i1"], N=3)[0].tolist() == ids.tolist()


def test_save_load_keeps_the_model_and_needs_the_dataset_for_raw_ids(dataset, tmp_path):
    model = recs.Transition().fit(dataset)
    path = tmp_path / "t.recs"
    model.save(str(path))
    back = recs.load(str(path))
    assert type(back) is recs.Transition
    assert back.recommend_sequence(["i0", "i1"], N=1, dataset=dataset)[0].tolist() == ["i2"]
