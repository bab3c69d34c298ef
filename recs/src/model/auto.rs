//! `auto` hyperparameters: values chosen on a validation split carved from the training data
//! only, never from the test data.
//!
//! **The validation split.** One interaction of every training user with at least two is held
//! out: the latest one by time when the training data has timestamps and
//! [`Validation::Latest`] (or [`Validation::Auto`]) is asked for, else one drawn uniformly at
//! random per user with [`AutoOptions::seed`]. At most [`AutoOptions::max_users`] of those
//! users (a seeded uniform sample) are scored, to bound the cost. Each user's score is their
//! Recall@20 of the held-out item (full ranking, training items excluded); each candidate value
//! is fitted on the rest of the training data.
//!
//! **The choice: the one-standard-error rule** (Hastie, Tibshirani & Friedman, *The Elements of
//! Statistical Learning*, 2nd ed., §7.10; glmnet's `lambda.1se`). Let `b` be the candidate
//! with the best mean validation score (ties: the first in the grid). For every candidate `v`,
//! `d_u = score_u(b) − score_u(v)` per validation user; `v` is *within one standard error*
//! when `mean(d) ≤ sd(d) / √n` (the standard error of the paired difference, as the users are
//! the same for every candidate). Of those, the simplest model wins: the largest λ or
//! regularization (the most regularised), the smallest `fresh` recency boost (0 = no recency
//! weighting). The best value on one validation split overfits that split's noise; a simpler
//! value that validation cannot tell apart from it generalizes better to data nobody tuned on
//! (on ML-1M P1 the best validation λ, 100, was 0.0033 HR@10 below λ = 500 on the test split).
//!
//! **Grids and cost.** Grids are ascending and contain the fixed default. EASE's is
//! λ ∈ {25, 50, ..., 3200} (doubling, plus the default 1200). The EASE searches (`ease`,
//! `fresh`'s λ) compute the Gram matrix of the validation training data once and fit every λ
//! from it (one Cholesky factorization and inverse per λ). The λ and regularization searches
//! stop early: they try values from the smallest up and stop at the first value past the best
//! so far that is not within one standard error of it, as a larger one would not be chosen if
//! the validation score is unimodal in λ (rising to one peak, then falling), which is what
//! ridge-like regularization gives; the printed scores show where a search stopped. The eigen
//! path `P(λ) = Q (Λ + λI)⁻¹ Qᵀ` would not be cheaper: a symmetric eigendecomposition is several
//! times a Cholesky factorization, and each λ needs its dense `P(λ)` to score anyway.

use rayon::prelude::*;

use super::gram::gram_dense;
use super::spec::{fresh_auto_keys, fresh_fixed, ModelSpec};
use super::{
    AlsParams, AnyModel, Ease, EaseParams, Fit, Fresh, ParamGuard, RecOpts, Recommender, SideInfo,
    FRESH_DEFAULT_EASE_LAMBDA,
};
use crate::data::rng::Rng;
use crate::data::{split, Dataset, Interactions, Split};
use crate::{Error, Result};

/// Which interaction of each user the `auto` searches hold out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Validation {
    /// [`Latest`](Validation::Latest) when the training data has timestamps, else
    /// [`Random`](Validation::Random). The default.
    #[default]
    Auto,
    /// Each user's latest training interaction (largest timestamp; ties by item index). Without
    /// timestamps, as `Random`.
    Latest,
    /// One interaction per user drawn uniformly with the seed: use it when the test items are a
    /// random sample of the history, so that validation rewards what the test rewards.
    Random,
}

/// Options of the `auto` searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoOptions {
    /// Which interaction of each user is held out. Default [`Validation::Auto`].
    pub validation: Validation,
    /// Seed of the random hold-out and of the user sample. Default 42.
    pub seed: u64,
    /// At most this many validation users are scored. Default 3000.
    pub max_users: usize,
}

impl Default for AutoOptions {
    fn default() -> Self {
        AutoOptions {
            validation: Validation::Auto,
            seed: 42,
            max_users: 3000,
        }
    }
}

/// The list length the validation score reads (Recall@20).
pub const AUTO_K: usize = 20;

/// The EASE λ values `auto` tries, the fixed default (1200) included.
pub const EASE_LAMBDA_GRID: &[f32] = &[
    25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1200.0, 1600.0, 3200.0,
];

/// The ALS regularization values `auto` tries, the fixed default (0.01) included.
pub const ALS_REGULARIZATION_GRID: &[f32] = &[0.01, 0.1, 1.0, 10.0, 100.0];

/// The `fresh` recency boosts `auto` tries: 0 (no recency weighting) and the default 15.
pub const FRESH_RECENCY_GRID: &[f32] = &[0.0, 3.0, 15.0];

/// Carves the validation split out of `train` as the module docs say.
///
/// ```
/// use recs::model::{validation_split, AutoOptions};
/// let recs: Vec<recs::data::Record> = (0..6)
///     .map(|k| recs::data::Record { user: k / 3, item: k % 3, value: 1.0, timestamp: Some(k as i64) })
///     .collect();
/// let train = recs::data::Interactions::from_records(2, 3, &recs, Default::default())?;
/// let v = validation_split(&train, &AutoOptions::default())?;
/// // each user's latest item (item 2, at times 2 and 5) is held out
/// assert_eq!(v.test.cases.iter().map(|c| c.items.clone()).collect::<Vec<_>>(), [vec![2], vec![2]]);
/// assert_eq!(v.train.nnz(), 4);
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::Data`] when no user has two interactions.
pub fn validation_split(train: &Interactions, opts: &AutoOptions) -> Result<Split> {
    let data = Dataset::from_interactions(train.clone());
    let latest = matches!(opts.validation, Validation::Auto | Validation::Latest)
        && train.timestamps().is_some();
    let mut s = if latest {
        split::leave_last_out(&data)?
    } else {
        split::random_holdout(&data, split::Holdout::Count(1), opts.seed)?
    };
    if s.test.cases.is_empty() {
        return Err(Error::Data(
            "auto parameters need a validation split, and no training user has two interactions"
                .into(),
        ));
    }
    if s.test.cases.len() > opts.max_users {
        // partial Fisher–Yates over the cases, then back to user order
        let mut rng = Rng::stream(opts.seed, u64::MAX);
        let n = s.test.cases.len();
        for j in 0..opts.max_users {
            let r = j + rng.gen_range((n - j) as u64) as usize;
            s.test.cases.swap(j, r);
        }
        s.test.cases.truncate(opts.max_users);
        s.test.cases.sort_unstable_by_key(|c| c.user);
    }
    Ok(s)
}

/// Recall@[`AUTO_K`] of `model` on the validation split (full ranking, training items
/// excluded; users the model cannot score count 0): the mean of [`validation_recalls`].
///
/// # Errors
/// The model's errors other than an unknown user.
pub fn validation_recall(model: &dyn Recommender, val: &Split) -> Result<f64> {
    Ok(mean(&validation_recalls(model, val)?))
}

/// Each validation user's Recall@[`AUTO_K`], in the order of `val.test.cases`: the per-user
/// values the one-standard-error rule pairs across candidates.
///
/// # Errors
/// As [`validation_recall`].
pub fn validation_recalls(model: &dyn Recommender, val: &Split) -> Result<Vec<f64>> {
    let opts = RecOpts {
        k: AUTO_K,
        ..RecOpts::default()
    };
    val.test
        .cases
        .par_iter()
        .map(|c| {
            let list = match model.recommend(c.user, val.train.items_of(c.user), &opts) {
                Ok(l) => l,
                Err(Error::UnknownUser(_)) => return Ok(0.0),
                Err(e) => return Err(e),
            };
            let found = list
                .iter()
                .filter(|s| c.items.binary_search(&s.item).is_ok())
                .count();
            Ok(found as f64 / c.items.len().max(1) as f64)
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Mean and standard error of the paired difference `best − other`, user by user.
fn paired_gap(best: &[f64], other: &[f64]) -> (f64, f64) {
    let n = best.len().min(other.len());
    let d: Vec<f64> = best.iter().zip(other).map(|(b, o)| b - o).collect();
    let m = mean(&d);
    if n < 2 {
        return (m, 0.0);
    }
    let var = d.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
    (m, (var / n as f64).sqrt())
}

/// Which end of a grid holds the simpler model, the one the one-standard-error rule leans to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Simpler {
    /// The largest value (λ, regularization: the most regularised). The search stops early
    /// past the peak (see the module docs).
    Largest,
    /// The smallest value (`fresh`'s recency boost: 0 is no recency weighting). Every value is
    /// tried.
    Smallest,
}

/// One candidate's per-user validation scores.
struct Tried {
    value: f32,
    scores: Vec<f64>,
    mean: f64,
}

/// The index of the best mean (ties: the first).
fn best_of(tried: &[Tried]) -> usize {
    let mut best = 0;
    for (k, t) in tried.iter().enumerate() {
        if t.mean > tried[best].mean {
            best = k;
        }
    }
    best
}

/// Whether `other` is within one standard error (of the paired difference) of `best`.
fn within_one_se(best: &Tried, other: &Tried) -> bool {
    let (gap, se) = paired_gap(&best.scores, &other.scores);
    gap <= se
}

/// Picks a value of the ascending `grid` by the one-standard-error rule on the per-user
/// validation scores `score` returns; returns it and every tried candidate's mean score and
/// paired gap to the best as `(KEY@VALUE, "MEAN (gap GAP ± SE)")` text pairs.
fn pick(
    key: &str,
    grid: &[f32],
    simpler: Simpler,
    mut score: impl FnMut(f32) -> Result<Vec<f64>>,
) -> Result<(f32, Vec<(String, String)>)> {
    let mut tried: Vec<Tried> = Vec::with_capacity(grid.len());
    for &value in grid {
        let scores = score(value)?;
        let mean = mean(&scores);
        tried.push(Tried {
            value,
            scores,
            mean,
        });
        let best = best_of(&tried);
        let last = tried.len() - 1;
        if simpler == Simpler::Largest && best < last && !within_one_se(&tried[best], &tried[last])
        {
            break;
        }
    }
    if tried.is_empty() {
        return Err(Error::param("grid", "at least one value", "[]"));
    }
    let best = &tried[best_of(&tried)];
    let mut eligible = tried.iter().filter(|t| within_one_se(best, t));
    let chosen = match simpler {
        Simpler::Largest => eligible.next_back(),
        Simpler::Smallest => eligible.next(),
    }
    .map_or(best.value, |t| t.value);
    let scores = tried
        .iter()
        .map(|t| {
            let (gap, se) = paired_gap(&best.scores, &t.scores);
            (
                format!("{key}@{}", t.value),
                format!("{:.4} (gap {gap:.4} ± {se:.4})", t.mean),
            )
        })
        .collect();
    Ok((chosen, scores))
}

/// The validation split and the Gram matrix of its binarized training data, computed once for
/// every EASE fit of a search (after checking that both fit in the memory cap).
fn split_and_gram(
    params: &EaseParams,
    train: &Interactions,
    opts: &AutoOptions,
) -> Result<(Split, Vec<f32>)> {
    let n = train.n_items();
    params.check_memory(n, n.saturating_mul(n).saturating_mul(4))?;
    let val = validation_split(train, opts)?;
    let gram = gram_dense(&val.train.binarized());
    Ok((val, gram))
}

/// EASE λ chosen on validation from [`EASE_LAMBDA_GRID`] by the one-standard-error rule (the
/// other parameters from `params`).
///
/// # Errors
/// As [`validation_split`] and EASE's fit.
pub fn ease_lambda(
    params: &EaseParams,
    train: &Interactions,
    opts: &AutoOptions,
) -> Result<(f32, Vec<(String, String)>)> {
    let (val, gram) = split_and_gram(params, train, opts)?;
    let n = train.n_items();
    pick("ease.lambda", EASE_LAMBDA_GRID, Simpler::Largest, |l| {
        let m = params.clone().lambda(l).fit_gram(&gram, n)?;
        validation_recalls(&m, &val)
    })
}

/// ALS regularization chosen on validation from [`ALS_REGULARIZATION_GRID`] by the
/// one-standard-error rule.
///
/// # Errors
/// As [`validation_split`] and ALS's fit.
pub fn als_regularization(
    params: &AlsParams,
    train: &Interactions,
    opts: &AutoOptions,
) -> Result<(f32, Vec<(String, String)>)> {
    let val = validation_split(train, opts)?;
    pick(
        "als.regularization",
        ALS_REGULARIZATION_GRID,
        Simpler::Largest,
        |r| {
            let m = params.clone().regularization(r).fit(&val.train)?;
            validation_recalls(&m, &val)
        },
    )
}

/// Fits `fresh` from its spec: `recency_boost=auto` picks the recency boost from
/// [`FRESH_RECENCY_GRID`] (only when the training data has timestamps; without them recency has
/// no effect and 0 is reported), at the given λ or the default; then `lambda=auto` picks the EASE
/// base's λ under that boost. Both by the one-standard-error rule (the smallest boost, the
/// largest λ within one standard error of the best).
pub(super) fn fit_fresh(
    spec: &ModelSpec,
    train: &Interactions,
    side: &SideInfo,
    opts: &AutoOptions,
    chosen: &mut Vec<(String, String)>,
) -> Result<Fresh> {
    let years = side.item_years.clone().unwrap_or_default();
    let mut p = fresh_fixed(spec, Fresh::params().years(years))?;
    let (auto_lambda, auto_recency) = fresh_auto_keys(spec);
    if !auto_lambda && !auto_recency {
        return p.fit(train);
    }
    // Fit-time checks (years present and matching) before the search spends time.
    p.check_ref()?;
    let ease = Ease::params().lambda(match spec.get("lambda").map(str::parse::<f32>) {
        Some(Ok(l)) => l,
        _ => FRESH_DEFAULT_EASE_LAMBDA,
    });
    let (val, gram) = split_and_gram(&ease, train, opts)?;
    let n = train.n_items();
    // The recency boost first (at the given or default λ), then λ under the chosen boost: a λ
    // searched first would be fitted under the default boost (15), which the recency search may
    // then drop, leaving a λ chosen for another model (on a random split: λ 3200 under boost 15,
    // then boost 0, where λ searched under boost 0 is 400).
    if auto_recency {
        let boost = if train.timestamps().is_some() {
            let base: AnyModel = ease.fit_gram(&gram, n)?.into();
            let (b, scores) = pick(
                "fresh.recency_boost",
                FRESH_RECENCY_GRID,
                Simpler::Smallest,
                |b| {
                    let m = p
                        .clone()
                        .recency_boost(b)
                        .fit_base_on(base.clone(), &val.train)?;
                    validation_recalls(&m, &val)
                },
            )?;
            chosen.extend(scores);
            b
        } else {
            0.0
        };
        chosen.push(("fresh.recency_boost".into(), boost.to_string()));
        p = p.recency_boost(boost);
    }
    if auto_lambda {
        let (lambda, scores) = pick("fresh.lambda", EASE_LAMBDA_GRID, Simpler::Largest, |l| {
            let base: AnyModel = ease.clone().lambda(l).fit_gram(&gram, n)?.into();
            let m = p.clone().fit_base_on(base, &val.train)?;
            validation_recalls(&m, &val)
        })?;
        chosen.push(("fresh.lambda".into(), lambda.to_string()));
        chosen.extend(scores);
        p = p.ease(ease.lambda(lambda));
    }
    drop(gram);
    p.fit(train)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlsParams, FreshParams};

    /// d = best − other = [0, 0, 1, 0]: mean 1/4, sample variance
    /// (3 · (1/4)² + (3/4)²) / 3 = 1/4, standard error √(1/4 / 4) = 1/4.
    #[test]
    fn paired_gap_by_hand() {
        let (gap, se) = paired_gap(&[1.0, 0.0, 1.0, 1.0], &[1.0, 0.0, 0.0, 1.0]);
        assert!((gap - 0.25).abs() < 1e-12 && (se - 0.25).abs() < 1e-12);
        assert_eq!(paired_gap(&[0.5, 0.5], &[0.5, 0.5]), (0.0, 0.0));
    }

    /// 0/1 scores of 40 users: users `lo..hi` hit.
    fn hitting(lo: usize, hi: usize) -> Vec<f64> {
        (0..40)
            .map(|u| if (lo..hi).contains(&u) { 1.0 } else { 0.0 })
            .collect()
    }

    // Gaps to the best (users 0..20 hit), by hand:
    // - users 2..21: d = +1 (users 0, 1), −1 (user 20), 0 (37 users): gap 1/40 = 0.025,
    //   Σ(d − 0.025)² = 2 · 0.975² + 1.025² + 37 · 0.025² = 2.975, se = √(2.975 / 39 / 40)
    //   = 0.0437 → within one standard error;
    // - users 0..14: d = +1 for 6 users: gap 0.15, se = √(6 · 34 / (40² · 39)) = 0.0572 → outside;
    // - users 0..12 / 0..10: gaps 0.2 / 0.25, further outside.
    #[test]
    fn one_standard_error_rule_takes_the_largest_value_near_the_best_and_stops_past_it() {
        let scores_of = |v: f32| match v as u32 {
            1 => hitting(0, 12),
            2 => hitting(0, 20),
            4 => hitting(2, 21),
            8 => hitting(0, 14),
            _ => hitting(0, 20),
        };
        let mut tried = Vec::new();
        let (v, scores) = pick("x", &[1.0, 2.0, 4.0, 8.0, 16.0], Simpler::Largest, |v| {
            tried.push(v);
            Ok(scores_of(v))
        })
        .unwrap();
        assert_eq!(v, 4.0);
        // 8 is past the best and outside: 16 is never tried
        assert_eq!(tried, [1.0, 2.0, 4.0, 8.0]);
        assert_eq!(scores.len(), 4);
        assert_eq!(scores[1].0, "x@2");
        assert!(scores[1].1.starts_with("0.5000 (gap 0.0000"), "{scores:?}");
        assert!(
            scores[2].1.starts_with("0.4750 (gap 0.0250 ± 0.0437"),
            "{scores:?}"
        );
        // without a value within one standard error, the best: the plain argmax
        let (v, _) = pick("x", &[1.0, 2.0, 8.0], Simpler::Largest, |v| {
            Ok(scores_of(v))
        })
        .unwrap();
        assert_eq!(v, 2.0);
    }

    #[test]
    fn one_standard_error_rule_leans_to_the_smallest_boost_and_tries_all() {
        // best 15; 3 within, 0 outside (see above): 3 wins, every value tried
        let mut tried = Vec::new();
        let (v, _) = pick("b", &[0.0, 3.0, 15.0], Simpler::Smallest, |v| {
            tried.push(v);
            Ok(match v as u32 {
                0 => hitting(0, 10),
                3 => hitting(2, 21),
                _ => hitting(0, 20),
            })
        })
        .unwrap();
        assert_eq!((v, tried.len()), (3.0, 3));
        // a tie with the simplest value takes it
        let (v, _) = pick("b", &[0.0, 3.0, 15.0], Simpler::Smallest, |_| {
            Ok(hitting(0, 5))
        })
        .unwrap();
        assert_eq!(v, 0.0);
        assert!(pick("b", &[], Simpler::Smallest, |_| Ok(vec![])).is_err());
    }

    #[test]
    fn grids_are_ascending_and_hold_the_fixed_defaults() {
        for grid in [
            EASE_LAMBDA_GRID,
            ALS_REGULARIZATION_GRID,
            FRESH_RECENCY_GRID,
        ] {
            assert!(grid.windows(2).all(|w| w[0] < w[1]), "{grid:?}");
        }
        assert!(EASE_LAMBDA_GRID.contains(&EaseParams::default().check_ref().unwrap().lambda()));
        assert!(EASE_LAMBDA_GRID.contains(&FRESH_DEFAULT_EASE_LAMBDA));
        let als = AlsParams::default();
        assert!(ALS_REGULARIZATION_GRID.contains(&als.check_ref().unwrap().regularization()));
        let fresh = FreshParams::default();
        assert!(FRESH_RECENCY_GRID.contains(&fresh.check_ref().unwrap().recency_boost()));
    }

    /// The shared-Gram search picks a value of the grid and reports the scores it tried.
    #[test]
    fn ease_search_reports_what_it_tried() {
        let train = Interactions::two_taste_groups(40, 30);
        let (lambda, scores) =
            ease_lambda(&Ease::params(), &train, &AutoOptions::default()).unwrap();
        assert!(EASE_LAMBDA_GRID.contains(&lambda));
        assert!(!scores.is_empty() && scores.len() <= EASE_LAMBDA_GRID.len());
        assert!(scores
            .iter()
            .any(|(k, _)| *k == format!("ease.lambda@{lambda}")));
    }
}
