//! The training loop: epochs over the shuffled positives, each with freshly sampled negatives;
//! every mini-batch is split into one shard per rayon thread, the shards' gradients are reduced
//! in a fixed order, then the optimizer updates the dense weights and the touched embedding rows.
//!
//! Everything random comes from the seed, and the reduction order depends only on the number
//! of threads, so a fit is bit-for-bit reproducible for a given seed and thread count.

use std::time::Instant;

use rayon::prelude::*;

use super::layers::scatter_add;
use super::net::{Groups, Net, Work};
use super::optim::{catch_up, update, update_row, NcfOptimizer, Schedule, Step};
use super::{EpochStats, NcfArch};
use crate::data::Interactions;
use crate::util::rng::Xoshiro256PlusPlus as Rng;
use crate::{Error, Result};

/// Settings of one training stage (GMF or MLP pre-training, or the final model).
#[derive(Debug, Clone)]
pub(crate) struct Stage {
    pub arch: NcfArch,
    pub epochs: usize,
    pub lr: f32,
    pub optimizer: NcfOptimizer,
    pub batch_size: usize,
    pub negatives: usize,
    pub l2: f32,
    /// L2 penalty on the prediction layer's weights, per mini-batch.
    pub output_l2: f32,
    /// Learning rate at the stage's last step, as a fraction of `lr` (linear decay; 1: none).
    pub lr_final: f32,
    pub seed: u64,
    /// Early-stopping patience in epochs; 0 = off.
    pub patience: usize,
}

/// One held-out validation instance: the user's held-out item and sampled negatives.
#[derive(Debug, Clone)]
pub(crate) struct ValCase {
    user: u32,
    item: u32,
    negatives: Vec<u32>,
}

/// The training positives, the known interactions negatives must avoid, and the validation set.
#[derive(Debug)]
pub(crate) struct TrainData<'a> {
    seen: &'a Interactions,
    /// `seen` as per-user bitsets of `bit_words` words, when small enough.
    bits: Option<Vec<u64>>,
    bit_words: usize,
    /// Training positives `(user, item)`.
    pairs: Vec<(u32, u32)>,
    val: Vec<ValCase>,
}

/// Number of sampled negatives per validation case (as the NCF test protocol).
const VAL_NEGATIVES: usize = 99;

impl<'a> TrainData<'a> {
    /// Every stored (user, item) pair of `train` is a positive. With `validation`, each user with
    /// at least two items gives up their latest one (largest timestamp; a random one, seeded,
    /// when there are no timestamps) to a validation set scored against 99 sampled negatives.
    pub(crate) fn new(train: &'a Interactions, validation: bool, seed: u64) -> Result<Self> {
        if train.nnz() == 0 {
            return Err(Error::Data("NCF needs at least one interaction".into()));
        }
        if train.n_items() > u32::MAX as usize || train.n_users() > u32::MAX as usize {
            return Err(Error::Limit("more than 2^32 users or items".into()));
        }
        let mut rng = Rng::new(seed, 7);
        let mut pairs = Vec::with_capacity(train.nnz());
        let mut val = Vec::new();
        for u in 0..train.n_users() as u32 {
            let items = train.items_of(u);
            let held = if validation && items.len() >= 2 {
                let k = match train.timestamps_of(u) {
                    // ties: the last stored item, as without timestamps
                    Some(ts) => (0..ts.len()).max_by_key(|&k| ts[k]).unwrap_or(0),
                    // no time order: a random item (the last stored one would be the one with
                    // the largest index, which is no more "recent" than any other)
                    None => rng.below(items.len()),
                };
                Some(k)
            } else {
                None
            };
            for (k, &i) in items.iter().enumerate() {
                if Some(k) == held {
                    continue;
                }
                pairs.push((u, i));
            }
            if let Some(k) = held {
                let mut negatives = Vec::with_capacity(VAL_NEGATIVES);
                let free = train.n_items() - items.len();
                while negatives.len() < VAL_NEGATIVES.min(free) {
                    if let Some(j) = sample_negative(&mut rng, items, None, train.n_items()) {
                        if !negatives.contains(&j) {
                            negatives.push(j);
                        }
                    }
                }
                val.push(ValCase {
                    user: u,
                    item: items[k],
                    negatives,
                });
            }
        }
        let (bits, bit_words) = match bitsets(train) {
            Some((b, w)) => (Some(b), w),
            None => (None, 0),
        };
        Ok(TrainData {
            seen: train,
            bits,
            bit_words,
            pairs,
            val,
        })
    }

    /// Number of training positives.
    #[cfg(test)]
    pub(crate) fn n_positives(&self) -> usize {
        self.pairs.len()
    }
}

/// A uniformly random item that `seen` (sorted, unique) does not hold; `None` when there is none.
/// `bits`, when given, is the same set as a bitset (`bit j` of word `j / 64`) for O(1) lookups.
pub(crate) fn sample_negative(
    rng: &mut Rng,
    seen: &[u32],
    bits: Option<&[u64]>,
    n_items: usize,
) -> Option<u32> {
    let free = n_items.checked_sub(seen.len()).filter(|&f| f > 0)?;
    for _ in 0..32 {
        let j = rng.below(n_items) as u32;
        let taken = match bits {
            Some(b) => b[j as usize / 64] >> (j % 64) & 1 == 1,
            None => seen.binary_search(&j).is_ok(),
        };
        if !taken {
            return Some(j);
        }
    }
    // a user who has seen most items: pick the k-th unseen one directly
    let mut k = rng.below(free) as u32;
    let mut next = 0u32;
    for &s in seen {
        let gap = s - next;
        if k < gap {
            return Some(next + k);
        }
        k -= gap;
        next = s + 1;
    }
    Some(next + k)
}

/// Per-user bitsets of the training items (one load per membership test instead of a binary
/// search with cache misses), when they take at most this many bytes.
const MAX_BITSET_BYTES: usize = 256 << 20;

fn bitsets(train: &Interactions) -> Option<(Vec<u64>, usize)> {
    let words = train.n_items().div_ceil(64);
    if train.n_users().checked_mul(words * 8)? > MAX_BITSET_BYTES {
        return None;
    }
    let mut bits = vec![0u64; train.n_users() * words];
    for u in 0..train.n_users() {
        for &i in train.items_of(u as u32) {
            bits[u * words + i as usize / 64] |= 1 << (i % 64);
        }
    }
    Some((bits, words))
}

/// One shard of a mini-batch: its groups (one user, a positive and the sampled negatives), its
/// scratch buffers and, after the backward pass, its unscaled gradients and loss.
#[derive(Debug, Default)]
struct Shard {
    users: Vec<u32>,
    starts: Vec<usize>,
    items: Vec<u32>,
    labels: Vec<f32>,
    work: Work,
    loss: f64,
}

impl Shard {
    /// Builds the groups of the positives `picks`, which sit at `first..` in the epoch's
    /// order. Each group's negatives come from a random stream of its own (seed, epoch,
    /// position), so sampling does not depend on the sharding.
    fn fill(
        &mut self,
        data: &TrainData<'_>,
        picks: &[(u32, u32)],
        first: usize,
        stage: &Stage,
        epoch: usize,
    ) {
        self.users.clear();
        self.items.clear();
        self.labels.clear();
        self.starts.clear();
        self.starts.push(0);
        let n_items = data.seen.n_items();
        for (k, &(u, i)) in picks.iter().enumerate() {
            self.users.push(u);
            self.items.push(i);
            self.labels.push(1.0);
            let seen = data.seen.items_of(u);
            let bits = data
                .bits
                .as_deref()
                .map(|b| &b[u as usize * data.bit_words..(u as usize + 1) * data.bit_words]);
            let mut rng = Rng::new(stage.seed, ((epoch as u64) << 40) ^ (first + k) as u64);
            for _ in 0..stage.negatives {
                if let Some(j) = sample_negative(&mut rng, seen, bits, n_items) {
                    self.items.push(j);
                    self.labels.push(0.0);
                }
            }
            self.starts.push(self.items.len());
        }
    }

    /// Forward and backward pass with unscaled gradients (the mean is taken at the update).
    fn compute(&mut self, net: &Net) {
        let g = Groups {
            users: &self.users,
            starts: &self.starts,
            items: &self.items,
        };
        net.forward(&g, &mut self.work);
        self.loss = net.backward(&g, &self.labels, 1.0, &mut self.work);
    }
}

/// The optimizer state of a stage: Adam moments (empty for SGD) and gradient accumulators.
#[derive(Debug)]
struct State {
    dense_m: Vec<f32>,
    dense_v: Vec<f32>,
    /// Per user row `[m | v]`.
    user_mv: Vec<f32>,
    item_mv: Vec<f32>,
    /// Per user row: its slot in the compact gradient accumulator of the step, or [`NONE`].
    user_slot: Vec<u32>,
    item_slot: Vec<u32>,
    /// Per user row: the last step that updated it (Adam only; see [`catch_up`]).
    user_last: Vec<u32>,
    item_last: Vec<u32>,
}

/// No accumulator slot: the row was not touched in this step.
const NONE: u32 = u32::MAX;

/// One thread's share of the update: a contiguous range of user rows, item rows and dense
/// weights, with their optimizer state. Ranges are disjoint, so shares update in parallel.
struct Part<'a> {
    users: Rows<'a>,
    items: Rows<'a>,
    dense: Dense<'a>,
}

/// A contiguous range `lo..lo + params.len()` of the dense weights and its state.
struct Dense<'a> {
    lo: usize,
    params: &'a mut [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    grad: &'a mut Vec<f32>,
}

/// A contiguous range `lo..lo + slot.len()` of one embedding table and its state. The gradients
/// of the touched rows are summed in a compact buffer (`acc`, in first-touch order, found
/// through `slot`), which stays in cache, unlike a table-sized accumulator.
struct Rows<'a> {
    lo: usize,
    params: &'a mut [f32],
    mv: &'a mut [f32],
    slot: &'a mut [u32],
    /// Last step that updated each row (empty for SGD).
    last: &'a mut [u32],
    scratch: &'a mut RowScratch,
}

/// Per-part buffers of [`Rows`], reused across steps.
#[derive(Debug, Default)]
struct RowScratch {
    acc: Vec<f32>,
    touched: Vec<u32>,
}

/// Splits `v` (rows of `width`) into the row ranges `bounds[k]..bounds[k + 1]`.
fn split_rows<'a, T>(mut v: &'a mut [T], width: usize, bounds: &[usize]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(bounds.len().saturating_sub(1));
    for w in bounds.windows(2) {
        let (head, tail) = std::mem::take(&mut v).split_at_mut((w[1] - w[0]) * width);
        out.push(head);
        v = tail;
    }
    out
}

/// `0 = b_0 ≤ b_1 ≤ … ≤ b_parts = n`, evenly spaced.
fn ranges(n: usize, parts: usize) -> Vec<usize> {
    (0..=parts).map(|k| k * n / parts).collect()
}

/// Cuts one embedding table and its state into the row ranges `bounds`.
fn split_table<'a>(
    params: &'a mut [f32],
    mv: &'a mut [f32],
    slot: &'a mut [u32],
    last: &'a mut [u32],
    scratch: impl Iterator<Item = &'a mut RowScratch>,
    row: usize,
    bounds: &[usize],
) -> Vec<Rows<'a>> {
    let mvw = if mv.is_empty() { 0 } else { 2 * row };
    split_rows(params, row, bounds)
        .into_iter()
        .zip(split_rows(mv, mvw, bounds))
        .zip(split_rows(slot, 1, bounds))
        .zip(split_rows(last, usize::from(!last.is_empty()), bounds))
        .zip(scratch)
        .zip(bounds)
        .map(|(((((params, mv), slot), last), scratch), &lo)| Rows {
            lo,
            params,
            mv,
            slot,
            last,
            scratch,
        })
        .collect()
}

impl Rows<'_> {
    /// Sums the gradients of this range's rows over the shards (in shard order), then applies
    /// the optimizer to every touched row and clears the accumulators.
    ///
    /// `grads` yields `(row id, gradient, instances)`: the L2 penalty `l2/2·‖row‖²` is part of
    /// the loss of each of the `instances` training instances that used the row.
    fn apply<'g>(
        &mut self,
        step: Step,
        scale: f32,
        row: usize,
        l2: f32,
        grads: impl Iterator<Item = (u32, &'g [f32], usize)>,
    ) {
        let hi = self.lo + self.slot.len();
        let RowScratch { acc, touched } = &mut *self.scratch;
        for (id, g, instances) in grads {
            let id = id as usize;
            if id < self.lo || id >= hi {
                continue;
            }
            let local = id - self.lo;
            let k = match self.slot[local] {
                NONE => {
                    self.slot[local] = touched.len() as u32;
                    touched.push(local as u32);
                    acc.extend_from_slice(g);
                    touched.len() - 1
                }
                k => {
                    scatter_add(acc, row, 0, row, &[k], g);
                    k as usize
                }
            };
            if l2 > 0.0 {
                let decay = l2 * instances as f32;
                let p = &self.params[local * row..(local + 1) * row];
                for (a, &w) in acc[k * row..(k + 1) * row].iter_mut().zip(p) {
                    *a += decay * w;
                }
            }
        }
        let mvw = if self.mv.is_empty() { 0 } else { 2 * row };
        for (k, &l) in touched.iter().enumerate() {
            let l = l as usize;
            if !self.last.is_empty() {
                // dense Adam moved this row on every step it was not touched
                let skipped = step.t.saturating_sub(self.last[l] + 1);
                catch_up(
                    step,
                    &mut self.params[l * row..(l + 1) * row],
                    &mut self.mv[l * mvw..(l + 1) * mvw],
                    skipped,
                );
                self.last[l] = step.t;
            }
            update_row(
                step,
                &mut self.params[l * row..(l + 1) * row],
                &acc[k * row..(k + 1) * row],
                scale,
                &mut self.mv[l * mvw..(l + 1) * mvw],
            );
            self.slot[l] = NONE;
        }
        touched.clear();
        acc.clear();
    }
}

impl Part<'_> {
    /// `out_l2` is the prediction layer's weight range in the dense buffer and its L2
    /// coefficient on the batch's mean loss.
    fn apply(
        &mut self,
        shards: &[Shard],
        step: Step,
        scale: f32,
        row: usize,
        l2: f32,
        out_l2: (std::ops::Range<usize>, f32),
    ) {
        self.users.apply(
            step,
            scale,
            row,
            l2,
            shards.iter().flat_map(|s| {
                s.users.iter().enumerate().map(move |(g, &u)| {
                    let instances = s.starts[g + 1] - s.starts[g];
                    (u, &s.work.ug[g * row..(g + 1) * row], instances)
                })
            }),
        );
        self.items.apply(
            step,
            scale,
            row,
            l2,
            shards.iter().flat_map(|s| {
                s.items
                    .iter()
                    .enumerate()
                    .map(move |(k, &i)| (i, &s.work.ig[k * row..(k + 1) * row], 1))
            }),
        );
        let d = &mut self.dense;
        let (lo, n) = (d.lo, d.params.len());
        d.grad.clear();
        d.grad
            .extend_from_slice(&shards[0].work.dense_grad[lo..lo + n]);
        for s in &shards[1..] {
            for (a, &b) in d.grad.iter_mut().zip(&s.work.dense_grad[lo..lo + n]) {
                *a += b;
            }
        }
        let (range, coef) = out_l2;
        if coef > 0.0 {
            // the gradients are unscaled sums: the penalty on the mean loss, divided by `scale`
            let decay = coef / scale;
            let (a, b) = (range.start.max(lo), range.end.min(lo + n));
            for k in a..b {
                d.grad[k - lo] += decay * d.params[k - lo];
            }
        }
        update(step, d.params, d.grad, scale, d.m, d.v);
    }
}

/// HR@10 and NDCG@10 of `net` on the validation cases: the item's rank is the number of
/// negatives scoring at least as high (ties count against it, as in `recs::eval`).
fn validation_metrics(net: &Net, val: &[ValCase]) -> (f64, f64) {
    if val.is_empty() {
        return (0.0, 0.0);
    }
    let (hits, gain) = val
        .par_iter()
        .map_init(
            || (Work::default(), Vec::new(), Vec::new()),
            |(w, items, scores), c| {
                items.clear();
                items.push(c.item);
                items.extend_from_slice(&c.negatives);
                scores.resize(items.len(), 0f32);
                net.predict(c.user, items, scores, w);
                let rank = scores[1..].iter().filter(|&&s| s >= scores[0]).count();
                if rank < 10 {
                    (1usize, 1.0 / ((rank + 2) as f64).log2())
                } else {
                    (0, 0.0)
                }
            },
        )
        .reduce(|| (0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let n = val.len() as f64;
    (hits as f64 / n, gain / n)
}

/// The machinery of one stage: optimizer schedule and state, shards and per-part scratch.
struct Trainer {
    /// Shards per mini-batch (and parts of the update): `max(2, threads)`.
    n_shards: usize,
    groups_per_batch: usize,
    schedule: Schedule,
    state: State,
    shards: Vec<Shard>,
    user_scratch: Vec<RowScratch>,
    item_scratch: Vec<RowScratch>,
    dense_scratch: Vec<Vec<f32>>,
    /// The last optimizer step taken, for [`Trainer::flush`].
    last_step: Option<Step>,
}

impl Trainer {
    fn new(net: &Net, stage: &Stage, n_pairs: usize) -> Self {
        let n_shards = rayon::current_num_threads().max(2);
        let group = 1 + stage.negatives;
        let groups_per_batch = ((stage.batch_size + group / 2) / group).max(1);
        let total = n_pairs
            .div_ceil(groups_per_batch)
            .saturating_mul(stage.epochs)
            .min(u32::MAX as usize) as u32;
        let schedule = Schedule::new(stage.optimizer, stage.lr).decaying(total, stage.lr_final);
        let moments = |n: usize| {
            if schedule.has_moments() {
                vec![0f32; n]
            } else {
                Vec::new()
            }
        };
        let state = State {
            dense_m: moments(net.dense.len()),
            dense_v: moments(net.dense.len()),
            user_mv: moments(2 * net.users.len()),
            item_mv: moments(2 * net.items.len()),
            user_slot: vec![NONE; net.n_users],
            item_slot: vec![NONE; net.n_items],
            user_last: vec![
                0;
                if schedule.has_moments() {
                    net.n_users
                } else {
                    0
                }
            ],
            item_last: vec![
                0;
                if schedule.has_moments() {
                    net.n_items
                } else {
                    0
                }
            ],
        };
        Trainer {
            n_shards,
            groups_per_batch,
            schedule,
            state,
            shards: (0..n_shards).map(|_| Shard::default()).collect(),
            user_scratch: (0..n_shards).map(|_| RowScratch::default()).collect(),
            item_scratch: (0..n_shards).map(|_| RowScratch::default()).collect(),
            dense_scratch: vec![Vec::new(); n_shards],
            last_step: None,
        }
    }

    /// Brings every embedding row up to the last step (the moves dense Adam would have made
    /// since each row was last touched), so the network can be evaluated or returned.
    fn flush(&mut self, net: &mut Net) {
        let Some(step) = self.last_step else {
            return;
        };
        let row = net.row();
        let st = &mut self.state;
        for (params, mv, last) in [
            (&mut net.users, &mut st.user_mv, &mut st.user_last),
            (&mut net.items, &mut st.item_mv, &mut st.item_last),
        ] {
            for (l, t) in last.iter_mut().enumerate() {
                catch_up(
                    step,
                    &mut params[l * row..(l + 1) * row],
                    &mut mv[l * 2 * row..(l + 1) * 2 * row],
                    step.t.saturating_sub(*t),
                );
                *t = step.t;
            }
        }
    }

    /// One pass over `order`; returns the summed loss and the number of instances.
    fn epoch(
        &mut self,
        net: &mut Net,
        data: &TrainData<'_>,
        stage: &Stage,
        order: &[(u32, u32)],
        epoch: usize,
    ) -> (f64, usize) {
        let (mut loss, mut samples) = (0f64, 0usize);
        for (b, chunk) in order.chunks(self.groups_per_batch).enumerate() {
            let first = b * self.groups_per_batch;
            let (l, n) = self.batch(net, data, stage, chunk, first, epoch);
            loss += l;
            samples += n;
        }
        (loss, samples)
    }

    /// One mini-batch: sampling, forward and backward per shard in parallel, then the update
    /// in parallel over disjoint parameter ranges.
    fn batch(
        &mut self,
        net: &mut Net,
        data: &TrainData<'_>,
        stage: &Stage,
        chunk: &[(u32, u32)],
        first: usize,
        epoch: usize,
    ) -> (f64, usize) {
        let n_g = chunk.len();
        let parts = self.n_shards.min(n_g);
        let bounds = ranges(n_g, parts);
        let net_ref = &*net;
        self.shards[..parts]
            .par_iter_mut()
            .enumerate()
            .for_each(|(k, s)| {
                let (g0, g1) = (bounds[k], bounds[k + 1]);
                s.fill(data, &chunk[g0..g1], first + g0, stage, epoch);
                s.compute(net_ref);
            });
        let shards = &self.shards[..parts];
        let n_s: usize = shards.iter().map(|s| s.items.len()).sum();
        let loss = shards.iter().map(|s| s.loss).sum::<f64>();
        let scale = 1.0 / n_s as f32;
        let step = self.schedule.next();
        let row = net.row();
        let out_w = {
            let (pos, _) = Net::layout(net.factors, &net.widths);
            let out = pos[pos.len() - 1];
            out.w..out.b
        };
        // cut the parameters and their state into `parts` disjoint ranges
        let ub = ranges(net.n_users, parts);
        let ib = ranges(net.n_items, parts);
        let db = ranges(net.dense.len(), parts);
        let State {
            dense_m,
            dense_v,
            user_mv,
            item_mv,
            user_slot,
            item_slot,
            user_last,
            item_last,
        } = &mut self.state;
        self.last_step = Some(step);
        let users = split_table(
            &mut net.users,
            user_mv,
            user_slot,
            user_last,
            self.user_scratch.iter_mut(),
            row,
            &ub,
        );
        let items = split_table(
            &mut net.items,
            item_mv,
            item_slot,
            item_last,
            self.item_scratch.iter_mut(),
            row,
            &ib,
        );
        let dw = usize::from(!dense_m.is_empty());
        let dense = split_rows(&mut net.dense, 1, &db)
            .into_iter()
            .zip(split_rows(dense_m, dw, &db))
            .zip(split_rows(dense_v, dw, &db))
            .zip(self.dense_scratch.iter_mut())
            .zip(&db)
            .map(|((((params, m), v), grad), &lo)| Dense {
                lo,
                params,
                m,
                v,
                grad,
            });
        let mut work: Vec<Part<'_>> = users
            .into_iter()
            .zip(items)
            .zip(dense)
            .map(|((users, items), dense)| Part {
                users,
                items,
                dense,
            })
            .collect();
        work.par_iter_mut().for_each(|p| {
            p.apply(
                shards,
                step,
                scale,
                row,
                stage.l2,
                (out_w.clone(), stage.output_l2),
            )
        });
        (loss, n_s)
    }
}

/// Trains `net` for one stage, calling `progress` after every epoch.
///
/// Each mini-batch is cut into `max(2, threads)` shards: sampling, forward and backward run
/// per shard in parallel; then the parameters are cut into as many row ranges and updated in
/// parallel, each range summing the shards' gradients in shard order. Results therefore do not
/// depend on the thread count as long as it is at most 2.
pub(crate) fn train_stage(
    net: &mut Net,
    data: &TrainData<'_>,
    stage: &Stage,
    progress: &mut dyn FnMut(&EpochStats),
) {
    let mut trainer = Trainer::new(net, stage, data.pairs.len());
    // shuffled in place every epoch: batches then read it sequentially
    let mut order = data.pairs.clone();
    let mut best: Option<(f64, Net)> = None;
    let mut bad_epochs = 0;
    for epoch in 1..=stage.epochs {
        let start = Instant::now();
        Rng::new(stage.seed, epoch as u64).shuffle(&mut order);
        // Run the epoch on a pool thread: the per-batch parallel calls then stay inside the
        // pool instead of each blocking the caller's thread (two context switches per batch).
        let ((loss, samples), ()) =
            rayon::join(|| trainer.epoch(net, data, stage, &order, epoch), || ());
        trainer.flush(net);
        let val = (stage.patience > 0 && !data.val.is_empty())
            .then(|| validation_metrics(net, &data.val));
        let val_hr10 = val.map(|v| v.0);
        progress(&EpochStats {
            stage: stage.arch,
            epoch,
            epochs: stage.epochs,
            loss: loss / samples.max(1) as f64,
            samples,
            seconds: start.elapsed().as_secs_f64(),
            val_hr10,
            val_ndcg10: val.map(|v| v.1),
        });
        if let Some(hr) = val_hr10 {
            if best.as_ref().is_none_or(|(b, _)| hr > *b) {
                best = Some((hr, net.clone()));
                bad_epochs = 0;
            } else {
                bad_epochs += 1;
                if bad_epochs >= stage.patience {
                    break;
                }
            }
        }
    }
    if let Some((_, b)) = best {
        *net = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Record;
    use crate::util::rng::Xoshiro256PlusPlus as Rng;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn negatives_are_unseen_and_in_range(
            mut seen in prop::collection::vec(0u32..40, 0..40),
            seed in any::<u64>(),
        ) {
            seen.sort_unstable();
            seen.dedup();
            let mut bits = [0u64];
            for &i in &seen {
                bits[0] |= 1 << i;
            }
            let mut rng = Rng::new(seed, 0);
            let mut rng_bits = Rng::new(seed, 0);
            for _ in 0..50 {
                let j = sample_negative(&mut rng, &seen, None, 40);
                // the bitset gives the same answers from the same random stream
                prop_assert_eq!(sample_negative(&mut rng_bits, &seen, Some(&bits), 40), j);
                match j {
                    Some(j) => {
                        prop_assert!(j < 40);
                        prop_assert!(seen.binary_search(&j).is_err());
                    }
                    None => prop_assert_eq!(seen.len(), 40),
                }
            }
        }
    }

    #[test]
    fn row_updates_sum_duplicates_and_add_the_l2_penalty_per_instance() {
        // rows 2..5 of a table of width 2; SGD with lr 1 and scale 0.5: p -= 0.5 (Σg + l2·n·p)
        let mut params = vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut slot = vec![NONE; 3];
        let mut scratch = RowScratch::default();
        let mut rows = Rows {
            lo: 2,
            params: &mut params,
            mv: &mut [],
            slot: &mut slot,
            last: &mut [],
            scratch: &mut scratch,
        };
        let step = Schedule::new(NcfOptimizer::Sgd, 1.0).next();
        let grads: [(u32, &[f32], usize); 4] = [
            (3, &[1.0, 1.0], 5),
            (9, &[7.0, 7.0], 1), // outside this range: ignored
            (2, &[0.5, -0.5], 1),
            (3, &[1.0, -1.0], 2),
        ];
        rows.apply(step, 0.5, 2, 0.1, grads.into_iter());
        let want = [
            1.0 - 0.5 * (0.5 + 0.1 * 1.0),
            2.0 - 0.5 * (-0.5 + 0.1 * 2.0),
            3.0 - 0.5 * (2.0 + 0.1 * 7.0 * 3.0),
            4.0 - 0.5 * (0.0 + 0.1 * 7.0 * 4.0),
            5.0,
            6.0,
        ];
        for (a, b) in params.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{params:?} vs {want:?}");
        }
        assert!(slot.iter().all(|&s| s == NONE));
        assert!(scratch.acc.is_empty() && scratch.touched.is_empty());
    }

    #[test]
    fn dense_users_still_get_uniform_negatives() {
        // 95 of 100 items seen: the fallback path must find the 5 free ones, each often
        let seen: Vec<u32> = (0..100).filter(|i| i % 20 != 3).collect();
        let mut rng = Rng::new(9, 0);
        let mut counts = [0usize; 100];
        for _ in 0..5000 {
            counts[sample_negative(&mut rng, &seen, None, 100).unwrap() as usize] += 1;
        }
        for i in 0..100 {
            if i % 20 == 3 {
                assert!((800..1200).contains(&counts[i]), "{i}: {}", counts[i]);
            } else {
                assert_eq!(counts[i], 0);
            }
        }
    }

    #[test]
    fn validation_holds_out_the_latest_item() {
        let recs = [
            (0, 3, 5),
            (0, 1, 9),
            (0, 2, 1),
            (1, 0, 1),
            (2, 4, 2),
            (2, 0, 2),
        ]
        .map(|(u, i, t)| Record {
            user: u,
            item: i,
            value: 1.0,
            timestamp: Some(t),
        });
        let train = Interactions::from_records(3, 200, &recs, Default::default()).unwrap();
        let d = TrainData::new(&train, true, 1).unwrap();
        // user 0: item 1 (t = 9); user 1 has one item; user 2: tie at t = 2, last stored (4)
        let held: Vec<(u32, u32)> = d.val.iter().map(|c| (c.user, c.item)).collect();
        assert_eq!(held, vec![(0, 1), (2, 4)]);
        assert_eq!(d.n_positives(), 4);
        for c in &d.val {
            assert_eq!(c.negatives.len(), VAL_NEGATIVES);
            assert!(c
                .negatives
                .iter()
                .all(|&j| !train.items_of(c.user).contains(&j)));
        }
        let bits = d.bits.as_ref().unwrap();
        for u in 0..3u32 {
            for i in 0..200u32 {
                let bit = bits[u as usize * d.bit_words + i as usize / 64] >> (i % 64) & 1 == 1;
                assert_eq!(bit, train.items_of(u).contains(&i), "user {u} item {i}");
            }
        }
        let d = TrainData::new(&train, false, 1).unwrap();
        assert!(d.val.is_empty() && d.n_positives() == 6);
        // without timestamps: one held-out item per user with >= 2 items, not always the last
        let recs: Vec<Record> = (0..50u32)
            .flat_map(|u| {
                (0..4u32).map(move |i| Record {
                    user: u,
                    item: i,
                    value: 1.0,
                    timestamp: None,
                })
            })
            .collect();
        let train = Interactions::from_records(50, 10, &recs, Default::default()).unwrap();
        let d = TrainData::new(&train, true, 3).unwrap();
        assert_eq!(d.val.len(), 50);
        assert_eq!(d.n_positives(), 150);
        let mut held: Vec<u32> = d.val.iter().map(|c| c.item).collect();
        held.sort_unstable();
        held.dedup();
        assert!(held.len() > 1, "held-out items {held:?}");
        for c in &d.val {
            assert!(c.negatives.iter().all(|&j| j >= 4));
            assert_eq!(c.negatives.len(), 6); // all unseen items, fewer than 99
        }
        assert!(TrainData::new(&Interactions::empty(2, 2), false, 1).is_err());
    }
}
