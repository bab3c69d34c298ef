//! EASE^R (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): a dense
//! item-item weight matrix in closed form,
//! `B = I − P · diag(1 / diag(P))` with `P = (XᵀX + Λ)⁻¹`, so that `diag(B) = 0`.
//!
//! `X` is the binarized interaction matrix and `Λ = λ I` (plus, with
//! [`dropout`](EaseParams::dropout), `p / (1 − p) · diag(XᵀX)`, the dropout-denoising
//! regularizer of Steck 2020, EDLAE). A user's scores are `x_u · B`.
//!
//! # Memory
//! Training holds three `items × items` `f32` buffers at its peak (the Gram matrix and its
//! Cholesky factor in place, the inverse of the factor, and `P`), that is `12 · items²` bytes:
//! 165 MB for 3,706 items (ML-1M), 1.2 GB for 10,000, 4.8 GB for 20,000. The model keeps one
//! (`4 · items²` bytes). [`max_memory`](EaseParams::max_memory) caps the peak; above it `fit`
//! fails with [`Error::Limit`] before allocating anything.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::gram::gram_dense;
use super::{
    check_history, check_scores_len, recommend_with_buffer, select, Fit, ParamGuard, Persist,
    RecOpts, Recommender, Scored,
};
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::{Error, Result};

/// Default cap on EASE's training memory: 4 GiB (about 18,900 items).
pub const EASE_DEFAULT_MAX_MEMORY: usize = 4 << 30;

/// Users scored per dense matrix product in [`Ease::recommend_batch`].
const BATCH_BLOCK: usize = 256;

/// Interaction density (nnz / (users × items)) from which [`Ease::recommend_batch`] switches
/// from per-user sparse row sums to dense products. On ML-1M (density 4.4 %) the sparse path
/// took 1.5 CPU s for all 6,040 users and the dense one 3.1 CPU s; the dense path costs
/// `users · items²` multiply-adds whatever the density, the sparse one `nnz · items` memory-bound
/// adds, about 11 times dearer each here, so they cross near 9 %.
pub const DENSE_BATCH_DENSITY: f64 = 0.10;

/// Parameters of [`Ease`]. Build with [`Ease::params`].
///
/// ```
/// use recs::model::{Ease, Fit, RecOpts, Recommender};
/// use recs::data::{Interactions, Record};
/// // items 0 and 1 always go together; user 2 has only item 0
/// let recs = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 2)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(4, 3, &recs, Default::default())?;
/// let model = Ease::params().lambda(0.5).fit(&train)?;
/// let top = model.recommend(2, train.items_of(2), &RecOpts { k: 1, ..Default::default() })?;
/// assert_eq!(top[0].item, 1);
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EaseParams(EaseValidParams);

/// Validated [`EaseParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EaseValidParams {
    lambda: f32,
    dropout: f32,
    max_memory: usize,
}

impl Default for EaseParams {
    fn default() -> Self {
        EaseParams(EaseValidParams {
            lambda: 1200.0,
            dropout: 0.0,
            max_memory: EASE_DEFAULT_MAX_MEMORY,
        })
    }
}

impl EaseParams {
    /// L2 regularization λ added to the diagonal of `XᵀX`. Default 1200.0; must be finite and > 0.
    ///
    /// Chosen on validation splits carved from the ML-1M NCF training data. Holding out each of
    /// users 1–2999's latest training rating (as the test protocol holds out the latest rating),
    /// HR@10 full ranking / sampled negatives: λ = 200 0.120 / 0.708, 300 0.117 / 0.719,
    /// 500 (the usual choice) 0.116 / 0.737, 800 0.116 / 0.743, 1200 0.118 / 0.749
    /// (± 0.006 / 0.008): full ranking is flat, sampled negatives favour 1200. Holding out each
    /// user's last training line instead, full-ranking HR@10 peaks at 1200 too (0.112, against
    /// 0.108 at 500). Sparser data or larger catalogues usually want another λ: tune it.
    /// Re-checked with `examples/tune.rs` (users 1–2999's latest training rating held out):
    /// λ = 500 0.116 / 0.739, 1200 0.118 / 0.754, 2000 0.116 / 0.751 (full / sampled HR@10).
    pub fn lambda(mut self, l: f32) -> Self {
        self.0.lambda = l;
        self
    }
    /// Dropout-style regularization `p`: adds `p / (1 − p) · (XᵀX)_ii` to the diagonal, which
    /// regularizes popular items more (EDLAE). Default 0.0 (plain EASE); must be in `[0, 1)`.
    /// On the ML-1M validation splits 0.1–0.4 changed HR@10 by less than its noise.
    /// (Re-checked: 0.2 at λ = 1200 gave 0.119 / 0.755 against 0.118 / 0.754.)
    pub fn dropout(mut self, p: f32) -> Self {
        self.0.dropout = p;
        self
    }
    /// Cap in bytes on training memory (`12 · items²`). Default
    /// [`EASE_DEFAULT_MAX_MEMORY`] (4 GiB); must be ≥ 1.
    pub fn max_memory(mut self, bytes: usize) -> Self {
        self.0.max_memory = bytes;
        self
    }
}

impl EaseValidParams {
    /// λ.
    pub fn lambda(&self) -> f32 {
        self.lambda
    }
    /// Dropout-style regularization.
    pub fn dropout(&self) -> f32 {
        self.dropout
    }
    /// Training memory cap in bytes.
    pub fn max_memory(&self) -> usize {
        self.max_memory
    }
}

impl ParamGuard for EaseParams {
    type Checked = EaseValidParams;
    fn check_ref(&self) -> Result<&Self::Checked> {
        let p = &self.0;
        if !(p.lambda.is_finite() && p.lambda > 0.0) {
            return Err(Error::param("lambda", "a finite number > 0", p.lambda));
        }
        if !(0.0..1.0).contains(&p.dropout) {
            return Err(Error::param("dropout", "a number in [0, 1)", p.dropout));
        }
        if p.max_memory == 0 {
            return Err(Error::param("max_memory", "a byte count ≥ 1", p.max_memory));
        }
        Ok(p)
    }
    fn check(self) -> Result<Self::Checked> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// A fitted EASE model: the dense `items × items` matrix `B` (row-major, zero diagonal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "EaseRaw")]
pub struct Ease {
    params: EaseValidParams,
    n_items: usize,
    /// `b[i * n + j]`: how much having item `i` raises the score of item `j`.
    b: Vec<f32>,
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
    fn recommend_dense(
        &self,
        users: &[UserIdx],
        data: &Interactions,
        opts: &RecOpts<'_>,
    ) -> Result<Vec<Vec<Scored>>> {
        let n = self.n_items;
        if let Some(&bad) = opts
            .candidates
            .and_then(|c| c.iter().find(|&&i| i as usize >= n))
        {
            return Err(Error::UnknownItem(bad as u64));
        }
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
    /// weights): `Σ_k weights[k] · B[history[k], j]`. [`Fresh`](super::Fresh) weighs recent
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

impl Fit for EaseParams {
    type Model = Ease;
    fn fit(&self, train: &Interactions) -> Result<Ease> {
        let p = self.check_ref()?.clone();
        let n = train.n_items();
        match Ease::training_bytes(n) {
            Some(need) if need <= p.max_memory => {}
            need => {
                return Err(Error::Limit(format!(
                    "EASE on {n} items needs {} MiB (12 · items² bytes), above the cap of {} MiB; \
                     raise `max_memory` or use ItemKnn",
                    need.map_or("more than usize::MAX".to_string(), |b| (b >> 20)
                        .to_string()),
                    p.max_memory >> 20
                )))
            }
        }
        let mut g = gram_dense(&train.binarized());
        let boost = p.dropout / (1.0 - p.dropout);
        for i in 0..n {
            let d = &mut g[i * n + i];
            *d += p.lambda + boost * *d;
        }
        let par = Par::rayon(0);
        // Cholesky in place (lower triangle), then P = L⁻ᵀ L⁻¹ into a second buffer (lower triangle).
        let mut stack_buf = MemBuffer::new(
            llt::factor::cholesky_in_place_scratch::<f32>(n, par, Default::default())
                .or(llt::inverse::inverse_scratch::<f32>(n, par)),
        );
        let stack = MemStack::new(&mut stack_buf);
        llt::factor::cholesky_in_place(
            MatMut::from_column_major_slice_mut(&mut g, n, n),
            Default::default(),
            par,
            stack,
            Default::default(),
        )
        .map_err(|e| Error::Numerical(format!("Cholesky of XᵀX + λI failed: {e}")))?;
        let mut pm = vec![0f32; n * n];
        llt::inverse::inverse(
            MatMut::from_column_major_slice_mut(&mut pm, n, n),
            MatRef::from_column_major_slice(&g, n, n),
            par,
            stack,
        );
        drop(g);
        drop(stack_buf);
        // Mirror the lower triangle: pm[c * n + r] holds P[r, c] for r ≥ c.
        for c in 0..n {
            for r in c + 1..n {
                pm[r * n + c] = pm[c * n + r];
            }
        }
        // P is symmetric, so its column-major buffer is also row-major. B[i, j] = -P[i, j] / P[j, j].
        let inv_diag: Vec<f32> = (0..n).map(|j| 1.0 / pm[j * n + j]).collect();
        pm.par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(i, row)| {
                for (v, d) in row.iter_mut().zip(&inv_diag) {
                    *v = -*v * d;
                }
                row[i] = 0.0;
            });
        if pm.iter().any(|v| !v.is_finite()) {
            return Err(Error::Numerical(
                "EASE weights are not finite (λ too small for f32?)".into(),
            ));
        }
        Ok(Ease {
            params: p,
            n_items: n,
            b: pm,
        })
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
        Ok(super::top_k(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{from_bytes, to_bytes};
    use proptest::prelude::*;

    fn matrix(pairs: &[(u32, u32)], n_users: usize, n_items: usize) -> Interactions {
        Interactions::from_pairs(n_users, n_items, pairs)
    }

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<EaseParams>();
        has::<EaseValidParams>();
        has::<Ease>();
    }

    #[test]
    fn rejects_out_of_range_params() {
        let x = Interactions::empty(1, 2);
        let name = |r: Result<Ease>| match r {
            Err(Error::InvalidParam { name, .. }) => name,
            other => panic!("expected InvalidParam, got {other:?}"),
        };
        assert_eq!(name(Ease::params().lambda(0.0).fit(&x)), "lambda");
        assert_eq!(name(Ease::params().lambda(f32::NAN).fit(&x)), "lambda");
        assert_eq!(name(Ease::params().dropout(1.0).fit(&x)), "dropout");
        assert_eq!(name(Ease::params().dropout(-0.1).fit(&x)), "dropout");
        assert_eq!(name(Ease::params().max_memory(0).fit(&x)), "max_memory");
        assert!(Ease::params().lambda(1e-3).dropout(0.99).fit(&x).is_ok());
    }

    #[test]
    fn tiny_catalogues_work() {
        for n_items in 0..3 {
            let x = Interactions::empty(2, n_items);
            let m = Ease::params().fit(&x).unwrap();
            assert_eq!(m.n_items(), n_items);
            let all = m
                .recommend_batch(&[0, 1, 5], &x, &RecOpts::default())
                .unwrap();
            assert!(all.iter().all(|l| l.len() == n_items.min(10)));
            let back: Ease = from_bytes(&to_bytes(&m).unwrap()).unwrap();
            assert_eq!(back, m);
        }
    }

    #[test]
    fn memory_cap_is_a_limit_error() {
        let x = Interactions::empty(1, 100);
        // 12 · 100² = 120,000 bytes
        assert!(Ease::params().max_memory(120_000).fit(&x).is_ok());
        assert!(matches!(
            Ease::params().max_memory(119_999).fit(&x),
            Err(Error::Limit(_))
        ));
        assert!(Ease::training_bytes(usize::MAX).is_none());
    }

    /// Two items always taken together: G = [[2, 2], [2, 2]], λ = 1 gives
    /// P = [[3, 2], [2, 3]]⁻¹ = [[3, -2], [-2, 3]] / 5, so B[0, 1] = -P01 / P11 = 2/3.
    #[test]
    fn two_item_closed_form() {
        let x = matrix(&[(0, 0), (0, 1), (1, 0), (1, 1)], 2, 2);
        let m = Ease::params().lambda(1.0).fit(&x).unwrap();
        assert_eq!(m.weights_of(0).unwrap()[0], 0.0);
        assert!((m.weights_of(0).unwrap()[1] - 2.0 / 3.0).abs() < 1e-6);
        assert!((m.weights_of(1).unwrap()[0] - 2.0 / 3.0).abs() < 1e-6);
        // dropout 0.5 adds G_ii = 2 more: P = [[5, 2], [2, 5]]⁻¹, B01 = 2/5
        let m = Ease::params().lambda(1.0).dropout(0.5).fit(&x).unwrap();
        assert!((m.weights_of(0).unwrap()[1] - 0.4).abs() < 1e-6);
    }

    /// B solves the EASE normal equations column by column: for j, (G + λI) b_j = G e_j off the
    /// diagonal constraint, i.e. (G + λI) B = G − diag(μ) for some μ (Steck 2019, eq. 5–8).
    #[test]
    fn satisfies_the_constrained_normal_equations() {
        let pairs: Vec<(u32, u32)> = (0..40u32)
            .flat_map(|u| {
                (0..7u32)
                    .filter(move |i| (u * 7 + i * 3) % 5 < 2)
                    .map(move |i| (u, i))
            })
            .collect();
        let x = matrix(&pairs, 40, 7);
        let lambda = 3.0;
        let m = Ease::params().lambda(lambda).fit(&x).unwrap();
        let g = gram_dense(&x);
        let n = 7;
        for j in 0..n {
            for i in 0..n {
                let lhs: f32 = (0..n)
                    .map(|k| (g[i * n + k] + if i == k { lambda } else { 0.0 }) * m.b[k * n + j])
                    .sum();
                if i != j {
                    assert!(
                        (lhs - g[i * n + j]).abs() < 1e-3,
                        "({i},{j}) {lhs} vs {}",
                        g[i * n + j]
                    );
                }
            }
            assert_eq!(m.b[j * n + j], 0.0);
        }
    }

    #[test]
    fn damaged_model_is_refused() {
        let x = matrix(&[(0, 0), (0, 1)], 1, 2);
        let mut m = Ease::params().fit(&x).unwrap();
        m.b.pop();
        assert!(matches!(
            from_bytes::<Ease>(&to_bytes(&m).unwrap()),
            Err(Error::Format(_))
        ));
    }

    proptest! {
        #[test]
        fn batch_equals_single_and_round_trips(
            pairs in prop::collection::vec((0u32..9, 0u32..11), 1..80),
            exclude in prop::collection::vec(0u32..11, 0..4),
            k in 1usize..13,
            lambda in 0.1f32..50.0,
        ) {
            let train = matrix(&pairs, 9, 11);
            let model = Ease::params().lambda(lambda).fit(&train).unwrap();
            let back: Ease = from_bytes(&to_bytes(&model).unwrap()).unwrap();
            prop_assert_eq!(&back, &model);
            let opts = RecOpts { k, exclude: Some(&exclude), ..RecOpts::default() };
            let users: Vec<u32> = (0..9).collect();
            let batch = model.recommend_batch(&users, &train, &opts).unwrap();
            let dense = model.recommend_dense(&users, &train, &opts).unwrap();
            for u in 0..9u32 {
                let top = model.recommend(u, train.items_of(u), &opts).unwrap();
                prop_assert_eq!(dense[u as usize].len(), top.len());
                for (a, b) in dense[u as usize].iter().zip(&top) {
                    prop_assert!((a.score - b.score).abs() < 1e-4);
                    prop_assert!(!train.items_of(u).contains(&a.item));
                    prop_assert!(!exclude.contains(&a.item));
                }
                prop_assert_eq!(batch[u as usize].len(), top.len());
                for (a, b) in batch[u as usize].iter().zip(&top) {
                    prop_assert!((a.score - b.score).abs() < 1e-4);
                    prop_assert!(!train.items_of(u).contains(&a.item));
                    prop_assert!(!exclude.contains(&a.item));
                }
                let sim = model.similar_items(u, k).unwrap();
                prop_assert!(sim.len() <= k && sim.iter().all(|s| s.item != u));
            }
        }
    }
}
