//! Measuring a [`Run`] against the held-out items: the second step of an evaluation.

use std::collections::BTreeMap;
use std::time::Instant;

use super::metrics::{check_unique, Metric};
use super::report::{PerUser, Report, Timings};
use super::run::Run;
use crate::data::{ItemIdx, TestSet};
use crate::{Error, Result};

/// Applies `metrics` to every test user's list in `run` (LensKit's `RunAnalysis.measure`).
///
/// A per-list metric's summary is its mean over the test users of `test`: users without a
/// list get the metric's [`default`](Metric::default) (or are left out when it is `None`; a
/// metric left with no user at all has no summary entry). A global metric's summary is its
/// [`measure_global`](Metric::measure_global) over the lists of the test users. The report
/// keeps per-user columns of the per-list metrics; drop them with `report.per_user = None`.
///
/// ```
/// use recs::eval::{measure, Hr, Metric, Ndcg, Protocol, Run};
/// use recs::data::{TestCase, TestSet};
/// use recs::model::Scored;
/// let list = |items: &[u32]| items.iter().map(|&item| Scored { item, score: 0.0 }).collect();
/// let run = Run {
///     model: "hand".into(), split: "toy".into(), protocol: Protocol::default(),
///     k_max: 3, n_items: 10, seconds: 0.0, missing: vec![],
///     per_user: [(0, list(&[4, 2, 7])), (1, list(&[1, 2, 3]))].into(),
/// };
/// let case = |user, item| TestCase { user, items: vec![item], negatives: None };
/// let test = TestSet { cases: vec![case(0, 7), case(1, 9)] };
/// let metrics: Vec<Box<dyn Metric>> = vec![Box::new(Hr::new(3)), Box::new(Ndcg::new(3))];
/// let report = measure(&run, &test, &metrics)?;
/// assert_eq!(report.get("hr@3"), Some(0.5));
/// assert_eq!(report.get("ndcg@3"), Some(0.25)); // (1/log2(4) + 0) / 2
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParam`] for duplicate labels or a metric whose `k` exceeds `run.k_max`;
/// [`Error::Data`] for an empty test set.
pub fn measure(run: &Run, test: &TestSet, metrics: &[Box<dyn Metric>]) -> Result<Report> {
    let start = Instant::now();
    let labels = check_unique(metrics)?;
    if let Some(m) = metrics
        .iter()
        .find(|m| m.k().is_some_and(|k| k > run.k_max))
    {
        return Err(Error::param(
            "metrics",
            "cut-offs no larger than the run's k_max",
            format!("{} for lists of {}", m.label(), run.k_max),
        ));
    }
    if test.is_empty() {
        return Err(Error::Data("the test set has no user".into()));
    }
    let lists: Vec<Option<Vec<ItemIdx>>> =
        test.cases.iter().map(|c| run.items_of(c.user)).collect();
    let present: Vec<&[ItemIdx]> = lists.iter().flatten().map(Vec::as_slice).collect();
    let truths: Vec<Vec<ItemIdx>> = test
        .cases
        .iter()
        .map(|c| {
            let mut t = c.items.clone();
            t.sort_unstable();
            t.dedup();
            t
        })
        .collect();
    let mut summary = BTreeMap::new();
    let mut columns = BTreeMap::new();
    for (m, label) in metrics.iter().zip(labels) {
        if let Some(g) = m.measure_global(&present) {
            summary.insert(label, g);
            continue;
        }
        let column: Vec<Option<f64>> = truths
            .iter()
            .zip(&lists)
            .map(|(truth, list)| match list {
                Some(l) => Some(m.measure(l, truth)),
                None => m.default(),
            })
            .collect();
        let (sum, n) = column
            .iter()
            .flatten()
            .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
        if n > 0 {
            summary.insert(label.clone(), sum / n as f64);
        }
        columns.insert(label, column);
    }
    let measure_seconds = start.elapsed().as_secs_f64();
    Ok(Report {
        name: run.model.clone(),
        model: run.model.clone(),
        split: run.split.clone(),
        protocol: run.protocol,
        k_max: run.k_max,
        n_items: run.n_items,
        n_users: test.len(),
        n_missing: lists.iter().filter(|l| l.is_none()).count(),
        summary,
        per_user: Some(PerUser {
            users: test.cases.iter().map(|c| c.user).collect(),
            columns,
        }),
        timings: Timings {
            run_seconds: run.seconds,
            measure_seconds,
            eval_seconds: run.seconds + measure_seconds,
            ..Timings::default()
        },
    })
}
