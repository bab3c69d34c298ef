//! The parameters of [`Fresh`], their defaults and their range checks.

use serde::{Deserialize, Serialize};

use super::fit::{Fresh, RecencyRanks};
use crate::data::Interactions;
use crate::model::{AnyModel, Ease, EaseParams, ParamGuard};
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
pub struct FreshParams(pub(super) FreshValidParams);

/// Validated [`FreshParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreshValidParams {
    pub(super) base: String,
    pub(super) ease: EaseParams,
    pub(super) boost: f32,
    pub(super) decay_years: f32,
    pub(super) newest_year: Option<u16>,
    pub(super) years: Vec<Option<u16>>,
    pub(super) recency_boost: f32,
    pub(super) recency_decay: f32,
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
    /// The base model, by [`fit_named`](crate::model::fit_named) name (`ease` uses
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
    /// [`fit`](crate::model::Fit::fit): one entry per item of the training data.
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
    /// them) give the recency weights of the users' histories, as [`fit`](crate::model::Fit::fit) does.
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
    pub(super) fn history_weight(&self, rank: u32) -> f32 {
        1.0 + self.recency_boost * (-(rank as f32) / self.recency_decay).exp()
    }

    /// The weight of every item.
    pub(super) fn weights(&self) -> Vec<f32> {
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
