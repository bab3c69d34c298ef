//! The fitted model: scoring from the newest `max_len` items of a user's ordered history,
//! and persistence.

use serde::{Deserialize, Serialize};

use super::hyperparams::{SasRecParams, SasRecValidParams};
use super::net::{self, Arch, Weights};
use super::train::{self, sequences_of, SasRecEpoch};
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::model::{check_scores_len, Fit, ParamGuard, Persist, Recommender};
use crate::{Error, Result};

/// A fitted SASRec model: a causal self-attention network over each user's newest items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SasRecFile")]
pub struct SasRec {
    params: SasRecValidParams,
    arch: Arch,
    weights: Weights,
    /// Each known user's newest `max_len` training items, oldest first.
    histories: Vec<Vec<ItemIdx>>,
    epochs_run: usize,
    best_epoch: usize,
}

/// The serialized form, checked before it becomes a [`SasRec`].
#[derive(Deserialize)]
struct SasRecFile {
    params: SasRecValidParams,
    arch: Arch,
    weights: Weights,
    histories: Vec<Vec<ItemIdx>>,
    epochs_run: usize,
    best_epoch: usize,
}

impl TryFrom<SasRecFile> for SasRec {
    type Error = String;
    fn try_from(f: SasRecFile) -> std::result::Result<Self, String> {
        if !f.weights.fits(&f.arch) || f.arch.max_len == 0 {
            return Err("sasrec: weight shapes do not match the architecture".into());
        }
        if f.histories
            .iter()
            .flatten()
            .any(|&i| i as usize >= f.arch.n_items)
        {
            return Err("sasrec: a stored history holds an item outside the model".into());
        }
        Ok(SasRec {
            params: f.params,
            arch: f.arch,
            weights: f.weights,
            histories: f.histories,
            epochs_run: f.epochs_run,
            best_epoch: f.best_epoch,
        })
    }
}

impl SasRec {
    /// Default parameters.
    pub fn params() -> SasRecParams {
        SasRecParams::default()
    }

    /// The parameters it was trained with.
    pub fn hyperparams(&self) -> &SasRecValidParams {
        &self.params
    }

    /// Epochs trained (including those after the best one, before early stopping).
    pub fn epochs_run(&self) -> usize {
        self.epochs_run
    }

    /// The epoch whose weights the model keeps (best validation NDCG@10).
    pub fn best_epoch(&self) -> usize {
        self.best_epoch
    }

    /// The sequence scored for `user` given `history`: the stored training order of a known
    /// user, then the items of `history` it lacks (as newest, in the given order); the newest
    /// `max_len` of these.
    pub(crate) fn sequence(&self, user: UserIdx, history: &[ItemIdx]) -> Vec<ItemIdx> {
        let stored: &[ItemIdx] = self
            .histories
            .get(user as usize)
            .map_or(&[], |h| h.as_slice());
        let mut seq = stored.to_vec();
        if !history.is_empty() {
            let known: std::collections::HashSet<ItemIdx> = stored.iter().copied().collect();
            seq.extend(history.iter().filter(|i| !known.contains(i)));
        }
        let cut = seq.len().saturating_sub(self.arch.max_len);
        seq.drain(..cut);
        seq
    }
}

impl SasRecParams {
    /// Trains on ordered histories: `train[u]` is user `u`'s items, oldest first (items
    /// `< n_items`). `valid[u]` (optional; an empty slice for none) is user `u`'s validation item
    /// — the item after `train[u]` — used for early stopping; it joins the stored history that
    /// scoring starts from. `progress` sees every epoch.
    ///
    /// ```
    /// use recs::model::{RecOpts, Recommender, SasRec};
    /// // every user walks the cycle 0 → 1 → … → 5 → 0 from a different start
    /// let train: Vec<Vec<u32>> = (0..24u32).map(|u| (0..5).map(|k| (u + k) % 6).collect()).collect();
    /// let model = SasRec::params()
    ///     .blocks(1).hidden(16).max_len(8).epochs(60).learning_rate(0.01).dropout(0.0)
    ///     .fit_sequences(6, &train, &[], |_| {})?;
    /// // user 0 saw 0,1,2,3,4: next is 5
    /// let top = model.recommend(0, &train[0], &RecOpts { k: 1, ..Default::default() })?;
    /// assert_eq!(top[0].item, 5);
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for parameters out of range, [`Error::UnknownItem`] for an item
    /// `≥ n_items`, [`Error::Data`] when no history has two items, [`Error::Numerical`] when
    /// the loss diverges.
    pub fn fit_sequences(
        &self,
        n_items: usize,
        train: &[Vec<ItemIdx>],
        valid: &[Option<ItemIdx>],
        mut progress: impl FnMut(&SasRecEpoch),
    ) -> Result<SasRec> {
        let p = self.check_ref()?.clone();
        let trained = train::train(&p, n_items, train, valid, &mut progress)?;
        let histories = train
            .iter()
            .enumerate()
            .map(|(u, h)| {
                let mut h = h.clone();
                h.extend(valid.get(u).copied().flatten());
                let cut = h.len().saturating_sub(p.max_len);
                h.split_off(cut)
            })
            .collect();
        Ok(SasRec {
            params: p,
            arch: trained.arch,
            weights: trained.weights,
            histories,
            epochs_run: trained.epochs_run,
            best_epoch: trained.best_epoch,
        })
    }
}

impl Fit for SasRecParams {
    type Model = SasRec;

    /// Orders each user's items by timestamp (ties and untimed data by item index). With
    /// `patience > 0`, each user's newest item (users with 3+ items) is held out as the
    /// validation item for early stopping.
    fn fit(&self, data: &Interactions) -> Result<SasRec> {
        let p = self.check_ref()?;
        let mut train = sequences_of(data);
        let valid: Vec<Option<ItemIdx>> = if p.patience > 0 {
            train
                .iter_mut()
                .map(|s| if s.len() >= 3 { s.pop() } else { None })
                .collect()
        } else {
            Vec::new()
        };
        self.fit_sequences(data.n_items(), &train, &valid, |_| {})
    }
}

impl Recommender for SasRec {
    fn kind(&self) -> &'static str {
        "sasrec"
    }

    fn n_items(&self) -> usize {
        self.arch.n_items
    }

    fn score_into(&self, user: UserIdx, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        check_scores_len(out, self.arch.n_items)?;
        crate::model::check_history(history, self.arch.n_items)?;
        let seq = self.sequence(user, history);
        if seq.is_empty() {
            return Err(Error::UnknownUser(user as u64));
        }
        net::score_sequence(&self.weights, &self.arch, &seq, out);
        Ok(())
    }

    /// Scores `history` alone, in the order given (oldest first): the sequence a user the
    /// model was not trained on has watched, cut to the newest `max_len` items.
    fn score_history_into(&self, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        // no stored sequence belongs to UserIdx::MAX, so the sequence is the history itself
        self.score_into(UserIdx::MAX, history, out)
    }

    fn reads_order(&self) -> bool {
        true
    }

    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<crate::model::Scored>> {
        // the tied embeddings give a cosine similarity between items
        let d = self.arch.hidden;
        let n = self.arch.n_items;
        if item as usize >= n {
            return Err(Error::UnknownItem(item as u64));
        }
        let e = &self.weights.item;
        let norm = |i: usize| {
            e[i * d..(i + 1) * d]
                .iter()
                .map(|v| v * v)
                .sum::<f32>()
                .sqrt()
        };
        let q = &e[item as usize * d..][..d];
        let qn = norm(item as usize).max(1e-12);
        let sims = (0..n).filter(|&j| j != item as usize).map(|j| {
            let dot: f32 = q
                .iter()
                .zip(&e[j * d..(j + 1) * d])
                .map(|(a, b)| a * b)
                .sum();
            (j as ItemIdx, dot / (qn * norm(j).max(1e-12)))
        });
        Ok(crate::model::top_k(sims, k))
    }
}

impl Persist for SasRec {
    const KIND: &'static str = "sasrec";
}
