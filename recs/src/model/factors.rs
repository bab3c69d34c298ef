//! Dense factor matrices and the kernels shared by the matrix-factorization models (ALS, BPR):
//! a seeded random number generator, SIMD dot/axpy with run-time CPU dispatch, the Gram matrix
//! `YᵀY` and blocked scoring `U·Vᵀ` (both through faer).
//!
//! Every matrix is row-major `&[f32]` with an explicit row width.
//!
//! Kernels are written once, generic over an instruction-set token ([`Isa`]), and compiled twice: with AVX2+FMA
//! enabled (chosen at run time when the CPU has them) and for the baseline target. Results are
//! therefore identical for any thread count on one machine, but may differ in the last bits
//! between machines with and without FMA.

use std::borrow::Cow;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::{
    check_history, check_scores_len, select, top_k, Persist, RecOpts, Recommender, Scored,
};
use crate::data::{Interactions, ItemIdx, UserIdx};
use crate::util::rng::SplitMix64;
use crate::{Error, Result};

/// The factor models' generator: [`SplitMix64`] streams with the fast bounded draw, so ALS
/// and BPR keep their exact streams (pinned in `util::rng`).
#[derive(Debug, Clone)]
pub(crate) struct Rng(SplitMix64);

impl Rng {
    /// A generator for `seed`, decorrelated by `stream` (so that chunk `c` of epoch `e` can
    /// have its own reproducible stream).
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        Rng(SplitMix64::stream(seed, stream))
    }

    #[cfg(test)]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub(crate) fn next_f32(&mut self) -> f32 {
        self.0.next_f32()
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift (bias below 2⁻³² for our sizes).
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0.below_fast(n)
    }
}

/// `rows × width` values uniform in `[-scale, scale)`, from the stream `(seed, stream)`.
pub(crate) fn random_matrix(
    rows: usize,
    width: usize,
    scale: f32,
    seed: u64,
    stream: u64,
) -> Vec<f32> {
    let mut rng = Rng::new(seed, stream);
    (0..rows * width)
        .map(|_| (2.0 * rng.next_f32() - 1.0) * scale)
        .collect()
}

/// `rows * width`, or [`Error::Limit`] when it does not fit in memory addressing.
pub(crate) fn matrix_len(rows: usize, width: usize, what: &str) -> Result<usize> {
    rows.checked_mul(width)
        .filter(|&n| n <= isize::MAX as usize / 4)
        .ok_or_else(|| {
            Error::Limit(format!(
                "{what}: {rows} x {width} factors do not fit in memory"
            ))
        })
}

// ---------------------------------------------------------------------------------------------
// SIMD kernels

/// An instruction set the kernels are compiled for. A value of the type proves that the CPU
/// supports it (see [`dispatch`]).
pub(crate) trait Isa: Copy {
    /// `a * b + c` (fused where the instruction set has FMA).
    fn fmadd(self, a: f32, b: f32, c: f32) -> f32;
    /// Dot product of the common prefix of `a` and `b`.
    fn dot(self, a: &[f32], b: &[f32]) -> f32;
    /// `y += alpha * x`.
    fn axpy(self, alpha: f32, x: &[f32], y: &mut [f32]);

    /// `out[e] = m[rows[e]] · p` for rows of width `d` of the row-major `m` (`p.len() >= d`).
    ///
    /// # Panics
    /// When a row is outside `m` (callers pass validated indices).
    #[inline(always)]
    fn dots_rows(self, m: &[f32], d: usize, rows: &[u32], p: &[f32], out: &mut [f32]) {
        for (o, &r) in out.iter_mut().zip(rows) {
            let r = r as usize;
            *o = self.dot(&m[r * d..(r + 1) * d], p);
        }
    }

    /// `acc += Σ_e (a[e] + b[e]·(m[rows[e]] · v)) · m[rows[e]]`: one pass of a CG step over a
    /// row's entries (`t` is scratch of at least `rows.len()` entries).
    ///
    /// # Panics
    /// When a row is outside `m` (callers pass validated indices).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn rank_one_updates(
        self,
        m: &[f32],
        d: usize,
        rows: &[u32],
        a: &[f32],
        b: &[f32],
        v: &[f32],
        t: &mut [f32],
        acc: &mut [f32],
    ) {
        let n = rows.len();
        self.dots_rows(m, d, rows, v, &mut t[..n]);
        for ((te, ae), be) in t[..n].iter_mut().zip(a).zip(b) {
            *te = ae + be * *te;
        }
        self.axpys_rows(m, d, rows, &t[..n], acc);
    }

    /// `acc += Σ_e coef[e] · m[rows[e]]` for rows of width `d` of the row-major `m`.
    ///
    /// # Panics
    /// When a row is outside `m` (callers pass validated indices).
    #[inline(always)]
    fn axpys_rows(self, m: &[f32], d: usize, rows: &[u32], coef: &[f32], acc: &mut [f32]) {
        for (&c, &r) in coef.iter().zip(rows) {
            let r = r as usize;
            self.axpy(c, &m[r * d..(r + 1) * d], acc);
        }
    }
}

/// Portable code (the compiler vectorizes for the baseline target).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scalar;

impl Isa for Scalar {
    #[inline(always)]
    fn fmadd(self, a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; 8];
        let ca = a.chunks_exact(8);
        let cb = b.chunks_exact(8);
        let (ta, tb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for l in 0..8 {
                acc[l] += x[l] * y[l];
            }
        }
        let mut tail = 0f32;
        for (x, y) in ta.iter().zip(tb) {
            tail += x * y;
        }
        ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7])) + tail
    }
    #[inline(always)]
    fn axpy(self, alpha: f32, x: &[f32], y: &mut [f32]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += alpha * xi;
        }
    }
}

/// x86-64 with AVX2 and FMA. Only [`Avx2Fma::detect`] makes one, after checking the CPU.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx2Fma(());

#[cfg(target_arch = "x86_64")]
impl Avx2Fma {
    /// The token, when this CPU has AVX2 and FMA.
    #[inline]
    pub(crate) fn detect() -> Option<Self> {
        (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
            .then_some(Avx2Fma(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl Isa for Avx2Fma {
    #[inline(always)]
    fn fmadd(self, a: f32, b: f32, c: f32) -> f32 {
        // SAFETY: the token proves the CPU has FMA.
        unsafe { avx::fmadd(a, b, c) }
    }
    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: the token proves the CPU has AVX2 and FMA.
        unsafe { avx::dot(a, b) }
    }
    #[inline(always)]
    fn axpy(self, alpha: f32, x: &[f32], y: &mut [f32]) {
        // SAFETY: the token proves the CPU has AVX2 and FMA.
        unsafe { avx::axpy(alpha, x, y) }
    }
    #[inline(always)]
    fn dots_rows(self, m: &[f32], d: usize, rows: &[u32], p: &[f32], out: &mut [f32]) {
        // SAFETY: the token proves the CPU has AVX2 and FMA.
        unsafe { avx::dots_rows(m, d, rows, p, out) }
    }
    #[inline(always)]
    fn axpys_rows(self, m: &[f32], d: usize, rows: &[u32], coef: &[f32], acc: &mut [f32]) {
        // SAFETY: the token proves the CPU has AVX2 and FMA.
        unsafe { avx::axpys_rows(m, d, rows, coef, acc) }
    }
    #[inline(always)]
    fn rank_one_updates(
        self,
        m: &[f32],
        d: usize,
        rows: &[u32],
        a: &[f32],
        b: &[f32],
        v: &[f32],
        t: &mut [f32],
        acc: &mut [f32],
    ) {
        // One pass with `acc` held in registers when it fits (k ≤ 64, a multiple of 8): each
        // row is read from memory once per step instead of twice.
        // SAFETY (all calls): the token proves the CPU has AVX2 and FMA.
        unsafe {
            match d {
                64 => avx::rank_one_updates::<8>(m, rows, a, b, v, acc),
                56 => avx::rank_one_updates::<7>(m, rows, a, b, v, acc),
                48 => avx::rank_one_updates::<6>(m, rows, a, b, v, acc),
                40 => avx::rank_one_updates::<5>(m, rows, a, b, v, acc),
                32 => avx::rank_one_updates::<4>(m, rows, a, b, v, acc),
                24 => avx::rank_one_updates::<3>(m, rows, a, b, v, acc),
                16 => avx::rank_one_updates::<2>(m, rows, a, b, v, acc),
                8 => avx::rank_one_updates::<1>(m, rows, a, b, v, acc),
                _ => {
                    let n = rows.len();
                    avx::dots_rows(m, d, rows, v, &mut t[..n]);
                    for ((te, ae), be) in t[..n].iter_mut().zip(a).zip(b) {
                        *te = ae + be * *te;
                    }
                    avx::axpys_rows(m, d, rows, &t[..n], acc);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
// Indexing by `e` mirrors the row accessor `row(e)` in the kernels below.
#[allow(clippy::needless_range_loop)]
mod avx {
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fmadd(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        // SAFETY (all loads): `i + 8 <= n` or `i + 16 <= n`, within both slices.
        while i + 16 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                acc1,
            );
            i += 16;
        }
        if i + 8 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc0);
            i += 8;
        }
        let s = _mm256_add_ps(acc0, acc1);
        let q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
        let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let q = _mm_add_ss(q, _mm_shuffle_ps::<1>(q, q));
        let mut r = _mm_cvtss_f32(q);
        while i < n {
            r = a[i].mul_add(b[i], r);
            i += 1;
        }
        r
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
        let n = x.len().min(y.len());
        let (px, py) = (x.as_ptr(), y.as_mut_ptr());
        let va = _mm256_set1_ps(alpha);
        let mut i = 0;
        // SAFETY (all accesses): `i + 8 <= n`, within both slices.
        while i + 8 <= n {
            let v = _mm256_fmadd_ps(va, _mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i)));
            _mm256_storeu_ps(py.add(i), v);
            i += 8;
        }
        while i < n {
            y[i] = alpha.mul_add(x[i], y[i]);
            i += 1;
        }
    }

    /// Four dot products at a time, reduced together by horizontal adds.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dots_rows(m: &[f32], d: usize, rows: &[u32], p: &[f32], out: &mut [f32]) {
        let n = rows.len().min(out.len());
        let p = &p[..d];
        let row = |e: usize| {
            let r = rows[e] as usize;
            &m[r * d..(r + 1) * d]
        };
        let body = d - d % 8;
        let mut e = 0;
        while e + 4 <= n {
            let (r0, r1, r2, r3) = (row(e), row(e + 1), row(e + 2), row(e + 3));
            let mut a0 = _mm256_setzero_ps();
            let mut a1 = _mm256_setzero_ps();
            let mut a2 = _mm256_setzero_ps();
            let mut a3 = _mm256_setzero_ps();
            let mut c = 0;
            // SAFETY (all loads): every row and `p` have `d >= c + 8` entries.
            while c < body {
                let pv = _mm256_loadu_ps(p.as_ptr().add(c));
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0.as_ptr().add(c)), pv, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1.as_ptr().add(c)), pv, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2.as_ptr().add(c)), pv, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3.as_ptr().add(c)), pv, a3);
                c += 8;
            }
            let h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
            let q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
            let mut v = [0f32; 4];
            _mm_storeu_ps(v.as_mut_ptr(), q);
            for (j, r) in [r0, r1, r2, r3].iter().enumerate() {
                let mut t = v[j];
                for c in body..d {
                    t = r[c].mul_add(p[c], t);
                }
                out[e + j] = t;
            }
            e += 4;
        }
        while e < n {
            out[e] = dot(row(e), p);
            e += 1;
        }
    }

    /// `acc += Σ_e (a[e] + b[e]·(row(e)·v))·row(e)` for rows of width `8·N`, with `acc` in `N`
    /// registers: four dot products at a time, then their four rank-one updates while the rows
    /// are still in L1.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn rank_one_updates<const N: usize>(
        m: &[f32],
        rows: &[u32],
        a: &[f32],
        b: &[f32],
        v: &[f32],
        acc: &mut [f32],
    ) {
        let d = 8 * N;
        let (v, acc) = (&v[..d], &mut acc[..d]);
        let n = rows.len().min(a.len()).min(b.len());
        let row = |e: usize| {
            let r = rows[e] as usize;
            &m[r * d..(r + 1) * d]
        };
        let mut av = [_mm256_setzero_ps(); N];
        // SAFETY (all loads and stores): `v`, `acc` and every row have exactly `d = 8·N` entries.
        for (c, x) in av.iter_mut().enumerate() {
            *x = _mm256_loadu_ps(acc.as_ptr().add(8 * c));
        }
        let mut e = 0;
        while e + 4 <= n {
            let r = [row(e), row(e + 1), row(e + 2), row(e + 3)];
            let mut s = [_mm256_setzero_ps(); 4];
            for c in 0..N {
                let vc = _mm256_loadu_ps(v.as_ptr().add(8 * c));
                for j in 0..4 {
                    s[j] = _mm256_fmadd_ps(_mm256_loadu_ps(r[j].as_ptr().add(8 * c)), vc, s[j]);
                }
            }
            let h = _mm256_hadd_ps(_mm256_hadd_ps(s[0], s[1]), _mm256_hadd_ps(s[2], s[3]));
            let q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
            let mut t = [0f32; 4];
            _mm_storeu_ps(t.as_mut_ptr(), q);
            let cf: [__m256; 4] =
                std::array::from_fn(|j| _mm256_set1_ps(b[e + j].mul_add(t[j], a[e + j])));
            for (c, x) in av.iter_mut().enumerate() {
                for j in 0..4 {
                    *x = _mm256_fmadd_ps(cf[j], _mm256_loadu_ps(r[j].as_ptr().add(8 * c)), *x);
                }
            }
            e += 4;
        }
        while e < n {
            let r = row(e);
            let cf = _mm256_set1_ps(b[e].mul_add(dot(r, v), a[e]));
            for (c, x) in av.iter_mut().enumerate() {
                *x = _mm256_fmadd_ps(cf, _mm256_loadu_ps(r.as_ptr().add(8 * c)), *x);
            }
            e += 1;
        }
        for (c, x) in av.iter().enumerate() {
            _mm256_storeu_ps(acc.as_mut_ptr().add(8 * c), *x);
        }
    }

    /// `acc += Σ coef[e]·row(e)`, keeping 64 (then 8) columns of `acc` in registers across rows.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn axpys_rows(
        m: &[f32],
        d: usize,
        rows: &[u32],
        coef: &[f32],
        acc: &mut [f32],
    ) {
        let acc = &mut acc[..d];
        // (row, coefficient) pairs; rows are bounds-checked here once per use.
        let pairs = || {
            rows.iter()
                .zip(coef)
                .map(|(&r, &c)| (&m[r as usize * d..(r as usize + 1) * d], c))
        };
        let pa = acc.as_mut_ptr();
        let mut c = 0;
        // SAFETY (all accesses): `acc` and every row have `d >= c + 64` (or `c + 8`) entries.
        while c + 64 <= d {
            let mut a = [_mm256_setzero_ps(); 8];
            for (l, v) in a.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(pa.add(c + 8 * l));
            }
            for (row, cf) in pairs() {
                let s = _mm256_set1_ps(cf);
                let r = row.as_ptr().add(c);
                for (l, v) in a.iter_mut().enumerate() {
                    *v = _mm256_fmadd_ps(s, _mm256_loadu_ps(r.add(8 * l)), *v);
                }
            }
            for (l, v) in a.iter().enumerate() {
                _mm256_storeu_ps(pa.add(c + 8 * l), *v);
            }
            c += 64;
        }
        while c + 8 <= d {
            let mut a = _mm256_loadu_ps(pa.add(c));
            for (row, cf) in pairs() {
                a = _mm256_fmadd_ps(_mm256_set1_ps(cf), _mm256_loadu_ps(row.as_ptr().add(c)), a);
            }
            _mm256_storeu_ps(pa.add(c), a);
            c += 8;
        }
        if c < d {
            for (row, cf) in pairs() {
                for (a, &v) in acc[c..].iter_mut().zip(&row[c..]) {
                    *a = cf.mul_add(v, *a);
                }
            }
        }
    }
}

/// A computation compiled for every supported instruction set; see [`dispatch`].
pub(crate) trait SimdFn {
    type Out;
    fn call<I: Isa>(self, isa: I) -> Self::Out;
}

/// Runs `f` with AVX2+FMA code when the CPU supports it, else with portable code.
///
/// `f.call` must be `#[inline(always)]` (with every kernel it calls) so that it is compiled
/// inside the feature-enabled wrapper.
#[inline]
pub(crate) fn dispatch<F: SimdFn>(f: F) -> F::Out {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(isa) = Avx2Fma::detect() {
            // SAFETY: the token proves the CPU supports the wrapper's features.
            return unsafe { dispatch_avx2_fma(f, isa) };
        }
    }
    f.call(Scalar)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dispatch_avx2_fma<F: SimdFn>(f: F, isa: Avx2Fma) -> F::Out {
    f.call(isa)
}

/// Dot products of one row with every row of a matrix: `out[i] = row · m[i]`.
pub(crate) fn dots_into(row: &[f32], m: &[f32], width: usize, out: &mut [f32]) {
    struct Dots<'a> {
        row: &'a [f32],
        m: &'a [f32],
        width: usize,
        out: &'a mut [f32],
    }
    impl SimdFn for Dots<'_> {
        type Out = ();
        #[inline(always)]
        fn call<I: Isa>(self, isa: I) {
            for (o, r) in self.out.iter_mut().zip(self.m.chunks_exact(self.width)) {
                *o = isa.dot(self.row, r);
            }
        }
    }
    if width == 0 {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    dispatch(Dots { row, m, width, out });
}

// ---------------------------------------------------------------------------------------------
// faer-backed dense products

/// Rows per block of [`gram`]: the blocking is fixed so that results do not depend on the
/// number of threads.
const GRAM_BLOCK: usize = 2048;

/// The Gram matrix `YᵀY` (`width × width`, row-major) of a row-major `rows × width` matrix
/// (the shared part of every ALS normal matrix).
///
/// Blocks of rows are multiplied in parallel (faer) and summed in block order, so the result is
/// the same for any thread count.
///
/// ```
/// // Y = [[1, 2], [3, 4]]: YᵀY = [[1+9, 2+12], [2+12, 4+16]]
/// let g = recs::model::gram(&[1.0, 2.0, 3.0, 4.0], 2);
/// assert_eq!(g, vec![10.0, 14.0, 14.0, 20.0]);
/// ```
pub fn gram(y: &[f32], width: usize) -> Vec<f32> {
    if width == 0 {
        return Vec::new();
    }
    let partials: Vec<Vec<f32>> = y
        .par_chunks(GRAM_BLOCK * width)
        .map(|block| {
            let rows = block.len() / width;
            let yb = MatRef::from_row_major_slice(block, rows, width);
            let mut g = vec![0f32; width * width];
            matmul(
                MatMut::from_row_major_slice_mut(&mut g, width, width),
                Accum::Replace,
                yb.transpose(),
                yb,
                1.0f32,
                Par::Seq,
            );
            g
        })
        .collect();
    let mut out = vec![0f32; width * width];
    for p in &partials {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
    // Exact symmetry (the two triangles may differ in rounding).
    for i in 0..width {
        for j in 0..i {
            let s = out[i * width + j];
            out[j * width + i] = s;
        }
    }
    out
}

/// `out = U · Vᵀ` for a block of `U` rows (`b × width`) against all rows of `V`
/// (`n × width`); `out` is `b × n` row-major. Single-threaded (callers parallelise over blocks).
pub(crate) fn scores_block(u: &[f32], v: &[f32], width: usize, out: &mut [f32]) {
    if width == 0 {
        out.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    let b = u.len() / width;
    let n = v.len() / width;
    matmul(
        MatMut::from_row_major_slice_mut(out, b, n),
        Accum::Replace,
        MatRef::from_row_major_slice(u, b, width),
        MatRef::from_row_major_slice(v, n, width).transpose(),
        1.0f32,
        Par::Seq,
    );
}

/// Orders by score descending, then item ascending (the order of [`top_k`]).
#[inline]
fn better(a: &Scored, b: &Scored) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then(a.item.cmp(&b.item))
}

/// [`top_k_dense`](super::top_k_dense) without a filter, with the same result (proptested),
/// faster: once `k` items are kept, a candidate that does not beat the `k`-th is skipped with one
/// comparison. Items are visited in increasing order, so a later item that ties the `k`-th
/// score loses the tie and can be skipped too.
pub(crate) fn top_k_pruned(scores: &[f32], k: usize) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    let cap = k.saturating_mul(2).max(16);
    let mut buf: Vec<Scored> = Vec::with_capacity(cap.min(scores.len()) + 1);
    let mut threshold = f32::NEG_INFINITY;
    let mut pruning = false;
    for (i, &score) in scores.iter().enumerate() {
        // NaN (filtered) fails both comparisons and is skipped.
        if !(score > threshold || (!pruning && score == threshold)) {
            continue;
        }
        buf.push(Scored {
            item: i as ItemIdx,
            score,
        });
        if buf.len() >= cap {
            buf.select_nth_unstable_by(k - 1, better);
            buf.truncate(k);
            threshold = buf[k - 1].score;
            pruning = true;
        }
    }
    if buf.len() > k {
        buf.select_nth_unstable_by(k - 1, better);
        buf.truncate(k);
    }
    buf.sort_unstable_by(better);
    buf
}

/// [`select`] with the same result: filtered items are marked NaN and the top `k` taken by
/// [`top_k_pruned`] (`select` itself when `opts.candidates` restricts the ranking).
pub(crate) fn select_fast(
    scores: &mut [f32],
    history: &[ItemIdx],
    opts: &RecOpts<'_>,
) -> Result<Vec<Scored>> {
    if opts.candidates.is_some() {
        return select(scores, history, opts);
    }
    let filters = [
        if opts.filter_seen { history } else { &[] },
        opts.exclude.unwrap_or(&[]),
    ];
    for &i in filters.iter().flat_map(|f| f.iter()) {
        if let Some(s) = scores.get_mut(i as usize) {
            *s = f32::NAN;
        }
    }
    Ok(top_k_pruned(scores, opts.k))
}

/// Users per block of [`recommend_batch`] (one `BATCH × n_items` score buffer each).
const BATCH: usize = 64;

/// `recommend_batch` for a factor model: blocks of users are scored as one matrix product
/// `U_block · Vᵀ` (faer), then each row is filtered and selected by [`select_fast`] (the same
/// result as [`select`], which `recommend` uses by default). `row_for(user, history)` gives a user's factor row (or an error).
pub(crate) fn recommend_batch<'m>(
    items: &[f32],
    width: usize,
    users: &[UserIdx],
    data: &Interactions,
    opts: &RecOpts<'_>,
    row_for: impl Fn(UserIdx, &[ItemIdx]) -> Result<Cow<'m, [f32]>> + Sync,
) -> Result<Vec<Vec<Scored>>> {
    let n_items = items.len().checked_div(width).unwrap_or(0);
    if let Some(c) = opts.candidates {
        if let Some(&bad) = c.iter().find(|&&i| i as usize >= n_items) {
            return Err(Error::UnknownItem(bad as u64));
        }
    }
    // Per-thread buffers, reused across blocks: the block's user rows and its score matrix.
    let blocks: Vec<Result<Vec<Vec<Scored>>>> = users
        .par_chunks(BATCH)
        .map_init(
            || (Vec::new(), Vec::new()),
            |(u, scores): &mut (Vec<f32>, Vec<f32>), block| {
                u.clear();
                for &user in block {
                    u.extend_from_slice(&row_for(user, data.items_of(user))?);
                }
                scores.resize(block.len() * n_items, 0.0);
                scores_block(u, items, width, scores);
                block
                    .iter()
                    .zip(scores.chunks_exact_mut(n_items.max(1)))
                    .map(|(&user, row)| select_fast(row, data.items_of(user), opts))
                    .collect()
            },
        )
        .collect();
    let mut out = Vec::with_capacity(users.len());
    for b in blocks {
        out.extend(b?);
    }
    Ok(out)
}

/// The `k` items whose first `latent` columns have the highest cosine similarity with `item`'s,
/// excluding `item` itself. Items with a zero vector have similarity 0.
pub(crate) fn similar_by_cosine(
    items: &[f32],
    width: usize,
    latent: usize,
    item: ItemIdx,
    k: usize,
) -> Result<Vec<Scored>> {
    let n_items = items.len().checked_div(width).unwrap_or(0);
    if item as usize >= n_items {
        return Err(Error::UnknownItem(item as u64));
    }
    let lat: Vec<f32> = items
        .chunks_exact(width)
        .flat_map(|r| &r[..latent])
        .copied()
        .collect();
    let me = &lat[item as usize * latent..(item as usize + 1) * latent];
    let mut norms = vec![0f32; n_items];
    let mut sims = vec![0f32; n_items];
    for (n, r) in norms.iter_mut().zip(lat.chunks_exact(latent.max(1))) {
        *n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
    }
    dots_into(me, &lat, latent, &mut sims);
    let nme = norms[item as usize];
    Ok(top_k(
        sims.iter()
            .zip(&norms)
            .enumerate()
            .filter(|&(i, _)| i != item as usize)
            .map(|(i, (s, n))| {
                let denom = nme * n;
                (i as ItemIdx, if denom > 0.0 { s / denom } else { 0.0 })
            }),
        k,
    ))
}

// ---------------------------------------------------------------------------------------------
// The one `Recommender` of the factor models

/// A fitted factor model's matrices, borrowed: a score is the dot product of a user row and an
/// item row.
pub(crate) struct FactorView<'a> {
    /// User rows, row-major `n_users × width`.
    pub(crate) users: &'a [f32],
    /// Item rows, row-major `n_items × width`.
    pub(crate) items: &'a [f32],
    pub(crate) n_users: usize,
    pub(crate) n_items: usize,
    /// Columns of both matrices (the latent factors plus any bias columns).
    pub(crate) width: usize,
    /// The leading columns that are latent factors (biases excluded): what item similarity
    /// compares.
    pub(crate) latent: usize,
}

/// What a matrix-factorization model supplies to get the shared [`Recommender`] (as
/// `implicit`'s `MatrixFactorizationBase`): its matrices and how it folds in a user outside
/// the fitted ones. Everything else (scoring, the fast exact top-k, blocked batch scoring,
/// cosine item similarity) is the same for ALS and BPR and written once, below.
pub(crate) trait FactorModel: Persist {
    /// The fitted matrices.
    fn view(&self) -> FactorView<'_>;

    /// A user row learned from a non-empty `history` with the item factors fixed.
    ///
    /// # Errors
    /// [`Error::UnknownItem`] for an item outside the model, or the model's own fold-in errors.
    fn fold_in(&self, history: &[ItemIdx]) -> Result<Vec<f32>>;

    /// The stored row of a fitted user (after checking `history`), or a folded-in row for an
    /// unknown one with a history.
    fn row_for(&self, user: UserIdx, history: &[ItemIdx]) -> Result<Cow<'_, [f32]>> {
        let v = self.view();
        let u = user as usize;
        if u < v.n_users {
            check_history(history, v.n_items)?;
            Ok(Cow::Borrowed(&v.users[u * v.width..(u + 1) * v.width]))
        } else if history.is_empty() {
            Err(Error::UnknownUser(user as u64))
        } else {
            Ok(Cow::Owned(self.fold_in(history)?))
        }
    }

    /// Scores every item for a user row of width `view().width`.
    fn score_row_into(&self, row: &[f32], out: &mut [f32]) -> Result<()> {
        let v = self.view();
        check_scores_len(out, v.n_items)?;
        dots_into(row, v.items, v.width, out);
        Ok(())
    }
}

/// The accessors every factor model has, written once: `n_users`, `n_factors`,
/// `user_factors`, `item_factors` (public) and the crate-private `factor_view` that
/// [`FactorModel::view`] returns. The type needs the fields `users`, `items`, `n_users`,
/// `n_items`, `width` and `params.factors`.
macro_rules! factor_accessors {
    ($model:ty) => {
        impl $model {
            /// Number of fitted users.
            pub fn n_users(&self) -> usize {
                self.n_users
            }
            /// Number of latent factors `k`.
            pub fn n_factors(&self) -> usize {
                self.params.factors
            }
            /// User factors, row-major `n_users × factor_width`.
            pub fn user_factors(&self) -> &[f32] {
                &self.users
            }
            /// Item factors, row-major `n_items × factor_width`.
            pub fn item_factors(&self) -> &[f32] {
                &self.items
            }
            fn factor_view(&self) -> $crate::model::factors::FactorView<'_> {
                $crate::model::factors::FactorView {
                    users: &self.users,
                    items: &self.items,
                    n_users: self.n_users,
                    n_items: self.n_items,
                    width: self.width,
                    latent: self.params.factors,
                }
            }
        }
    };
}
pub(crate) use factor_accessors;

impl<M: FactorModel> Recommender for M {
    fn kind(&self) -> &'static str {
        M::KIND
    }
    fn n_items(&self) -> usize {
        self.view().n_items
    }
    /// Scores with the fitted user's row, or, for a user outside the fitted ones, with a row
    /// folded in from `history`.
    fn score_into(&self, user: UserIdx, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        let row = self.row_for(user, history)?;
        self.score_row_into(&row, out)
    }
    /// Folds the history in with the item factors fixed ([`Als::recalculate_user`] with
    /// default values, [`Bpr::recalculate_user`]).
    ///
    /// [`Als::recalculate_user`]: super::Als::recalculate_user
    /// [`Bpr::recalculate_user`]: super::Bpr::recalculate_user
    fn score_history_into(&self, history: &[ItemIdx], out: &mut [f32]) -> Result<()> {
        if history.is_empty() {
            return Err(Error::UnknownUser(u64::from(UserIdx::MAX)));
        }
        let row = self.fold_in(history)?;
        self.score_row_into(&row, out)
    }
    /// Dot products with the requested item rows only.
    fn score_items(
        &self,
        user: UserIdx,
        history: &[ItemIdx],
        items: &[ItemIdx],
    ) -> Result<Vec<f32>> {
        let v = self.view();
        if let Some(&bad) = items.iter().find(|&&i| i as usize >= v.n_items) {
            return Err(Error::UnknownItem(bad as u64));
        }
        let row = self.row_for(user, history)?;
        let w = v.width;
        let rows: Vec<f32> = items
            .iter()
            .flat_map(|&i| &v.items[i as usize * w..(i as usize + 1) * w])
            .copied()
            .collect();
        let mut out = vec![0f32; items.len()];
        dots_into(&row, &rows, w, &mut out);
        Ok(out)
    }
    /// As the provided method, with the faster exact top-k of the batch path.
    fn recommend(
        &self,
        user: UserIdx,
        history: &[ItemIdx],
        opts: &RecOpts<'_>,
    ) -> Result<Vec<Scored>> {
        let n_items = self.view().n_items;
        if let Some(c) = opts.candidates {
            if let Some(&bad) = c.iter().find(|&&i| i as usize >= n_items) {
                return Err(Error::UnknownItem(bad as u64));
            }
        }
        let mut buf = vec![0f32; n_items];
        self.score_into(user, history, &mut buf)?;
        select_fast(&mut buf, history, opts)
    }
    /// Scores blocks of users as one matrix product `U_block · Vᵀ` (faer), then filters and
    /// selects each row as [`recommend`](Recommender::recommend) does. Scores may differ from
    /// `recommend`'s in the last bits (different summation order).
    fn recommend_batch(
        &self,
        users: &[UserIdx],
        data: &Interactions,
        opts: &RecOpts<'_>,
    ) -> Result<Vec<Vec<Scored>>> {
        let v = self.view();
        recommend_batch(v.items, v.width, users, data, opts, |u, h| {
            self.row_for(u, h)
        })
    }
    /// Cosine similarity of the latent item factors (biases excluded).
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        let v = self.view();
        similar_by_cosine(v.items, v.width, v.latent, item, k)
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;
    use super::*;
    use proptest::prelude::*;

    // The streams themselves are pinned in `util::rng` (`pinned_splitmix64_streams`); this
    // pins the wrapper's mapping onto them.
    #[test]
    fn rng_is_the_pinned_splitmix64_stream() {
        let (mut a, mut b) = (Rng::new(3, 0), SplitMix64::stream(3, 0));
        for n in [1000, 7, 1 << 20] {
            assert_eq!(a.below(n), b.below_fast(n));
        }
        assert_eq!(a.next_f32().to_bits(), b.next_f32().to_bits());
    }

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn rng_is_reproducible_and_in_range() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7, 3);
                move |_| r.next_u64()
            })
            .collect();
        let mut r = Rng::new(7, 3);
        assert_eq!(a, (0..5).map(|_| r.next_u64()).collect::<Vec<_>>());
        let mut other = Rng::new(7, 4);
        assert_ne!(a[0], other.next_u64());
        for _ in 0..10_000 {
            let x = r.next_f32();
            assert!((0.0..1.0).contains(&x));
            assert!(r.below(13) < 13);
        }
    }

    proptest! {
        #[test]
        fn fast_selection_equals_select(
            scores in prop::collection::vec(-20i32..20, 0..300),
            nan_at in prop::collection::vec(0usize..300, 0..20),
            history in prop::collection::vec(0u32..320, 0..30),
            exclude in prop::collection::vec(0u32..320, 0..10),
            k in 0usize..40,
            filter_seen in any::<bool>(),
        ) {
            // Coarse scores so that ties are common.
            let mut scores: Vec<f32> = scores.into_iter().map(|s| s as f32 / 4.0).collect();
            for i in nan_at {
                if let Some(s) = scores.get_mut(i) {
                    *s = f32::NAN;
                }
            }
            let opts = RecOpts { k, filter_seen, exclude: Some(&exclude), candidates: None };
            let want = select(&mut scores.clone(), &history, &opts).unwrap();
            let got = select_fast(&mut scores.clone(), &history, &opts).unwrap();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(top_k_pruned(&scores, k), crate::model::top_k_dense(&scores, k, |_| false));
        }

        #[test]
        fn kernels_match_naive(v in prop::collection::vec(-10i32..10, 0..700), w in prop_oneof![1usize..140, Just(64usize), Just(8usize), Just(32usize)]) {
            let a: Vec<f32> = v.iter().map(|&x| x as f32 / 3.0).collect();
            let b: Vec<f32> = v.iter().rev().map(|&x| x as f32 / 7.0).collect();
            let want = naive_dot(&a, &b);
            let got = Scalar.dot(&a, &b) as f64;
            prop_assert!((got - want).abs() < 1e-3 * (1.0 + want.abs()));
            let mut y1 = b.clone();
            Scalar.axpy(0.5, &a, &mut y1);
            #[cfg(target_arch = "x86_64")]
            if let Some(isa) = Avx2Fma::detect() {
                let got = isa.dot(&a, &b) as f64;
                prop_assert!((got - want).abs() < 1e-3 * (1.0 + want.abs()));
                let mut y2 = b.clone();
                isa.axpy(0.5, &a, &mut y2);
                for (p, q) in y1.iter().zip(&y2) {
                    prop_assert!((p - q).abs() < 1e-4);
                }
            }
            // Row kernels against the single-row ones, for both instruction sets.
            let rows: Vec<u32> = (0..(a.len() / w) as u32).rev().collect();
            let p: Vec<f32> = (0..w).map(|c| c as f32 * 0.25 - 1.0).collect();
            let coef: Vec<f32> = rows.iter().map(|&r| r as f32 * 0.5 - 2.0).collect();
            let want_dots: Vec<f32> = rows.iter().map(|&r| Scalar.dot(&a[r as usize * w..(r as usize + 1) * w], &p)).collect();
            let mut want_acc = p.clone();
            for (&c, &r) in coef.iter().zip(&rows) {
                Scalar.axpy(c, &a[r as usize * w..(r as usize + 1) * w], &mut want_acc);
            }
            let check = |dots: &[f32], acc: &[f32]| {
                dots.iter().zip(&want_dots).all(|(x, y)| (x - y).abs() < 1e-3 * (1.0 + y.abs()))
                    && acc.iter().zip(&want_acc).all(|(x, y)| (x - y).abs() < 1e-3 * (1.0 + y.abs()))
            };
            // One CG pass: acc += Σ (α_e + β_e (row·p)) row.
            let (al, be): (Vec<f32>, Vec<f32>) = rows.iter().map(|&r| (r as f32 * 0.1, 0.5 - r as f32 * 0.01)).unzip();
            let mut want_r1 = p.clone();
            for ((&r, x), y) in rows.iter().zip(&al).zip(&be) {
                let row = &a[r as usize * w..(r as usize + 1) * w];
                Scalar.axpy(x + y * Scalar.dot(row, &p), row, &mut want_r1);
            }
            let mut t = vec![0f32; rows.len()];
            let mut got = p.clone();
            Scalar.rank_one_updates(&a, w, &rows, &al, &be, &p, &mut t, &mut got);
            prop_assert!(got.iter().zip(&want_r1).all(|(x, y)| (x - y).abs() < 1e-3 * (1.0 + y.abs())));
            #[cfg(target_arch = "x86_64")]
            if let Some(isa) = Avx2Fma::detect() {
                let mut got = p.clone();
                isa.rank_one_updates(&a, w, &rows, &al, &be, &p, &mut t, &mut got);
                prop_assert!(got.iter().zip(&want_r1).all(|(x, y)| (x - y).abs() < 1e-3 * (1.0 + y.abs())), "{:?} vs {:?}", got, want_r1);
            }
            let mut dots = vec![0f32; rows.len()];
            let mut acc = p.clone();
            Scalar.dots_rows(&a, w, &rows, &p, &mut dots);
            Scalar.axpys_rows(&a, w, &rows, &coef, &mut acc);
            prop_assert!(check(&dots, &acc));
            #[cfg(target_arch = "x86_64")]
            if let Some(isa) = Avx2Fma::detect() {
                let mut acc = p.clone();
                isa.dots_rows(&a, w, &rows, &p, &mut dots);
                isa.axpys_rows(&a, w, &rows, &coef, &mut acc);
                prop_assert!(check(&dots, &acc), "{:?} {:?} / {:?} {:?}", dots, want_dots, acc, want_acc);
            }
            for ((y, x), b) in y1.iter().zip(&a).zip(&b) {
                prop_assert!((y - (b + 0.5 * x)).abs() < 1e-4);
            }

            let rows = a.len() / w;
            let m = &a[..rows * w];
            let g = gram(m, w);
            for i in 0..w {
                for j in 0..w {
                    let want: f64 = (0..rows).map(|r| m[r * w + i] as f64 * m[r * w + j] as f64).sum();
                    prop_assert!((g[i * w + j] as f64 - want).abs() < 1e-3 * (1.0 + want.abs()));
                }
            }
            if rows > 0 {
                let mut out = vec![0f32; rows * rows];
                scores_block(m, m, w, &mut out);
                let mut d = vec![0f32; rows];
                dots_into(&m[..w], m, w, &mut d);
                for r in 0..rows {
                    let want = naive_dot(&m[..w], &m[r * w..(r + 1) * w]);
                    prop_assert!((out[r] as f64 - want).abs() < 1e-3 * (1.0 + want.abs()));
                    prop_assert!((d[r] as f64 - want).abs() < 1e-3 * (1.0 + want.abs()));
                }
            }
        }
    }
}
