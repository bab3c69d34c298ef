//! SIMD kernels (dot, axpy and their row-wise forms), written once over an instruction-set
//! token and dispatched at run time.

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
