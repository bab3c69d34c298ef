//! Model specs from Python: `recs.fit_spec("ease:lambda=500", data)` and `recs.parse_spec`.
//!
//! The text is parsed by the core's `ModelSpec` (the one parser the CLI's `--models` and the
//! retraining config use), so the keys, the checks and the error messages are the library's;
//! nothing is re-checked here.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use recs::data::Interactions;
use recs::model::{AutoOptions, ModelSpec, SideInfo, Validation};

use super::classes::instance_for_spec;
use super::recommender::FitFn;
use super::PyRecommender;
use crate::data::{interactions_arg, PyDataset};
use crate::{detach, to_pyerr};

/// A spec value as Python sees it: `true`/`false` → bool, an integer → int, another number →
/// float, anything else (`auto`) → str. The core has already checked the value against the
/// parameter's type, so this only chooses the Python type for display.
pub(super) fn spec_value<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    use pyo3::IntoPyObjectExt;
    if let Ok(b) = text.parse::<bool>() {
        return b.into_bound_py_any(py);
    }
    if let Ok(i) = text.parse::<i64>() {
        return i.into_bound_py_any(py);
    }
    if let Ok(x) = text.parse::<f64>() {
        return x.into_bound_py_any(py);
    }
    text.into_bound_py_any(py)
}

fn parse(spec: &str) -> PyResult<ModelSpec> {
    spec.parse::<ModelSpec>().map_err(to_pyerr)
}

fn params_dict<'py>(py: Python<'py>, spec: &ModelSpec) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in spec.params() {
        d.set_item(k, spec_value(py, v)?)?;
    }
    Ok(d)
}

fn parse_validation(s: &str) -> PyResult<Validation> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "auto" => Validation::Auto,
        "latest" => Validation::Latest,
        "random" => Validation::Random,
        _ => {
            return Err(PyValueError::new_err(format!(
                "invalid parameter `validation`: expected 'auto', 'latest' or 'random', got {s:?}"
            )))
        }
    })
}

/// Parses a model spec ``NAME[:KEY=VALUE,...]`` (the text ``recs eval --models`` takes) and
/// returns ``(name, params)``: the canonical model name and the parameters as given, typed
/// (``bool``, ``int``, ``float``, or the string ``"auto"``).
///
/// The keys are the Rust builder names, the same as in the CLI (``ease:lambda``, not
/// ``lambda_``). Raises ``ValueError`` with the library's message for an unknown model, an
/// unknown key (the message lists the valid ones) or a value of the wrong type.
///
/// >>> recs.parse_spec("ease:lambda=500,dropout=0.1")
/// ('ease', {'lambda': 500, 'dropout': 0.1})
/// >>> recs.parse_spec("Popularity")
/// ('pop', {})
/// >>> recs.parse_spec("als:reg=0.1")
/// Traceback (most recent call last):
/// ...
/// ValueError: invalid parameter `model spec key`: expected a parameter of the model, got `reg` for `als` (valid keys: factors, regularization, alpha, iterations, cg_steps, seed, reg_exponent)
#[pyfunction]
fn parse_spec<'py>(py: Python<'py>, spec: &str) -> PyResult<Bound<'py, PyTuple>> {
    let spec = parse(spec)?;
    PyTuple::new(
        py,
        [
            spec.name().into_pyobject(py)?.into_any(),
            params_dict(py, &spec)?.into_any(),
        ],
    )
}

/// Fits the model a spec ``NAME[:KEY=VALUE,...]`` names (``"ease:lambda=500"``,
/// ``"als:factors=128,regularization=auto"``) on ``interactions`` and returns it as an
/// instance of that model's class (``recs.EASE``, ``recs.ALS``, ...; a model without a class
/// of its own, such as ``blend``, as a plain ``recs.Recommender``).
///
/// The spec is parsed by the library's one spec parser, so the names and rules are those of
/// Rust and of ``recs eval --models``: the keys are the Rust builder names (``ease:lambda``;
/// ``fresh:lambda`` is the Python ``ease_lambda``), an unknown model or key or a bad value
/// raises ``ValueError`` with the library's message. A missing key keeps the Rust default.
///
/// A blend spec names its members' weights and sets a member's own parameters as
/// ``MEMBER.KEY`` (``blend:sasrec=1,transition=auto,transition.backward=0.25``).
///
/// The value ``auto`` (``ease:lambda``, ``als:regularization``, ``fresh:lambda``,
/// ``fresh:recency_boost``, a blend's member weights) is chosen on a validation split carved from ``interactions`` only
/// (one interaction per user: the latest when there are timestamps, else a seeded random one;
/// ``validation`` forces either); the chosen values are in the model's :attr:`auto_params`
/// and every candidate's score in :attr:`auto_scores`. ``auto_defaults=True`` makes ``auto``
/// the value of ``ease:lambda`` and ``fresh``'s ``lambda`` and ``recency_boost`` when the
/// spec does not give them, as ``recs eval`` does.
///
/// Parameters
/// ----------
/// spec : str
///     The model spec.
/// interactions : recs.Interactions, recs.Dataset, recs.Split or scipy.sparse matrix
///     The training data, as ``fit`` takes it.
/// years : sequence of int or None, optional
///     Release year of every item, by item index (``None`` where unknown); ``fresh`` needs it.
/// auto_defaults : bool, default False
///     Use ``auto`` for the parameters ``recs eval`` chooses by default when not given.
/// validation : str, default "auto"
///     Which interaction of each user ``auto`` holds out: ``"auto"``, ``"latest"`` or
///     ``"random"``.
/// seed : int, default 42
///     Seed of the random hold-out of ``auto``.
///
/// ``get_params()`` gives the spec's parameters and ``fit(other)`` refits the same spec
/// (choosing ``auto`` values again on ``other``).
///
/// >>> train = recs.Interactions.from_arrays([0, 0, 1, 1, 2], [0, 1, 0, 1, 0])
/// >>> model = recs.fit_spec("ease:lambda=0.5", train)
/// >>> model
/// EASE(spec='ease:lambda=0.5')
/// >>> model.recommend(2, N=1)[0].tolist(), model.get_params()
/// ([1], {'lambda': 0.5})
#[pyfunction]
#[pyo3(signature = (spec, interactions, *, years=None, auto_defaults=false, validation="auto", seed=42))]
fn fit_spec<'py>(
    py: Python<'py>,
    spec: &str,
    interactions: &Bound<'py, PyAny>,
    years: Option<Vec<Option<u16>>>,
    auto_defaults: bool,
    validation: &str,
    seed: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let mut spec = parse(spec)?;
    if auto_defaults {
        spec = spec.with_auto_defaults();
    }
    let opts = AutoOptions {
        validation: parse_validation(validation)?,
        seed,
        ..AutoOptions::default()
    };
    let side = SideInfo { item_years: years };
    let train = interactions_arg(interactions)?;
    let kwargs = params_dict(py, &spec)?.unbind();
    let text = spec.to_string();
    let name = spec.name().to_owned();
    let fitter: Arc<FitFn> = Arc::new(move |t: &Interactions| {
        spec.fit_with(t, &side, &opts).map(|f| (f.model, f.chosen))
    });
    let (fitted, seconds) = {
        let fitter = fitter.clone();
        let t = train.clone();
        detach(py, move || {
            let start = std::time::Instant::now();
            let (model, chosen) = fitter(&t)?;
            Ok((
                recs::model::Fitted { model, chosen },
                start.elapsed().as_secs_f64(),
            ))
        })?
    };
    let dataset = interactions
        .cast::<PyDataset>()
        .ok()
        .map(|d| d.clone().into_any().unbind());
    let base =
        PyRecommender::fitted_from_spec(text, fitter, kwargs, fitted, train, seconds, dataset);
    instance_for_spec(py, &name, base)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit_spec, m)?)?;
    m.add_function(wrap_pyfunction!(parse_spec, m)?)?;
    Ok(())
}
