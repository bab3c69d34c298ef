//! A/B analysis (`recs::eval::experiment`): per-arm counts from logged events, and the tests
//! plus the ship-B / keep-A / keep-running decision under a stated rule. Results are plain
//! Python dicts (the same JSON as `recs experiment analyze` and `GET /admin/experiment`).

use std::collections::BTreeMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use recs::eval::experiment::{analyze, arms_from_events, ArmStats, DecisionRule};
use recs::eval::stats::Summary;
use recs::stream::parse_line;

use crate::detach;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ab_analyze, m)?)?;
    m.add_function(wrap_pyfunction!(ab_arms_from_events, m)?)?;
    Ok(())
}

/// A serde value as Python objects, through the `json` module.
fn to_py<'py>(py: Python<'py>, v: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(v).map_err(|e| PyValueError::new_err(e.to_string()))?;
    py.import("json")?.getattr("loads")?.call1((text,))
}

/// An arm from a dict: `requests`, `errors`, `recommended`, `watched` (missing = 0) and an
/// optional `latency_ms` dict `{n, mean, sd}` (as `ab_arms_from_events` returns it).
fn arm_of(name: &str, d: &Bound<'_, PyDict>) -> PyResult<ArmStats> {
    const KNOWN: [&str; 5] = ["requests", "errors", "recommended", "watched", "latency_ms"];
    for key in d.keys() {
        let key: String = key.extract()?;
        if !KNOWN.contains(&key.as_str()) {
            return Err(PyValueError::new_err(format!(
                "{name}: unknown key `{key}`; known: {}",
                KNOWN.join(", ")
            )));
        }
    }
    let count = |key: &str| -> PyResult<u64> {
        match d.get_item(key)? {
            None => Ok(0),
            Some(v) => v.extract::<u64>().map_err(|_| {
                PyValueError::new_err(format!("{name}: `{key}` must be an integer >= 0, got {v}"))
            }),
        }
    };
    let latency_ms = match d.get_item("latency_ms")? {
        None => Summary::default(),
        Some(l) => {
            let l = l.cast_into::<PyDict>().map_err(|_| {
                PyValueError::new_err(format!(
                    "{name}: `latency_ms` must be a dict {{n, mean, sd}}"
                ))
            })?;
            let get = |key: &str| -> PyResult<f64> {
                l.get_item(key)?
                    .ok_or_else(|| {
                        PyValueError::new_err(format!("{name}: latency_ms needs `{key}`"))
                    })?
                    .extract()
            };
            let n = get("n")?;
            if !(n >= 0.0 && n.fract() == 0.0) {
                return Err(PyValueError::new_err(format!(
                    "{name}: latency_ms.n must be an integer >= 0, got {n}"
                )));
            }
            Summary::from_moments(n as u64, get("mean")?, get("sd")?)
        }
    };
    Ok(ArmStats {
        requests: count("requests")?,
        errors: count("errors")?,
        recommended: count("recommended")?,
        watched: count("watched")?,
        latency_ms,
    })
}

/// The latency summary as `{n, mean, sd}`.
fn arm_dict(a: &ArmStats) -> serde_json::Value {
    serde_json::json!({
        "requests": a.requests, "errors": a.errors, "recommended": a.recommended,
        "watched": a.watched,
        "latency_ms": {"n": a.latency_ms.n, "mean": a.latency_ms.mean,
                       "sd": a.latency_ms.variance().sqrt()},
    })
}

/// The A/B decision for control arm `a` against treatment `b` (dicts of counts, see
/// `ab_arms_from_events`): a dict with `decision` (`ship_b`, `keep_a`, `keep_running`),
/// `reason`, `rule`, `required_per_arm` and the `watch_rate` / `error_rate` z-tests and the
/// `latency_ms` Welch test. Fixed horizon with latency and error guardrails; see the Rust docs
/// of `recs::eval::experiment`. Raises `ValueError` for a rule out of range or inconsistent
/// counts.
///
/// >>> import recs
/// >>> callable(recs.ab_analyze)
/// True
#[pyfunction]
#[pyo3(signature = (a, b, *, alpha=0.05, power=0.8, min_detectable_lift=0.1, baseline_rate=None,
                    min_per_arm=1000, max_latency_increase_ms=5.0, max_error_rate_increase=0.001))]
#[allow(clippy::too_many_arguments)]
fn ab_analyze<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyDict>,
    b: &Bound<'py, PyDict>,
    alpha: f64,
    power: f64,
    min_detectable_lift: f64,
    baseline_rate: Option<f64>,
    min_per_arm: u64,
    max_latency_increase_ms: f64,
    max_error_rate_increase: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let (a, b) = (arm_of("a", a)?, arm_of("b", b)?);
    let rule = DecisionRule {
        alpha,
        power,
        min_detectable_lift,
        baseline_rate,
        min_per_arm,
        max_latency_increase_ms,
        max_error_rate_increase,
    };
    let analysis = detach(py, move || analyze(&a, &b, &rule))?;
    to_py(py, &analysis)
}

/// Per-variant counts from logged events (JSON lines or course log lines, as `recs ingest`
/// reads them): `{variant: {requests, errors, recommended, watched, latency_ms: {n, mean,
/// sd}}}`. Only `reco_response` (with a `variant`) and `watch` events count; an invalid line
/// raises `ValueError` naming its index.
///
/// >>> import recs
/// >>> callable(recs.ab_arms_from_events)
/// True
#[pyfunction]
fn ab_arms_from_events<'py>(py: Python<'py>, lines: Vec<String>) -> PyResult<Bound<'py, PyAny>> {
    let arms = detach(py, move || {
        let mut events = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let e = parse_line(line.as_bytes())
                .map_err(|e| recs::Error::Data(format!("line {}: {e}", i + 1)))?;
            events.push(e);
        }
        Ok(arms_from_events(&events))
    })?;
    let out: BTreeMap<&String, serde_json::Value> =
        arms.iter().map(|(k, v)| (k, arm_dict(v))).collect();
    to_py(py, &out)
}
