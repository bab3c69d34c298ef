"""Type stubs of the native module ``recs._recs`` (re-exported as ``recs``)."""

from os import PathLike
from typing import Any, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Ids = Union[int, np.integer, Sequence[int], npt.NDArray[np.integer]]
_IntArray = Union[Sequence[int], npt.NDArray[np.integer]]
_FloatArray = Union[Sequence[float], npt.NDArray[np.floating]]
_Path = Union[str, "PathLike[str]"]
# A scipy.sparse matrix/array (anything with ``tocsr()``).
_Sparse = Any
_Matrix = Union["Interactions", "Dataset", "Split", _Sparse]
_Ranked = Tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]
_M = TypeVar("_M", bound="Recommender")

class RecsError(Exception):
    """Any recs error without a more specific Python type."""

class Interactions:
    """A sparse users × items matrix of interactions (dense indices)."""

    @staticmethod
    def from_arrays(
        users: _IntArray,
        items: _IntArray,
        values: Optional[_FloatArray] = None,
        timestamps: Optional[_IntArray] = None,
        *,
        shape: Optional[Tuple[int, int]] = None,
        duplicates: str = "last",
    ) -> "Interactions": ...
    @staticmethod
    def from_csr(matrix: _Sparse) -> "Interactions": ...
    def to_csr(self) -> Any: ...
    @property
    def shape(self) -> Tuple[int, int]: ...
    @property
    def n_users(self) -> int: ...
    @property
    def n_items(self) -> int: ...
    @property
    def nnz(self) -> int: ...
    @property
    def indptr(self) -> npt.NDArray[np.int64]: ...
    @property
    def indices(self) -> npt.NDArray[np.int32]: ...
    @property
    def values(self) -> npt.NDArray[np.float32]: ...
    @property
    def timestamps(self) -> Optional[npt.NDArray[np.int64]]: ...
    def items_of(self, user: int) -> npt.NDArray[np.int32]: ...
    def values_of(self, user: int) -> npt.NDArray[np.float32]: ...
    def user_counts(self) -> npt.NDArray[np.int64]: ...
    def item_counts(self) -> npt.NDArray[np.int64]: ...
    def binarized(self) -> "Interactions": ...
    def transpose(self) -> "Interactions": ...
    def __len__(self) -> int: ...

class Dataset:
    """Interactions with the external user and item ids they were built from."""

    @staticmethod
    def from_arrays(
        users: _IntArray,
        items: _IntArray,
        ratings: Optional[_FloatArray] = None,
        timestamps: Optional[_IntArray] = None,
        *,
        duplicates: str = "last",
    ) -> "Dataset": ...
    @staticmethod
    def from_pandas(
        df: Any,
        *,
        user: str = "user",
        item: str = "item",
        rating: Optional[str] = None,
        timestamp: Optional[str] = None,
        duplicates: str = "last",
    ) -> "Dataset": ...
    @property
    def interactions(self) -> Interactions: ...
    @property
    def user_ids(self) -> npt.NDArray[Any]: ...
    @property
    def item_ids(self) -> npt.NDArray[Any]: ...
    def user_index(self, ids: Any) -> Any: ...
    def item_index(self, ids: Any) -> Any: ...
    @property
    def n_users(self) -> int: ...
    @property
    def n_items(self) -> int: ...
    def to_pandas(self) -> Any: ...

class Split:
    """A train/test split."""

    @property
    def name(self) -> str: ...
    @property
    def train(self) -> Interactions: ...
    @property
    def test(self) -> Interactions: ...
    @property
    def test_users(self) -> npt.NDArray[np.int32]: ...
    def test_cases(
        self,
    ) -> List[Tuple[int, npt.NDArray[np.int32], Optional[npt.NDArray[np.int32]]]]: ...
    @property
    def user_ids(self) -> npt.NDArray[Any]: ...
    @property
    def item_ids(self) -> npt.NDArray[Any]: ...

def load_movielens(path: _Path, *, skip_bad_lines: bool = False, duplicates: str = "last") -> Dataset: ...
def load_movies(path: _Path) -> Any: ...
def load_ncf(train: _Path, test: _Path, negatives: Optional[_Path] = None) -> Split: ...
def synthetic(
    n_users: int,
    n_items: int,
    n_interactions: int,
    *,
    seed: int = 42,
    clusters: Optional[int] = None,
    affinity: float = 0.6,
    popularity_exponent: float = 2.0,
    activity_exponent: float = 1.3,
) -> Dataset: ...
def leave_last_out(dataset: Dataset) -> Split: ...
def leave_last_n(dataset: Dataset, n: int) -> Split: ...
def random_holdout(
    dataset: Dataset, *, fraction: Optional[float] = None, count: Optional[int] = None, seed: int = 0
) -> Split: ...
def temporal_cut(
    dataset: Dataset, *, timestamp: Optional[int] = None, fraction: Optional[float] = None
) -> Split: ...

class Report:
    """The result of one evaluation."""

    @property
    def name(self) -> str: ...
    @property
    def summary(self) -> Dict[str, float]: ...
    @property
    def timings(self) -> Dict[str, Optional[float]]: ...
    @property
    def n_users(self) -> int: ...
    @property
    def n_missing(self) -> int: ...
    def __getitem__(self, label: str) -> float: ...
    def to_pandas(self) -> Any: ...
    def per_user(self) -> Optional[Any]: ...
    def to_json(self) -> str: ...
    @staticmethod
    def from_json(json: str) -> "Report": ...
    def to_markdown(self) -> str: ...

class FullRanking:
    """Full-ranking evaluation."""

    def __init__(
        self,
        *,
        k: Union[int, Sequence[int], None] = None,
        metrics: Optional[Sequence[str]] = None,
        exclude_train: bool = True,
        per_user: bool = False,
        latency_users: int = 0,
    ) -> None: ...
    def evaluate(self, model: "Recommender", split: Split, *, name: Optional[str] = None) -> Any: ...
    def report(self, model: "Recommender", split: Split, *, name: Optional[str] = None) -> Report: ...

class SampledCandidates:
    """Sampled-candidates (NCF-style) evaluation."""

    def __init__(
        self,
        *,
        n: int = 99,
        seed: int = 0,
        k: Union[int, Sequence[int], None] = None,
        metrics: Optional[Sequence[str]] = None,
        per_user: bool = False,
        latency_users: int = 0,
    ) -> None: ...
    def evaluate(self, model: "Recommender", split: Split, *, name: Optional[str] = None) -> Any: ...
    def report(self, model: "Recommender", split: Split, *, name: Optional[str] = None) -> Report: ...

def measure(ids: Any, split: Split, metrics: Sequence[str]) -> Report: ...

def ab_analyze(
    a: dict[str, Any],
    b: dict[str, Any],
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    min_detectable_lift: float = 0.1,
    baseline_rate: Optional[float] = None,
    min_per_arm: int = 1000,
    max_latency_increase_ms: float = 5.0,
    max_error_rate_increase: float = 0.001,
) -> dict[str, Any]: ...
def ab_arms_from_events(lines: Sequence[str]) -> dict[str, dict[str, Any]]: ...

class Recommender:
    """Base class of every recs model (fit / recommend / similar_items / save / load)."""

    def fit(self: _M, interactions: _Matrix) -> _M: ...
    def recommend(
        self,
        userid: _Ids,
        user_items: Optional[_Matrix] = None,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: Optional[_IntArray] = None,
        items: Optional[_IntArray] = None,
    ) -> _Ranked: ...
    def similar_items(self, itemid: _Ids, N: int = 10) -> _Ranked: ...
    def recommend_sequence(
        self,
        items: Sequence[Any],
        N: int = 10,
        *,
        dataset: Optional[Dataset] = None,
        filter_already_liked_items: bool = True,
    ) -> Tuple[npt.NDArray[Any], npt.NDArray[np.float32]]: ...
    def score_items(
        self, userid: int, items: _IntArray, user_items: Optional[_Matrix] = None
    ) -> npt.NDArray[np.float32]: ...
    def recalculate_user(self, userid: _Ids, user_items: _Matrix) -> npt.NDArray[np.float32]: ...
    @property
    def user_factors(self) -> npt.NDArray[np.float32]: ...
    @property
    def item_factors(self) -> npt.NDArray[np.float32]: ...
    def save(self, path: _Path) -> None: ...
    @classmethod
    def load(cls, path: _Path) -> "Recommender": ...
    def to_bytes(self) -> bytes: ...
    @classmethod
    def from_bytes(cls, data: bytes) -> "Recommender": ...
    @property
    def kind(self) -> str: ...
    @property
    def is_fitted(self) -> bool: ...
    @property
    def n_items(self) -> int: ...
    @property
    def auto_params(self) -> Dict[str, Any]: ...
    @property
    def auto_scores(self) -> Dict[str, str]: ...
    def get_params(self) -> Dict[str, Any]: ...

class Popularity(Recommender):
    """Most-popular items."""

    def __init__(self, *, min_value: float = 0.0) -> None: ...

class ALS(Recommender):
    """Alternating least squares (implicit or explicit feedback)."""

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 0.0,
        iterations: int = 15,
        solver: str = "cg",
        cg_steps: int = 3,
        seed: int = 0,
        feedback: str = "implicit",
        reg_exponent: float = 0.0,
    ) -> None: ...

class BPR(Recommender):
    """Bayesian personalised ranking matrix factorisation."""

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        seed: int = 0,
        item_bias: bool = True,
        hogwild: bool = True,
    ) -> None: ...

class ItemKNN(Recommender):
    """Item-based k-nearest neighbours."""

    def __init__(
        self, *, neighbors: int = 50, shrinkage: float = 0.0, weighting: str = "tfidf", binarize: bool = True
    ) -> None: ...

class EASE(Recommender):
    """EASE^R closed-form item-item model."""

    def __init__(self, *, lambda_: float = 1200.0, dropout: float = 0.0, max_memory: int = 4294967296) -> None: ...

class Fresh(Recommender):
    """A base model re-weighted towards recent releases and the user's recent history."""

    def __init__(
        self,
        *,
        years: Optional[Sequence[Optional[int]]] = None,
        base: str = "ease",
        boost: float = 0.75,
        decay_years: float = 0.5,
        newest_year: Optional[int] = None,
        ease_lambda: float = 800.0,
        recency_boost: float = 15.0,
        recency_decay: float = 5.0,
    ) -> None: ...

class NCF(Recommender):
    """Neural collaborative filtering (GMF, MLP or NeuMF)."""

    def __init__(
        self,
        *,
        arch: str = "neumf",
        factors: int = 64,
        mlp_layers: Sequence[int] = [128, 64, 32, 16],
        learning_rate: float = 0.0004,
        epochs: int = 1,
        batch_size: int = 1024,
        negatives: int = 8,
        l2: float = 0.0,
        output_l2: float = 0.001,
        lr_final: float = 1.0,
        init_std: float = 0.01,
        optimizer: str = "adam",
        seed: int = 42,
        pretrain_epochs: int = 6,
        pretrain_learning_rate: float = 0.002,
        pretrain_alpha: float = 0.5,
        early_stopping: int = 0,
    ) -> None: ...

class GMF(Recommender):
    """NCF's GMF network."""

    def __init__(
        self,
        *,
        factors: int = 64,
        learning_rate: float = 0.0004,
        epochs: int = 1,
        batch_size: int = 1024,
        negatives: int = 8,
        l2: float = 0.0,
        output_l2: float = 0.001,
        lr_final: float = 1.0,
        init_std: float = 0.01,
        optimizer: str = "adam",
        seed: int = 42,
        early_stopping: int = 0,
    ) -> None: ...

class MLP(Recommender):
    """NCF's MLP network."""

    def __init__(
        self,
        *,
        mlp_layers: Sequence[int] = [128, 64, 32, 16],
        learning_rate: float = 0.0004,
        epochs: int = 1,
        batch_size: int = 1024,
        negatives: int = 8,
        l2: float = 0.0,
        output_l2: float = 0.001,
        lr_final: float = 1.0,
        init_std: float = 0.01,
        optimizer: str = "adam",
        seed: int = 42,
        early_stopping: int = 0,
    ) -> None: ...

class NeuMF(Recommender):
    """NCF's NeuMF network (GMF and MLP fused)."""

    def __init__(
        self,
        *,
        factors: int = 64,
        mlp_layers: Sequence[int] = [128, 64, 32, 16],
        learning_rate: float = 0.0004,
        epochs: int = 1,
        batch_size: int = 1024,
        negatives: int = 8,
        l2: float = 0.0,
        output_l2: float = 0.001,
        lr_final: float = 1.0,
        init_std: float = 0.01,
        optimizer: str = "adam",
        seed: int = 42,
        pretrain_epochs: int = 6,
        pretrain_learning_rate: float = 0.002,
        pretrain_alpha: float = 0.5,
        early_stopping: int = 0,
    ) -> None: ...

class Transition(Recommender):
    """Decayed item transitions over each user's ordered history (a fast sequence model)."""

    def __init__(
        self,
        *,
        window: int = 10,
        train_decay: float = 0.5,
        backward: float = 0.0,
        alpha: float = 0.25,
        beta: float = 0.0,
        history_len: int = 10,
        history_decay: float = 0.5,
        neighbors: int = 500,
    ) -> None: ...

class SASRec(Recommender):
    """Causal self-attention next-item model (full softmax cross-entropy)."""

    def __init__(
        self,
        *,
        blocks: int = 2,
        heads: int = 1,
        hidden: int = 64,
        max_len: int = 200,
        dropout: float = 0.2,
        epochs: int = 200,
        batch_size: int = 64,
        learning_rate: float = 0.002,
        negatives: int = 0,
        patience: int = 8,
        validation_users: int = 2000,
        seed: int = 42,
    ) -> None: ...

def load(path: _Path) -> Recommender: ...
def parse_spec(spec: str) -> Tuple[str, Dict[str, Any]]: ...
def fit_spec(
    spec: str,
    interactions: _Matrix,
    *,
    years: Optional[Sequence[Optional[int]]] = None,
    auto_defaults: bool = False,
    validation: str = "auto",
    seed: int = 42,
) -> Recommender: ...

class Registry:
    """A versioned, checksummed model registry (a directory or an s3:// URL)."""

    def __init__(self, location: str) -> None: ...
    @property
    def location(self) -> str: ...
    def publish(
        self,
        model: Recommender,
        *,
        metrics: Union[Dict[str, float], Report, None] = None,
        note: Optional[str] = None,
        version: Optional[str] = None,
        bump: str = "minor",
        promote: bool = False,
    ) -> Dict[str, Any]: ...
    def load(self, version: Optional[str] = None) -> Recommender: ...
    def versions(self) -> List[str]: ...
    def meta(self, version: str) -> Dict[str, Any]: ...
    def list(self) -> Any: ...
    @property
    def latest(self) -> Optional[str]: ...
    def set_latest(self, version: str) -> None: ...
    def rollback(self) -> str: ...

# Fairness study and online KPI (recs::eval::fairness::study, recs::stream::online_kpi).

def fairness_study(
    split: Split,
    models: Sequence[str] = ...,
    *,
    k: int = 10,
    ks: Sequence[int] = ...,
    activity_bands: int = 4,
    rounds: int = 0,
    taste_model: Optional[str] = None,
    taste_k: int = 50,
    p_liked: float = 0.9,
    p_other: float = 0.2,
    seed: int = 42,
    users: Optional[_Path] = None,
    user_id_offset: int = 0,
) -> Dict[str, Any]: ...
def online_kpi(
    events: Sequence[Union[str, bytes]], window_secs: float = 3600.0
) -> List[Dict[str, Any]]: ...
def watch_attributed(served_at: float, watched_at: float, window_secs: float = 3600.0) -> bool: ...
