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
// (how a constructor argument shows in `get_params`) and `classes` (one subclass per model,
// `load` and the registration).

mod classes;
mod params;
mod recommender;

pub(crate) use classes::register;
pub(crate) use params::ToParam;
pub(crate) use recommender::{core_params_of, fitted_of, PyRecommender};
