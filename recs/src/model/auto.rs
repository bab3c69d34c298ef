//! `auto` hyperparameters: values chosen on a validation split carved from the training data
//! only, never from the test data.
//!
//! **The validation rule.** One interaction of every training user with at least two is held
//! out: the latest one by time when the training data has timestamps and
//! [`Validation::Latest`] (or [`Validation::Auto`]) is asked for, else one drawn uniformly at
//! random per user with [`AutoOptions::seed`]. At most [`AutoOptions::max_users`] of those
//! users (a seeded uniform sample) are scored, to bound the cost. The score is Recall@20 of
//! the held-out item (full ranking, training items excluded); each candidate value is fitted
//! on the rest of the training data. The best value wins; ties go to the value listed first in
//! the grid. Every grid contains the fixed default, so `auto` is never worse than the default
//! on validation.
//!
//! EASE's grid is λ ∈ {25, 50, ..., 3200} (doubling, plus the fixed default 1200): one Cholesky
//! fit per λ on the validation training data, which costs about as much as the eigen path
//! `P(λ) = Q (Λ + λI)⁻¹ Qᵀ` (a symmetric eigendecomposition is several times a Cholesky
//! factorization, and each λ needs its dense `P(λ)` to score anyway).

use rayon::prelude::*;

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
/// excluded; users the model cannot score count 0).
///
/// # Errors
/// The model's errors other than an unknown user.
pub fn validation_recall(model: &dyn Recommender, val: &Split) -> Result<f64> {
    let opts = RecOpts {
        k: AUTO_K,
        ..RecOpts::default()
    };
    let hits: Vec<f64> = val
        .test
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
        .collect::<Result<_>>()?;
    Ok(hits.iter().sum::<f64>() / hits.len().max(1) as f64)
}

/// Picks the best value of `grid` by `score` (ties: the first); returns it and every
/// candidate's score as `(KEY@VALUE, score)` text pairs.
fn pick(
    key: &str,
    grid: &[f32],
    mut score: impl FnMut(f32) -> Result<f64>,
) -> Result<(f32, Vec<(String, String)>)> {
    let mut best: Option<(f32, f64)> = None;
    let mut scores = Vec::with_capacity(grid.len());
    for &v in grid {
        let s = score(v)?;
        scores.push((format!("{key}@{v}"), format!("{s:.4}")));
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((v, s));
        }
    }
    let (v, _) = best.ok_or_else(|| Error::param("grid", "at least one value", "[]"))?;
    Ok((v, scores))
}

/// EASE λ chosen on validation from [`EASE_LAMBDA_GRID`] (the other parameters from `params`).
///
/// # Errors
/// As [`validation_split`] and EASE's fit.
pub fn ease_lambda(
    params: &EaseParams,
    train: &Interactions,
    opts: &AutoOptions,
) -> Result<(f32, Vec<(String, String)>)> {
    let val = validation_split(train, opts)?;
    pick("ease.lambda", EASE_LAMBDA_GRID, |l| {
        let m = params.clone().lambda(l).fit(&val.train)?;
        validation_recall(&m, &val)
    })
}

/// ALS regularization chosen on validation from [`ALS_REGULARIZATION_GRID`].
///
/// # Errors
/// As [`validation_split`] and ALS's fit.
pub fn als_regularization(
    params: &AlsParams,
    train: &Interactions,
    opts: &AutoOptions,
) -> Result<(f32, Vec<(String, String)>)> {
    let val = validation_split(train, opts)?;
    pick("als.regularization", ALS_REGULARIZATION_GRID, |r| {
        let m = params.clone().regularization(r).fit(&val.train)?;
        validation_recall(&m, &val)
    })
}

/// Fits `fresh` from its spec: `recency_boost=auto` picks the recency boost from
/// [`FRESH_RECENCY_GRID`] (only when the training data has timestamps; without them recency has
/// no effect and 0 is reported), at the given λ or the default; then `lambda=auto` picks the EASE
/// base's λ under that boost.
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
    let val = validation_split(train, opts)?;
    let ease = Ease::params().lambda(match spec.get("lambda").map(str::parse::<f32>) {
        Some(Ok(l)) => l,
        _ => FRESH_DEFAULT_EASE_LAMBDA,
    });
    // The recency boost first (at the given or default λ), then λ under the chosen boost: a λ
    // searched first would be fitted under the default boost (15), which the recency search may
    // then drop, leaving a λ chosen for another model (on a random split: λ 3200 under boost 15,
    // then boost 0, where λ searched under boost 0 is 400).
    if auto_recency {
        let boost = if train.timestamps().is_some() {
            let base: AnyModel = ease.clone().fit(&val.train)?.into();
            let (b, scores) = pick("fresh.recency_boost", FRESH_RECENCY_GRID, |b| {
                let m = p
                    .clone()
                    .recency_boost(b)
                    .fit_base_on(base.clone(), &val.train)?;
                validation_recall(&m, &val)
            })?;
            chosen.extend(scores);
            b
        } else {
            0.0
        };
        chosen.push(("fresh.recency_boost".into(), boost.to_string()));
        p = p.recency_boost(boost);
    }
    if auto_lambda {
        let (lambda, scores) = pick("fresh.lambda", EASE_LAMBDA_GRID, |l| {
            let base: AnyModel = ease.clone().lambda(l).fit(&val.train)?.into();
            let m = p.clone().fit_base_on(base, &val.train)?;
            validation_recall(&m, &val)
        })?;
        chosen.push(("fresh.lambda".into(), lambda.to_string()));
        chosen.extend(scores);
        p = p.ease(ease.lambda(lambda));
    }
    p.fit(train)
}
