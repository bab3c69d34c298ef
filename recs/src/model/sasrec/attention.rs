//! Causal multi-head self-attention over left-padded sequences, forward and backward.
//!
//! A batch holds `b` sequences of `t` positions; sequence `s` starts at `start[s]` (positions
//! before it are padding). A position `i ≥ start` attends to positions `start..=i`; a padding
//! position attends to itself only, so padding never reaches a real position. Sequences are
//! independent, so they run in parallel (rayon) with each writing only its own rows:
//! the result does not depend on the thread count.

use faer::Par;
use rayon::prelude::*;

use super::layers::{gemm, View};

/// The shape of one attention call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Positions per sequence.
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

/// The keys position `i` may attend to, as a range.
fn keys(i: usize, start: usize) -> std::ops::Range<usize> {
    if i < start {
        i..i + 1
    } else {
        start..i + 1
    }
}

/// Forward: `qkv` is `(b·t) × 3d` (queries, keys, values side by side), `out` is `(b·t) × d`,
/// `probs` receives the attention weights (`b · heads · t · t`, zero outside the mask).
pub(crate) fn forward(sh: Shape, qkv: &[f32], start: &[usize], out: &mut [f32], probs: &mut [f32]) {
    let Shape { t, d, heads } = sh;
    let dh = sh.head_dim();
    let scale = 1.0 / (dh as f32).sqrt();
    out.par_chunks_mut(t * d)
        .zip(probs.par_chunks_mut(heads * t * t))
        .zip(qkv.par_chunks(t * 3 * d))
        .zip(start.par_iter())
        .for_each(|(((out, probs), qkv), &start)| {
            for (h, p) in probs.chunks_mut(t * t).enumerate() {
                let q = View::strided(&qkv[h * dh..], t, dh, 3 * d);
                let k = View::strided(&qkv[d + h * dh..], t, dh, 3 * d);
                let v = View::strided(&qkv[2 * d + h * dh..], t, dh, 3 * d);
                gemm(p, t, q, false, k, true, false, Par::Seq);
                for (i, row) in p.chunks_mut(t).enumerate() {
                    let r = keys(i, start);
                    let max = row[r.clone()]
                        .iter()
                        .fold(f32::NEG_INFINITY, |m, &x| m.max(x * scale));
                    let mut sum = 0.0;
                    for j in r.clone() {
                        let e = (row[j] * scale - max).exp();
                        row[j] = e;
                        sum += e;
                    }
                    for (j, x) in row.iter_mut().enumerate() {
                        if r.contains(&j) {
                            *x /= sum;
                        } else {
                            *x = 0.0;
                        }
                    }
                }
                gemm(
                    &mut out[h * dh..],
                    d,
                    View::new(p, t, t),
                    false,
                    v,
                    false,
                    false,
                    Par::Seq,
                );
            }
        });
}

/// Backward: from `dout` (`(b·t) × d`) and the forward's `qkv` and `probs`, writes `dqkv`
/// (`(b·t) × 3d`). `scratch` holds `b · t · t` floats.
pub(crate) fn backward(
    sh: Shape,
    qkv: &[f32],
    probs: &[f32],
    dout: &[f32],
    dqkv: &mut [f32],
    scratch: &mut [f32],
) {
    let Shape { t, d, heads } = sh;
    let dh = sh.head_dim();
    let scale = 1.0 / (dh as f32).sqrt();
    dqkv.par_chunks_mut(t * 3 * d)
        .zip(scratch.par_chunks_mut(t * t))
        .zip(probs.par_chunks(heads * t * t))
        .zip(qkv.par_chunks(t * 3 * d))
        .zip(dout.par_chunks(t * d))
        .for_each(|((((dqkv, ds), probs), qkv), dout)| {
            for (h, p) in probs.chunks(t * t).enumerate() {
                let q = View::strided(&qkv[h * dh..], t, dh, 3 * d);
                let k = View::strided(&qkv[d + h * dh..], t, dh, 3 * d);
                let v = View::strided(&qkv[2 * d + h * dh..], t, dh, 3 * d);
                let dout = View::strided(&dout[h * dh..], t, dh, d);
                let pv = View::new(p, t, t);
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
                gemm(ds, t, dout, false, v, true, false, Par::Seq);
                for (dsr, pr) in ds.chunks_mut(t).zip(p.chunks(t)) {
                    let dot: f32 = dsr.iter().zip(pr).map(|(a, b)| a * b).sum();
                    for (x, &pp) in dsr.iter_mut().zip(pr) {
                        *x = pp * (*x - dot) * scale;
                    }
                }
                let dsv = View::new(ds, t, t);
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
