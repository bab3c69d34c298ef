//! Position-wise kernels with their backward passes: matrix products (faer), affine layers,
//! layer normalisation, ReLU and dropout. Matrices are row-major `f32` slices.
//!
//! Every reduction runs in a fixed order (faer's products split the output, not the inner
//! dimension; column sums run over rows in order), so a training step is bit-for-bit
//! reproducible for a given seed.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// A row-major matrix view: `rows × cols` with `stride` elements between row starts,
/// optionally read transposed.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) stride: usize,
}

impl<'a> View<'a> {
    /// A dense `rows × cols` view.
    pub(crate) fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View {
            data,
            rows,
            cols,
            stride: cols,
        }
    }

    /// A view with a row stride (a column block of a wider matrix).
    pub(crate) fn strided(data: &'a [f32], rows: usize, cols: usize, stride: usize) -> Self {
        View {
            data,
            rows,
            cols,
            stride,
        }
    }

    fn faer(&self) -> MatRef<'a, f32> {
        MatRef::from_row_major_slice_with_stride(self.data, self.rows, self.cols, self.stride)
    }
}

/// `dst (m × n, row stride dst_stride) (+)= op(a) · op(b)` where `op` transposes when the flag
/// is set. `accumulate` adds to `dst` instead of overwriting it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    dst: &mut [f32],
    dst_stride: usize,
    a: View<'_>,
    a_t: bool,
    b: View<'_>,
    b_t: bool,
    accumulate: bool,
    par: Par,
) {
    let a = if a_t { a.faer().transpose() } else { a.faer() };
    let b = if b_t { b.faer().transpose() } else { b.faer() };
    let (m, n) = (a.nrows(), b.ncols());
    if m == 0 || n == 0 {
        return;
    }
    // the transpose of a column-major view: faer 0.24's `from_row_major_slice_with_stride_mut`
    // builds a column-major layout (it swaps the strides), so it is not used
    let c = MatMut::from_column_major_slice_with_stride_mut(dst, n, m, dst_stride).transpose_mut();
    let beta = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    matmul(c, beta, a, b, 1.0f32, par);
}

/// The parallelism for a product with about `flops` multiply-adds: small ones stay on the
/// calling thread (spawning costs more than it saves).
pub(crate) fn par_for(flops: usize) -> Par {
    if flops >= 1 << 20 && rayon::current_num_threads() > 1 {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

/// Affine layer forward: `y (n × out) = x (n × in) · w (in × out) + b`.
pub(crate) fn linear_forward(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], n_in: usize) {
    let n_out = b.len();
    let n = x.len() / n_in;
    for row in y.chunks_exact_mut(n_out) {
        row.copy_from_slice(b);
    }
    gemm(
        y,
        n_out,
        View::new(x, n, n_in),
        false,
        View::new(w, n_in, n_out),
        false,
        true,
        par_for(n * n_in * n_out),
    );
}

/// Affine layer backward: adds `xᵀ·dy` to `dw` and the column sums of `dy` to `db`; writes
/// `dx = dy·wᵀ` when asked.
pub(crate) fn linear_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<&mut [f32]>,
    n_in: usize,
) {
    let n_out = db.len();
    let n = x.len() / n_in;
    let par = par_for(n * n_in * n_out);
    gemm(
        dw,
        n_out,
        View::new(x, n, n_in),
        true,
        View::new(dy, n, n_out),
        false,
        true,
        par,
    );
    col_sum_into(dy, db);
    if let Some(dx) = dx {
        gemm(
            dx,
            n_in,
            View::new(dy, n, n_out),
            false,
            View::new(w, n_in, n_out),
            true,
            false,
            par,
        );
    }
}

/// Adds the column sums of the row-major `m` (rows of `acc.len()`) to `acc`, rows in order.
pub(crate) fn col_sum_into(m: &[f32], acc: &mut [f32]) {
    for row in m.chunks_exact(acc.len()) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

/// Layer normalisation's ε (PyTorch's default).
pub(crate) const LN_EPS: f32 = 1e-5;

/// Layer normalisation forward, row by row: `y = γ ⊙ (x − μ)/σ + β`. Stores the normalised
/// rows `xhat` and `1/σ` per row for the backward pass.
pub(crate) fn layer_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    xhat: &mut [f32],
    inv_std: &mut [f32],
) {
    let d = gamma.len();
    y.par_chunks_exact_mut(d)
        .zip(xhat.par_chunks_exact_mut(d))
        .zip(inv_std.par_iter_mut())
        .zip(x.par_chunks_exact(d))
        .for_each(|(((y, xh), is), x)| {
            let mean = x.iter().sum::<f32>() / d as f32;
            let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
            let inv = 1.0 / (var + LN_EPS).sqrt();
            *is = inv;
            for c in 0..d {
                xh[c] = (x[c] - mean) * inv;
                y[c] = gamma[c] * xh[c] + beta[c];
            }
        });
}

/// Layer normalisation backward: adds to `dgamma`/`dbeta` (rows in order) and writes (or adds,
/// with `accumulate`) `dx`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer_norm_backward(
    dy: &[f32],
    xhat: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dx: &mut [f32],
    accumulate: bool,
) {
    let d = gamma.len();
    for (dy, xh) in dy.chunks_exact(d).zip(xhat.chunks_exact(d)) {
        for c in 0..d {
            dgamma[c] += dy[c] * xh[c];
            dbeta[c] += dy[c];
        }
    }
    dx.par_chunks_exact_mut(d)
        .zip(dy.par_chunks_exact(d))
        .zip(xhat.par_chunks_exact(d))
        .zip(inv_std.par_iter())
        .for_each(|(((dx, dy), xh), &inv)| {
            // dx = (1/σ)·(g − mean(g) − x̂·mean(g ⊙ x̂)) with g = γ ⊙ dy
            let mut mean_g = 0.0;
            let mut mean_gx = 0.0;
            for c in 0..d {
                let g = gamma[c] * dy[c];
                mean_g += g;
                mean_gx += g * xh[c];
            }
            mean_g /= d as f32;
            mean_gx /= d as f32;
            for c in 0..d {
                let v = inv * (gamma[c] * dy[c] - mean_g - xh[c] * mean_gx);
                if accumulate {
                    dx[c] += v;
                } else {
                    dx[c] = v;
                }
            }
        });
}

/// `e^x` for the softmax kernels, branch-free so that loops over rows vectorise (libm's `expf`
/// is a call per element and was the softmax's cost). Cephes' `expf` scheme: `x = n·ln2 + r`
/// with `|r| ≤ ln2/2`, a degree-6 polynomial for `e^r`, and `2^n` built in the exponent bits.
/// Relative error below `3e-7` for `x ∈ [-87, 88]`; inputs below `-87` give `e^-87` (the
/// softmax only calls it with `x ≤ 0`, where such terms vanish next to the row maximum's 1).
#[inline(always)]
pub(crate) fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that `n·LN2_HI` is exact
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer without a libm call
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_2e-4;
    let p = p * r + 1.398_2e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2ⁿ from the bits of `x·log₂e + ROUND`, which are `0x4B40_0000 + n`: its low 9 bits are
    // those of n (|n| ≤ 127), so `(bits + 127) << 23` is the exponent field of 2ⁿ. The same
    // value as `(n as i32 + 127) << 23`, but without the saturating float-to-int conversion,
    // which Rust compiles to scalar code per lane and which kept this loop from vectorising.
    let two_n = ((x * LOG2E + ROUND).to_bits().wrapping_add(127)) << 23;
    y * f32::from_bits(two_n)
}

/// Replaces a row of scores `s` by `out_scale · softmax(scale · s)`. Sums and the maximum run
/// over 8 lanes in a fixed order: vectorised, and the same on every thread count.
///
/// On x86-64 CPUs with AVX2 and FMA the same code runs compiled for them (twice the lanes of
/// the SSE2 baseline). Rust never fuses a multiply and an add on its own, and the reductions
/// keep their 8 lanes, so both versions give the same bits.
pub(crate) fn softmax_in_place(row: &mut [f32], scale: f32, out_scale: f32) {
    #[cfg(target_arch = "x86_64")]
    if crate::model::factors::Avx2Fma::detect().is_some() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { softmax_avx2(row, scale, out_scale) };
        return;
    }
    softmax_body(row, scale, out_scale);
}

/// [`softmax_in_place`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_avx2(row: &mut [f32], scale: f32, out_scale: f32) {
    softmax_body(row, scale, out_scale);
}

#[inline(always)]
fn softmax_body(row: &mut [f32], scale: f32, out_scale: f32) {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = l.max(v);
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v))
        * scale;
    for v in row.iter_mut() {
        *v = fast_exp(*v * scale - max);
    }
    let inv = out_scale / lane_sum(row);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// The sum of `x` over 8 lanes, then the lanes in order (vectorised; a fixed order).
#[inline(always)]
pub(crate) fn lane_sum(x: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Splits a row-major matrix of `width` columns into the row ranges `offsets[s]..offsets[s+1]`.
pub(crate) fn split_rows<'a>(x: &'a [f32], offsets: &[usize], width: usize) -> Vec<&'a [f32]> {
    offsets
        .windows(2)
        .map(|w| &x[w[0] * width..w[1] * width])
        .collect()
}

/// [`split_rows`] for a mutable matrix.
pub(crate) fn split_rows_mut<'a>(
    mut x: &'a mut [f32],
    offsets: &[usize],
    width: usize,
) -> Vec<&'a mut [f32]> {
    let mut parts = Vec::with_capacity(offsets.len().saturating_sub(1));
    for w in offsets.windows(2) {
        let (head, rest) = std::mem::take(&mut x).split_at_mut((w[1] - w[0]) * width);
        parts.push(head);
        x = rest;
    }
    parts
}

/// In-place ReLU.
pub(crate) fn relu(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

/// ReLU backward given the activation's output: zeroes `dy` where the unit was off.
pub(crate) fn relu_backward(y: &[f32], dy: &mut [f32]) {
    for (d, &y) in dy.iter_mut().zip(y) {
        if y <= 0.0 {
            *d = 0.0;
        }
    }
}

/// Applies an inverted-dropout mask (`0` or `1/(1−p)` per entry; empty = no dropout).
pub(crate) fn apply_mask(x: &mut [f32], mask: &[f32]) {
    if mask.is_empty() {
        return;
    }
    for (v, &m) in x.iter_mut().zip(mask) {
        *v *= m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_exp_matches_libm(x in -87.0f32..88.0) {
            let (got, want) = (fast_exp(x) as f64, (x as f64).exp());
            prop_assert!((got - want).abs() <= 3e-7 * want, "x {x}: {got} vs {want}");
        }
    }

    #[test]
    fn fast_exp_edges() {
        assert_eq!(fast_exp(0.0), 1.0);
        assert!((fast_exp(-200.0) as f64 - (-87f64).exp()).abs() < 1e-40);
        assert!(fast_exp(f32::NEG_INFINITY) > 0.0);
        assert!((fast_exp(-0.5) - (-0.5f32).exp()).abs() < 1e-7);
    }

    #[test]
    fn gemm_matches_naive_products_with_transposes_and_strides() {
        let a: Vec<f32> = (0..12).map(|v| v as f32 * 0.5 - 2.0).collect(); // 3 × 4
        let b: Vec<f32> = (0..8).map(|v| 1.0 - v as f32 * 0.25).collect(); // 4 × 2
        let mut c = vec![0f32; 6];
        gemm(
            &mut c,
            2,
            View::new(&a, 3, 4),
            false,
            View::new(&b, 4, 2),
            false,
            false,
            Par::Seq,
        );
        for i in 0..3 {
            for j in 0..2 {
                let want: f32 = (0..4).map(|k| a[i * 4 + k] * b[k * 2 + j]).sum();
                assert!((c[i * 2 + j] - want).abs() < 1e-5);
            }
        }
        // aᵀ (4 × 3) times the left 3 × 2 column block of a (stride 4), accumulated twice
        let mut d = vec![0f32; 8];
        for _ in 0..2 {
            gemm(
                &mut d,
                2,
                View::new(&a, 3, 4),
                true,
                View::strided(&a, 3, 2, 4),
                false,
                true,
                Par::Seq,
            );
        }
        for i in 0..4 {
            for j in 0..2 {
                let want: f32 = (0..3).map(|k| a[k * 4 + i] * a[k * 4 + j]).sum();
                assert!((d[i * 2 + j] - 2.0 * want).abs() < 1e-4);
            }
        }
    }
}
