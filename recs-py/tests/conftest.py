"""Fixtures for the recs Python tests: small random data and the MovieLens location."""

import os
from pathlib import Path

import numpy as np
import pytest

import recs

REPO = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """``RECS_DATA_DIR`` or ``<repo>/../shared/data`` (the project's convention)."""
    return Path(os.environ.get("RECS_DATA_DIR", REPO.parent / "shared" / "data"))


def random_interactions(seed=0, n_users=30, n_items=40, nnz=300):
    """Random implicit feedback with every user having at least one interaction."""
    rng = np.random.default_rng(seed)
    users = np.concatenate([np.arange(n_users), rng.integers(0, n_users, nnz - n_users)])
    items = rng.integers(0, n_items, nnz)
    return recs.Interactions.from_arrays(users, items, shape=(n_users, n_items))


@pytest.fixture
def train():
    return random_interactions()
