//! Causal multi-head self-attention over sequences packed back to back, forward and backward.
//!
//! A batch holds `b` sequences; sequence `s` occupies rows `offsets[s]..offsets[s + 1]` (no
//! padding is stored or computed). Position `i` of a sequence attends to its positions `0..=i`.
//! Sequences are independent, so they run in parallel (rayon) with each writing only its own
//! rows: the result does not depend on the thread count.

use faer::Par;
use rayon::prelude::*;

use super::layers::{gemm, softmax_in_place, split_rows, split_rows_mut, View};

/// The shape of one attention call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// The longest sequence (each sequence owns `heads · t · t` floats of `probs`).
    pub(crate) t: usize,
    /// Model width (`heads · head_dim`).
    pub(crate) d: usize,
    /// Number of heads.
    pub(crate) heads: usize,
}

impl Shape {
    fn head_dim(&self) -> usize {
        self.d / self.heads
    }
}

/// Forward: `qkv` is `rows × 3d` (queries, keys, values side by side), `out` is `rows × d`,
/// `probs` receives the attention weights (`b · heads · t · t`; sequence `s`, head `h` holds
/// an `l × l` row-major block at `(s · heads + h) · t · t`, zero above the diagonal).
pub(crate) fn forward(
    sh: Shape,
    qkv: &[f32],
    offsets: &[usize],
    out: &mut [f32],
    probs: &mut [f32],
) {
    let Shape { t, d, heads } = sh;
    let dh = sh.head_dim();
    let scale = 1.0 / (dh as f32).sqrt();
    split_rows_mut(out, offsets, d)
        .into_par_iter()
        .zip(probs.par_chunks_mut(heads * t * t))
        .zip(split_rows(qkv, offsets, 3 * d))
        .for_each(|((out, probs), qkv)| {
            let l = out.len() / d;
            if l == 0 {
                return;
            }
            for (h, p) in probs.chunks_mut(t * t).enumerate() {
                let p = &mut p[..l * l];
                let q = View::strided(&qkv[h * dh..], l, dh, 3 * d);
                let k = View::strided(&qkv[d + h * dh..], l, dh, 3 * d);
                let v = View::strided(&qkv[2 * d + h * dh..], l, dh, 3 * d);
                gemm(p, l, q, false, k, true, false, Par::Seq);
                for (i, row) in p.chunks_mut(l).enumerate() {
                    softmax_in_place(&mut row[..=i], scale, 1.0);
                    row[i + 1..].fill(0.0);
                }
                gemm(
                    &mut out[h * dh..],
                    d,
                    View::new(p, l, l),
                    false,
                    v,
                    false,
                    false,
                    Par::Seq,
                );
            }
        });
}

/// Backward: from `dout` (`rows × d`) and the forward's `qkv` and `probs`, writes `dqkv`
/// (`rows × 3d`). `scratch` holds `b · t · t` floats.
pub(crate) fn backward(
    sh: Shape,
    qkv: &[f32],
    probs: &[f32],
    offsets: &[usize],
    dout: &[f32],
    dqkv: &mut [f32],
    scratch: &mut [f32],
) {
    let Shape { t, d, heads } = sh;
    let dh = sh.head_dim();
    let scale = 1.0 / (dh as f32).sqrt();
    split_rows_mut(dqkv, offsets, 3 * d)
        .into_par_iter()
        .zip(scratch.par_chunks_mut(t * t))
        .zip(probs.par_chunks(heads * t * t))
        .zip(split_rows(qkv, offsets, 3 * d))
        .zip(split_rows(dout, offsets, d))
        .for_each(|((((dqkv, ds), probs), qkv), dout)| {
            let l = dout.len() / d;
            if l == 0 {
                return;
            }
            let ds = &mut ds[..l * l];
            for (h, p) in probs.chunks(t * t).enumerate() {
                let p = &p[..l * l];
                let q = View::strided(&qkv[h * dh..], l, dh, 3 * d);
                let k = View::strided(&qkv[d + h * dh..], l, dh, 3 * d);
                let v = View::strided(&qkv[2 * d + h * dh..], l, dh, 3 * d);
                let dout = View::strided(&dout[h * dh..], l, dh, d);
                let pv = View::new(p, l, l);
                // dV = Pᵀ·dO
                gemm(
                    &mut dqkv[2 * d + h * dh..],
                    3 * d,
                    pv,
                    true,
                    dout,
                    false,
                    false,
                    Par::Seq,
                );
                // dP = dO·Vᵀ, then the softmax backward: dS = P ⊙ (dP − Σⱼ dP ⊙ P), scaled
                gemm(ds, l, dout, false, v, true, false, Par::Seq);
                for (i, (dsr, pr)) in ds.chunks_mut(l).zip(p.chunks(l)).enumerate() {
                    let dot: f32 = dsr[..=i].iter().zip(pr).map(|(a, b)| a * b).sum();
                    for (x, &pp) in dsr[..=i].iter_mut().zip(pr) {
                        *x = pp * (*x - dot) * scale;
                    }
                    dsr[i + 1..].fill(0.0);
                }
                let dsv = View::new(ds, l, l);
                // dQ = dS·K, dK = dSᵀ·Q
                gemm(
                    &mut dqkv[h * dh..],
                    3 * d,
                    dsv,
                    false,
                    k,
                    false,
                    false,
                    Par::Seq,
                );
                gemm(
                    &mut dqkv[d + h * dh..],
                    3 * d,
                    dsv,
                    true,
                    q,
                    false,
                    false,
                    Par::Seq,
                );
            }
        });
}
