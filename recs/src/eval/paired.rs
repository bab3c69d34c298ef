//! A paired comparison of two models on the same test users: the mean of the per-user
//! differences, its standard error and a 95% confidence interval, so that a gain can be told
//! from noise.

use serde::{Deserialize, Serialize};

use super::Report;
use crate::{Error, Result};

/// The two-sided 97.5% quantile of the standard normal distribution (95% interval).
const Z_975: f64 = 1.959_963_984_540_054;

/// `b − a` on one metric over the users both reports measured.
///
/// With `d_u = b_u − a_u` over the `n` users that have a value in both: `mean = Σ d_u / n`,
/// `std_err = sqrt(Σ (d_u − mean)² / (n − 1) / n)`, and the 95% interval is
/// `mean ± 1.96 · std_err` (normal approximation; test sets have hundreds of users or more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// The metric label.
    pub metric: String,
    /// Name of the baseline report (`a`).
    pub a: String,
    /// Name of the compared report (`b`).
    pub b: String,
    /// Users in both reports with a value in both.
    pub n: usize,
    /// Mean of `a`'s values over those users.
    pub mean_a: f64,
    /// Mean of `b`'s values over those users.
    pub mean_b: f64,
    /// Mean of the differences `b − a`.
    pub diff: f64,
    /// Standard error of `diff` (0 with fewer than two users).
    pub std_err: f64,
    /// Lower end of the 95% interval.
    pub ci_low: f64,
    /// Upper end of the 95% interval.
    pub ci_high: f64,
}

impl std::fmt::Display for Paired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} − {} on {}: {:+.4} (se {:.4}, 95% CI [{:+.4}, {:+.4}], {} users; {:.4} vs {:.4})",
            self.b,
            self.a,
            self.metric,
            self.diff,
            self.std_err,
            self.ci_low,
            self.ci_high,
            self.n,
            self.mean_b,
            self.mean_a
        )
    }
}

/// Compares `b` with `a` on `metric` user by user. Both reports need per-user values
/// ([`EvalConfig::per_user`](super::EvalConfig::per_user)).
///
/// ```
/// use recs::eval::{paired, EvalConfig, FullRanking};
/// use recs::data::{Interactions, Record, Split, TestCase, TestSet, Vocab};
/// use recs::prelude::*;
/// let recs = [(0, 0), (1, 0), (1, 1), (2, 0), (2, 2), (3, 1)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(4, 5, &recs, Default::default())?;
/// let cases = vec![TestCase { user: 0, items: vec![1], negatives: None },
///                  TestCase { user: 3, items: vec![4], negatives: None }];
/// let split = Split { name: "toy".into(), train, test: TestSet { cases },
///     users: Vocab::identity(4), items: Vocab::identity(5) };
/// let model = Popularity::params().fit(&split.train)?;
/// let eval = FullRanking::new().config(EvalConfig::default().ks([1]).per_user(true).latency_users(0));
/// let a = eval.evaluate(&model, &split)?;
/// let p = paired(&a, &a, "hr@1")?;
/// assert_eq!((p.n, p.diff, p.std_err), (2, 0.0, 0.0));
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::Data`] when a report has no per-user values or no column `metric`, or the two
/// reports share no user.
pub fn paired(a: &Report, b: &Report, metric: &str) -> Result<Paired> {
    let column = |r: &Report| {
        let pu = r.per_user.as_ref().ok_or_else(|| {
            Error::Data(format!(
                "report `{}` has no per-user values (evaluate with per_user)",
                r.name
            ))
        })?;
        let col = pu.columns.get(metric).ok_or_else(|| {
            Error::Data(format!(
                "report `{}` has no per-user column `{metric}` (columns: {})",
                r.name,
                pu.columns.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let map: std::collections::HashMap<_, _> = pu
            .users
            .iter()
            .zip(col)
            .filter_map(|(&u, v)| v.map(|v| (u, v)))
            .collect();
        Ok::<_, Error>((pu.users.clone(), map))
    };
    let (users_a, va) = column(a)?;
    let (_, vb) = column(b)?;
    let pairs: Vec<(f64, f64)> = users_a
        .iter()
        .filter_map(|u| Some((*va.get(u)?, *vb.get(u)?)))
        .collect();
    if pairs.is_empty() {
        return Err(Error::Data(format!(
            "reports `{}` and `{}` share no user with a `{metric}` value",
            a.name, b.name
        )));
    }
    let n = pairs.len() as f64;
    let mean_a = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_b = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let diff = pairs.iter().map(|p| p.1 - p.0).sum::<f64>() / n;
    let std_err = if pairs.len() < 2 {
        0.0
    } else {
        let ss: f64 = pairs.iter().map(|p| (p.1 - p.0 - diff).powi(2)).sum();
        (ss / (n - 1.0) / n).sqrt()
    };
    Ok(Paired {
        metric: metric.to_string(),
        a: a.name.clone(),
        b: b.name.clone(),
        n: pairs.len(),
        mean_a,
        mean_b,
        diff,
        std_err,
        ci_low: diff - Z_975 * std_err,
        ci_high: diff + Z_975 * std_err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::PerUser;

    fn report(name: &str, values: &[Option<f64>]) -> Report {
        let mut r = Report {
            name: name.to_string(),
            model: "m".into(),
            split: "s".into(),
            protocol: Default::default(),
            k_max: 1,
            n_items: 1,
            n_users: values.len(),
            n_missing: 0,
            summary: Default::default(),
            per_user: None,
            timings: Default::default(),
        };
        r.per_user = Some(PerUser {
            users: (0..values.len() as u32).collect(),
            columns: [("hr@1".to_string(), values.to_vec())].into(),
        });
        r
    }

    #[test]
    fn paired_differences_by_hand() {
        // d = (1, 0, 1, -1) → mean 0.25; deviations 0.75, -0.25, 0.75, -1.25;
        // Σ² = 0.5625 + 0.0625 + 0.5625 + 1.5625 = 2.75; var = 2.75 / 3; se = sqrt(var / 4)
        let a = report("a", &[Some(0.0), Some(1.0), Some(0.0), Some(1.0), None]);
        let b = report(
            "b",
            &[Some(1.0), Some(1.0), Some(1.0), Some(0.0), Some(1.0)],
        );
        let p = paired(&a, &b, "hr@1").unwrap();
        assert_eq!(p.n, 4);
        assert!((p.diff - 0.25).abs() < 1e-12);
        let se = (2.75f64 / 3.0 / 4.0).sqrt();
        assert!((p.std_err - se).abs() < 1e-12);
        assert!((p.ci_high - p.ci_low - 2.0 * Z_975 * se).abs() < 1e-12);
        assert_eq!((p.mean_a, p.mean_b), (0.5, 0.75));
        assert!(paired(&a, &b, "ndcg@1")
            .unwrap_err()
            .to_string()
            .contains("hr@1"));
    }
}
