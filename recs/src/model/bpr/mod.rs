//! Bayesian personalized ranking matrix factorization (BPR-MF, Rendle et al. 2009).
//!
//! The score is `x_u · y_i + b_i`. Training runs stochastic gradient ascent on
//! `Σ ln σ(s_ui − s_uj) − λ‖θ‖²` over triples of a user `u`, an item `i` the user interacted
//! with, and a sampled item `j` they did not: each epoch draws as many triples as there are
//! interactions, `(u, i)` uniformly among the interactions and `j` uniformly among the items
//! (redrawn when it is one of the user's items), as `implicit`'s `BayesianPersonalizedRanking`.
//! Interaction values are ignored: every stored interaction is a positive.
//!
//! # Parallelism and determinism
//!
//! Each epoch is cut into a fixed number of chunks of samples (independent of the thread
//! count), each drawing from all interactions with its own random stream seeded from
//! `(seed, epoch, chunk)`. With [`BprParams::hogwild`] on (the default) chunks run in parallel
//! and update the shared factors without locks (Hogwild!, Niu et al. 2011, through relaxed
//! atomics): fast, but with more than one thread the result varies slightly from run to run.
//! With it off, or in a one-thread rayon pool, chunks run in order and the model is a pure
//! function of the data, the parameters and the seed.

mod fit;
mod hyperparams;
mod score;
#[cfg(test)]
mod tests;

pub use hyperparams::{BprParams, BprValidParams};
pub use score::Bpr;
