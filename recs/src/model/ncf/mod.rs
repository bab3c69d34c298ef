//! Neural collaborative filtering (He et al., WWW 2017): GMF, MLP and NeuMF for implicit
//! feedback, trained on the CPU with forward and backward passes written here.
//!
//! - **GMF**: `ŷ = σ(wᵀ(p_u ⊙ q_i) + b)`, a generalised matrix factorisation.
//! - **MLP**: `ŷ = σ(wᵀ·MLP([p_u, q_i]) + b)`, a ReLU tower over concatenated embeddings.
//! - **NeuMF**: both, with separate embeddings, joined by concatenating the GMF vector and the
//!   MLP output before the prediction layer. It can start from a fitted GMF and MLP
//!   ([`NcfParams::pretrain_epochs`], [`NcfParams::fit_pretrained`]).
//!
//! Training minimises binary cross-entropy over every stored (user, item) pair as a positive
//! and `negatives` uniformly sampled unseen items per positive, resampled each epoch, with Adam
//! or SGD on mini-batches. Each mini-batch is cut into `max(2, threads)` shards computed in
//! parallel (rayon) whose gradients are summed in a fixed order, and the update is split over
//! disjoint parameter ranges: a fit is reproducible for a given seed, and identical with one or
//! two threads.
//!
//! ```
//! use recs::data::{Interactions, Record};
//! use recs::model::{Fit, Ncf, NcfArch, RecOpts, Recommender};
//! // two taste groups: users 0..4 like items 0..3, users 4..8 like items 3..6
//! let recs: Vec<Record> = (0..8u32)
//!     .flat_map(|u| {
//!         let base = if u < 4 { 0 } else { 3 };
//!         (0..3).filter(move |k| (u + k) % 3 != 0).map(move |k| (u, base + k))
//!     })
//!     .map(|(user, item)| Record { user, item, value: 1.0, timestamp: None })
//!     .collect();
//! let train = Interactions::from_records(8, 6, &recs, Default::default())?;
//! let model = Ncf::params()
//!     .arch(NcfArch::Gmf)
//!     .factors(4)
//!     .epochs(60)
//!     .learning_rate(0.05)
//!     .fit(&train)?;
//! let top = model.recommend(0, train.items_of(0), &RecOpts { k: 1, ..Default::default() })?;
//! assert_eq!(top[0].item, 0); // the one item of user 0's group they have not seen
//! assert!(model.recommend(99, &[], &RecOpts::default()).is_err()); // no fold-in
//! # Ok::<(), recs::Error>(())
//! ```

// Gradient code and its checks index several parallel arrays by one position.
#![allow(clippy::needless_range_loop)]

mod layers;
mod net;
pub(super) mod optim;
mod params;
mod train;

pub use optim::NcfOptimizer;
pub use params::{NcfParams, NcfValidParams};

use std::cell::RefCell;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{check_history, top_k, Persist, Recommender, Scored};
use crate::data::{ItemIdx, UserIdx};
use crate::{Error, Result};
use net::{Net, Work};

/// Which NCF network to train.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NcfArch {
    /// Generalised matrix factorisation: element-wise product of embeddings.
    Gmf,
    /// Multi-layer perceptron over concatenated embeddings.
    Mlp,
    /// GMF and MLP fused before the prediction layer.
    #[default]
    NeuMf,
}

/// What one training epoch did, passed to the progress callback of
/// [`NcfParams::fit_with_progress`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EpochStats {
    /// The network being trained: the final one, or GMF / MLP while pre-training NeuMF.
    pub stage: NcfArch,
    /// 1-based epoch within the stage.
    pub epoch: usize,
    /// Epochs planned for the stage (early stopping may end it sooner).
    pub epochs: usize,
    /// Mean binary cross-entropy over the epoch's instances (positives and negatives).
    pub loss: f64,
    /// Training instances seen in the epoch.
    pub samples: usize,
    /// Wall-clock seconds of the epoch (validation included).
    pub seconds: f64,
    /// HR@10 on the validation split against 99 sampled negatives, when early stopping is on
    /// (the early-stopping criterion).
    pub val_hr10: Option<f64>,
    /// NDCG@10 on the validation split, when early stopping is on.
    pub val_ndcg10: Option<f64>,
}

/// A fitted GMF, MLP or NeuMF model. Scores are logits (log-odds of an interaction).
///
/// The model knows only the users it was trained on: it has no fold-in, so a user outside the
/// fitted range gets [`Error::UnknownUser`] whatever their history.
#[derive(Debug, Clone, PartialEq)]
pub struct Ncf {
    net: Net,
}

impl Ncf {
    /// Default parameters (see [`NcfParams`] for each default).
    pub fn params() -> NcfParams {
        NcfParams::default()
    }

    /// The network type.
    pub fn arch(&self) -> NcfArch {
        self.net.arch
    }

    /// GMF predictive factors (0 for MLP).
    pub fn factors(&self) -> usize {
        self.net.factors
    }

    /// MLP sizes, embedding concatenation first (empty for GMF).
    pub fn mlp_layers(&self) -> &[usize] {
        &self.net.widths
    }

    /// Number of users the model can score.
    pub fn n_users(&self) -> usize {
        self.net.n_users
    }

    /// Number of trained parameters.
    pub fn n_params(&self) -> usize {
        self.net.users.len() + self.net.items.len() + self.net.dense.len()
    }

    fn check_user(&self, user: UserIdx) -> Result<()> {
        if (user as usize) < self.net.n_users {
            Ok(())
        } else {
            Err(Error::UnknownUser(user as u64))
        }
    }
}

thread_local! {
    static WORK: RefCell<Work> = RefCell::new(Work::default());
}

fn with_work<R>(f: impl FnOnce(&mut Work) -> R) -> R {
    WORK.with(|w| match w.try_borrow_mut() {
        Ok(mut w) => f(&mut w),
        Err(_) => f(&mut Work::default()),
    })
}

impl Recommender for Ncf {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn n_items(&self) -> usize {
        self.net.n_items
    }

    fn score_into(&self, user: UserIdx, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        self.check_user(user)?;
        check_history(history, self.net.n_items)?;
        if out.len() != self.net.n_items {
            return Err(Error::Data(format!(
                "score buffer has {} slots, expected {}",
                out.len(),
                self.net.n_items
            )));
        }
        let items: Vec<ItemIdx> = (0..self.net.n_items as ItemIdx).collect();
        with_work(|w| self.net.predict(user, &items, out, w));
        Ok(())
    }

    fn score_items(
        &self,
        user: UserIdx,
        history: &[ItemIdx],
        items: &[ItemIdx],
    ) -> Result<Vec<f32>> {
        self.check_user(user)?;
        check_history(history, self.net.n_items)?;
        check_history(items, self.net.n_items)?;
        let mut out = vec![0f32; items.len()];
        with_work(|w| self.net.predict(user, items, &mut out, w));
        Ok(out)
    }

    /// Cosine similarity of the items' embedding rows (GMF and MLP parts together).
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let n = self.net.n_items;
        if item as usize >= n {
            return Err(Error::UnknownItem(item as u64));
        }
        let row = self.net.row();
        let rows = &self.net.items;
        let norm = |i: usize| {
            rows[i * row..(i + 1) * row]
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
        };
        let q = &rows[item as usize * row..(item as usize + 1) * row];
        let qn = norm(item as usize);
        Ok(top_k(
            (0..n).filter(|&j| j != item as usize).map(|j| {
                let dot: f32 = q
                    .iter()
                    .zip(&rows[j * row..(j + 1) * row])
                    .map(|(a, b)| a * b)
                    .sum();
                let denom = qn * norm(j);
                let sim = if denom > 0.0 { dot / denom } else { 0.0 };
                (j as ItemIdx, sim)
            }),
            k,
        ))
    }
}

impl Persist for Ncf {
    const KIND: &'static str = "ncf";
}

impl Serialize for Ncf {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.net.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Ncf {
    /// Checks every shape, so a well-formed but inconsistent file is refused instead of
    /// panicking later.
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let net = Net::deserialize(d)?;
        net.validate().map_err(serde::de::Error::custom)?;
        Ok(Ncf { net })
    }
}

#[cfg(test)]
mod tests;
