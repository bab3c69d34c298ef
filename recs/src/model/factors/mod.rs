//! Dense factor matrices and the kernels shared by the matrix-factorization models (ALS, BPR):
//! a seeded random number generator, SIMD dot/axpy with run-time CPU dispatch, the Gram matrix
//! `YᵀY` and blocked scoring `U·Vᵀ` (both through faer).
//!
//! Every matrix is row-major `&[f32]` with an explicit row width.
//!
//! Kernels are written once, generic over an instruction-set token ([`Isa`]), and compiled twice: with AVX2+FMA
//! enabled (chosen at run time when the CPU has them) and for the baseline target. Results are
//! therefore identical for any thread count on one machine, but may differ in the last bits
//! between machines with and without FMA.
//!
//! The module is split by concern: `matrix` (the generator and factor-matrix allocation),
//! `simd` (the kernels and their dispatch), `dense` (faer products: Gram matrix, blocked
//! scores), `select` (the fast exact top-k, blocked batch recommendation, cosine similarity),
//! `recommender` (the one `Recommender` of every factor model) and `accessors` (the accessor
//! macro).

mod accessors;
mod dense;
mod matrix;
mod recommender;
mod select;
mod simd;
#[cfg(test)]
mod tests;

pub(crate) use accessors::factor_accessors;
pub use dense::gram;
pub(crate) use matrix::{matrix_len, random_matrix, Rng};
pub(crate) use recommender::{FactorModel, FactorView};
#[cfg(target_arch = "x86_64")]
pub(crate) use simd::Avx2Fma;
pub(crate) use simd::{dispatch, dots_into, Isa, Scalar, SimdFn};
