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

use serde::{Deserialize, Serialize};

use super::catalog::fit_named;
use super::{
    check_history, AnyModel, Ease, EaseParams, Fit, ParamGuard, Persist, Recommender, Scored,
};
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::{Error, Result};

/// Default [`FreshParams::boost`], chosen on the validation split.
pub const FRESH_DEFAULT_BOOST: f32 = 0.75;
/// Default [`FreshParams::decay_years`], chosen on the validation split.
pub const FRESH_DEFAULT_DECAY_YEARS: f32 = 0.5;
/// Default λ of the EASE base of [`Fresh`], chosen on the validation split with the boost.
pub const FRESH_DEFAULT_EASE_LAMBDA: f32 = 800.0;

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

    /// Builds the model from a base model fitted elsewhere.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for parameters out of range; [`Error::Data`] when the years do
    /// not cover the base model's items, or the base is itself a [`Fresh`].
    pub fn fit_base(&self, base: AnyModel) -> Result<Fresh> {
        let p = self.check_ref()?;
        Fresh::new(p.clone(), base)
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
        if !(p.boost.is_finite() && p.boost >= 0.0) {
            return Err(Error::param("boost", "a finite number >= 0", p.boost));
        }
        if !(p.decay_years.is_finite() && p.decay_years > 0.0) {
            return Err(Error::param(
                "decay_years",
                "a finite number > 0",
                p.decay_years,
            ));
        }
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
        Fresh::new(p.clone(), base)
    }
}

/// A fitted freshness model: a base model and a weight per item.
#[derive(Debug, Clone)]
pub struct Fresh {
    params: FreshValidParams,
    base: Box<AnyModel>,
    weights: Vec<f32>,
}

/// Serialized form: the base as a recs model file.
#[derive(Serialize, Deserialize)]
struct FreshRaw {
    params: FreshValidParams,
    base: Vec<u8>,
}

impl Serialize for Fresh {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let base = self.base.to_bytes().map_err(serde::ser::Error::custom)?;
        FreshRaw {
            params: self.params.clone(),
            base,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Fresh {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = FreshRaw::deserialize(d)?;
        let base = AnyModel::from_bytes(&raw.base).map_err(serde::de::Error::custom)?;
        Fresh::new(raw.params, base).map_err(serde::de::Error::custom)
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
        self.base.score_into(user, history, out)?;
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
        let scores = self.base.score_items(user, history, items)?;
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
    }
}
