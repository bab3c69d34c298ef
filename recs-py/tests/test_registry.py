"""The model registry from Python: publish, list, load, promote, roll back."""

import numpy as np
import pytest

import recs


@pytest.fixture
def split():
    return recs.leave_last_out(recs.synthetic(80, 40, 1500, seed=5))


def test_publish_list_load_round_trip(tmp_path, split):
    reg = recs.Registry(str(tmp_path / "models"))
    assert reg.versions() == [] and reg.latest is None
    model = recs.Popularity(min_value=2.0).fit(split)
    report = recs.FullRanking(k=10, metrics=["hr", "ndcg"]).report(model, split)
    meta = reg.publish(model, metrics=report, note="first", promote=True)
    assert meta["version"] == "v1.0" and meta["kind"] == "popularity"
    assert meta["metrics"] == report.summary
    assert meta["params"] == {"min_value": 2.0}
    assert meta["data_snapshot"]  # fitted in this process: the training data is identified
    assert reg.latest == "v1.0"

    other = recs.Popularity().fit(split)
    meta2 = reg.publish(other, metrics={"hr@10": 0.1}, bump="major")
    assert meta2["version"] == "v2.0" and reg.latest == "v1.0"  # not promoted
    assert reg.versions() == ["v1.0", "v2.0"]

    loaded = reg.load()  # the latest
    users = split.test_users
    np.testing.assert_array_equal(
        loaded.recommend(users, user_items=split.train, N=5)[0], model.recommend(users, N=5)[0]
    )
    assert type(reg.load("v2.0")) is recs.Popularity

    table = reg.list()
    assert list(table["version"]) == ["v1.0", "v2.0"]
    assert list(table["latest"]) == [True, False]
    assert table["hr@10"][1] == 0.1 and table["note"][0] == "first"
    assert reg.meta("v1.0")["note"] == "first"

    reg.set_latest("v2.0")
    assert reg.latest == "v2.0"
    assert reg.rollback() == "v1.0" and reg.latest == "v1.0"


def test_registry_errors(tmp_path, split):
    reg = recs.Registry(str(tmp_path))
    with pytest.raises(recs.RecsError):
        reg.load()  # nothing promoted yet
    model = recs.Popularity().fit(split)
    reg.publish(model, version="v3.1")
    with pytest.raises(recs.RecsError, match="v3.1"):
        reg.publish(model, version="v3.1")  # taken
    with pytest.raises(recs.RecsError):
        reg.load("v9.9")
    with pytest.raises(recs.RecsError):
        reg.load("../../etc")  # a bad name is refused, never a path
    with pytest.raises(ValueError, match="bump"):
        reg.publish(model, bump="patch")
    with pytest.raises(ValueError, match="metrics"):
        reg.publish(model, metrics=[1, 2])
    with pytest.raises(RuntimeError, match="not fitted"):
        reg.publish(recs.Popularity())
