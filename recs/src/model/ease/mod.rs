//! EASE^R (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): a dense
//! item-item weight matrix in closed form,
//! `B = I − P · diag(1 / diag(P))` with `P = (XᵀX + Λ)⁻¹`, so that `diag(B) = 0`.
//!
//! `X` is the binarized interaction matrix and `Λ = λ I` (plus, with
//! [`dropout`](EaseParams::dropout), `p / (1 − p) · diag(XᵀX)`, the dropout-denoising
//! regularizer of Steck 2020, EDLAE). A user's scores are `x_u · B`.
//!
//! # Memory
//! Training holds three `items × items` `f32` buffers at its peak (the Gram matrix and its
//! Cholesky factor in place, the inverse of the factor, and `P`), that is `12 · items²` bytes:
//! 165 MB for 3,706 items (ML-1M), 1.2 GB for 10,000, 4.8 GB for 20,000. The model keeps one
//! (`4 · items²` bytes). [`max_memory`](EaseParams::max_memory) caps the peak; above it `fit`
//! fails with [`Error::Limit`](crate::Error::Limit) before allocating anything.

mod fit;
mod hyperparams;
mod path;
mod score;
#[cfg(test)]
mod tests;

pub use hyperparams::{EaseParams, EaseValidParams, EASE_DEFAULT_MAX_MEMORY};
pub(crate) use path::EigenPath;
pub use score::{Ease, DENSE_BATCH_DENSITY};
