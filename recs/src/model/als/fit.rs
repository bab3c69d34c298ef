//! Fitting: the per-row least-squares solvers (conjugate gradient and Cholesky) and the
//! alternating loop.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::matmul;
use faer::{Accum, Conj, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::data::Interactions;
use crate::model::factors::{dispatch, gram, matrix_len, random_matrix, Isa, SimdFn};
use crate::model::{Fit, ParamGuard};
use crate::{Error, Result};

use super::hyperparams::*;
use super::score::*;

/// Scale of the uniform factor initialisation `U(−s, s)`, `s = INIT_SCALE / √k`.
pub(super) const INIT_SCALE: f32 = 0.1;
/// Conjugate gradient stops when the squared residual norm falls below this (as `implicit`).
pub(super) const CG_EPS: f32 = 1e-20;

// ---------------------------------------------------------------------------------------------
// Per-row least squares

/// How observed entries weigh in a row's normal equations.
#[derive(Clone, Copy)]
pub(super) enum Weights<'a> {
    /// `A += alpha·r · y yᵀ`, `b += (1 + alpha·r) · y` for `r > 0`.
    Implicit { alpha: f32 },
    /// `A += y yᵀ`, `b += (r − μ − bias_j) · y`.
    Explicit { mu: f32, bias: &'a [f32] },
}

impl Weights<'_> {
    /// `(w, β)`: the entry adds `w·y yᵀ` to the normal matrix and `β·y` to the right side.
    #[inline(always)]
    pub(super) fn of(&self, j: usize, r: f32) -> (f32, f32) {
        match *self {
            Weights::Implicit { alpha } => {
                if r > 0.0 {
                    (alpha * r, 1.0 + alpha * r)
                } else {
                    (0.0, 0.0)
                }
            }
            Weights::Explicit { mu, bias } => (1.0, r - mu - bias[j]),
        }
    }
}

/// One half-step of ALS: the fixed side's matrix and how to weigh a row's entries.
pub(super) struct Side<'a> {
    /// Fixed factors, `n_fixed × d` row-major.
    pub(super) fixed: &'a [f32],
    pub(super) d: usize,
    /// `FᵀF` (`d × d`) for implicit feedback; `None` for explicit.
    pub(super) gram: Option<&'a [f32]>,
    pub(super) weights: Weights<'a>,
    pub(super) reg: f32,
    pub(super) nu: f32,
    pub(super) n_fixed: usize,
}

impl<'a> Side<'a> {
    pub(super) fn new(
        p: &AlsValidParams,
        fixed: &'a [f32],
        d: usize,
        gram: Option<&'a [f32]>,
        weights: Weights<'a>,
        n_fixed: usize,
    ) -> Self {
        Side {
            fixed,
            d,
            gram,
            weights,
            reg: p.regularization,
            nu: p.reg_exponent,
            n_fixed,
        }
    }

    /// `λ_row = λ · W^ν`.
    pub(super) fn row_reg(&self, vals: &[f32]) -> f32 {
        if self.nu == 0.0 {
            return self.reg;
        }
        let total = match self.weights {
            Weights::Implicit { alpha } => {
                self.n_fixed as f32 + alpha * vals.iter().map(|v| v.max(0.0)).sum::<f32>()
            }
            Weights::Explicit { .. } => vals.len() as f32,
        };
        self.reg * total.max(1.0).powf(self.nu)
    }

    #[inline(always)]
    pub(super) fn row(&self, j: u32) -> &[f32] {
        let j = j as usize;
        &self.fixed[j * self.d..(j + 1) * self.d]
    }

    /// `out = (G + λI) v`.
    #[inline(always)]
    pub(super) fn apply_dense<I: Isa>(
        &self,
        isa: I,
        all: &[u32],
        v: &[f32],
        lam: f32,
        out: &mut [f32],
    ) {
        match self.gram {
            Some(g) => {
                isa.dots_rows(g, self.d, all, v, out);
                for (o, vi) in out.iter_mut().zip(v) {
                    *o = isa.fmadd(lam, *vi, *o);
                }
            }
            None => {
                for (o, vi) in out.iter_mut().zip(v) {
                    *o = lam * vi;
                }
            }
        }
    }
}

/// Per-thread buffers.
pub(super) struct Scratch {
    pub(super) r: Vec<f32>,
    pub(super) p: Vec<f32>,
    pub(super) ap: Vec<f32>,
    /// `0..d`, the rows of the Gram matrix.
    pub(super) all: Vec<u32>,
    /// Per-entry buffers of a row: weights `w`, right-side factors `β`, dot products, coefficients.
    pub(super) w: Vec<f32>,
    pub(super) beta: Vec<f32>,
    pub(super) t: Vec<f32>,
    pub(super) coef: Vec<f32>,
    /// The entries with a non-zero weight and their weights (when some weights are zero).
    pub(super) widx: Vec<u32>,
    pub(super) wval: Vec<f32>,
    pub(super) a: Vec<f32>,
    pub(super) gather: Vec<f32>,
    pub(super) mem: MemBuffer,
}

impl Scratch {
    pub(super) fn new(d: usize) -> Self {
        Scratch {
            r: vec![0.0; d],
            p: vec![0.0; d],
            ap: vec![0.0; d],
            all: (0..d as u32).collect(),
            w: Vec::new(),
            beta: Vec::new(),
            t: Vec::new(),
            coef: Vec::new(),
            widx: Vec::new(),
            wval: Vec::new(),
            a: vec![0.0; d * d],
            gather: Vec::new(),
            mem: MemBuffer::new(llt::factor::cholesky_in_place_scratch::<f32>(
                d,
                Par::Seq,
                Default::default(),
            )),
        }
    }
}

/// `steps` conjugate-gradient steps on one row's normal equations, warm-started from `x`.
pub(super) struct CgRow<'a, 'b> {
    pub(super) side: &'a Side<'a>,
    pub(super) idx: &'a [u32],
    pub(super) vals: &'a [f32],
    pub(super) x: &'b mut [f32],
    pub(super) steps: usize,
    pub(super) s: &'b mut Scratch,
}

impl SimdFn for CgRow<'_, '_> {
    type Out = ();
    #[inline(always)]
    fn call<I: Isa>(self, isa: I) {
        let CgRow {
            side,
            idx,
            vals,
            x,
            steps,
            s,
        } = self;
        if idx.is_empty() {
            x.fill(0.0);
            return;
        }
        let lam = side.row_reg(vals);
        let (n, d) = (idx.len(), side.d);
        let Scratch {
            r,
            p,
            ap,
            all,
            w,
            beta,
            t,
            coef,
            widx,
            wval,
            ..
        } = s;
        w.clear();
        beta.clear();
        let mut weighted = 0;
        for (&j, &val) in idx.iter().zip(vals) {
            let (wj, bj) = side.weights.of(j as usize, val);
            weighted += usize::from(wj != 0.0);
            w.push(wj);
            beta.push(bj);
        }
        t.resize(n, 0.0);
        // r = b − A x = Σ_e (β_e − w_e·y_e·x) y_e − (G + λI) x
        side.apply_dense(isa, all, x, lam, r);
        r.iter_mut().for_each(|v| *v = -*v);
        if weighted == 0 {
            // No entry adds to the normal matrix (e.g. alpha = 0 on implicit feedback): the
            // right side is the only per-entry work, and CG steps are dense only.
            isa.axpys_rows(side.fixed, d, idx, beta, r);
        } else {
            coef.clear();
            coef.extend(w.iter().map(|we| -we));
            isa.rank_one_updates(side.fixed, d, idx, beta, coef, x, t, r);
        }
        // Entries that weigh in `A p` (all of them when every weight is non-zero).
        let (aidx, aw): (&[u32], &[f32]) = if weighted == n {
            (idx, w)
        } else {
            widx.clear();
            wval.clear();
            for (&j, &we) in idx.iter().zip(w.iter()) {
                if we != 0.0 {
                    widx.push(j);
                    wval.push(we);
                }
            }
            (widx, wval)
        };
        coef.clear();
        coef.resize(weighted, 0.0);
        p.copy_from_slice(r);
        let mut rsold = isa.dot(r, r);
        for _ in 0..steps {
            if rsold < CG_EPS {
                break;
            }
            // ap = A p = (G + λI) p + Σ_e w_e (y_e·p) y_e
            side.apply_dense(isa, all, p, lam, ap);
            if weighted > 0 {
                isa.rank_one_updates(side.fixed, d, aidx, coef, aw, p, t, ap);
            }
            let pap = isa.dot(p, ap);
            if pap.is_nan() || pap <= 0.0 {
                break;
            }
            let step = rsold / pap;
            isa.axpy(step, p, x);
            isa.axpy(-step, ap, r);
            let rsnew = isa.dot(r, r);
            let beta = rsnew / rsold;
            for (pi, ri) in p.iter_mut().zip(r.iter()) {
                *pi = isa.fmadd(beta, *pi, *ri);
            }
            rsold = rsnew;
        }
    }
}

/// Builds one row's normal matrix `A` (lower triangle used) and right side `b` into scratch.
pub(super) struct Normal<'a, 'b> {
    pub(super) side: &'a Side<'a>,
    pub(super) idx: &'a [u32],
    pub(super) vals: &'a [f32],
    pub(super) b: &'b mut [f32],
    pub(super) s: &'b mut Scratch,
    pub(super) lam: f32,
}

impl SimdFn for Normal<'_, '_> {
    type Out = ();
    #[inline(always)]
    fn call<I: Isa>(self, isa: I) {
        let Normal {
            side,
            idx,
            vals,
            b,
            s,
            lam,
        } = self;
        let d = side.d;
        match side.gram {
            Some(g) => s.a.copy_from_slice(g),
            None => s.a.fill(0.0),
        }
        for i in 0..d {
            s.a[i * d + i] += lam;
        }
        b.fill(0.0);
        s.gather.clear();
        for (&j, &val) in idx.iter().zip(vals) {
            let (w, beta) = side.weights.of(j as usize, val);
            let y = side.row(j);
            isa.axpy(beta, y, b);
            if w > 0.0 {
                let sw = w.sqrt();
                s.gather.extend(y.iter().map(|v| v * sw));
            }
        }
        let n = s.gather.len() / d;
        if n > 0 {
            // A += BᵀB, B the gathered √w·y rows.
            let bm = MatRef::from_row_major_slice(&s.gather, n, d);
            matmul(
                MatMut::from_row_major_slice_mut(&mut s.a, d, d),
                Accum::Add,
                bm.transpose(),
                bm,
                1.0f32,
                Par::Seq,
            );
        }
    }
}

/// The exact solution of one row's normal equations (Cholesky, faer) into `x`.
pub(super) fn exact_row(
    side: &Side<'_>,
    idx: &[u32],
    vals: &[f32],
    x: &mut [f32],
    s: &mut Scratch,
) -> Result<()> {
    if idx.is_empty() {
        x.fill(0.0);
        return Ok(());
    }
    let d = side.d;
    let lam = side.row_reg(vals);
    dispatch(Normal {
        side,
        idx,
        vals,
        b: x,
        s,
        lam,
    });
    let stack = MemStack::new(&mut s.mem);
    llt::factor::cholesky_in_place(
        MatMut::from_row_major_slice_mut(&mut s.a, d, d),
        Default::default(),
        Par::Seq,
        stack,
        Default::default(),
    )
    .map_err(|e| {
        Error::Numerical(format!(
            "ALS normal equations are not positive definite: {e}"
        ))
    })?;
    let stack = MemStack::new(&mut s.mem);
    llt::solve::solve_in_place_with_conj(
        MatRef::from_row_major_slice(&s.a, d, d),
        Conj::No,
        MatMut::from_column_major_slice_mut(x, d, 1),
        Par::Seq,
        stack,
    );
    if x.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::Numerical(
            "ALS solve produced non-finite factors".into(),
        ))
    }
}

/// Solves every row of `out` (`rows × d`) against `side`, rows given by a CSR matrix.
pub(super) fn solve_side(
    side: &Side<'_>,
    data: &Interactions,
    out: &mut [f32],
    solver: AlsSolver,
    steps: usize,
) -> Result<()> {
    let d = side.d;
    let (indptr, indices, values) = (data.indptr(), data.indices(), data.values());
    let row = |r: usize| (indptr[r], indptr[r + 1]);
    match solver {
        AlsSolver::ConjugateGradient => {
            out.par_chunks_mut(d).enumerate().for_each_init(
                || Scratch::new(d),
                |s, (r, x)| {
                    let (a, b) = row(r);
                    dispatch(CgRow {
                        side,
                        idx: &indices[a..b],
                        vals: &values[a..b],
                        x,
                        steps,
                        s,
                    });
                },
            );
            if out.iter().all(|v| v.is_finite()) {
                Ok(())
            } else {
                Err(Error::Numerical(
                    "ALS conjugate gradient produced non-finite factors".into(),
                ))
            }
        }
        AlsSolver::Cholesky => out.par_chunks_mut(d).enumerate().try_for_each_init(
            || Scratch::new(d),
            |s, (r, x)| {
                let (a, b) = row(r);
                exact_row(side, &indices[a..b], &values[a..b], x, s)
            },
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Fitting

/// `[m | col]`: appends one column to a `rows × k` matrix.
pub(super) fn augment(m: &[f32], k: usize, col: impl Fn(usize) -> f32) -> Vec<f32> {
    let rows = m.len() / k;
    let mut out = Vec::with_capacity(rows * (k + 1));
    for (r, row) in m.chunks_exact(k).enumerate() {
        out.extend_from_slice(row);
        out.push(col(r));
    }
    out
}

/// Splits `[m | col]` back into `m` and `col`.
pub(super) fn split_aug(aug: &[f32], k: usize, m: &mut [f32], col: &mut [f32]) {
    for ((a, row), c) in aug.chunks_exact(k + 1).zip(m.chunks_exact_mut(k)).zip(col) {
        row.copy_from_slice(&a[..k]);
        *c = a[k];
    }
}

impl Fit for AlsParams {
    type Model = Als;
    fn fit(&self, train: &Interactions) -> Result<Als> {
        let p = self.check_ref()?;
        let (nu, ni, k) = (train.n_users(), train.n_items(), p.factors);
        matrix_len(nu, k + 2, "ALS users")?;
        matrix_len(ni, k + 2, "ALS items")?;
        let scale = INIT_SCALE / (k as f32).sqrt();
        let mut x = random_matrix(nu, k, scale, p.seed, 0);
        let mut y = random_matrix(ni, k, scale, p.seed, 1);
        let t = train.transpose();
        match p.feedback {
            Feedback::Implicit => {
                if let Some(bad) = train.values().iter().find(|v| **v < 0.0) {
                    return Err(Error::Data(format!(
                        "implicit-feedback ALS needs values >= 0, got {bad}"
                    )));
                }
                let w = Weights::Implicit { alpha: p.alpha };
                for _ in 0..p.iterations {
                    let g = gram(&y, k);
                    solve_side(
                        &Side::new(p, &y, k, Some(&g), w, ni),
                        train,
                        &mut x,
                        p.solver,
                        p.cg_steps,
                    )?;
                    let g = gram(&x, k);
                    solve_side(
                        &Side::new(p, &x, k, Some(&g), w, nu),
                        &t,
                        &mut y,
                        p.solver,
                        p.cg_steps,
                    )?;
                }
                let item_gram = gram(&y, k);
                Ok(Als {
                    params: p.clone(),
                    n_users: nu,
                    n_items: ni,
                    width: k,
                    users: x,
                    items: y,
                    item_gram,
                    mu: 0.0,
                    fold_in_value: 1.0,
                })
            }
            Feedback::Explicit => {
                let vals = train.values();
                let mu = if vals.is_empty() {
                    0.0
                } else {
                    (vals.iter().map(|&v| v as f64).sum::<f64>() / vals.len() as f64) as f32
                };
                let max = vals.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut bu = vec![0f32; nu];
                let mut bi = vec![0f32; ni];
                for _ in 0..p.iterations {
                    let fixed = augment(&y, k, |_| 1.0);
                    let mut var = augment(&x, k, |r| bu[r]);
                    let w = Weights::Explicit { mu, bias: &bi };
                    solve_side(
                        &Side::new(p, &fixed, k + 1, None, w, ni),
                        train,
                        &mut var,
                        p.solver,
                        p.cg_steps,
                    )?;
                    split_aug(&var, k, &mut x, &mut bu);
                    let fixed = augment(&x, k, |_| 1.0);
                    let mut var = augment(&y, k, |r| bi[r]);
                    let w = Weights::Explicit { mu, bias: &bu };
                    solve_side(
                        &Side::new(p, &fixed, k + 1, None, w, nu),
                        &t,
                        &mut var,
                        p.solver,
                        p.cg_steps,
                    )?;
                    split_aug(&var, k, &mut y, &mut bi);
                }
                let mut users = Vec::with_capacity(nu * (k + 2));
                for (row, b) in x.chunks_exact(k).zip(&bu) {
                    users.extend_from_slice(row);
                    users.extend_from_slice(&[1.0, mu + b]);
                }
                let mut items = Vec::with_capacity(ni * (k + 2));
                for (row, b) in y.chunks_exact(k).zip(&bi) {
                    items.extend_from_slice(row);
                    items.extend_from_slice(&[*b, 1.0]);
                }
                Ok(Als {
                    params: p.clone(),
                    n_users: nu,
                    n_items: ni,
                    width: k + 2,
                    users,
                    items,
                    item_gram: Vec::new(),
                    mu,
                    fold_in_value: if max.is_finite() { max } else { 1.0 },
                })
            }
        }
    }
}
