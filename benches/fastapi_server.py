"""Minimal FastAPI + numpy server: the original system's stack, serving the SAME ALS factors
as `recs serve` (exported by `examples/als_factors_export.rs`), for `benches/server_load.sh`.

GET /recommend/{user_id}?k=10 answers the same JSON shape as recs-server: scores = U[u] @ V.T,
the user's training items excluded, top-k by argpartition, unknown users get the popularity
ranking (cold start). Run: FACTORS_DIR=dir uvicorn fastapi_server:app --app-dir benches
"""

import os
import time
import uuid
from datetime import datetime, timezone

import numpy as np
from fastapi import FastAPI, HTTPException

DIR = os.environ.get("FACTORS_DIR", ".")
U = np.load(os.path.join(DIR, "U.npy"))
V = np.load(os.path.join(DIR, "V.npy"))
USER_IDS = np.load(os.path.join(DIR, "user_ids.npy"))
ITEM_IDS = np.load(os.path.join(DIR, "item_ids.npy"))
INDPTR = np.load(os.path.join(DIR, "hist_indptr.npy"))
INDICES = np.load(os.path.join(DIR, "hist_indices.npy"))
USER_INDEX = {int(u): i for i, u in enumerate(USER_IDS)}
POPULAR = np.argsort(-np.bincount(INDICES, minlength=V.shape[0]), kind="stable")
MAX_K = 100

app = FastAPI()


@app.get("/recommend/{user_id}")
def recommend(user_id: int, k: int = 10):
    start = time.perf_counter()
    if not 1 <= k <= MAX_K:
        raise HTTPException(status_code=400, detail=f"`k` must be an integer in 1..={MAX_K}")
    u = USER_INDEX.get(user_id)
    if u is None:
        top = POPULAR[:k]
        scores = np.zeros(len(top), dtype=np.float32)
        cold = True
    else:
        s = U[u] @ V.T
        s[INDICES[INDPTR[u] : INDPTR[u + 1]]] = -np.inf
        top = np.argpartition(-s, k)[:k]
        top = top[np.argsort(-s[top], kind="stable")]
        scores = s[top]
        cold = False
    items = [int(ITEM_IDS[i]) for i in top]
    return {
        "user_id": user_id,
        "model": "als",
        "items": items,
        "recommendations": [
            {"movie_id": m, "score": float(sc)} for m, sc in zip(items, scores)
        ],
        "variant": "fixed",
        "cold_start": cold,
        "strategy": "popularity" if cold else "model",
        "provenance": {
            "request_id": uuid.uuid4().hex,
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "model_name": "als",
            "model_version": "v1.0",
            "git_sha": "unknown",
            "data_snapshot_id": None,
            "latency_ms": (time.perf_counter() - start) * 1e3,
        },
    }


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
