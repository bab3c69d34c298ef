//! Evaluation: the two evaluators (`FullRanking`, `SampledCandidates`), `Report`, and `measure`
//! for ranked lists made elsewhere. Results come back as pandas DataFrames (a dict of columns
//! when pandas is not installed).

use std::collections::BTreeMap;
use std::sync::Arc;

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use recs::data::Split;
use recs::eval::{
    measure, parse_metric, EvalConfig, Evaluator, FullRanking, MetricKind, Protocol, Report, Run,
    SampledCandidates,
};
use recs::model::Scored;

use crate::data::{int_vec, PySplit};
use crate::detach;
use crate::model::fitted_of;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFullRanking>()?;
    m.add_class::<PySampledCandidates>()?;
    m.add_class::<PyReport>()?;
    m.add_function(wrap_pyfunction!(measure_lists, m)?)?;
    Ok(())
}

/// `pandas.DataFrame(cols)` when pandas is installed, else `cols` itself.
pub(crate) fn frame<'py>(py: Python<'py>, cols: Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
    match py.import("pandas") {
        Ok(pd) => pd.getattr("DataFrame")?.call1((cols,)),
        Err(_) => Ok(cols.into_any()),
    }
}

/// `k` as an int or a list of ints.
fn ks_arg(k: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let ks: Vec<i64> = if let Ok(one) = k.extract::<i64>() {
        vec![one]
    } else {
        int_vec(k, "k")?
    };
    ks.into_iter()
        .map(|v| {
            usize::try_from(v)
                .map_err(|_| PyValueError::new_err(format!("k must be >= 1, got {v}")))
        })
        .collect()
}

fn config(
    k: &Bound<'_, PyAny>,
    metrics: Option<Vec<String>>,
    per_user: bool,
    latency_users: usize,
) -> PyResult<EvalConfig> {
    let mut cfg = EvalConfig::default()
        .ks(ks_arg(k)?)
        .per_user(per_user)
        .latency_users(latency_users);
    if let Some(names) = metrics {
        let kinds = names
            .iter()
            .map(|n| n.parse::<MetricKind>())
            .collect::<recs::Result<Vec<_>>>()
            .map_err(crate::to_pyerr)?;
        cfg = cfg.metrics(kinds);
    }
    cfg.check().map_err(crate::to_pyerr)?;
    Ok(cfg)
}

/// Runs `evaluator` on a fitted model and split without the GIL.
fn run_evaluator<E>(
    py: Python<'_>,
    evaluator: E,
    model: &Bound<'_, PyAny>,
    split: &PySplit,
    name: Option<String>,
) -> PyResult<PyReport>
where
    E: Evaluator + Send + Sync,
{
    let (model, train_seconds) = fitted_of(model)?;
    let s: Arc<Split> = split.inner.clone();
    let report = detach(py, move || {
        let mut r = evaluator.evaluate(model.as_recommender(), &s)?;
        if let Some(n) = name {
            r = r.with_name(n);
        }
        if let Some(t) = train_seconds {
            r = r.with_train_seconds(t);
        }
        Ok(r)
    })?;
    Ok(PyReport { inner: report })
}

/// Full-ranking evaluation: each test user's held-out items are ranked against the whole
/// catalogue (training items left out unless ``exclude_train=False``).
///
/// ``k`` is a cut-off or a list of them; ``metrics`` names any of ``"hr"``, ``"ndcg"``,
/// ``"recall"``, ``"precision"``, ``"map"``, ``"mrr"``, ``"coverage"`` (default all), each
/// measured at every cut-off. ``per_user`` keeps per-user values (:meth:`Report.per_user`);
/// ``latency_users`` times that many single-user ``recommend`` calls (0 = off). Ties between a
/// held-out item and another item count against the held-out item.
///
/// >>> ds = recs.synthetic(200, 100, 4000, seed=0)
/// >>> split = recs.leave_last_out(ds)
/// >>> model = recs.Popularity().fit(split)
/// >>> frame = recs.FullRanking(k=[5, 10], metrics=["hr", "ndcg"]).evaluate(model, split)
/// >>> frame[["model", "k"]].values.tolist()
/// [['popularity', 5], ['popularity', 10]]
/// >>> bool((frame["hr"] >= frame["ndcg"]).all())
/// True
#[pyclass(frozen, module = "recs", name = "FullRanking")]
pub struct PyFullRanking {
    inner: FullRanking,
}

#[pymethods]
impl PyFullRanking {
    #[new]
    #[pyo3(signature = (*, k=None, metrics=None, exclude_train=true, per_user=false, latency_users=0))]
    fn new(
        py: Python<'_>,
        k: Option<&Bound<'_, PyAny>>,
        metrics: Option<Vec<String>>,
        exclude_train: bool,
        per_user: bool,
        latency_users: usize,
    ) -> PyResult<Self> {
        let ten = 10i64.into_pyobject(py)?.into_any();
        let cfg = config(k.unwrap_or(&ten), metrics, per_user, latency_users)?;
        let mut inner = FullRanking::new().exclude_train(exclude_train);
        inner.config = cfg;
        Ok(PyFullRanking { inner })
    }

    /// Evaluates a fitted model on ``split``: a DataFrame with one row per cut-off (columns
    /// ``model``, ``k``, one per metric, then costs). The GIL is released meanwhile.
    #[pyo3(signature = (model, split, *, name=None))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        split: PyRef<'py, PySplit>,
        name: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.report(py, model, split, name)?.to_pandas(py)
    }

    /// As :meth:`evaluate`, returning the :class:`Report` itself (JSON, markdown, per-user).
    #[pyo3(signature = (model, split, *, name=None))]
    fn report(
        &self,
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        split: PyRef<'_, PySplit>,
        name: Option<String>,
    ) -> PyResult<PyReport> {
        run_evaluator(py, self.inner.clone(), model, &split, name)
    }

    fn __repr__(&self) -> String {
        format!(
            "FullRanking(k={:?}, metrics={:?}, exclude_train={})",
            self.inner.config.ks,
            self.inner
                .config
                .metrics
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>(),
            if self.inner.exclude_train {
                "True"
            } else {
                "False"
            }
        )
    }
}

/// Sampled-candidates evaluation (NCF style): each held-out item is ranked among the test
/// case's own negatives (e.g. NCF's 99) or ``n`` negatives sampled with ``seed`` from the items
/// the user has not interacted with. Other arguments as :class:`FullRanking`.
///
/// >>> ds = recs.synthetic(200, 100, 4000, seed=0)
/// >>> split = recs.leave_last_out(ds)
/// >>> model = recs.Popularity().fit(split)
/// >>> report = recs.SampledCandidates(n=50, seed=1, k=10).report(model, split)
/// >>> 0.0 <= report["hr@10"] <= 1.0
/// True
#[pyclass(frozen, module = "recs", name = "SampledCandidates")]
pub struct PySampledCandidates {
    inner: SampledCandidates,
}

#[pymethods]
impl PySampledCandidates {
    #[new]
    #[pyo3(signature = (*, n=99, seed=0, k=None, metrics=None, per_user=false, latency_users=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        n: usize,
        seed: u64,
        k: Option<&Bound<'_, PyAny>>,
        metrics: Option<Vec<String>>,
        per_user: bool,
        latency_users: usize,
    ) -> PyResult<Self> {
        let ten = 10i64.into_pyobject(py)?.into_any();
        let cfg = config(k.unwrap_or(&ten), metrics, per_user, latency_users)?;
        let mut inner = SampledCandidates::new(n, seed);
        inner.config = cfg;
        Ok(PySampledCandidates { inner })
    }

    /// As :meth:`FullRanking.evaluate`.
    #[pyo3(signature = (model, split, *, name=None))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        split: PyRef<'py, PySplit>,
        name: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.report(py, model, split, name)?.to_pandas(py)
    }

    /// As :meth:`FullRanking.report`.
    #[pyo3(signature = (model, split, *, name=None))]
    fn report(
        &self,
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        split: PyRef<'_, PySplit>,
        name: Option<String>,
    ) -> PyResult<PyReport> {
        run_evaluator(py, self.inner.clone(), model, &split, name)
    }

    fn __repr__(&self) -> String {
        format!(
            "SampledCandidates(n={}, seed={}, k={:?})",
            self.inner.n, self.inner.seed, self.inner.config.ks
        )
    }
}

/// Measures ranked lists produced anywhere (another library, a rule) against a split's test
/// set with the recs metrics, e.g. ``["hr@10", "ndcg@10"]``.
///
/// ``ids`` is a 2-D int array with one row per user of ``split.test_users`` (in that order),
/// best first; -1 entries (padding) are ignored. Returns a :class:`Report`.
///
/// >>> split = recs.leave_last_out(recs.Dataset.from_arrays([0, 0, 1, 1], [5, 6, 5, 7], timestamps=[1, 2, 3, 4]))
/// >>> split.test_users.tolist(), split.test.indices.tolist()
/// ([0, 1], [1, 2])
/// >>> report = recs.measure([[1, 0], [0, 1]], split, ["hr@1", "hr@2"])
/// >>> report["hr@1"], report["hr@2"]
/// (0.5, 0.5)
#[pyfunction(name = "measure")]
fn measure_lists(
    py: Python<'_>,
    ids: &Bound<'_, PyAny>,
    split: PyRef<'_, PySplit>,
    metrics: Vec<String>,
) -> PyResult<PyReport> {
    let arr = py.import("numpy")?.call_method1("asarray", (ids,))?;
    let shape: Vec<usize> = arr.getattr("shape")?.extract()?;
    let s = split.inner.clone();
    let n_rows = s.test.cases.len();
    let (rows, width) = match shape.as_slice() {
        [r, w] => (*r, *w),
        [0] => (0, 0),
        _ => {
            return Err(PyValueError::new_err(format!(
                "ids must be a 2-D array (one row per test user), got shape {shape:?}"
            )))
        }
    };
    if rows != n_rows {
        return Err(PyValueError::new_err(format!(
            "ids has {rows} rows but the split has {n_rows} test users"
        )));
    }
    let flat = int_vec(&arr.call_method0("ravel")?, "ids")?;
    let n_items = s.train.n_items();
    let metrics = metrics
        .iter()
        .map(|l| parse_metric(l, n_items))
        .collect::<recs::Result<Vec<_>>>()
        .map_err(crate::to_pyerr)?;
    let mut per_user = BTreeMap::new();
    for (row, case) in s.test.cases.iter().enumerate() {
        let list: Vec<Scored> = flat
            .get(row * width..(row + 1) * width)
            .unwrap_or_default()
            .iter()
            .filter(|&&i| i >= 0)
            .enumerate()
            .map(|(rank, &i)| Scored {
                item: i as u32,
                score: -(rank as f32),
            })
            .collect();
        per_user.insert(case.user, list);
    }
    let report = detach(py, move || {
        let run = Run {
            model: "external".into(),
            split: s.name.clone(),
            protocol: Protocol::FullRanking {
                exclude_train: true,
            },
            k_max: width,
            n_items,
            per_user,
            missing: Vec::new(),
            seconds: 0.0,
        };
        measure(&run, &s.test, &metrics)
    })?;
    Ok(PyReport { inner: report })
}

/// The result of one evaluation: summary metrics by label, costs, and (optionally) per-user
/// values. ``report["ndcg@10"]`` reads one metric; :meth:`to_pandas` gives one row per cut-off.
#[pyclass(frozen, module = "recs", name = "Report")]
pub struct PyReport {
    pub(crate) inner: Report,
}

#[pymethods]
impl PyReport {
    /// Display name of the model (its kind unless ``name=`` was given).
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    /// Every metric's mean over test users, by label (``{"hr@10": 0.61, ...}``).
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.inner.summary {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
    /// Costs: training, evaluation and latency figures (seconds / ms), ``None`` when unknown.
    #[getter]
    fn timings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = &self.inner.timings;
        let d = PyDict::new(py);
        d.set_item("train_seconds", t.train_seconds)?;
        d.set_item("run_seconds", t.run_seconds)?;
        d.set_item("measure_seconds", t.measure_seconds)?;
        d.set_item("eval_seconds", t.eval_seconds)?;
        d.set_item("model_size_bytes", t.model_size_bytes)?;
        d.set_item("p50_ms", t.latency.map(|l| l.p50_ms))?;
        d.set_item("p95_ms", t.latency.map(|l| l.p95_ms))?;
        Ok(d)
    }
    /// Number of test users, and of those the model could not score.
    #[getter]
    fn n_users(&self) -> usize {
        self.inner.n_users
    }
    /// Test users the model could not score (they count as misses).
    #[getter]
    fn n_missing(&self) -> usize {
        self.inner.n_missing
    }
    fn __getitem__(&self, label: &str) -> PyResult<f64> {
        self.inner.get(label).ok_or_else(|| {
            PyKeyError::new_err(format!(
                "no metric {label:?} in this report (has {:?})",
                self.inner.summary.keys().collect::<Vec<_>>()
            ))
        })
    }
    /// One row per cut-off ``k``: ``model`` (the name), ``k``, one column per metric kind
    /// (``hr``, ``ndcg``, ...), then ``train_seconds``, ``eval_seconds``, ``p50_ms``,
    /// ``p95_ms``. A DataFrame, or a dict of columns without pandas.
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let r = &self.inner;
        let ks = r.ks();
        let mut kinds: Vec<String> = Vec::new();
        for label in r.summary.keys() {
            if let Some((kind, _)) = label.split_once('@') {
                if !kinds.iter().any(|k| k == kind) {
                    kinds.push(kind.to_string());
                }
            }
        }
        // Report order (hr, ndcg, recall, ...) rather than alphabetical.
        kinds.sort_by_key(|k| {
            MetricKind::ALL
                .iter()
                .position(|m| m.name() == k)
                .unwrap_or(usize::MAX)
        });
        let cols = PyDict::new(py);
        cols.set_item("model", vec![r.name.as_str(); ks.len()])?;
        cols.set_item("k", ks.clone())?;
        for kind in &kinds {
            let values: Vec<Option<f64>> =
                ks.iter().map(|k| r.get(&format!("{kind}@{k}"))).collect();
            cols.set_item(kind, values)?;
        }
        let t = &r.timings;
        let n = ks.len();
        cols.set_item("train_seconds", vec![t.train_seconds; n])?;
        cols.set_item("eval_seconds", vec![t.eval_seconds; n])?;
        cols.set_item("p50_ms", vec![t.latency.map(|l| l.p50_ms); n])?;
        cols.set_item("p95_ms", vec![t.latency.map(|l| l.p95_ms); n])?;
        frame(py, cols)
    }
    /// Per-user values (``user`` then one column per metric label), when the evaluator kept
    /// them (``per_user=True``); else ``None``.
    fn per_user<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(p) = &self.inner.per_user else {
            return Ok(None);
        };
        let cols = PyDict::new(py);
        cols.set_item("user", p.users.clone())?;
        for (label, values) in &p.columns {
            let v: Vec<f64> = values.iter().map(|x| x.unwrap_or(f64::NAN)).collect();
            cols.set_item(label, numpy::PyArray1::from_vec(py, v))?;
        }
        frame(py, cols).map(Some)
    }
    /// The report as JSON (what the registry stores with a model).
    fn to_json(&self) -> PyResult<String> {
        self.inner.to_json().map_err(crate::to_pyerr)
    }
    /// Reads a report written by :meth:`to_json`.
    #[staticmethod]
    fn from_json(json: &str) -> PyResult<Self> {
        Report::from_json(json)
            .map(|inner| PyReport { inner })
            .map_err(crate::to_pyerr)
    }
    /// The report as a markdown table (as ``recs eval`` prints it).
    fn to_markdown(&self) -> String {
        self.inner.to_markdown()
    }
    fn __repr__(&self) -> String {
        let items: Vec<String> = self
            .inner
            .summary
            .iter()
            .map(|(k, v)| format!("{k}={v:.4}"))
            .collect();
        format!("Report({}: {})", self.inner.name, items.join(", "))
    }
}
