"""The fairness study and the online KPI from Python (the library's rules, not copies)."""

import json

import pytest

import recs


def toy_split():
    # users 1..4; item 40 is every user's latest (held out) and never in training
    users = [1, 1, 2, 2, 2, 3, 3, 3, 4, 4]
    items = [10, 40, 10, 20, 40, 10, 30, 40, 20, 40]
    times = [1, 9, 1, 2, 9, 1, 2, 9, 1, 9]
    return recs.leave_last_out(recs.Dataset.from_arrays(users, items, timestamps=times))


def test_fairness_study_matches_a_hand_count():
    out = recs.fairness_study(toy_split(), ["pop"], k=1, activity_bands=2)
    assert out["k"] == 1 and out["ks"] == [1]
    assert out["n_test_users"] == 4
    (m,) = out["models"]
    assert m["name"] == "pop" and m["kind"] == "popularity"
    e = m["exposure"]
    # Training counts: 10 -> 3, 20 -> 2, 30 -> 1; item 40 never trained on.
    # Top-1 unseen by popularity: user1 (saw 10) -> 20, user2 (10, 20) -> 30,
    # user3 (10, 30) -> 20, user4 (20) -> 10. Exposed items 10, 20, 30 of 4: one never exposed.
    assert e["never_exposed"] == 1
    # Nobody's held-out item (40) is ever recommended.
    assert m["summary"]["hr@1"] == 0.0
    assert out["attributes"] == {"activity": 2}
    assert {g["metric"] for g in m["groups"]} == {"hr@1", "ndcg@1"}


def test_fairness_study_rejects_bad_arguments():
    with pytest.raises(ValueError):
        recs.fairness_study(toy_split(), [], k=1)
    with pytest.raises(ValueError):
        recs.fairness_study(toy_split(), ["pop"], k=0)


def resp(ts, user, movies, version="v1", status=200):
    return json.dumps(
        {"type": "reco_response", "ts": ts, "request_id": str(ts), "user_id": user,
         "status": status, "latency_ms": 1, "k": len(movies), "movie_ids": movies,
         "model_version": version, "variant": "A"}
    )


def watch(ts, user, movie):
    return json.dumps({"type": "watch", "ts": ts, "user_id": user, "movie_id": movie, "minute": 0})


T = 1_700_000_000  # JSON event times are unix seconds


def test_online_kpi_counts_watches_in_the_window():
    events = [
        resp(T, 1, ["a", "b"]),
        watch(T, 1, "b"),  # same instant: counted
        resp(T, 2, ["c"]),
        watch(T + 61, 2, "c"),  # 61 s later: outside a 60 s window
        resp(T, 3, ["d"], status=503),  # failed: not counted
        watch(T + 1, 3, "d").encode(),  # bytes lines work too
    ]
    (row,) = recs.online_kpi(events, window_secs=60)
    assert (row["model_version"], row["variant"]) == ("v1", "A")
    assert (row["responses"], row["converted"], row["recommended"], row["watched"]) == (2, 1, 3, 1)
    assert row["conversion"] == 0.5
    (wide,) = recs.online_kpi(events, window_secs=61)
    assert wide["converted"] == 2


def test_online_kpi_names_the_bad_line():
    with pytest.raises(ValueError, match="line 2"):
        recs.online_kpi([watch(T, 1, "a"), "{not json"])
    with pytest.raises(ValueError):
        recs.online_kpi([], window_secs=-1)


def test_watch_attribution_rule():
    assert recs.watch_attributed(10.0, 10.0)
    assert recs.watch_attributed(10.0, 3610.0) and not recs.watch_attributed(10.0, 3610.5)
    assert recs.watch_attributed(10.0, 70.0, 60.0)
    assert not recs.watch_attributed(10.0, 70.5, 60.0)
    assert not recs.watch_attributed(10.0, 9.0)
