//! Fitting [`Fresh`]: the base model, the recency ranks and the fitted state.

use serde::{Deserialize, Serialize};

use super::hyperparams::{FreshParams, FreshValidParams};
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::model::catalog::fit_named;
use crate::model::{AnyModel, Fit, ParamGuard, Persist, Recommender};
use crate::{Error, Result};

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
pub(super) struct RecencyRanks {
    pub(super) indptr: Vec<usize>,
    pub(super) items: Vec<ItemIdx>,
    pub(super) ranks: Vec<u32>,
}

impl RecencyRanks {
    /// `None` when the data has no timestamps.
    pub(super) fn of(train: &Interactions) -> Option<RecencyRanks> {
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
    pub(super) fn check(&self) -> Result<()> {
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
}

/// A fitted freshness model: a base model and a weight per item.
#[derive(Debug, Clone)]
pub struct Fresh {
    pub(super) params: FreshValidParams,
    pub(super) base: Box<AnyModel>,
    pub(super) weights: Vec<f32>,
    pub(super) recency: Option<RecencyRanks>,
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
    pub(super) fn new(params: FreshValidParams, base: AnyModel) -> Result<Fresh> {
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
}

impl Persist for Fresh {
    const KIND: &'static str = "fresh";
}
