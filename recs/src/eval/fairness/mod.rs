//! Responsible recommendation: how a model spreads exposure over the catalogue, and how well it
//! serves each group of users.
//!
//! Both views are computed from the pieces of an ordinary evaluation, never by re-ranking:
//! - [`exposure`] reads the top-K lists of a full-ranking [`Run`] (every test user's list, the
//!   training items excluded) and the training data (for item popularity);
//! - [`quality_by_group`] reads the per-user metric columns of a [`Report`] (from
//!   [`measure`](super::measure), or an evaluator with `per_user(true)`) and a [`UserGroups`]
//!   assignment (ML-1M demographics from [`load_users`](crate::data::load_users), or activity bands).
//!
//! Definitions (K = the list length, `c_i` = training interactions of item `i`, `U` = users of
//! the training data):
//! - **exposure** of item `i`: the number of lists whose top K contain it;
//! - **coverage**: share of the catalogue exposed at least once; **never exposed**: the others;
//! - **Gini** of the exposure vector over *all* catalogue items (zeros included):
//!   `Σ_j (2j − n − 1) x_(j) / (n Σ x)` with `x` sorted ascending, 0 for equal exposure and
//!   `(n − 1)/n` when one item takes everything (see [`gini`]);
//! - **top-10 % share**: share of the exposure on the `ceil(n / 10)` most popular items
//!   (by `c_i`, ties by index);
//! - **long-tail share**: share of the exposure on items outside the popular *head*, the
//!   smallest set of most popular items that holds [`HEAD_MASS`] (80 %) of the training
//!   interactions (items never consumed are in the tail);
//! - **popularity** of an item: `c_i / |U|`, the share of users who consumed it. The mean
//!   popularity of recommended items is over all list slots; that of consumed items is over
//!   all training interactions; **popularity bias** is their ratio (1 = the lists are as
//!   popular as what users consume, > 1 = the model amplifies popularity);
//! - **Lorenz curve**: (share of items, share of exposure) with items sorted by ascending
//!   exposure; the diagonal is equal exposure and `Gini = 1 − 2 × area` under the curve.
//!
//! ```
//! use recs::prelude::*;
//! use recs::data::{Interactions, Record, Split, TestCase, TestSet, Vocab};
//! use recs::eval::fairness::exposure;
//! use recs::eval::{run, Protocol};
//!
//! let recs = [(0, 0), (1, 0), (1, 1), (2, 0), (2, 2), (3, 1)]
//!     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
//! let train = Interactions::from_records(4, 5, &recs, Default::default())?;
//! let cases = (0..4).map(|user| TestCase { user, items: vec![4], negatives: None }).collect();
//! let split = Split { name: "toy".into(), train, test: TestSet { cases },
//!     users: Vocab::identity(4), items: Vocab::identity(5) };
//! let model = Popularity::params().fit(&split.train)?;
//! let r = run(&model, &split, &Protocol::default(), 1)?;
//! let e = exposure(&r, &split.train, 1)?;
//! // users 0, 2 and 3 get item 1 or 0 (the most popular unseen), user 1 gets item 2
//! assert_eq!(e.never_exposed, 2);
//! assert!(e.gini > 0.0 && e.gini < 1.0);
//! # Ok::<(), recs::Error>(())
//! ```

use std::collections::BTreeMap;

pub mod logged;
mod study;
pub use logged::{
    exposure_of_logged, ItemExposure, LoggedExposure, LoggedExposureCounter, LoggedGroup,
};
pub use study::{study, Demographics, FairnessStudy, ModelFairness, StudyConfig};

use serde::{Deserialize, Serialize};

use super::report::Report;
use super::run::{Protocol, Run};
use crate::data::{Interactions, ItemIdx, UserIdx, UserInfo, Vocab};
use crate::{Error, Result};

/// Share of the training interactions held by the popular head; the rest of the catalogue is
/// the long tail. 0.8 (the Pareto 80/20 convention).
pub const HEAD_MASS: f64 = 0.8;

/// Share of the catalogue counted as "the most popular items" by [`Exposure::top10_share`].
pub const TOP_SHARE: f64 = 0.1;

/// Points of the Lorenz curve kept in an [`Exposure`] (evenly spaced over the items).
pub const LORENZ_POINTS: usize = 101;

/// z for a two-sided 95 % normal interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Exposure metrics of top-K lists over the catalogue (see the module docs for definitions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    /// List length K.
    pub k: usize,
    /// Lists counted (users).
    pub n_lists: usize,
    /// Catalogue size.
    pub n_items: usize,
    /// Recommendation slots counted (sum of list lengths, at most `k` each).
    pub slots: u64,
    /// Share of the catalogue exposed at least once, in [0, 1].
    pub coverage: f64,
    /// Items no list contains.
    pub never_exposed: usize,
    /// Gini coefficient of item exposure over the whole catalogue, in [0, 1).
    pub gini: f64,
    /// Share of the slots on the 10 % most popular items.
    pub top10_share: f64,
    /// Share of the slots on long-tail items.
    pub long_tail_share: f64,
    /// Size of the long tail (items outside the head holding [`HEAD_MASS`] of interactions).
    pub long_tail_items: usize,
    /// Mean popularity (share of users who consumed the item) over all list slots.
    pub mean_pop_recommended: f64,
    /// Mean popularity over all training interactions.
    pub mean_pop_consumed: f64,
    /// `mean_pop_recommended / mean_pop_consumed`: 1 neutral, > 1 amplifies popularity.
    pub popularity_bias: f64,
    /// Lorenz curve of exposure: `[share of items, share of exposure]`, from `[0, 0]` to `[1, 1]`.
    pub lorenz: Vec<[f64; 2]>,
}

/// The Gini coefficient of non-negative values (0 when they are all equal or all zero).
///
/// `Σ_j (2j − n − 1) x_(j) / (n Σ x)` over the values sorted ascending (j = 1..n); equal to
/// the mean absolute difference over all ordered pairs divided by twice the mean. Its maximum
/// for n values is `(n − 1)/n`. Negative and non-finite values are treated as 0.
///
/// ```
/// use recs::eval::fairness::gini;
/// assert_eq!(gini(&[1.0, 2.0, 3.0, 4.0]), 0.25);
/// assert_eq!(gini(&[0.0, 0.0, 0.0, 4.0]), 0.75);
/// assert_eq!(gini(&[2.0, 2.0]), 0.0);
/// ```
pub fn gini(values: &[f64]) -> f64 {
    let mut x: Vec<f64> = values
        .iter()
        .map(|&v| if v.is_finite() && v > 0.0 { v } else { 0.0 })
        .collect();
    let total: f64 = x.iter().sum();
    if x.is_empty() || total <= 0.0 {
        return 0.0;
    }
    x.sort_unstable_by(f64::total_cmp);
    let n = x.len() as f64;
    let weighted: f64 = x
        .iter()
        .enumerate()
        .map(|(j, v)| (2.0 * (j as f64 + 1.0) - n - 1.0) * v)
        .sum();
    (weighted / (n * total)).clamp(0.0, 1.0)
}

/// The Lorenz curve of non-negative values at up to `points` (>= 2) evenly spaced item shares:
/// `[share of items, share of the total]` with items sorted ascending, starting at `[0, 0]` and
/// ending at `[1, 1]` (all zeros give the diagonal).
///
/// ```
/// use recs::eval::fairness::lorenz_curve;
/// let l = lorenz_curve(&[0.0, 1.0, 0.0, 3.0], 5);
/// assert_eq!(l, vec![[0.0, 0.0], [0.25, 0.0], [0.5, 0.0], [0.75, 0.25], [1.0, 1.0]]);
/// ```
pub fn lorenz_curve(values: &[f64], points: usize) -> Vec<[f64; 2]> {
    let mut x: Vec<f64> = values
        .iter()
        .map(|&v| if v.is_finite() && v > 0.0 { v } else { 0.0 })
        .collect();
    x.sort_unstable_by(f64::total_cmp);
    let n = x.len();
    let total: f64 = x.iter().sum();
    if n == 0 {
        return vec![[0.0, 0.0], [1.0, 1.0]];
    }
    let mut cum = Vec::with_capacity(n + 1);
    cum.push(0.0);
    let mut s = 0.0;
    for v in &x {
        s += v;
        cum.push(s);
    }
    let points = points.clamp(2, n + 1);
    let mut out: Vec<[f64; 2]> = Vec::with_capacity(points);
    for p in 0..points {
        let j = ((p as f64) * n as f64 / (points - 1) as f64).round() as usize;
        let j = j.min(n);
        let y = if total > 0.0 {
            cum[j] / total
        } else {
            j as f64 / n as f64
        };
        let pt = [j as f64 / n as f64, y.clamp(0.0, 1.0)];
        if out.last() != Some(&pt) {
            out.push(pt);
        }
    }
    out
}

/// Items ordered by training count, most popular first (ties by index).
fn popularity_order(counts: &[u32]) -> Vec<ItemIdx> {
    let mut order: Vec<ItemIdx> = (0..counts.len() as ItemIdx).collect();
    order.sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
    order
}

/// Exposure metrics of arbitrary top-K lists (each cut at `k`) against the training data
/// `train` (item popularity). [`exposure`] is this over a [`Run`].
///
/// # Errors
/// [`Error::InvalidParam`] for `k == 0`; [`Error::Data`] when a list holds an item outside the
/// catalogue of `train` or `train` has no interaction (popularity is undefined).
pub fn exposure_of_lists<'a>(
    lists: impl IntoIterator<Item = &'a [ItemIdx]>,
    train: &Interactions,
    k: usize,
) -> Result<Exposure> {
    if k == 0 {
        return Err(Error::param("k", "a list length >= 1", 0));
    }
    let n_items = train.n_items();
    let mut exposure = vec![0u64; n_items];
    let mut n_lists = 0usize;
    for list in lists {
        n_lists += 1;
        for &i in list.iter().take(k) {
            let slot = exposure.get_mut(i as usize).ok_or_else(|| {
                Error::Data(format!(
                    "a list holds item {i}, outside the catalogue 0..{n_items}"
                ))
            })?;
            *slot += 1;
        }
    }
    exposure_of_counts(&exposure, n_lists, train, k)
}

/// Exposure metrics from per-item exposure counts (`exposure[i]`: how many of the `n_lists`
/// lists of length at most `k` hold item `i`), against the training data `train` (item
/// popularity). [`exposure_of_lists`] counts lists and calls this; logged answers
/// ([`logged`]) are counted as they are read.
///
/// ```
/// use recs::data::{Interactions, Record};
/// use recs::eval::fairness::exposure_of_counts;
/// let recs = [(0, 0), (1, 0), (1, 1)]
///     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
/// let train = Interactions::from_records(2, 3, &recs, Default::default())?;
/// // three lists of one item: item 2 twice, item 0 once
/// let e = exposure_of_counts(&[1, 0, 2], 3, &train, 1)?;
/// assert_eq!((e.slots, e.never_exposed), (3, 1));
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParam`] for `k == 0` or counts of another length than the catalogue;
/// [`Error::Data`] when `train` has no interaction.
pub fn exposure_of_counts(
    exposure: &[u64],
    n_lists: usize,
    train: &Interactions,
    k: usize,
) -> Result<Exposure> {
    if k == 0 {
        return Err(Error::param("k", "a list length >= 1", 0));
    }
    let n_items = train.n_items();
    if exposure.len() != n_items {
        return Err(Error::param(
            "exposure",
            "one count per catalogue item",
            format!("{} counts for {n_items} items", exposure.len()),
        ));
    }
    let counts = train.item_counts();
    let total_interactions: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    if total_interactions == 0 || train.n_users() == 0 {
        return Err(Error::Data(
            "exposure needs training interactions (item popularity is undefined)".into(),
        ));
    }
    let n_users = train.n_users() as f64;
    let pop = |i: usize| f64::from(counts[i]) / n_users;

    let order = popularity_order(&counts);
    let mut is_top = vec![false; n_items];
    let n_top = ((n_items as f64) * TOP_SHARE).ceil() as usize;
    for &i in order.iter().take(n_top) {
        is_top[i as usize] = true;
    }
    let mut is_head = vec![false; n_items];
    let mut acc = 0u64;
    let head_target = HEAD_MASS * total_interactions as f64;
    for &i in &order {
        if acc as f64 >= head_target {
            break;
        }
        is_head[i as usize] = true;
        acc += u64::from(counts[i as usize]);
    }

    let (mut slots, mut top, mut tail, mut pop_sum) = (0u64, 0u64, 0u64, 0.0f64);
    for (iu, &e) in exposure.iter().enumerate() {
        slots += e;
        top += e * u64::from(is_top[iu]);
        tail += e * u64::from(!is_head[iu]);
        pop_sum += e as f64 * pop(iu);
    }
    let share = |x: u64| {
        if slots > 0 {
            x as f64 / slots as f64
        } else {
            0.0
        }
    };
    let exposed = exposure.iter().filter(|&&e| e > 0).count();
    let values: Vec<f64> = exposure.iter().map(|&e| e as f64).collect();
    let mean_pop_consumed = counts
        .iter()
        .enumerate()
        .map(|(i, &c)| f64::from(c) * pop(i))
        .sum::<f64>()
        / total_interactions as f64;
    let mean_pop_recommended = if slots > 0 {
        pop_sum / slots as f64
    } else {
        0.0
    };
    Ok(Exposure {
        k,
        n_lists,
        n_items,
        slots,
        coverage: if n_items > 0 {
            exposed as f64 / n_items as f64
        } else {
            0.0
        },
        never_exposed: n_items - exposed,
        gini: gini(&values),
        top10_share: share(top),
        long_tail_share: share(tail),
        long_tail_items: is_head.iter().filter(|&&h| !h).count(),
        mean_pop_recommended,
        mean_pop_consumed,
        popularity_bias: mean_pop_recommended / mean_pop_consumed,
        lorenz: lorenz_curve(&values, LORENZ_POINTS),
    })
}

/// Exposure metrics of the top-`k` lists of a full-ranking [`Run`] (every test user's list; run
/// it over a test set holding every user to cover all users).
///
/// # Errors
/// [`Error::InvalidParam`] for `k == 0`, `k > run.k_max` or a run under the sampled-candidates
/// protocol (its lists rank ~100 sampled candidates, not the catalogue); [`Error::Data`] as
/// [`exposure_of_lists`] or when the run and `train` disagree on the catalogue size.
pub fn exposure(run: &Run, train: &Interactions, k: usize) -> Result<Exposure> {
    if let Protocol::SampledCandidates { .. } = run.protocol {
        return Err(Error::param(
            "run",
            "a full-ranking run (exposure is over the whole catalogue)",
            run.protocol.to_string(),
        ));
    }
    if k > run.k_max {
        return Err(Error::param(
            "k",
            "a list length no larger than the run's k_max",
            format!("{k} > {}", run.k_max),
        ));
    }
    if run.n_items != train.n_items() {
        return Err(Error::Data(format!(
            "the run ranks {} items but the training data has {}",
            run.n_items,
            train.n_items()
        )));
    }
    let lists: Vec<Vec<ItemIdx>> = run
        .per_user
        .values()
        .map(|l| l.iter().map(|s| s.item).collect())
        .collect();
    exposure_of_lists(lists.iter().map(Vec::as_slice), train, k)
}

/// An assignment of users to named groups along one attribute (gender, age band, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserGroups {
    /// The attribute, e.g. `"gender"`.
    pub attribute: String,
    /// Group names, in display order.
    pub names: Vec<String>,
    /// Group of each user (by dense index) as an index into `names`; `None` when unknown.
    pub of_user: Vec<Option<u32>>,
}

/// The ML-1M age band of an age (ML-1M stores the band's lower bound; ML-100K the age):
/// `under 18`, `18-24`, `25-34`, `35-44`, `45-49`, `50-55`, `56+`.
///
/// ```
/// use recs::eval::fairness::age_band;
/// assert_eq!(age_band(1), "under 18");
/// assert_eq!(age_band(25), "25-34");
/// assert_eq!(age_band(56), "56+");
/// ```
pub fn age_band(age: u32) -> &'static str {
    match age {
        0..=17 => "under 18",
        18..=24 => "18-24",
        25..=34 => "25-34",
        35..=44 => "35-44",
        45..=49 => "45-49",
        50..=55 => "50-55",
        _ => "56+",
    }
}

const AGE_BANDS: [&str; 7] = [
    "under 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+",
];

impl UserGroups {
    /// Groups from per-user labels (`None` = unknown); names sorted by `order` when given
    /// (names missing from it follow, sorted), else alphabetically.
    pub fn from_labels(
        attribute: impl Into<String>,
        labels: &[Option<String>],
        order: Option<&[&str]>,
    ) -> UserGroups {
        let mut names: Vec<String> = labels.iter().flatten().cloned().collect();
        names.sort();
        names.dedup();
        if let Some(order) = order {
            let rank = |n: &String| order.iter().position(|o| o == n).unwrap_or(order.len());
            names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
        }
        let index: BTreeMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i as u32))
            .collect();
        let of_user = labels
            .iter()
            .map(|l| l.as_deref().and_then(|l| index.get(l).copied()))
            .collect();
        UserGroups {
            attribute: attribute.into(),
            names,
            of_user,
        }
    }

    /// Gender, age band ([`age_band`]) and occupation groups from MovieLens user records.
    ///
    /// User index `u` is matched to the record whose id is `users.external(u) + id_offset`:
    /// 0 when the data kept the MovieLens ids (`ratings.dat` loaded by `recs::data`), 1 for
    /// the NCF files, whose user ids are `UserID − 1` (see the data README). Users without a
    /// record are left unassigned.
    ///
    /// ```
    /// use recs::data::{UserInfo, Vocab};
    /// use recs::eval::fairness::UserGroups;
    /// let info = |id, gender, age| UserInfo { id, gender, age, occupation: "writer".into(), zip: String::new() };
    /// let users = [info(1, 'F', 1), info(2, 'M', 56)];
    /// let g = UserGroups::demographics(&users, &Vocab::identity(3), 1); // NCF ids 0, 1, 2
    /// assert_eq!(g[0].attribute, "gender");
    /// assert_eq!(g[0].of_user, vec![Some(0), Some(1), None]); // F, M, unknown
    /// assert_eq!(g[1].names, ["under 18", "56+"]);
    /// ```
    pub fn demographics(info: &[UserInfo], users: &Vocab, id_offset: i64) -> Vec<UserGroups> {
        let by_id: BTreeMap<i64, &UserInfo> = info.iter().map(|u| (u.id, u)).collect();
        let rec = |u: usize| {
            users
                .external(u as u32)
                .and_then(|id| by_id.get(&(id + id_offset)).copied())
        };
        let n = users.len();
        let label = |f: &dyn Fn(&UserInfo) -> String| -> Vec<Option<String>> {
            (0..n).map(|u| rec(u).map(f)).collect()
        };
        vec![
            UserGroups::from_labels("gender", &label(&|r| r.gender.to_string()), None),
            UserGroups::from_labels(
                "age",
                &label(&|r| age_band(r.age).to_string()),
                Some(&AGE_BANDS),
            ),
            UserGroups::from_labels("occupation", &label(&|r| r.occupation.clone()), None),
        ]
    }

    /// Activity bands: the users in `users` split into `bands` quantile bands of their number
    /// of training interactions (users with equal counts share a band, so a band may be empty
    /// and is then dropped). Names read `q1: 20-35 items` (lowest activity first).
    ///
    /// ```
    /// use recs::data::{Interactions, Record};
    /// use recs::eval::fairness::UserGroups;
    /// let recs: Vec<Record> = [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2), (3, 0), (3, 1), (3, 2), (3, 3)]
    ///     .iter().map(|&(user, item)| Record { user, item, value: 1.0, timestamp: None }).collect();
    /// let train = Interactions::from_records(4, 4, &recs, Default::default())?;
    /// let g = UserGroups::activity(&train, &[0, 1, 2, 3], 2)?;
    /// assert_eq!(g.names, ["q1: 1-2 items", "q2: 3-4 items"]);
    /// assert_eq!(g.of_user, vec![Some(0), Some(0), Some(1), Some(1)]);
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for `bands == 0`; [`Error::Data`] for a user outside `train`.
    pub fn activity(train: &Interactions, users: &[UserIdx], bands: usize) -> Result<UserGroups> {
        if bands == 0 {
            return Err(Error::param("bands", "a number of bands >= 1", 0));
        }
        let counts = train.user_counts();
        let mut mine = Vec::with_capacity(users.len());
        for &u in users {
            let c = *counts
                .get(u as usize)
                .ok_or_else(|| Error::Data(format!("user {u} outside 0..{}", train.n_users())))?;
            mine.push(c);
        }
        let mut sorted = mine.clone();
        sorted.sort_unstable();
        // Upper cut of band b: the count at quantile (b + 1) / bands.
        let cuts: Vec<u32> = (1..bands)
            .map(|b| {
                let pos = (b * sorted.len()).div_ceil(bands).saturating_sub(1);
                sorted.get(pos).copied().unwrap_or(0)
            })
            .collect();
        let band_of = |c: u32| cuts.iter().filter(|&&cut| c > cut).count();
        let mut lo = vec![u32::MAX; bands];
        let mut hi = vec![0u32; bands];
        for &c in &mine {
            let b = band_of(c);
            lo[b] = lo[b].min(c);
            hi[b] = hi[b].max(c);
        }
        let kept: Vec<usize> = (0..bands).filter(|&b| lo[b] != u32::MAX).collect();
        let names: Vec<String> = kept
            .iter()
            .enumerate()
            .map(|(q, &b)| format!("q{}: {}-{} items", q + 1, lo[b], hi[b]))
            .collect();
        let mut of_user = vec![None; train.n_users()];
        for (&u, &c) in users.iter().zip(&mine) {
            let b = band_of(c);
            of_user[u as usize] = kept.iter().position(|&k| k == b).map(|p| p as u32);
        }
        Ok(UserGroups {
            attribute: "activity".into(),
            names,
            of_user,
        })
    }
}

/// One group's value of a metric, its 95 % interval and its gap to the overall value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStat {
    /// Group name.
    pub group: String,
    /// Users of the group with a value.
    pub n_users: usize,
    /// Mean of the metric over the group.
    pub mean: f64,
    /// Normal-approximation 95 % interval of the mean (`mean ± 1.96 s_p/√n`, pooled `s_p`);
    /// `None` with fewer than 3 users in all.
    pub ci95: Option<[f64; 2]>,
    /// `mean − overall`.
    pub gap: f64,
    /// 95 % interval of the gap; `None` when no other user has a value or fewer than 3 in all.
    pub gap_ci95: Option<[f64; 2]>,
}

/// A metric split by one attribute's groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupQuality {
    /// The attribute (`gender`, `age`, `occupation`, `activity`).
    pub attribute: String,
    /// The metric label, e.g. `ndcg@10`.
    pub metric: String,
    /// Mean over all users with a value (the report's summary value).
    pub overall: f64,
    /// Users with a value.
    pub n_users: usize,
    /// Users with a value but no group (counted in `overall` only).
    pub unassigned: usize,
    /// One entry per group with at least one user, in the groups' display order.
    pub groups: Vec<GroupStat>,
}

fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var)
}

/// Splits a per-user metric column of `report` by `groups`, with 95 % intervals.
///
/// Intervals are normal approximations with the **pooled** standard deviation `s_p` of the group
/// and the rest `r` (every other user with a value; `s_p² = ((n_g−1)s_g² + (n_r−1)s_r²)/(N−2)`,
/// the classic equal-variance two-sample interval). The group mean's interval is
/// `m_g ± 1.96 s_p/√n_g`. The gap to the overall mean is `m_g − m = (n_r/N)(m_g − m_r)`, so its
/// interval is `gap ± 1.96 (n_r/N) s_p √(1/n_g + 1/n_r)`. Pooling keeps a small group whose
/// values are all equal (say 17 users, no hit) from getting a zero-width interval, which the
/// group's own variance would give; the price is a slightly wrong width when the group's
/// variance really differs from the rest's. For HR (0/1 values) read the intervals of groups
/// under ~30 users with care.
///
/// ```
/// use recs::eval::fairness::{quality_by_group, UserGroups};
/// use recs::eval::{measure, Hr, Metric, Protocol, Run};
/// use recs::data::{TestCase, TestSet};
/// use recs::model::Scored;
/// let list = |item| vec![Scored { item, score: 1.0 }];
/// let run = Run { model: "hand".into(), split: "toy".into(), protocol: Protocol::default(),
///     k_max: 1, n_items: 5, seconds: 0.0, missing: vec![],
///     per_user: (0..4).map(|u| (u, list(u))).collect() };
/// // users 0 and 1 miss, 2 and 3 hit
/// let truth = [4, 4, 2, 3];
/// let cases = (0..4).map(|u| TestCase { user: u, items: vec![truth[u as usize]], negatives: None }).collect();
/// let metrics: Vec<Box<dyn Metric>> = vec![Box::new(Hr::new(1))];
/// let report = measure(&run, &TestSet { cases }, &metrics)?;
/// let groups = UserGroups { attribute: "half".into(), names: vec!["a".into(), "b".into()],
///     of_user: vec![Some(0), Some(0), Some(1), Some(1)] };
/// let q = quality_by_group(&report, &groups, "hr@1")?;
/// assert_eq!(q.overall, 0.5);
/// assert_eq!((q.groups[0].mean, q.groups[0].gap), (0.0, -0.5));
/// assert_eq!(q.groups[1].ci95, Some([1.0, 1.0]));
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::Data`] when the report has no per-user values or no column `metric`, or a user is
/// outside `groups`.
pub fn quality_by_group(
    report: &Report,
    groups: &UserGroups,
    metric: &str,
) -> Result<GroupQuality> {
    let pu = report.per_user.as_ref().ok_or_else(|| {
        Error::Data("the report kept no per-user values (evaluate with per_user(true))".into())
    })?;
    let column = pu.columns.get(metric).ok_or_else(|| {
        Error::Data(format!(
            "the report has no per-user column `{metric}` (it has {:?})",
            pu.columns.keys().collect::<Vec<_>>()
        ))
    })?;
    let mut by_group: Vec<Vec<f64>> = vec![Vec::new(); groups.names.len()];
    let mut all = Vec::new();
    let mut unassigned = 0;
    for (&u, v) in pu.users.iter().zip(column) {
        let Some(v) = *v else { continue };
        all.push(v);
        let g = groups.of_user.get(u as usize).ok_or_else(|| {
            Error::Data(format!(
                "user {u} outside the {} users of the `{}` groups",
                groups.of_user.len(),
                groups.attribute
            ))
        })?;
        match g.and_then(|g| by_group.get_mut(g as usize)) {
            Some(vals) => vals.push(v),
            None => unassigned += 1,
        }
    }
    let (overall, _) = mean_var(&all);
    let n_all = all.len();
    let sum_all: f64 = all.iter().sum();
    let sumsq_all: f64 = all.iter().map(|x| x * x).sum();
    let stats = groups
        .names
        .iter()
        .zip(&by_group)
        .filter(|(_, v)| !v.is_empty())
        .map(|(name, v)| {
            let (m, var_g) = mean_var(v);
            let n = v.len();
            // The rest: every other user with a value.
            let n_r = n_all - n;
            let sum_r = sum_all - v.iter().sum::<f64>();
            let sumsq_r = sumsq_all - v.iter().map(|x| x * x).sum::<f64>();
            let var_r = if n_r > 1 {
                let m_r = sum_r / n_r as f64;
                ((sumsq_r - n_r as f64 * m_r * m_r) / (n_r as f64 - 1.0)).max(0.0)
            } else {
                0.0
            };
            // Pooled variance of the group and the rest (N - 2 degrees of freedom).
            let pooled = (n_all >= 3).then(|| {
                ((n as f64 - 1.0) * var_g + (n_r as f64 - 1.0).max(0.0) * var_r)
                    / (n_all as f64 - 2.0)
            });
            let ci95 = pooled.map(|vp| {
                let h = Z95 * (vp / n as f64).sqrt();
                [m - h, m + h]
            });
            let gap = m - overall;
            let gap_ci95 = pooled.filter(|_| n_r >= 1).map(|vp| {
                let w = n_r as f64 / n_all as f64;
                let h = Z95 * w * (vp * (1.0 / n as f64 + 1.0 / n_r as f64)).sqrt();
                [gap - h, gap + h]
            });
            GroupStat {
                group: name.clone(),
                n_users: n,
                mean: m,
                ci95,
                gap,
                gap_ci95,
            }
        })
        .collect();
    Ok(GroupQuality {
        attribute: groups.attribute.clone(),
        metric: metric.to_string(),
        overall,
        n_users: n_all,
        unassigned,
        groups: stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Split, TestCase, TestSet};
    use crate::eval::{run, Evaluator, FullRanking};
    use crate::model::{Fit, Popularity, Scored};
    use proptest::prelude::*;

    fn interactions(n_users: usize, n_items: usize, pairs: &[(u32, u32)]) -> Interactions {
        Interactions::from_pairs(n_users, n_items, pairs)
    }

    /// Mean absolute difference over ordered pairs / (2 mean): the textbook definition.
    fn gini_pairs(x: &[f64]) -> f64 {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        if mean == 0.0 {
            return 0.0;
        }
        let mut s = 0.0;
        for a in x {
            for b in x {
                s += (a - b).abs();
            }
        }
        s / (2.0 * n * n * mean)
    }

    #[test]
    fn gini_of_known_vectors() {
        // [1,2,3,4]: pairwise |diffs| sum 20 over 16 ordered pairs, mean 2.5 -> 20 / 80
        assert!((gini(&[4.0, 1.0, 3.0, 2.0]) - 0.25).abs() < 1e-12);
        // one of four items takes everything: (n-1)/n
        assert!((gini(&[0.0, 5.0, 0.0, 0.0]) - 0.75).abs() < 1e-12);
        assert_eq!(gini(&[3.0; 7]), 0.0);
        assert_eq!(gini(&[]), 0.0);
        assert_eq!(gini(&[0.0, 0.0]), 0.0);
    }

    #[test]
    fn exposure_of_hand_lists() {
        // 4 users; item counts: item0 = 3, item1 = 2, item2 = 1, item3..=9 = 0 (6 interactions)
        let train = interactions(4, 10, &[(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (3, 2)]);
        let lists: [&[ItemIdx]; 3] = [&[0, 1, 5], &[0, 2], &[0, 9]];
        let e = exposure_of_lists(lists, &train, 2).unwrap();
        // cut at k = 2: exposure item0 = 3, item1 = 1, item2 = 1, item9 = 1 -> 6 slots
        assert_eq!(e.slots, 6);
        assert_eq!(e.n_lists, 3);
        assert_eq!(e.never_exposed, 6);
        assert!((e.coverage - 0.4).abs() < 1e-12);
        // top 10% = ceil(1) item = item 0: 3 of 6 slots
        assert!((e.top10_share - 0.5).abs() < 1e-12);
        // head holds >= 80% of 6 interactions: item0 (3) + item1 (2) = 5 >= 4.8 -> tail = 8 items;
        // tail slots: item2 and item9 = 2 of 6
        assert_eq!(e.long_tail_items, 8);
        assert!((e.long_tail_share - 2.0 / 6.0).abs() < 1e-12);
        // popularity = count / 4 users; recommended mean = (3*0.75 + 0.5 + 0.25 + 0) / 6
        assert!((e.mean_pop_recommended - 3.0 / 6.0).abs() < 1e-12);
        // consumed mean = (3*0.75 + 2*0.5 + 1*0.25) / 6 = 3.5 / 6
        assert!((e.mean_pop_consumed - 3.5 / 6.0).abs() < 1e-12);
        assert!((e.popularity_bias - 3.0 / 3.5).abs() < 1e-12);
        // gini over 10 items [3,1,1,1,0*6]: sorted weights (2j-11): j=7..10 -> 3,5,7,9
        // -> (3*1 + 5*1 + 7*1 + 9*3) / (10 * 6) = 42 / 60
        assert!((e.gini - 0.7).abs() < 1e-12);
        assert_eq!(e.lorenz.first(), Some(&[0.0, 0.0]));
        assert_eq!(e.lorenz.last(), Some(&[1.0, 1.0]));
    }

    #[test]
    fn exposure_rejects_bad_input() {
        let train = interactions(2, 3, &[(0, 0)]);
        assert!(matches!(
            exposure_of_lists([&[0u32][..]], &train, 0),
            Err(Error::InvalidParam { .. })
        ));
        assert!(matches!(
            exposure_of_lists([&[7u32][..]], &train, 1),
            Err(Error::Data(_))
        ));
        assert!(matches!(
            exposure_of_lists([&[0u32][..]], &Interactions::empty(2, 3), 1),
            Err(Error::Data(_))
        ));
    }

    fn toy_split() -> Split {
        let train = interactions(
            5,
            6,
            &[
                (0, 0),
                (1, 0),
                (1, 1),
                (2, 0),
                (2, 2),
                (3, 1),
                (4, 0),
                (4, 3),
            ],
        );
        let cases = (0..5)
            .map(|user| TestCase {
                user,
                items: vec![if user % 2 == 0 { 1 } else { 4 }],
                negatives: None,
            })
            .collect();
        Split {
            name: "toy".into(),
            train,
            test: TestSet { cases },
            users: Vocab::identity(5),
            items: Vocab::identity(6),
        }
    }

    #[test]
    fn exposure_of_a_run_uses_its_lists() {
        let split = toy_split();
        let model = Popularity::params().fit(&split.train).unwrap();
        let r = run(&model, &split, &Protocol::default(), 2).unwrap();
        let e = exposure(&r, &split.train, 2).unwrap();
        let lists: Vec<Vec<ItemIdx>> = r.per_user.keys().map(|&u| r.items_of(u).unwrap()).collect();
        let direct = exposure_of_lists(lists.iter().map(Vec::as_slice), &split.train, 2).unwrap();
        assert_eq!(e, direct);
        assert_eq!(e.n_lists, 5);
        assert!(matches!(
            exposure(&r, &split.train, 3),
            Err(Error::InvalidParam { .. })
        ));
        let sampled = Run {
            protocol: Protocol::SampledCandidates { n: 3, seed: 0 },
            ..r
        };
        assert!(exposure(&sampled, &split.train, 1).is_err());
    }

    #[test]
    fn group_quality_matches_hand_values() {
        let split = toy_split();
        let model = Popularity::params().fit(&split.train).unwrap();
        let report = FullRanking::new()
            .ks([1])
            .per_user(true)
            .latency_users(0)
            .evaluate(&model, &split)
            .unwrap();
        let hr = &report.per_user.as_ref().unwrap().columns["hr@1"];
        let values: Vec<f64> = hr.iter().map(|v| v.unwrap()).collect();
        let groups = UserGroups {
            attribute: "parity".into(),
            names: vec!["even".into(), "odd".into()],
            of_user: (0..5).map(|u| Some(u % 2)).collect(),
        };
        let q = quality_by_group(&report, &groups, "hr@1").unwrap();
        let even: Vec<f64> = [0, 2, 4].map(|u| values[u]).to_vec();
        let mean_even = even.iter().sum::<f64>() / 3.0;
        assert_eq!(q.n_users, 5);
        assert_eq!(q.overall, report.get("hr@1").unwrap());
        assert!((q.groups[0].mean - mean_even).abs() < 1e-12);
        assert!((q.groups[0].gap - (mean_even - q.overall)).abs() < 1e-12);
        assert!(quality_by_group(&report, &groups, "ndcg@5").is_err());
    }

    #[test]
    fn group_intervals_by_hand() {
        // values a = [0, 1] (mean .5, s^2 = .5), b = [1, 1, 1] (mean 1, s^2 = 0)
        let users: Vec<UserIdx> = (0..5).collect();
        let col = vec![Some(0.0), Some(1.0), Some(1.0), Some(1.0), Some(1.0)];
        let report = Report {
            name: "h".into(),
            model: "h".into(),
            split: "s".into(),
            protocol: Protocol::default(),
            k_max: 1,
            n_items: 1,
            n_users: 5,
            n_missing: 0,
            summary: BTreeMap::new(),
            per_user: Some(crate::eval::PerUser {
                users,
                columns: [("hr@1".to_string(), col)].into(),
            }),
            timings: Default::default(),
        };
        let groups = UserGroups {
            attribute: "x".into(),
            names: vec!["a".into(), "b".into(), "empty".into()],
            of_user: vec![Some(0), Some(0), Some(1), Some(1), Some(1)],
        };
        let q = quality_by_group(&report, &groups, "hr@1").unwrap();
        assert_eq!(q.groups.len(), 2, "empty groups are dropped");
        assert!((q.overall - 0.8).abs() < 1e-12);
        let a = &q.groups[0];
        // pooled: (1 * 0.5 + 2 * 0) / (5 - 2) = 1/6
        let vp = 1.0 / 6.0;
        let h = Z95 * (vp / 2.0f64).sqrt();
        let ci = a.ci95.unwrap();
        assert!((ci[0] - (0.5 - h)).abs() < 1e-12 && (ci[1] - (0.5 + h)).abs() < 1e-12);
        // gap = (3/5)(0.5 - 1) = -0.3; half-width 1.96 * 3/5 * sqrt(vp * (1/2 + 1/3))
        assert!((a.gap + 0.3).abs() < 1e-12);
        let g = a.gap_ci95.unwrap();
        let hg = Z95 * 0.6 * (vp * (0.5 + 1.0 / 3.0f64)).sqrt();
        assert!((g[0] - (-0.3 - hg)).abs() < 1e-12 && (g[1] - (-0.3 + hg)).abs() < 1e-12);
        // group b's own values are all equal, its interval is still not empty
        let b = q.groups[1].ci95.unwrap();
        assert!(b[0] < 1.0 && b[1] > 1.0);
    }

    #[test]
    fn activity_bands_split_by_quantile() {
        // user u has u + 1 items (1..=8)
        let pairs: Vec<(u32, u32)> = (0..8u32)
            .flat_map(|u| (0..=u).map(move |i| (u, i)))
            .collect();
        let train = interactions(8, 8, &pairs);
        let users: Vec<UserIdx> = (0..8).collect();
        let g = UserGroups::activity(&train, &users, 4).unwrap();
        assert_eq!(
            g.names,
            [
                "q1: 1-2 items",
                "q2: 3-4 items",
                "q3: 5-6 items",
                "q4: 7-8 items"
            ]
        );
        assert_eq!(g.of_user[0], Some(0));
        assert_eq!(g.of_user[7], Some(3));
        assert!(UserGroups::activity(&train, &users, 0).is_err());
        assert!(UserGroups::activity(&train, &[9], 2).is_err());
    }

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<Exposure>();
        has::<UserGroups>();
        has::<GroupQuality>();
    }

    proptest! {
        #[test]
        fn gini_in_unit_interval_and_equals_pairwise(x in proptest::collection::vec(0u32..50, 1..40)) {
            let v: Vec<f64> = x.iter().map(|&c| f64::from(c)).collect();
            let g = gini(&v);
            prop_assert!((0.0..1.0).contains(&g));
            prop_assert!((g - gini_pairs(&v)).abs() < 1e-9);
            // Gini = 1 - 2 * area under the full Lorenz curve (trapezoids)
            let l = lorenz_curve(&v, v.len() + 1);
            let area: f64 = l.windows(2).map(|w| (w[1][0] - w[0][0]) * (w[1][1] + w[0][1]) / 2.0).sum();
            if v.iter().sum::<f64>() > 0.0 {
                prop_assert!((g - (1.0 - 2.0 * area)).abs() < 1e-9);
            }
        }

        #[test]
        fn exposure_invariants(
            pairs in proptest::collection::vec((0u32..6, 0u32..12), 1..40),
            lists in proptest::collection::vec(proptest::collection::vec(0u32..12, 0..8), 0..10),
            k in 1usize..6,
        ) {
            let train = interactions(6, 12, &pairs);
            let e = exposure_of_lists(lists.iter().map(Vec::as_slice), &train, k).unwrap();
            prop_assert!((0.0..=1.0).contains(&e.coverage));
            prop_assert!((0.0..1.0).contains(&e.gini));
            prop_assert!((0.0..=1.0).contains(&e.top10_share));
            prop_assert!((0.0..=1.0).contains(&e.long_tail_share));
            prop_assert!(e.never_exposed <= e.n_items);
            prop_assert_eq!(e.slots as usize, lists.iter().map(|l| l.len().min(k)).sum::<usize>());
            prop_assert!(e.mean_pop_recommended >= 0.0 && e.mean_pop_recommended <= 1.0);
            prop_assert!(e.lorenz.windows(2).all(|w| w[0][0] < w[1][0] && w[0][1] <= w[1][1] + 1e-12));
            // Lorenz lies on or below the diagonal
            prop_assert!(e.lorenz.iter().all(|p| p[1] <= p[0] + 1e-12));
        }

        #[test]
        fn group_gaps_average_to_zero(values in proptest::collection::vec(0u8..=1, 4..40), seed in 0u32..7) {
            let n = values.len();
            let users: Vec<UserIdx> = (0..n as u32).collect();
            let col: Vec<Option<f64>> = values.iter().map(|&v| Some(f64::from(v))).collect();
            let report = Report {
                name: "p".into(), model: "p".into(), split: "s".into(), protocol: Protocol::default(),
                k_max: 1, n_items: 1, n_users: n, n_missing: 0, summary: BTreeMap::new(),
                per_user: Some(crate::eval::PerUser { users, columns: [("hr@1".to_string(), col)].into() }),
                timings: Default::default(),
            };
            let groups = UserGroups {
                attribute: "g".into(),
                names: vec!["a".into(), "b".into(), "c".into()],
                of_user: (0..n as u32).map(|u| Some((u.wrapping_mul(seed + 1) + seed) % 3)).collect(),
            };
            let q = quality_by_group(&report, &groups, "hr@1").unwrap();
            // user-weighted gaps sum to zero; every group mean lies in its interval
            let weighted: f64 = q.groups.iter().map(|g| g.gap * g.n_users as f64).sum();
            prop_assert!(weighted.abs() < 1e-9);
            for g in &q.groups {
                prop_assert!((0.0..=1.0).contains(&g.mean));
                if let Some([lo, hi]) = g.ci95 { prop_assert!(lo <= g.mean && g.mean <= hi); }
                if let Some([lo, hi]) = g.gap_ci95 { prop_assert!(lo <= g.gap && g.gap <= hi); }
            }
        }
    }

    #[test]
    fn scored_lists_are_read_in_order() {
        // a Run's lists are best first; exposure cuts them at k
        let train = interactions(2, 4, &[(0, 0), (1, 1)]);
        let run = Run {
            model: "hand".into(),
            split: "s".into(),
            protocol: Protocol::default(),
            k_max: 3,
            n_items: 4,
            per_user: [(
                0,
                vec![
                    Scored {
                        item: 3,
                        score: 2.0,
                    },
                    Scored {
                        item: 2,
                        score: 1.0,
                    },
                ],
            )]
            .into(),
            missing: vec![],
            seconds: 0.0,
        };
        let e = exposure(&run, &train, 1).unwrap();
        assert_eq!(e.slots, 1);
        assert_eq!(e.never_exposed, 3);
    }
}
