//! Training: next-item samples from each user's ordered history, mini-batches of packed
//! sequences, softmax cross-entropy at every position, Adam, early stopping on a held-out
//! validation item.
//!
//! Every random draw comes from a stream keyed by `(seed, epoch, batch)`, and all reductions
//! run in a fixed order, so a fit is reproducible for a given seed whatever the thread count.

use std::time::Instant;

use rayon::prelude::*;

use super::hyperparams::SasRecValidParams;
use super::net::{self, Arch, Batch, Weights};
use crate::data::rng::Rng;
use crate::data::{Interactions, ItemIdx};
use crate::model::ncf::optim::{update, Schedule};
use crate::model::NcfOptimizer;
use crate::{Error, Result};

/// What one training epoch did (passed to the progress callback of
/// [`SasRecParams::fit_sequences`](super::SasRecParams::fit_sequences)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SasRecEpoch {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training cross-entropy over the epoch's batches.
    pub loss: f64,
    /// HR@10 on the validation items (NaN without validation).
    pub valid_hr: f64,
    /// NDCG@10 on the validation items (NaN without validation).
    pub valid_ndcg: f64,
    /// Wall seconds of the epoch's training steps (validation excluded).
    pub train_seconds: f64,
}

/// The outcome of a training run.
pub(crate) struct Trained {
    pub(crate) weights: Weights,
    pub(crate) arch: Arch,
    pub(crate) epochs_run: usize,
    pub(crate) best_epoch: usize,
}

/// Each user's items ordered by timestamp (ties, and data without timestamps, by item index).
///
/// The one place that turns an [`Interactions`] matrix into sequences.
pub(crate) fn sequences_of(data: &Interactions) -> Vec<Vec<ItemIdx>> {
    (0..data.n_users() as u32)
        .map(|u| {
            let items = data.items_of(u);
            match data.timestamps_of(u) {
                Some(ts) => {
                    let mut pairs: Vec<(i64, ItemIdx)> =
                        ts.iter().copied().zip(items.iter().copied()).collect();
                    pairs.sort_unstable();
                    pairs.into_iter().map(|(_, i)| i).collect()
                }
                None => items.to_vec(),
            }
        })
        .collect()
}

/// A training sample: the last `max_len` inputs of a history and the next item at each.
fn samples(train: &[Vec<ItemIdx>], max_len: usize) -> Vec<(&[u32], &[u32])> {
    train
        .iter()
        .filter(|s| s.len() >= 2)
        .map(|s| {
            let n = s.len();
            let l = (n - 1).min(max_len);
            (&s[n - 1 - l..n - 1], &s[n - l..])
        })
        .collect()
}

/// Trains a network on ordered histories `train` (items `< n_items`); `valid[u]`, when given,
/// is user `u`'s validation item, used for early stopping.
pub(crate) fn train(
    p: &SasRecValidParams,
    n_items: usize,
    train: &[Vec<ItemIdx>],
    valid: &[Option<ItemIdx>],
    progress: &mut dyn FnMut(&SasRecEpoch),
) -> Result<Trained> {
    if n_items == 0 {
        return Err(Error::Data("no items to train on".into()));
    }
    let bad = train
        .iter()
        .flatten()
        .chain(valid.iter().flatten())
        .find(|&&i| i as usize >= n_items);
    if let Some(&bad) = bad {
        return Err(Error::UnknownItem(bad as u64));
    }
    let arch = Arch {
        n_items,
        hidden: p.hidden,
        heads: p.heads,
        blocks: p.blocks,
        max_len: p.max_len,
    };
    let samples = samples(train, p.max_len);
    if samples.is_empty() {
        return Err(Error::Data(
            "no user has two or more items: nothing to learn an order from".into(),
        ));
    }
    let mut w = Weights::init(&arch, p.seed);
    let mut grad = w.zeros_like();
    let mut m = w.zeros_like();
    let mut v = w.zeros_like();
    let mut sched = Schedule::new(NcfOptimizer::Adam, p.learning_rate);
    let val_users = validation_users(train, valid, p.validation_users);
    let mut best = (f64::NEG_INFINITY, 0usize, None::<Weights>);
    let mut order: Vec<usize> = (0..samples.len()).collect();
    let mut workspace = net::Workspace::default();
    let mut epochs_run = 0;
    let fit_start = Instant::now();
    for epoch in 1..=p.epochs {
        let t0 = Instant::now();
        let mut rng = Rng::stream(p.seed, epoch as u64);
        rng.shuffle(&mut order);
        let mut loss_sum = 0.0;
        let mut n_batches = 0;
        for (bi, idx) in order.chunks(p.batch_size).enumerate() {
            let inputs: Vec<&[u32]> = idx.iter().map(|&k| samples[k].0).collect();
            let targets: Vec<&[u32]> = idx.iter().map(|&k| samples[k].1).collect();
            let batch = Batch::new(&inputs, &targets);
            let key = p.seed ^ ((epoch as u64) << 40) ^ ((bi as u64) << 8) ^ 0xd1;
            let cols =
                (p.negatives > 0).then(|| sampled_columns(&batch, n_items, p.negatives, key));
            for g in grad.tensors_mut() {
                g.iter_mut().for_each(|x| *x = 0.0);
            }
            let loss = net::loss_and_grad_in(
                &w,
                &arch,
                &batch,
                cols.as_deref(),
                p.dropout,
                Some(key),
                &mut grad,
                &mut workspace,
            );
            if !loss.is_finite() {
                return Err(Error::Numerical(format!(
                    "sasrec: training loss is {loss} at epoch {epoch}; lower learning_rate"
                )));
            }
            let step = sched.next();
            for (((pw, g), mm), vv) in w
                .tensors_mut()
                .into_iter()
                .zip(grad.tensors_mut())
                .zip(m.tensors_mut())
                .zip(v.tensors_mut())
            {
                update(step, pw, g, 1.0, mm, vv);
            }
            loss_sum += loss;
            n_batches += 1;
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        epochs_run = epoch;
        let (hr, ndcg) = if val_users.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            validate(&w, &arch, train, valid, &val_users)
        };
        progress(&SasRecEpoch {
            epoch,
            loss: loss_sum / n_batches.max(1) as f64,
            valid_hr: hr,
            valid_ndcg: ndcg,
            train_seconds,
        });
        let over_budget = p
            .max_seconds
            .is_some_and(|s| fit_start.elapsed().as_secs_f64() >= s);
        if !val_users.is_empty() && p.patience > 0 {
            if ndcg > best.0 {
                best = (ndcg, epoch, Some(w.clone()));
            } else if epoch - best.1 >= p.patience {
                break;
            }
        }
        if over_budget {
            break;
        }
    }
    let (best_epoch, weights) = match best {
        (_, e, Some(bw)) => (e, bw),
        _ => (epochs_run, w),
    };
    Ok(Trained {
        weights,
        arch,
        epochs_run,
        best_epoch,
    })
}

/// The batch's target items plus `k` uniform draws, deduplicated, in first-seen order.
fn sampled_columns(batch: &Batch, n_items: usize, k: usize, key: u64) -> Vec<u32> {
    let mut seen = vec![false; n_items];
    let mut cols = Vec::new();
    let mut push = |i: u32, cols: &mut Vec<u32>| {
        if !seen[i as usize] {
            seen[i as usize] = true;
            cols.push(i);
        }
    };
    for &t in &batch.targets {
        if t != net::NONE {
            push(t, &mut cols);
        }
    }
    let mut rng = Rng::stream(key, 0xc01);
    for _ in 0..k {
        push(rng.gen_range(n_items as u64) as u32, &mut cols);
    }
    cols
}

/// Users with a validation item and a non-empty history, at most `max` of them spread evenly
/// over the user range.
fn validation_users(train: &[Vec<ItemIdx>], valid: &[Option<ItemIdx>], max: usize) -> Vec<usize> {
    let all: Vec<usize> = (0..train.len().min(valid.len()))
        .filter(|&u| valid[u].is_some() && !train[u].is_empty())
        .collect();
    if all.len() <= max {
        return all;
    }
    (0..max).map(|k| all[k * all.len() / max]).collect()
}

/// HR@10 and NDCG@10 of the validation items, ranking every item not in the user's history.
pub(crate) fn validate(
    w: &Weights,
    arch: &Arch,
    train: &[Vec<ItemIdx>],
    valid: &[Option<ItemIdx>],
    users: &[usize],
) -> (f64, f64) {
    let hits: Vec<(f64, f64)> = users
        .par_iter()
        .map_init(
            || vec![0f32; arch.n_items],
            |scores, &u| {
                let hist = &train[u];
                let Some(target) = valid[u] else {
                    return (0.0, 0.0);
                };
                let seq = &hist[hist.len().saturating_sub(arch.max_len)..];
                net::score_sequence(w, arch, seq, scores);
                let ts = scores[target as usize];
                for &i in hist {
                    scores[i as usize] = f32::NEG_INFINITY;
                }
                scores[target as usize] = ts;
                // ties count against the target (pessimistic)
                let rank = scores
                    .iter()
                    .enumerate()
                    .filter(|&(i, &s)| i != target as usize && s >= ts)
                    .count();
                if rank < 10 {
                    (1.0, 1.0 / (rank as f64 + 2.0).log2())
                } else {
                    (0.0, 0.0)
                }
            },
        )
        .collect();
    let n = hits.len().max(1) as f64;
    (
        hits.iter().map(|h| h.0).sum::<f64>() / n,
        hits.iter().map(|h| h.1).sum::<f64>() / n,
    )
}
