//! Alternating least squares matrix factorization, for implicit feedback (Hu, Koren & Volinsky
//! 2008, with the conjugate-gradient solver of Takács, Pilászy & Tikk 2011, as in `implicit`)
//! and for explicit ratings (biased, regularized least squares).
//!
//! Implicit feedback minimises
//! `Σ_u Σ_i c_ui (p_ui − x_u·y_i)² + Σ_u λ_u ‖x_u‖² + Σ_i λ_i ‖y_i‖²` over **all** user–item
//! pairs, with preference `p_ui = 1` where the user interacted (value `r_ui > 0`) and 0
//! elsewhere, and confidence `c_ui = 1 + alpha · r_ui` (1 for unobserved pairs). Each user's
//! normal equations `(YᵀY + Σ_{i∈I_u} (c_ui − 1) y_i y_iᵀ + λ_u I) x_u = Σ_{i∈I_u} c_ui y_i`
//! only touch the user's own items plus the shared `YᵀY`, so no per-user dense matrix is ever
//! built by the conjugate-gradient solver.
//!
//! Explicit ratings minimise `Σ_{observed} (r_ui − μ − b_u − b_i − x_u·y_i)²` plus the same
//! penalties on factors and biases.
//!
//! Regularization is `λ_u = regularization · W_u^ν` where `W_u` is the row's total weight
//! (`Σ_i c_ui` over all items for implicit feedback, the number of ratings for explicit) and
//! `ν` is [`AlsParams::reg_exponent`]: `ν = 0` is plain `λ` (as `implicit`), `ν = 1` is the
//! frequency-scaled regularization of Rendle et al. 2022 ("Revisiting the Performance of iALS
//! on Item Recommendation Benchmarks").

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::matmul;
use faer::{Accum, Conj, MatMut, MatRef, Par};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::factors::{
    dispatch, dots_into, gram, matrix_len, random_matrix, FactorModel, FactorView, Isa, SimdFn,
};
use super::{check_history, Fit, ParamGuard, Persist};
use crate::data::{Interactions, ItemIdx};
use crate::{Error, Result};

/// How ALS solves each row's least-squares problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AlsSolver {
    /// A few conjugate-gradient steps per row, warm-started from the previous factors (as
    /// `implicit`'s `use_cg=True`). `O(k² + k·n_u)` per step and row. The default.
    #[default]
    ConjugateGradient,
    /// The exact solution by Cholesky factorization of each row's `k × k` normal matrix
    /// (faer). `O(k²·n_u + k³)` per row: slower, and usually no better after a few iterations.
    Cholesky,
}

/// What the interaction values mean to ALS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Feedback {
    /// Values are counts or strengths (`r ≥ 0`, e.g. 1.0 per interaction); every unobserved
    /// pair is a weak negative. The default.
    #[default]
    Implicit,
    /// Values are ratings to predict; only observed pairs enter the loss, and the model learns
    /// a global mean and user and item biases.
    Explicit,
}

/// Parameters of [`Als`]. Build with [`Als::params`].
///
/// ```
/// use recs::model::{Als, Fit, RecOpts, Recommender};
/// use recs::data::{Interactions, Record};
/// // Users 0 and 1 share tastes; user 2 likes something else.
/// let recs = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 3), (2, 4)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(3, 5, &recs, Default::default())?;
/// let model = Als::params().factors(4).iterations(10).seed(1).fit(&train)?;
/// let top = model.recommend(0, train.items_of(0), &RecOpts { k: 1, ..RecOpts::default() })?;
/// assert_eq!(top[0].item, 2); // what the similar user 1 also liked
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlsParams(AlsValidParams);

/// Validated [`AlsParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsValidParams {
    factors: usize,
    regularization: f32,
    alpha: f32,
    iterations: usize,
    solver: AlsSolver,
    cg_steps: usize,
    seed: u64,
    feedback: Feedback,
    reg_exponent: f32,
}

impl Default for AlsValidParams {
    fn default() -> Self {
        AlsValidParams {
            factors: 64,
            regularization: 0.01,
            alpha: 0.0,
            iterations: 15,
            solver: AlsSolver::ConjugateGradient,
            cg_steps: 3,
            seed: 0,
            feedback: Feedback::Implicit,
            reg_exponent: 0.0,
        }
    }
}

impl AlsValidParams {
    /// Number of latent factors `k`.
    pub fn factors(&self) -> usize {
        self.factors
    }
    /// Base regularization `λ`.
    pub fn regularization(&self) -> f32 {
        self.regularization
    }
    /// Confidence slope `alpha`.
    pub fn alpha(&self) -> f32 {
        self.alpha
    }
    /// Number of alternating iterations.
    pub fn iterations(&self) -> usize {
        self.iterations
    }
    /// The per-row solver.
    pub fn solver(&self) -> AlsSolver {
        self.solver
    }
    /// Conjugate-gradient steps per row and iteration.
    pub fn cg_steps(&self) -> usize {
        self.cg_steps
    }
    /// Seed of the factor initialisation.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Implicit or explicit feedback.
    pub fn feedback(&self) -> Feedback {
        self.feedback
    }
    /// Exponent `ν` of the frequency-scaled regularization.
    pub fn reg_exponent(&self) -> f32 {
        self.reg_exponent
    }
}

impl AlsParams {
    /// Number of latent factors `k`. Default 64; must be in `1..=4096`.
    pub fn factors(mut self, k: usize) -> Self {
        self.0.factors = k;
        self
    }
    /// Base L2 regularization `λ` of factors (and biases in explicit mode). Default 0.01 (as
    /// `implicit`); must be finite and > 0. With [`reg_exponent`](Self::reg_exponent) 1 the
    /// penalty is multiplied by each row's total weight, so much smaller values fit (≈ 1e-4 to
    /// 1e-3 on MovieLens).
    pub fn regularization(mut self, lambda: f32) -> Self {
        self.0.regularization = lambda;
        self
    }
    /// Confidence slope: an observed value `r` gets confidence `c = 1 + alpha·r` (implicit
    /// feedback only). Default 0.0, chosen on the validation split of `examples/tune.rs`
    /// (ML-1M training pairs only; `tune -- als:alpha=0 als:alpha=1`): full-ranking HR@10
    /// 0.1057 against 0.0990 for alpha 1, sampled HR@10 0.7296 against 0.7342 (within its
    /// ±0.008 noise). It is also `implicit`'s default (its `alpha = 1`) and trains fastest, as
    /// no interaction adds to the normal equations. Must be finite and ≥ 0. (`implicit` uses `c = alpha·r`, so its `alpha = a` on
    /// binary data matches `alpha = a − 1` here.)
    pub fn alpha(mut self, alpha: f32) -> Self {
        self.0.alpha = alpha;
        self
    }
    /// Number of alternating iterations (each solves all users, then all items). Default 15;
    /// must be in `1..=10000`.
    pub fn iterations(mut self, n: usize) -> Self {
        self.0.iterations = n;
        self
    }
    /// Per-row solver. Default [`AlsSolver::ConjugateGradient`].
    pub fn solver(mut self, solver: AlsSolver) -> Self {
        self.0.solver = solver;
        self
    }
    /// Conjugate-gradient steps per row and iteration (warm-started, so a few suffice).
    /// Default 3; must be in `1..=1000`. Ignored by [`AlsSolver::Cholesky`].
    pub fn cg_steps(mut self, n: usize) -> Self {
        self.0.cg_steps = n;
        self
    }
    /// Seed of the random factor initialisation. Default 0; any value. The fitted model depends
    /// only on the data, the parameters and this seed — not on the number of threads.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// Implicit feedback (the default) or explicit ratings.
    pub fn feedback(mut self, feedback: Feedback) -> Self {
        self.0.feedback = feedback;
        self
    }
    /// Exponent `ν` of frequency-scaled regularization: a row's penalty is
    /// `regularization · W^ν`, `W` its total weight (see the module docs). Default 0.0 (plain
    /// `λ`, as `implicit`); Rendle et al. 2022 use 1.0. Must be in `[0, 2]`.
    pub fn reg_exponent(mut self, nu: f32) -> Self {
        self.0.reg_exponent = nu;
        self
    }
}

impl ParamGuard for AlsParams {
    type Checked = AlsValidParams;
    fn check_ref(&self) -> Result<&Self::Checked> {
        let p = &self.0;
        if !(1..=4096).contains(&p.factors) {
            return Err(Error::param("factors", "an integer in 1..=4096", p.factors));
        }
        if !(p.regularization.is_finite() && p.regularization > 0.0) {
            return Err(Error::param(
                "regularization",
                "a finite number > 0",
                p.regularization,
            ));
        }
        if !(p.alpha.is_finite() && p.alpha >= 0.0) {
            return Err(Error::param("alpha", "a finite number >= 0", p.alpha));
        }
        if !(1..=10_000).contains(&p.iterations) {
            return Err(Error::param(
                "iterations",
                "an integer in 1..=10000",
                p.iterations,
            ));
        }
        if !(1..=1000).contains(&p.cg_steps) {
            return Err(Error::param(
                "cg_steps",
                "an integer in 1..=1000",
                p.cg_steps,
            ));
        }
        if !(0.0..=2.0).contains(&p.reg_exponent) {
            return Err(Error::param(
                "reg_exponent",
                "a number in [0, 2]",
                p.reg_exponent,
            ));
        }
        Ok(p)
    }
    fn check(self) -> Result<Self::Checked> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// A fitted ALS model: user and item factor matrices.
///
/// Scores are dot products of a user row and an item row of the stored matrices
/// ([`user_factors`](Self::user_factors), [`item_factors`](Self::item_factors), both
/// row-major with [`factor_width`](Self::factor_width) columns). For implicit feedback the
/// width is `k`. For explicit ratings it is `k + 2`: user rows are `[x_u, 1, μ + b_u]` and
/// item rows `[y_i, b_i, 1]`, so that the dot product is the predicted rating.
///
/// Users outside the fitted ones are folded in from their history (see
/// [`recalculate_user`](Self::recalculate_user)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AlsRepr")]
pub struct Als {
    params: AlsValidParams,
    n_users: usize,
    n_items: usize,
    width: usize,
    users: Vec<f32>,
    items: Vec<f32>,
    /// `YᵀY` of the item factors (`k × k`), for implicit fold-in; empty for explicit.
    item_gram: Vec<f32>,
    /// Explicit mode: the global mean rating `μ` (0 for implicit).
    mu: f32,
    /// Explicit mode: the rating assumed for history items when folding in without values.
    fold_in_value: f32,
}

/// The serialized form of [`Als`], validated into it on load.
#[derive(Deserialize)]
struct AlsRepr {
    params: AlsValidParams,
    n_users: usize,
    n_items: usize,
    width: usize,
    users: Vec<f32>,
    items: Vec<f32>,
    item_gram: Vec<f32>,
    mu: f32,
    fold_in_value: f32,
}

impl TryFrom<AlsRepr> for Als {
    type Error = String;
    fn try_from(r: AlsRepr) -> std::result::Result<Self, String> {
        let params = AlsParams(r.params)
            .check()
            .map_err(|e| format!("als parameters: {e}"))?;
        let k = params.factors;
        let (width, gram_len) = match params.feedback {
            Feedback::Implicit => (k, k * k),
            Feedback::Explicit => (k + 2, 0),
        };
        let ok = r.width == width
            && Some(r.users.len()) == r.n_users.checked_mul(width)
            && Some(r.items.len()) == r.n_items.checked_mul(width)
            && r.item_gram.len() == gram_len
            && r.fold_in_value.is_finite()
            && r.mu.is_finite()
            && r.users
                .iter()
                .chain(&r.items)
                .chain(&r.item_gram)
                .all(|v| v.is_finite());
        if !ok {
            return Err("als factor matrices are inconsistent with their dimensions".into());
        }
        Ok(Als {
            params,
            n_users: r.n_users,
            n_items: r.n_items,
            width: r.width,
            users: r.users,
            items: r.items,
            item_gram: r.item_gram,
            mu: r.mu,
            fold_in_value: r.fold_in_value,
        })
    }
}

/// Scale of the uniform factor initialisation `U(−s, s)`, `s = INIT_SCALE / √k`.
const INIT_SCALE: f32 = 0.1;
/// Conjugate gradient stops when the squared residual norm falls below this (as `implicit`).
const CG_EPS: f32 = 1e-20;

impl Als {
    /// Default parameters.
    pub fn params() -> AlsParams {
        AlsParams::default()
    }
    /// The parameters the model was fitted with.
    pub fn fitted_params(&self) -> &AlsValidParams {
        &self.params
    }
    /// Number of fitted users.
    pub fn n_users(&self) -> usize {
        self.n_users
    }
    /// Number of latent factors `k`.
    pub fn n_factors(&self) -> usize {
        self.params.factors
    }
    /// Columns of [`user_factors`](Self::user_factors) and [`item_factors`](Self::item_factors)
    /// (`k`, or `k + 2` for explicit ratings; see [`Als`]).
    pub fn factor_width(&self) -> usize {
        self.width
    }
    /// User factors, row-major `n_users × factor_width`.
    pub fn user_factors(&self) -> &[f32] {
        &self.users
    }
    /// Item factors, row-major `n_items × factor_width`.
    pub fn item_factors(&self) -> &[f32] {
        &self.items
    }

    /// Solves a user's factor row from their history with the item factors fixed (exactly,
    /// by Cholesky), as `implicit`'s `recalculate_user`. The row has
    /// [`factor_width`](Self::factor_width) entries and can be passed to
    /// [`score_factors_into`](Self::score_factors_into).
    ///
    /// `values` are the interaction values aligned with `items`; `None` means 1.0 each for
    /// implicit feedback and the largest training rating for explicit ratings (the history is
    /// taken as liked items).
    ///
    /// ```
    /// use recs::model::{Als, Fit};
    /// # let recs = [(0, 0), (0, 1), (1, 1), (1, 2)].map(|(u, i)| recs::data::Record { user: u, item: i, value: 1.0, timestamp: None });
    /// # let train = recs::data::Interactions::from_records(2, 3, &recs, Default::default())?;
    /// let model = Als::params().factors(2).fit(&train)?;
    /// let row = model.recalculate_user(&[0, 1], None)?;
    /// let mut scores = vec![0.0; 3];
    /// model.score_factors_into(&row, &mut scores)?;
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnknownItem`] for an item outside the model, [`Error::Data`] when `values`
    /// has another length or holds a non-finite (or, for implicit feedback, negative) value,
    /// [`Error::Numerical`] when the normal equations cannot be factored.
    pub fn recalculate_user(&self, items: &[ItemIdx], values: Option<&[f32]>) -> Result<Vec<f32>> {
        check_history(items, self.n_items)?;
        let ones;
        let vals = match values {
            Some(v) => {
                if v.len() != items.len() {
                    return Err(Error::Data(format!(
                        "{} values for {} items",
                        v.len(),
                        items.len()
                    )));
                }
                let implicit = self.params.feedback == Feedback::Implicit;
                if let Some(bad) = v.iter().find(|x| !x.is_finite() || (implicit && **x < 0.0)) {
                    return Err(Error::Data(format!(
                        "interaction values must be finite{}, got {bad}",
                        if implicit { " and >= 0" } else { "" }
                    )));
                }
                v
            }
            None => {
                let fill = match self.params.feedback {
                    Feedback::Implicit => 1.0,
                    Feedback::Explicit => self.fold_in_value,
                };
                ones = vec![fill; items.len()];
                &ones[..]
            }
        };
        let k = self.params.factors;
        match self.params.feedback {
            Feedback::Implicit => {
                let side = Side {
                    fixed: &self.items,
                    d: k,
                    gram: Some(&self.item_gram),
                    weights: Weights::Implicit {
                        alpha: self.params.alpha,
                    },
                    reg: self.params.regularization,
                    nu: self.params.reg_exponent,
                    n_fixed: self.n_items,
                };
                let mut x = vec![0f32; k];
                exact_row(&side, items, vals, &mut x, &mut Scratch::new(k))?;
                Ok(x)
            }
            Feedback::Explicit => {
                // Gather `[y_i, 1]` rows and `b_i` of the history items.
                let w = self.width;
                let mut fixed = Vec::with_capacity(items.len() * (k + 1));
                let mut bias = Vec::with_capacity(items.len());
                for &i in items {
                    let row = &self.items[i as usize * w..(i as usize + 1) * w];
                    fixed.extend_from_slice(&row[..k]);
                    fixed.push(1.0);
                    bias.push(row[k]);
                }
                let idx: Vec<u32> = (0..items.len() as u32).collect();
                let side = Side {
                    fixed: &fixed,
                    d: k + 1,
                    gram: None,
                    weights: Weights::Explicit {
                        mu: self.mu(),
                        bias: &bias,
                    },
                    reg: self.params.regularization,
                    nu: self.params.reg_exponent,
                    n_fixed: items.len(),
                };
                let mut xb = vec![0f32; k + 1];
                exact_row(&side, &idx, vals, &mut xb, &mut Scratch::new(k + 1))?;
                let mut row = xb[..k].to_vec();
                row.push(1.0);
                row.push(self.mu() + xb[k]);
                Ok(row)
            }
        }
    }

    /// Scores of every item for a user factor row (from
    /// [`recalculate_user`](Self::recalculate_user) or [`user_factors`](Self::user_factors)).
    ///
    /// # Errors
    /// [`Error::Data`] when `factors` or `out` has the wrong length.
    pub fn score_factors_into(&self, factors: &[f32], out: &mut [f32]) -> Result<()> {
        if factors.len() != self.width || out.len() != self.n_items {
            return Err(Error::Data(format!(
                "expected {} factors and {} scores, got {} and {}",
                self.width,
                self.n_items,
                factors.len(),
                out.len()
            )));
        }
        dots_into(factors, &self.items, self.width, out);
        Ok(())
    }

    /// Global mean rating (explicit mode; 0 for implicit).
    fn mu(&self) -> f32 {
        self.mu
    }
}

// ---------------------------------------------------------------------------------------------
// Per-row least squares

/// How observed entries weigh in a row's normal equations.
#[derive(Clone, Copy)]
enum Weights<'a> {
    /// `A += alpha·r · y yᵀ`, `b += (1 + alpha·r) · y` for `r > 0`.
    Implicit { alpha: f32 },
    /// `A += y yᵀ`, `b += (r − μ − bias_j) · y`.
    Explicit { mu: f32, bias: &'a [f32] },
}

impl Weights<'_> {
    /// `(w, β)`: the entry adds `w·y yᵀ` to the normal matrix and `β·y` to the right side.
    #[inline(always)]
    fn of(&self, j: usize, r: f32) -> (f32, f32) {
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
struct Side<'a> {
    /// Fixed factors, `n_fixed × d` row-major.
    fixed: &'a [f32],
    d: usize,
    /// `FᵀF` (`d × d`) for implicit feedback; `None` for explicit.
    gram: Option<&'a [f32]>,
    weights: Weights<'a>,
    reg: f32,
    nu: f32,
    n_fixed: usize,
}

impl<'a> Side<'a> {
    fn new(
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
    fn row_reg(&self, vals: &[f32]) -> f32 {
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
    fn row(&self, j: u32) -> &[f32] {
        let j = j as usize;
        &self.fixed[j * self.d..(j + 1) * self.d]
    }

    /// `out = (G + λI) v`.
    #[inline(always)]
    fn apply_dense<I: Isa>(&self, isa: I, all: &[u32], v: &[f32], lam: f32, out: &mut [f32]) {
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
struct Scratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
    /// `0..d`, the rows of the Gram matrix.
    all: Vec<u32>,
    /// Per-entry buffers of a row: weights `w`, right-side factors `β`, dot products, coefficients.
    w: Vec<f32>,
    beta: Vec<f32>,
    t: Vec<f32>,
    coef: Vec<f32>,
    /// The entries with a non-zero weight and their weights (when some weights are zero).
    widx: Vec<u32>,
    wval: Vec<f32>,
    a: Vec<f32>,
    gather: Vec<f32>,
    mem: MemBuffer,
}

impl Scratch {
    fn new(d: usize) -> Self {
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
struct CgRow<'a, 'b> {
    side: &'a Side<'a>,
    idx: &'a [u32],
    vals: &'a [f32],
    x: &'b mut [f32],
    steps: usize,
    s: &'b mut Scratch,
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
struct Normal<'a, 'b> {
    side: &'a Side<'a>,
    idx: &'a [u32],
    vals: &'a [f32],
    b: &'b mut [f32],
    s: &'b mut Scratch,
    lam: f32,
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
fn exact_row(
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
fn solve_side(
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
fn augment(m: &[f32], k: usize, col: impl Fn(usize) -> f32) -> Vec<f32> {
    let rows = m.len() / k;
    let mut out = Vec::with_capacity(rows * (k + 1));
    for (r, row) in m.chunks_exact(k).enumerate() {
        out.extend_from_slice(row);
        out.push(col(r));
    }
    out
}

/// Splits `[m | col]` back into `m` and `col`.
fn split_aug(aug: &[f32], k: usize, m: &mut [f32], col: &mut [f32]) {
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

// ---------------------------------------------------------------------------------------------
// Recommending: the shared factor-model `Recommender` (see `factors::FactorModel`)

impl FactorModel for Als {
    fn view(&self) -> FactorView<'_> {
        FactorView {
            users: &self.users,
            items: &self.items,
            n_users: self.n_users,
            n_items: self.n_items,
            width: self.width,
            latent: self.params.factors,
        }
    }
    /// [`Als::recalculate_user`] with the default values.
    fn fold_in(&self, history: &[ItemIdx]) -> Result<Vec<f32>> {
        self.recalculate_user(history, None)
    }
}

impl Persist for Als {
    const KIND: &'static str = "als";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Record;
    use crate::model::factors::Rng;
    use crate::model::{from_bytes, to_bytes, AnyModel};
    use crate::model::{RecOpts, Recommender};
    use proptest::prelude::*;

    fn interactions(n_users: usize, n_items: usize, triples: &[(u32, u32, f32)]) -> Interactions {
        let recs: Vec<Record> = triples
            .iter()
            .map(|&(user, item, value)| Record {
                user,
                item,
                value,
                timestamp: None,
            })
            .collect();
        Interactions::from_records(n_users, n_items, &recs, Default::default()).unwrap()
    }

    /// Two taste groups: users `< n/2` like even items, the others odd items (with gaps).
    fn two_groups(n_users: u32, n_items: u32) -> Interactions {
        let mut t = Vec::new();
        for u in 0..n_users {
            for i in 0..n_items {
                if i % 2 == u % 2 && (u + i) % 5 != 0 {
                    t.push((u, i, 1.0));
                }
            }
        }
        interactions(n_users as usize, n_items as usize, &t)
    }

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<AlsParams>();
        has::<AlsValidParams>();
        has::<Als>();
        has::<AlsSolver>();
        has::<Feedback>();
    }

    #[test]
    fn rejects_out_of_range_params() {
        let cases: Vec<(AlsParams, &str)> = vec![
            (Als::params().factors(0), "factors"),
            (Als::params().factors(4097), "factors"),
            (Als::params().regularization(0.0), "regularization"),
            (Als::params().regularization(-1.0), "regularization"),
            (Als::params().regularization(f32::NAN), "regularization"),
            (
                Als::params().regularization(f32::INFINITY),
                "regularization",
            ),
            (Als::params().alpha(-0.1), "alpha"),
            (Als::params().alpha(f32::NAN), "alpha"),
            (Als::params().iterations(0), "iterations"),
            (Als::params().iterations(10_001), "iterations"),
            (Als::params().cg_steps(0), "cg_steps"),
            (Als::params().reg_exponent(-0.5), "reg_exponent"),
            (Als::params().reg_exponent(2.5), "reg_exponent"),
            (Als::params().reg_exponent(f32::NAN), "reg_exponent"),
        ];
        let data = Interactions::empty(2, 2);
        for (p, name) in cases {
            match p.fit(&data) {
                Err(Error::InvalidParam { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: expected InvalidParam, got {other:?}"),
            }
        }
        // The documented bounds themselves are accepted.
        let edge = Als::params()
            .factors(1)
            .regularization(f32::MIN_POSITIVE)
            .alpha(0.0)
            .iterations(1)
            .cg_steps(1)
            .reg_exponent(2.0);
        assert!(edge.check_ref().is_ok());
        assert!(Als::params()
            .factors(4096)
            .cg_steps(1000)
            .check_ref()
            .is_ok());
    }

    #[test]
    fn implicit_values_must_be_non_negative() {
        let data = interactions(1, 2, &[(0, 0, -1.0)]);
        assert!(matches!(Als::params().fit(&data), Err(Error::Data(_))));
    }

    /// One factor, items fixed at y = [2, 1], the user interacted with item 0 (r = 1),
    /// alpha = 1, λ = 0.5:
    ///   A = Σ_i y_i² + alpha·r·y_0² + λ = (4 + 1) + 4 + 0.5 = 9.5
    ///   b = (1 + alpha·r)·y_0 = 4
    ///   x = 4 / 9.5
    #[test]
    fn one_factor_row_solve_by_hand() {
        let y = [2.0f32, 1.0];
        let g = [5.0f32];
        let side = Side {
            fixed: &y,
            d: 1,
            gram: Some(&g),
            weights: Weights::Implicit { alpha: 1.0 },
            reg: 0.5,
            nu: 0.0,
            n_fixed: 2,
        };
        let mut s = Scratch::new(1);
        let mut x = [0.0f32];
        exact_row(&side, &[0], &[1.0], &mut x, &mut s).unwrap();
        assert!((x[0] - 4.0 / 9.5).abs() < 1e-6, "{}", x[0]);
        // CG solves a 1-D system in one step from any start.
        let mut x = [0.3f32];
        dispatch(CgRow {
            side: &side,
            idx: &[0],
            vals: &[1.0],
            x: &mut x,
            steps: 1,
            s: &mut s,
        });
        assert!((x[0] - 4.0 / 9.5).abs() < 1e-6, "{}", x[0]);
        // Frequency scaling ν = 1: W = n_items + alpha·Σr = 3, λ_u = 0.5·3 = 1.5 → x = 4 / 10.5.
        let scaled = Side { nu: 1.0, ..side };
        exact_row(&scaled, &[0], &[1.0], &mut x, &mut s).unwrap();
        assert!((x[0] - 4.0 / 10.5).abs() < 1e-6, "{}", x[0]);
    }

    /// Explicit, one factor, user row [x, b_u] with fixed item rows [y, 1] = [2, 1] and [1, 1],
    /// μ = 3, item biases [0.5, −0.5], ratings 4.5 and 1.5, λ = 1:
    ///   targets t = r − μ − b_i = [1, −1]
    ///   A = Σ ỹỹᵀ + I = [[4+1+1, 2+1], [2+1, 1+1+1]] = [[6, 3], [3, 3]]
    ///   b = Σ t·ỹ = [2 − 1, 1 − 1] = [1, 0]
    ///   solution = A⁻¹ b = [3, −3] / (18 − 9) = [1/3, −1/3]
    #[test]
    fn explicit_row_solve_by_hand() {
        let fixed = [2.0f32, 1.0, 1.0, 1.0];
        let bias = [0.5f32, -0.5];
        let side = Side {
            fixed: &fixed,
            d: 2,
            gram: None,
            weights: Weights::Explicit {
                mu: 3.0,
                bias: &bias,
            },
            reg: 1.0,
            nu: 0.0,
            n_fixed: 2,
        };
        let mut s = Scratch::new(2);
        let mut x = [0.0f32; 2];
        exact_row(&side, &[0, 1], &[4.5, 1.5], &mut x, &mut s).unwrap();
        assert!(
            (x[0] - 1.0 / 3.0).abs() < 1e-6 && (x[1] + 1.0 / 3.0).abs() < 1e-6,
            "{x:?}"
        );
        let mut x = [0.0f32; 2];
        dispatch(CgRow {
            side: &side,
            idx: &[0, 1],
            vals: &[4.5, 1.5],
            x: &mut x,
            steps: 2,
            s: &mut s,
        });
        assert!(
            (x[0] - 1.0 / 3.0).abs() < 1e-5 && (x[1] + 1.0 / 3.0).abs() < 1e-5,
            "{x:?}"
        );
    }

    proptest! {
        /// CG run to `d` steps reaches the Cholesky solution of random SPD row systems.
        #[test]
        fn cg_converges_to_cholesky(
            d in 1usize..12,
            n_fixed in 1usize..30,
            seed in any::<u64>(),
            alpha in prop_oneof![Just(0.0f32), 0.0f32..5.0],
            zeros in 0.0f32..1.0,
            reg in 0.05f32..2.0,
        ) {
            let y = random_matrix(n_fixed, d, 1.0, seed, 0);
            let g = gram(&y, d);
            let mut rng = Rng::new(seed, 9);
            let idx: Vec<u32> = (0..n_fixed as u32).filter(|_| rng.next_f32() < 0.5).collect();
            // Some zero values (entries without weight), so that CG's skipping of zero-weight
            // entries (all of them when alpha = 0) is exercised.
            let vals: Vec<f32> = idx
                .iter()
                .map(|_| if rng.next_f32() < zeros { 0.0 } else { rng.next_f32() * 3.0 })
                .collect();
            let side = Side {
                fixed: &y, d, gram: Some(&g), weights: Weights::Implicit { alpha },
                reg, nu: 0.0, n_fixed,
            };
            let mut s = Scratch::new(d);
            let mut exact = vec![0f32; d];
            exact_row(&side, &idx, &vals, &mut exact, &mut s).unwrap();
            let mut cg = random_matrix(1, d, 1.0, seed, 3);
            dispatch(CgRow { side: &side, idx: &idx, vals: &vals, x: &mut cg, steps: 4 * d, s: &mut s });
            let scale = 1.0 + exact.iter().map(|v| v.abs()).fold(0.0, f32::max);
            for (a, b) in exact.iter().zip(&cg) {
                prop_assert!((a - b).abs() < 1e-3 * scale, "exact {:?} cg {:?}", exact, cg);
            }
        }
    }

    /// After a Cholesky fit, the item factors solve their normal equations given the final
    /// user factors exactly (checked in f64 from the definitions, not from the solver).
    #[test]
    fn cholesky_fit_is_stationary_for_items() {
        let data = two_groups(12, 10);
        let (alpha, lambda) = (3.0f32, 0.1f32);
        let m = Als::params()
            .factors(3)
            .alpha(alpha)
            .regularization(lambda)
            .iterations(4)
            .solver(AlsSolver::Cholesky)
            .seed(5)
            .fit(&data)
            .unwrap();
        let (k, x, y) = (3, m.user_factors(), m.item_factors());
        let t = data.transpose();
        for i in 0..10u32 {
            let mut a = vec![0f64; k * k];
            let mut b = vec![0f64; k];
            for u in 0..12 {
                let xu = &x[u * k..(u + 1) * k];
                let pos = t.items_of(i).iter().position(|&v| v as usize == u);
                let c = 1.0 + pos.map_or(0.0, |p| alpha as f64 * t.values_of(i)[p] as f64);
                for r in 0..k {
                    for s in 0..k {
                        a[r * k + s] += c * xu[r] as f64 * xu[s] as f64;
                    }
                    if pos.is_some() {
                        b[r] += c * xu[r] as f64;
                    }
                }
            }
            let yi = &y[i as usize * k..(i as usize + 1) * k];
            for r in 0..k {
                let ay: f64 = (0..k).map(|s| a[r * k + s] * yi[s] as f64).sum::<f64>()
                    + lambda as f64 * yi[r] as f64;
                assert!(
                    (ay - b[r]).abs() < 1e-3 * (1.0 + b[r].abs()),
                    "item {i}: {ay} vs {}",
                    b[r]
                );
            }
        }
    }

    /// Explicit ALS recovers ratings that are exactly `μ + b_u + b_i + x_u·y_i` (rank 1).
    #[test]
    fn explicit_fits_low_rank_ratings() {
        let (nu, ni) = (20u32, 15u32);
        let xu = |u: u32| (u as f32 * 0.37).sin();
        let yi = |i: u32| (i as f32 * 0.91).cos();
        let rating =
            |u: u32, i: u32| 3.0 + 0.2 * (u % 3) as f32 - 0.1 * (i % 4) as f32 + xu(u) * yi(i);
        let mut t = Vec::new();
        for u in 0..nu {
            for i in 0..ni {
                if (u * 7 + i * 3) % 4 != 0 {
                    t.push((u, i, rating(u, i)));
                }
            }
        }
        let data = interactions(nu as usize, ni as usize, &t);
        for solver in [AlsSolver::Cholesky, AlsSolver::ConjugateGradient] {
            let m = Als::params()
                .feedback(Feedback::Explicit)
                .factors(2)
                .regularization(1e-3)
                .iterations(60)
                .cg_steps(4)
                .solver(solver)
                .fit(&data)
                .unwrap();
            assert_eq!(m.factor_width(), 4);
            let mut se = 0.0;
            for &(u, i, r) in &t {
                let s = m.score_items(u, &[], &[i]).unwrap()[0];
                se += ((s - r) as f64).powi(2);
            }
            let rmse = (se / t.len() as f64).sqrt();
            assert!(rmse < 0.05, "{solver:?}: train rmse {rmse}");
            // Held-out cells are predicted too (the data is exactly low rank).
            let (u, i) = (0, 0); // (0*7 + 0*3) % 4 == 0: not in training
            let s = m.score_items(u, &[], &[i]).unwrap()[0];
            assert!(
                (s - rating(u, i)).abs() < 0.3,
                "{solver:?}: {s} vs {}",
                rating(u, i)
            );
        }
    }

    /// Near convergence, folding in a fitted user's own history (with its values) gives back
    /// the user's fitted row, in both feedback modes.
    #[test]
    fn fold_in_reproduces_fitted_users() {
        let (nu, ni) = (15u32, 12u32);
        let mut t = Vec::new();
        for u in 0..nu {
            for i in 0..ni {
                if (u * 5 + i * 7) % 3 != 0 {
                    t.push((u, i, 1.0 + ((u + 2 * i) % 5) as f32));
                }
            }
        }
        let data = interactions(nu as usize, ni as usize, &t);
        for feedback in [Feedback::Implicit, Feedback::Explicit] {
            let m = Als::params()
                .feedback(feedback)
                .factors(3)
                .alpha(0.5)
                .regularization(0.5)
                .iterations(300)
                .solver(AlsSolver::Cholesky)
                .fit(&data)
                .unwrap();
            let w = m.factor_width();
            for u in [0u32, 4, 9] {
                let row = m
                    .recalculate_user(data.items_of(u), Some(data.values_of(u)))
                    .unwrap();
                let fitted = &m.user_factors()[u as usize * w..(u as usize + 1) * w];
                for (a, b) in row.iter().zip(fitted) {
                    assert!(
                        (a - b).abs() < 1e-3,
                        "{feedback:?} user {u}: {row:?} vs {fitted:?}"
                    );
                }
            }
            // Without values: 1.0 each (implicit) or the largest training rating (explicit).
            let mut out = vec![0f32; ni as usize];
            m.score_into(99, &[1, 2], &mut out).unwrap();
            assert!(out.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn unknown_users_fold_in_or_fail() {
        let data = two_groups(10, 12);
        let m = Als::params().factors(4).seed(3).fit(&data).unwrap();
        let mut out = vec![0f32; 12];
        assert!(matches!(
            m.score_into(10, &[], &mut out),
            Err(Error::UnknownUser(10))
        ));
        assert!(matches!(
            m.score_into(10, &[12], &mut out),
            Err(Error::UnknownItem(12))
        ));
        assert!(matches!(
            m.score_into(0, &[99], &mut out),
            Err(Error::UnknownItem(99))
        ));
        // A new user who likes even items gets even items.
        let top = m
            .recommend(
                99,
                &[0, 2, 4],
                &RecOpts {
                    k: 3,
                    ..RecOpts::default()
                },
            )
            .unwrap();
        assert_eq!(top.len(), 3);
        assert!(top.iter().all(|s| s.item % 2 == 0), "{top:?}");
        // Folding in a fitted user's own history gives a row that solves the normal equations.
        let row = m.recalculate_user(data.items_of(1), None).unwrap();
        assert_eq!(row.len(), 4);
        assert!(matches!(
            m.recalculate_user(&[1, 3], Some(&[1.0])),
            Err(Error::Data(_))
        ));
        assert!(matches!(
            m.recalculate_user(&[1], Some(&[-1.0])),
            Err(Error::Data(_))
        ));
        let mut bad = vec![0f32; 3];
        assert!(matches!(
            m.score_factors_into(&row, &mut bad),
            Err(Error::Data(_))
        ));
    }

    #[test]
    fn fit_is_independent_of_thread_count() {
        let data = two_groups(40, 30);
        let fit = |threads: usize, solver: AlsSolver, feedback: Feedback| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    Als::params()
                        .factors(5)
                        .iterations(3)
                        .solver(solver)
                        .feedback(feedback)
                        .seed(11)
                        .fit(&data)
                        .unwrap()
                })
        };
        for solver in [AlsSolver::ConjugateGradient, AlsSolver::Cholesky] {
            for fb in [Feedback::Implicit, Feedback::Explicit] {
                assert_eq!(fit(1, solver, fb), fit(3, solver, fb), "{solver:?} {fb:?}");
            }
        }
        assert_ne!(
            fit(1, AlsSolver::ConjugateGradient, Feedback::Implicit).user_factors(),
            Als::params()
                .factors(5)
                .iterations(3)
                .seed(12)
                .fit(&data)
                .unwrap()
                .user_factors()
        );
    }

    #[test]
    fn similar_items_by_cosine() {
        let data = two_groups(16, 10);
        let m = Als::params().factors(4).seed(2).fit(&data).unwrap();
        let sim = m.similar_items(2, 4).unwrap();
        assert_eq!(sim.len(), 4);
        assert!(sim
            .iter()
            .all(|s| s.item != 2 && s.score <= 1.0 + 1e-5 && s.score >= -1.0 - 1e-5));
        assert!(sim.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(sim.iter().all(|s| s.item % 2 == 0), "{sim:?}");
        assert!(matches!(
            m.similar_items(10, 3),
            Err(Error::UnknownItem(10))
        ));
    }

    #[test]
    fn damaged_dimensions_are_refused_on_load() {
        let data = two_groups(4, 6);
        let mut m = Als::params().factors(2).fit(&data).unwrap();
        m.users.pop();
        let bytes = to_bytes(&m).unwrap();
        assert!(matches!(from_bytes::<Als>(&bytes), Err(Error::Format(_))));
        assert!(matches!(
            AnyModel::from_bytes(&bytes),
            Err(Error::Format(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn recommend_respects_filters_round_trips_and_is_deterministic(
            triples in prop::collection::vec((0u32..8, 0u32..15, 1u32..6), 1..80),
            exclude in prop::collection::vec(0u32..15, 0..4),
            k in 1usize..20,
            explicit in any::<bool>(),
            cholesky in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let t: Vec<(u32, u32, f32)> = triples.iter().map(|&(u, i, v)| (u, i, v as f32)).collect();
            let data = interactions(8, 15, &t);
            let params = Als::params()
                .factors(3)
                .iterations(3)
                .seed(seed)
                .feedback(if explicit { Feedback::Explicit } else { Feedback::Implicit })
                .solver(if cholesky { AlsSolver::Cholesky } else { AlsSolver::ConjugateGradient })
                .regularization(0.1);
            let model = params.fit(&data).unwrap();
            prop_assert_eq!(&params.fit(&data).unwrap(), &model);
            let back: Als = from_bytes(&to_bytes(&model).unwrap()).unwrap();
            let any = AnyModel::from_bytes(&AnyModel::from(model.clone()).to_bytes().unwrap()).unwrap();
            let opts = RecOpts { k, exclude: Some(&exclude), ..RecOpts::default() };
            let users: Vec<u32> = (0..8).collect();
            let batch = model.recommend_batch(&users, &data, &opts).unwrap();
            for u in 0..8u32 {
                let top = model.recommend(u, data.items_of(u), &opts).unwrap();
                let mut all = vec![0f32; 15];
                model.score_into(u, data.items_of(u), &mut all).unwrap();
                prop_assert!(all.iter().all(|s| s.is_finite()));
                prop_assert!(top.len() <= k);
                for s in &top {
                    prop_assert!(!data.items_of(u).contains(&s.item));
                    prop_assert!(!exclude.contains(&s.item));
                    prop_assert!(s.score.is_finite());
                }
                prop_assert!(top.windows(2).all(|w| w[0].score >= w[1].score));
                prop_assert_eq!(&back.recommend(u, data.items_of(u), &opts).unwrap(), &top);
                prop_assert_eq!(&any.recommend(u, data.items_of(u), &opts).unwrap(), &top);
                // The batch path scores by matrix product: the same lists, up to the order of
                // items whose scores tie within rounding.
                let b = &batch[u as usize];
                prop_assert_eq!(b.len(), top.len());
                let tol = |s: f32| 1e-4 * (1.0 + s.abs());
                for (x, y) in b.iter().zip(&top) {
                    prop_assert!(!data.items_of(u).contains(&x.item) && !exclude.contains(&x.item));
                    prop_assert!((x.score - y.score).abs() <= tol(y.score));
                    prop_assert!((all[x.item as usize] - x.score).abs() <= tol(x.score));
                    if x.item != y.item {
                        // a tie: the per-user score of the batch's item equals the per-user one
                        prop_assert!((all[x.item as usize] - y.score).abs() <= 2.0 * tol(y.score));
                    }
                }
            }
        }
    }
}
