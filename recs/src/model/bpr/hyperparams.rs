//! [`BprParams`]: the knobs of BPR-MF, their defaults and their ranges.

use serde::{Deserialize, Serialize};

use crate::model::ParamGuard;
use crate::util::{ensure_in, ensure_non_negative, ABOVE_ZERO_TO_TEN};
use crate::Result;

/// Parameters of [`Bpr`](super::Bpr). Build with [`Bpr::params`](super::Bpr::params).
///
/// ```
/// use recs::model::{Bpr, Fit, RecOpts, Recommender};
/// use recs::data::{Interactions, Record};
/// let recs = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 3), (2, 4)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(3, 5, &recs, Default::default())?;
/// let model = Bpr::params().factors(8).iterations(200).learning_rate(0.05).seed(1).fit(&train)?;
/// let top = model.recommend(0, train.items_of(0), &RecOpts { k: 1, ..RecOpts::default() })?;
/// assert_eq!(top[0].item, 2); // what the similar user 1 also liked
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BprParams(pub(super) BprValidParams);

/// Validated [`BprParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BprValidParams {
    pub(super) factors: usize,
    pub(super) learning_rate: f32,
    pub(super) regularization: f32,
    pub(super) iterations: usize,
    pub(super) seed: u64,
    pub(super) item_bias: bool,
    pub(super) hogwild: bool,
}

impl Default for BprParams {
    fn default() -> Self {
        BprParams(BprValidParams {
            factors: 64,
            learning_rate: 0.01,
            regularization: 0.01,
            iterations: 100,
            seed: 0,
            item_bias: true,
            hogwild: true,
        })
    }
}

impl BprValidParams {
    /// Number of latent factors `k`.
    pub fn factors(&self) -> usize {
        self.factors
    }
    /// SGD step size.
    pub fn learning_rate(&self) -> f32 {
        self.learning_rate
    }
    /// L2 regularization `λ`.
    pub fn regularization(&self) -> f32 {
        self.regularization
    }
    /// Number of epochs.
    pub fn iterations(&self) -> usize {
        self.iterations
    }
    /// Seed of initialisation and sampling.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Whether items have a learned bias.
    pub fn item_bias(&self) -> bool {
        self.item_bias
    }
    /// Whether chunks run in parallel without locks.
    pub fn hogwild(&self) -> bool {
        self.hogwild
    }
}

impl BprParams {
    /// Number of latent factors `k`. Default 64; must be in `1..=4096`.
    pub fn factors(mut self, k: usize) -> Self {
        self.0.factors = k;
        self
    }
    /// SGD step size. Default 0.01 (as `implicit`; on a validation split of MovieLens-1M,
    /// 0.01, 0.02 and 0.03 at 100 epochs were within noise, and 0.05 overfits); must be finite
    /// and in `(0, 10]`.
    pub fn learning_rate(mut self, lr: f32) -> Self {
        self.0.learning_rate = lr;
        self
    }
    /// L2 regularization `λ` of factors and biases. Default 0.01 (as `implicit`); must be
    /// finite and ≥ 0.
    pub fn regularization(mut self, lambda: f32) -> Self {
        self.0.regularization = lambda;
        self
    }
    /// Number of epochs (each draws as many triples as there are interactions). Default 100;
    /// must be in `1..=100000`.
    pub fn iterations(mut self, n: usize) -> Self {
        self.0.iterations = n;
        self
    }
    /// Seed of the initialisation and of the sampling. Default 0; any value.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// Learn a bias per item (as `implicit`). Default true.
    pub fn item_bias(mut self, on: bool) -> Self {
        self.0.item_bias = on;
        self
    }
    /// Run chunks of users in parallel with lock-free item updates (see the module docs).
    /// Default true; false makes the fit deterministic under the seed at the cost of speed.
    pub fn hogwild(mut self, on: bool) -> Self {
        self.0.hogwild = on;
        self
    }
}

impl ParamGuard for BprParams {
    type Checked = BprValidParams;
    fn check_ref(&self) -> Result<&Self::Checked> {
        let p = &self.0;
        ensure_in("factors", "an integer in 1..=4096", p.factors, 1..=4096)?;
        ensure_in(
            "learning_rate",
            "a number in (0, 10]",
            p.learning_rate,
            ABOVE_ZERO_TO_TEN,
        )?;
        ensure_non_negative("regularization", "a finite number >= 0", p.regularization)?;
        ensure_in(
            "iterations",
            "an integer in 1..=100000",
            p.iterations,
            1..=100_000,
        )?;
        Ok(p)
    }
    fn check(self) -> Result<Self::Checked> {
        self.check_ref()?;
        Ok(self.0)
    }
}
