//! Bayesian personalized ranking matrix factorization (BPR-MF, Rendle et al. 2009).
//!
//! The score is `x_u · y_i + b_i`. Training runs stochastic gradient ascent on
//! `Σ ln σ(s_ui − s_uj) − λ‖θ‖²` over triples of a user `u`, an item `i` the user interacted
//! with, and a sampled item `j` they did not: each epoch draws as many triples as there are
//! interactions, `(u, i)` uniformly among the interactions and `j` uniformly among the items
//! (redrawn when it is one of the user's items), as `implicit`'s `BayesianPersonalizedRanking`.
//! Interaction values are ignored: every stored interaction is a positive.
//!
//! # Parallelism and determinism
//!
//! Each epoch is cut into a fixed number of chunks of samples (independent of the thread
//! count), each drawing from all interactions with its own random stream seeded from
//! `(seed, epoch, chunk)`. With [`BprParams::hogwild`] on (the default) chunks run in parallel
//! and update the shared factors without locks (Hogwild!, Niu et al. 2011, through relaxed
//! atomics): fast, but with more than one thread the result varies slightly from run to run.
//! With it off, or in a one-thread rayon pool, chunks run in order and the model is a pure
//! function of the data, the parameters and the seed.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::factors::{
    dispatch, factor_accessors, matrix_len, random_matrix, FactorModel, FactorView, Isa, Rng,
    Scalar, SimdFn,
};
use super::{check_history, Fit, ParamGuard, Persist};
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::util::{ensure_in, ensure_non_negative, ABOVE_ZERO_TO_TEN};
use crate::{Error, Result};

/// Parameters of [`Bpr`]. Build with [`Bpr::params`].
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
pub struct BprParams(BprValidParams);

/// Validated [`BprParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BprValidParams {
    factors: usize,
    learning_rate: f32,
    regularization: f32,
    iterations: usize,
    seed: u64,
    item_bias: bool,
    hogwild: bool,
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

/// A fitted BPR-MF model.
///
/// User rows are `[x_u, 1]` and item rows `[y_i, b_i]` (or `x_u` and `y_i` without item
/// bias), row-major with [`factor_width`](Self::factor_width) columns, so that a score is a
/// dot product. Users outside the fitted ones are folded in from their history by SGD on their
/// own factors, the item factors fixed (see [`recalculate_user`](Self::recalculate_user)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BprRepr")]
pub struct Bpr {
    params: BprValidParams,
    n_users: usize,
    n_items: usize,
    width: usize,
    users: Vec<f32>,
    items: Vec<f32>,
}

#[derive(Deserialize)]
struct BprRepr {
    params: BprValidParams,
    n_users: usize,
    n_items: usize,
    width: usize,
    users: Vec<f32>,
    items: Vec<f32>,
}

impl TryFrom<BprRepr> for Bpr {
    type Error = String;
    fn try_from(r: BprRepr) -> std::result::Result<Self, String> {
        let params = BprParams(r.params)
            .check()
            .map_err(|e| format!("bpr parameters: {e}"))?;
        let width = params.factors + usize::from(params.item_bias);
        let ok = r.width == width
            && Some(r.users.len()) == r.n_users.checked_mul(width)
            && Some(r.items.len()) == r.n_items.checked_mul(width)
            && r.users.iter().chain(&r.items).all(|v| v.is_finite());
        if !ok {
            return Err("bpr factor matrices are inconsistent with their dimensions".into());
        }
        Ok(Bpr {
            params,
            n_users: r.n_users,
            n_items: r.n_items,
            width,
            users: r.users,
            items: r.items,
        })
    }
}

/// Number of sample chunks per epoch (fixed, so that results do not depend on the thread count).
const CHUNKS: usize = 64;
/// Draws of a negative item before a sample is skipped (users who saw nearly everything).
const NEG_TRIES: usize = 16;
/// Largest `users × items` for which a fit keeps a bitset of interactions (64 MiB).
const SEEN_BITS_MAX: usize = 1 << 29;
/// How many samples ahead the SGD loop prefetches factor rows.
const PREFETCH_AHEAD: usize = 8;

factor_accessors!(Bpr);

impl Bpr {
    /// Default parameters.
    pub fn params() -> BprParams {
        BprParams::default()
    }
    /// The parameters the model was fitted with.
    pub fn fitted_params(&self) -> &BprValidParams {
        &self.params
    }
    /// Columns of the factor matrices: `k + 1` with item bias, else `k` (see [`Bpr`]).
    pub fn factor_width(&self) -> usize {
        self.width
    }

    /// Learns a user factor row from a history with the item factors fixed: the same SGD as
    /// training, on this user's triples only, for as many epochs as the model was trained,
    /// from a start and a random stream fixed by the seed (deterministic).
    ///
    /// # Errors
    /// [`Error::UnknownItem`] for an item outside the model.
    pub fn recalculate_user(&self, items: &[ItemIdx]) -> Result<Vec<f32>> {
        check_history(items, self.n_items)?;
        let mut seen = items.to_vec();
        seen.sort_unstable();
        seen.dedup();
        let (k, w) = (self.params.factors, self.width);
        let mut row = random_matrix(1, w, 0.5 / k as f32, self.params.seed, u64::MAX);
        if w > k {
            row[k] = 1.0;
        }
        if seen.is_empty() {
            return Ok(row);
        }
        let mut rng = Rng::new(self.params.seed, u64::MAX - 1);
        let mut yi = vec![0f32; w];
        let mut yj = vec![0f32; w];
        let mut diff = vec![0f32; w];
        for _ in 0..self.params.iterations {
            for _ in 0..seen.len() {
                let i = seen[rng.below(seen.len())] as usize;
                let Some(j) = sample_negative(&mut rng, self.n_items, &seen) else {
                    continue;
                };
                yi.copy_from_slice(&self.items[i * w..(i + 1) * w]);
                yj.copy_from_slice(&self.items[j * w..(j + 1) * w]);
                let g = gradient_scale(Scalar, &row, &yi, &yj, &mut diff);
                let (lr, reg) = (self.params.learning_rate, self.params.regularization);
                for f in 0..k {
                    row[f] += lr * (g * diff[f] - reg * row[f]);
                }
            }
        }
        Ok(row)
    }
}

/// A uniform item not in the sorted `seen`, or `None` after [`NEG_TRIES`] draws.
#[inline]
fn sample_negative(rng: &mut Rng, n_items: usize, seen: &[ItemIdx]) -> Option<usize> {
    (0..NEG_TRIES)
        .map(|_| rng.below(n_items))
        .find(|&j| seen.binary_search(&(j as ItemIdx)).is_err())
}

/// `σ(−(s_ui − s_uj))`, the gradient scale of `ln σ(s_ui − s_uj)`; leaves `yi − yj` in `diff`.
#[inline(always)]
fn gradient_scale<I: Isa>(isa: I, x: &[f32], yi: &[f32], yj: &[f32], diff: &mut [f32]) -> f32 {
    for ((d, a), b) in diff.iter_mut().zip(yi).zip(yj) {
        *d = a - b;
    }
    let z = isa.dot(x, diff);
    1.0 / (1.0 + z.exp())
}

/// The shared state of a fit: every interaction's user, and all factors as relaxed atomics
/// (f32 bits) so that chunks may update them concurrently (Hogwild!).
struct Shared<'a> {
    p: &'a BprValidParams,
    data: &'a Interactions,
    /// `users × items` bits, set where the user interacted (when it fits in
    /// [`SEEN_BITS_MAX`]): one probe per negative draw instead of a binary search.
    seen: Option<Vec<u64>>,
    /// 64-bit words per user in `seen`.
    seen_stride: usize,
    users: Vec<AtomicU32>,
    items: Vec<AtomicU32>,
}

impl Shared<'_> {
    /// Whether `user` interacted with `item`.
    #[inline(always)]
    fn has(&self, user: usize, item: usize) -> bool {
        match &self.seen {
            Some(bits) => bits[user * self.seen_stride + item / 64] >> (item % 64) & 1 != 0,
            None => self
                .data
                .items_of(user as UserIdx)
                .binary_search(&(item as ItemIdx))
                .is_ok(),
        }
    }
}

fn to_atomic(v: &[f32]) -> Vec<AtomicU32> {
    v.iter().map(|x| AtomicU32::new(x.to_bits())).collect()
}

fn from_atomic(v: &[AtomicU32]) -> Vec<f32> {
    v.iter().map(|a| f32::from_bits(a.load(Relaxed))).collect()
}

impl Fit for BprParams {
    type Model = Bpr;
    fn fit(&self, train: &Interactions) -> Result<Bpr> {
        let p = self.check_ref()?;
        let (nu, ni, k) = (train.n_users(), train.n_items(), p.factors);
        let w = k + usize::from(p.item_bias);
        matrix_len(nu, w, "BPR users")?;
        matrix_len(ni, w, "BPR items")?;
        let scale = 0.5 / k as f32;
        let mut users = random_matrix(nu, w, scale, p.seed, 0);
        let mut items = random_matrix(ni, w, scale, p.seed, 1);
        if p.item_bias {
            users.chunks_exact_mut(w).for_each(|r| r[k] = 1.0);
            items.chunks_exact_mut(w).for_each(|r| r[k] = 0.0);
        }
        let nnz = train.nnz();
        if nnz > 0 && ni >= 2 {
            let seen_stride = ni.div_ceil(64);
            let seen = (nu.saturating_mul(seen_stride) <= SEEN_BITS_MAX / 64).then(|| {
                let mut bits = vec![0u64; nu * seen_stride];
                for u in 0..nu {
                    let row = &mut bits[u * seen_stride..(u + 1) * seen_stride];
                    for &i in train.items_of(u as UserIdx) {
                        row[i as usize / 64] |= 1 << (i % 64);
                    }
                }
                bits
            });
            let shared = Shared {
                p,
                data: train,
                seen,
                seen_stride,
                users: to_atomic(&users),
                items: to_atomic(&items),
            };
            // Chunk c of an epoch draws samples `nnz·c/CHUNKS .. nnz·(c+1)/CHUNKS`.
            let sizes: Vec<usize> = (0..CHUNKS)
                .map(|c| nnz * (c + 1) / CHUNKS - nnz * c / CHUNKS)
                .collect();
            for epoch in 0..p.iterations {
                let run = |(c, &n): (usize, &usize)| {
                    let mut rng = Rng::new(p.seed, ((epoch as u64) << 20) | c as u64);
                    dispatch(RunChunk {
                        s: &shared,
                        samples: n,
                        rng: &mut rng,
                    })
                };
                if p.hogwild {
                    sizes.par_iter().enumerate().for_each(run);
                } else {
                    sizes.iter().enumerate().for_each(run);
                }
            }
            users = from_atomic(&shared.users);
            items = from_atomic(&shared.items);
        }
        if !users.iter().chain(&items).all(|v| v.is_finite()) {
            return Err(Error::Numerical(
                "BPR diverged (non-finite factors); lower the learning rate".into(),
            ));
        }
        Ok(Bpr {
            params: p.clone(),
            n_users: nu,
            n_items: ni,
            width: w,
            users,
            items,
        })
    }
}

/// Runs `samples` SGD steps of one chunk (compiled per instruction set, see
/// [`factors::dispatch`]).
struct RunChunk<'a, 'b> {
    s: &'a Shared<'a>,
    samples: usize,
    rng: &'b mut Rng,
}

#[inline(always)]
fn load(dst: &mut [f32], src: &[AtomicU32]) {
    for (d, v) in dst.iter_mut().zip(src) {
        *d = f32::from_bits(v.load(Relaxed));
    }
}

#[inline(always)]
fn store(src: &[f32], dst: &[AtomicU32]) {
    for (s, v) in src.iter().zip(dst) {
        v.store(s.to_bits(), Relaxed);
    }
}

impl SimdFn for RunChunk<'_, '_> {
    type Out = ();
    #[inline(always)]
    fn call<I: Isa>(self, isa: I) {
        let RunChunk { s, samples, rng } = self;
        let p = s.p;
        let (k, w) = (p.factors, p.factors + usize::from(p.item_bias));
        let (lr, reg) = (p.learning_rate, p.regularization);
        let n_items = s.data.n_items();
        let indices = s.data.indices();
        let nnz = indices.len();
        let mut x = vec![0f32; w];
        let mut yi = vec![0f32; w];
        let mut yj = vec![0f32; w];
        let mut diff = vec![0f32; w];
        let decay = 1.0 - lr * reg;
        // `samples` uniform positions among the interactions, drawn directly in increasing
        // order (normalised partial sums of exponential spacings): the same distribution as
        // independent draws, visited in memory order so that user rows and histories stay
        // in cache.
        let mut gaps: Vec<f64> = (0..=samples)
            .map(|_| -(1.0 - rng.next_f32() as f64).ln())
            .collect();
        let total: f64 = gaps.iter().sum();
        let mut acc = 0.0;
        for g in gaps.iter_mut() {
            acc += *g;
            *g = acc / total;
        }
        // Pass 1: the triples `(u, i, j)` (they do not depend on the factors), so that pass 2
        // can prefetch the rows of later samples.
        let indptr = s.data.indptr();
        let mut triples: Vec<[u32; 3]> = Vec::with_capacity(samples);
        let mut u = 0usize;
        for &q in &gaps[..samples] {
            let pos = ((q * nnz as f64) as usize).min(nnz - 1);
            while indptr[u + 1] <= pos {
                u += 1;
            }
            let j = (0..NEG_TRIES)
                .map(|_| rng.below(n_items))
                .find(|&j| !s.has(u, j));
            if let Some(j) = j {
                triples.push([u as u32, indices[pos], j as u32]);
            }
        }
        drop(gaps);
        // Pass 2: SGD.
        for (t, &[u, i, j]) in triples.iter().enumerate() {
            if let Some(&[pu, pi, pj]) = triples.get(t + PREFETCH_AHEAD) {
                prefetch_row(&s.users, pu as usize * w, k);
                prefetch_row(&s.items, pi as usize * w, w);
                prefetch_row(&s.items, pj as usize * w, w);
            }
            let (u, i, j) = (u as usize, i as usize, j as usize);
            let (ru, ri, rj) = (
                &s.users[u * w..(u + 1) * w],
                &s.items[i * w..(i + 1) * w],
                &s.items[j * w..(j + 1) * w],
            );
            load(&mut x, ru);
            load(&mut yi, ri);
            load(&mut yj, rj);
            let g = gradient_scale(isa, &x, &yi, &yj, &mut diff);
            for f in 0..k {
                let xf = x[f];
                x[f] = isa.fmadd(lr * g, diff[f], decay * xf);
                yi[f] = isa.fmadd(lr * g, xf, decay * yi[f]);
                yj[f] = isa.fmadd(-lr * g, xf, decay * yj[f]);
            }
            if w > k {
                yi[k] = isa.fmadd(lr, g, decay * yi[k]);
                yj[k] = isa.fmadd(-lr, g, decay * yj[k]);
            }
            store(&x[..k], &ru[..k]);
            store(&yi, ri);
            store(&yj, rj);
        }
    }
}

/// Hints the CPU to bring `len` values from `start` of `m` into cache (no effect elsewhere).
#[inline(always)]
fn prefetch_row(m: &[AtomicU32], start: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        if let Some(row) = m.get(start..start + len).filter(|r| !r.is_empty()) {
            // 16 values per 64-byte line.
            for c in (0..len).step_by(16).chain(std::iter::once(len - 1)) {
                // SAFETY: a prefetch never faults, and the address is inside `row`.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(row[c..].as_ptr().cast()) };
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (m, start, len);
}

/// The shared factor-model `Recommender` (see `factors::FactorModel`).
impl FactorModel for Bpr {
    fn view(&self) -> FactorView<'_> {
        self.factor_view()
    }
    /// [`Bpr::recalculate_user`].
    fn fold_in(&self, history: &[ItemIdx]) -> Result<Vec<f32>> {
        self.recalculate_user(history)
    }
}

impl Persist for Bpr {
    const KIND: &'static str = "bpr";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{from_bytes, to_bytes, AnyModel};
    use crate::model::{RecOpts, Recommender};
    use proptest::prelude::*;

    fn interactions(n_users: usize, n_items: usize, pairs: &[(u32, u32)]) -> Interactions {
        Interactions::from_pairs(n_users, n_items, pairs)
    }

    fn two_groups(n_users: u32, n_items: u32) -> Interactions {
        Interactions::two_taste_groups(n_users, n_items)
    }

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<BprParams>();
        has::<BprValidParams>();
        has::<Bpr>();
    }

    #[test]
    fn rejects_out_of_range_params() {
        let cases: Vec<(BprParams, &str)> = vec![
            (Bpr::params().factors(0), "factors"),
            (Bpr::params().factors(4097), "factors"),
            (Bpr::params().learning_rate(0.0), "learning_rate"),
            (Bpr::params().learning_rate(-0.1), "learning_rate"),
            (Bpr::params().learning_rate(10.5), "learning_rate"),
            (Bpr::params().learning_rate(f32::NAN), "learning_rate"),
            (Bpr::params().regularization(-0.1), "regularization"),
            (
                Bpr::params().regularization(f32::INFINITY),
                "regularization",
            ),
            (Bpr::params().iterations(0), "iterations"),
            (Bpr::params().iterations(100_001), "iterations"),
        ];
        let data = Interactions::empty(2, 2);
        for (p, name) in cases {
            match p.fit(&data) {
                Err(Error::InvalidParam { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: expected InvalidParam, got {other:?}"),
            }
        }
        let edge = Bpr::params()
            .factors(4096)
            .learning_rate(10.0)
            .regularization(0.0)
            .iterations(100_000);
        assert!(edge.check_ref().is_ok());
        assert!(Bpr::params().factors(1).iterations(1).check_ref().is_ok());
    }

    #[test]
    fn learns_taste_groups_and_folds_in() {
        let data = two_groups(20, 16);
        let m = Bpr::params()
            .factors(8)
            .iterations(150)
            .learning_rate(0.05)
            .seed(4)
            .fit(&data)
            .unwrap();
        let opts = RecOpts {
            k: 1,
            ..RecOpts::default()
        };
        for u in 0..20u32 {
            let top = m.recommend(u, data.items_of(u), &opts).unwrap();
            // Each user misses one or two items of their own group: one of those comes first.
            assert!(top.iter().all(|s| s.item % 2 == u % 2), "user {u}: {top:?}");
        }
        let top = m.recommend(77, &[1, 3, 5, 7], &opts).unwrap();
        assert!(top.iter().all(|s| s.item % 2 == 1), "{top:?}");
        assert_eq!(
            m.recalculate_user(&[1, 3]).unwrap(),
            m.recalculate_user(&[3, 1]).unwrap()
        );
        let mut out = vec![0f32; 16];
        assert!(matches!(
            m.score_into(20, &[], &mut out),
            Err(Error::UnknownUser(20))
        ));
        assert!(matches!(
            m.score_into(0, &[16], &mut out),
            Err(Error::UnknownItem(16))
        ));
        let sim = m.similar_items(0, 3).unwrap();
        assert!(sim
            .iter()
            .all(|s| s.item != 0 && s.score.abs() <= 1.0 + 1e-5));
        assert!(matches!(
            m.similar_items(16, 3),
            Err(Error::UnknownItem(16))
        ));
    }

    #[test]
    fn sequential_fit_is_deterministic_and_matches_one_thread_hogwild() {
        let data = two_groups(30, 20);
        let p = Bpr::params().factors(4).iterations(5).seed(9);
        let seq = p.clone().hogwild(false).fit(&data).unwrap();
        assert_eq!(seq, p.clone().hogwild(false).fit(&data).unwrap());
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| p.clone().fit(&data).unwrap());
        assert_eq!(seq.user_factors(), one_thread.user_factors());
        assert_eq!(seq.item_factors(), one_thread.item_factors());
        let other = p.seed(10).hogwild(false).fit(&data).unwrap();
        assert_ne!(seq.item_factors(), other.item_factors());
    }

    #[test]
    fn without_item_bias_rows_are_pure_factors() {
        let data = two_groups(6, 6);
        let m = Bpr::params()
            .factors(3)
            .item_bias(false)
            .iterations(2)
            .fit(&data)
            .unwrap();
        assert_eq!(m.factor_width(), 3);
        assert_eq!(m.item_factors().len(), 18);
        let b = Bpr::params().factors(3).iterations(2).fit(&data).unwrap();
        assert_eq!(b.factor_width(), 4);
        assert!(b.user_factors().chunks(4).all(|r| r[3] == 1.0));
    }

    #[test]
    fn damaged_dimensions_are_refused_on_load() {
        let data = two_groups(4, 6);
        let mut m = Bpr::params().factors(2).iterations(1).fit(&data).unwrap();
        m.items.push(0.0);
        let bytes = to_bytes(&m).unwrap();
        assert!(matches!(from_bytes::<Bpr>(&bytes), Err(Error::Format(_))));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn recommend_respects_filters_and_round_trips(
            pairs in prop::collection::vec((0u32..8, 0u32..15), 1..80),
            exclude in prop::collection::vec(0u32..15, 0..4),
            k in 1usize..20,
            seed in any::<u64>(),
        ) {
            let data = interactions(8, 15, &pairs);
            let params = Bpr::params().factors(3).iterations(3).seed(seed).hogwild(false);
            let model = params.fit(&data).unwrap();
            prop_assert_eq!(&params.fit(&data).unwrap(), &model);
            let back: Bpr = from_bytes(&to_bytes(&model).unwrap()).unwrap();
            let any = AnyModel::from_bytes(&AnyModel::from(model.clone()).to_bytes().unwrap()).unwrap();
            let opts = RecOpts { k, exclude: Some(&exclude), ..RecOpts::default() };
            let users: Vec<u32> = (0..8).collect();
            let batch = model.recommend_batch(&users, &data, &opts).unwrap();
            for u in 0..8u32 {
                let top = model.recommend(u, data.items_of(u), &opts).unwrap();
                prop_assert!(top.len() <= k);
                for s in &top {
                    prop_assert!(!data.items_of(u).contains(&s.item));
                    prop_assert!(!exclude.contains(&s.item));
                    prop_assert!(s.score.is_finite());
                }
                prop_assert!(top.windows(2).all(|w| w[0].score >= w[1].score));
                prop_assert_eq!(&back.recommend(u, data.items_of(u), &opts).unwrap(), &top);
                prop_assert_eq!(&any.recommend(u, data.items_of(u), &opts).unwrap(), &top);
                let b = &batch[u as usize];
                prop_assert_eq!(b.len(), top.len());
                for (x, y) in b.iter().zip(&top) {
                    prop_assert!((x.score - y.score).abs() <= 1e-4 * (1.0 + y.score.abs()));
                }
                let items: Vec<u32> = top.iter().map(|s| s.item).collect();
                let scores = model.score_items(u, data.items_of(u), &items).unwrap();
                for (s, t) in scores.iter().zip(&top) {
                    prop_assert!((s - t.score).abs() <= 1e-5 * (1.0 + s.abs()));
                }
            }
        }
    }
}
