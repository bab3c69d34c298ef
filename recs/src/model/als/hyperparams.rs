//! The parameters of [`Als`](super::Als) and their validation.

use serde::{Deserialize, Serialize};

use crate::model::ParamGuard;
use crate::util::{ensure_in, ensure_non_negative, ensure_positive};
use crate::Result;

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

/// Parameters of [`Als`](super::Als). Build with [`Als::params`](super::Als::params).
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
pub struct AlsParams(pub(super) AlsValidParams);

/// Validated [`AlsParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsValidParams {
    pub(super) factors: usize,
    pub(super) regularization: f32,
    pub(super) alpha: f32,
    pub(super) iterations: usize,
    pub(super) solver: AlsSolver,
    pub(super) cg_steps: usize,
    pub(super) seed: u64,
    pub(super) feedback: Feedback,
    pub(super) reg_exponent: f32,
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
        ensure_in("factors", "an integer in 1..=4096", p.factors, 1..=4096)?;
        ensure_positive("regularization", p.regularization)?;
        ensure_non_negative("alpha", "a finite number >= 0", p.alpha)?;
        ensure_in(
            "iterations",
            "an integer in 1..=10000",
            p.iterations,
            1..=10_000,
        )?;
        ensure_in("cg_steps", "an integer in 1..=1000", p.cg_steps, 1..=1000)?;
        ensure_in(
            "reg_exponent",
            "a number in [0, 2]",
            p.reg_exponent,
            0.0..=2.0,
        )?;
        Ok(p)
    }
    fn check(self) -> Result<Self::Checked> {
        self.check_ref()?;
        Ok(self.0)
    }
}
