//! faer-backed dense products: the Gram matrix `YᵀY` and blocked scores `U·Vᵀ`.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

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
