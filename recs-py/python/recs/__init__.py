"""recs: fast, trustworthy recommender systems — a Rust core with an implicit-style Python API.

Everything here is the native module ``recs._recs`` re-exported; no logic lives in Python.

>>> import recs
>>> train = recs.Interactions.from_arrays([0, 0, 1, 2, 2], [0, 1, 1, 0, 2])
>>> model = recs.Popularity().fit(train)
>>> ids, scores = model.recommend(1, N=2)
>>> ids.tolist()
[0, 2]
>>> ids, scores = model.recommend([0, 1], N=1)   # a batch gives 2-D arrays
>>> ids.shape
(2, 1)
"""

from recs._recs import *  # noqa: F401,F403
from recs._recs import __version__  # noqa: F401
from recs import _recs

__all__ = [name for name in dir(_recs) if not name.startswith("_")]
__doc__ = __doc__
