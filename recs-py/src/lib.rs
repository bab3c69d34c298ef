//! recs-py: the Python binding of `recs` (`import recs`).
//!
//! A thin layer in the manner of tantivy-py: each method extracts its arguments into owned Rust
//! data, calls the core with the GIL released ([`detach`]), and converts the result back to
//! numpy / Python. No algorithm and no range check lives here: the core's `ParamGuard` and
//! `recs::Error` do that, and [`to_pyerr`] is the one place where core errors become Python
//! exceptions. One file per area: `data.rs`, `model.rs`, `eval.rs`, `experiment.rs`, `registry.rs`,
//! `analysis.rs` (fairness study, KPI).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{
    PyException, PyFileNotFoundError, PyIndexError, PyOSError, PyPermissionError, PyValueError,
};
use pyo3::prelude::*;

mod analysis;
mod data;
mod eval;
mod experiment;
mod model;
mod registry;

pyo3::create_exception!(
    recs,
    RecsError,
    PyException,
    "Any recs error without a more specific Python type (bad model file, unsupported operation, \
     numerical failure, resource limit, serialization)."
);

/// Converts a core error into the Python exception a Python user expects.
///
/// `InvalidParam` / `Data` / `Parse` → `ValueError`; `UnknownUser` / `UnknownItem` →
/// `IndexError` (as implicit); `Io` → `OSError` (`FileNotFoundError` / `PermissionError` when
/// the cause says so); everything else → `recs.RecsError`. The message is the core's.
pub(crate) fn to_pyerr(e: recs::Error) -> PyErr {
    use recs::Error as E;
    let msg = e.to_string();
    match e {
        E::InvalidParam { .. } | E::Data(_) | E::Parse { .. } => PyValueError::new_err(msg),
        E::UnknownUser(_) | E::UnknownItem(_) => PyIndexError::new_err(msg),
        E::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
            _ => PyOSError::new_err(msg),
        },
        _ => RecsError::new_err(msg),
    }
}

/// Runs `f` without the GIL and converts its outcome: a core error through [`to_pyerr`], a
/// panic (a bug) into `recs.RecsError`, so that Python never sees a Rust panic.
pub(crate) fn detach<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> recs::Result<T> + Send,
{
    match py.detach(move || catch_unwind(AssertUnwindSafe(f))) {
        Ok(r) => r.map_err(to_pyerr),
        Err(payload) => Err(panic_err(payload)),
    }
}

/// A caught panic as `recs.RecsError`.
pub(crate) fn panic_err(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    RecsError::new_err(format!(
        "internal error in recs (this is a bug, please report it): {what}"
    ))
}

/// recs: fast, trustworthy recommender systems (Rust core, Python binding).
#[pymodule]
fn _recs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("RecsError", m.py().get_type::<RecsError>())?;
    data::register(m)?;
    model::register(m)?;
    eval::register(m)?;
    experiment::register(m)?;
    registry::register(m)?;
    analysis::register(m)?;
    Ok(())
}
