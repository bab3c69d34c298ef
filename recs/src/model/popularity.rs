//! Popularity: every user gets the most-interacted items they have not seen.

use serde::{Deserialize, Serialize};

use super::{check_history, Fit, ParamGuard, Persist, Recommender, Scored};
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::{Error, Result};

/// Parameters of [`Popularity`]. Build with [`Popularity::params`].
///
/// ```
/// use recs::model::{Fit, Popularity, RecOpts, Recommender};
/// use recs::data::{Interactions, Record};
/// let recs = [(0, 0), (1, 0), (1, 1), (2, 2), (0, 2), (2, 0)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(3, 3, &recs, Default::default())?;
/// let model = Popularity::params().fit(&train)?;
/// let top = model.recommend(1, train.items_of(1), &RecOpts::default())?;
/// assert_eq!(top[0].item, 2); // item 0 is more popular but user 1 has seen it
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PopularityParams(PopularityValidParams);

/// Validated [`PopularityParams`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PopularityValidParams {
    min_value: f32,
}

impl PopularityParams {
    /// Count only interactions whose value is at least this (e.g. 4.0 for "liked").
    /// Default 0.0 (count everything); must be finite.
    pub fn min_value(mut self, v: f32) -> Self {
        self.0.min_value = v;
        self
    }
}

impl ParamGuard for PopularityParams {
    type Checked = PopularityValidParams;
    fn check_ref(&self) -> Result<&Self::Checked> {
        if !self.0.min_value.is_finite() {
            return Err(Error::param(
                "min_value",
                "a finite number",
                self.0.min_value,
            ));
        }
        Ok(&self.0)
    }
    fn check(self) -> Result<Self::Checked> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// A fitted popularity model: item scores are interaction counts in the training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Popularity {
    counts: Vec<f32>,
}

impl Popularity {
    /// Default parameters.
    pub fn params() -> PopularityParams {
        PopularityParams::default()
    }
    /// The popularity (count) of each item.
    pub fn counts(&self) -> &[f32] {
        &self.counts
    }
}

impl Fit for PopularityParams {
    type Model = Popularity;
    fn fit(&self, train: &Interactions) -> Result<Popularity> {
        let p = self.check_ref()?;
        let mut counts = vec![0f32; train.n_items()];
        for (&i, &v) in train.indices().iter().zip(train.values()) {
            if v >= p.min_value {
                counts[i as usize] += 1.0;
            }
        }
        Ok(Popularity { counts })
    }
}

impl Recommender for Popularity {
    fn kind(&self) -> &'static str {
        Self::KIND
    }
    fn n_items(&self) -> usize {
        self.counts.len()
    }
    /// The user is not part of the score, so any history scores as for a known user.
    fn score_history_into(&self, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        self.score_into(0, history, out)
    }
    fn score_into(&self, _user: UserIdx, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        check_history(history, self.counts.len())?;
        out.copy_from_slice(&self.counts);
        Ok(())
    }
    fn score_items(
        &self,
        _user: UserIdx,
        history: &[ItemIdx],
        items: &[ItemIdx],
    ) -> Result<Vec<f32>> {
        check_history(history, self.counts.len())?;
        items
            .iter()
            .map(|&i| {
                self.counts
                    .get(i as usize)
                    .copied()
                    .ok_or(Error::UnknownItem(i as u64))
            })
            .collect()
    }
    fn similar_items(&self, item: ItemIdx, _k: usize) -> Result<Vec<Scored>> {
        Err(if (item as usize) < self.counts.len() {
            Error::Unsupported("popularity has no item similarity".into())
        } else {
            Error::UnknownItem(item as u64)
        })
    }
}

impl Persist for Popularity {
    const KIND: &'static str = "popularity";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Record;
    use crate::model::{from_bytes, to_bytes, RecOpts};
    use proptest::prelude::*;

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<PopularityParams>();
        has::<Popularity>();
    }

    #[test]
    fn rejects_nan_threshold() {
        assert!(matches!(
            Popularity::params()
                .min_value(f32::NAN)
                .fit(&Interactions::empty(1, 1)),
            Err(Error::InvalidParam {
                name: "min_value",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn recommend_respects_filters_and_round_trips(
            pairs in prop::collection::vec((0u32..6, 0u32..12), 1..80),
            exclude in prop::collection::vec(0u32..12, 0..4),
            k in 1usize..15,
        ) {
            let recs: Vec<Record> = pairs.iter().map(|&(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None }).collect();
            let train = Interactions::from_records(6, 12, &recs, Default::default()).unwrap();
            let model = Popularity::params().fit(&train).unwrap();
            let opts = RecOpts { k, exclude: Some(&exclude), ..RecOpts::default() };
            let back: Popularity = from_bytes(&to_bytes(&model).unwrap()).unwrap();
            for u in 0..6u32 {
                let top = model.recommend(u, train.items_of(u), &opts).unwrap();
                prop_assert!(top.len() <= k);
                for s in &top {
                    prop_assert!(!train.items_of(u).contains(&s.item));
                    prop_assert!(!exclude.contains(&s.item));
                    prop_assert!(s.score.is_finite());
                }
                prop_assert!(top.windows(2).all(|w| w[0].score >= w[1].score));
                prop_assert_eq!(back.recommend(u, train.items_of(u), &opts).unwrap(), top);
            }
        }
    }
}
