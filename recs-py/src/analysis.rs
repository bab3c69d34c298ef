//! The fairness study and the online KPI (`recs.fairness_study`, `recs.online_kpi`,
//! `recs.watch_attributed`): thin wrappers over `recs::eval::fairness::study` and
//! `recs::stream::{online_kpi, watch_attributed}`; results come back as plain dicts (the same
//! JSON the CLI writes).

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use recs::eval::fairness::{study, Demographics, StudyConfig};
use recs::eval::feedback::FeedbackConfig;
use recs::stream::{online_kpi as kpi_rows, parse_json, Event};

use crate::data::PySplit;
use crate::detach;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fairness_study, m)?)?;
    m.add_function(wrap_pyfunction!(online_kpi, m)?)?;
    m.add_function(wrap_pyfunction!(watch_attributed, m)?)?;
    Ok(())
}

/// JSON text as Python objects.
fn json_to_py<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// The fairness study of `recs fairness` on a split: per model, the summary metrics (HR/NDCG
/// at `k` and `ks`, full ranking), the exposure of the top-`k` lists, HR/NDCG by user group
/// (activity bands; gender, age and occupation with an ML-1M `users` file) and, with
/// `rounds > 0`, the feedback-loop simulation. Returns the fairness.json content as a dict.
///
/// >>> ds = recs.Dataset.from_arrays([1, 1, 2, 2, 3, 3], [10, 20, 10, 30, 20, 30])
/// >>> out = recs.fairness_study(recs.leave_last_out(ds), ["pop"], k=1, activity_bands=1)
/// >>> out["models"][0]["kind"], out["n_test_users"]
/// ('popularity', 3)
#[pyfunction]
#[pyo3(signature = (split, models = vec!["pop".to_string()], *, k = 10, ks = vec![],
    activity_bands = 4, rounds = 0, taste_model = None, taste_k = 50, p_liked = 0.9,
    p_other = 0.2, seed = 42, users = None, user_id_offset = 0))]
#[allow(clippy::too_many_arguments)]
fn fairness_study<'py>(
    py: Python<'py>,
    split: PyRef<'py, PySplit>,
    models: Vec<String>,
    k: usize,
    ks: Vec<usize>,
    activity_bands: usize,
    rounds: usize,
    taste_model: Option<String>,
    taste_k: usize,
    p_liked: f64,
    p_other: f64,
    seed: u64,
    users: Option<PathBuf>,
    user_id_offset: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let feedback = (rounds > 0).then(|| {
        FeedbackConfig::default()
            .rounds(rounds)
            .k(k)
            .taste_k(taste_k)
            .p_liked(p_liked)
            .p_other(p_other)
            .seed(seed)
    });
    let config = StudyConfig {
        models,
        k,
        ks,
        activity_bands,
        feedback,
        taste_model,
    };
    let s = split.inner.clone();
    let json = detach(py, move || {
        let info = users.as_deref().map(recs::data::load_users).transpose()?;
        let demographics = info.as_deref().map(|users| Demographics {
            users,
            id_offset: user_id_offset,
        });
        let out = study(&s, &config, demographics, &mut |_| {})?;
        serde_json::to_string(&out).map_err(|e| recs::Error::Serde(e.to_string()))
    })?;
    json_to_py(py, &json)
}

/// The KPI over a logged event stream: `events` are JSON event lines (str or bytes, as in the
/// ingest log); a `reco_response` counts as converted when its user watches one of its movies
/// within `window_secs` (the rule of `watch_attributed`). One dict per (model_version,
/// variant), sorted: responses, converted, recommended, watched, conversion, item_share.
/// Raises ValueError naming the first line that is not a valid event. JSON `ts` values are
/// unix seconds; the default window is one hour.
///
/// >>> shown = '{"type": "reco_response", "ts": 1700000000, "request_id": "r1", "user_id": 7, "status": 200, "latency_ms": 3, "k": 1, "movie_ids": ["42"]}'
/// >>> seen = '{"type": "watch", "ts": 1700000600, "user_id": 7, "movie_id": "42", "minute": 0}'
/// >>> recs.online_kpi([shown, seen])[0]["conversion"]
/// 1.0
#[pyfunction]
#[pyo3(signature = (events, window_secs = recs::stream::KPI_DEFAULT_WINDOW_SECS))]
fn online_kpi<'py>(
    py: Python<'py>,
    events: Vec<Bound<'py, PyAny>>,
    window_secs: f64,
) -> PyResult<Bound<'py, PyAny>> {
    if !(window_secs.is_finite() && window_secs >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "window_secs must be a finite number >= 0, got {window_secs}"
        )));
    }
    let mut parsed: Vec<Event> = Vec::with_capacity(events.len());
    for (n, line) in events.iter().enumerate() {
        let bytes: Vec<u8> = match line.extract::<String>() {
            Ok(text) => text.into_bytes(),
            Err(_) => line.extract::<Vec<u8>>().map_err(|_| {
                PyValueError::new_err(format!("events line {}: expected str or bytes", n + 1))
            })?,
        };
        let e = parse_json(&bytes)
            .map_err(|e| PyValueError::new_err(format!("events line {}: {e}", n + 1)))?;
        parsed.push(e);
    }
    // Event times are milliseconds.
    let window_ms = (window_secs * 1000.0).round() as i64;
    let rows = kpi_rows(&parsed, window_ms);
    let json = serde_json::to_string(&rows)
        .map_err(|e| PyValueError::new_err(format!("KPI rows: {e}")))?;
    json_to_py(py, &json)
}

/// The KPI's attribution rule: a watch at `watched_at` counts for an answer served at
/// `served_at` when `served_at <= watched_at <= served_at + window_secs` (default one hour).
///
/// >>> recs.watch_attributed(0.0, 3600.0), recs.watch_attributed(0.0, 3600.5)
/// (True, False)
#[pyfunction]
#[pyo3(signature = (served_at, watched_at, window_secs = recs::stream::KPI_DEFAULT_WINDOW_SECS))]
fn watch_attributed(served_at: f64, watched_at: f64, window_secs: f64) -> bool {
    recs::stream::watch_attributed(served_at, watched_at, window_secs)
}
