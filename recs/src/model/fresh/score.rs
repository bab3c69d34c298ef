//! Scoring with [`Fresh`]: the base model's scores times the item weights, the history
//! weighted by recency.

use super::fit::{Fresh, RecencyRanks};
use crate::data::{ItemIdx, UserIdx};
use crate::model::{check_history, AnyModel, Ease, Persist, Recommender, Scored};
use crate::Result;

impl RecencyRanks {
    /// The rank of each history item: its training rank, 0 (newest) for an item the user did
    /// not rate in training and for a user the model has not seen.
    pub(super) fn of_history<'a>(
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

impl Fresh {
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
pub(super) fn reweight(s: f32, w: f32) -> f32 {
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
