#!/usr/bin/env python3
"""Live sequence serving (issue 19, item 5): latency of `recs serve` answering from a 200-item
streamed history, and the time from a watch event to a changed answer.

Run through benches/seq_serve.sh, which builds and publishes the models and starts the server.
This client (standard library only, one keep-alive connection, sequential requests):

1. streams, for each of USERS new users, the newest 200 movies of a real S1 user's history
   (``ml-1m/ratings_users0001-2999.dat.gz`` in time order) through ``POST /events``, in order;
2. times ``GET /recommend/{user}?k=10`` round-robin over those users (REQUESTS requests after
   WARMUP), reporting p50 / p99 / max in ms as the client sees them (loopback HTTP included);
3. event → changed answer, TRIALS times: read a user's answer, post a watch of its top item,
   then request again; the time from sending the POST to receiving the new answer, and whether
   the new answer changed (the watched movie must be gone, and the next item follows it).
"""

import argparse
import gzip
import http.client
import json
import statistics
import sys
import time


def histories(path, length, users):
    rows = {}
    with gzip.open(path, "rt") as f:
        for n, line in enumerate(f):
            u, m, _, t = line.rstrip("\n").split("::")
            rows.setdefault(int(u), []).append((int(t), n, int(m)))
    out = []
    for u in sorted(rows):
        seq = [m for _, _, m in sorted(rows[u])]
        if len(seq) >= length:
            out.append(seq[-length:])
        if len(out) == users:
            break
    return out


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1:18090")
    ap.add_argument("--token", required=True)
    ap.add_argument("--data", required=True, help="ratings_users0001-2999.dat.gz")
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    host, port = a.addr.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    auth = {"Authorization": f"Bearer {a.token}", "Content-Type": "application/json"}

    def post(events):
        conn.request("POST", "/events", body=json.dumps(events), headers=auth)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"POST /events: {r.status} {body[:200]!r}")

    def top(user):
        conn.request("GET", f"/recommend/{user}?k=10")
        r = conn.getresponse()
        body = json.loads(r.read())
        if r.status != 200:
            sys.exit(f"GET /recommend/{user}: {r.status} {body}")
        return body

    seqs = histories(a.data, a.length, a.users)
    users = [10_000_000 + i for i in range(len(seqs))]
    for user, seq in zip(users, seqs):
        post([{"user_id": user, "movie_id": m, "timestamp": 1_000_000_000 + t}
              for t, m in enumerate(seq)])
    cold = sum(top(u)["cold_start"] for u in users)
    lat = []
    for i in range(a.warmup + a.requests):
        u = users[i % len(users)]
        t0 = time.perf_counter()
        top(u)
        if i >= a.warmup:
            lat.append((time.perf_counter() - t0) * 1e3)
    changed, ev = 0, []
    for i in range(a.trials):
        u = users[i % len(users)]
        before = top(u)["items"]
        watched = before[0]
        t0 = time.perf_counter()
        post([{"user_id": u, "movie_id": watched, "timestamp": 2_000_000_000 + i}])
        after = top(u)["items"]
        ev.append((time.perf_counter() - t0) * 1e3)
        changed += watched not in after and after != before
    res = {
        "label": a.label,
        "history_length": a.length,
        "users": len(users),
        "cold_answers": cold,
        "requests": len(lat),
        "p50_ms": statistics.median(lat),
        "p99_ms": pct(lat, 0.99),
        "max_ms": max(lat),
        "event_to_answer_p50_ms": statistics.median(ev),
        "event_to_answer_p99_ms": pct(ev, 0.99),
        "event_to_answer_max_ms": max(ev),
        "answers_changed": f"{changed}/{a.trials}",
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
