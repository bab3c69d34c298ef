//! The factor models' random generator and the allocation of factor matrices.

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
