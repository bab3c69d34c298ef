//! Data: `Interactions` (dense indices) and `Dataset` (interactions + external ids), built from
//! numpy arrays, a pandas DataFrame or a scipy.sparse matrix; conversion helpers for the other
//! areas.

use std::sync::Arc;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyIndexError, PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;

use recs::data::split::{Cut, Holdout};
use recs::data::synth::SynthParams;
use recs::data::{Dataset, Duplicates, Format, Interactions, LoadOptions, Record, Split, Vocab};

use crate::detach;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyInteractions>()?;
    m.add_class::<PyDataset>()?;
    m.add_class::<PySplit>()?;
    m.add_function(wrap_pyfunction!(load_movielens, m)?)?;
    m.add_function(wrap_pyfunction!(load_movies, m)?)?;
    m.add_function(wrap_pyfunction!(load_ncf, m)?)?;
    m.add_function(wrap_pyfunction!(synthetic, m)?)?;
    m.add_function(wrap_pyfunction!(leave_last_out, m)?)?;
    m.add_function(wrap_pyfunction!(leave_last_n, m)?)?;
    m.add_function(wrap_pyfunction!(random_holdout, m)?)?;
    m.add_function(wrap_pyfunction!(temporal_cut, m)?)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Conversion helpers (numpy / scipy <-> Rust). Shared with model.rs and eval.rs.
// ---------------------------------------------------------------------------------------------

/// `numpy.asarray(obj)` checked to be 1-D.
fn as_1d<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyAny>> {
    let arr = obj.py().import("numpy")?.call_method1("asarray", (obj,))?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    if ndim != 1 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a 1-D array, got {ndim} dimensions"
        )));
    }
    Ok(arr)
}

/// True when `obj` is a scalar (numpy's `ndim == 0`): a Python or numpy integer, not a sequence.
pub(crate) fn is_scalar(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let ndim: usize = obj
        .py()
        .import("numpy")?
        .call_method1("ndim", (obj,))?
        .extract()?;
    Ok(ndim == 0)
}

/// A 1-D array-like of integers (any integer dtype) as `Vec<i64>`.
pub(crate) fn int_vec(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<i64>> {
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, i64>>() {
        if let Ok(s) = a.as_slice() {
            return Ok(s.to_vec());
        }
    }
    let arr = as_1d(obj, what)?;
    if arr.len()? == 0 {
        return Ok(Vec::new());
    }
    let dtype = arr.getattr("dtype")?;
    let kind: String = dtype.getattr("kind")?.extract()?;
    if kind != "i" && kind != "u" {
        return Err(PyValueError::new_err(format!(
            "{what} must be integers, got dtype {}",
            dtype.str()?
        )));
    }
    let arr = obj
        .py()
        .import("numpy")?
        .call_method1("ascontiguousarray", (arr, "int64"))?;
    let a: PyReadonlyArray1<'_, i64> = arr.extract()?;
    Ok(a.as_slice()
        .map_err(|e| PyValueError::new_err(e.to_string()))?
        .to_vec())
}

/// A 1-D array-like of dense indices (`0..2^32`). Negative or too large values raise `make_err`.
pub(crate) fn idx_vec(
    obj: &Bound<'_, PyAny>,
    what: &str,
    make_err: fn(String) -> PyErr,
) -> PyResult<Vec<u32>> {
    int_vec(obj, what)?
        .into_iter()
        .map(|v| u32::try_from(v).map_err(|_| make_err(format!("{what}: index {v} out of range"))))
        .collect()
}

/// A scalar index (`0..2^32`); negative or too large raises `IndexError`.
pub(crate) fn idx_scalar(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u32> {
    let v: i64 = obj
        .extract()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be an integer")))?;
    u32::try_from(v).map_err(|_| PyIndexError::new_err(format!("{what} {v} out of range")))
}

/// A 1-D array-like of numbers as `Vec<f32>`.
pub(crate) fn f32_vec(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<f32>> {
    let arr = as_1d(obj, what)?;
    let arr = obj
        .py()
        .import("numpy")?
        .call_method1("ascontiguousarray", (arr, "float32"))?;
    let a: PyReadonlyArray1<'_, f32> = arr.extract()?;
    Ok(a.as_slice()
        .map_err(|e| PyValueError::new_err(e.to_string()))?
        .to_vec())
}

/// Dense indices as a numpy `int32` array (the dtype of scipy's and implicit's indices).
pub(crate) fn idx_array<'py>(py: Python<'py>, v: &[u32]) -> Bound<'py, PyArray1<i32>> {
    PyArray1::from_vec(py, v.iter().map(|&i| i as i32).collect())
}

fn parse_duplicates(s: &str) -> PyResult<Duplicates> {
    Ok(match s {
        "last" => Duplicates::KeepLast,
        "first" => Duplicates::KeepFirst,
        "sum" => Duplicates::Sum,
        "max" => Duplicates::Max,
        other => {
            return Err(PyValueError::new_err(format!(
                "duplicates must be one of 'last', 'first', 'sum', 'max', got {other:?}"
            )))
        }
    })
}

/// A scipy.sparse matrix (anything with `tocsr()`) as `Interactions`, rows = users.
/// Duplicate entries are summed and indices sorted (scipy's canonical form), on a copy.
fn interactions_from_sparse(obj: &Bound<'_, PyAny>) -> PyResult<Interactions> {
    let py = obj.py();
    let mut csr = obj.call_method0("tocsr")?;
    if !csr.getattr("has_canonical_format")?.extract::<bool>()? {
        csr = csr.call_method0("copy")?;
        csr.call_method0("sum_duplicates")?;
    }
    let (_, n_items): (usize, usize) = csr.getattr("shape")?.extract()?;
    let indptr: Vec<usize> = int_vec(&csr.getattr("indptr")?, "indptr")?
        .into_iter()
        .map(|v| usize::try_from(v).map_err(|_| PyValueError::new_err("negative indptr")))
        .collect::<PyResult<_>>()?;
    let indices = idx_vec(&csr.getattr("indices")?, "indices", PyValueError::new_err)?;
    let values = f32_vec(&csr.getattr("data")?, "data")?;
    detach(py, move || {
        Interactions::from_csr(n_items, indptr, indices, values, None)
    })
}

/// Anything a model can train on or read histories from: `Interactions`, `Dataset`, a
/// `Split` (its train part) or a scipy.sparse matrix.
pub(crate) fn interactions_arg(obj: &Bound<'_, PyAny>) -> PyResult<Arc<Interactions>> {
    if let Ok(x) = obj.cast::<PyInteractions>() {
        return Ok(x.get().inner.clone());
    }
    if let Ok(d) = obj.cast::<PyDataset>() {
        return Ok(d.get().interactions.clone());
    }
    if let Ok(s) = obj.cast::<PySplit>() {
        return Ok(s.get().train.clone());
    }
    if obj.hasattr("tocsr")? {
        return Ok(Arc::new(interactions_from_sparse(obj)?));
    }
    Err(PyTypeError::new_err(format!(
        "expected recs.Interactions, recs.Dataset, recs.Split or a scipy.sparse matrix, got {}",
        obj.get_type().name()?
    )))
}

/// Whether `obj` is a recs-native matrix (rows indexed by user) rather than a scipy matrix.
pub(crate) fn is_native(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyInteractions>().is_ok()
        || obj.cast::<PyDataset>().is_ok()
        || obj.cast::<PySplit>().is_ok()
}

/// Converts a scipy matrix (rows aligned with a batch of users, as implicit's `user_items`).
pub(crate) fn sparse_rows(obj: &Bound<'_, PyAny>) -> PyResult<Interactions> {
    interactions_from_sparse(obj)
}

// ---------------------------------------------------------------------------------------------
// Interactions
// ---------------------------------------------------------------------------------------------

/// A sparse users × items matrix of interactions (CSR, float32 values, optional timestamps).
///
/// Users and items are dense indices ``0..n``. To keep your own ids, use :class:`Dataset`.
/// Build one with :meth:`from_arrays` or :meth:`from_csr`; every model's ``fit`` takes it.
///
/// >>> import recs
/// >>> m = recs.Interactions.from_arrays([0, 0, 1], [1, 2, 0], [5.0, 3.0, 4.0])
/// >>> m.shape, m.nnz
/// ((2, 3), 3)
/// >>> m.items_of(0).tolist()
/// [1, 2]
#[pyclass(frozen, module = "recs", name = "Interactions")]
pub struct PyInteractions {
    pub(crate) inner: Arc<Interactions>,
}

impl PyInteractions {
    pub(crate) fn new(inner: Arc<Interactions>) -> Self {
        PyInteractions { inner }
    }
}

#[pymethods]
impl PyInteractions {
    /// Builds the matrix from parallel arrays of dense user and item indices.
    ///
    /// ``values`` default to 1.0 (implicit feedback); ``timestamps`` are Unix seconds.
    /// ``shape`` defaults to ``(max(users) + 1, max(items) + 1)``. Repeated (user, item) pairs
    /// are merged by ``duplicates``: ``"last"`` (latest timestamp wins, the default),
    /// ``"first"``, ``"sum"`` or ``"max"``.
    ///
    /// Raises ``ValueError`` for negative indices, mismatched lengths or non-finite values.
    ///
    /// >>> m = recs.Interactions.from_arrays([0, 0, 1], [2, 2, 0], duplicates="sum", shape=(3, 4))
    /// >>> m.shape, m.values.tolist()
    /// ((3, 4), [2.0, 1.0])
    #[staticmethod]
    #[pyo3(signature = (users, items, values=None, timestamps=None, *, shape=None, duplicates="last"))]
    fn from_arrays(
        py: Python<'_>,
        users: &Bound<'_, PyAny>,
        items: &Bound<'_, PyAny>,
        values: Option<&Bound<'_, PyAny>>,
        timestamps: Option<&Bound<'_, PyAny>>,
        shape: Option<(usize, usize)>,
        duplicates: &str,
    ) -> PyResult<Self> {
        let users = idx_vec(users, "users", PyValueError::new_err)?;
        let items = idx_vec(items, "items", PyValueError::new_err)?;
        let values = values.map(|v| f32_vec(v, "values")).transpose()?;
        let timestamps = timestamps.map(|t| int_vec(t, "timestamps")).transpose()?;
        let dups = parse_duplicates(duplicates)?;
        let records = records(&users, &items, values.as_deref(), timestamps.as_deref())?;
        let (n_users, n_items) = shape.unwrap_or_else(|| {
            (
                users.iter().max().map_or(0, |&u| u as usize + 1),
                items.iter().max().map_or(0, |&i| i as usize + 1),
            )
        });
        let m = detach(py, move || {
            Interactions::from_records(n_users, n_items, &records, dups)
        })?;
        Ok(Self::new(Arc::new(m)))
    }

    /// Builds the matrix from a scipy.sparse matrix (rows are users, columns items).
    ///
    /// The matrix is read in canonical CSR form (duplicates summed, indices sorted); the input
    /// is not modified.
    ///
    /// >>> import scipy.sparse as sp
    /// >>> m = recs.Interactions.from_csr(sp.csr_matrix([[0, 1.0, 0], [2.0, 0, 0]]))
    /// >>> m.shape, m.indices.tolist()
    /// ((2, 3), [1, 0])
    #[staticmethod]
    fn from_csr(matrix: &Bound<'_, PyAny>) -> PyResult<Self> {
        if !matrix.hasattr("tocsr")? {
            return Err(PyTypeError::new_err(
                "from_csr expects a scipy.sparse matrix or array",
            ));
        }
        Ok(Self::new(Arc::new(interactions_from_sparse(matrix)?)))
    }

    /// The matrix as a ``scipy.sparse.csr_matrix`` (float32 values).
    ///
    /// >>> recs.Interactions.from_arrays([1], [0]).to_csr().toarray().tolist()
    /// [[0.0], [1.0]]
    fn to_csr<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let m = &self.inner;
        let indptr = PyArray1::from_vec(py, m.indptr().iter().map(|&p| p as i64).collect());
        let data = PyArray1::from_slice(py, m.values());
        let indices = idx_array(py, m.indices());
        py.import("scipy.sparse")?.call_method1(
            "csr_matrix",
            ((data, indices, indptr), (m.n_users(), m.n_items())),
        )
    }

    /// ``(n_users, n_items)``.
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.inner.n_users(), self.inner.n_items())
    }
    /// Number of users (rows).
    #[getter]
    fn n_users(&self) -> usize {
        self.inner.n_users()
    }
    /// Number of items (columns).
    #[getter]
    fn n_items(&self) -> usize {
        self.inner.n_items()
    }
    /// Number of stored interactions.
    #[getter]
    fn nnz(&self) -> usize {
        self.inner.nnz()
    }
    /// CSR row pointer (int64, ``n_users + 1`` entries).
    #[getter]
    fn indptr<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(py, self.inner.indptr().iter().map(|&p| p as i64).collect())
    }
    /// Item index of every interaction, row by row (int32).
    #[getter]
    fn indices<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i32>> {
        idx_array(py, self.inner.indices())
    }
    /// Value of every interaction, aligned with ``indices`` (float32).
    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_slice(py, self.inner.values())
    }
    /// Timestamps aligned with ``indices`` (int64 seconds), or ``None`` when unknown.
    #[getter]
    fn timestamps<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<i64>>> {
        self.inner.timestamps().map(|t| PyArray1::from_slice(py, t))
    }
    /// Sorted item indices of ``user`` (empty for a user outside the matrix).
    fn items_of<'py>(
        &self,
        py: Python<'py>,
        user: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<i32>>> {
        let u = idx_scalar(user, "user")?;
        Ok(idx_array(py, self.inner.items_of(u)))
    }
    /// Values of ``user``, aligned with :meth:`items_of`.
    fn values_of<'py>(
        &self,
        py: Python<'py>,
        user: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let u = idx_scalar(user, "user")?;
        Ok(PyArray1::from_slice(py, self.inner.values_of(u)))
    }
    /// Number of interactions per user (int64).
    fn user_counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(
            py,
            self.inner
                .user_counts()
                .into_iter()
                .map(i64::from)
                .collect(),
        )
    }
    /// Number of interactions per item (int64).
    fn item_counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(
            py,
            self.inner
                .item_counts()
                .into_iter()
                .map(i64::from)
                .collect(),
        )
    }
    /// A copy with every value set to 1.0 (implicit feedback).
    fn binarized(&self) -> Self {
        Self::new(Arc::new(self.inner.binarized()))
    }
    /// The items × users transpose.
    fn transpose(&self) -> Self {
        Self::new(Arc::new(self.inner.transpose()))
    }
    fn __len__(&self) -> usize {
        self.inner.n_users()
    }
    fn __repr__(&self) -> String {
        format!(
            "Interactions(n_users={}, n_items={}, nnz={}, timestamps={})",
            self.inner.n_users(),
            self.inner.n_items(),
            self.inner.nnz(),
            self.inner.timestamps().is_some()
        )
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyInteractions>()
            .is_ok_and(|o| *o.get().inner == *self.inner)
    }
}

fn records(
    users: &[u32],
    items: &[u32],
    values: Option<&[f32]>,
    timestamps: Option<&[i64]>,
) -> PyResult<Vec<Record>> {
    let n = users.len();
    let bad = |what: &str, len: usize| {
        PyValueError::new_err(format!(
            "{what} has {len} entries but users has {n}: the arrays must be parallel"
        ))
    };
    if items.len() != n {
        return Err(bad("items", items.len()));
    }
    if let Some(v) = values {
        if v.len() != n {
            return Err(bad("values", v.len()));
        }
    }
    if let Some(t) = timestamps {
        if t.len() != n {
            return Err(bad("timestamps", t.len()));
        }
    }
    Ok((0..n)
        .map(|k| Record {
            user: users[k],
            item: items[k],
            value: values.map_or(1.0, |v| v[k]),
            timestamp: timestamps.map(|t| t[k]),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Dataset
// ---------------------------------------------------------------------------------------------

/// Interactions together with the external user and item ids they were built from.
///
/// Models work on dense indices (``0..n_users``, ``0..n_items``); a ``Dataset`` maps your ids
/// to them (:meth:`user_index`, :meth:`item_index`) and back (``user_ids[idx]``,
/// ``item_ids[idx]``). Integer ids are kept as they are; ids of any other type (strings, ...)
/// given to :meth:`from_pandas` are factorized with ``pandas.factorize`` — a pure conversion,
/// the original labels are what ``user_ids`` / ``item_ids`` return.
///
/// >>> import pandas as pd
/// >>> df = pd.DataFrame({"user": ["ann", "bob", "ann"], "item": [10, 20, 20], "rating": [5, 3, 4]})
/// >>> ds = recs.Dataset.from_pandas(df)
/// >>> ds
/// Dataset(n_users=2, n_items=2, nnz=3)
/// >>> ds.user_index("bob"), ds.item_ids.tolist()
/// (1, [10, 20])
#[pyclass(frozen, module = "recs", name = "Dataset")]
pub struct PyDataset {
    pub(crate) interactions: Arc<Interactions>,
    pub(crate) users: Arc<Vocab>,
    pub(crate) items: Arc<Vocab>,
    /// Input position of each stored entry (`Dataset::order`), for the splitters' tie rule.
    order: Option<Arc<Vec<u32>>>,
    /// Original labels when the ids were factorized (non-integer ids); index = dense index.
    user_labels: Option<Py<PyAny>>,
    item_labels: Option<Py<PyAny>>,
}

impl PyDataset {
    pub(crate) fn from_dataset(d: Dataset) -> Self {
        PyDataset {
            interactions: Arc::new(d.interactions),
            users: Arc::new(d.users),
            items: Arc::new(d.items),
            order: d.order.map(Arc::new),
            user_labels: None,
            item_labels: None,
        }
    }

    /// Ships the parts needed by a splitter into a closure that runs without the GIL.
    pub(crate) fn parts(&self) -> DatasetParts {
        DatasetParts {
            interactions: self.interactions.clone(),
            users: self.users.clone(),
            items: self.items.clone(),
            order: self.order.clone(),
        }
    }

    fn labels(&self, py: Python<'_>) -> (Option<Py<PyAny>>, Option<Py<PyAny>>) {
        (
            self.user_labels.as_ref().map(|l| l.clone_ref(py)),
            self.item_labels.as_ref().map(|l| l.clone_ref(py)),
        )
    }
}

/// `Send` parts of a [`PyDataset`] (no Python objects).
pub(crate) struct DatasetParts {
    interactions: Arc<Interactions>,
    users: Arc<Vocab>,
    items: Arc<Vocab>,
    order: Option<Arc<Vec<u32>>>,
}

impl DatasetParts {
    pub(crate) fn to_dataset(&self) -> Dataset {
        Dataset {
            interactions: (*self.interactions).clone(),
            users: (*self.users).clone(),
            items: (*self.items).clone(),
            order: self.order.as_ref().map(|o| (**o).clone()),
        }
    }
}

/// Maps external ids to dense indices through a vocabulary or factorized labels.
fn lookup<'py>(
    py: Python<'py>,
    vocab: &Vocab,
    labels: Option<&Py<PyAny>>,
    ids: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let scalar = is_scalar(ids)?;
    let idx: Vec<u32> = match labels {
        Some(labels) => {
            let pd = py.import("pandas")?;
            let index = pd.getattr("Index")?.call1((labels.bind(py),))?;
            let query = if scalar {
                pyo3::types::PyList::new(py, [ids])?.into_any()
            } else {
                ids.clone()
            };
            let found = int_vec(&index.call_method1("get_indexer", (&query,))?, what)?;
            let mut out = Vec::with_capacity(found.len());
            for (k, &f) in found.iter().enumerate() {
                match u32::try_from(f) {
                    Ok(i) => out.push(i),
                    Err(_) => {
                        let id = query.get_item(k)?;
                        return Err(PyIndexError::new_err(format!(
                            "unknown {what} id {}",
                            id.repr()?
                        )));
                    }
                }
            }
            out
        }
        None => {
            let raw = if scalar {
                vec![ids.extract::<i64>().map_err(|_| {
                    PyTypeError::new_err(format!("{what} ids of this dataset are integers"))
                })?]
            } else {
                int_vec(ids, what)?
            };
            raw.iter()
                .map(|&id| {
                    vocab
                        .index(id)
                        .ok_or_else(|| PyIndexError::new_err(format!("unknown {what} id {id}")))
                })
                .collect::<PyResult<_>>()?
        }
    };
    if scalar {
        Ok(idx[0].into_pyobject(py)?.into_any())
    } else {
        Ok(idx_array(py, &idx).into_any())
    }
}

/// A DataFrame column as external integer ids, factorizing non-integer columns.
/// Returns the ids and, when factorized, the labels (index = id).
fn id_column<'py>(col: &Bound<'py, PyAny>, name: &str) -> PyResult<(Vec<i64>, Option<Py<PyAny>>)> {
    let py = col.py();
    let pd = py.import("pandas")?;
    let is_int: bool = pd
        .getattr("api")?
        .getattr("types")?
        .call_method1("is_integer_dtype", (col,))?
        .extract()?;
    if is_int {
        return Ok((int_vec(&col.call_method0("to_numpy")?, name)?, None));
    }
    let (codes, uniques): (Bound<'py, PyAny>, Bound<'py, PyAny>) =
        pd.call_method1("factorize", (col,))?.extract()?;
    let codes = int_vec(&codes, name)?;
    if codes.iter().any(|&c| c < 0) {
        return Err(PyValueError::new_err(format!(
            "column {name:?} has missing values"
        )));
    }
    let labels = py
        .import("numpy")?
        .call_method1("asarray", (uniques,))?
        .unbind();
    Ok((codes, Some(labels)))
}

/// A column of timestamps as Unix seconds (datetime64 columns are converted).
fn timestamp_column(col: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<i64>> {
    let arr = col.call_method0("to_numpy")?;
    let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    let arr = if kind == "M" {
        arr.call_method1("astype", ("datetime64[s]",))?
            .call_method1("astype", ("int64",))?
    } else {
        arr
    };
    int_vec(&arr, name)
}

#[pymethods]
impl PyDataset {
    /// Builds a dataset from parallel arrays of external integer ids.
    ///
    /// Dense indices follow first appearance. ``ratings`` default to 1.0, ``timestamps`` are Unix
    /// seconds; repeated (user, item) pairs are merged by ``duplicates`` (see
    /// :meth:`Interactions.from_arrays`).
    ///
    /// >>> ds = recs.Dataset.from_arrays([196, 186, 196], [242, 302, 377], [3, 3, 1])
    /// >>> ds.user_ids.tolist(), ds.interactions.shape
    /// ([196, 186], (2, 3))
    #[staticmethod]
    #[pyo3(signature = (users, items, ratings=None, timestamps=None, *, duplicates="last"))]
    fn from_arrays(
        py: Python<'_>,
        users: &Bound<'_, PyAny>,
        items: &Bound<'_, PyAny>,
        ratings: Option<&Bound<'_, PyAny>>,
        timestamps: Option<&Bound<'_, PyAny>>,
        duplicates: &str,
    ) -> PyResult<Self> {
        let users = int_vec(users, "users")?;
        let items = int_vec(items, "items")?;
        let ratings = ratings.map(|v| f32_vec(v, "ratings")).transpose()?;
        let timestamps = timestamps.map(|t| int_vec(t, "timestamps")).transpose()?;
        let dups = parse_duplicates(duplicates)?;
        let d = detach(py, move || {
            Dataset::from_external(
                &users,
                &items,
                ratings.as_deref(),
                timestamps.as_deref(),
                dups,
            )
        })?;
        Ok(Self::from_dataset(d))
    }

    /// Builds a dataset from a pandas DataFrame with one row per interaction.
    ///
    /// ``user`` and ``item`` name the id columns (any dtype: integer ids are kept, others are
    /// factorized with ``pandas.factorize``). ``rating`` and ``timestamp`` name optional
    /// columns: when left as ``None`` the columns ``"rating"`` / ``"timestamp"`` are used if
    /// present (ratings otherwise 1.0); a name given explicitly must exist. Timestamps may be
    /// integers (Unix seconds) or ``datetime64``.
    ///
    /// >>> df = pd.DataFrame({"u": [1, 1, 2], "i": ["a", "b", "a"]})
    /// >>> ds = recs.Dataset.from_pandas(df, user="u", item="i")
    /// >>> ds.item_ids.tolist(), ds.interactions.values.tolist()
    /// (['a', 'b'], [1.0, 1.0, 1.0])
    #[staticmethod]
    #[pyo3(signature = (df, *, user="user", item="item", rating=None, timestamp=None, duplicates="last"))]
    fn from_pandas(
        py: Python<'_>,
        df: &Bound<'_, PyAny>,
        user: &str,
        item: &str,
        rating: Option<&str>,
        timestamp: Option<&str>,
        duplicates: &str,
    ) -> PyResult<Self> {
        let columns: Vec<String> = df
            .getattr("columns")?
            .call_method0("tolist")?
            .extract()
            .unwrap_or_default();
        let column = |name: &str| -> PyResult<Bound<'_, PyAny>> {
            if columns.iter().any(|c| c == name) {
                df.get_item(name)
            } else {
                Err(PyKeyError::new_err(format!(
                    "DataFrame has no column {name:?} (columns: {columns:?})"
                )))
            }
        };
        let optional = |given: Option<&str>, default: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
            match given {
                Some(name) => column(name).map(Some),
                None if columns.iter().any(|c| c == default) => column(default).map(Some),
                None => Ok(None),
            }
        };
        let (users, user_labels) = id_column(&column(user)?, user)?;
        let (items, item_labels) = id_column(&column(item)?, item)?;
        let ratings = optional(rating, "rating")?
            .map(|c| f32_vec(&c.call_method0("to_numpy")?, "rating"))
            .transpose()?;
        let timestamps = optional(timestamp, "timestamp")?
            .map(|c| timestamp_column(&c, "timestamp"))
            .transpose()?;
        let dups = parse_duplicates(duplicates)?;
        let d = detach(py, move || {
            Dataset::from_external(
                &users,
                &items,
                ratings.as_deref(),
                timestamps.as_deref(),
                dups,
            )
        })?;
        let mut ds = Self::from_dataset(d);
        ds.user_labels = user_labels;
        ds.item_labels = item_labels;
        Ok(ds)
    }

    /// The users × items matrix (dense indices), as every model's ``fit`` takes it.
    #[getter]
    fn interactions(&self) -> PyInteractions {
        PyInteractions::new(self.interactions.clone())
    }
    /// External user id of each dense user index.
    #[getter]
    fn user_ids<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        match &self.user_labels {
            Some(l) => l.bind(py).clone(),
            None => PyArray1::from_slice(py, self.users.ids()).into_any(),
        }
    }
    /// External item id of each dense item index.
    #[getter]
    fn item_ids<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        match &self.item_labels {
            Some(l) => l.bind(py).clone(),
            None => PyArray1::from_slice(py, self.items.ids()).into_any(),
        }
    }
    /// Dense index of a user id (a scalar gives an int, an array gives an int32 array).
    ///
    /// Raises ``IndexError`` for an unknown id.
    fn user_index<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        lookup(py, &self.users, self.user_labels.as_ref(), ids, "user")
    }
    /// Dense index of an item id (a scalar gives an int, an array gives an int32 array).
    ///
    /// Raises ``IndexError`` for an unknown id.
    fn item_index<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        lookup(py, &self.items, self.item_labels.as_ref(), ids, "item")
    }
    /// Number of users.
    #[getter]
    fn n_users(&self) -> usize {
        self.interactions.n_users()
    }
    /// Number of items.
    #[getter]
    fn n_items(&self) -> usize {
        self.interactions.n_items()
    }
    /// The interactions as a DataFrame with columns user, item, rating (and timestamp), in
    /// external ids.
    ///
    /// >>> recs.Dataset.from_arrays([7, 8], [1, 1]).to_pandas().to_dict("list")
    /// {'user': [7, 8], 'item': [1, 1], 'rating': [1.0, 1.0]}
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let m = &self.interactions;
        let mut rows = Vec::with_capacity(m.nnz());
        for u in 0..m.n_users() as u32 {
            rows.extend(std::iter::repeat_n(u, m.items_of(u).len()));
        }
        let uidx = idx_array(py, &rows);
        let iidx = idx_array(py, m.indices());
        let cols = PyDict::new(py);
        cols.set_item("user", self.user_ids(py).get_item(uidx)?)?;
        cols.set_item("item", self.item_ids(py).get_item(iidx)?)?;
        cols.set_item("rating", PyArray1::from_slice(py, m.values()))?;
        if let Some(t) = m.timestamps() {
            cols.set_item("timestamp", PyArray1::from_slice(py, t))?;
        }
        py.import("pandas")?.getattr("DataFrame")?.call1((cols,))
    }
    fn __repr__(&self) -> String {
        format!(
            "Dataset(n_users={}, n_items={}, nnz={})",
            self.interactions.n_users(),
            self.interactions.n_items(),
            self.interactions.nnz()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Loaders and the synthetic generator
// ---------------------------------------------------------------------------------------------

fn load_options(skip_bad_lines: bool, duplicates: &str) -> PyResult<LoadOptions> {
    Ok(LoadOptions {
        skip_bad_lines,
        duplicates: parse_duplicates(duplicates)?,
    })
}

/// Loads a MovieLens ratings file into a :class:`Dataset` (gzip is read transparently).
///
/// The format follows the file name: ``u.data`` / ``*.base`` / ``*.test`` are ML-100K
/// (tab-separated ``user item rating timestamp``), ``*.dat`` is ML-1M / ML-10M
/// (``UserID::MovieID::Rating[::Timestamp]``), ``*.csv`` is CSV with a header, anything else
/// tab-separated. Ids keep their MovieLens values (``user_ids``, ``item_ids``).
///
/// ``skip_bad_lines`` skips lines that do not parse instead of raising ``ValueError`` (naming
/// file, line and field); ``duplicates`` merges repeated (user, item) pairs (see
/// :meth:`Interactions.from_arrays`). Raises ``OSError`` when the file cannot be read.
///
/// >>> import os, tempfile
/// >>> path = os.path.join(tempfile.mkdtemp(), "ratings.dat")
/// >>> _ = open(path, "w").write("1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
/// >>> ds = recs.load_movielens(path)
/// >>> ds, ds.item_ids.tolist()
/// (Dataset(n_users=2, n_items=2, nnz=3), [1193, 661])
#[pyfunction]
#[pyo3(signature = (path, *, skip_bad_lines=false, duplicates="last"))]
fn load_movielens(
    py: Python<'_>,
    path: PathBuf,
    skip_bad_lines: bool,
    duplicates: &str,
) -> PyResult<PyDataset> {
    let opts = load_options(skip_bad_lines, duplicates)?;
    let (d, _report) = detach(py, move || {
        recs::data::load(&path, &Format::guess(&path), &opts)
    })?;
    Ok(PyDataset::from_dataset(d))
}

/// Loads the movie titles and genres of MovieLens: ML-100K ``u.item`` or ML-1M ``movies.dat``
/// (chosen by file name; both are Latin-1 text).
///
/// Returns columns ``item`` (the MovieLens id), ``title``, ``genres`` (``|``-joined) and
/// ``year`` (the release year at the end of the title, ``None`` without one) as a pandas
/// DataFrame, or as a dict of lists when pandas is not installed.
///
/// >>> import os, tempfile
/// >>> path = os.path.join(tempfile.mkdtemp(), "movies.dat")
/// >>> _ = open(path, "w").write("1::Toy Story (1995)::Animation|Children's|Comedy\n")
/// >>> recs.load_movies(path)["title"][0]
/// 'Toy Story (1995)'
/// >>> int(recs.load_movies(path)["year"][0])
/// 1995
#[pyfunction]
fn load_movies<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let movies = detach(py, move || recs::data::load_movie_file(&path))?;
    let cols = PyDict::new(py);
    cols.set_item(
        "item",
        PyArray1::from_vec(py, movies.iter().map(|m| m.id).collect()),
    )?;
    cols.set_item(
        "title",
        movies.iter().map(|m| m.title.as_str()).collect::<Vec<_>>(),
    )?;
    cols.set_item(
        "genres",
        movies
            .iter()
            .map(|m| m.genres.join("|"))
            .collect::<Vec<_>>(),
    )?;
    cols.set_item("year", movies.iter().map(|m| m.year()).collect::<Vec<_>>())?;
    crate::eval::frame(py, cols)
}

/// Loads the NCF pre-split files (dense ids): training ratings, one held-out rating per user
/// and, optionally, each user's sampled negatives. Returns a :class:`Split` named ``"ncf"``.
///
/// >>> import os, tempfile
/// >>> d = tempfile.mkdtemp()
/// >>> for name, text in [("train", "0\t0\t5\n0\t1\t3\n1\t1\t4\n"), ("test", "0\t2\t4\t100\n1\t0\t5\t200\n"),
/// ...                    ("neg", "(0,2)\t3\n(1,0)\t3\n")]:
/// ...     _ = open(os.path.join(d, name), "w").write(text)
/// >>> split = recs.load_ncf(os.path.join(d, "train"), os.path.join(d, "test"), os.path.join(d, "neg"))
/// >>> split.test_cases()[0][1].tolist(), split.test_cases()[0][2].tolist()
/// ([2], [3])
#[pyfunction]
#[pyo3(signature = (train, test, negatives=None))]
fn load_ncf(
    py: Python<'_>,
    train: PathBuf,
    test: PathBuf,
    negatives: Option<PathBuf>,
) -> PyResult<PySplit> {
    let s = detach(py, move || {
        recs::data::load_ncf(&train, &test, negatives.as_deref())
    })?;
    Ok(PySplit::new(s, None, None))
}

/// Generates MovieLens-shaped data with latent taste clusters (deterministic in ``seed``):
/// ``n_users × n_items`` with exactly ``n_interactions`` distinct pairs, ratings 1–5 and
/// timestamps. Ids are ``0..n``. Personalised models beat popularity on it.
///
/// ``clusters`` defaults to 10 (``n_items`` when fewer); ``affinity`` is the probability of
/// picking an item of the user's own cluster; the exponents shape item popularity and user
/// activity (see the Rust ``SynthParams``). Raises ``ValueError`` for values out of range.
///
/// >>> ds = recs.synthetic(100, 50, 2000, seed=1)
/// >>> ds.interactions.nnz, ds.n_users
/// (2000, 100)
#[pyfunction]
#[pyo3(signature = (n_users, n_items, n_interactions, *, seed=42, clusters=None, affinity=0.6, popularity_exponent=2.0, activity_exponent=1.3))]
#[allow(clippy::too_many_arguments)]
fn synthetic(
    py: Python<'_>,
    n_users: usize,
    n_items: usize,
    n_interactions: usize,
    seed: u64,
    clusters: Option<usize>,
    affinity: f64,
    popularity_exponent: f64,
    activity_exponent: f64,
) -> PyResult<PyDataset> {
    let mut p = SynthParams::new(n_users, n_items, n_interactions)
        .seed(seed)
        .affinity(affinity)
        .popularity_exponent(popularity_exponent)
        .activity_exponent(activity_exponent);
    if let Some(k) = clusters {
        p = p.clusters(k);
    }
    let d = detach(py, move || p.generate())?;
    Ok(PyDataset::from_dataset(d))
}

// ---------------------------------------------------------------------------------------------
// Splits
// ---------------------------------------------------------------------------------------------

/// A train/test split: ``train`` interactions for ``fit`` and held-out items per test user.
///
/// ``train`` keeps the dataset's shape and ids (``user_ids`` / ``item_ids``). The held-out part
/// is ``test`` (an :class:`Interactions` of the same shape holding only test entries),
/// ``test_users`` (users with held-out items, sorted) and :meth:`test_cases` (with the
/// negatives of a sampled-candidates split such as NCF's).
///
/// >>> ds = recs.Dataset.from_arrays([1, 1, 1, 2, 2], [10, 11, 12, 10, 12], timestamps=[5, 9, 7, 1, 2])
/// >>> split = recs.leave_last_out(ds)
/// >>> split
/// Split(name='leave-last-out', train_nnz=3, test_users=2, test_items=2)
/// >>> split.item_ids[split.test.items_of(0)].tolist()
/// [11]
#[pyclass(frozen, module = "recs", name = "Split")]
pub struct PySplit {
    pub(crate) inner: Arc<Split>,
    train: Arc<Interactions>,
    user_labels: Option<Py<PyAny>>,
    item_labels: Option<Py<PyAny>>,
}

impl PySplit {
    pub(crate) fn new(
        s: Split,
        user_labels: Option<Py<PyAny>>,
        item_labels: Option<Py<PyAny>>,
    ) -> Self {
        PySplit {
            train: Arc::new(s.train.clone()),
            inner: Arc::new(s),
            user_labels,
            item_labels,
        }
    }
}

fn split_from<F>(py: Python<'_>, ds: &PyDataset, f: F) -> PyResult<PySplit>
where
    F: FnOnce(&Dataset) -> recs::Result<Split> + Send,
{
    let parts = ds.parts();
    let s = detach(py, move || f(&parts.to_dataset()))?;
    let (ul, il) = ds.labels(py);
    Ok(PySplit::new(s, ul, il))
}

/// Holds out each user's latest interaction (largest timestamp, ties by input order); users
/// with a single interaction stay in train. See :class:`Split`.
///
/// >>> ds = recs.Dataset.from_arrays([7, 7, 8], [1, 2, 1], timestamps=[20, 10, 30])
/// >>> split = recs.leave_last_out(ds)
/// >>> [(int(split.user_ids[u]), split.item_ids[i].tolist()) for u, i, _ in split.test_cases()]
/// [(7, [1])]
#[pyfunction]
fn leave_last_out(py: Python<'_>, dataset: PyRef<'_, PyDataset>) -> PyResult<PySplit> {
    split_from(py, &dataset, recs::data::split::leave_last_out)
}

/// Holds out each user's ``n`` latest interactions; users with ``n`` or fewer stay in train.
///
/// >>> ds = recs.synthetic(50, 40, 1000, seed=3)
/// >>> split = recs.leave_last_n(ds, 2)
/// >>> split.train.nnz + split.test.nnz == ds.interactions.nnz
/// True
#[pyfunction]
fn leave_last_n(py: Python<'_>, dataset: PyRef<'_, PyDataset>, n: usize) -> PyResult<PySplit> {
    split_from(py, &dataset, move |d| recs::data::split::leave_last_n(d, n))
}

/// Holds out a random ``fraction`` (or ``count``) of each user's interactions, with ``seed``.
/// Give exactly one of ``fraction`` (in (0, 1)) and ``count`` (>= 1).
///
/// >>> ds = recs.synthetic(50, 40, 1000, seed=3)
/// >>> split = recs.random_holdout(ds, fraction=0.2, seed=1)  # round(0.2 * n_u) per user
/// >>> split.train.nnz + split.test.nnz
/// 1000
/// >>> recs.random_holdout(ds, count=1).test.nnz
/// 50
#[pyfunction]
#[pyo3(signature = (dataset, *, fraction=None, count=None, seed=0))]
fn random_holdout(
    py: Python<'_>,
    dataset: PyRef<'_, PyDataset>,
    fraction: Option<f64>,
    count: Option<usize>,
    seed: u64,
) -> PyResult<PySplit> {
    let holdout = match (fraction, count) {
        (Some(f), None) => Holdout::Fraction(f),
        (None, Some(n)) => Holdout::Count(n),
        _ => {
            return Err(PyValueError::new_err(
                "give exactly one of fraction= and count=",
            ))
        }
    };
    split_from(py, &dataset, move |d| {
        recs::data::split::random_holdout(d, holdout, seed)
    })
}

/// Splits by time: interactions at or after ``timestamp`` (Unix seconds), or the latest
/// ``fraction`` of all interactions, are test. Give exactly one. Needs timestamps.
///
/// >>> ds = recs.Dataset.from_arrays([1, 1, 2, 2], [5, 6, 5, 7], timestamps=[10, 40, 20, 30])
/// >>> recs.temporal_cut(ds, timestamp=30).test.nnz, recs.temporal_cut(ds, fraction=0.25).test.nnz
/// (2, 1)
#[pyfunction]
#[pyo3(signature = (dataset, *, timestamp=None, fraction=None))]
fn temporal_cut(
    py: Python<'_>,
    dataset: PyRef<'_, PyDataset>,
    timestamp: Option<i64>,
    fraction: Option<f64>,
) -> PyResult<PySplit> {
    let cut = match (timestamp, fraction) {
        (Some(t), None) => Cut::Timestamp(t),
        (None, Some(f)) => Cut::Fraction(f),
        _ => {
            return Err(PyValueError::new_err(
                "give exactly one of timestamp= and fraction=",
            ))
        }
    };
    split_from(py, &dataset, move |d| {
        recs::data::split::temporal_cut(d, cut)
    })
}

#[pymethods]
impl PySplit {
    /// The split's name (``"leave-last-out"``, ``"ncf"``, ...).
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// Training interactions (same shape as the dataset).
    #[getter]
    fn train(&self) -> PyInteractions {
        PyInteractions::new(self.train.clone())
    }
    /// The held-out entries as a users × items matrix (values 1.0).
    #[getter]
    fn test(&self, py: Python<'_>) -> PyResult<PyInteractions> {
        let s = self.inner.clone();
        let m = detach(py, move || {
            let n_users = s.train.n_users();
            let records: Vec<Record> = s
                .test
                .cases
                .iter()
                .flat_map(|c| {
                    c.items.iter().map(|&i| Record {
                        user: c.user,
                        item: i,
                        value: 1.0,
                        timestamp: None,
                    })
                })
                .collect();
            let n_users = records
                .iter()
                .map(|r| r.user as usize + 1)
                .max()
                .unwrap_or(0)
                .max(n_users);
            Interactions::from_records(n_users, s.train.n_items(), &records, Duplicates::KeepLast)
        })?;
        Ok(PyInteractions::new(Arc::new(m)))
    }
    /// Users with held-out items, ascending (int32).
    #[getter]
    fn test_users<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i32>> {
        let users: Vec<u32> = self.inner.test.cases.iter().map(|c| c.user).collect();
        idx_array(py, &users)
    }
    /// ``[(user, items, negatives), ...]``: each test user's held-out items and, for a
    /// sampled-candidates split, the negatives to rank them against (else ``None``).
    fn test_cases<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for c in &self.inner.test.cases {
            let neg = c.negatives.as_ref().map(|n| idx_array(py, n));
            out.append((c.user, idx_array(py, &c.items), neg))?;
        }
        Ok(out)
    }
    /// External user id of each dense user index.
    #[getter]
    fn user_ids<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        match &self.user_labels {
            Some(l) => l.bind(py).clone(),
            None => PyArray1::from_slice(py, self.inner.users.ids()).into_any(),
        }
    }
    /// External item id of each dense item index.
    #[getter]
    fn item_ids<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        match &self.item_labels {
            Some(l) => l.bind(py).clone(),
            None => PyArray1::from_slice(py, self.inner.items.ids()).into_any(),
        }
    }
    fn __repr__(&self) -> String {
        format!(
            "Split(name='{}', train_nnz={}, test_users={}, test_items={})",
            self.inner.name,
            self.inner.train.nnz(),
            self.inner.test.len(),
            self.inner.test.n_items_total()
        )
    }
}
