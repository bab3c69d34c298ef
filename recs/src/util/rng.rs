//! A small, fast, seedable random number generator (xoshiro256\*\* seeded by splitmix64).
//!
//! recs does not depend on `rand`: splits, synthetic data and models only need a reproducible
//! stream of numbers, and the exact stream must never change under a dependency upgrade, since
//! seeds are recorded in reports and model files. The algorithms are those of Blackman and
//! Vigna (<https://prng.di.unimi.it/>).
//!
//! ```
//! use recs::data::rng::Rng;
//! let mut a = Rng::seed_from_u64(42);
//! let mut b = Rng::seed_from_u64(42);
//! assert_eq!(a.next_u64(), b.next_u64());
//! let x = a.gen_range(10);
//! assert!(x < 10);
//! let mut v = vec![1, 2, 3, 4];
//! a.shuffle(&mut v);
//! v.sort();
//! assert_eq!(v, [1, 2, 3, 4]);
//! ```

/// One step of splitmix64: a good 64-bit mixing function, also used to derive seeds.
///
/// ```
/// use recs::data::rng::splitmix64;
/// let mut s = 0;
/// assert_ne!(splitmix64(&mut s), splitmix64(&mut s));
/// ```
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256\*\*: 256 bits of state, period 2^256 − 1, passes BigCrush; not cryptographic.
///
/// `Clone` gives an independent copy that repeats the same stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose state is filled from `seed` by splitmix64 (any seed, 0 included, is fine).
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    /// An independent generator for sub-stream `stream` of `seed` (for example one per user or per
    /// thread), so parallel work is reproducible whatever the number of threads.
    ///
    /// ```
    /// use recs::data::rng::Rng;
    /// let mut a = Rng::stream(7, 0);
    /// let mut b = Rng::stream(7, 1);
    /// assert_ne!(a.next_u64(), b.next_u64());
    /// ```
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut sm = stream ^ 0xA076_1D64_78BD_642F;
        let mixed = seed ^ splitmix64(&mut sm);
        Rng::seed_from_u64(mixed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// The next 32 random bits.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `[0, 1)` with 24 bits of precision.
    #[inline]
    pub fn gen_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    #[inline]
    pub fn gen_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` without modulo bias (Lemire's method). Returns 0 when `n == 0`.
    #[inline]
    pub fn gen_range(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as u64
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    #[inline]
    pub fn gen_bool(&mut self, p: f64) -> bool {
        self.gen_f64() < p
    }

    /// A standard normal draw (Box–Muller; one of the pair is discarded for simplicity).
    pub fn gen_normal(&mut self) -> f64 {
        // 1 - u is in (0, 1], so the log is finite.
        let u1 = 1.0 - self.gen_f64();
        let u2 = self.gen_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// An exponential draw with the given mean.
    pub fn gen_exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.gen_f64()).ln()
    }

    /// Shuffles `xs` in place (Fisher–Yates), uniformly over all permutations.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.gen_range(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pinned streams: the exact numbers must survive the move of every generator into one
    // module (seeds are recorded in reports and model files). Reference values from an
    // independent Python reimplementation of the published algorithms (Vigna's splitmix64,
    // xoshiro256**/++), which also agrees with this code before the move.
    #[test]
    fn pinned_streams() {
        let mut r = Rng::seed_from_u64(42);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(got, [1546998764402558742, 6990951692964543102, 12544586762248559009]);
        let mut r = Rng::stream(7, 3);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(got, [11875554044348660601, 2842913538616516330, 13892151972270765738]);
    }

    #[test]
    fn splitmix_matches_reference_values() {
        // Reference: the C implementation by Vigna, seeded with 1234567.
        let mut s = 1234567;
        assert_eq!(splitmix64(&mut s), 6457827717110365317);
        assert_eq!(splitmix64(&mut s), 3203168211198807973);
    }

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let a: Vec<u64> = {
            let mut r = Rng::seed_from_u64(5);
            (0..16).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::seed_from_u64(5);
            (0..16).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::seed_from_u64(6);
            (0..16).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn gen_range_is_in_range_and_roughly_uniform() {
        let mut r = Rng::seed_from_u64(1);
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            let x = r.gen_range(7) as usize;
            counts[x] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        assert_eq!(r.gen_range(0), 0);
        assert_eq!(r.gen_range(1), 0);
    }

    #[test]
    fn floats_are_in_unit_interval_with_the_right_mean() {
        let mut r = Rng::seed_from_u64(2);
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let x = r.gen_f32();
            assert!((0.0..1.0).contains(&x));
            sum += x as f64;
        }
        assert!((sum / n as f64 - 0.5).abs() < 0.01);
        let mean: f64 = (0..n).map(|_| r.gen_normal()).sum::<f64>() / n as f64;
        let var: f64 = (0..n).map(|_| r.gen_normal().powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "var {var}");
    }

    #[test]
    fn shuffle_is_a_permutation_and_moves_things() {
        let mut r = Rng::seed_from_u64(3);
        let mut v: Vec<u32> = (0..100).collect();
        r.shuffle(&mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
