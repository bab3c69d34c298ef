//! SASRec: a transformer next-item model (Kang & McAuley, ICDM 2018) trained with softmax
//! cross-entropy over all items — the "SASRec+" of Klenitskiy & Vasilev (RecSys 2023) — or
//! over the batch's targets plus sampled negatives for big catalogues.
//!
//! Item embeddings plus learned positional embeddings feed `blocks` pre-LayerNorm blocks of
//! causal multi-head self-attention and a point-wise ReLU feed-forward layer (each with a
//! residual and dropout), then a final LayerNorm; the score of an item after a history is the
//! dot product of the last position's state with the item's (input) embedding. Forward and
//! backward passes are written here on faer products and rayon, trained with Adam
//! (`model::ncf`'s), reproducible under a seed.
//!
//! Scoring reads the newest `max_len` items of the user's history: a known user's training
//! order (stored in the model), followed by the items of the given history it lacks, as newest,
//! in the order given. A new event therefore changes the next answer without retraining.
//!
//! See [`SasRecParams::fit_sequences`] for an example.

// Gradient code indexes several parallel arrays by one position.
#![allow(clippy::needless_range_loop)]

mod attention;
mod hyperparams;
mod layers;
mod net;
mod score;
mod train;

#[cfg(test)]
mod tests;

pub use hyperparams::{SasRecParams, SasRecValidParams};
pub use score::SasRec;
pub use train::SasRecEpoch;
