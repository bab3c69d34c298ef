//! Freshness: a base model's scores re-weighted towards recently released items.
//!
//! A user's next interaction is more often with a new release than the user's history
//! suggests: among the ML-1M users' latest ratings, movies from the newest release year are
//! 3.3 times as frequent as among all their ratings (validation split, `docs/benchmarks.md`).
//! Collaborative models cannot see that, because a pair carries no time. [`Fresh`] multiplies
//! each item's base score by
//!
//! `w(i) = 1 + boost · exp(−age(i) / decay_years)`, with `age(i) = newest_year − year(i)`
//! (0 for the newest year; items without a known year keep `w = 1`).
//!
//! A negative base score is divided by `w` instead, so a larger weight always ranks an item
//! higher and items the base model rates as irrelevant are not promoted past relevant ones.
//! The release years are item metadata (the `(1995)` at the end of a MovieLens title, see
//! [`Movie::year`](crate::data::Movie::year) and [`item_years`](crate::data::item_years)).
//!
//! The user's side has a freshness too: what a user rated last says more about the next
//! rating than what they rated long ago. When the training data has timestamps and the base
//! is EASE, each history item counts with weight
//!
//! `1 + recency_boost · exp(−rank / recency_decay)`, with `rank` = the number of the user's
//! training interactions strictly newer than this one (0 for the latest; ties share a rank).
//!
//! A history item the model has not seen the user rate in training (an event after training)
//! counts as the newest (rank 0). Users without timestamps have all ranks equal, which ranks
//! exactly as unweighted. Without timestamps, or with another base model, the history is
//! unweighted.
//!
//! The module is split by concern: `hyperparams` (the parameters and their checks), `fit`
//! (fitting, the recency ranks and the fitted model's state), `score` (scoring with the
//! weights) and the tests.

mod fit;
mod hyperparams;
mod score;
#[cfg(test)]
mod tests;

pub use fit::Fresh;
pub use hyperparams::{
    FreshParams, FreshValidParams, FRESH_DEFAULT_BOOST, FRESH_DEFAULT_DECAY_YEARS,
    FRESH_DEFAULT_EASE_LAMBDA,
};
