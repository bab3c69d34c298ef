//! The model registry: publish a fitted model with its provenance, list versions, load one back.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use recs::registry::{self, Bump, NewVersion, Registry, Version, VersionMeta};
use recs::Recommender;

use crate::eval::{frame, PyReport};
use crate::model::{core_params_of, fitted_of, PyRecommender};
use crate::{detach, RecsError};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRegistry>()?;
    Ok(())
}

/// `VersionMeta` as a Python dict (through its JSON form).
fn meta_dict<'py>(py: Python<'py>, meta: &VersionMeta) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_string(meta)
        .map_err(|e| RecsError::new_err(format!("cannot describe version: {e}")))?;
    py.import("json")?.call_method1("loads", (json,))
}

fn parse_version(v: &str) -> PyResult<Version> {
    Version::parse(v).map_err(crate::to_pyerr)
}

/// A model registry: versioned (``v1.0``, ``v1.1``, ...), checksummed, atomically published
/// model files with provenance (parameters, metrics, git commit, data snapshot), and a
/// *latest* pointer that can be promoted and rolled back.
///
/// ``location`` is a directory (created when missing) or, when recs was built with S3 support,
/// an ``s3://bucket/prefix`` URL.
///
/// >>> import tempfile
/// >>> reg = recs.Registry(tempfile.mkdtemp())
/// >>> model = recs.Popularity().fit(recs.synthetic(50, 20, 500, seed=1))
/// >>> meta = reg.publish(model, metrics={"hr@10": 0.5}, promote=True)
/// >>> meta["version"], reg.latest, reg.versions()
/// ('v1.0', 'v1.0', ['v1.0'])
/// >>> reg.load()
/// Popularity(min_value=0.0)
#[pyclass(frozen, module = "recs", name = "Registry")]
pub struct PyRegistry {
    inner: Arc<dyn Registry>,
}

#[pymethods]
impl PyRegistry {
    #[new]
    fn new(py: Python<'_>, location: String) -> PyResult<Self> {
        let reg = detach(py, move || registry::open(&location))?;
        Ok(PyRegistry {
            inner: Arc::from(reg),
        })
    }

    /// Where the registry lives.
    #[getter]
    fn location(&self) -> String {
        self.inner.location()
    }

    /// Publishes a fitted model as a new version and returns its metadata (a dict).
    ///
    /// ``metrics`` is a dict of floats or a :class:`Report` (its summary is stored);
    /// ``version`` (``"v2.0"``) overrides the automatic number, which otherwise follows the
    /// highest version ever published, bumped by ``bump`` (``"minor"`` or ``"major"``);
    /// ``promote`` makes it the latest. The model's parameters, the training data's snapshot
    /// id (when fitted in this process), the git commit and the exporter are recorded.
    #[pyo3(signature = (model, *, metrics=None, note=None, version=None, bump="minor", promote=false))]
    #[allow(clippy::too_many_arguments)]
    fn publish<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        metrics: Option<&Bound<'py, PyAny>>,
        note: Option<String>,
        version: Option<String>,
        bump: &str,
        promote: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (fitted, _) = fitted_of(model)?;
        let train = model
            .cast::<PyRecommender>()
            .ok()
            .and_then(|m| m.get().train_data());
        let params: serde_json::Value = serde_json::from_str(&core_params_of(model)?)
            .map_err(|e| RecsError::new_err(format!("cannot describe parameters: {e}")))?;
        let metrics: Vec<(String, f64)> = match metrics {
            None => Vec::new(),
            Some(m) => match m.cast::<PyReport>() {
                Ok(r) => r.get().inner.summary.clone().into_iter().collect(),
                Err(_) => m
                    .extract::<std::collections::BTreeMap<String, f64>>()
                    .map_err(|_| {
                        PyValueError::new_err("metrics must be a dict of floats or a recs.Report")
                    })?
                    .into_iter()
                    .collect(),
            },
        };
        let bump = match bump {
            "minor" => Bump::Minor,
            "major" => Bump::Major,
            other => {
                return Err(PyValueError::new_err(format!(
                    "bump must be 'minor' or 'major', got {other:?}"
                )))
            }
        };
        let version = version.as_deref().map(parse_version).transpose()?;
        let reg = self.inner.clone();
        let meta = detach(py, move || {
            let mut nv = NewVersion::new(fitted.kind())
                .params(&params)?
                .bump(bump)
                .promote(promote)
                .git_sha(registry::detect_git_sha());
            if let Some(v) = version {
                nv = nv.version(v);
            }
            if let Some(n) = note {
                nv = nv.note(n);
            }
            if let Some(t) = train {
                nv = nv.data_snapshot(registry::snapshot_of_interactions(&t));
            }
            for (k, v) in metrics {
                nv = nv.metric(k, v);
            }
            registry::publish_model(reg.as_ref(), &fitted, nv)
        })?;
        meta_dict(py, &meta)
    }

    /// Loads a version's model (the latest when ``version`` is None), verifying its checksum.
    /// Returns an instance of the model's class, as :func:`recs.load`.
    #[pyo3(signature = (version=None))]
    fn load<'py>(&self, py: Python<'py>, version: Option<String>) -> PyResult<Bound<'py, PyAny>> {
        let version = version.as_deref().map(parse_version).transpose()?;
        let reg = self.inner.clone();
        let model = detach(py, move || match version {
            Some(v) => registry::load_model(reg.as_ref(), &v),
            None => registry::load_latest(reg.as_ref()).map(|(_, m)| m),
        })?;
        PyRecommender::instance_of(py, model)
    }

    /// The committed versions, oldest first (``["v1.0", "v1.1", ...]``).
    fn versions(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let reg = self.inner.clone();
        let v = detach(py, move || reg.versions())?;
        Ok(v.iter().map(|v| v.to_string()).collect())
    }

    /// The metadata of one version (a dict: kind, params, metrics, artifacts, git_sha, ...).
    fn meta<'py>(&self, py: Python<'py>, version: &str) -> PyResult<Bound<'py, PyAny>> {
        let v = parse_version(version)?;
        let reg = self.inner.clone();
        let meta = detach(py, move || reg.meta(&v))?;
        meta_dict(py, &meta)
    }

    /// One row per version: ``version``, ``created_at``, ``kind``, ``size_bytes``, ``latest``,
    /// ``note``, then one column per metric. A DataFrame, or a dict of columns without pandas.
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let reg = self.inner.clone();
        let (metas, latest) = detach(py, move || Ok((reg.list()?, reg.latest()?)))?;
        let mut metric_names: Vec<&String> = metas.iter().flat_map(|m| m.metrics.keys()).collect();
        metric_names.sort();
        metric_names.dedup();
        let cols = PyDict::new(py);
        cols.set_item(
            "version",
            metas
                .iter()
                .map(|m| m.version.to_string())
                .collect::<Vec<_>>(),
        )?;
        cols.set_item(
            "created_at",
            metas
                .iter()
                .map(|m| m.created_at.clone())
                .collect::<Vec<_>>(),
        )?;
        cols.set_item(
            "kind",
            metas.iter().map(|m| m.kind.clone()).collect::<Vec<_>>(),
        )?;
        cols.set_item(
            "size_bytes",
            metas.iter().map(|m| m.size()).collect::<Vec<_>>(),
        )?;
        cols.set_item(
            "latest",
            metas
                .iter()
                .map(|m| Some(m.version) == latest)
                .collect::<Vec<_>>(),
        )?;
        cols.set_item(
            "note",
            metas.iter().map(|m| m.note.clone()).collect::<Vec<_>>(),
        )?;
        for name in metric_names {
            let values: Vec<Option<f64>> =
                metas.iter().map(|m| m.metrics.get(name).copied()).collect();
            cols.set_item(name, values)?;
        }
        frame(py, cols)
    }

    /// The latest version (``"v1.2"``), or None when none was promoted.
    #[getter]
    fn latest(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let reg = self.inner.clone();
        let v = detach(py, move || reg.latest())?;
        Ok(v.map(|v| v.to_string()))
    }

    /// Makes ``version`` the latest (recorded in the pointer history).
    fn set_latest(&self, py: Python<'_>, version: &str) -> PyResult<()> {
        let v = parse_version(version)?;
        let reg = self.inner.clone();
        detach(py, move || reg.set_latest(&v).map(|_| ()))
    }

    /// Moves the latest pointer back to the version before it; returns that version.
    fn rollback(&self, py: Python<'_>) -> PyResult<String> {
        let reg = self.inner.clone();
        let entry = detach(py, move || registry::rollback(reg.as_ref()))?;
        Ok(entry.version.to_string())
    }

    fn __repr__(&self) -> String {
        format!("Registry({:?})", self.inner.location())
    }
}
