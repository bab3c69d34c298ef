//! The generic `Recommender` base class over `recs::AnyModel`.

use std::sync::{Arc, RwLock};

use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::exceptions::{PyAttributeError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyType};
use rayon::prelude::*;
use recs::data::{Interactions, ItemIdx, UserIdx};
use recs::model::{AnyModel, Fit, ParamGuard, Persist, RecOpts, Recommender, Scored};
use serde::Serialize;

use super::classes::class_for_kind;
use crate::data::{
    idx_scalar, idx_vec, interactions_arg, is_native, is_scalar, sparse_rows, PyDataset,
};
use crate::{detach, RecsError};

/// Fits a model, returning it with the values chosen for `auto` parameters (`KEY`, value),
/// empty for a model built from a class constructor.
pub(super) type FitFn =
    dyn Fn(&Interactions) -> recs::Result<(AnyModel, Vec<(String, String)>)> + Send + Sync;

/// The fitted state: the model and, when fitted in this process, its training data (the default
/// history for `recommend`).
#[derive(Clone)]
struct Fitted {
    model: Arc<AnyModel>,
    train: Option<Arc<Interactions>>,
    /// Wall-clock seconds of `fit` (reported by the evaluators).
    train_seconds: Option<f64>,
    /// The values chosen on validation for `auto` parameters of a model spec (see
    /// `recs.fit_spec`), as `recs::model::Fitted::chosen` holds them.
    chosen: Vec<(String, String)>,
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
    /// The model spec text when the model was made by `recs.fit_spec` (shown by `repr`).
    spec: Option<String>,
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
            fitter: Arc::new(move |train: &Interactions| {
                params.fit(train).map(|m| (AnyModel::from(m), Vec::new()))
            }),
            kwargs,
            core_params,
            state: RwLock::new(None),
            dataset: RwLock::new(None),
            spec: None,
        })
    }

    /// A model fitted from a spec (`recs.fit_spec`): `fitter` refits the same spec (so `fit`
    /// on other data chooses `auto` values again), `kwargs` are the spec's parameters.
    pub(super) fn fitted_from_spec(
        spec: String,
        fitter: Arc<FitFn>,
        kwargs: Py<PyDict>,
        fitted: recs::model::Fitted,
        train: Arc<Interactions>,
        train_seconds: f64,
        dataset: Option<Py<PyAny>>,
    ) -> Self {
        PyRecommender {
            kind: fitted.model.kind(),
            fitter,
            kwargs,
            core_params: spec.clone(),
            state: RwLock::new(Some(Fitted {
                model: Arc::new(fitted.model),
                train: Some(train),
                train_seconds: Some(train_seconds),
                chosen: fitted.chosen,
            })),
            dataset: RwLock::new(dataset),
            spec: Some(spec),
        }
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

    /// The `auto` choices of the last fit as a dict: the chosen values (typed) or, with
    /// `scores`, the validation score of each `KEY@VALUE` candidate. Keys drop the model prefix
    /// the core gives them (`ease.lambda` → `lambda`).
    fn chosen_dict<'py>(&self, py: Python<'py>, scores: bool) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let chosen = match self.state.read() {
            Ok(state) => state.as_ref().map(|f| f.chosen.clone()).unwrap_or_default(),
            Err(_) => {
                return Err(RecsError::new_err(
                    "model state is poisoned by an earlier failure",
                ))
            }
        };
        for (key, value) in chosen {
            if key.contains('@') != scores {
                continue;
            }
            let key = key.split_once('.').map_or(key.as_str(), |(_, k)| k);
            if scores {
                d.set_item(key, value)?;
            } else {
                d.set_item(key, super::spec::spec_value(py, &value)?)?;
            }
        }
        Ok(d)
    }

    fn set_fitted(&self, f: Fitted) -> PyResult<()> {
        *self
            .state
            .write()
            .map_err(|_| RecsError::new_err("model state is poisoned by an earlier failure"))? =
            Some(f);
        Ok(())
    }

    /// A loaded model of a kind without a Python class, as a plain `recs.Recommender`.
    fn without_class(py: Python<'_>, model: AnyModel) -> PyResult<Bound<'_, PyAny>> {
        let kind = model.kind();
        let base = PyRecommender {
            kind,
            fitter: Arc::new(move |_: &Interactions| {
                Err(recs::Error::Unsupported(format!(
                    "a loaded `{kind}` model has no parameters to refit with: fit a spec with \
                     recs.fit_spec instead"
                )))
            }),
            kwargs: PyDict::new(py).unbind(),
            core_params: "{}".into(),
            state: RwLock::new(Some(Fitted {
                model: Arc::new(model),
                train: None,
                train_seconds: None,
                chosen: Vec::new(),
            })),
            dataset: RwLock::new(None),
            spec: None,
        };
        Ok(Bound::new(py, base)?.into_any())
    }

    /// Installs a loaded model into a fresh instance of `cls` (or of the class of its kind).
    pub(super) fn from_any<'py>(
        py: Python<'py>,
        cls: &Bound<'py, PyType>,
        model: AnyModel,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind = model.kind();
        let cls = if cls.is(py.get_type::<PyRecommender>()) {
            match class_for_kind(py, kind) {
                Ok(cls) => cls,
                // A kind without a class of its own (`blend`, made by `recs.fit_spec`) loads as
                // a plain `recs.Recommender`: it recommends, but has no parameters to refit.
                Err(_) => return Self::without_class(py, model),
            }
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
            chosen: Vec::new(),
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
        let (model, chosen) = model;
        this.set_fitted(Fitted {
            model: Arc::new(model),
            train: Some(train),
            train_seconds: Some(seconds),
            chosen,
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

    /// The values chosen on a validation split for the ``auto`` parameters of the last fit, by
    /// key (``{"lambda": 400.0}`` after ``recs.fit_spec("ease:lambda=auto", ...)``); empty when
    /// no parameter was ``auto``. Each candidate's validation score is in :attr:`auto_scores`.
    #[getter]
    fn auto_params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.chosen_dict(py, false)
    }

    /// The validation score of every candidate value of the ``auto`` parameters of the last
    /// fit, by ``KEY@VALUE`` (Recall@20 on the validation split, with its gap to the best);
    /// empty when no parameter was ``auto``.
    #[getter]
    fn auto_scores<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.chosen_dict(py, true)
    }

    /// The parameters as the Rust core holds them (JSON), for tests.
    #[getter]
    fn _core_params(&self) -> &str {
        &self.core_params
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let name = slf.get_type().name()?.to_string();
        if let Some(spec) = &slf.get().spec {
            let spec = pyo3::types::PyString::new(py, spec);
            return Ok(format!("{name}(spec={})", spec.repr()?));
        }
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
