//! Alternating least squares matrix factorization, for implicit feedback (Hu, Koren & Volinsky
//! 2008, with the conjugate-gradient solver of Takács, Pilászy & Tikk 2011, as in `implicit`)
//! and for explicit ratings (biased, regularized least squares).
//!
//! Implicit feedback minimises
//! `Σ_u Σ_i c_ui (p_ui − x_u·y_i)² + Σ_u λ_u ‖x_u‖² + Σ_i λ_i ‖y_i‖²` over **all** user–item
//! pairs, with preference `p_ui = 1` where the user interacted (value `r_ui > 0`) and 0
//! elsewhere, and confidence `c_ui = 1 + alpha · r_ui` (1 for unobserved pairs). Each user's
//! normal equations `(YᵀY + Σ_{i∈I_u} (c_ui − 1) y_i y_iᵀ + λ_u I) x_u = Σ_{i∈I_u} c_ui y_i`
//! only touch the user's own items plus the shared `YᵀY`, so no per-user dense matrix is ever
//! built by the conjugate-gradient solver.
//!
//! Explicit ratings minimise `Σ_{observed} (r_ui − μ − b_u − b_i − x_u·y_i)²` plus the same
//! penalties on factors and biases.
//!
//! Regularization is `λ_u = regularization · W_u^ν` where `W_u` is the row's total weight
//! (`Σ_i c_ui` over all items for implicit feedback, the number of ratings for explicit) and
//! `ν` is [`AlsParams::reg_exponent`]: `ν = 0` is plain `λ` (as `implicit`), `ν = 1` is the
//! frequency-scaled regularization of Rendle et al. 2022 ("Revisiting the Performance of iALS
//! on Item Recommendation Benchmarks").

mod fit;
mod hyperparams;
mod score;
#[cfg(test)]
mod tests;

pub use hyperparams::{AlsParams, AlsSolver, AlsValidParams, Feedback};
pub use score::Als;
