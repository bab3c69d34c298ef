//! The fitted [`Ease`] model: its weight matrix, file form, weighted scoring and the dense
//! batch path.

use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::hyperparams::{EaseParams, EaseValidParams};
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::model::{
    check_history, check_scores_len, recommend_with_buffer, select, Persist, RecOpts, Recommender,
    Scored,
};
use crate::{Error, Result};

/// Users scored per dense matrix product in [`Ease::recommend_batch`].
const BATCH_BLOCK: usize = 256;

/// Interaction density (nnz / (users × items)) from which [`Ease::recommend_batch`] switches
/// from per-user sparse row sums to dense products. On ML-1M (density 4.4 %) the sparse path
/// took 1.5 CPU s for all 6,040 users and the dense one 3.1 CPU s; the dense path costs
/// `users · items²` multiply-adds whatever the density, the sparse one `nnz · items` memory-bound
/// adds, about 11 times dearer each here, so they cross near 9 %.
pub const DENSE_BATCH_DENSITY: f64 = 0.10;

/// A fitted EASE model: the dense `items × items` matrix `B` (row-major, zero diagonal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "EaseRaw")]
pub struct Ease {
    pub(super) params: EaseValidParams,
    pub(super) n_items: usize,
    /// `b[i * n + j]`: how much having item `i` raises the score of item `j`.
    pub(super) b: Vec<f32>,
}

#[derive(Deserialize)]
struct EaseRaw {
    params: EaseValidParams,
    n_items: usize,
    b: Vec<f32>,
}

impl TryFrom<EaseRaw> for Ease {
    type Error = String;
    fn try_from(r: EaseRaw) -> std::result::Result<Self, String> {
        if r.n_items.checked_mul(r.n_items) != Some(r.b.len()) {
            return Err(format!(
                "EASE matrix has {} entries, expected {}²",
                r.b.len(),
                r.n_items
            ));
        }
        Ok(Ease {
            params: r.params,
            n_items: r.n_items,
            b: r.b,
        })
    }
}

impl Ease {
    /// Default parameters.
    pub fn params() -> EaseParams {
        EaseParams::default()
    }
    /// The parameters the model was fitted with.
    pub fn fitted_params(&self) -> &EaseValidParams {
        &self.params
    }
    /// Row `i` of `B`: the weights item `i` gives every item.
    pub fn weights_of(&self, item: ItemIdx) -> Option<&[f32]> {
        let i = item as usize;
        (i < self.n_items).then(|| &self.b[i * self.n_items..(i + 1) * self.n_items])
    }
    /// `recommend_batch` through dense products `X_block · B`, 256 users at a time.
    pub(super) fn recommend_dense(
        &self,
        users: &[UserIdx],
        data: &Interactions,
        opts: &RecOpts<'_>,
    ) -> Result<Vec<Vec<Scored>>> {
        let n = self.n_items;
        crate::model::check_candidates(opts, n)?;
        for &u in users {
            check_history(data.items_of(u), n)?;
        }
        let mut out = Vec::with_capacity(users.len());
        let block = BATCH_BLOCK.min(users.len()).max(1);
        let mut xb = vec![0f32; block * n];
        let mut scores = vec![0f32; block * n];
        for chunk in users.chunks(block) {
            let m = chunk.len();
            xb[..m * n].fill(0.0);
            for (r, &u) in chunk.iter().enumerate() {
                for &i in data.items_of(u) {
                    xb[r * n + i as usize] = 1.0;
                }
            }
            faer::linalg::matmul::matmul(
                MatMut::from_row_major_slice_mut(&mut scores[..m * n], m, n),
                Accum::Replace,
                MatRef::from_row_major_slice(&xb[..m * n], m, n),
                MatRef::from_row_major_slice(&self.b, n, n),
                1.0f32,
                Par::rayon(0),
            );
            let part: Result<Vec<Vec<Scored>>> = scores[..m * n]
                .par_chunks_mut(n.max(1))
                .zip(chunk.par_iter())
                .map(|(row, &u)| select(row, data.items_of(u), opts))
                .collect();
            out.extend(part?);
        }
        Ok(out)
    }

    /// Training memory in bytes for `n_items` (`12 · items²`), `None` on overflow.
    pub fn training_bytes(n_items: usize) -> Option<usize> {
        n_items.checked_mul(n_items)?.checked_mul(12)
    }

    /// Scores of every item for a history whose items weigh `weights[k]` each (1 without
    /// weights): `Σ_k weights[k] · B[history[k], j]`. [`Fresh`](crate::model::Fresh) weighs recent
    /// interactions higher this way.
    ///
    /// ```
    /// use recs::model::{Ease, Fit, Recommender};
    /// let train =
    ///     recs::data::Interactions::from_csr(3, vec![0, 2, 4], vec![0, 1, 1, 2], vec![1.0; 4], None)?;
    /// let ease = Ease::params().lambda(1.0).fit(&train)?;
    /// let (mut plain, mut doubled) = (vec![0.0; 3], vec![0.0; 3]);
    /// ease.score_into(0, &[0, 1], &mut plain)?;
    /// ease.score_weighted_into(&[0, 1], Some(&[2.0, 2.0]), &mut doubled)?;
    /// assert!(plain.iter().zip(&doubled).all(|(p, d)| (2.0 * p - d).abs() < 1e-6));
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownItem`] for an item out of range; [`Error::Data`] when `out` does not
    /// have one entry per item or `weights` one per history item.
    pub fn score_weighted_into(
        &self,
        history: &[ItemIdx],
        weights: Option<&[f32]>,
        out: &mut [f32],
    ) -> Result<()> {
        let n = self.n_items;
        check_history(history, n)?;
        check_weights(history, weights)?;
        check_scores_len(out, n)?;
        out.fill(0.0);
        for (k, &i) in history.iter().enumerate() {
            let a = weights.map_or(1.0, |w| w[k]);
            let row = &self.b[i as usize * n..(i as usize + 1) * n];
            for (o, w) in out.iter_mut().zip(row) {
                *o += a * w;
            }
        }
        Ok(())
    }

    /// [`score_weighted_into`](Self::score_weighted_into) for the given items only.
    ///
    /// # Errors
    /// As [`score_weighted_into`](Self::score_weighted_into).
    pub fn score_items_weighted(
        &self,
        history: &[ItemIdx],
        weights: Option<&[f32]>,
        items: &[ItemIdx],
    ) -> Result<Vec<f32>> {
        let n = self.n_items;
        check_history(history, n)?;
        check_history(items, n)?;
        check_weights(history, weights)?;
        let mut out = vec![0f32; items.len()];
        for (k, &i) in history.iter().enumerate() {
            let a = weights.map_or(1.0, |w| w[k]);
            let row = &self.b[i as usize * n..(i as usize + 1) * n];
            for (o, &j) in out.iter_mut().zip(items) {
                *o += a * row[j as usize];
            }
        }
        Ok(out)
    }
}

fn check_weights(history: &[ItemIdx], weights: Option<&[f32]>) -> Result<()> {
    match weights {
        Some(w) if w.len() != history.len() => Err(Error::Data(format!(
            "{} history weights for {} history items",
            w.len(),
            history.len()
        ))),
        _ => Ok(()),
    }
}

impl Recommender for Ease {
    fn kind(&self) -> &'static str {
        Self::KIND
    }
    fn n_items(&self) -> usize {
        self.n_items
    }
    /// The user is not part of the score, so any history scores as for a known user.
    fn score_history_into(&self, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        self.score_into(0, history, out)
    }
    fn score_into(&self, _user: UserIdx, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        self.score_weighted_into(history, None, out)
    }

    /// `Σ_{i ∈ history} B[i, j]` for the given items only (`|history| · |items|` reads).
    fn score_items(
        &self,
        _user: UserIdx,
        history: &[ItemIdx],
        items: &[ItemIdx],
    ) -> Result<Vec<f32>> {
        self.score_items_weighted(history, None, items)
    }

    /// Below [`DENSE_BATCH_DENSITY`] interactions per (user, item) cell, one sparse row sum per
    /// user (as [`Recommender::recommend`]) in parallel; above it, dense products
    /// `X_block · B` over blocks of 256 users (faer, rayon).
    fn recommend_batch(
        &self,
        users: &[UserIdx],
        data: &Interactions,
        opts: &RecOpts<'_>,
    ) -> Result<Vec<Vec<Scored>>> {
        let n = self.n_items;
        let nnz: usize = users.iter().map(|&u| data.items_of(u).len()).sum();
        let cells = users.len().max(1) as f64 * n.max(1) as f64;
        if (nnz as f64) < DENSE_BATCH_DENSITY * cells {
            return users
                .par_iter()
                .map_init(
                    || vec![0f32; n],
                    |buf, &u| recommend_with_buffer(self, u, data.items_of(u), opts, buf),
                )
                .collect();
        }
        self.recommend_dense(users, data, opts)
    }

    /// The items whose column of `B` gives the largest weights: `B[j, item]` is how much having
    /// `j` predicts `item`.
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let n = self.n_items;
        let c = item as usize;
        if c >= n {
            return Err(Error::UnknownItem(item as u64));
        }
        Ok(crate::model::top_k(
            (0..n)
                .filter(|&j| j != c)
                .map(|j| (j as ItemIdx, self.b[j * n + c])),
            k,
        ))
    }
}

impl Persist for Ease {
    const KIND: &'static str = "ease";
}
