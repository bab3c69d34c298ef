//! Models: one generic `Recommender` base class over `recs::AnyModel`, and one small subclass per
//! model whose constructor takes the keyword parameters of the Rust `XParams` builder.
//!
//! Adding a model is one `py_model!` invocation (name, Rust type, keyword parameters with their
//! defaults) and one line in `register` / `MODELS`; `fit`, `recommend`, `similar_items`, save /
//! load and the factors live once on the base class.

// A default of several tokens (a `vec![..]`) is written in parentheses in `py_model!`, and pyo3
// copies it into a closure body, where rustc calls the parentheses unnecessary.
#![allow(unused_parens)]

use std::sync::{Arc, RwLock};

use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::exceptions::{PyAttributeError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyType};
use rayon::prelude::*;
use recs::data::{Interactions, ItemIdx, UserIdx};
use recs::model::{
    AlsSolver, AnyModel, EaseParams, Feedback, Fit, FreshParams, NcfArch, NcfOptimizer, NcfParams,
    ParamGuard, Persist, RecOpts, Recommender, Scored, Weighting,
};
use serde::Serialize;

use crate::data::{
    idx_scalar, idx_vec, interactions_arg, is_native, is_scalar, sparse_rows, PyDataset,
};
use crate::{detach, RecsError};

type FitFn = dyn Fn(&Interactions) -> recs::Result<AnyModel> + Send + Sync;

/// The fitted state: the model and, when fitted in this process, its training data (the default
/// history for `recommend`).
#[derive(Clone)]
struct Fitted {
    model: Arc<AnyModel>,
    train: Option<Arc<Interactions>>,
    /// Wall-clock seconds of `fit` (reported by the evaluators).
    train_seconds: Option<f64>,
}

/// The Rust parameters (JSON) of any `recs.Recommender` instance.
pub(crate) fn core_params_of(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(obj.cast::<PyRecommender>()?.get().core_params.clone())
}

/// The fitted model behind any `recs.Recommender` instance, and its training time.
pub(crate) fn fitted_of(obj: &Bound<'_, PyAny>) -> PyResult<(Arc<AnyModel>, Option<f64>)> {
    let rec = obj.cast::<PyRecommender>().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected a recs model (recs.ALS, ...), got {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    let f = rec.get().fitted()?;
    Ok((f.model, f.train_seconds))
}

/// Base class of every recs model.
///
/// Create a concrete model (``recs.Popularity(...)``, ``recs.ALS(...)``, ...), ``fit`` it on
/// interactions, then ``recommend`` / ``similar_items``; ``save`` and ``recs.load`` keep it.
/// The API follows implicit: ids are dense indices and results are numpy ``(ids, scores)``.
#[pyclass(subclass, frozen, module = "recs", name = "Recommender")]
pub struct PyRecommender {
    kind: &'static str,
    fitter: Arc<FitFn>,
    /// The constructor's keyword arguments, as given (for `get_params` and `repr`).
    kwargs: Py<PyDict>,
    /// The Rust parameters as JSON (for the test that Python defaults equal Rust defaults).
    core_params: String,
    state: RwLock<Option<Fitted>>,
    /// The `recs.Dataset` of the last `fit`, when fitted on one: its item ids are what
    /// `recommend_sequence` takes and returns.
    dataset: RwLock<Option<Py<PyAny>>>,
}

impl PyRecommender {
    /// A model with validated parameters `params` (raises `ValueError` when out of range).
    pub(crate) fn new<P>(params: P, kwargs: Py<PyDict>) -> PyResult<Self>
    where
        P: Fit + ParamGuard + Serialize + Send + Sync + 'static,
        P::Model: Persist,
        AnyModel: From<P::Model>,
    {
        params.check_ref().map_err(crate::to_pyerr)?;
        let core_params = serde_json::to_string(&params)
            .map_err(|e| RecsError::new_err(format!("cannot describe parameters: {e}")))?;
        Ok(PyRecommender {
            kind: <P::Model as Persist>::KIND,
            fitter: Arc::new(move |train: &Interactions| params.fit(train).map(AnyModel::from)),
            kwargs,
            core_params,
            state: RwLock::new(None),
            dataset: RwLock::new(None),
        })
    }

    /// The training data of the last `fit` in this process, if any.
    pub(crate) fn train_data(&self) -> Option<Arc<Interactions>> {
        self.state.read().ok()?.as_ref()?.train.clone()
    }

    /// A model read from a file or registry, as an instance of the class of its kind.
    pub(crate) fn instance_of(py: Python<'_>, model: AnyModel) -> PyResult<Bound<'_, PyAny>> {
        Self::from_any(py, &py.get_type::<PyRecommender>(), model)
    }

    fn fitted(&self) -> PyResult<Fitted> {
        self.state
            .read()
            .map_err(|_| RecsError::new_err("model state is poisoned by an earlier failure"))?
            .clone()
            .ok_or_else(|| {
                PyRuntimeError::new_err(format!(
                    "this {} model is not fitted: call fit(interactions) or load a model file first",
                    self.kind
                ))
            })
    }

    fn set_fitted(&self, f: Fitted) -> PyResult<()> {
        *self
            .state
            .write()
            .map_err(|_| RecsError::new_err("model state is poisoned by an earlier failure"))? =
            Some(f);
        Ok(())
    }

    /// Installs a loaded model into a fresh instance of `cls` (or of the class of its kind).
    fn from_any<'py>(
        py: Python<'py>,
        cls: &Bound<'py, PyType>,
        model: AnyModel,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind = model.kind();
        let cls = if cls.is(py.get_type::<PyRecommender>()) {
            class_for_kind(py, kind)?
        } else {
            cls.clone()
        };
        let obj = cls.call0()?;
        let base = obj.cast::<PyRecommender>()?.get();
        if base.kind != kind {
            return Err(PyValueError::new_err(format!(
                "the file holds a `{kind}` model, not `{}`: load it with recs.load()",
                base.kind
            )));
        }
        base.set_fitted(Fitted {
            model: Arc::new(model),
            train: None,
            train_seconds: None,
        })?;
        Ok(obj)
    }
}

/// `userid` as given to `recommend` / `recalculate_user`: one id (`true`) or a batch.
fn user_ids(userid: &Bound<'_, PyAny>) -> PyResult<(bool, Vec<UserIdx>)> {
    if is_scalar(userid)? {
        Ok((true, vec![idx_scalar(userid, "userid")?]))
    } else {
        let users = idx_vec(userid, "userid", pyo3::exceptions::PyIndexError::new_err)?;
        Ok((false, users))
    }
}

/// `(ids, scores)` numpy arrays of one ranked list.
fn list_arrays<'py>(py: Python<'py>, list: &[Scored]) -> (Bound<'py, PyAny>, Bound<'py, PyAny>) {
    let ids: Vec<i32> = list.iter().map(|s| s.item as i32).collect();
    let scores: Vec<f32> = list.iter().map(|s| s.score).collect();
    (
        PyArray1::from_vec(py, ids).into_any(),
        PyArray1::from_vec(py, scores).into_any(),
    )
}

/// `(ids, scores)` 2-D arrays of a batch, `width` columns, padded with id -1 and score -inf
/// where a list is shorter.
fn batch_arrays<'py>(
    py: Python<'py>,
    lists: &[Vec<Scored>],
    width: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let mut ids = vec![-1i32; lists.len() * width];
    let mut scores = vec![f32::NEG_INFINITY; lists.len() * width];
    for (r, list) in lists.iter().enumerate() {
        for (c, s) in list.iter().take(width).enumerate() {
            ids[r * width + c] = s.item as i32;
            scores[r * width + c] = s.score;
        }
    }
    let shape = [lists.len(), width];
    Ok((
        PyArray1::from_vec(py, ids).reshape(shape)?.into_any(),
        PyArray1::from_vec(py, scores).reshape(shape)?.into_any(),
    ))
}

/// A constructor argument as `get_params` shows it. An `f32` parameter shows its shortest
/// decimal (0.01, not 0.009999999776482582).
pub(crate) trait ToParam {
    fn to_param<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

impl ToParam for f32 {
    fn to_param<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shortest: f64 = format!("{self}").parse().unwrap_or(f64::from(*self));
        Ok(shortest.into_pyobject(py)?.into_any())
    }
}

macro_rules! to_param_plain {
    ($($t:ty),*) => {$(
        impl ToParam for $t {
            fn to_param<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                use pyo3::IntoPyObjectExt;
                self.clone().into_bound_py_any(py)
            }
        }
    )*};
}
to_param_plain!(
    f64,
    usize,
    u64,
    u32,
    u16,
    bool,
    String,
    Vec<usize>,
    Vec<Option<u16>>
);

impl ToParam for &str {
    fn to_param<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pyo3::types::PyString::new(py, self).into_any())
    }
}

impl<T: ToParam> ToParam for Option<T> {
    fn to_param<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(v) => v.to_param(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

#[pymethods]
impl PyRecommender {
    #[new]
    fn py_new() -> PyResult<Self> {
        Err(PyTypeError::new_err(
            "recs.Recommender is abstract: create a concrete model such as recs.ALS(...), or use recs.load(path)",
        ))
    }

    /// Trains the model on ``interactions`` (``recs.Interactions``, ``recs.Dataset``,
    /// ``recs.Split`` or a users × items scipy.sparse matrix) and returns ``self``.
    ///
    /// The GIL is released while training. Refitting replaces the previous state.
    fn fit<'py>(
        slf: &Bound<'py, Self>,
        interactions: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Self>> {
        let py = slf.py();
        let train = interactions_arg(interactions)?;
        let this = slf.get();
        let fitter = this.fitter.clone();
        let t = train.clone();
        let (model, seconds) = detach(py, move || {
            let start = std::time::Instant::now();
            let m = fitter(&t)?;
            Ok((m, start.elapsed().as_secs_f64()))
        })?;
        this.set_fitted(Fitted {
            model: Arc::new(model),
            train: Some(train),
            train_seconds: Some(seconds),
        })?;
        let dataset = interactions
            .cast::<PyDataset>()
            .ok()
            .map(|d| d.clone().into_any().unbind());
        if let Ok(mut slot) = this.dataset.write() {
            *slot = dataset;
        }
        Ok(slf.clone())
    }

    /// Top-``N`` items to come next after ``items``, one person's history as a plain list of
    /// item ids ordered **oldest → newest** (no trained user needed: a live session, or a user
    /// the model never saw). Sequence models (``Transition``, ``SASRec``) read the order;
    /// other models read the list as a set (those that cannot score without a trained user,
    /// such as NCF, raise ``recs.RecsError``).
    ///
    /// Ids are those of ``dataset`` (a ``recs.Dataset``; by default the one the model was
    /// fitted on, if any), and the answer is ``(ids, scores)`` in that dataset's ids;
    /// without a dataset, ids are dense item indices. ``filter_already_liked_items`` leaves
    /// the given items out. Raises ``IndexError`` for an id the model does not know.
    ///
    /// >>> df = pd.DataFrame({"user": [1, 1, 2, 2, 3, 3], "item": ["a", "b", "a", "b", "c", "d"],
    /// ...                    "time": [1, 2, 1, 2, 1, 2]})
    /// >>> ds = recs.Dataset.from_pandas(df, timestamp="time")
    /// >>> model = recs.Transition().fit(ds)
    /// >>> model.recommend_sequence(["c", "a"], N=1)[0].tolist()   # newest is "a": "b" follows it
    /// ['b']
    #[pyo3(signature = (items, N=10, *, dataset=None, filter_already_liked_items=true))]
    #[allow(non_snake_case)]
    fn recommend_sequence<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
        N: usize,
        dataset: Option<&Bound<'py, PyAny>>,
        filter_already_liked_items: bool,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let model = self.fitted()?.model;
        if is_scalar(items)? {
            return Err(PyTypeError::new_err(
                "items is a list of item ids, oldest first (one id: pass [id])",
            ));
        }
        let dataset: Option<Bound<'py, PyAny>> = match dataset {
            Some(d) => Some(d.cast::<PyDataset>()?.clone().into_any()),
            None => self
                .dataset
                .read()
                .map_err(|_| RecsError::new_err("model state is poisoned by an earlier failure"))?
                .as_ref()
                .map(|d| d.bind(py).clone()),
        };
        let history: Vec<ItemIdx> = match &dataset {
            Some(d) if items.len()? > 0 => idx_vec(
                &d.call_method1("item_index", (items,))?,
                "items",
                pyo3::exceptions::PyIndexError::new_err,
            )?,
            Some(_) => Vec::new(),
            None => idx_vec(items, "items", pyo3::exceptions::PyIndexError::new_err)?,
        };
        let list = detach(py, move || {
            let opts = RecOpts {
                k: N,
                filter_seen: filter_already_liked_items,
                ..RecOpts::default()
            };
            model.recommend_history(&history, &opts)
        })?;
        let (ids, scores) = list_arrays(py, &list);
        match dataset {
            Some(d) => Ok((d.getattr("item_ids")?.get_item(ids)?, scores)),
            None => Ok((ids, scores)),
        }
    }

    /// Top-``N`` items for a user (``userid`` an int) or a batch of users (an array of ints).
    ///
    /// Returns ``(ids, scores)``: int32 item indices and float32 scores, best first; 1-D for one
    /// user, 2-D for a batch (rows padded with id -1 / score -inf when fewer than ``N`` items
    /// are left after filtering).
    ///
    /// ``user_items`` supplies the users' histories: ``None`` uses the training data of ``fit``
    /// (empty for a loaded model); a scipy.sparse matrix has one row per user in ``userid``
    /// (implicit's convention); a ``recs.Interactions`` / ``recs.Dataset`` is indexed by user.
    /// ``filter_already_liked_items`` leaves the history out; ``filter_items`` is a deny-list
    /// and ``items`` an allow-list of item indices (both may be given).
    ///
    /// Raises ``IndexError`` for a user or item the model does not know. The GIL is released
    /// while scoring; a batch is scored in parallel.
    #[pyo3(signature = (userid, user_items=None, N=10, filter_already_liked_items=true, filter_items=None, items=None))]
    #[allow(non_snake_case, clippy::too_many_arguments)]
    fn recommend<'py>(
        &self,
        py: Python<'py>,
        userid: &Bound<'py, PyAny>,
        user_items: Option<&Bound<'py, PyAny>>,
        N: usize,
        filter_already_liked_items: bool,
        filter_items: Option<&Bound<'py, PyAny>>,
        items: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let fitted = self.fitted()?;
        let (single, users) = user_ids(userid)?;
        let exclude = filter_items
            .map(|f| idx_vec(f, "filter_items", pyo3::exceptions::PyIndexError::new_err))
            .transpose()?;
        let candidates = items
            .map(|c| idx_vec(c, "items", pyo3::exceptions::PyIndexError::new_err))
            .transpose()?;
        // Histories: by user index (native matrix or the training data) or row-aligned (scipy).
        enum History {
            ByUser(Arc<Interactions>),
            Rows(Interactions),
        }
        let history = match user_items {
            None => History::ByUser(
                fitted
                    .train
                    .clone()
                    .unwrap_or_else(|| Arc::new(Interactions::empty(0, 0))),
            ),
            Some(ui) if is_native(ui) => History::ByUser(interactions_arg(ui)?),
            Some(ui) => {
                let rows = sparse_rows(ui)?;
                if rows.n_users() != users.len() {
                    return Err(PyValueError::new_err(format!(
                        "user_items must have one row per user in userid: {} rows for {} users",
                        rows.n_users(),
                        users.len()
                    )));
                }
                History::Rows(rows)
            }
        };
        let model = fitted.model;
        // A batch has a fixed width (as implicit): N, capped by what can be ranked at all.
        let width = N
            .min(model.n_items())
            .min(candidates.as_ref().map_or(usize::MAX, Vec::len));
        let lists = detach(py, move || {
            let opts = RecOpts {
                k: N,
                filter_seen: filter_already_liked_items,
                exclude: exclude.as_deref(),
                candidates: candidates.as_deref(),
            };
            match &history {
                History::ByUser(data) if users.len() == 1 => Ok(vec![model.recommend(
                    users[0],
                    data.items_of(users[0]),
                    &opts,
                )?]),
                History::ByUser(data) => model.recommend_batch(&users, data, &opts),
                History::Rows(rows) => users
                    .par_iter()
                    .enumerate()
                    .map(|(r, &u)| model.recommend(u, rows.items_of(r as UserIdx), &opts))
                    .collect(),
            }
        })?;
        if single {
            Ok(list_arrays(py, &lists[0]))
        } else {
            batch_arrays(py, &lists, width)
        }
    }

    /// The ``N`` items most similar to ``itemid`` (an int, or an array for a batch), excluding
    /// the item itself: ``(ids, scores)`` as in :meth:`recommend`.
    ///
    /// Raises ``recs.RecsError`` for a model without item similarity (Popularity) and
    /// ``IndexError`` for an unknown item.
    #[pyo3(signature = (itemid, N=10))]
    #[allow(non_snake_case)]
    fn similar_items<'py>(
        &self,
        py: Python<'py>,
        itemid: &Bound<'py, PyAny>,
        N: usize,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let model = self.fitted()?.model;
        let width = N.min(model.n_items().saturating_sub(1));
        let single = is_scalar(itemid)?;
        let items: Vec<ItemIdx> = if single {
            vec![idx_scalar(itemid, "itemid")?]
        } else {
            idx_vec(itemid, "itemid", pyo3::exceptions::PyIndexError::new_err)?
        };
        let lists = detach(py, move || {
            items
                .par_iter()
                .map(|&i| model.similar_items(i, N))
                .collect::<recs::Result<Vec<_>>>()
        })?;
        if single {
            Ok(list_arrays(py, &lists[0]))
        } else {
            batch_arrays(py, &lists, width)
        }
    }

    /// Scores of the given ``items`` for one user (float32, aligned with ``items``), using the
    /// training history of the user unless ``user_items`` (one scipy row, or a recs matrix
    /// indexed by user) is given.
    #[pyo3(signature = (userid, items, user_items=None))]
    fn score_items<'py>(
        &self,
        py: Python<'py>,
        userid: &Bound<'py, PyAny>,
        items: &Bound<'py, PyAny>,
        user_items: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let fitted = self.fitted()?;
        let user = idx_scalar(userid, "userid")?;
        let items = idx_vec(items, "items", pyo3::exceptions::PyIndexError::new_err)?;
        let history: Vec<ItemIdx> = match user_items {
            None => fitted
                .train
                .as_ref()
                .map(|t| t.items_of(user).to_vec())
                .unwrap_or_default(),
            Some(ui) if is_native(ui) => interactions_arg(ui)?.items_of(user).to_vec(),
            Some(ui) => {
                let rows = sparse_rows(ui)?;
                if rows.n_users() != 1 {
                    return Err(PyValueError::new_err(format!(
                        "user_items must have one row, got {}",
                        rows.n_users()
                    )));
                }
                rows.items_of(0).to_vec()
            }
        };
        let model = fitted.model;
        let scores = detach(py, move || model.score_items(user, &history, &items))?;
        Ok(PyArray1::from_vec(py, scores))
    }

    /// Folds users in from their items without retraining (ALS only, as implicit's
    /// ``recalculate_user``): solves each user's least-squares step against the fixed item
    /// factors and returns float32 factors, 1-D for one user, ``(len(userid), factors)`` for a
    /// batch. ``user_items`` is a scipy.sparse matrix with one row per user in ``userid`` (its
    /// values are the confidences/ratings), or a ``recs.Interactions`` indexed by user.
    ///
    /// Raises ``recs.RecsError`` for a model without user factors and ``IndexError`` for an
    /// item the model does not know.
    ///
    /// >>> train = recs.Interactions.from_arrays([0, 0, 1, 1, 2], [0, 1, 0, 1, 2])
    /// >>> model = recs.ALS(factors=4, iterations=3).fit(train)
    /// >>> import scipy.sparse as sp
    /// >>> model.recalculate_user(0, sp.csr_matrix(([1.0, 1.0], ([0, 0], [0, 1])), shape=(1, 3))).shape
    /// (4,)
    fn recalculate_user<'py>(
        &self,
        py: Python<'py>,
        userid: &Bound<'py, PyAny>,
        user_items: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let model = self.fitted()?.model;
        if !matches!(model.as_ref(), AnyModel::Als(_)) {
            return Err(RecsError::new_err(format!(
                "recalculate_user needs a model with user factors solved by least squares (ALS), not `{}`",
                self.kind
            )));
        }
        let (single, users) = user_ids(userid)?;
        let rows: Vec<(Vec<ItemIdx>, Vec<f32>)> = if is_native(user_items) {
            let data = interactions_arg(user_items)?;
            users
                .iter()
                .map(|&u| (data.items_of(u).to_vec(), data.values_of(u).to_vec()))
                .collect()
        } else {
            let sparse = sparse_rows(user_items)?;
            if sparse.n_users() != users.len() {
                return Err(PyValueError::new_err(format!(
                    "user_items must have one row per user in userid: {} rows for {} users",
                    sparse.n_users(),
                    users.len()
                )));
            }
            (0..users.len())
                .map(|r| {
                    let r = r as UserIdx;
                    (sparse.items_of(r).to_vec(), sparse.values_of(r).to_vec())
                })
                .collect()
        };
        let solved = detach(py, move || match model.as_ref() {
            AnyModel::Als(als) => rows
                .par_iter()
                .map(|(items, values)| als.recalculate_user(items, Some(values)))
                .collect::<recs::Result<Vec<Vec<f32>>>>(),
            _ => Ok(Vec::new()), // refused above
        })?;
        let width = solved.first().map_or(0, Vec::len);
        let flat: Vec<f32> = solved.into_iter().flatten().collect();
        let array = PyArray1::from_vec(py, flat);
        if single {
            Ok(array.into_any())
        } else {
            Ok(array.reshape([users.len(), width])?.into_any())
        }
    }

    /// User latent factors as a float32 array ``(n_users, factors)``.
    ///
    /// Raises ``AttributeError`` for models without user factors.
    #[getter]
    fn user_factors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let model = self.fitted()?.model;
        factors_array(py, factors(&model, Side::User), self.kind, "user_factors")
    }

    /// Item latent factors as a float32 array ``(n_items, factors)``.
    ///
    /// Raises ``AttributeError`` for models without item factors.
    #[getter]
    fn item_factors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let model = self.fitted()?.model;
        factors_array(py, factors(&model, Side::Item), self.kind, "item_factors")
    }

    /// Writes the fitted model to ``path`` (recs model file: header with kind and checksum,
    /// written atomically).
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let model = self.fitted()?.model;
        detach(py, move || model.save(&path))
    }

    /// Reads a model file. On ``recs.Recommender`` (or via ``recs.load``) the class is chosen by
    /// the kind stored in the file; on a concrete class the file must hold that kind.
    ///
    /// The loaded model has the default parameters of its class (they only matter for a
    /// later ``fit``) and no training data (``recommend`` then needs ``user_items`` to filter).
    #[classmethod]
    fn load<'py>(
        cls: &Bound<'py, PyType>,
        path: std::path::PathBuf,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        let model = detach(py, move || AnyModel::load(&path))?;
        Self::from_any(py, cls, model)
    }

    /// The model file as bytes (see :meth:`save`).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let model = self.fitted()?.model;
        let bytes = detach(py, move || model.to_bytes())?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Reads a model from bytes produced by :meth:`to_bytes` (class chosen as in :meth:`load`).
    #[classmethod]
    fn from_bytes<'py>(cls: &Bound<'py, PyType>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        let data = data.to_vec();
        let model = detach(py, move || AnyModel::from_bytes(&data))?;
        Self::from_any(py, cls, model)
    }

    /// Pickling goes through the model file format.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let py = slf.py();
        let bytes = slf.get().to_bytes(py)?;
        Ok((slf.get_type().getattr("from_bytes")?, (bytes,)))
    }

    /// Benchmark hook: seconds per call of the core's batch ``recommend`` over ``userids``
    /// with the training histories, measured inside Rust (no argument or result conversion).
    /// ``py_bench.py`` compares it with the Python call to measure the binding's overhead.
    #[pyo3(signature = (userids, N=10, repeat=1))]
    #[allow(non_snake_case)]
    fn _core_recommend_seconds(
        &self,
        py: Python<'_>,
        userids: &Bound<'_, PyAny>,
        N: usize,
        repeat: usize,
    ) -> PyResult<f64> {
        let fitted = self.fitted()?;
        let users = idx_vec(userids, "userids", pyo3::exceptions::PyIndexError::new_err)?;
        let train = fitted
            .train
            .unwrap_or_else(|| Arc::new(Interactions::empty(0, 0)));
        let model = fitted.model;
        let repeat = repeat.max(1);
        detach(py, move || {
            let opts = RecOpts {
                k: N,
                ..RecOpts::default()
            };
            let start = std::time::Instant::now();
            for _ in 0..repeat {
                std::hint::black_box(model.recommend_batch(&users, &train, &opts)?);
            }
            Ok(start.elapsed().as_secs_f64() / repeat as f64)
        })
    }

    /// The model kind, as stored in model files (``"als"``, ``"popularity"``, ...).
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// Whether the model has been fitted or loaded.
    #[getter]
    fn is_fitted(&self) -> bool {
        self.state.read().is_ok_and(|s| s.is_some())
    }

    /// Number of items the fitted model scores.
    #[getter]
    fn n_items(&self) -> PyResult<usize> {
        Ok(self.fitted()?.model.n_items())
    }

    /// The constructor parameters as a dict (a copy).
    fn get_params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.kwargs.bind(py).copy()
    }

    /// The parameters as the Rust core holds them (JSON), for tests.
    #[getter]
    fn _core_params(&self) -> &str {
        &self.core_params
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let name = slf.get_type().name()?.to_string();
        let d = slf.get().kwargs.bind(py);
        let mut parts = Vec::new();
        for (k, v) in d.iter() {
            parts.push(format!("{}={}", k.str()?, v.repr()?));
        }
        Ok(format!("{name}({})", parts.join(", ")))
    }
}

#[derive(Clone, Copy)]
enum Side {
    User,
    Item,
}

/// Row-major factors `(rows, cols, data)` of models that have them.
fn factors(model: &AnyModel, side: Side) -> Option<(usize, usize, Vec<f32>)> {
    macro_rules! mf {
        ($m:expr) => {
            Some(match side {
                Side::User => ($m.n_users(), $m.factor_width(), $m.user_factors().to_vec()),
                Side::Item => ($m.n_items(), $m.factor_width(), $m.item_factors().to_vec()),
            })
        };
    }
    match model {
        AnyModel::Als(m) => mf!(m),
        AnyModel::Bpr(m) => mf!(m),
        _ => None,
    }
}

fn factors_array<'py>(
    py: Python<'py>,
    f: Option<(usize, usize, Vec<f32>)>,
    kind: &str,
    what: &str,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (rows, cols, data) =
        f.ok_or_else(|| PyAttributeError::new_err(format!("a {kind} model has no {what}")))?;
    PyArray1::from_vec(py, data).reshape([rows, cols])
}

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
fn class_for_kind<'py>(py: Python<'py>, kind: &str) -> PyResult<Bound<'py, PyType>> {
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
