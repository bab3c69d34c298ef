"""Shared pytest setup: names available to every doctest (``recs``, ``np``, ``pd``)."""

import numpy as np
import pytest

import recs


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace["recs"] = recs
    doctest_namespace["np"] = np
    try:
        import pandas as pd

        doctest_namespace["pd"] = pd
    except ImportError:  # pragma: no cover - pandas is optional
        pass
