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

use serde::{Deserialize, Serialize};

use super::catalog::fit_named;
use super::{
    check_history, AnyModel, Ease, EaseParams, Fit, ParamGuard, Persist, Recommender, Scored,
};
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::util::{ensure_non_negative, ensure_positive};
use crate::{Error, Result};

/// Default [`FreshParams::boost`], chosen on the validation split.
pub const FRESH_DEFAULT_BOOST: f32 = 0.75;
/// Default [`FreshParams::decay_years`], chosen on the validation split.
pub const FRESH_DEFAULT_DECAY_YEARS: f32 = 0.5;
/// Default λ of the EASE base of [`Fresh`], chosen on the validation split with the boost.
pub const FRESH_DEFAULT_EASE_LAMBDA: f32 = 800.0;
/// Default [`FreshParams::recency_boost`], chosen on the validation split.
pub const FRESH_DEFAULT_RECENCY_BOOST: f32 = 15.0;
/// Default [`FreshParams::recency_decay`], chosen on the validation split.
pub const FRESH_DEFAULT_RECENCY_DECAY: f32 = 5.0;

/// Parameters of [`Fresh`]. Build with [`Fresh::params`]; the item years are required.
///
/// ```
/// use recs::model::{Fresh, Fit, RecOpts, Recommender};
/// use recs::data::{Interactions, Record};
/// // items 0 and 1 are equally popular; item 1 is the newer release
/// let recs = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(3, 3, &recs, Default::default())?;
/// let model = Fresh::params()
///     .base("pop")
///     .years(vec![Some(1990), Some(2000), None])
///     .fit(&train)?;
/// let top = model.recommend(2, train.items_of(2), &RecOpts { k: 1, ..Default::default() })?;
/// assert_eq!(top[0].item, 1);
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreshParams(FreshValidParams);

/// Validated [`FreshParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreshValidParams {
    base: String,
    ease: EaseParams,
    boost: f32,
    decay_years: f32,
    newest_year: Option<u16>,
    years: Vec<Option<u16>>,
    recency_boost: f32,
    recency_decay: f32,
}

impl Default for FreshParams {
    fn default() -> Self {
        FreshParams(FreshValidParams {
            base: "ease".into(),
            ease: Ease::params().lambda(FRESH_DEFAULT_EASE_LAMBDA),
            boost: FRESH_DEFAULT_BOOST,
            decay_years: FRESH_DEFAULT_DECAY_YEARS,
            newest_year: None,
            years: Vec::new(),
            recency_boost: FRESH_DEFAULT_RECENCY_BOOST,
            recency_decay: FRESH_DEFAULT_RECENCY_DECAY,
        })
    }
}

impl FreshParams {
    /// The base model, by [`fit_named`](super::fit_named) name (`ease` uses
    /// [`ease`](Self::ease)). Default `ease`; not `fresh`.
    pub fn base(mut self, name: impl Into<String>) -> Self {
        self.0.base = name.into();
        self
    }
    /// Parameters of an `ease` base. Default [`Ease::params`] with λ =
    /// [`FRESH_DEFAULT_EASE_LAMBDA`].
    pub fn ease(mut self, params: EaseParams) -> Self {
        self.0.ease = params;
        self
    }
    /// How much the newest items gain: their weight is `1 + boost`. Default
    /// [`FRESH_DEFAULT_BOOST`]; finite and ≥ 0 (0 ranks as the base model).
    pub fn boost(mut self, boost: f32) -> Self {
        self.0.boost = boost;
        self
    }
    /// How fast the gain fades with an item's age in years. Default
    /// [`FRESH_DEFAULT_DECAY_YEARS`]; finite and > 0.
    pub fn decay_years(mut self, years: f32) -> Self {
        self.0.decay_years = years;
        self
    }
    /// The year that counts as "now" (age 0). Default: the newest year in
    /// [`years`](Self::years).
    pub fn newest_year(mut self, year: Option<u16>) -> Self {
        self.0.newest_year = year;
        self
    }
    /// The release year of every item, by item index (`None` when unknown). Required by
    /// [`fit`](Fit::fit): one entry per item of the training data.
    pub fn years(mut self, years: Vec<Option<u16>>) -> Self {
        self.0.years = years;
        self
    }
    /// How much more the user's latest interaction counts than an old one: its weight is
    /// `1 + recency_boost`. Default `FRESH_DEFAULT_RECENCY_BOOST` (15); finite and ≥ 0 (0: all
    /// history items count the same). Used when the training data has timestamps and the base
    /// is `ease`.
    pub fn recency_boost(mut self, boost: f32) -> Self {
        self.0.recency_boost = boost;
        self
    }
    /// How fast the recency boost fades, in interactions: the `r`-th newest counts with
    /// `1 + recency_boost · exp(−r / recency_decay)`. Default `FRESH_DEFAULT_RECENCY_DECAY` (5);
    /// finite and > 0.
    pub fn recency_decay(mut self, interactions: f32) -> Self {
        self.0.recency_decay = interactions;
        self
    }

    /// Builds the model from a base model fitted elsewhere.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for parameters out of range; [`Error::Data`] when the years do
    /// not cover the base model's items, or the base is itself a [`Fresh`].
    pub fn fit_base(&self, base: AnyModel) -> Result<Fresh> {
        let p = self.check_ref()?;
        Fresh::new(p.clone(), base)
    }

    /// [`fit_base`](Self::fit_base) for a base fitted on `train`, whose timestamps (when it has
    /// them) give the recency weights of the users' histories, as [`fit`](Fit::fit) does.
    ///
    /// # Errors
    /// As [`fit_base`](Self::fit_base).
    pub fn fit_base_on(&self, base: AnyModel, train: &Interactions) -> Result<Fresh> {
        let mut model = self.fit_base(base)?;
        if model.params.recency_boost > 0.0 && matches!(*model.base, AnyModel::Ease(_)) {
            model.recency = RecencyRanks::of(train);
        }
        Ok(model)
    }
}

impl FreshValidParams {
    /// The base model's name.
    pub fn base(&self) -> &str {
        &self.base
    }
    /// The boost of the newest items.
    pub fn boost(&self) -> f32 {
        self.boost
    }
    /// The decay of the boost, in years.
    pub fn decay_years(&self) -> f32 {
        self.decay_years
    }
    /// The item years.
    pub fn years(&self) -> &[Option<u16>] {
        &self.years
    }
    /// The boost of the user's latest interaction.
    pub fn recency_boost(&self) -> f32 {
        self.recency_boost
    }
    /// The decay of the recency boost, in interactions.
    pub fn recency_decay(&self) -> f32 {
        self.recency_decay
    }
    /// The weight of a history item of recency rank `rank` (0 = newest).
    fn history_weight(&self, rank: u32) -> f32 {
        1.0 + self.recency_boost * (-(rank as f32) / self.recency_decay).exp()
    }

    /// The weight of every item.
    fn weights(&self) -> Vec<f32> {
        let newest = self
            .newest_year
            .or_else(|| self.years.iter().flatten().copied().max());
        self.years
            .iter()
            .map(|y| match (y, newest) {
                (Some(y), Some(now)) => {
                    let age = f32::from(now.saturating_sub(*y));
                    1.0 + self.boost * (-age / self.decay_years).exp()
                }
                _ => 1.0,
            })
            .collect()
    }
}

impl ParamGuard for FreshParams {
    type Checked = FreshValidParams;
    fn check_ref(&self) -> Result<&Self::Checked> {
        let p = &self.0;
        if p.base.is_empty() || p.base == "fresh" {
            return Err(Error::param(
                "base",
                "a model name other than `fresh`",
                format!("`{}`", p.base),
            ));
        }
        if p.base == "ease" {
            p.ease.check_ref()?;
        }
        ensure_non_negative("boost", "a finite number >= 0", p.boost)?;
        ensure_non_negative("recency_boost", "a finite number >= 0", p.recency_boost)?;
        ensure_positive("recency_decay", p.recency_decay)?;
        ensure_positive("decay_years", p.decay_years)?;
        Ok(p)
    }
    fn check(self) -> Result<Self::Checked> {
        self.check_ref()?;
        Ok(self.0)
    }
}

impl Fit for FreshParams {
    type Model = Fresh;
    fn fit(&self, train: &Interactions) -> Result<Fresh> {
        let p = self.check_ref()?;
        // checked here, not in `check_ref`: parameters without years are valid to build and
        // inspect (and to load a fitted model into), only not to fit
        if p.years.is_empty() {
            return Err(Error::param(
                "years",
                "the release year of every item (e.g. from a movies file)",
                "none",
            ));
        }
        if p.years.len() != train.n_items() {
            return Err(Error::Data(format!(
                "fresh: {} item years for {} items",
                p.years.len(),
                train.n_items()
            )));
        }
        let base: AnyModel = match p.base.as_str() {
            "ease" => p.ease.fit(train)?.into(),
            other => fit_named(other, train)?,
        };
        self.fit_base_on(base, train)
    }
}

/// Each training interaction's recency rank (the number of the same user's interactions
/// strictly newer), in the training matrix's CSR layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RecencyRanks {
    indptr: Vec<usize>,
    items: Vec<ItemIdx>,
    ranks: Vec<u32>,
}

impl RecencyRanks {
    /// `None` when the data has no timestamps.
    fn of(train: &Interactions) -> Option<RecencyRanks> {
        train.timestamps()?;
        let mut ranks = Vec::with_capacity(train.nnz());
        let mut newest_first: Vec<i64> = Vec::new();
        for u in 0..train.n_users() as UserIdx {
            let ts = train.timestamps_of(u)?;
            newest_first.clear();
            newest_first.extend_from_slice(ts);
            newest_first.sort_unstable_by(|a, b| b.cmp(a));
            ranks.extend(
                ts.iter()
                    .map(|&t| newest_first.partition_point(|&x| x > t) as u32),
            );
        }
        Some(RecencyRanks {
            indptr: train.indptr().to_vec(),
            items: train.indices().to_vec(),
            ranks,
        })
    }

    /// Checks a loaded layout, so that scoring cannot index out of bounds.
    fn check(&self) -> Result<()> {
        let nnz = self.items.len();
        let ok = self.indptr.first() == Some(&0)
            && self.indptr.windows(2).all(|w| w[0] <= w[1])
            && self.indptr.last() == Some(&nnz)
            && self.ranks.len() == nnz;
        if ok {
            Ok(())
        } else {
            Err(Error::Data("fresh: inconsistent recency ranks".into()))
        }
    }

    /// The rank of each history item: its training rank, 0 (newest) for an item the user did
    /// not rate in training and for a user the model has not seen.
    fn of_history<'a>(
        &'a self,
        user: UserIdx,
        history: &'a [ItemIdx],
    ) -> impl Iterator<Item = u32> + 'a {
        let u = user as usize;
        let (items, ranks): (&[ItemIdx], &[u32]) = if u + 1 < self.indptr.len() {
            let r = self.indptr[u]..self.indptr[u + 1];
            (&self.items[r.clone()], &self.ranks[r])
        } else {
            (&[], &[])
        };
        history
            .iter()
            .map(move |i| items.binary_search(i).map_or(0, |k| ranks[k]))
    }
}

/// A fitted freshness model: a base model and a weight per item.
#[derive(Debug, Clone)]
pub struct Fresh {
    params: FreshValidParams,
    base: Box<AnyModel>,
    weights: Vec<f32>,
    recency: Option<RecencyRanks>,
}

/// Serialized form: the base as a recs model file.
#[derive(Serialize, Deserialize)]
struct FreshRaw {
    params: FreshValidParams,
    base: Vec<u8>,
    recency: Option<RecencyRanks>,
}

impl Serialize for Fresh {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let base = self.base.to_bytes().map_err(serde::ser::Error::custom)?;
        FreshRaw {
            params: self.params.clone(),
            base,
            recency: self.recency.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Fresh {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = FreshRaw::deserialize(d)?;
        let base = AnyModel::from_bytes(&raw.base).map_err(serde::de::Error::custom)?;
        let mut model = Fresh::new(raw.params, base).map_err(serde::de::Error::custom)?;
        if let Some(r) = &raw.recency {
            r.check().map_err(serde::de::Error::custom)?;
        }
        model.recency = raw.recency;
        Ok(model)
    }
}

impl Fresh {
    /// Default parameters (the item years still have to be given).
    pub fn params() -> FreshParams {
        FreshParams::default()
    }
    fn new(params: FreshValidParams, base: AnyModel) -> Result<Fresh> {
        if matches!(base, AnyModel::Fresh(_)) {
            return Err(Error::Data(
                "a fresh model cannot wrap a fresh model".into(),
            ));
        }
        if params.years.len() != base.n_items() {
            return Err(Error::Data(format!(
                "fresh: {} item years for a base model of {} items",
                params.years.len(),
                base.n_items()
            )));
        }
        let weights = params.weights();
        Ok(Fresh {
            params,
            base: Box::new(base),
            weights,
            recency: None,
        })
    }
    /// The parameters the model was built with.
    pub fn fitted_params(&self) -> &FreshValidParams {
        &self.params
    }
    /// The base model.
    pub fn base(&self) -> &AnyModel {
        &self.base
    }
    /// The weight of every item (1 = unchanged).
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }
    /// Whether the user's history is weighted by recency (the training data had timestamps,
    /// the base is EASE and the recency boost is above 0).
    pub fn weighs_recency(&self) -> bool {
        self.recency.is_some()
    }
    /// The weight of each item of `user`'s `history` (all 1 unless
    /// [`weighs_recency`](Self::weighs_recency)).
    pub fn history_weights(&self, user: UserIdx, history: &[ItemIdx]) -> Vec<f32> {
        match &self.recency {
            Some(r) => r
                .of_history(user, history)
                .map(|rank| self.params.history_weight(rank))
                .collect(),
            None => vec![1.0; history.len()],
        }
    }
    /// The EASE base with the history weights, when recency applies.
    fn weighted_ease(&self, user: UserIdx, history: &[ItemIdx]) -> Option<(&Ease, Vec<f32>)> {
        match (&self.recency, &*self.base) {
            (Some(_), AnyModel::Ease(e)) => Some((e, self.history_weights(user, history))),
            _ => None,
        }
    }
}

/// `s·w` for `s ≥ 0`, `s/w` below: increasing in both `s` and `w` (as `w ≥ 1`).
fn reweight(s: f32, w: f32) -> f32 {
    if s >= 0.0 {
        s * w
    } else {
        s / w
    }
}

impl Recommender for Fresh {
    fn kind(&self) -> &'static str {
        Self::KIND
    }
    fn n_items(&self) -> usize {
        self.weights.len()
    }
    fn score_into(&self, user: UserIdx, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        check_history(history, self.weights.len())?;
        match self.weighted_ease(user, history) {
            Some((ease, w)) => ease.score_weighted_into(history, Some(&w), out)?,
            None => self.base.score_into(user, history, out)?,
        }
        for (o, &w) in out.iter_mut().zip(&self.weights) {
            *o = reweight(*o, w);
        }
        Ok(())
    }
    /// As [`score_into`](Recommender::score_into) for a user without training ranks: every
    /// history item counts as the newest (rank 0), and a base other than EASE scores the
    /// history itself.
    fn score_history_into(&self, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        check_history(history, self.weights.len())?;
        match (&self.recency, &*self.base) {
            (Some(_), AnyModel::Ease(ease)) => {
                let w = vec![self.params.history_weight(0); history.len()];
                ease.score_weighted_into(history, Some(&w), out)?;
            }
            _ => self.base.score_history_into(history, out)?,
        }
        for (o, &w) in out.iter_mut().zip(&self.weights) {
            *o = reweight(*o, w);
        }
        Ok(())
    }
    fn score_items(
        &self,
        user: UserIdx,
        history: &[ItemIdx],
        items: &[ItemIdx],
    ) -> Result<Vec<f32>> {
        let scores = match self.weighted_ease(user, history) {
            Some((ease, w)) => ease.score_items_weighted(history, Some(&w), items)?,
            None => self.base.score_items(user, history, items)?,
        };
        Ok(scores
            .into_iter()
            .zip(items)
            .map(|(s, &i)| reweight(s, self.weights[i as usize]))
            .collect())
    }
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        self.base.similar_items(item, k)
    }
}

impl Persist for Fresh {
    const KIND: &'static str = "fresh";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Record;
    use crate::model::{from_bytes, to_bytes, RecOpts};
    use proptest::prelude::*;

    fn train(pairs: &[(u32, u32)], users: usize, items: usize) -> Interactions {
        Interactions::from_pairs(users, items, pairs)
    }

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<FreshParams>();
        has::<Fresh>();
    }

    #[test]
    fn rejects_bad_params() {
        let t = train(&[(0, 0)], 1, 2);
        let years = vec![Some(1990), Some(2000)];
        let bad = |p: FreshParams| matches!(p.fit(&t), Err(Error::InvalidParam { .. }));
        assert!(bad(Fresh::params()));
        assert!(bad(Fresh::params().years(years.clone()).base("fresh")));
        assert!(bad(Fresh::params().years(years.clone()).boost(-1.0)));
        assert!(bad(Fresh::params().years(years.clone()).boost(f32::NAN)));
        assert!(bad(Fresh::params().years(years.clone()).decay_years(0.0)));
        assert!(matches!(
            Fresh::params().years(vec![None]).base("pop").fit(&t),
            Err(Error::Data(_))
        ));
        assert!(Fresh::params().years(years).base("nope").fit(&t).is_err());
    }

    #[test]
    fn weights_worked_by_hand() {
        // now = 2000; boost 2, decay 1 year: age 0 -> 3, age 1 -> 1 + 2/e, unknown -> 1
        let p = Fresh::params()
            .years(vec![Some(2000), Some(1999), None, Some(2003)])
            .boost(2.0)
            .decay_years(1.0)
            .newest_year(Some(2000))
            .check()
            .unwrap();
        let w = p.weights();
        assert_eq!(w[0], 3.0);
        assert!((w[1] - (1.0 + 2.0 / std::f32::consts::E)).abs() < 1e-6);
        assert_eq!(w[2], 1.0);
        assert_eq!(w[3], 3.0); // a year after "now" counts as age 0
        assert_eq!(reweight(2.0, 3.0), 6.0);
        assert_eq!(reweight(-3.0, 3.0), -1.0);
    }

    /// `pairs` with the given timestamps.
    fn timed(pairs: &[(u32, u32, i64)], users: usize, items: usize) -> Interactions {
        let recs: Vec<Record> = pairs
            .iter()
            .map(|&(user, item, t)| Record {
                user,
                item,
                value: 1.0,
                timestamp: Some(t),
            })
            .collect();
        Interactions::from_records(users, items, &recs, Default::default()).unwrap()
    }

    #[test]
    fn recency_ranks_and_weights_worked_by_hand() {
        // user 0 rated item 0 at 100 and items 1 and 2 together at 300: ranks 2, 0, 0
        let t = timed(&[(0, 0, 100), (0, 1, 300), (0, 2, 300), (1, 3, 50)], 2, 4);
        let r = RecencyRanks::of(&t).unwrap();
        assert_eq!(r.ranks, [2, 0, 0, 0]);
        let model = Fresh::params()
            .years(vec![None; 4])
            .ease(Ease::params().lambda(1.0))
            .recency_boost(2.0)
            .recency_decay(1.0)
            .fit(&t)
            .unwrap();
        assert!(model.weighs_recency());
        let old = 1.0 + 2.0 * (-2.0f32).exp();
        // item 3 was never rated by user 0 in training: it counts as the newest
        assert_eq!(model.history_weights(0, &[0, 1, 3]), [old, 3.0, 3.0]);
        // a user the model has not seen: everything is newest
        assert_eq!(model.history_weights(9, &[0, 1]), [3.0, 3.0]);
        // the scores are EASE's rows summed with those weights (years unknown: w = 1)
        let AnyModel::Ease(ease) = model.base() else {
            panic!("ease base")
        };
        let s = model.score_items(0, &[0, 1], &[2, 3]).unwrap();
        for (k, &j) in [2usize, 3].iter().enumerate() {
            let by_hand =
                old * ease.weights_of(0).unwrap()[j] + 3.0 * ease.weights_of(1).unwrap()[j];
            assert!((s[k] - by_hand).abs() < 1e-6, "{} vs {by_hand}", s[k]);
        }
    }

    #[test]
    fn recency_needs_timestamps_an_ease_base_and_a_boost() {
        let pairs = [(0, 0, 1), (0, 1, 2), (1, 1, 3)];
        let years = vec![Some(2000), None];
        let fit = |p: FreshParams, t: &Interactions| p.years(years.clone()).fit(t).unwrap();
        assert!(fit(Fresh::params(), &timed(&pairs, 2, 2)).weighs_recency());
        assert!(!fit(Fresh::params(), &train(&[(0, 0), (0, 1), (1, 1)], 2, 2)).weighs_recency());
        assert!(!fit(Fresh::params().base("pop"), &timed(&pairs, 2, 2)).weighs_recency());
        assert!(!fit(Fresh::params().recency_boost(0.0), &timed(&pairs, 2, 2)).weighs_recency());
        let t = timed(&pairs, 2, 2);
        let bad = |p: FreshParams| {
            matches!(
                p.years(years.clone()).fit(&t),
                Err(Error::InvalidParam { .. })
            )
        };
        assert!(bad(Fresh::params().recency_boost(-1.0)));
        assert!(bad(Fresh::params().recency_boost(f32::INFINITY)));
        assert!(bad(Fresh::params().recency_decay(0.0)));
    }

    proptest! {
        #[test]
        fn boost_zero_ranks_as_base_and_round_trips(
            pairs in prop::collection::vec((0u32..6, 0u32..12), 1..80),
            years in prop::collection::vec(prop::option::of(1980u16..2001), 12),
            boost in 0.0f32..4.0,
            decay in 0.1f32..5.0,
            k in 1usize..15,
        ) {
            let t = train(&pairs, 6, 12);
            let base: AnyModel = crate::model::Popularity::params().fit(&t).unwrap().into();
            let plain = Fresh::params().years(years.clone()).boost(0.0).fit_base(base.clone()).unwrap();
            let fresh = Fresh::params().years(years.clone()).boost(boost).decay_years(decay).fit_base(base.clone()).unwrap();
            let back: Fresh = from_bytes(&to_bytes(&fresh).unwrap()).unwrap();
            let opts = RecOpts { k, ..RecOpts::default() };
            let all: Vec<u32> = (0..12).collect();
            for u in 0..6u32 {
                let h = t.items_of(u);
                prop_assert_eq!(plain.score_items(u, h, &all).unwrap(), base.score_items(u, h, &all).unwrap());
                let top = fresh.recommend(u, h, &opts).unwrap();
                prop_assert_eq!(back.recommend(u, h, &opts).unwrap(), top.clone());
                let s = fresh.score_items(u, h, &all).unwrap();
                let b = base.score_items(u, h, &all).unwrap();
                let w = fresh.weights();
                for i in 0..12 {
                    prop_assert!(s[i].is_finite());
                    prop_assert!(w[i] >= 1.0 && w[i] <= 1.0 + boost + 1e-6);
                    for j in 0..12 {
                        // an item at least as good in base score and weight never ranks lower
                        if b[i] >= b[j] && w[i] >= w[j] { prop_assert!(s[i] >= s[j]); }
                    }
                }
                for r in &top { prop_assert!(!h.contains(&r.item)); }
            }
        }

        #[test]
        fn recency_with_equal_times_ranks_as_unweighted_and_round_trips(
            pairs in prop::collection::vec((0u32..6, 0u32..12, 0i64..4), 1..80),
            boost in 0.5f32..30.0,
            decay in 0.5f32..10.0,
            k in 1usize..15,
        ) {
            let years = vec![Some(1999); 12];
            let same: Vec<(u32, u32, i64)> = pairs.iter().map(|&(u, i, _)| (u, i, 7)).collect();
            let fit = |p: &[(u32, u32, i64)], b: f32| Fresh::params()
                .years(years.clone())
                .ease(Ease::params().lambda(2.0))
                .recency_boost(b)
                .recency_decay(decay)
                .fit(&timed(p, 6, 12))
                .unwrap();
            let (flat, weighted) = (fit(&same, 0.0), fit(&same, boost));
            let recent = fit(&pairs, boost);
            let back: Fresh = from_bytes(&to_bytes(&recent).unwrap()).unwrap();
            prop_assert!(back.weighs_recency());
            let opts = RecOpts { k, ..RecOpts::default() };
            let t = timed(&pairs, 6, 12);
            let all: Vec<u32> = (0..12).collect();
            for u in 0..6u32 {
                let h = t.items_of(u);
                // equal times: every history item weighs 1 + boost, a common factor
                let (a, b) = (flat.score_items(u, h, &all).unwrap(), weighted.score_items(u, h, &all).unwrap());
                for (x, y) in a.iter().zip(&b) {
                    prop_assert!((x * (1.0 + boost) - y).abs() <= 1e-4 * (1.0 + y.abs()));
                }
                let top = recent.recommend(u, h, &opts).unwrap();
                prop_assert_eq!(back.recommend(u, h, &opts).unwrap(), top.clone());
                for r in &top { prop_assert!(!h.contains(&r.item) && r.score.is_finite()); }
                for w in recent.history_weights(u, h) { prop_assert!((1.0..=1.0 + boost).contains(&w)); }
            }
        }
    }
}
