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
use super::optim::{NcfOptimizer, Optim, Table};
use super::rng::Rng;
use super::{EpochStats, NcfArch};
use crate::data::Interactions;
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
    pos_users: Vec<u32>,
    pos_items: Vec<u32>,
    val: Vec<ValCase>,
}

/// Number of sampled negatives per validation case (as the NCF test protocol).
const VAL_NEGATIVES: usize = 99;

impl<'a> TrainData<'a> {
    /// Every stored (user, item) pair of `train` is a positive. With `validation`, each user with
    /// at least two items gives up their latest one (largest timestamp, or the last stored item
    /// when there are no timestamps) to a validation set scored against 99 sampled negatives.
    pub(crate) fn new(train: &'a Interactions, validation: bool, seed: u64) -> Result<Self> {
        if train.nnz() == 0 {
            return Err(Error::Data("NCF needs at least one interaction".into()));
        }
        if train.n_items() > u32::MAX as usize || train.n_users() > u32::MAX as usize {
            return Err(Error::Limit("more than 2^32 users or items".into()));
        }
        let mut rng = Rng::new(seed, 7);
        let mut pos_users = Vec::with_capacity(train.nnz());
        let mut pos_items = Vec::with_capacity(train.nnz());
        let mut val = Vec::new();
        for u in 0..train.n_users() as u32 {
            let items = train.items_of(u);
            let held = if validation && items.len() >= 2 {
                let k = match train.timestamps_of(u) {
                    // ties: the last stored item, as without timestamps
                    Some(ts) => (0..ts.len()).max_by_key(|&k| ts[k]).unwrap_or(0),
                    None => items.len() - 1,
                };
                Some(k)
            } else {
                None
            };
            for (k, &i) in items.iter().enumerate() {
                if Some(k) == held {
                    continue;
                }
                pos_users.push(u);
                pos_items.push(i);
            }
            if let Some(k) = held {
                let mut negatives = Vec::with_capacity(VAL_NEGATIVES);
                let free = train.n_items() - items.len();
                while negatives.len() < VAL_NEGATIVES.min(free) {
                    if let Some(j) = sample_negative(&mut rng, items, train.n_items()) {
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
        Ok(TrainData {
            seen: train,
            pos_users,
            pos_items,
            val,
        })
    }

    /// Number of training positives.
    pub(crate) fn n_positives(&self) -> usize {
        self.pos_users.len()
    }
}

/// A uniformly random item that `seen` (sorted, unique) does not hold; `None` when there is none.
pub(crate) fn sample_negative(rng: &mut Rng, seen: &[u32], n_items: usize) -> Option<u32> {
    let free = n_items.checked_sub(seen.len()).filter(|&f| f > 0)?;
    for _ in 0..32 {
        let j = rng.below(n_items) as u32;
        if seen.binary_search(&j).is_err() {
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

/// One mini-batch: groups of one user, one positive and its negatives.
#[derive(Debug, Default)]
struct Batch {
    users: Vec<u32>,
    starts: Vec<usize>,
    items: Vec<u32>,
    labels: Vec<f32>,
}

impl Batch {
    fn shard(&self, g0: usize, g1: usize) -> (Groups<'_>, &[f32]) {
        let (s0, s1) = (self.starts[g0], self.starts[g1]);
        (
            Groups {
                users: &self.users[g0..g1],
                starts: &self.starts[g0..=g1],
                items: &self.items[s0..s1],
            },
            &self.labels[s0..s1],
        )
    }
}

/// Summed gradients of embedding rows touched by a mini-batch.
#[derive(Debug)]
struct RowGrads {
    row: usize,
    grad: Vec<f32>,
    touched: Vec<u32>,
    flag: Vec<bool>,
}

impl RowGrads {
    fn new(n: usize, row: usize) -> Self {
        RowGrads {
            row,
            grad: vec![0f32; n * row],
            touched: Vec::new(),
            flag: vec![false; n],
        }
    }

    fn add(&mut self, id: u32, g: &[f32]) {
        let id = id as usize;
        if !self.flag[id] {
            self.flag[id] = true;
            self.touched.push(id as u32);
        }
        scatter_add(&mut self.grad, self.row, 0, self.row, &[id as u32], g);
    }

    /// Applies the optimizer to every touched row, in first-touch order, and clears.
    fn apply(&mut self, table: Table, params: &mut [f32], opt: &mut Optim) {
        let row = self.row;
        for &id in &self.touched {
            let r = id as usize * row..(id as usize + 1) * row;
            opt.row(
                table,
                r.start,
                &mut params[r.clone()],
                &self.grad[r.clone()],
            );
            self.grad[r].fill(0.0);
            self.flag[id as usize] = false;
        }
        self.touched.clear();
    }
}

/// HR@10 of `net` on the validation cases (hit: fewer than 10 negatives score above the item).
fn validation_hr(net: &Net, val: &[ValCase]) -> f64 {
    if val.is_empty() {
        return 0.0;
    }
    let hits: usize = val
        .par_iter()
        .map_init(
            || (Work::default(), Vec::new(), Vec::new()),
            |(w, items, scores), c| {
                items.clear();
                items.push(c.item);
                items.extend_from_slice(&c.negatives);
                scores.resize(items.len(), 0f32);
                net.predict(c.user, items, scores, w);
                let above = scores[1..].iter().filter(|&&s| s > scores[0]).count();
                usize::from(above < 10)
            },
        )
        .sum();
    hits as f64 / val.len() as f64
}

/// Trains `net` for one stage, calling `progress` after every epoch.
pub(crate) fn train_stage(
    net: &mut Net,
    data: &TrainData<'_>,
    stage: &Stage,
    progress: &mut dyn FnMut(&EpochStats),
) {
    let threads = rayon::current_num_threads().max(1);
    let group = 1 + stage.negatives;
    let groups_per_batch = ((stage.batch_size + group / 2) / group).max(1);
    let row = net.row();
    let n_dense = net.dense.len();
    let mut opt = Optim::new(
        stage.optimizer,
        stage.lr,
        stage.l2,
        n_dense,
        net.users.len(),
        net.items.len(),
    );
    let mut works: Vec<Work> = (0..threads).map(|_| Work::default()).collect();
    let mut user_grads = RowGrads::new(net.n_users, row);
    let mut item_grads = RowGrads::new(net.n_items, row);
    let mut order: Vec<u32> = (0..data.n_positives() as u32).collect();
    let mut batch = Batch::default();
    let n_items = data.seen.n_items();
    let mut best: Option<(f64, Net)> = None;
    let mut bad_epochs = 0;
    for epoch in 1..=stage.epochs {
        let start = Instant::now();
        let mut rng = Rng::new(stage.seed, epoch as u64);
        rng.shuffle(&mut order);
        let mut loss_sum = 0f64;
        let mut samples = 0usize;
        for chunk in order.chunks(groups_per_batch) {
            batch.users.clear();
            batch.items.clear();
            batch.labels.clear();
            batch.starts.clear();
            batch.starts.push(0);
            for &k in chunk {
                let u = data.pos_users[k as usize];
                batch.users.push(u);
                batch.items.push(data.pos_items[k as usize]);
                batch.labels.push(1.0);
                let seen = data.seen.items_of(u);
                for _ in 0..stage.negatives {
                    if let Some(j) = sample_negative(&mut rng, seen, n_items) {
                        batch.items.push(j);
                        batch.labels.push(0.0);
                    }
                }
                batch.starts.push(batch.items.len());
            }
            let n_s = batch.items.len();
            samples += n_s;
            let scale = 1.0 / n_s as f32;
            let n_g = chunk.len();
            let shards = threads.min(n_g);
            let bounds = |k: usize| (k * n_g / shards, (k + 1) * n_g / shards);
            let net_ref = &*net;
            let batch_ref = &batch;
            if shards == 1 {
                let (g, labels) = batch_ref.shard(0, n_g);
                net_ref.forward(&g, &mut works[0]);
                loss_sum += net_ref.backward(&g, labels, scale, &mut works[0]);
            } else {
                let losses: Vec<f64> = works[..shards]
                    .par_iter_mut()
                    .enumerate()
                    .map(|(k, w)| {
                        let (g0, g1) = bounds(k);
                        let (g, labels) = batch_ref.shard(g0, g1);
                        net_ref.forward(&g, w);
                        net_ref.backward(&g, labels, scale, w)
                    })
                    .collect();
                loss_sum += losses.iter().sum::<f64>();
                let (first, rest) = works.split_at_mut(1);
                for w in &rest[..shards - 1] {
                    for (a, &b) in first[0].dense_grad[..n_dense]
                        .iter_mut()
                        .zip(&w.dense_grad[..n_dense])
                    {
                        *a += b;
                    }
                }
            }
            opt.begin_step();
            opt.dense(&mut net.dense, &works[0].dense_grad[..n_dense]);
            for (k, w) in works[..shards].iter().enumerate() {
                let (g0, g1) = bounds(k);
                let s0 = batch.starts[g0];
                for (gi, &u) in batch.users[g0..g1].iter().enumerate() {
                    user_grads.add(u, &w.ug[gi * row..(gi + 1) * row]);
                }
                for (s, &i) in batch.items[s0..batch.starts[g1]].iter().enumerate() {
                    item_grads.add(i, &w.ig[s * row..(s + 1) * row]);
                }
            }
            user_grads.apply(Table::Users, &mut net.users, &mut opt);
            item_grads.apply(Table::Items, &mut net.items, &mut opt);
        }
        let val_hr10 =
            (stage.patience > 0 && !data.val.is_empty()).then(|| validation_hr(net, &data.val));
        progress(&EpochStats {
            stage: stage.arch,
            epoch,
            epochs: stage.epochs,
            loss: loss_sum / samples.max(1) as f64,
            samples,
            seconds: start.elapsed().as_secs_f64(),
            val_hr10,
        });
        if let Some(hr) = val_hr10 {
            if best.as_ref().map_or(true, |(b, _)| hr > *b) {
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
    use super::super::rng::Rng;
    use super::*;
    use crate::data::Record;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn negatives_are_unseen_and_in_range(
            mut seen in prop::collection::vec(0u32..40, 0..40),
            seed in any::<u64>(),
        ) {
            seen.sort_unstable();
            seen.dedup();
            let mut rng = Rng::new(seed, 0);
            for _ in 0..50 {
                match sample_negative(&mut rng, &seen, 40) {
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
    fn dense_users_still_get_uniform_negatives() {
        // 95 of 100 items seen: the fallback path must find the 5 free ones, each often
        let seen: Vec<u32> = (0..100).filter(|i| i % 20 != 3).collect();
        let mut rng = Rng::new(9, 0);
        let mut counts = [0usize; 100];
        for _ in 0..5000 {
            counts[sample_negative(&mut rng, &seen, 100).unwrap() as usize] += 1;
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
        let d = TrainData::new(&train, false, 1).unwrap();
        assert!(d.val.is_empty() && d.n_positives() == 6);
        assert!(TrainData::new(&Interactions::empty(2, 2), false, 1).is_err());
    }
}
