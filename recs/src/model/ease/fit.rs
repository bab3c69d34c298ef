//! Training: the Gram matrix, its Cholesky factorization and inverse, and `B` from `P`.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::{MatMut, MatRef, Par};
use rayon::prelude::*;

use super::hyperparams::{EaseParams, EaseValidParams};
use super::score::Ease;
use crate::data::Interactions;
use crate::model::gram::gram_dense;
use crate::model::{Fit, ParamGuard};
use crate::{Error, Result};

impl EaseParams {
    /// `Ok` when fitting on `n_items` items fits in [`max_memory`](Self::max_memory), counting
    /// `extra` bytes the caller already holds (a shared Gram matrix).
    pub(crate) fn check_memory(&self, n_items: usize, extra: usize) -> Result<()> {
        let cap = self.check_ref()?.max_memory;
        let n = n_items;
        match Ease::training_bytes(n).and_then(|b| b.checked_add(extra)) {
            Some(need) if need <= cap => Ok(()),
            need => {
                Err(Error::Limit(format!(
                "EASE on {n} items needs {} MiB (12 · items² bytes{}), above the cap of {} MiB; \
                 raise `max_memory` or use ItemKnn",
                need.map_or("more than usize::MAX".to_string(), |b| (b >> 20).to_string()),
                if extra > 0 { ", plus the shared Gram matrix" } else { "" },
                cap >> 20
            )))
            }
        }
    }

    /// Fits from the Gram matrix `XᵀX` of the *binarized* training data (`n_items × n_items`,
    /// as [`gram_dense`] returns it), left unchanged: the `auto` searches compute it once and
    /// fit every λ from a copy, which saves one Gram product per candidate. The memory cap
    /// counts the caller's matrix too (`16 · items²` bytes in all).
    ///
    /// # Errors
    /// As [`fit`](Fit::fit); [`Error::Data`] when `gram` is not `n_items²` long.
    pub(crate) fn fit_gram(&self, gram: &[f32], n_items: usize) -> Result<Ease> {
        if n_items.checked_mul(n_items) != Some(gram.len()) {
            return Err(Error::Data(format!(
                "a Gram matrix of {} entries for {n_items} items",
                gram.len()
            )));
        }
        self.check_memory(n_items, std::mem::size_of_val(gram))?;
        fit_owned_gram(self.check_ref()?.clone(), gram.to_vec(), n_items)
    }
}

impl Fit for EaseParams {
    type Model = Ease;
    fn fit(&self, train: &Interactions) -> Result<Ease> {
        let p = self.check_ref()?.clone();
        let n = train.n_items();
        self.check_memory(n, 0)?;
        fit_owned_gram(p, gram_dense(&train.binarized()), n)
    }
}

/// EASE from its Gram matrix `g` (consumed: the Cholesky factor overwrites it).
fn fit_owned_gram(p: EaseValidParams, mut g: Vec<f32>, n: usize) -> Result<Ease> {
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
