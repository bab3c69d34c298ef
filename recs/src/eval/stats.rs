//! Statistics for A/B analysis: a two-proportion z-test for the watch-rate KPI, Welch's t-test
//! for latency, confidence intervals, and the distribution functions they need.
//!
//! The special functions follow the classic algorithms (Lanczos log-gamma, series and continued
//! fraction for the regularized incomplete gamma and beta functions); accuracy is about 1e-10,
//! far beyond what a p-value needs.
//!
//! **Why not `statrs`.** It is more exact (about 1e-15), but a p-value or an interval bound is
//! read to three or four digits and a decision compares it with a threshold such as 0.05; the
//! unit tests pin these functions to reference values to 1e-7 or finer, far finer than any
//! decision here needs. Keeping them avoids a new dependency in the core crate for no
//! observable change.
//!
//! Moved from `recs-server` (issue 16) so that Rust and Python users can run an A/B analysis;
//! [`crate::eval::experiment`] turns these tests into a decision.

use serde::Serialize;

const EPS: f64 = 1e-14;
const FPMIN: f64 = 1e-300;

/// Natural log of the gamma function for `x > 0` (Lanczos, |error| < 2e-10).
pub fn ln_gamma(x: f64) -> f64 {
    const COF: [f64; 6] = [
        76.180_091_729_471_46,
        -86.505_320_329_416_77,
        24.014_098_240_830_91,
        -1.231_739_572_450_155,
        0.120_865_097_386_617_9e-2,
        -0.539_523_938_495_3e-5,
    ];
    let mut y = x;
    let tmp = x + 5.5;
    let tmp = tmp - (x + 0.5) * tmp.ln();
    let mut ser = 1.000_000_000_190_015;
    for c in COF {
        y += 1.0;
        ser += c / y;
    }
    -tmp + (2.506_628_274_631_000_5 * ser / x).ln()
}

/// Regularized lower incomplete gamma P(a, x).
fn gamma_p(a: f64, x: f64) -> f64 {
    let (p, _) = gamma_pq(a, x);
    p
}

/// Regularized incomplete gammas (P(a, x), Q(a, x)), each computed without cancellation on
/// its own side (series below `a + 1`, continued fraction above).
fn gamma_pq(a: f64, x: f64) -> (f64, f64) {
    if x <= 0.0 {
        return (0.0, 1.0);
    }
    let front = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        let (mut ap, mut sum) = (a, 1.0 / a);
        let mut del = sum;
        for _ in 0..1000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * EPS {
                break;
            }
        }
        let p = sum * front;
        (p, 1.0 - p)
    } else {
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / FPMIN;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < FPMIN {
                d = FPMIN;
            }
            c = b + an / c;
            if c.abs() < FPMIN {
                c = FPMIN;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < EPS {
                break;
            }
        }
        let q = front * h;
        (1.0 - q, q)
    }
}

/// The error function.
pub fn erf(x: f64) -> f64 {
    let p = gamma_p(0.5, x * x);
    if x < 0.0 {
        -p
    } else {
        p
    }
}

/// Standard normal CDF Φ(x).
///
/// ```
/// let p = recs::eval::stats::normal_cdf(1.959_963_985);
/// assert!((p - 0.975).abs() < 1e-9);
/// ```
pub fn normal_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    // For large |x| use the complement to keep precision in the tail.
    if x < 0.0 {
        0.5 * gamma_pq(0.5, x * x / 2.0).1
    } else {
        0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2))
    }
}

/// Inverse of a continuous increasing CDF on `[lo, hi]` by bisection (monotone, robust).
fn invert(cdf: impl Fn(f64) -> f64, p: f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Standard normal quantile Φ⁻¹(p) for p in (0, 1); NaN outside.
pub fn normal_quantile(p: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    invert(normal_cdf, p, -40.0, 40.0)
}

/// Continued fraction of the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let fix = |v: f64| if v.abs() < FPMIN { FPMIN } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / fix(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..1000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Regularized incomplete beta function I_x(a, b).
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let bt = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        bt * beta_cf(a, b, x) / a
    } else {
        1.0 - bt * beta_cf(b, a, 1.0 - x) / b
    }
}

/// CDF of Student's t distribution with `df` degrees of freedom (`df > 0`, may be fractional).
///
/// ```
/// // df = 1 is the Cauchy distribution: F(1) = 3/4.
/// assert!((recs::eval::stats::student_t_cdf(1.0, 1.0) - 0.75).abs() < 1e-9);
/// ```
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df > 1e7 {
        return normal_cdf(t);
    }
    if t.is_infinite() {
        return if t > 0.0 { 1.0 } else { 0.0 };
    }
    let tail = 0.5 * inc_beta(df / 2.0, 0.5, df / (df + t * t));
    if t > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// Quantile of Student's t distribution; NaN for p outside (0, 1) or `df <= 0`.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    if !(p > 0.0 && p < 1.0 && df > 0.0) {
        return f64::NAN;
    }
    let bound = if df < 1.0 { 1e12 } else { 1e6 };
    invert(|t| student_t_cdf(t, df), p, -bound, bound)
}

/// Wilson score interval for a proportion `hits / n` at the given confidence.
/// Returns `(0, 1)` when `n == 0`.
pub fn wilson_interval(hits: u64, n: u64, confidence: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = normal_quantile(0.5 + confidence / 2.0);
    let (n, p) = (n as f64, hits as f64 / n as f64);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Result of [`two_proportion_z_test`]: B against A.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProportionTest {
    /// Proportion in A.
    pub p_a: f64,
    /// Proportion in B.
    pub p_b: f64,
    /// `p_b - p_a`.
    pub diff: f64,
    /// Test statistic (pooled standard error).
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Lower bound of the Wald interval for `diff` (unpooled standard error).
    pub ci_low: f64,
    /// Upper bound of the interval for `diff`.
    pub ci_high: f64,
    /// Confidence level of the interval.
    pub confidence: f64,
}

/// Two-sided two-proportion z-test of `hits_b / n_b` against `hits_a / n_a`.
///
/// `None` when a group is empty or a count exceeds its total. When both groups are all-zero or
/// all-one the statistic is 0 and the p-value 1 (no evidence of a difference).
///
/// ```
/// use recs::eval::stats::two_proportion_z_test;
/// let t = two_proportion_z_test(30, 100, 50, 100, 0.95).expect("test value");
/// assert!((t.z - 2.886_751).abs() < 1e-5);   // 0.2 / sqrt(0.4 * 0.6 * 0.02)
/// assert!(t.p_value < 0.01 && t.ci_low > 0.0);
/// ```
pub fn two_proportion_z_test(
    hits_a: u64,
    n_a: u64,
    hits_b: u64,
    n_b: u64,
    confidence: f64,
) -> Option<ProportionTest> {
    if n_a == 0 || n_b == 0 || hits_a > n_a || hits_b > n_b {
        return None;
    }
    let (na, nb) = (n_a as f64, n_b as f64);
    let (pa, pb) = (hits_a as f64 / na, hits_b as f64 / nb);
    let pooled = (hits_a + hits_b) as f64 / (na + nb);
    let se0 = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    let diff = pb - pa;
    let (z, p_value) = if se0 > 0.0 {
        let z = diff / se0;
        (z, (2.0 * normal_cdf(-z.abs())).min(1.0))
    } else {
        (0.0, 1.0)
    };
    let zc = normal_quantile(0.5 + confidence / 2.0);
    let se = (pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb).sqrt();
    Some(ProportionTest {
        p_a: pa,
        p_b: pb,
        diff,
        z,
        p_value,
        ci_low: diff - zc * se,
        ci_high: diff + zc * se,
        confidence,
    })
}

/// Running mean and variance (Welford), mergeable and cheap to update per request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Number of observations.
    pub n: u64,
    /// Mean.
    pub mean: f64,
    m2: f64,
}

impl Summary {
    /// Adds one observation.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }
    /// A summary from its count, mean and sample standard deviation, as reports print them
    /// (a negative or non-finite `sd` counts as 0).
    ///
    /// ```
    /// use recs::eval::stats::Summary;
    /// let s: Summary = [1.0, 2.0, 3.0].into_iter().collect();
    /// let t = Summary::from_moments(3, 2.0, 1.0);
    /// assert_eq!((t.n, t.mean), (s.n, s.mean));
    /// assert!((t.variance() - s.variance()).abs() < 1e-12);
    /// ```
    pub fn from_moments(n: u64, mean: f64, sd: f64) -> Self {
        let sd = if sd.is_finite() && sd > 0.0 { sd } else { 0.0 };
        Summary {
            n,
            mean,
            m2: if n > 1 { sd * sd * (n - 1) as f64 } else { 0.0 },
        }
    }
    /// Sample variance (n − 1 denominator); 0 with fewer than two observations.
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.m2 / (self.n - 1) as f64
        }
    }
}

impl FromIterator<f64> for Summary {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut s = Summary::default();
        for x in iter {
            s.push(x);
        }
        s
    }
}

/// Result of [`welch_t_test`]: B against A.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WelchTest {
    /// Mean of A.
    pub mean_a: f64,
    /// Mean of B.
    pub mean_b: f64,
    /// `mean_b - mean_a`.
    pub diff: f64,
    /// Welch's t statistic.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Lower bound of the interval for `diff`.
    pub ci_low: f64,
    /// Upper bound of the interval for `diff`.
    pub ci_high: f64,
    /// Confidence level of the interval.
    pub confidence: f64,
}

/// Welch's unequal-variance t-test of B's mean against A's. `None` when a group has fewer than
/// two observations.
///
/// ```
/// use recs::eval::stats::{welch_t_test, Summary};
/// let a: Summary = [1.0, 2.0, 3.0, 4.0].into_iter().collect();
/// let b: Summary = [3.0, 4.0, 5.0, 6.0].into_iter().collect();
/// let t = welch_t_test(&a, &b, 0.95).expect("test value");
/// assert!((t.t - 2.0 / (2.0 * 5.0 / 12.0f64).sqrt()).abs() < 1e-12);
/// assert!((t.df - 6.0).abs() < 1e-12);
/// ```
pub fn welch_t_test(a: &Summary, b: &Summary, confidence: f64) -> Option<WelchTest> {
    if a.n < 2 || b.n < 2 {
        return None;
    }
    let (va, vb) = (a.variance() / a.n as f64, b.variance() / b.n as f64);
    let se = (va + vb).sqrt();
    let diff = b.mean - a.mean;
    let (t, df, p_value, half) = if se > 0.0 {
        let df = (va + vb).powi(2) / (va * va / (a.n - 1) as f64 + vb * vb / (b.n - 1) as f64);
        let t = diff / se;
        let p = (2.0 * student_t_cdf(-t.abs(), df)).min(1.0);
        (
            t,
            df,
            p,
            student_t_quantile(0.5 + confidence / 2.0, df) * se,
        )
    } else {
        let df = (a.n + b.n - 2) as f64;
        if diff == 0.0 {
            (0.0, df, 1.0, 0.0)
        } else {
            (diff.signum() * f64::INFINITY, df, 0.0, 0.0)
        }
    };
    Some(WelchTest {
        mean_a: a.mean,
        mean_b: b.mean,
        diff,
        t,
        df,
        p_value,
        ci_low: diff - half,
        ci_high: diff + half,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normal_reference_values() {
        // Φ(0) = 1/2 and the familiar 95 % / 99 % quantiles.
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-15);
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-8);
        assert!((normal_quantile(0.995) - 2.575_829_303_548_901).abs() < 1e-8);
        // Symmetry and deep tail (Φ(-8) ≈ 6.22e-16).
        assert!((normal_cdf(-1.3) + normal_cdf(1.3) - 1.0).abs() < 1e-12);
        let tail = normal_cdf(-8.0);
        assert!(
            (tail / 6.220_960_574_271_78e-16 - 1.0).abs() < 1e-6,
            "{tail}"
        );
    }

    #[test]
    fn student_t_matches_closed_forms() {
        for &t in &[-5.0, -1.0, -0.3, 0.0, 0.7, 2.0, 10.0] {
            // df = 1: Cauchy. df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t²)).
            let cauchy = 0.5 + f64::atan(t) / std::f64::consts::PI;
            assert!((student_t_cdf(t, 1.0) - cauchy).abs() < 1e-10, "t={t}");
            let df2 = 0.5 + t / (2.0 * (2.0 + t * t).sqrt());
            assert!((student_t_cdf(t, 2.0) - df2).abs() < 1e-10, "t={t}");
        }
        // Table value: t_{0.975, 10} = 2.228139.
        assert!((student_t_quantile(0.975, 10.0) - 2.228_138_851_986).abs() < 1e-7);
        // Large df tends to the normal.
        assert!((student_t_quantile(0.975, 1e6) - 1.959_966).abs() < 1e-5);
    }

    #[test]
    fn proportion_test_edge_cases() {
        assert!(two_proportion_z_test(0, 0, 1, 10, 0.95).is_none());
        assert!(two_proportion_z_test(11, 10, 1, 10, 0.95).is_none());
        let same = two_proportion_z_test(0, 10, 0, 20, 0.95).expect("test value");
        assert_eq!((same.z, same.p_value), (0.0, 1.0));
    }

    #[test]
    fn welch_with_zero_variance() {
        let a: Summary = [1.0, 1.0].into_iter().collect();
        let b: Summary = [1.0, 1.0, 1.0].into_iter().collect();
        assert_eq!(welch_t_test(&a, &b, 0.95).expect("test value").p_value, 1.0);
        let c: Summary = [2.0, 2.0].into_iter().collect();
        assert_eq!(welch_t_test(&a, &c, 0.95).expect("test value").p_value, 0.0);
        assert!(welch_t_test(&Summary::default(), &c, 0.95).is_none());
    }

    #[test]
    fn wilson_contains_estimate() {
        let (lo, hi) = wilson_interval(20, 100, 0.95);
        // Reference: Wilson 95 % for 20/100 is [0.1333, 0.2888].
        assert!(
            (lo - 0.1333).abs() < 1e-3 && (hi - 0.2888).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(wilson_interval(0, 0, 0.95), (0.0, 1.0));
    }

    proptest! {
        #[test]
        fn z_test_is_antisymmetric_and_bounded(ha in 0u64..500, na in 1u64..500, hb in 0u64..500, nb in 1u64..500) {
            let (ha, hb) = (ha.min(na), hb.min(nb));
            let ab = two_proportion_z_test(ha, na, hb, nb, 0.95).expect("test value");
            let ba = two_proportion_z_test(hb, nb, ha, na, 0.95).expect("test value");
            prop_assert!((0.0..=1.0).contains(&ab.p_value));
            prop_assert!((ab.z + ba.z).abs() < 1e-9);
            prop_assert!((ab.p_value - ba.p_value).abs() < 1e-9);
            prop_assert!(ab.ci_low <= ab.diff && ab.diff <= ab.ci_high);
        }

        #[test]
        fn welch_summary_matches_two_pass(xs in prop::collection::vec(-1e3f64..1e3, 2..50), ys in prop::collection::vec(-1e3f64..1e3, 2..50)) {
            let a: Summary = xs.iter().copied().collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
            prop_assert!((a.mean - mean).abs() < 1e-9 && (a.variance() - var).abs() < 1e-6 * var.max(1.0));
            let b: Summary = ys.iter().copied().collect();
            let t = welch_t_test(&a, &b, 0.9).expect("test value");
            prop_assert!((0.0..=1.0).contains(&t.p_value));
            prop_assert!(t.ci_low <= t.diff && t.diff <= t.ci_high);
        }

        #[test]
        fn t_quantile_inverts_cdf(p in 0.001f64..0.999, df in 0.5f64..200.0) {
            let q = student_t_quantile(p, df);
            prop_assert!((student_t_cdf(q, df) - p).abs() < 1e-8);
        }
    }
}
