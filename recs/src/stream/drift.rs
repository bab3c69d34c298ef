//! Data-quality and drift checks between two profiles (two snapshots, or a snapshot and the
//! training data): rating distribution, activity per user, item popularity, new-user and
//! new-item rates, malformed/missing and out-of-range ratios.
//!
//! Measures (p = reference A, q = current B, both proportions over the same bins, smoothed by
//! adding 1e-4 to each bin then renormalising):
//! - PSI = Σ (q − p) ln(q / p). Rule of thumb: < 0.1 stable, 0.1–0.25 moderate, > 0.25 major.
//! - KL(q ‖ p) = Σ q ln(q / p) (nats).
//! - Wasserstein-1 over ordered bins = Σ |CDF_q − CDF_p| × bin width (in the bin's unit: stars
//!   for ratings, doublings for activity).
//!
//! Bins: ratings in half stars (0.5 … 5.0, 10 bins); activity per user in log₂ buckets of the
//! user's event count (1, 2–3, 4–7, …); item popularity as the share of B's events falling on
//! A's popularity deciles (items ordered by A's count, cut where A's cumulative share passes
//! 10 %, 20 %, …) plus one bucket for items A never saw.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::event::Event;
use super::snapshot::{SnapshotSet, TrainingData};
use std::path::Path;

use crate::data::{load, Dataset, Format, LoadOptions};
use crate::{Error, Result};

const RATING_BINS: usize = 10;
const ACTIVITY_BINS: usize = 24;
const EPS: f64 = 1e-4;

/// Summary statistics of one event set, the input of [`DriftReport::compare`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// Ratings in half-star bins (index = round(2 × rating) − 1, clamped).
    pub rating_hist: [u64; RATING_BINS],
    /// Interactions (rate + watch events) per user.
    pub user_activity: HashMap<i64, u64>,
    /// Interactions per movie.
    pub item_counts: HashMap<String, u64>,
    /// Records that could not be parsed (malformed or missing fields).
    pub malformed: u64,
    /// Records that parsed but failed validation (out of range, unknown id, bad time).
    pub out_of_range: u64,
    /// All records seen (valid events of every type + dead letters).
    pub records: u64,
}

fn rating_bin(r: f32) -> usize {
    ((r * 2.0).round() as i64 - 1).clamp(0, RATING_BINS as i64 - 1) as usize
}

impl Profile {
    /// Profiles valid events.
    ///
    /// ```
    /// use recs::stream::{parse_log_line, Profile};
    /// let e = parse_log_line("2024-02-01T12:00:00,1,GET /rate/10=4")?;
    /// let p = Profile::from_events([&e]);
    /// assert_eq!(p.rating_hist[7], 1);
    /// assert_eq!(p.user_activity[&1], 1);
    /// # Ok::<(), recs::stream::ParseError>(())
    /// ```
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Profile {
        let mut p = Profile::default();
        for e in events {
            p.records += 1;
            let movie = match e {
                Event::Rate(r) => {
                    p.rating_hist[rating_bin(r.rating)] += 1;
                    &r.movie_id
                }
                Event::Watch(w) => &w.movie_id,
                _ => continue,
            };
            *p.user_activity.entry(e.user_id()).or_default() += 1;
            match p.item_counts.get_mut(movie.as_str()) {
                Some(c) => *c += 1,
                None => {
                    p.item_counts.insert(movie.clone(), 1);
                }
            }
        }
        p
    }

    /// Profiles a snapshot set: its events (after checking every file's sha256 and schema) and
    /// its dead letters (reasons starting `parse:` count as malformed, others as out of range).
    ///
    /// # Errors
    /// A file that fails [`SnapshotSet::verify`] or does not read back (schema violation).
    pub fn from_snapshot(set: &SnapshotSet) -> Result<Profile> {
        set.verify()?;
        let events = set.events()?;
        let mut p = Profile::from_events(events.iter().map(|(_, e)| e));
        for d in set.dead_letters()? {
            p.records += 1;
            if d.reason.starts_with("parse:") {
                p.malformed += 1;
            } else {
                p.out_of_range += 1;
            }
        }
        Ok(p)
    }

    /// Profiles training data: values as ratings (when `explicit`), one interaction per stored
    /// entry, ids from the vocabularies.
    pub fn from_dataset(d: &Dataset, explicit: bool) -> Profile {
        let mut p = Profile::default();
        p.add_dataset(d, explicit, None);
        p
    }

    /// Profiles [`TrainingData`] from snapshots: ratings (explicit) and watches, movie ids as
    /// the snapshot's strings, so it compares with [`Profile::from_snapshot`] like for like.
    pub fn from_training(t: &TrainingData) -> Profile {
        let mut p = Profile::default();
        p.add_dataset(&t.ratings, true, Some(&t.movie_ids));
        p.add_dataset(&t.watches, false, Some(&t.movie_ids));
        p
    }

    /// Profiles a path: a snapshot directory (one holding `manifest-*.json`, see
    /// [`Profile::from_snapshot`]) or a ratings file in any format [`crate::data::load`] reads
    /// (format guessed from the name; values are treated as ratings unless all are 1.0).
    /// `recs drift A B` is `DriftReport::compare(&Profile::from_path(a)?, &Profile::from_path(b)?, ..)`.
    ///
    /// # Errors
    /// As [`Profile::from_snapshot`] or [`crate::data::load`].
    pub fn from_path(path: &Path) -> Result<Profile> {
        if path.is_dir() {
            let set = SnapshotSet::open(path)?;
            if set.manifests().is_empty() {
                return Err(Error::Data(format!(
                    "{}: no manifest-*.json (not a snapshot directory)",
                    path.display()
                )));
            }
            return Profile::from_snapshot(&set);
        }
        let (d, _) = load(path, &Format::guess(path), &LoadOptions::default())?;
        let explicit = d.interactions.values().iter().any(|&v| v != 1.0);
        Ok(Profile::from_dataset(&d, explicit))
    }

    /// Profiles a location: `s3://bucket/prefix` or `file:///dir` (a snapshot set, see
    /// [`SnapshotSet::open_location`]), or anything [`Profile::from_path`] reads.
    /// `recs drift A B` takes its arguments through this.
    ///
    /// ```
    /// use recs::stream::{ingest_reader, IngestConfig, Profile};
    /// let dir = tempfile::tempdir()?;
    /// ingest_reader("e", "2024-02-01T12:00:00,1,GET /rate/10=4\n".as_bytes(), &IngestConfig::new(dir.path()))?;
    /// let url = format!("file://{}", dir.path().display());
    /// assert_eq!(Profile::from_location(&url)?, Profile::from_path(dir.path())?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`SnapshotSet::open_location`] (an unknown scheme is [`Error::Unsupported`]) or
    /// [`Profile::from_path`].
    pub fn from_location(location: &str) -> Result<Profile> {
        if !location.contains("://") {
            return Profile::from_path(Path::new(location));
        }
        let set = SnapshotSet::open_location(location)?;
        if set.manifests().is_empty() {
            return Err(Error::Data(format!(
                "{location}: no manifest-*.json (not a snapshot set)"
            )));
        }
        Profile::from_snapshot(&set)
    }

    fn add_dataset(&mut self, d: &Dataset, explicit: bool, names: Option<&[String]>) {
        let m = &d.interactions;
        for u in 0..m.n_users() as u32 {
            let uid = d.users.external(u).unwrap_or(i64::from(u));
            let items = m.items_of(u);
            self.records += items.len() as u64;
            if !items.is_empty() {
                *self.user_activity.entry(uid).or_default() += items.len() as u64;
            }
            for (&i, &v) in items.iter().zip(m.values_of(u)) {
                let name = match names.and_then(|n| n.get(i as usize)) {
                    Some(n) => n.clone(),
                    None => d.items.external(i).unwrap_or(i64::from(i)).to_string(),
                };
                *self.item_counts.entry(name).or_default() += 1;
                if explicit {
                    self.rating_hist[rating_bin(v)] += 1;
                }
            }
        }
    }

    /// Users per log₂ bucket of activity: bucket `b` holds users with `2^b ..= 2^(b+1) − 1`
    /// interactions (1, 2–3, 4–7, …; the last of the 24 buckets holds everything above).
    ///
    /// ```
    /// use recs::stream::Profile;
    /// let mut p = Profile::default();
    /// p.user_activity.extend([(1, 1), (2, 3), (3, 4)]);
    /// assert_eq!(&p.activity_hist()[..3], &[1, 1, 1]);
    /// ```
    pub fn activity_hist(&self) -> [u64; ACTIVITY_BINS] {
        let mut h = [0u64; ACTIVITY_BINS];
        for &c in self.user_activity.values() {
            let b = (63 - c.max(1).leading_zeros()) as usize;
            h[b.min(ACTIVITY_BINS - 1)] += 1;
        }
        h
    }
}

/// Alert thresholds. A check is crossed when its value is strictly greater.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// PSI of any distribution. Default 0.2.
    pub psi: f64,
    /// KL(B ‖ A) of any distribution. Default 0.1.
    pub kl: f64,
    /// Wasserstein-1 of ratings, in stars. Default 0.25.
    pub wasserstein_rating: f64,
    /// Wasserstein-1 of log₂ user activity, in doublings. Default 1.0.
    pub wasserstein_activity: f64,
    /// Share of B's users absent from A. Default 0.5.
    pub new_user_rate: f64,
    /// Share of B's items absent from A. Default 0.2.
    pub new_item_rate: f64,
    /// Share of B's records that were malformed or missing fields. Default 0.05.
    pub malformed_ratio: f64,
    /// Share of B's records out of range. Default 0.05.
    pub out_of_range_ratio: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            psi: 0.2,
            kl: 0.1,
            wasserstein_rating: 0.25,
            wasserstein_activity: 1.0,
            new_user_rate: 0.5,
            new_item_rate: 0.2,
            malformed_ratio: 0.05,
            out_of_range_ratio: 0.05,
        }
    }
}

/// One measured quantity with its threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What is compared (`rating`, `user_activity`, `item_popularity`, `new_users`, …).
    pub subject: String,
    /// The measure (`psi`, `kl`, `wasserstein`, `rate`, `ratio`).
    pub measure: String,
    /// Its value; `None` when a side has no data for it (never crossed).
    pub value: Option<f64>,
    /// The threshold.
    pub threshold: f64,
    /// `value > threshold`.
    pub crossed: bool,
}

/// The drift report: sizes of both sides and every [`Check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Records of A (reference).
    pub a_records: u64,
    /// Records of B (current).
    pub b_records: u64,
    /// The checks.
    pub checks: Vec<Check>,
}

fn proportions(h: &[u64]) -> Option<Vec<f64>> {
    let n: u64 = h.iter().sum();
    if n == 0 {
        return None;
    }
    let raw: Vec<f64> = h.iter().map(|&c| c as f64 / n as f64 + EPS).collect();
    let z: f64 = raw.iter().sum();
    Some(raw.into_iter().map(|x| x / z).collect())
}

/// Population stability index of `q` against `p` (smoothed histograms).
pub(crate) fn psi(p: &[f64], q: &[f64]) -> f64 {
    p.iter().zip(q).map(|(a, b)| (b - a) * (b / a).ln()).sum()
}

/// KL(q ‖ p) in nats.
pub(crate) fn kl(p: &[f64], q: &[f64]) -> f64 {
    p.iter().zip(q).map(|(a, b)| b * (b / a).ln()).sum()
}

/// Wasserstein-1 between two histograms over ordered bins of equal `width`.
pub(crate) fn wasserstein(p: &[f64], q: &[f64], width: f64) -> f64 {
    let (mut cp, mut cq, mut w) = (0.0, 0.0, 0.0);
    for (a, b) in p.iter().zip(q) {
        cp += a;
        cq += b;
        w += (cp - cq).abs() * width;
    }
    w
}

impl DriftReport {
    /// Compares B (current) against A (reference).
    ///
    /// ```
    /// use recs::stream::{DriftReport, Profile, Thresholds};
    /// let mut a = Profile::default();
    /// a.rating_hist[7] = 100; // all 4 stars
    /// let mut b = Profile::default();
    /// b.rating_hist[1] = 100; // all 1 star
    /// let r = DriftReport::compare(&a, &b, &Thresholds::default());
    /// assert!(r.crossed());
    /// let w = r.checks.iter().find(|c| c.subject == "rating" && c.measure == "wasserstein").unwrap();
    /// assert!((w.value.unwrap() - 3.0).abs() < 0.01);
    /// assert!(!DriftReport::compare(&a, &a, &Thresholds::default()).crossed());
    /// ```
    pub fn compare(a: &Profile, b: &Profile, t: &Thresholds) -> DriftReport {
        let mut checks = Vec::new();
        let mut push = |subject: &str, measure: &str, value: Option<f64>, threshold: f64| {
            checks.push(Check {
                subject: subject.into(),
                measure: measure.into(),
                value,
                threshold,
                crossed: value.is_some_and(|v| v > threshold),
            })
        };
        let mut dists =
            |subject: &str, p: Option<Vec<f64>>, q: Option<Vec<f64>>, w: Option<(f64, f64)>| {
                let both = p.zip(q);
                push(subject, "psi", both.as_ref().map(|(p, q)| psi(p, q)), t.psi);
                push(subject, "kl", both.as_ref().map(|(p, q)| kl(p, q)), t.kl);
                if let Some((width, thr)) = w {
                    push(
                        subject,
                        "wasserstein",
                        both.as_ref().map(|(p, q)| wasserstein(p, q, width)),
                        thr,
                    );
                }
            };
        dists(
            "rating",
            proportions(&a.rating_hist),
            proportions(&b.rating_hist),
            Some((0.5, t.wasserstein_rating)),
        );
        dists(
            "user_activity",
            proportions(&a.activity_hist()),
            proportions(&b.activity_hist()),
            Some((1.0, t.wasserstein_activity)),
        );
        let (pa, pb) = popularity_buckets(a, b);
        dists("item_popularity", proportions(&pa), proportions(&pb), None);
        let rate = |n: usize, d: usize| (d > 0).then(|| n as f64 / d as f64);
        let new_users = b
            .user_activity
            .keys()
            .filter(|u| !a.user_activity.contains_key(u))
            .count();
        let new_items = b
            .item_counts
            .keys()
            .filter(|i| !a.item_counts.contains_key(*i))
            .count();
        push(
            "new_users",
            "rate",
            rate(new_users, b.user_activity.len()),
            t.new_user_rate,
        );
        push(
            "new_items",
            "rate",
            rate(new_items, b.item_counts.len()),
            t.new_item_rate,
        );
        let ratio = |n: u64| (b.records > 0).then(|| n as f64 / b.records as f64);
        push("malformed", "ratio", ratio(b.malformed), t.malformed_ratio);
        push(
            "out_of_range",
            "ratio",
            ratio(b.out_of_range),
            t.out_of_range_ratio,
        );
        DriftReport {
            a_records: a.records,
            b_records: b.records,
            checks,
        }
    }

    /// True when any check crossed its threshold (`recs drift` then exits non-zero).
    pub fn crossed(&self) -> bool {
        self.checks.iter().any(|c| c.crossed)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Event counts of A and B over A's popularity deciles (items ordered by A's count, most
/// popular first, ties by id; an item's decile is that of A's cumulative share before it) plus
/// an eleventh bucket for items A never saw. The histograms behind the popularity PSI/KL and
/// `recs report`'s plot.
///
/// ```
/// use recs::stream::{popularity_buckets, Profile};
/// let mut a = Profile::default();
/// a.item_counts.extend([("x".to_string(), 3), ("y".to_string(), 1)]);
/// let mut b = Profile::default();
/// b.item_counts.extend([("y".to_string(), 2), ("new".to_string(), 5)]);
/// let (pa, pb) = popularity_buckets(&a, &b);
/// assert_eq!((pa[0], pa[7], pa[10]), (3, 1, 0)); // y starts at 3/4 of A's events: decile 7
/// assert_eq!((pb[7], pb[10]), (2, 5));
/// ```
pub fn popularity_buckets(a: &Profile, b: &Profile) -> (Vec<u64>, Vec<u64>) {
    let mut items: Vec<(&String, u64)> = a.item_counts.iter().map(|(k, &v)| (k, v)).collect();
    items.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(y.0)));
    let total: u64 = items.iter().map(|x| x.1).sum();
    let mut bucket_of: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    let mut pa = vec![0u64; 11];
    let mut cum = 0u64;
    for (id, c) in items {
        // Decile of the item's cumulative share (before it): 0 = head, 9 = tail.
        let d = (cum * 10)
            .checked_div(total)
            .map_or(0, |v| v.min(9) as usize);
        cum += c;
        bucket_of.insert(id.as_str(), d);
        pa[d] += c;
    }
    let mut pb = vec![0u64; 11];
    for (id, &c) in &b.item_counts {
        pb[bucket_of.get(id.as_str()).copied().unwrap_or(10)] += c;
    }
    (pa, pb)
}

impl fmt::Display for DriftReport {
    /// A readable table, one line per check, `!!` marking crossed thresholds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "drift report: A {} records, B {} records",
            self.a_records, self.b_records
        )?;
        writeln!(
            f,
            "   {:<16} {:<12} {:>10} {:>10}",
            "subject", "measure", "value", "threshold"
        )?;
        for c in &self.checks {
            let v = c.value.map_or("n/a".to_string(), |v| format!("{v:.4}"));
            writeln!(
                f,
                "{} {:<16} {:<12} {:>10} {:>10}",
                if c.crossed { "!!" } else { "  " },
                c.subject,
                c.measure,
                v,
                c.threshold
            )?;
        }
        let n = self.checks.iter().filter(|c| c.crossed).count();
        write!(
            f,
            "{}",
            if n == 0 {
                "no threshold crossed".to_string()
            } else {
                format!("{n} threshold(s) crossed")
            }
        )
    }
}

/// The distinct users of a profile (used by tests and callers that want set differences).
impl Profile {
    /// Users seen.
    pub fn users(&self) -> HashSet<i64> {
        self.user_activity.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_computed_measures() {
        let p = [0.5, 0.5];
        let q = [0.25, 0.75];
        let psi_v = (0.25 - 0.5) * (0.5f64).ln() + (0.75 - 0.5) * (1.5f64).ln();
        assert!((psi(&p, &q) - psi_v).abs() < 1e-12);
        let kl_v = 0.25 * (0.5f64).ln() + 0.75 * (1.5f64).ln();
        assert!((kl(&p, &q) - kl_v).abs() < 1e-12);
        // CDF difference 0.25 in the first bin only.
        assert!((wasserstein(&p, &q, 2.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn new_users_items_and_ratios() {
        let mut a = Profile::default();
        a.user_activity.insert(1, 3);
        a.item_counts.insert("x".into(), 3);
        let mut b = a.clone();
        b.user_activity.insert(2, 1);
        b.item_counts.insert("y".into(), 1);
        b.records = 10;
        b.malformed = 1;
        b.out_of_range = 2;
        let r = DriftReport::compare(&a, &b, &Thresholds::default());
        let get = |s: &str| r.checks.iter().find(|c| c.subject == s).unwrap().clone();
        assert_eq!(get("new_users").value, Some(0.5));
        assert!(!get("new_users").crossed, "0.5 is not > 0.5");
        assert_eq!(get("new_items").value, Some(0.5));
        assert!(get("new_items").crossed);
        assert_eq!(get("malformed").value, Some(0.1));
        assert_eq!(get("out_of_range").value, Some(0.2));
        assert!(r.to_string().contains("!! new_items"));
        let back: DriftReport = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
    }

    proptest! {
        #[test]
        fn measures_nonnegative_and_zero_on_self(h in proptest::collection::vec(0u64..100, 2..12),
                                                  g in proptest::collection::vec(0u64..100, 2..12)) {
            let n = h.len().min(g.len());
            if let (Some(p), Some(q)) = (proportions(&h[..n]), proportions(&g[..n])) {
                prop_assert!(psi(&p, &q) >= -1e-12);
                prop_assert!(kl(&p, &q) >= -1e-12);
                prop_assert!(wasserstein(&p, &q, 1.0) >= 0.0);
                prop_assert!(psi(&p, &p).abs() < 1e-12);
                prop_assert!(wasserstein(&p, &p, 1.0).abs() < 1e-12);
            }
        }
    }
}
