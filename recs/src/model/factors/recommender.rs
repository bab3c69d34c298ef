//! The one [`Recommender`] of the factor models, over the [`FactorModel`] each supplies.

use std::borrow::Cow;

use super::select::{recommend_batch, select_fast, similar_by_cosine};
use super::simd::dots_into;
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::model::{
    check_candidates, check_history, check_items, check_scores_len, Persist, RecOpts, Recommender,
    Scored,
};
use crate::{Error, Result};

/// A fitted factor model's matrices, borrowed: a score is the dot product of a user row and an
/// item row.
pub(crate) struct FactorView<'a> {
    /// User rows, row-major `n_users × width`.
    pub(crate) users: &'a [f32],
    /// Item rows, row-major `n_items × width`.
    pub(crate) items: &'a [f32],
    pub(crate) n_users: usize,
    pub(crate) n_items: usize,
    /// Columns of both matrices (the latent factors plus any bias columns).
    pub(crate) width: usize,
    /// The leading columns that are latent factors (biases excluded): what item similarity
    /// compares.
    pub(crate) latent: usize,
}

/// What a matrix-factorization model supplies to get the shared [`Recommender`] (as
/// `implicit`'s `MatrixFactorizationBase`): its matrices and how it folds in a user outside
/// the fitted ones. Everything else (scoring, the fast exact top-k, blocked batch scoring,
/// cosine item similarity) is the same for ALS and BPR and written once, below.
pub(crate) trait FactorModel: Persist {
    /// The fitted matrices.
    fn view(&self) -> FactorView<'_>;

    /// A user row learned from a non-empty `history` with the item factors fixed.
    ///
    /// # Errors
    /// [`Error::UnknownItem`] for an item outside the model, or the model's own fold-in errors.
    fn fold_in(&self, history: &[ItemIdx]) -> Result<Vec<f32>>;

    /// The stored row of a fitted user (after checking `history`), or a folded-in row for an
    /// unknown one with a history.
    fn row_for(&self, user: UserIdx, history: &[ItemIdx]) -> Result<Cow<'_, [f32]>> {
        let v = self.view();
        let u = user as usize;
        if u < v.n_users {
            check_history(history, v.n_items)?;
            Ok(Cow::Borrowed(&v.users[u * v.width..(u + 1) * v.width]))
        } else if history.is_empty() {
            Err(Error::UnknownUser(user as u64))
        } else {
            Ok(Cow::Owned(self.fold_in(history)?))
        }
    }

    /// Scores every item for a user row of width `view().width`.
    fn score_row_into(&self, row: &[f32], out: &mut [f32]) -> Result<()> {
        let v = self.view();
        check_scores_len(out, v.n_items)?;
        dots_into(row, v.items, v.width, out);
        Ok(())
    }
}

impl<M: FactorModel> Recommender for M {
    fn kind(&self) -> &'static str {
        M::KIND
    }
    fn n_items(&self) -> usize {
        self.view().n_items
    }
    /// Scores with the fitted user's row, or, for a user outside the fitted ones, with a row
    /// folded in from `history`.
    fn score_into(&self, user: UserIdx, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        let row = self.row_for(user, history)?;
        self.score_row_into(&row, out)
    }
    /// Folds the history in with the item factors fixed ([`Als::recalculate_user`] with
    /// default values, [`Bpr::recalculate_user`]).
    ///
    /// [`Als::recalculate_user`]: crate::model::Als::recalculate_user
    /// [`Bpr::recalculate_user`]: crate::model::Bpr::recalculate_user
    fn score_history_into(&self, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        if history.is_empty() {
            return Err(Error::UnknownUser(u64::from(UserIdx::MAX)));
        }
        let row = self.fold_in(history)?;
        self.score_row_into(&row, out)
    }
    /// Dot products with the requested item rows only.
    fn score_items(
        &self,
        user: UserIdx,
        history: &[ItemIdx],
        items: &[ItemIdx],
    ) -> Result<Vec<f32>> {
        let v = self.view();
        check_items(items, v.n_items)?;
        let row = self.row_for(user, history)?;
        let w = v.width;
        let rows: Vec<f32> = items
            .iter()
            .flat_map(|&i| &v.items[i as usize * w..(i as usize + 1) * w])
            .copied()
            .collect();
        let mut out = vec![0f32; items.len()];
        dots_into(&row, &rows, w, &mut out);
        Ok(out)
    }
    /// As the provided method, with the faster exact top-k of the batch path.
    fn recommend(
        &self,
        user: UserIdx,
        history: &[ItemIdx],
        opts: &RecOpts<'_>,
    ) -> Result<Vec<Scored>> {
        let n_items = self.view().n_items;
        check_candidates(opts, n_items)?;
        let mut buf = vec![0f32; n_items];
        self.score_into(user, history, &mut buf)?;
        select_fast(&mut buf, history, opts)
    }
    /// Scores blocks of users as one matrix product `U_block · Vᵀ` (faer), then filters and
    /// selects each row as [`recommend`](Recommender::recommend) does. Scores may differ from
    /// `recommend`'s in the last bits (different summation order).
    fn recommend_batch(
        &self,
        users: &[UserIdx],
        data: &Interactions,
        opts: &RecOpts<'_>,
    ) -> Result<Vec<Vec<Scored>>> {
        let v = self.view();
        recommend_batch(v.items, v.width, users, data, opts, |u, h| {
            self.row_for(u, h)
        })
    }
    /// Cosine similarity of the latent item factors (biases excluded).
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let v = self.view();
        similar_by_cosine(v.items, v.width, v.latent, item, k)
    }
}
