//! Models: one generic `Recommender` base class over `recs::AnyModel`, and one small subclass per
//! model whose constructor takes the keyword parameters of the Rust `XParams` builder.
//!
//! Adding a model is one `py_model!` invocation (name, Rust type, keyword parameters with their
//! defaults) and one line in `register` / `MODELS`; `fit`, `recommend`, `similar_items`, save /
//! load and the factors live once on the base class.

// A default of several tokens (a `vec![..]`) is written in parentheses in `py_model!`, and pyo3
// copies it into a closure body, where rustc calls the parentheses unnecessary.
#![allow(unused_parens)]
//
// The module is split by concern: `recommender` (the base class and its methods), `params`
// (how a constructor argument shows in `get_params`), `classes` (one subclass per model,
// `load` and the registration) and `spec` (`recs.fit_spec` / `recs.parse_spec` over the core's
// `ModelSpec`).

use pyo3::prelude::*;

mod classes;
mod params;
mod recommender;
mod spec;

pub(crate) use params::ToParam;
pub(crate) use recommender::{core_params_of, fitted_of, PyRecommender};

/// Registers the model classes, `recs.load`, `recs.fit_spec` and `recs.parse_spec`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    classes::register(m)?;
    spec::register(m)
}
