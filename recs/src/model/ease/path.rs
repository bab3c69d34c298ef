//! EASE scores of a fixed set of users along a λ path, from one eigendecomposition of the Gram
//! matrix: what the `auto` λ search needs, without a Cholesky factorization per λ.
//!
//! With `G = XᵀX = V diag(d) Vᵀ`, `P(λ) = (G + λI)⁻¹ = V diag(1 / (d + λ)) Vᵀ`, so
//! `diag(P) = (V ∘ V) · (1 / (d + λ))` costs `items²` and, as `B = I − P diag(1 / diag(P))`,
//! a user's scores `x_u B = x_u − (x_u P) / diag(P)` (element-wise division) need
//! `x_u P = ((x_u V) diag(1 / (d + λ))) Vᵀ`. `X_val V` is computed once; each λ then costs one
//! product `(users × items) · (items × items)` and `items²` for the diagonal.
//!
//! Only for EASE without dropout: dropout's `Λ = λI + p/(1−p) diag(G)` is not a multiple of the
//! identity, so `G + Λ` does not share `G`'s eigenvectors.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::{Accum, ColMut, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::data::ItemIdx;
use crate::model::ParamGuard;
use crate::{Error, Result};

/// Users scored per matrix product in [`EigenPath::map_scores`].
const BLOCK: usize = 256;

/// One eigendecomposition of a Gram matrix and the users' `X V`, ready to score any λ.
pub(crate) struct EigenPath {
    n: usize,
    /// Eigenvalues `d_k` of `G`.
    d: Vec<f32>,
    /// `V` row-major: `v[j * n + k] = V[j, k]`, eigenvector `k` in column `k`.
    v: Vec<f32>,
    /// The users' histories (items sorted or not; each listed once).
    histories: Vec<Vec<ItemIdx>>,
    /// `X V` row-major, one row per history.
    xv: Vec<f32>,
}

impl EigenPath {
    /// Bytes [`EigenPath::new`] holds at its peak for `n` items and `users` histories, the
    /// caller's Gram matrix included: the Gram matrix, the eigenvectors (column-major, then
    /// transposed), the decomposition's workspace, `X V`, one block of scores.
    pub(crate) fn peak_bytes(n: usize, users: usize) -> Option<usize> {
        let scratch = self_adjoint_evd_scratch::<f32>(
            n,
            ComputeEigenvectors::Yes,
            Par::rayon(0),
            Default::default(),
        )
        .size_bytes();
        let nn = n.checked_mul(n)?.checked_mul(4)?;
        let rows = users.checked_add(BLOCK)?.checked_mul(n)?.checked_mul(4)?;
        nn.checked_mul(3)?.checked_add(scratch)?.checked_add(rows)
    }

    /// Decomposes `gram` (`n × n`, symmetric, consumed) and computes `X V` for `histories`.
    ///
    /// # Errors
    /// [`Error::Data`] when `gram` is not `n²` long or a history item is out of range;
    /// [`Error::Numerical`] when the decomposition does not converge.
    pub(crate) fn new(gram: Vec<f32>, n: usize, histories: Vec<Vec<ItemIdx>>) -> Result<Self> {
        if n.checked_mul(n) != Some(gram.len()) {
            return Err(Error::Data(format!(
                "a Gram matrix of {} entries for {n} items",
                gram.len()
            )));
        }
        if let Some(&i) = histories.iter().flatten().find(|&&i| i as usize >= n) {
            return Err(Error::UnknownItem(i as u64));
        }
        let par = Par::rayon(0);
        let mut d = vec![0f32; n];
        // column-major V: vcol[k * n + j] = V[j, k]
        let mut vcol = vec![0f32; n * n];
        {
            let mut buf = MemBuffer::new(self_adjoint_evd_scratch::<f32>(
                n,
                ComputeEigenvectors::Yes,
                par,
                Default::default(),
            ));
            self_adjoint_evd(
                MatRef::from_column_major_slice(&gram, n, n),
                ColMut::from_slice_mut(&mut d).as_diagonal_mut(),
                Some(MatMut::from_column_major_slice_mut(&mut vcol, n, n)),
                par,
                MemStack::new(&mut buf),
                Default::default(),
            )
            .map_err(|e| Error::Numerical(format!("eigendecomposition of XᵀX failed: {e:?}")))?;
        }
        drop(gram);
        let mut v = vec![0f32; n * n];
        v.par_chunks_mut(n.max(1)).enumerate().for_each(|(j, row)| {
            for (k, x) in row.iter_mut().enumerate() {
                *x = vcol[k * n + j];
            }
        });
        drop(vcol);
        // X V: row u is the sum of V's rows of u's items (|history| · n adds per user)
        let mut xv = vec![0f32; histories.len() * n];
        xv.par_chunks_mut(n.max(1))
            .zip(histories.par_iter())
            .for_each(|(row, h)| {
                for &i in h {
                    let vi = &v[i as usize * n..(i as usize + 1) * n];
                    for (x, y) in row.iter_mut().zip(vi) {
                        *x += y;
                    }
                }
            });
        Ok(EigenPath {
            n,
            d,
            v,
            histories,
            xv,
        })
    }

    /// For each history `u` (in order), `f(u, scores)` with `scores = x_u B(λ)` (EASE without
    /// dropout at this λ; the buffer is the callee's scratch). Results in history order.
    ///
    /// # Errors
    /// [`Error::Numerical`] when some `d_k + λ ≤ 0` (λ not above `−min d`) or the scores are not
    /// finite; `f`'s errors.
    pub(crate) fn map_scores<T: Send>(
        &self,
        lambda: f32,
        f: impl Fn(usize, &mut [f32]) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        let n = self.n;
        let w: Vec<f32> = self.d.iter().map(|&d| 1.0 / (d + lambda)).collect();
        if self.d.iter().any(|&d| d + lambda <= 0.0) {
            return Err(Error::Numerical(format!(
                "λ = {lambda} does not make XᵀX + λI positive definite"
            )));
        }
        // diag(P)_j = Σ_k V[j, k]² w_k; B's column j is divided by it
        let inv_diag: Vec<f32> = self
            .v
            .par_chunks(n.max(1))
            .map(|row| 1.0 / row.iter().zip(&w).map(|(x, w)| x * x * w).sum::<f32>())
            .collect();
        if inv_diag.iter().any(|x| !x.is_finite()) {
            return Err(Error::Numerical(format!(
                "EASE at λ = {lambda}: diag((XᵀX + λI)⁻¹) is not finite"
            )));
        }
        let m = self.histories.len();
        let block = BLOCK.min(m).max(1);
        let mut scaled = vec![0f32; block * n];
        let mut scores = vec![0f32; block * n];
        let mut out = Vec::with_capacity(m);
        for start in (0..m).step_by(block) {
            let rows = block.min(m - start);
            // (X V) diag(w), then times Vᵀ: X P for this block
            scaled[..rows * n]
                .par_chunks_mut(n.max(1))
                .zip(self.xv[start * n..(start + rows) * n].par_chunks(n.max(1)))
                .for_each(|(s, x)| {
                    for ((s, x), w) in s.iter_mut().zip(x).zip(&w) {
                        *s = x * w;
                    }
                });
            faer::linalg::matmul::matmul(
                MatMut::from_row_major_slice_mut(&mut scores[..rows * n], rows, n),
                Accum::Replace,
                MatRef::from_row_major_slice(&scaled[..rows * n], rows, n),
                MatRef::from_row_major_slice(&self.v, n, n).transpose(),
                1.0f32,
                Par::rayon(0),
            );
            let part: Result<Vec<T>> = scores[..rows * n]
                .par_chunks_mut(n.max(1))
                .enumerate()
                .map(|(r, row)| {
                    // x_u B = x_u − (x_u P) / diag(P)
                    for (s, d) in row.iter_mut().zip(&inv_diag) {
                        *s = -*s * d;
                    }
                    for &i in &self.histories[start + r] {
                        row[i as usize] += 1.0;
                    }
                    if row.iter().any(|s| !s.is_finite()) {
                        return Err(Error::Numerical(format!(
                            "EASE scores at λ = {lambda} are not finite (λ too small for f32?)"
                        )));
                    }
                    f(start + r, row)
                })
                .collect();
            out.extend(part?);
        }
        Ok(out)
    }
}

impl super::EaseParams {
    /// `Ok` when [`EigenPath::new`] for `n_items` items and `users` histories fits in
    /// [`max_memory`](super::EaseParams::max_memory).
    pub(crate) fn check_path_memory(&self, n_items: usize, users: usize) -> Result<()> {
        let cap = self.check_ref()?.max_memory;
        match EigenPath::peak_bytes(n_items, users) {
            Some(need) if need <= cap => Ok(()),
            need => Err(Error::Limit(format!(
                "the EASE λ path on {n_items} items and {users} validation users needs {} MiB \
                 (the Gram matrix, its eigenvectors and workspace, the users' scores), above the \
                 cap of {} MiB; raise `max_memory` or give λ",
                need.map_or("more than usize::MAX".to_string(), |b| (b >> 20)
                    .to_string()),
                cap >> 20
            ))),
        }
    }
}
