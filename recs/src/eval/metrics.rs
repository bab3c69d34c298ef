//! Top-K accuracy metrics as values: each one has a label, a per-list measure and a default.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::data::ItemIdx;
use crate::{Error, Result};

/// A metric over one ranked list (LensKit's `ListMetric`), optionally with a global value.
///
/// `measure` receives the user's ranked list, best first (it may be longer than the metric's
/// `k`; the metric looks at its first `k` items only) and the user's held-out items, **sorted
/// ascending and unique**. The summary of a per-list metric is the mean of `measure` over test
/// users; a user with no list gets [`default`](Metric::default) (or is left out when it is
/// `None`). A global metric (catalogue coverage) returns `Some` from
/// [`measure_global`](Metric::measure_global), which then becomes the summary, and it has no
/// per-user value.
///
/// ```
/// use recs::eval::{Metric, Ndcg};
/// let ndcg = Ndcg::new(10);
/// assert_eq!(ndcg.label(), "ndcg@10");
/// // the one held-out item (7) is at rank 3: NDCG = 1 / log2(3 + 1)
/// assert_eq!(ndcg.measure(&[4, 2, 7, 9], &[7]), 0.5);
/// ```
pub trait Metric: Send + Sync {
    /// Unique label in reports, such as `"hr@10"`.
    fn label(&self) -> String;
    /// The list depth the metric reads, when it has one (checked against the run's depth).
    fn k(&self) -> Option<usize> {
        None
    }
    /// Value for a test user who has no list (the model could not score them).
    /// `None` leaves such users out of the mean. Default `Some(0.0)`.
    fn default(&self) -> Option<f64> {
        Some(0.0)
    }
    /// Value for one ranked list against the sorted held-out items `truth`.
    fn measure(&self, ranked: &[ItemIdx], truth: &[ItemIdx]) -> f64;
    /// A value over all lists at once; `Some` marks a global metric. Default `None`.
    fn measure_global(&self, lists: &[&[ItemIdx]]) -> Option<f64> {
        let _ = lists;
        None
    }
}

#[inline]
fn is_hit(truth: &[ItemIdx], item: ItemIdx) -> bool {
    truth.binary_search(&item).is_ok()
}

#[inline]
fn discount(rank0: usize) -> f64 {
    1.0 / ((rank0 + 2) as f64).log2()
}

macro_rules! list_metric {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            k: usize,
        }
        impl $name {
            /// The metric at cut-off `k` (use `k >= 1`; `k = 0` always measures 0).
            pub fn new(k: usize) -> Self {
                $name { k }
            }
        }
    };
}

list_metric!(
    /// Hit rate: 1 when any of the top `k` items is held out, else 0.
    Hr
);
list_metric!(
    /// Normalised discounted cumulative gain with binary relevance:
    /// `sum over hits at 0-based rank r < k of 1/log2(r + 2)`, divided by the same sum for the
    /// ideal list of `min(|truth|, k)` hits.
    Ndcg
);
list_metric!(
    /// Recall (uncapped, the common definition): hits in the top `k` divided by `|truth|`, so
    /// with more than `k` held-out items even a perfect list scores `k / |truth|` < 1.
    Recall
);
list_metric!(
    /// Capped recall: hits in the top `k` divided by `min(|truth|, k)` (a perfect list scores 1
    /// even when there are more than `k` held-out items); label `recall_capped@k`.
    RecallCapped
);
list_metric!(
    /// Precision: hits in the top `k` divided by `k` (a shorter list is padded with misses).
    Precision
);
list_metric!(
    /// Mean average precision at `k`: the sum of precision@r over hit ranks `r <= k`, divided by
    /// `min(|truth|, k)`.
    Map
);
list_metric!(
    /// Reciprocal rank of the first hit within the top `k` (0 without a hit).
    Mrr
);

impl Metric for Hr {
    fn label(&self) -> String {
        format!("hr@{}", self.k)
    }
    fn k(&self) -> Option<usize> {
        Some(self.k)
    }
    fn measure(&self, ranked: &[ItemIdx], truth: &[ItemIdx]) -> f64 {
        let hit = ranked.iter().take(self.k).any(|&i| is_hit(truth, i));
        f64::from(u8::from(hit))
    }
}

impl Metric for Ndcg {
    fn label(&self) -> String {
        format!("ndcg@{}", self.k)
    }
    fn k(&self) -> Option<usize> {
        Some(self.k)
    }
    fn measure(&self, ranked: &[ItemIdx], truth: &[ItemIdx]) -> f64 {
        let ideal: f64 = (0..truth.len().min(self.k)).map(discount).sum();
        if ideal == 0.0 {
            return 0.0;
        }
        let dcg: f64 = ranked
            .iter()
            .take(self.k)
            .enumerate()
            .filter(|&(_, &i)| is_hit(truth, i))
            .map(|(r, _)| discount(r))
            .sum();
        dcg / ideal
    }
}

fn hits(ranked: &[ItemIdx], truth: &[ItemIdx], k: usize) -> usize {
    ranked.iter().take(k).filter(|&&i| is_hit(truth, i)).count()
}

impl Metric for Recall {
    fn label(&self) -> String {
        format!("recall@{}", self.k)
    }
    fn k(&self) -> Option<usize> {
        Some(self.k)
    }
    fn measure(&self, ranked: &[ItemIdx], truth: &[ItemIdx]) -> f64 {
        if truth.is_empty() {
            return 0.0;
        }
        hits(ranked, truth, self.k) as f64 / truth.len() as f64
    }
}

impl Metric for RecallCapped {
    fn label(&self) -> String {
        format!("recall_capped@{}", self.k)
    }
    fn k(&self) -> Option<usize> {
        Some(self.k)
    }
    fn measure(&self, ranked: &[ItemIdx], truth: &[ItemIdx]) -> f64 {
        let denom = truth.len().min(self.k);
        if denom == 0 {
            return 0.0;
        }
        hits(ranked, truth, self.k) as f64 / denom as f64
    }
}

impl Metric for Precision {
    fn label(&self) -> String {
        format!("precision@{}", self.k)
    }
    fn k(&self) -> Option<usize> {
        Some(self.k)
    }
    fn measure(&self, ranked: &[ItemIdx], truth: &[ItemIdx]) -> f64 {
        if self.k == 0 {
            return 0.0;
        }
        hits(ranked, truth, self.k) as f64 / self.k as f64
    }
}

impl Metric for Map {
    fn label(&self) -> String {
        format!("map@{}", self.k)
    }
    fn k(&self) -> Option<usize> {
        Some(self.k)
    }
    fn measure(&self, ranked: &[ItemIdx], truth: &[ItemIdx]) -> f64 {
        let denom = truth.len().min(self.k);
        if denom == 0 {
            return 0.0;
        }
        let mut found = 0usize;
        let mut sum = 0.0;
        for (r, &i) in ranked.iter().take(self.k).enumerate() {
            if is_hit(truth, i) {
                found += 1;
                sum += found as f64 / (r + 1) as f64;
            }
        }
        sum / denom as f64
    }
}

impl Metric for Mrr {
    fn label(&self) -> String {
        format!("mrr@{}", self.k)
    }
    fn k(&self) -> Option<usize> {
        Some(self.k)
    }
    fn measure(&self, ranked: &[ItemIdx], truth: &[ItemIdx]) -> f64 {
        ranked
            .iter()
            .take(self.k)
            .position(|&i| is_hit(truth, i))
            .map_or(0.0, |r| 1.0 / (r + 1) as f64)
    }
}

/// Catalogue coverage at `k`, a global metric: the number of distinct items in all users' top
/// `k` divided by the number of items. Per list, [`measure`](Metric::measure) gives the same
/// ratio for that one list.
///
/// ```
/// use recs::eval::{Coverage, Metric};
/// let c = Coverage::new(2, 10);
/// let lists: [&[u32]; 2] = [&[1, 2, 3], &[2, 4]];
/// assert_eq!(c.measure_global(&lists), Some(0.3)); // {1, 2, 4} of 10 items
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    k: usize,
    n_items: usize,
}

impl Coverage {
    /// Coverage of the top `k` of each list over a catalogue of `n_items` items.
    pub fn new(k: usize, n_items: usize) -> Self {
        Coverage { k, n_items }
    }
}

impl Metric for Coverage {
    fn label(&self) -> String {
        format!("coverage@{}", self.k)
    }
    fn k(&self) -> Option<usize> {
        Some(self.k)
    }
    fn measure(&self, ranked: &[ItemIdx], _truth: &[ItemIdx]) -> f64 {
        self.measure_global(&[ranked]).unwrap_or(0.0)
    }
    fn measure_global(&self, lists: &[&[ItemIdx]]) -> Option<f64> {
        if self.n_items == 0 {
            return Some(0.0);
        }
        let mut seen = vec![false; self.n_items];
        let mut distinct = 0usize;
        for list in lists {
            for &i in list.iter().take(self.k) {
                if let Some(s) = seen.get_mut(i as usize) {
                    if !*s {
                        *s = true;
                        distinct += 1;
                    }
                }
            }
        }
        Some(distinct as f64 / self.n_items as f64)
    }
}

/// The built-in metrics by name, for configuration files, the CLI and Python.
///
/// Serialized in lower case (`"hr"`, `"ndcg"`, ...), which is also the label prefix.
///
/// ```
/// use recs::eval::MetricKind;
/// let m: MetricKind = "ndcg".parse()?;
/// assert_eq!(m.build(10, 100).label(), "ndcg@10");
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// [`Hr`].
    Hr,
    /// [`Ndcg`].
    Ndcg,
    /// [`Recall`] (uncapped: hits / |truth|).
    Recall,
    /// [`RecallCapped`] (hits / min(|truth|, k)).
    #[serde(rename = "recall_capped")]
    RecallCapped,
    /// [`Precision`].
    Precision,
    /// [`Map`].
    Map,
    /// [`Mrr`].
    Mrr,
    /// [`Coverage`].
    Coverage,
}

impl MetricKind {
    /// Every built-in metric, in report order.
    pub const ALL: [MetricKind; 8] = [
        MetricKind::Hr,
        MetricKind::Ndcg,
        MetricKind::Recall,
        MetricKind::RecallCapped,
        MetricKind::Precision,
        MetricKind::Map,
        MetricKind::Mrr,
        MetricKind::Coverage,
    ];

    /// The lower-case name, which is also the label prefix.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Hr => "hr",
            MetricKind::Ndcg => "ndcg",
            MetricKind::Recall => "recall",
            MetricKind::RecallCapped => "recall_capped",
            MetricKind::Precision => "precision",
            MetricKind::Map => "map",
            MetricKind::Mrr => "mrr",
            MetricKind::Coverage => "coverage",
        }
    }

    /// The metric at cut-off `k`; `n_items` is the catalogue size (used by coverage only).
    pub fn build(self, k: usize, n_items: usize) -> Box<dyn Metric> {
        match self {
            MetricKind::Hr => Box::new(Hr::new(k)),
            MetricKind::Ndcg => Box::new(Ndcg::new(k)),
            MetricKind::Recall => Box::new(Recall::new(k)),
            MetricKind::RecallCapped => Box::new(RecallCapped::new(k)),
            MetricKind::Precision => Box::new(Precision::new(k)),
            MetricKind::Map => Box::new(Map::new(k)),
            MetricKind::Mrr => Box::new(Mrr::new(k)),
            MetricKind::Coverage => Box::new(Coverage::new(k, n_items)),
        }
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MetricKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        // `hit_rate` is the long name of `hr` (1 when any held-out item is in the top k)
        if s == "hit_rate" {
            return Ok(MetricKind::Hr);
        }
        MetricKind::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                Error::param(
                    "metric",
                    "one of hr (hit_rate), ndcg, recall, recall_capped, precision, map, mrr, coverage",
                    s,
                )
            })
    }
}

/// Parses a label such as `"ndcg@10"` into a metric (`n_items` is used by coverage only).
///
/// ```
/// let m = recs::eval::parse_metric("MRR@5", 100)?;
/// assert_eq!(m.label(), "mrr@5");
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParam`] for an unknown name or a cut-off that is not an integer >= 1.
pub fn parse_metric(label: &str, n_items: usize) -> Result<Box<dyn Metric>> {
    let (name, k) = label
        .split_once('@')
        .ok_or_else(|| Error::param("metric", "a label such as `ndcg@10`", label.to_string()))?;
    let kind: MetricKind = name.parse()?;
    let k = k
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|&k| k >= 1)
        .ok_or_else(|| Error::param("metric", "a cut-off k >= 1 after `@`", label.to_string()))?;
    Ok(kind.build(k, n_items))
}

/// Every metric of `kinds` at every cut-off of `ks`, ordered by `k` then by kind.
///
/// ```
/// use recs::eval::{metrics_for, MetricKind};
/// let ms = metrics_for(&[MetricKind::Hr, MetricKind::Ndcg], &[5, 10], 100);
/// let labels: Vec<String> = ms.iter().map(|m| m.label()).collect();
/// assert_eq!(labels, ["hr@5", "ndcg@5", "hr@10", "ndcg@10"]);
/// ```
pub fn metrics_for(kinds: &[MetricKind], ks: &[usize], n_items: usize) -> Vec<Box<dyn Metric>> {
    ks.iter()
        .flat_map(|&k| kinds.iter().map(move |m| m.build(k, n_items)))
        .collect()
}

/// Checks that labels are unique.
///
/// # Errors
/// [`Error::InvalidParam`] naming the first duplicated label.
pub(crate) fn check_unique(metrics: &[Box<dyn Metric>]) -> Result<Vec<String>> {
    let mut seen = HashSet::new();
    let mut labels = Vec::with_capacity(metrics.len());
    for m in metrics {
        let l = m.label();
        if !seen.insert(l.clone()) {
            return Err(Error::param("metrics", "unique metric labels", l));
        }
        labels.push(l);
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hit_at_rank_three_by_hand() {
        let ranked = [4, 2, 7, 9, 1];
        let truth = [7];
        assert_eq!(Hr::new(3).measure(&ranked, &truth), 1.0);
        assert_eq!(Hr::new(2).measure(&ranked, &truth), 0.0);
        assert!(close(Ndcg::new(10).measure(&ranked, &truth), 0.5));
        assert!(close(Mrr::new(10).measure(&ranked, &truth), 1.0 / 3.0));
        assert!(close(Map::new(10).measure(&ranked, &truth), 1.0 / 3.0));
        assert!(close(Precision::new(10).measure(&ranked, &truth), 0.1));
        assert!(close(Recall::new(10).measure(&ranked, &truth), 1.0));
        assert_eq!(Recall::new(2).measure(&ranked, &truth), 0.0);
    }

    #[test]
    fn two_relevant_items_by_hand() {
        // hits at ranks 1 and 3 of a list cut at 3; truth {3, 8}
        let ranked = [3, 5, 8, 0];
        let truth = [3, 8];
        let idcg = 1.0 + 1.0 / 3f64.log2();
        assert!(close(Ndcg::new(3).measure(&ranked, &truth), 1.5 / idcg));
        assert!(close(
            Map::new(3).measure(&ranked, &truth),
            (1.0 + 2.0 / 3.0) / 2.0
        ));
        assert!(close(Precision::new(3).measure(&ranked, &truth), 2.0 / 3.0));
        assert!(close(Recall::new(3).measure(&ranked, &truth), 1.0));
        assert!(close(Recall::new(2).measure(&ranked, &truth), 0.5));
        assert!(close(RecallCapped::new(2).measure(&ranked, &truth), 0.5));
        // at k = 1 the one hit (item 3) is all a list of one can hold: capped 1/1, uncapped 1/2
        assert!(close(RecallCapped::new(1).measure(&ranked, &truth), 1.0));
        assert!(close(Recall::new(1).measure(&ranked, &truth), 0.5));
        assert_eq!(Mrr::new(3).measure(&ranked, &truth), 1.0);
        // at k = 1 only one hit is possible, so the ideal has one item
        assert_eq!(Ndcg::new(1).measure(&ranked, &truth), 1.0);
        assert_eq!(Map::new(1).measure(&ranked, &truth), 1.0);
    }

    /// Values printed by the independent numpy script `benches/metric_values.py` (0/1 relevance
    /// vectors and array formulas, not this module's code), pasted as printed; its `CASES` are the
    /// lists below. Metric order: hr, ndcg, recall, recall_capped, precision, map, mrr.
    #[test]
    fn values_match_independent_numpy_script() {
        let cases: [(&[u32], &[u32]); 7] = [
            (&[4, 2, 7, 9, 1], &[7]),
            (&[3, 5, 8, 0, 6, 1], &[3, 8, 11]),
            (&[3, 5, 8, 0, 6, 1], &[3, 8, 11]),
            (&[10, 11, 12, 13, 14, 15, 16, 17], &[11, 13, 14, 20, 21]),
            (&[9, 8], &[1, 8]),
            (&[1, 2, 3, 4], &[5, 6]),
            (&[5, 6, 7], &[5, 6, 7]),
        ];
        // python3 benches/metric_values.py
        let numpy: [(usize, usize, [f64; 7]); 7] = [
            (
                0,
                3,
                [
                    1.0,
                    0.5,
                    1.0,
                    1.0,
                    0.3333333333333333,
                    0.3333333333333333,
                    0.3333333333333333,
                ],
            ),
            (
                1,
                5,
                [
                    1.0,
                    0.7039180890341347,
                    0.6666666666666666,
                    0.6666666666666666,
                    0.4,
                    0.5555555555555555,
                    1.0,
                ],
            ),
            (
                2,
                2,
                [
                    1.0,
                    0.6131471927654584,
                    0.3333333333333333,
                    0.5,
                    0.5,
                    0.5,
                    1.0,
                ],
            ),
            (3, 4, [1.0, 0.4144299250118475, 0.4, 0.5, 0.5, 0.25, 0.5]),
            (4, 5, [1.0, 0.38685280723454163, 0.5, 0.5, 0.2, 0.25, 0.5]),
            (5, 4, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            (6, 3, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
        ];
        let kinds = [
            MetricKind::Hr,
            MetricKind::Ndcg,
            MetricKind::Recall,
            MetricKind::RecallCapped,
            MetricKind::Precision,
            MetricKind::Map,
            MetricKind::Mrr,
        ];
        for (case, k, expected) in numpy {
            let (ranked, truth) = cases[case];
            for (kind, want) in kinds.iter().zip(expected) {
                let m = kind.build(k, 100);
                let got = m.measure(ranked, truth);
                assert!(
                    (got - want).abs() < 1e-12,
                    "case {case}, {}: recs {got}, numpy {want}",
                    m.label()
                );
            }
        }
    }

    #[test]
    fn empty_inputs_measure_zero() {
        for kind in MetricKind::ALL {
            let m = kind.build(5, 10);
            if kind != MetricKind::Coverage {
                assert_eq!(m.measure(&[], &[1]), 0.0, "{}", m.label());
                assert_eq!(m.measure(&[1, 2], &[]), 0.0, "{}", m.label());
            }
            assert_eq!(m.default(), Some(0.0));
        }
    }

    #[test]
    fn coverage_counts_distinct_items_in_top_k() {
        let c = Coverage::new(2, 8);
        let lists: [&[u32]; 3] = [&[0, 1, 7], &[1, 0], &[5]];
        assert_eq!(c.measure_global(&lists), Some(3.0 / 8.0));
        assert_eq!(c.measure(&[0, 1, 7], &[]), 2.0 / 8.0);
        assert_eq!(Coverage::new(2, 0).measure_global(&lists), Some(0.0));
        assert_eq!(Hr::new(2).measure_global(&lists), None);
    }

    #[test]
    fn labels_parse_and_duplicates_are_refused() {
        assert_eq!(parse_metric("hr@10", 5).unwrap().label(), "hr@10");
        assert_eq!(
            parse_metric(" Precision @ 3", 5).unwrap().label(),
            "precision@3"
        );
        for bad in ["hr", "hr@0", "hr@x", "auc@10", "@10"] {
            assert!(
                matches!(parse_metric(bad, 5), Err(Error::InvalidParam { .. })),
                "{bad}"
            );
        }
        let ms = vec![
            parse_metric("hr@10", 5).unwrap(),
            Box::new(Hr::new(10)) as _,
        ];
        assert!(matches!(
            check_unique(&ms),
            Err(Error::InvalidParam { name: "metrics", got, .. }) if got == "hr@10"
        ));
        assert_eq!(
            check_unique(&metrics_for(&MetricKind::ALL, &[5, 10], 3))
                .unwrap()
                .len(),
            16
        );
    }

    #[test]
    fn metric_kind_serde_is_lowercase() {
        let s = serde_json::to_string(&MetricKind::ALL).unwrap();
        assert_eq!(
            s,
            r#"["hr","ndcg","recall","recall_capped","precision","map","mrr","coverage"]"#
        );
        let back: Vec<MetricKind> = serde_json::from_str(&s).unwrap();
        assert_eq!(back, MetricKind::ALL);
    }

    /// A ranked list (distinct items) and a sorted, unique truth set over a small catalogue.
    fn list_and_truth() -> impl Strategy<Value = (Vec<u32>, Vec<u32>)> {
        (
            Just((0u32..40).collect::<Vec<_>>()).prop_shuffle(),
            0usize..40,
            prop::collection::btree_set(0u32..40, 0..8),
        )
            .prop_map(|(perm, len, truth)| (perm[..len].to_vec(), truth.into_iter().collect()))
    }

    proptest! {
        #[test]
        fn every_metric_is_in_unit_interval((ranked, truth) in list_and_truth(), k in 0usize..45) {
            for kind in MetricKind::ALL {
                let m = kind.build(k, 40);
                let v = m.measure(&ranked, &truth);
                prop_assert!((0.0..=1.0).contains(&v), "{} = {}", m.label(), v);
                if let Some(g) = m.measure_global(&[&ranked, &truth]) {
                    prop_assert!((0.0..=1.0).contains(&g));
                }
            }
        }

        #[test]
        fn hr_recall_and_coverage_grow_with_k((ranked, truth) in list_and_truth(), k in 0usize..40) {
            prop_assert!(Hr::new(k).measure(&ranked, &truth) <= Hr::new(k + 1).measure(&ranked, &truth));
            let hits = |k| hits(&ranked, &truth, k);
            prop_assert!(hits(k) <= hits(k + 1));
            let c = |k| Coverage::new(k, 40).measure_global(&[&ranked]);
            prop_assert!(c(k) <= c(k + 1));
        }

        #[test]
        fn ndcg_is_at_most_hr_for_one_held_out_item(ranked in Just((0u32..30).collect::<Vec<_>>()).prop_shuffle(), t in 0u32..30, k in 0usize..35) {
            let truth = [t];
            let hr = Hr::new(k).measure(&ranked, &truth);
            prop_assert!(Ndcg::new(k).measure(&ranked, &truth) <= hr);
            prop_assert!(Mrr::new(k).measure(&ranked, &truth) <= hr);
            // with one held-out item MAP equals MRR
            prop_assert!((Map::new(k).measure(&ranked, &truth) - Mrr::new(k).measure(&ranked, &truth)).abs() < 1e-12);
        }

        #[test]
        fn perfect_ranker_scores_one(truth in prop::collection::btree_set(0u32..50, 1..10), rest in prop::collection::vec(50u32..100, 0..10), k in 1usize..15) {
            let mut ranked: Vec<u32> = truth.iter().copied().collect();
            ranked.extend(&rest);
            let truth: Vec<u32> = truth.into_iter().collect();
            for kind in [MetricKind::Hr, MetricKind::Ndcg, MetricKind::Mrr, MetricKind::Map, MetricKind::RecallCapped] {
                let m = kind.build(k, 100);
                prop_assert!(close(m.measure(&ranked, &truth), 1.0), "{}", m.label());
            }
            // uncapped recall of a perfect list: all k slots hit, out of |truth|
            let r = Recall::new(k).measure(&ranked, &truth);
            prop_assert!(close(r, truth.len().min(k) as f64 / truth.len() as f64));
            let p = Precision::new(k).measure(&ranked, &truth);
            prop_assert!(close(p, truth.len().min(k) as f64 / k as f64));
        }

        #[test]
        fn ranker_that_never_hits_scores_zero(truth in prop::collection::btree_set(0u32..50, 0..10), ranked in prop::collection::vec(50u32..100, 0..20), k in 0usize..25) {
            let truth: Vec<u32> = truth.into_iter().collect();
            for kind in MetricKind::ALL.into_iter().filter(|&m| m != MetricKind::Coverage) {
                prop_assert_eq!(kind.build(k, 100).measure(&ranked, &truth), 0.0);
            }
        }
    }
}
