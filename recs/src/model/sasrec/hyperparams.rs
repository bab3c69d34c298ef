//! Parameters of [`SasRec`](super::SasRec): builder, validation, documented defaults.

use serde::{Deserialize, Serialize};

use crate::model::ParamGuard;
use crate::util::{ensure_in, ensure_non_negative, ensure_positive};
use crate::{Error, Result};

/// Parameters of a SASRec model (build with [`SasRec::params`](super::SasRec::params)).
///
/// Defaults: the SASRec+ paper's architecture (Klenitskiy & Vasilev, RecSys 2023) — 2 blocks,
/// 1 head, hidden 64, max length 200, dropout 0.2, full softmax (`negatives = 0`), at most 200
/// epochs, seed 42, no time budget ([`max_seconds`](SasRecParams::max_seconds)) — with three
/// training settings chosen on the **validation item of S1** (each user's second-last item,
/// ML-1M users 1–2999; the test item never decided them), not the paper's:
/// - **batch 64** (paper 128): with 3,000 users, 128 gives only 24 Adam steps an epoch; at
///   equal epochs batch 64 was ahead on validation (HR@10 0.2485 at epoch 14 against 0.2085 at
///   epoch 16 for 128), reaching the same figure in ~60% of the epochs;
/// - **learning rate 0.002** (paper 0.001): ahead after 2 epochs (validation HR@10 0.0435 vs
///   0.0395);
/// - **patience 8** (paper 3): the validation curve at batch 64 moves by ±0.01 HR@10 from
///   epoch to epoch once it nears its plateau (0.288, 0.2745, 0.286, 0.2845 at epochs 23–26),
///   so patience 3 stopped on that noise at epoch 26 while validation HR@10 later rose to 0.3135
///   (epoch 48). (The patience change was read off that validation curve, but after the
///   patience-3 run's test figure had been seen; `docs/benchmarks.md` says so.)
///
/// Figures and commands: `docs/benchmarks.md`, "SASRec on S1 at batch 64".
///
/// ```
/// use recs::model::{ParamGuard, SasRec};
/// let params = SasRec::params().blocks(1).hidden(32).heads(2).epochs(5);
/// assert!(params.check_ref().is_ok());
/// assert!(SasRec::params().hidden(30).heads(4).check_ref().is_err()); // 30 % 4 != 0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SasRecParams(pub(crate) SasRecValidParams);

/// Validated [`SasRecParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SasRecValidParams {
    pub(crate) blocks: usize,
    pub(crate) heads: usize,
    pub(crate) hidden: usize,
    pub(crate) max_len: usize,
    pub(crate) dropout: f32,
    pub(crate) epochs: usize,
    pub(crate) batch_size: usize,
    pub(crate) learning_rate: f32,
    pub(crate) negatives: usize,
    pub(crate) patience: usize,
    pub(crate) validation_users: usize,
    pub(crate) seed: u64,
    /// `None`: no time budget. Not stored in model files: the files are positional (postcard,
    /// bincode before format 2), so a new stored field would break every file written before
    /// it (`tests/model_format.rs` caught that); a training budget is not needed to score. A
    /// loaded model reports `None`.
    #[serde(skip)]
    pub(crate) max_seconds: Option<f64>,
}

impl Default for SasRecParams {
    fn default() -> Self {
        SasRecParams(SasRecValidParams {
            blocks: 2,
            heads: 1,
            hidden: 64,
            max_len: 200,
            dropout: 0.2,
            epochs: 200,
            batch_size: 64,
            learning_rate: 2e-3,
            negatives: 0,
            patience: 8,
            validation_users: 2000,
            seed: 42,
            max_seconds: None,
        })
    }
}

impl SasRecValidParams {
    /// Transformer blocks.
    pub fn blocks(&self) -> usize {
        self.blocks
    }
    /// Attention heads per block.
    pub fn heads(&self) -> usize {
        self.heads
    }
    /// Hidden (embedding) width.
    pub fn hidden(&self) -> usize {
        self.hidden
    }
    /// Longest history the model reads (the newest items).
    pub fn max_len(&self) -> usize {
        self.max_len
    }
    /// Dropout rate.
    pub fn dropout(&self) -> f32 {
        self.dropout
    }
    /// Maximum number of epochs.
    pub fn epochs(&self) -> usize {
        self.epochs
    }
    /// Sequences per mini-batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// Adam's learning rate.
    pub fn learning_rate(&self) -> f32 {
        self.learning_rate
    }
    /// Sampled negatives per batch (0: full softmax over all items).
    pub fn negatives(&self) -> usize {
        self.negatives
    }
    /// Epochs without a better validation NDCG@10 before training stops (0: no early stopping).
    pub fn patience(&self) -> usize {
        self.patience
    }
    /// At most this many users are scored for the validation metric each epoch.
    pub fn validation_users(&self) -> usize {
        self.validation_users
    }
    /// Seed of initialisation, shuffling, dropout and sampling.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The training time budget in seconds (`None`: no budget).
    pub fn max_seconds(&self) -> Option<f64> {
        self.max_seconds
    }
}

macro_rules! setter {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, v: $ty) -> Self {
                self.0.$name = v;
                self
            }
        )*
    };
}

impl SasRecParams {
    setter! {
        /// Transformer blocks (1..=16; default 2).
        blocks: usize,
        /// Attention heads (≥ 1, dividing `hidden`; default 1).
        heads: usize,
        /// Hidden width (1..=1024; default 64).
        hidden: usize,
        /// Longest history read, newest items kept (1..=4096; default 200).
        max_len: usize,
        /// Dropout rate in `[0, 1)` (default 0.2).
        dropout: f32,
        /// Maximum epochs (≥ 1; default 200).
        epochs: usize,
        /// Sequences per mini-batch (≥ 1; default 64).
        batch_size: usize,
        /// Adam learning rate (finite, > 0; default 0.002).
        learning_rate: f32,
        /// Sampled negatives per batch: 0 is the full softmax over all items (default); `k > 0`
        /// scores the batch's target items plus `k` uniformly drawn items (for big catalogues).
        negatives: usize,
        /// Early-stopping patience in epochs on the validation item (0: train all epochs; default 8).
        patience: usize,
        /// Users scored for validation each epoch (≥ 1; default 2000).
        validation_users: usize,
        /// Random seed (default 42).
        seed: u64,
    }

    /// A training time budget: no epoch starts once `seconds` of wall time (training and
    /// validation, from the start of the fit) have passed, so the epoch that crosses the budget
    /// is the last; early stopping's best weights are kept as usual. `0` trains exactly one
    /// epoch. Default: no budget.
    ///
    /// ```
    /// use recs::model::{ParamGuard, SasRec};
    /// // S1 (3k users, 3.7k items) within ten minutes
    /// let p = SasRec::params().max_seconds(600.0);
    /// assert_eq!(p.check_ref()?.max_seconds(), Some(600.0));
    /// assert!(SasRec::params().max_seconds(-1.0).check_ref().is_err());
    /// # Ok::<(), recs::Error>(())
    /// ```
    #[must_use]
    pub fn max_seconds(mut self, seconds: f64) -> Self {
        self.0.max_seconds = Some(seconds);
        self
    }
}

impl ParamGuard for SasRecParams {
    type Checked = SasRecValidParams;

    fn check_ref(&self) -> Result<&SasRecValidParams> {
        let p = &self.0;
        ensure_in("blocks", "an integer in 1..=16", p.blocks, 1..=16)?;
        ensure_in("hidden", "an integer in 1..=1024", p.hidden, 1..=1024)?;
        if p.heads == 0 || !p.hidden.is_multiple_of(p.heads) {
            return Err(Error::param(
                "heads",
                "an integer >= 1 dividing hidden",
                p.heads,
            ));
        }
        ensure_in("max_len", "an integer in 1..=4096", p.max_len, 1..=4096)?;
        ensure_in("dropout", "a number in [0, 1)", p.dropout, 0.0..1.0)?;
        ensure_in("epochs", "an integer >= 1", p.epochs, 1..)?;
        ensure_in("batch_size", "an integer >= 1", p.batch_size, 1..)?;
        ensure_positive("learning_rate", p.learning_rate)?;
        if let Some(s) = p.max_seconds {
            ensure_non_negative("max_seconds", "a finite number >= 0", s)?;
        }
        ensure_in(
            "validation_users",
            "an integer >= 1",
            p.validation_users,
            1..,
        )?;
        Ok(p)
    }

    fn check(self) -> Result<SasRecValidParams> {
        self.check_ref()?;
        Ok(self.0)
    }
}
