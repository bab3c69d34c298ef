//! Training: the Gram matrix, its Cholesky factorization and inverse, and `B` from `P`.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::{MatMut, MatRef, Par};
use rayon::prelude::*;

use super::hyperparams::EaseParams;
use super::score::Ease;
use crate::data::Interactions;
use crate::model::gram::gram_dense;
use crate::model::{Fit, ParamGuard};
use crate::{Error, Result};

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
