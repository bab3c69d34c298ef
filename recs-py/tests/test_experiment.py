"""A/B analysis from Python: the decision rule and its statistics, checked against scipy."""

import json
import math

import pytest

import recs

scipy_stats = pytest.importorskip("scipy.stats")


def arm(recommended, watched, requests=5000, errors=0, latency=None):
    d = {"requests": requests, "errors": errors, "recommended": recommended, "watched": watched}
    if latency is not None:
        d["latency_ms"] = latency
    return d


def test_z_test_matches_scipy_and_ships_a_clear_winner():
    a, b = arm(20_000, 2_000), arm(20_000, 2_300)
    out = recs.ab_analyze(a, b)
    assert out["decision"] == "ship_b", out["reason"]
    # Independent pooled two-proportion z-test.
    pa, pb = 2_000 / 20_000, 2_300 / 20_000
    pooled = 4_300 / 40_000
    z = (pb - pa) / math.sqrt(pooled * (1 - pooled) * (2 / 20_000))
    p = 2 * scipy_stats.norm.sf(abs(z))
    assert out["watch_rate"]["z"] == pytest.approx(z, rel=1e-9)
    assert out["watch_rate"]["p_value"] == pytest.approx(p, rel=1e-6)
    # Planned horizon for pA = 0.1, +10 %, alpha 0.05, power 0.8 (see the Rust unit test).
    assert out["required_per_arm"] == 14_751


def test_keep_running_before_the_horizon_and_keep_a_when_flat():
    early = recs.ab_analyze(arm(1_000, 100), arm(1_000, 150))
    assert early["decision"] == "keep_running"
    assert "horizon" in early["reason"]
    flat = recs.ab_analyze(arm(20_000, 2_000), arm(20_000, 2_010))
    assert flat["decision"] == "keep_a"


def test_latency_guardrail_uses_welch_like_scipy():
    la = {"n": 400, "mean": 20.0, "sd": 4.0}
    lb = {"n": 400, "mean": 40.0, "sd": 6.0}
    out = recs.ab_analyze(arm(20_000, 2_000, latency=la), arm(20_000, 2_600, latency=lb))
    assert out["decision"] == "keep_a"
    assert "latency" in out["reason"]
    ref = scipy_stats.ttest_ind_from_stats(40.0, 6.0, 400, 20.0, 4.0, 400, equal_var=False)
    assert out["latency_ms"]["t"] == pytest.approx(ref.statistic, rel=1e-9)
    assert out["latency_ms"]["p_value"] == pytest.approx(ref.pvalue, abs=1e-12)


def test_arms_from_logged_events_feed_the_analysis():
    def resp(t, user, variant, movies, status=200):
        return json.dumps({
            "type": "reco_response", "ts": t, "request_id": f"r{t}", "user_id": user,
            "status": status, "latency_ms": 5, "k": len(movies), "movie_ids": movies,
            "variant": variant,
        })

    lines = [
        resp(100, 1, "A", ["m1", "m2"]),
        resp(110, 2, "B", ["m1", "m3"]),
        resp(120, 3, "B", [], status=503),
        json.dumps({"type": "watch", "ts": 200, "user_id": 2, "movie_id": "m3", "minute": 1}),
        json.dumps({"type": "watch", "ts": 50, "user_id": 1, "movie_id": "m1", "minute": 1}),
    ]
    arms = recs.ab_arms_from_events(lines)
    assert arms["A"]["recommended"] == 2 and arms["A"]["watched"] == 0
    assert arms["B"] == {
        "requests": 2, "errors": 1, "recommended": 2, "watched": 1,
        "latency_ms": {"n": 2, "mean": 5.0, "sd": 0.0},
    }
    out = recs.ab_analyze(arms["A"], arms["B"], min_per_arm=1)
    assert out["decision"] in {"keep_running", "keep_a", "ship_b"}
    with pytest.raises(ValueError, match="line 1"):
        recs.ab_arms_from_events(["not an event"])


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="alpha"):
        recs.ab_analyze(arm(10, 1), arm(10, 1), alpha=2.0)
    with pytest.raises(ValueError, match="unknown key"):
        recs.ab_analyze({"clicks": 3}, arm(10, 1))
    with pytest.raises(ValueError, match="watched"):
        recs.ab_analyze(arm(10, 11), arm(10, 1))
