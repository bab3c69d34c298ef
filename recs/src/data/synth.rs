//! Synthetic MovieLens-shaped data of any size, with latent structure.
//!
//! The generator draws, deterministically from a seed:
//! - **item popularity**: weight `(rank + 0.15·n_items)^(−a)` over a random ranking of the items
//!   (`a` = [`popularity_exponent`](SynthParams::popularity_exponent), default 2.0; with the
//!   defaults the top 10% of items get about 45% of the interactions, as in ML-1M);
//! - **user activity**: each user rates a minimum (12% of the mean, 20 for ML-1M sizes) plus a
//!   Pareto share with shape [`activity_exponent`](SynthParams::activity_exponent) (default 1.3),
//!   capped at 40% of the catalogue (more when the density needs it); the total is exactly
//!   `n_interactions`;
//! - **latent clusters**: every user and item belongs to one of
//!   [`clusters`](SynthParams::clusters) taste clusters; a user picks items from their own
//!   cluster with probability [`affinity`](SynthParams::affinity) (by popularity within it), else
//!   from the whole catalogue by popularity. Items are drawn without replacement;
//! - **ratings 1..=5**: a latent score (user bias, plus item quality, plus a bonus for an
//!   in-cluster item, plus noise) cut at its quantiles so that the rating shares are those of
//!   ML-1M (5.6%, 10.8%, 26.1%, 34.9%, 22.6%);
//! - **timestamps**: each user starts at a time in 2000-04 .. 2003-02 (more users early) and rates
//!   their items in random order, with gaps of minutes and occasional breaks of weeks;
//!   timestamps strictly increase within a user.
//!
//! Personalised models beat popularity on this data (the held-out items of a user concentrate
//! in the user's cluster), which is what tests and demos need. The structure is clearest when a
//! typical user rates well under a cluster's share of the catalogue (`n_items / clusters`); a
//! user who has exhausted their cluster picks by popularity alone. Users run in parallel, each with
//! its own random stream, so the output does not depend on the number of threads.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::rng::Rng;
use super::{Dataset, Interactions, ItemIdx, Vocab};
use crate::util::ParamGuard;
use crate::{Error, Result};

/// ML-1M rating shares for 1..=5 stars (README counts / 1,000,209).
const RATING_SHARES: [f64; 5] = [0.05616, 0.10753, 0.26114, 0.34890, 0.22626];
/// 2000-04-25, the first ML-1M timestamp.
const T0: i64 = 956_703_932;
/// Length of the ML-1M period (to 2003-02-28), seconds.
const SPAN: i64 = 89_750_658;

/// Parameters of the synthetic generator; build with [`SynthParams::new`], run with
/// [`generate`](SynthParams::generate).
///
/// ```
/// use recs::data::synth::SynthParams;
/// let data = SynthParams::new(200, 100, 5_000).seed(7).generate()?;
/// assert_eq!(data.interactions.nnz(), 5_000);
/// assert_eq!(data.interactions.n_users(), 200);
/// assert!(data.interactions.values().iter().all(|&v| (1.0..=5.0).contains(&v)));
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthParams(SynthValidParams);

/// Validated [`SynthParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthValidParams {
    n_users: usize,
    n_items: usize,
    n_interactions: usize,
    seed: u64,
    clusters: usize,
    affinity: f64,
    popularity_exponent: f64,
    activity_exponent: f64,
}

impl SynthValidParams {
    /// Number of users.
    pub fn n_users(&self) -> usize {
        self.n_users
    }
    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.n_items
    }
    /// Number of (distinct) interactions.
    pub fn n_interactions(&self) -> usize {
        self.n_interactions
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// The latent truth behind a generated dataset (for tests and demos).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Cluster of each user (by dense index).
    pub user_cluster: Vec<u32>,
    /// Cluster of each item (by dense index).
    pub item_cluster: Vec<u32>,
}

impl SynthParams {
    /// `n_users × n_items` with exactly `n_interactions` distinct (user, item) pairs; other
    /// parameters at their defaults (seed 42, 10 clusters (`n_items` when fewer), affinity 0.6,
    /// popularity exponent 2.0, activity exponent 1.3).
    pub fn new(n_users: usize, n_items: usize, n_interactions: usize) -> Self {
        SynthParams(SynthValidParams {
            n_users,
            n_items,
            n_interactions,
            seed: 42,
            clusters: n_items.clamp(1, 10),
            affinity: 0.6,
            popularity_exponent: 2.0,
            activity_exponent: 1.3,
        })
    }
    /// The shape of ML-1M: 6040 users, 3706 items, 1,000,209 interactions.
    pub fn ml1m() -> Self {
        SynthParams::new(6040, 3706, 1_000_209)
    }
    /// Random seed. Default 42; any value.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// Number of latent taste clusters. Default 10 (or `n_items` when fewer); must be in
    /// `1..=n_items`.
    pub fn clusters(mut self, k: usize) -> Self {
        self.0.clusters = k;
        self
    }
    /// Probability that a pick comes from the user's own cluster. Default 0.6; must be in
    /// `[0, 1)` (0 gives popularity-only data).
    pub fn affinity(mut self, a: f64) -> Self {
        self.0.affinity = a;
        self
    }
    /// Exponent `a` of the item popularity weights `(rank + 0.15·n_items)^(−a)`. Default 2.0;
    /// must be in `[0, 10]` (0: uniform popularity).
    pub fn popularity_exponent(mut self, a: f64) -> Self {
        self.0.popularity_exponent = a;
        self
    }
    /// Shape of the Pareto distribution of user activity (smaller: heavier tail). Default 1.3;
    /// must be in `[0.5, 10]`.
    pub fn activity_exponent(mut self, a: f64) -> Self {
        self.0.activity_exponent = a;
        self
    }
}

impl ParamGuard for SynthParams {
    type Checked = SynthValidParams;
    fn check_ref(&self) -> Result<&SynthValidParams> {
        let p = &self.0;
        if p.n_users == 0 || p.n_users >= u32::MAX as usize {
            return Err(Error::param("n_users", "in 1..2^32-1", p.n_users));
        }
        if p.n_items == 0 || p.n_items >= u32::MAX as usize {
            return Err(Error::param("n_items", "in 1..2^32-1", p.n_items));
        }
        let cells = (p.n_users as u128) * (p.n_items as u128);
        if p.n_interactions == 0 || p.n_interactions as u128 > cells {
            return Err(Error::param(
                "n_interactions",
                "in 1..=n_users*n_items",
                p.n_interactions,
            ));
        }
        if p.clusters == 0 || p.clusters > p.n_items {
            return Err(Error::param("clusters", "in 1..=n_items", p.clusters));
        }
        if !(0.0..1.0).contains(&p.affinity) {
            return Err(Error::param("affinity", "a number in [0, 1)", p.affinity));
        }
        if !(0.0..=10.0).contains(&p.popularity_exponent) {
            return Err(Error::param(
                "popularity_exponent",
                "a number in [0, 10]",
                p.popularity_exponent,
            ));
        }
        if !(0.5..=10.0).contains(&p.activity_exponent) {
            return Err(Error::param(
                "activity_exponent",
                "a number in [0.5, 10]",
                p.activity_exponent,
            ));
        }
        Ok(p)
    }
    fn check(self) -> Result<SynthValidParams> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// MovieLens-shaped data with default structure ([`SynthParams`] defaults and this seed).
///
/// # Errors
/// [`Error::InvalidParam`] as [`SynthParams`] documents.
///
/// ```
/// let data = recs::data::synth::movielens_like(100, 50, 2_000, 1)?;
/// assert_eq!(data.interactions.nnz(), 2_000);
/// # Ok::<(), recs::Error>(())
/// ```
pub fn movielens_like(
    n_users: usize,
    n_items: usize,
    n_interactions: usize,
    seed: u64,
) -> Result<Dataset> {
    SynthParams::new(n_users, n_items, n_interactions)
        .seed(seed)
        .generate()
}

impl SynthParams {
    /// Generates the dataset: identity vocabularies (ids `0..n`), timestamps, ratings 1..=5.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a parameter outside its range.
    pub fn generate(&self) -> Result<Dataset> {
        Ok(self.generate_with_truth()?.0)
    }

    /// As [`generate`](Self::generate), also returning the latent clusters.
    ///
    /// # Errors
    /// As [`generate`](Self::generate).
    pub fn generate_with_truth(&self) -> Result<(Dataset, Truth)> {
        let p = self.check_ref()?;
        generate(p)
    }
}

/// Vose's alias table over `weights` (all finite, non-negative, positive sum).
struct Alias {
    prob: Vec<f32>,
    alias: Vec<u32>,
    /// Maps table slots to item indices (None: the slot is the item).
    items: Option<Vec<u32>>,
}

impl Alias {
    fn new(weights: &[f64], items: Option<Vec<u32>>) -> Alias {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut prob = vec![1f32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = scaled[s] as f32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Alias { prob, alias, items }
    }

    #[inline]
    fn sample(&self, rng: &mut Rng) -> u32 {
        let x = rng.next_u64();
        let slot = (((x >> 32) * self.prob.len() as u64) >> 32) as usize;
        let u = (x & 0xFF_FFFF) as f32 * (1.0 / (1u32 << 24) as f32);
        let k = if u < self.prob[slot] {
            slot as u32
        } else {
            self.alias[slot]
        };
        match &self.items {
            Some(items) => items[k as usize],
            None => k,
        }
    }
}

/// How many interactions each user gets: a floor plus Pareto shares, water-filled under a cap,
/// summing exactly to `p.n_interactions`.
fn user_counts(p: &SynthValidParams, rng: &mut Rng) -> Vec<usize> {
    let n = p.n_users;
    let total = p.n_interactions;
    let mean = total as f64 / n as f64;
    let cap = ((0.4 * p.n_items as f64).ceil() as usize)
        .max((2.0 * mean).ceil() as usize)
        .min(p.n_items);
    let base = ((0.12 * mean).floor() as usize).min(cap);
    let room = cap - base;
    let extra = total - base * n;
    let w: Vec<f64> = (0..n)
        .map(|_| (1.0 - rng.gen_f64()).powf(-1.0 / p.activity_exponent))
        .collect();
    // Find the scale s with sum(min(room, s·w)) = extra (monotone in s).
    let fill = |s: f64| -> f64 { w.iter().map(|&x| (s * x).min(room as f64)).sum() };
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while fill(hi) < extra as f64 && hi < 1e300 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if fill(mid) < extra as f64 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let want: Vec<f64> = w.iter().map(|&x| (hi * x).min(room as f64)).collect();
    let mut counts: Vec<usize> = want.iter().map(|&x| x.floor() as usize).collect();
    let assigned: usize = counts.iter().sum();
    let mut left = extra.saturating_sub(assigned);
    // Largest remainders first (ties by user), among users below the cap; repeat if needed.
    let mut by_rem: Vec<usize> = (0..n).collect();
    by_rem.sort_by(|&a, &b| {
        let ra = want[a] - want[a].floor();
        let rb = want[b] - want[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    while left > 0 {
        let before = left;
        for &u in &by_rem {
            if left == 0 {
                break;
            }
            if counts[u] < room {
                counts[u] += 1;
                left -= 1;
            }
        }
        if left == before {
            break; // cannot happen when n_interactions <= n_users * n_items
        }
    }
    counts.iter().map(|&c| c + base).collect()
}

/// Per-chunk scratch space.
struct Scratch {
    mark: Vec<u32>,
    stamp: u32,
    keys: Vec<(f64, u32)>,
}

/// Context shared by all users.
struct World {
    pop: Vec<f64>,
    global: Alias,
    cluster_alias: Vec<Alias>,
    cluster_mass: Vec<f64>,
    total_mass: f64,
    item_cluster: Vec<u32>,
    user_cluster: Vec<u32>,
    item_quality: Vec<f32>,
    user_bias: Vec<f32>,
    affinity: f64,
    seed: u64,
}

impl World {
    /// Draws `c` distinct items for user `u` in draw order into `out`.
    fn draw_items(&self, u: usize, c: usize, rng: &mut Rng, s: &mut Scratch, out: &mut Vec<u32>) {
        out.clear();
        let n_items = self.pop.len();
        let cu = self.user_cluster[u] as usize;
        let cluster = &self.cluster_alias[cu];
        if c * 4 <= n_items {
            s.stamp = s.stamp.wrapping_add(1);
            if s.stamp == 0 {
                s.mark.iter_mut().for_each(|m| *m = 0);
                s.stamp = 1;
            }
            let mut tries = 0usize;
            let limit = 50 * c + 1000;
            while out.len() < c && tries < limit {
                tries += 1;
                let i = if rng.gen_f64() < self.affinity {
                    cluster.sample(rng)
                } else {
                    self.global.sample(rng)
                };
                let m = &mut s.mark[i as usize];
                if *m != s.stamp {
                    *m = s.stamp;
                    out.push(i);
                }
            }
            if out.len() == c {
                return;
            }
            out.clear();
        }
        // Dense users (or a rejection budget exceeded): Efraimidis–Spirakis weighted sampling
        // without replacement; sorting the keys gives the successive-sampling (draw) order.
        let a = self.affinity;
        let in_cluster = a / self.cluster_mass[cu].max(f64::MIN_POSITIVE);
        let outside = (1.0 - a) / self.total_mass;
        s.keys.clear();
        for i in 0..n_items {
            let mut w = self.pop[i] * outside;
            if self.item_cluster[i] as usize == cu {
                w += self.pop[i] * in_cluster;
            }
            let r = 1.0 - rng.gen_f64();
            let key = if w > 0.0 {
                r.ln() / w
            } else {
                f64::NEG_INFINITY
            };
            s.keys.push((key, i as u32));
        }
        let by_key_desc = |x: &(f64, u32), y: &(f64, u32)| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1));
        if c < n_items {
            s.keys.select_nth_unstable_by(c, by_key_desc);
        }
        let top = &mut s.keys[..c];
        top.sort_unstable_by(by_key_desc);
        out.extend(top.iter().map(|&(_, i)| i));
    }

    /// Fills one user's row: sorted items, raw scores (quantised later) and timestamps.
    fn fill_user(
        &self,
        u: usize,
        items: &mut [ItemIdx],
        values: &mut [f32],
        ts: &mut [i64],
        s: &mut Scratch,
        drawn: &mut Vec<u32>,
    ) {
        let c = items.len();
        if c == 0 {
            return;
        }
        let mut rng = Rng::stream(self.seed, 1_000_003 + u as u64);
        self.draw_items(u, c, &mut rng, s, drawn);
        // Rating order is a random permutation: in draw order the last items would be the least
        // popular and least in-cluster ones (sampling without replacement exhausts the head),
        // which would bias every leave-last-out evaluation on this data.
        rng.shuffle(drawn);
        let start = T0 + (SPAN as f64 * 0.9 * rng.gen_f64().powi(2)) as i64;
        let mut t = start;
        let mut pairs: Vec<(u32, i64)> = Vec::with_capacity(c);
        for &i in drawn.iter() {
            let gap = if rng.gen_f64() < 0.03 {
                rng.gen_exp(20.0 * 86_400.0)
            } else {
                rng.gen_exp(240.0)
            };
            t += 1 + gap as i64;
            pairs.push((i, t));
        }
        pairs.sort_unstable_by_key(|&(i, _)| i);
        let cu = self.user_cluster[u];
        for (k, &(i, t)) in pairs.iter().enumerate() {
            items[k] = i;
            ts[k] = t;
            let bonus = if self.item_cluster[i as usize] == cu {
                1.0
            } else {
                0.0
            };
            values[k] = self.user_bias[u]
                + self.item_quality[i as usize]
                + bonus
                + 0.8 * rng.gen_normal() as f32;
        }
    }
}

fn generate(p: &SynthValidParams) -> Result<(Dataset, Truth)> {
    let (n_users, n_items, k) = (p.n_users, p.n_items, p.clusters);
    let mut rng = Rng::stream(p.seed, 0);

    // Item popularity over a random ranking.
    let mut rank: Vec<u32> = (0..n_items as u32).collect();
    rng.shuffle(&mut rank);
    let offset = 1.0 + 0.15 * n_items as f64;
    let mut pop = vec![0f64; n_items];
    for (r, &i) in rank.iter().enumerate() {
        pop[i as usize] = (r as f64 + offset).powf(-p.popularity_exponent);
    }
    let total_mass: f64 = pop.iter().sum();
    // Clusters: every cluster gets at least one item.
    let mut item_cluster: Vec<u32> = (0..n_items).map(|i| (i % k) as u32).collect();
    rng.shuffle(&mut item_cluster);
    let user_cluster: Vec<u32> = (0..n_users)
        .map(|_| rng.gen_range(k as u64) as u32)
        .collect();
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); k];
    for (i, &c) in item_cluster.iter().enumerate() {
        members[c as usize].push(i as u32);
    }
    let cluster_mass: Vec<f64> = members
        .iter()
        .map(|m| m.iter().map(|&i| pop[i as usize]).sum())
        .collect();
    let cluster_alias: Vec<Alias> = members
        .into_iter()
        .map(|m| {
            let w: Vec<f64> = m.iter().map(|&i| pop[i as usize]).collect();
            Alias::new(&w, Some(m))
        })
        .collect();
    let global = Alias::new(&pop, None);
    // Popular items are rated a little higher, as in MovieLens.
    let max_pop = pop.iter().cloned().fold(0.0, f64::max);
    let item_quality: Vec<f32> = pop
        .iter()
        .map(|&w| {
            let lp = if max_pop > 0.0 {
                (w / max_pop).ln().max(-10.0)
            } else {
                0.0
            };
            (0.6 * rng.gen_normal() + 0.08 * lp) as f32
        })
        .collect();
    let user_bias: Vec<f32> = (0..n_users)
        .map(|_| (0.5 * rng.gen_normal()) as f32)
        .collect();
    let counts = user_counts(p, &mut rng);

    let world = World {
        pop,
        global,
        cluster_alias,
        cluster_mass,
        total_mass,
        item_cluster,
        user_cluster,
        item_quality,
        user_bias,
        affinity: p.affinity,
        seed: p.seed,
    };

    let mut indptr = Vec::with_capacity(n_users + 1);
    indptr.push(0usize);
    for &c in &counts {
        indptr.push(indptr[indptr.len() - 1] + c);
    }
    let nnz = indptr[n_users];
    let mut indices = vec![0u32; nnz];
    let mut values = vec![0f32; nnz];
    let mut ts = vec![0i64; nnz];

    // Chunks of users, each with its own scratch space.
    const CHUNK: usize = 256;
    let mut jobs: Vec<Job<'_>> = Vec::new();
    {
        let (mut ri, mut rv, mut rt) = (&mut indices[..], &mut values[..], &mut ts[..]);
        let mut u = 0;
        while u < n_users {
            let end = (u + CHUNK).min(n_users);
            let len = indptr[end] - indptr[u];
            let (a, b) = std::mem::take(&mut ri).split_at_mut(len);
            let (c, d) = std::mem::take(&mut rv).split_at_mut(len);
            let (e, f) = std::mem::take(&mut rt).split_at_mut(len);
            jobs.push((u, a, c, e));
            ri = b;
            rv = d;
            rt = f;
            u = end;
        }
    }
    let scratch = || {
        let s = Scratch {
            mark: vec![0; n_items],
            stamp: 0,
            keys: Vec::new(),
        };
        (s, Vec::new())
    };
    jobs.into_par_iter()
        .for_each_init(scratch, |(s, drawn), (u0, ci, cv, ct)| {
            let end = (u0 + CHUNK).min(n_users);
            let base = indptr[u0];
            for u in u0..end {
                let (a, b) = (indptr[u] - base, indptr[u + 1] - base);
                world.fill_user(u, &mut ci[a..b], &mut cv[a..b], &mut ct[a..b], s, drawn);
            }
        });

    quantise_ratings(&mut values);
    let interactions = Interactions::from_csr(n_items, indptr, indices, values, Some(ts))?;
    let truth = Truth {
        user_cluster: world.user_cluster,
        item_cluster: world.item_cluster,
    };
    let data = Dataset {
        interactions,
        users: Vocab::identity(n_users),
        items: Vocab::identity(n_items),
        order: None,
    };
    Ok((data, truth))
}

/// A chunk of users starting at `.0`, with its slices of the indices, values and timestamps.
type Job<'a> = (usize, &'a mut [u32], &'a mut [f32], &'a mut [i64]);

/// Maps raw scores to 1..=5 at the quantiles that give the ML-1M rating shares.
fn quantise_ratings(values: &mut [f32]) {
    if values.is_empty() {
        return;
    }
    let step = values.len().div_ceil(200_000).max(1);
    let mut sample: Vec<f32> = values.iter().step_by(step).copied().collect();
    sample.sort_unstable_by(f32::total_cmp);
    let mut cuts = [0f32; 4];
    let mut acc = 0.0;
    for (j, share) in RATING_SHARES[..4].iter().enumerate() {
        acc += share;
        let pos = ((acc * sample.len() as f64) as usize).min(sample.len() - 1);
        cuts[j] = sample[pos];
    }
    values.par_iter_mut().for_each(|v| {
        let r = 1 + cuts.iter().filter(|&&c| *v >= c).count();
        *v = r as f32;
    });
}

#[cfg(test)]
mod tests {
    use super::Rng;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<SynthParams>();
        has::<SynthValidParams>();
        has::<Truth>();
    }

    #[test]
    fn rejects_out_of_range_params() {
        let ok = || SynthParams::new(10, 10, 50);
        assert!(ok().check_ref().is_ok());
        assert!(SynthParams::new(0, 10, 5).check_ref().is_err());
        assert!(SynthParams::new(10, 0, 5).check_ref().is_err());
        assert!(SynthParams::new(10, 10, 0).check_ref().is_err());
        assert!(SynthParams::new(10, 10, 101).check_ref().is_err());
        assert!(SynthParams::new(10, 10, 100).check_ref().is_ok());
        assert!(ok().clusters(0).check_ref().is_err());
        assert!(ok().clusters(11).check_ref().is_err());
        assert!(ok().affinity(1.0).check_ref().is_err());
        assert!(ok().affinity(-0.1).check_ref().is_err());
        assert!(ok().affinity(f64::NAN).check_ref().is_err());
        assert!(ok().popularity_exponent(-1.0).check_ref().is_err());
        assert!(ok().activity_exponent(0.1).check_ref().is_err());
        let e = SynthParams::new(10, 10, 101).generate().unwrap_err();
        assert!(e.to_string().contains("n_interactions"));
    }

    #[test]
    fn alias_matches_weights() {
        let w = [1.0, 0.0, 3.0, 6.0];
        let a = Alias::new(&w, None);
        let mut rng = Rng::seed_from_u64(9);
        let mut c = [0usize; 4];
        let n = 200_000;
        for _ in 0..n {
            c[a.sample(&mut rng) as usize] += 1;
        }
        for (k, &wk) in w.iter().enumerate() {
            let got = c[k] as f64 / n as f64;
            assert!((got - wk / 10.0).abs() < 0.01, "{c:?}");
        }
    }

    #[test]
    fn full_density_is_possible() {
        let d = SynthParams::new(7, 5, 35).generate().unwrap();
        assert_eq!(d.interactions.nnz(), 35);
        for u in 0..7 {
            assert_eq!(d.interactions.items_of(u), &[0, 1, 2, 3, 4]);
        }
    }

    #[test]
    fn rating_shares_are_close_to_ml1m() {
        let d = SynthParams::new(2000, 1000, 100_000).generate().unwrap();
        let mut c = [0usize; 5];
        for &v in d.interactions.values() {
            c[v as usize - 1] += 1;
        }
        for (k, share) in RATING_SHARES.iter().enumerate() {
            let got = c[k] as f64 / 100_000.0;
            assert!((got - share).abs() < 0.01, "{c:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn exact_size_valid_and_deterministic(
            n_users in 1usize..60, n_items in 1usize..80, density in 0.01f64..1.0,
            seed in any::<u64>(), k in 1usize..6, aff in 0.0f64..0.99,
        ) {
            let n = ((n_users * n_items) as f64 * density).ceil() as usize;
            let k = k.min(n_items);
            let p = SynthParams::new(n_users, n_items, n).seed(seed).clusters(k).affinity(aff);
            let (d, truth) = p.generate_with_truth().unwrap();
            let m = &d.interactions;
            prop_assert_eq!(m.nnz(), n);
            prop_assert_eq!((m.n_users(), m.n_items()), (n_users, n_items));
            prop_assert!(m.values().iter().all(|&v| v.fract() == 0.0 && (1.0..=5.0).contains(&v)));
            prop_assert!(truth.user_cluster.iter().all(|&c| (c as usize) < k));
            prop_assert_eq!(truth.item_cluster.len(), n_items);
            // Timestamps strictly increase in each user's draw order: all distinct per user.
            for u in 0..n_users as u32 {
                let mut t = m.timestamps_of(u).unwrap().to_vec();
                t.sort_unstable();
                prop_assert!(t.windows(2).all(|w| w[0] < w[1]));
            }
            prop_assert_eq!(&d, &p.generate().unwrap());
        }
    }
}
