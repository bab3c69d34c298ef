//! One Python subclass of `Recommender` per model (the `py_model!` macro), `load` and the
//! registration of the classes.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use recs::model::{
    AlsSolver, AnyModel, EaseParams, Feedback, FreshParams, NcfArch, NcfOptimizer, NcfParams,
    Persist, Weighting,
};

use super::{PyRecommender, ToParam};
use crate::{detach, RecsError};

/// Declares one Python model class: a subclass of `Recommender` whose keyword-only constructor
/// parameters map one-to-one onto the setters of the Rust params builder (`name: type = default`,
/// with `=> convert` for a parameter whose Python form is a string, such as an enum). The
/// defaults written here appear in `help()`; a test checks that they build exactly the Rust
/// defaults. `as [expr]` starts from other params than `X::params()` (a preset).
macro_rules! py_model {
    (
        $(#[doc = $doc:literal])*
        $py:ident, $name:literal, $rust:ty {
            $($arg:ident : $ty:ty = $default:tt $(=> $conv:path)? $(; $apply:path)?),* $(,)?
        }
    ) => {
        py_model! {
            $(#[doc = $doc])*
            $py, $name, $rust as [<$rust>::params()] {
                $($arg : $ty = $default $(=> $conv)? $(; $apply)?),*
            }
        }
    };
    (
        $(#[doc = $doc:literal])*
        $py:ident, $name:literal, $rust:ty as [$start:expr] {
            $($arg:ident : $ty:ty = $default:tt $(=> $conv:path)? $(; $apply:path)?),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[pyclass(extends = PyRecommender, frozen, module = "recs", name = $name)]
        pub struct $py;

        #[pymethods]
        impl $py {
            #[new]
            #[pyo3(signature = (*, $($arg = $default),*))]
            #[allow(clippy::too_many_arguments)] // one per Rust setter
            fn new(py: Python<'_>, $($arg: $ty),*) -> PyResult<PyClassInitializer<Self>> {
                let kwargs = PyDict::new(py);
                $(kwargs.set_item(stringify!($arg), ToParam::to_param(&$arg, py)?)?;)*
                let params = $start;
                $(let params = py_model!(@set params, $arg $(=> $conv)? $(; $apply)?);)*
                let base = PyRecommender::new(params, kwargs.unbind())?;
                Ok(PyClassInitializer::from(base).add_subclass($py))
            }

            /// The default parameters of the Rust core (JSON), for tests.
            #[classattr]
            fn _core_defaults() -> String {
                serde_json::to_string(&$start).unwrap_or_default()
            }
        }

        impl ModelClass for $py {
            const KIND: &'static str = <$rust as Persist>::KIND;
        }
    };
    (@set $p:ident, $arg:ident) => { $p.$arg($arg) };
    (@set $p:ident, $arg:ident => $conv:path) => { $p.$arg($conv($arg)?) };
    (@set $p:ident, $arg:ident; $apply:path) => { $apply($p, $arg)? };
}

trait ModelClass: PyTypeInfo {
    const KIND: &'static str;
}

use pyo3::PyTypeInfo;

py_model! {
    /// Most-popular items: every user gets the most-interacted items they have not seen.
    ///
    /// The non-personalised baseline every model should beat.
    ///
    /// Parameters
    /// ----------
    /// min_value : float, default 0.0
    ///     Count only interactions whose value is at least this (e.g. 4.0 for "liked");
    ///     must be finite.
    ///
    /// >>> train = recs.Interactions.from_arrays([0, 1, 1, 2], [0, 0, 1, 2])
    /// >>> model = recs.Popularity().fit(train)
    /// >>> ids, scores = model.recommend(2, N=2)
    /// >>> ids.tolist(), scores.tolist()
    /// ([0, 1], [2.0, 1.0])
    PyPopularity, "Popularity", recs::model::Popularity { min_value: f32 = 0.0 }
}

py_model! {
    /// Alternating least squares for implicit feedback (Hu, Koren and Volinsky 2008), as
    /// implicit's ``AlternatingLeastSquares``: an observed value ``r`` gets confidence
    /// ``1 + alpha * r``; every unobserved pair is a weak negative. With
    /// ``feedback="explicit"`` it fits ratings instead (with biases). Unknown users are folded in
    /// from their history.
    ///
    /// Parameters
    /// ----------
    /// factors : int, default 64
    ///     Latent factors; in 1..=4096.
    /// regularization : float, default 0.01
    ///     L2 regularization; finite and > 0.
    /// alpha : float, default 0.0
    ///     Confidence slope; finite and >= 0. (implicit's ``alpha = a`` on binary data matches
    ///     ``alpha = a - 1`` here.)
    /// iterations : int, default 15
    ///     Alternating sweeps; in 1..=10000.
    /// solver : str, default "cg"
    ///     ``"cg"`` (conjugate gradient, warm-started) or ``"cholesky"`` (exact).
    /// cg_steps : int, default 3
    ///     Conjugate-gradient steps per row and sweep; in 1..=1000.
    /// seed : int, default 0
    ///     Seed of the random initialisation (results do not depend on the thread count).
    /// feedback : str, default "implicit"
    ///     ``"implicit"`` (values are confidences) or ``"explicit"`` (values are ratings).
    /// reg_exponent : float, default 0.0
    ///     Frequency-scaled regularization exponent ``nu`` (penalty ``regularization * W^nu``);
    ///     in [0, 2].
    ///
    /// >>> train = recs.Interactions.from_arrays([0, 0, 1, 1, 1, 2, 2], [0, 1, 0, 1, 2, 3, 4])
    /// >>> model = recs.ALS(factors=4, iterations=10, seed=1).fit(train)
    /// >>> model.recommend(0, N=1)[0].tolist()  # what the similar user 1 also liked
    /// [2]
    /// >>> model.user_factors.shape, model.item_factors.shape
    /// ((3, 4), (5, 4))
    PyAls, "ALS", recs::model::Als {
        factors: usize = 64,
        regularization: f32 = 0.01,
        alpha: f32 = 0.0,
        iterations: usize = 15,
        solver: &str = "cg" => parse_solver,
        cg_steps: usize = 3,
        seed: u64 = 0,
        feedback: &str = "implicit" => parse_feedback,
        reg_exponent: f32 = 0.0,
    }
}

py_model! {
    /// Bayesian personalised ranking (Rendle et al. 2009) matrix factorisation, trained by SGD on
    /// (user, liked item, other item) triples, as implicit's ``BayesianPersonalizedRanking``.
    ///
    /// Parameters
    /// ----------
    /// factors : int, default 64
    ///     Latent factors; in 1..=4096.
    /// learning_rate : float, default 0.01
    ///     SGD step size; finite and in (0, 10].
    /// regularization : float, default 0.01
    ///     L2 regularization of factors and biases; finite and >= 0.
    /// iterations : int, default 100
    ///     Epochs (each draws as many triples as there are interactions); in 1..=100000.
    /// seed : int, default 0
    ///     Seed of initialisation and sampling.
    /// item_bias : bool, default True
    ///     Learn a bias per item (then ``item_factors`` has one more column).
    /// hogwild : bool, default True
    ///     Parallel lock-free updates; False makes the fit deterministic under the seed.
    ///
    /// >>> ds = recs.synthetic(60, 30, 900, seed=1)
    /// >>> model = recs.BPR(factors=8, iterations=5, hogwild=False).fit(ds)
    /// >>> model.item_factors.shape
    /// (30, 9)
    PyBpr, "BPR", recs::model::Bpr {
        factors: usize = 64,
        learning_rate: f32 = 0.01,
        regularization: f32 = 0.01,
        iterations: usize = 100,
        seed: u64 = 0,
        item_bias: bool = true,
        hogwild: bool = true,
    }
}

fn parse_solver(s: &str) -> PyResult<AlsSolver> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "cg" | "conjugate_gradient" => AlsSolver::ConjugateGradient,
        "cholesky" => AlsSolver::Cholesky,
        _ => return Err(bad_choice("solver", s)),
    })
}

fn parse_feedback(s: &str) -> PyResult<Feedback> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "implicit" => Feedback::Implicit,
        "explicit" => Feedback::Explicit,
        _ => return Err(bad_choice("feedback", s)),
    })
}

py_model! {
    /// Item-based k-nearest neighbours: cosine similarity between items' user vectors, each item
    /// keeping its ``neighbors`` most similar items; a user's score for an item sums the
    /// similarities to the items in their history.
    ///
    /// Parameters
    /// ----------
    /// neighbors : int, default 50
    ///     Neighbours kept per item; must be >= 1.
    /// shrinkage : float, default 0.0
    ///     Shrinkage ``s`` of the cosine, ``dot / (|i||j| + s)``; finite and >= 0.
    /// weighting : str, default "tfidf"
    ///     Re-weighting of the values: ``"none"``, ``"tfidf"`` (``sqrt(x) * idf(user)``), or
    ///     ``"bm25"`` (k1 = 100, b = 0.8, as implicit) / ``"bm25:K1:B"``.
    /// binarize : bool, default True
    ///     Treat every interaction as 1.0 before weighting.
    ///
    /// >>> train = recs.Interactions.from_arrays([0, 0, 1, 1, 2], [0, 1, 0, 1, 0])
    /// >>> model = recs.ItemKNN(neighbors=10, weighting="none").fit(train)
    /// >>> model.recommend(2, N=1)[0].tolist(), model.similar_items(0, N=1)[0].tolist()
    /// ([1], [1])
    PyItemKnn, "ItemKNN", recs::model::ItemKnn {
        neighbors: usize = 50,
        shrinkage: f32 = 0.0,
        weighting: &str = "tfidf" => parse_weighting,
        binarize: bool = true,
    }
}

py_model! {
    /// EASE^R (Steck 2019): a closed-form item-item linear model, ``B = I - P / diag(P)`` with
    /// ``P = (X^T X + lambda I)^-1``. Training memory grows as items² (12 bytes each).
    ///
    /// Parameters
    /// ----------
    /// lambda_ : float, default 1200.0
    ///     L2 regularization added to the diagonal of ``X^T X``; finite and > 0.
    /// dropout : float, default 0.0
    ///     EDLAE-style extra diagonal regularization ``p / (1 - p) * (X^T X)_ii``; in [0, 1).
    /// max_memory : int, default 4 GiB
    ///     Cap in bytes on training memory; >= 1 (``RecsError`` past it).
    ///
    /// >>> train = recs.Interactions.from_arrays([0, 0, 1, 1, 2], [0, 1, 0, 1, 0])
    /// >>> recs.EASE(lambda_=0.5).fit(train).recommend(2, N=1)[0].tolist()
    /// [1]
    PyEase, "EASE", recs::model::Ease {
        lambda_: f32 = 1200.0; set_ease_lambda,
        dropout: f32 = 0.0,
        max_memory: usize = 4294967296,
    }
}

py_model! {
    /// A base model re-weighted towards recent releases: item ``i`` scores
    /// ``base(u, i) * (1 + boost * exp(-age(i) / decay_years))``, where ``age`` is the number of
    /// years between the item's release and ``newest_year`` (a negative base score is divided
    /// by the weight instead). A user's next movie is more often a new release than their
    /// history suggests. With an ``"ease"`` base and training data with ``timestamps``, the
    /// user's latest interactions also count more (``recency_boost``, ``recency_decay``). This
    /// is the best model of recs on the ML-1M benchmarks.
    ///
    /// Parameters
    /// ----------
    /// years : sequence of int or None, default None
    ///     The release year of every item, by item index (``None`` where unknown); required to
    ///     fit, one entry per item (``recs.load_movies(path)["year"]`` reads them by MovieLens id).
    /// base : str, default "ease"
    ///     The base model by name (``"ease"``, ``"als"``, ``"pop"``, ...), fitted at its
    ///     defaults (EASE with ``ease_lambda``).
    /// boost : float, default 0.75
    ///     The newest items' weight is ``1 + boost``; finite and >= 0.
    /// decay_years : float, default 0.5
    ///     How fast the boost fades with age; finite and > 0.
    /// newest_year : int or None, default None
    ///     The year of age 0; ``None`` takes the newest year in ``years``.
    /// ease_lambda : float, default 800.0
    ///     L2 regularization of an ``"ease"`` base.
    /// recency_boost : float, default 15.0
    ///     With an ``"ease"`` base and training data with ``timestamps``, a user's history item
    ///     counts ``1 + recency_boost * exp(-rank / recency_decay)`` times, where ``rank`` is the
    ///     number of the user's interactions newer than it (0: the latest); finite and >= 0.
    /// recency_decay : float, default 5.0
    ///     In interactions; finite and > 0.
    ///
    /// >>> train = recs.Interactions.from_arrays([0, 0, 1, 1, 2], [0, 1, 0, 1, 2])
    /// >>> model = recs.Fresh(base="pop", years=[1990, 2000, None]).fit(train)
    /// >>> model.recommend(2, N=1)[0].tolist()  # items 0 and 1 are as popular; 1 is newer
    /// [1]
    PyFresh, "Fresh", recs::model::Fresh {
        years: Option<Vec<Option<u16>>> = None; set_fresh_years,
        base: &str = "ease" => model_name,
        boost: f32 = 0.75,
        decay_years: f32 = 0.5,
        newest_year: Option<u16> = None,
        ease_lambda: f32 = 800.0; set_fresh_ease_lambda,
        recency_boost: f32 = 15.0,
        recency_decay: f32 = 5.0,
    }
}

py_model! {
    /// Neural collaborative filtering (He et al. 2017): GMF, MLP or NeuMF trained on implicit
    /// feedback with sampled negatives (log loss). Scores are logits. The model knows only the
    /// users it was trained on (``IndexError`` for others).
    ///
    /// Parameters
    /// ----------
    /// arch : str, default "neumf"
    ///     ``"gmf"``, ``"mlp"`` or ``"neumf"``.
    /// factors : int, default 64
    ///     GMF embedding size (predictive factors); in 1..=4096.
    /// mlp_layers : list of int, default [128, 64, 32, 16]
    ///     MLP sizes: the concatenated embedding width, then one ReLU layer per size.
    /// learning_rate : float, default 0.0004
    ///     Of the final stage (NeuMF fine-tuning after pre-training); for a standalone GMF or
    ///     MLP, 0.002 with 6 epochs (the pre-training settings) is the better choice.
    /// epochs : int, default 1
    /// batch_size : int, default 1024
    /// negatives : int, default 8
    ///     Sampled negatives per positive.
    /// l2 : float, default 0.0
    ///     L2 penalty on the embeddings, per training instance.
    /// output_l2 : float, default 0.001
    ///     L2 penalty on the prediction layer's weights, per mini-batch.
    /// lr_final : float, default 1.0
    ///     Learning rate at the end of each stage as a fraction of the initial one (linear
    ///     decay; 1.0: constant).
    /// init_std : float, default 0.01
    ///     Standard deviation of the normal initialisation of embeddings and weights.
    /// optimizer : str, default "adam"
    ///     ``"adam"`` or ``"sgd"``.
    /// seed : int, default 42
    /// pretrain_epochs : int, default 6
    ///     NeuMF only: epochs of GMF and MLP pre-training (0 = random initialisation).
    /// pretrain_learning_rate : float, default 0.002
    /// pretrain_alpha : float, default 0.5
    /// early_stopping : int, default 0
    ///     Patience in epochs on a validation split (0 = off).
    ///
    /// >>> ds = recs.synthetic(60, 30, 900, seed=1)
    /// >>> model = recs.NCF(arch="gmf", epochs=2).fit(ds)
    /// >>> model.recommend(0, N=3)[0].shape
    /// (3,)
    PyNcf, "NCF", recs::model::Ncf {
        arch: &str = "neumf" => parse_arch,
        factors: usize = 64,
        mlp_layers: Vec<usize> = (vec![128, 64, 32, 16]); set_mlp_layers,
        learning_rate: f32 = 0.0004,
        epochs: usize = 1,
        batch_size: usize = 1024,
        negatives: usize = 8,
        l2: f32 = 0.0,
        output_l2: f32 = 0.001,
        lr_final: f32 = 1.0,
        init_std: f32 = 0.01,
        optimizer: &str = "adam" => parse_optimizer,
        seed: u64 = 42,
        pretrain_epochs: usize = 6,
        pretrain_learning_rate: f32 = 0.002,
        pretrain_alpha: f32 = 0.5,
        early_stopping: usize = 0,
    }
}

py_model! {
    /// GMF (generalised matrix factorisation), the NCF network of element-wise products of user
    /// and item embeddings: ``recs.NCF(arch="gmf")`` with the parameters that apply to it:
    /// ``factors``, ``learning_rate``, ``epochs``, ``batch_size``, ``negatives``, ``l2``, ``output_l2``, ``lr_final``, ``init_std``,
    /// ``optimizer``, ``seed``, ``early_stopping`` (see :class:`NCF` for each).
    ///
    /// >>> model = recs.GMF(factors=4, epochs=1).fit(recs.synthetic(40, 20, 400, seed=2))
    /// >>> model.kind
    /// 'ncf'
    PyGmf, "GMF", recs::model::Ncf as [recs::model::Ncf::params().arch(NcfArch::Gmf)] {
        factors: usize = 64,
        learning_rate: f32 = 0.0004,
        epochs: usize = 1,
        batch_size: usize = 1024,
        negatives: usize = 8,
        l2: f32 = 0.0,
        output_l2: f32 = 0.001,
        lr_final: f32 = 1.0,
        init_std: f32 = 0.01,
        optimizer: &str = "adam" => parse_optimizer,
        seed: u64 = 42,
        early_stopping: usize = 0,
    }
}

py_model! {
    /// MLP, the NCF network of a ReLU tower over concatenated user and item embeddings:
    /// ``recs.NCF(arch="mlp")`` with the parameters that apply to it: ``mlp_layers``,
    /// ``learning_rate``, ``epochs``, ``batch_size``, ``negatives``, ``l2``, ``output_l2``, ``lr_final``, ``init_std``, ``optimizer``,
    /// ``seed``, ``early_stopping`` (see :class:`NCF` for each).
    ///
    /// >>> model = recs.MLP(mlp_layers=[16, 8], epochs=1).fit(recs.synthetic(40, 20, 400, seed=2))
    /// >>> model.get_params()["mlp_layers"]
    /// [16, 8]
    PyMlp, "MLP", recs::model::Ncf as [recs::model::Ncf::params().arch(NcfArch::Mlp)] {
        mlp_layers: Vec<usize> = (vec![128, 64, 32, 16]); set_mlp_layers,
        learning_rate: f32 = 0.0004,
        epochs: usize = 1,
        batch_size: usize = 1024,
        negatives: usize = 8,
        l2: f32 = 0.0,
        output_l2: f32 = 0.001,
        lr_final: f32 = 1.0,
        init_std: f32 = 0.01,
        optimizer: &str = "adam" => parse_optimizer,
        seed: u64 = 42,
        early_stopping: usize = 0,
    }
}

py_model! {
    /// NeuMF, GMF and MLP fused before the prediction layer: ``recs.NCF(arch="neumf")`` with
    /// ``factors``, ``mlp_layers``, ``learning_rate``, ``epochs``, ``batch_size``,
    /// ``negatives``, ``l2``, ``output_l2``, ``lr_final``, ``init_std``, ``optimizer``, ``seed``, ``pretrain_epochs``,
    /// ``pretrain_learning_rate``, ``pretrain_alpha``, ``early_stopping`` (see :class:`NCF`;
    /// ``pretrain_epochs`` > 0 pre-trains GMF and MLP first, as in the paper).
    ///
    /// >>> recs.NeuMF(factors=4, mlp_layers=[8, 4], epochs=1).fit(recs.synthetic(40, 20, 400, seed=2)).is_fitted
    /// True
    PyNeuMf, "NeuMF", recs::model::Ncf as [recs::model::Ncf::params().arch(NcfArch::NeuMf)] {
        factors: usize = 64,
        mlp_layers: Vec<usize> = (vec![128, 64, 32, 16]); set_mlp_layers,
        learning_rate: f32 = 0.0004,
        epochs: usize = 1,
        batch_size: usize = 1024,
        negatives: usize = 8,
        l2: f32 = 0.0,
        output_l2: f32 = 0.001,
        lr_final: f32 = 1.0,
        init_std: f32 = 0.01,
        optimizer: &str = "adam" => parse_optimizer,
        seed: u64 = 42,
        pretrain_epochs: usize = 6,
        pretrain_learning_rate: f32 = 0.002,
        pretrain_alpha: f32 = 0.5,
        early_stopping: usize = 0,
    }
}

py_model! {
    /// Decayed item transitions over each user's ordered history (a sequence model that
    /// trains in seconds): fit it on a ``recs.Dataset`` with a time column, then ask
    /// :meth:`recommend_sequence` what comes after a list of items. ``window``,
    /// ``train_decay``, ``backward``, ``alpha``, ``beta``, ``history_len``, ``history_decay``
    /// and ``neighbors`` are the Rust ``TransitionParams`` (defaults chosen on the validation
    /// item of Amazon Beauty and ML-1M).
    ///
    /// >>> df = pd.DataFrame({"user": [1, 1, 1, 2, 2], "item": [10, 20, 30, 10, 20],
    /// ...                    "time": [1, 2, 3, 1, 2]})
    /// >>> model = recs.Transition().fit(recs.Dataset.from_pandas(df, timestamp="time"))
    /// >>> model.recommend_sequence([10, 20], N=1)[0].tolist()
    /// [30]
    PyTransition, "Transition", recs::model::Transition {
        window: usize = 10,
        train_decay: f32 = 0.5,
        backward: f32 = 0.0,
        alpha: f32 = 0.25,
        beta: f32 = 0.0,
        history_len: usize = 10,
        history_decay: f32 = 0.5,
        neighbors: usize = 500,
    }
}

py_model! {
    /// SASRec: causal self-attention over each user's ordered history, trained with full
    /// softmax cross-entropy (the Rust ``SasRecParams``: ``blocks``, ``heads``, ``hidden``,
    /// ``max_len``, ``dropout``, ``epochs``, ``batch_size``, ``learning_rate``,
    /// ``negatives``, ``patience``, ``validation_users``, ``seed``). Minutes per epoch on
    /// MovieLens-1M; fit it on a ``recs.Dataset`` with a time column and ask
    /// :meth:`recommend_sequence` what comes after a list of items.
    ///
    /// >>> df = pd.DataFrame({"user": [u for u in range(8) for _ in range(3)],
    /// ...                    "item": [(u + k) % 4 for u in range(8) for k in range(3)],
    /// ...                    "time": [k for u in range(8) for k in range(3)]})
    /// >>> ds = recs.Dataset.from_pandas(df, timestamp="time")
    /// >>> model = recs.SASRec(hidden=8, epochs=2, patience=0).fit(ds)
    /// >>> model.recommend_sequence([0, 1], N=2)[0].shape
    /// (2,)
    PySasRec, "SASRec", recs::model::SasRec {
        blocks: usize = 2,
        heads: usize = 1,
        hidden: usize = 64,
        max_len: usize = 200,
        dropout: f32 = 0.2,
        epochs: usize = 200,
        batch_size: usize = 64,
        learning_rate: f32 = 0.002,
        negatives: usize = 0,
        patience: usize = 8,
        validation_users: usize = 2000,
        seed: u64 = 42,
    }
}

fn parse_weighting(s: &str) -> PyResult<Weighting> {
    let lower = s.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split(':').collect();
    Ok(match parts.as_slice() {
        ["none"] => Weighting::None,
        ["tfidf"] => Weighting::TfIdf,
        ["bm25"] => Weighting::Bm25 { k1: 100.0, b: 0.8 },
        ["bm25", k1, b] => Weighting::Bm25 {
            k1: k1.parse().map_err(|_| bad_choice("weighting", s))?,
            b: b.parse().map_err(|_| bad_choice("weighting", s))?,
        },
        _ => return Err(bad_choice("weighting", s)),
    })
}

fn parse_arch(s: &str) -> PyResult<NcfArch> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "gmf" => NcfArch::Gmf,
        "mlp" => NcfArch::Mlp,
        "neumf" => NcfArch::NeuMf,
        _ => return Err(bad_choice("arch", s)),
    })
}

fn parse_optimizer(s: &str) -> PyResult<NcfOptimizer> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "adam" => NcfOptimizer::Adam,
        "sgd" => NcfOptimizer::Sgd,
        _ => return Err(bad_choice("optimizer", s)),
    })
}

fn set_mlp_layers(p: NcfParams, v: Vec<usize>) -> PyResult<NcfParams> {
    Ok(p.mlp_layers(&v))
}

/// `lambda` is a Python keyword, so the argument is `lambda_` (as scikit-learn does).
fn set_ease_lambda(p: EaseParams, v: f32) -> PyResult<EaseParams> {
    Ok(p.lambda(v))
}

fn model_name(name: &str) -> PyResult<String> {
    Ok(name.to_owned())
}

fn set_fresh_years(p: FreshParams, v: Option<Vec<Option<u16>>>) -> PyResult<FreshParams> {
    Ok(match v {
        Some(years) => p.years(years),
        None => p,
    })
}

fn set_fresh_ease_lambda(p: FreshParams, v: f32) -> PyResult<FreshParams> {
    Ok(p.ease(recs::model::Ease::params().lambda(v)))
}

fn bad_choice(name: &str, got: &str) -> PyErr {
    let choices = match name {
        "weighting" => "'none', 'tfidf', 'bm25' or 'bm25:K1:B'",
        "arch" => "'gmf', 'mlp' or 'neumf'",
        "optimizer" => "'adam' or 'sgd'",
        "solver" => "'cg' or 'cholesky'",
        "feedback" => "'implicit' or 'explicit'",
        _ => "one of the documented values",
    };
    PyValueError::new_err(format!(
        "invalid parameter `{name}`: expected {choices}, got {got:?}"
    ))
}

/// The Python class of each model kind (for `recs.load` of a file of unknown kind).
pub(super) fn class_for_kind<'py>(py: Python<'py>, kind: &str) -> PyResult<Bound<'py, PyType>> {
    macro_rules! lookup {
        ($($cls:ty),*) => {
            $(if kind == <$cls as ModelClass>::KIND { return Ok(<$cls>::type_object(py)); })*
        };
    }
    lookup!(
        PyPopularity,
        PyAls,
        PyBpr,
        PyItemKnn,
        PyEase,
        PyNcf,
        PyFresh,
        PyTransition,
        PySasRec
    );
    Err(RecsError::new_err(format!(
        "model kind `{kind}` has no Python class in this version of recs"
    )))
}

/// `base` (a model fitted from a spec) as an instance of the class of the spec's model name
/// (`gmf` → `recs.GMF`, ...); a model without a class of its own (`blend`) stays a plain
/// `recs.Recommender`.
pub(super) fn instance_for_spec<'py>(
    py: Python<'py>,
    spec_name: &str,
    base: PyRecommender,
) -> PyResult<Bound<'py, PyAny>> {
    macro_rules! make {
        ($cls:expr) => {
            Bound::new(py, PyClassInitializer::from(base).add_subclass($cls))?.into_any()
        };
    }
    Ok(match spec_name {
        "pop" => make!(PyPopularity),
        "itemknn" => make!(PyItemKnn),
        "als" => make!(PyAls),
        "bpr" => make!(PyBpr),
        "ease" => make!(PyEase),
        "gmf" => make!(PyGmf),
        "mlp" => make!(PyMlp),
        "neumf" => make!(PyNeuMf),
        "fresh" => make!(PyFresh),
        "transition" => make!(PyTransition),
        "sasrec" => make!(PySasRec),
        _ => Bound::new(py, base)?.into_any(),
    })
}

/// Reads a model file of any kind and returns an instance of its class (``recs.ALS``, ...).
///
/// >>> import tempfile, os
/// >>> model = recs.Popularity().fit(recs.Interactions.from_arrays([0, 1], [1, 1]))
/// >>> path = os.path.join(tempfile.mkdtemp(), "pop.recs")
/// >>> model.save(path)
/// >>> recs.load(path)
/// Popularity(min_value=0.0)
#[pyfunction]
fn load<'py>(py: Python<'py>, path: std::path::PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let model = detach(py, move || AnyModel::load(&path))?;
    PyRecommender::from_any(py, &py.get_type::<PyRecommender>(), model)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRecommender>()?;
    m.add_class::<PyPopularity>()?;
    m.add_class::<PyAls>()?;
    m.add_class::<PyBpr>()?;
    m.add_class::<PyItemKnn>()?;
    m.add_class::<PyEase>()?;
    m.add_class::<PyFresh>()?;
    m.add_class::<PyNcf>()?;
    m.add_class::<PyGmf>()?;
    m.add_class::<PyMlp>()?;
    m.add_class::<PyNeuMf>()?;
    m.add_class::<PyTransition>()?;
    m.add_class::<PySasRec>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    Ok(())
}
