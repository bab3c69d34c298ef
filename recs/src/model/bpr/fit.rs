//! Training: Hogwild! SGD over sampled triples, in a fixed number of seeded chunks, and the
//! single-user fold-in with the same update.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use rayon::prelude::*;

use super::hyperparams::{BprParams, BprValidParams};
use super::score::Bpr;
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::model::factors::{dispatch, matrix_len, random_matrix, Isa, Rng, Scalar, SimdFn};
use crate::model::{check_history, Fit, ParamGuard};
use crate::{Error, Result};

/// Number of sample chunks per epoch (fixed, so that results do not depend on the thread count).
const CHUNKS: usize = 64;
/// Draws of a negative item before a sample is skipped (users who saw nearly everything).
const NEG_TRIES: usize = 16;
/// Largest `users × items` for which a fit keeps a bitset of interactions (64 MiB).
const SEEN_BITS_MAX: usize = 1 << 29;
/// How many samples ahead the SGD loop prefetches factor rows.
const PREFETCH_AHEAD: usize = 8;

impl Bpr {
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
