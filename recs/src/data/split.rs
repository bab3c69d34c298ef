//! Train/test splitters: plain functions from a [`Dataset`] to a [`Split`] (as LensKit's
//! `LastN`, `SampleFrac`/`SampleN` and temporal splits), deterministic under a seed.
//!
//! Every splitter keeps the shape and vocabularies of the input: `split.train` has the same
//! `n_users × n_items` as the dataset, and each (user, item) entry goes to exactly one side.
//! The NCF pre-split files are loaded by [`load_ncf`](super::load_ncf).
//!
//! "Latest" means the largest timestamp, ties broken by input order ([`Dataset::order`], the
//! position of the record in the file); without timestamps it is input order alone, and without
//! input order (a dataset built by [`Dataset::from_interactions`]) it falls back to the item
//! index.

use super::rng::Rng;
use super::{Dataset, Interactions, ItemIdx, Split, TestCase, TestSet, UserIdx};
use crate::{Error, Result};

/// How many interactions of each user [`random_holdout`] holds out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Holdout {
    /// `round(f × n_u)` of the user's `n_u` interactions; `f` in `(0, 1)`.
    Fraction(f64),
    /// This many (at least 1).
    Count(usize),
}

/// Where [`temporal_cut`] separates train from test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cut {
    /// Interactions at or after this Unix time (seconds) are test.
    Timestamp(i64),
    /// The latest `round(f × nnz)` interactions are test; `f` in `(0, 1)`.
    Fraction(f64),
}

/// The chronological sort key of each stored entry: (timestamp or 0, input position or entry
/// index).
fn keys(data: &Dataset) -> Vec<(i64, u64)> {
    let m = &data.interactions;
    let ts = m.timestamps();
    let order = data.order.as_deref().filter(|o| o.len() == m.nnz());
    (0..m.nnz())
        .map(|k| {
            (
                ts.map_or(0, |t| t[k]),
                order.map_or(k as u64, |o| o[k] as u64),
            )
        })
        .collect()
}

/// Builds the split from a per-entry test mask.
fn from_mask(data: &Dataset, is_test: &[bool], name: String) -> Result<Split> {
    let m = &data.interactions;
    let indptr = m.indptr();
    let ts = m.timestamps();
    let keep = is_test.iter().filter(|&&t| !t).count();
    let mut tr_indptr = Vec::with_capacity(m.n_users() + 1);
    tr_indptr.push(0);
    let mut tr_indices = Vec::with_capacity(keep);
    let mut tr_values = Vec::with_capacity(keep);
    let mut tr_ts = ts.map(|_| Vec::with_capacity(keep));
    let mut cases = Vec::new();
    for u in 0..m.n_users() {
        let mut held: Vec<ItemIdx> = Vec::new();
        for k in indptr[u]..indptr[u + 1] {
            if is_test[k] {
                held.push(m.indices()[k]);
            } else {
                tr_indices.push(m.indices()[k]);
                tr_values.push(m.values()[k]);
                if let (Some(dst), Some(src)) = (tr_ts.as_mut(), ts) {
                    dst.push(src[k]);
                }
            }
        }
        tr_indptr.push(tr_indices.len());
        if !held.is_empty() {
            // CSR rows are sorted, so `held` is sorted and unique.
            cases.push(TestCase {
                user: u as UserIdx,
                items: held,
                negatives: None,
            });
        }
    }
    let train = Interactions::from_csr(m.n_items(), tr_indptr, tr_indices, tr_values, tr_ts)?;
    Ok(Split {
        name,
        train,
        test: TestSet { cases },
        users: data.users.clone(),
        items: data.items.clone(),
    })
}

/// Holds out each user's latest interaction ([`leave_last_n`] with `n = 1`); users with a single
/// interaction stay wholly in train. The split is named `"leave-last-out"`.
///
/// # Errors
/// As [`leave_last_n`].
///
/// ```
/// use recs::data::{split, Dataset, Duplicates};
/// // user 1 rates item 10 at t=5, item 11 at t=9, item 12 at t=7; user 2 has one rating.
/// let d = Dataset::from_external(&[1, 1, 1, 2], &[10, 11, 12, 10], None,
///     Some(&[5, 9, 7, 1]), Duplicates::KeepLast)?;
/// let s = split::leave_last_out(&d)?;
/// assert_eq!(s.test.cases.len(), 1);
/// assert_eq!(s.items.external(s.test.cases[0].items[0]), Some(11));
/// assert_eq!(s.train.nnz(), 3);
/// # Ok::<(), recs::Error>(())
/// ```
pub fn leave_last_out(data: &Dataset) -> Result<Split> {
    let mut s = leave_last_n(data, 1)?;
    s.name = "leave-last-out".into();
    Ok(s)
}

/// Holds out each user's `n` latest interactions (largest timestamp, ties by input order; see
/// the module docs). Users with `n` or fewer interactions stay wholly in train.
///
/// # Errors
/// [`Error::InvalidParam`] when `n == 0`.
pub fn leave_last_n(data: &Dataset, n: usize) -> Result<Split> {
    if n == 0 {
        return Err(Error::param("n", "at least 1", n));
    }
    let m = &data.interactions;
    let key = keys(data);
    let mut is_test = vec![false; m.nnz()];
    let indptr = m.indptr();
    let mut row: Vec<usize> = Vec::new();
    for u in 0..m.n_users() {
        let (a, b) = (indptr[u], indptr[u + 1]);
        if b - a <= n {
            continue;
        }
        row.clear();
        row.extend(a..b);
        row.sort_unstable_by_key(|&k| std::cmp::Reverse(key[k]));
        for &k in &row[..n] {
            is_test[k] = true;
        }
    }
    from_mask(data, &is_test, format!("leave-last-{n}-out"))
}

/// Holds out random interactions of each user, chosen with a generator seeded by `seed` and the
/// user's index (the result does not depend on thread count or on other users). A user keeps at
/// least one training interaction: users with one interaction stay wholly in train.
///
/// # Errors
/// [`Error::InvalidParam`] for a fraction outside `(0, 1)` or a count of 0.
///
/// ```
/// use recs::data::{split::{self, Holdout}, Dataset, Duplicates};
/// let users: Vec<i64> = (0..100).map(|k| k / 10).collect();
/// let items: Vec<i64> = (0..100).map(|k| k % 10).collect();
/// let d = Dataset::from_external(&users, &items, None, None, Duplicates::KeepLast)?;
/// let s = split::random_holdout(&d, Holdout::Fraction(0.2), 42)?;
/// assert_eq!(s.test.n_items_total(), 20);
/// assert_eq!(s.train.nnz(), 80);
/// assert_eq!(s, split::random_holdout(&d, Holdout::Fraction(0.2), 42)?);
/// # Ok::<(), recs::Error>(())
/// ```
pub fn random_holdout(data: &Dataset, holdout: Holdout, seed: u64) -> Result<Split> {
    let name = match holdout {
        Holdout::Fraction(f) => {
            if !(f > 0.0 && f < 1.0) {
                return Err(Error::param("fraction", "a number in (0, 1)", f));
            }
            format!("random-holdout-{f}-seed-{seed}")
        }
        Holdout::Count(c) => {
            if c == 0 {
                return Err(Error::param("count", "at least 1", c));
            }
            format!("random-holdout-{c}-seed-{seed}")
        }
    };
    let m = &data.interactions;
    let indptr = m.indptr();
    let mut is_test = vec![false; m.nnz()];
    let mut row: Vec<usize> = Vec::new();
    for u in 0..m.n_users() {
        let (a, b) = (indptr[u], indptr[u + 1]);
        let len = b - a;
        if len < 2 {
            continue;
        }
        let k = match holdout {
            Holdout::Fraction(f) => (f * len as f64).round() as usize,
            Holdout::Count(c) => c,
        }
        .min(len - 1);
        if k == 0 {
            continue;
        }
        shuffle_prefix(&mut row, a..b, k, seed, u);
        for &e in &row[..k] {
            is_test[e] = true;
        }
    }
    from_mask(data, &is_test, name)
}

/// `folds` disjoint random hold-outs of each user's interactions, for K-fold cross-validation:
/// fold `f` holds out the positions `round(f·F·n_u) .. round((f+1)·F·n_u)` (at most `n_u`) of
/// the user's `n_u` interactions in a random order drawn as [`random_holdout`] draws it (the
/// same generator, seeded by `seed` and the user's index), so fold 0 is exactly
/// `random_holdout(data, Holdout::Fraction(F), seed)`. Each fold holds out about `F·n_u`; with
/// `folds · F = 1` (`F = 0.2`, 5 folds) the folds cover every interaction of each user once,
/// with fewer they cover `folds · F` of them. As in [`random_holdout`], a user keeps at least
/// one training interaction in every fold (a fold holds out at most `n_u − 1`), and users with
/// one interaction are never held out. A user may have nothing held out in some folds (a fold
/// of `round` width 0: with `F = 0.2`, a user with 2 interactions is held out in folds 1 and
/// 3 only).
///
/// # Errors
/// [`Error::InvalidParam`] for a fraction outside `(0, 1)`, or `folds` 0 or above
/// `⌊1 / F⌋` (the folds would overlap).
///
/// ```
/// use recs::data::{split::{self, Holdout}, Dataset, Duplicates};
/// let users: Vec<i64> = (0..100).map(|k| k / 10).collect();
/// let items: Vec<i64> = (0..100).map(|k| k % 10).collect();
/// let d = Dataset::from_external(&users, &items, None, None, Duplicates::KeepLast)?;
/// let folds = split::random_folds(&d, 0.2, 5, 42)?;
/// // every rating is held out exactly once
/// assert_eq!(folds.iter().map(|s| s.test.n_items_total()).sum::<usize>(), 100);
/// let first = split::random_holdout(&d, Holdout::Fraction(0.2), 42)?;
/// assert_eq!((&folds[0].train, &folds[0].test), (&first.train, &first.test));
/// # Ok::<(), recs::Error>(())
/// ```
pub fn random_folds(data: &Dataset, fraction: f64, folds: usize, seed: u64) -> Result<Vec<Split>> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(Error::param("fraction", "a number in (0, 1)", fraction));
    }
    let most = max_folds(fraction);
    if folds == 0 || folds > most {
        return Err(Error::param(
            "folds",
            "1 to ⌊1 / fraction⌋ (disjoint folds)",
            format!("{folds} with the fraction {fraction}"),
        ));
    }
    let m = &data.interactions;
    let indptr = m.indptr();
    // fold of each stored entry (usize::MAX: in no fold)
    let mut fold_of = vec![usize::MAX; m.nnz()];
    let mut row: Vec<usize> = Vec::new();
    for u in 0..m.n_users() {
        let (a, b) = (indptr[u], indptr[u + 1]);
        let len = b - a;
        if len < 2 {
            continue;
        }
        let bound = |f: usize| ((fraction * len as f64 * f as f64).round() as usize).min(len);
        let end = bound(folds);
        // the draw of `random_holdout`, so that fold 0 is its hold-out
        shuffle_prefix(&mut row, a..b, end.min(len - 1), seed, u);
        for f in 0..folds {
            let lo = bound(f);
            let hi = bound(f + 1).min(lo + len - 1);
            for &e in &row[lo..hi] {
                fold_of[e] = f;
            }
        }
    }
    (0..folds)
        .map(|f| {
            let is_test: Vec<bool> = fold_of.iter().map(|&g| g == f).collect();
            let name = format!("random-fold-{f}-of-{folds}-{fraction}-seed-{seed}");
            from_mask(data, &is_test, name)
        })
        .collect()
}

/// Fills `row` with the entry positions `entries` of user `user` and puts a uniform random
/// sample of `k` of them first (partial Fisher–Yates, seeded by `seed` and the user): the one
/// draw behind [`random_holdout`] and [`random_folds`].
fn shuffle_prefix(
    row: &mut Vec<usize>,
    entries: std::ops::Range<usize>,
    k: usize,
    seed: u64,
    user: usize,
) {
    let len = entries.len();
    let mut rng = Rng::stream(seed, user as u64);
    row.clear();
    row.extend(entries);
    for j in 0..k.min(len) {
        let r = j + rng.gen_range((len - j) as u64) as usize;
        row.swap(j, r);
    }
}

/// The most disjoint folds of `fraction` each: `⌊1 / fraction⌋` (1 / 0.2 is 5, not 4.99…).
pub(crate) fn max_folds(fraction: f64) -> usize {
    ((1.0 / fraction) * (1.0 + 1e-9)).floor().max(1.0) as usize
}

/// A global temporal split: everything after the cut is test, whoever the user. Test users may
/// have no training interaction (cold start) and test items may be new to train; evaluators
/// decide what to do with them.
///
/// # Errors
/// [`Error::Data`] when the dataset has no timestamps; [`Error::InvalidParam`] for a fraction
/// outside `(0, 1)`.
///
/// ```
/// use recs::data::{split::{self, Cut}, Dataset, Duplicates};
/// let d = Dataset::from_external(&[1, 1, 2, 2], &[5, 6, 5, 7], None,
///     Some(&[10, 40, 20, 30]), Duplicates::KeepLast)?;
/// let s = split::temporal_cut(&d, Cut::Timestamp(30))?;
/// assert_eq!(s.train.nnz(), 2);
/// assert_eq!(s.test.n_items_total(), 2);
/// assert_eq!(s, split::temporal_cut(&d, Cut::Fraction(0.5))?.with_name(&s.name));
/// # Ok::<(), recs::Error>(())
/// ```
pub fn temporal_cut(data: &Dataset, cut: Cut) -> Result<Split> {
    let m = &data.interactions;
    let Some(ts) = m.timestamps() else {
        return Err(Error::Data(
            "a temporal split needs timestamps, and this dataset has none".into(),
        ));
    };
    let (is_test, name) = match cut {
        Cut::Timestamp(t) => (
            ts.iter().map(|&x| x >= t).collect::<Vec<bool>>(),
            format!("temporal-at-{t}"),
        ),
        Cut::Fraction(f) => {
            if !(f > 0.0 && f < 1.0) {
                return Err(Error::param("fraction", "a number in (0, 1)", f));
            }
            let key = keys(data);
            let n_test = (f * m.nnz() as f64).round() as usize;
            let mut is_test = vec![false; m.nnz()];
            if n_test > 0 {
                let mut sorted: Vec<(i64, u64)> = key.clone();
                let pivot = m.nnz() - n_test;
                let (_, &mut threshold, _) = sorted.select_nth_unstable(pivot);
                // Keys are unique (the second part is unique), so exactly n_test pass.
                for (t, k) in is_test.iter_mut().zip(&key) {
                    *t = *k >= threshold;
                }
            }
            (is_test, format!("temporal-last-{f}"))
        }
    };
    from_mask(data, &is_test, name)
}

impl Split {
    /// The same split under another name.
    pub fn with_name(mut self, name: &str) -> Split {
        self.name = name.to_string();
        self
    }
}

/// A split as text, parsed by one [`FromStr`](std::str::FromStr) for the CLI and the
/// retraining config.
///
/// | text | split | rule |
/// |---|---|---|
/// | `leave-last-out` | [`leave_last_out`] | each user's latest interaction is test |
/// | `leave-last:N` | [`leave_last_n`] | each user's `N` latest are test |
/// | `random:F` | [`random_holdout`] with [`Holdout::Fraction`] | `round(F × n_u)` random ones per user |
/// | `random-count:N` | [`random_holdout`] with [`Holdout::Count`] | `N` random ones per user |
/// | `temporal:F` | [`temporal_cut`] with [`Cut::Fraction`] | the latest `F` of all interactions |
/// | `temporal-at:T` | [`temporal_cut`] with [`Cut::Timestamp`] | everything at or after Unix time `T` |
///
/// "Latest" is the largest timestamp, ties broken by file order (see the module docs). Users
/// with `N` or fewer interactions (`leave-last`), or with one (`random`), stay wholly in
/// train; a per-user random split always leaves a user one training interaction.
///
/// ```
/// use recs::data::split::{SplitSpec, Holdout};
/// assert_eq!("leave-last:3".parse::<SplitSpec>()?, SplitSpec::LeaveLast(3));
/// assert_eq!("random:0.2".parse::<SplitSpec>()?, SplitSpec::Random(Holdout::Fraction(0.2)));
/// assert_eq!(SplitSpec::LeaveLast(1).to_string(), "leave-last-out");
/// assert!("random:1.5".parse::<SplitSpec>().is_err());
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SplitSpec {
    /// Each user's `n` latest interactions.
    LeaveLast(usize),
    /// Random interactions of each user (seeded).
    Random(Holdout),
    /// A global temporal cut.
    Temporal(Cut),
}

impl SplitSpec {
    /// Splits `data`; `seed` is used by [`SplitSpec::Random`] only. The split is named by the
    /// spec's text (with `seed=S` for random splits).
    ///
    /// # Errors
    /// The splitter's errors.
    pub fn apply(&self, data: &Dataset, seed: u64) -> Result<Split> {
        let s = match *self {
            SplitSpec::LeaveLast(n) => leave_last_n(data, n)?,
            SplitSpec::Random(h) => {
                return Ok(random_holdout(data, h, seed)?.with_name(&format!("{self}:seed={seed}")))
            }
            SplitSpec::Temporal(c) => temporal_cut(data, c)?,
        };
        Ok(s.with_name(&self.to_string()))
    }
}

impl std::fmt::Display for SplitSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitSpec::LeaveLast(1) => f.write_str("leave-last-out"),
            SplitSpec::LeaveLast(n) => write!(f, "leave-last:{n}"),
            SplitSpec::Random(Holdout::Fraction(x)) => write!(f, "random:{x}"),
            SplitSpec::Random(Holdout::Count(n)) => write!(f, "random-count:{n}"),
            SplitSpec::Temporal(Cut::Fraction(x)) => write!(f, "temporal:{x}"),
            SplitSpec::Temporal(Cut::Timestamp(t)) => write!(f, "temporal-at:{t}"),
        }
    }
}

impl std::str::FromStr for SplitSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::param(
                "split",
                "leave-last-out, leave-last:N (N >= 1), random:F or temporal:F (F in (0, 1)), \
                 random-count:N or temporal-at:UNIX_SECONDS",
                s.to_string(),
            )
        };
        let t = s.trim().to_ascii_lowercase();
        let (kind, arg) = t.split_once(':').unwrap_or((&t, ""));
        let count = || {
            arg.parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(bad)
        };
        let fraction = || {
            arg.parse::<f64>()
                .ok()
                .filter(|f| *f > 0.0 && *f < 1.0)
                .ok_or_else(bad)
        };
        Ok(match kind {
            "leave-last-out" if arg.is_empty() => SplitSpec::LeaveLast(1),
            "leave-last" => SplitSpec::LeaveLast(count()?),
            "random" => SplitSpec::Random(Holdout::Fraction(fraction()?)),
            "random-count" => SplitSpec::Random(Holdout::Count(count()?)),
            "temporal" => SplitSpec::Temporal(Cut::Fraction(fraction()?)),
            "temporal-at" => SplitSpec::Temporal(Cut::Timestamp(arg.parse().map_err(|_| bad())?)),
            _ => return Err(bad()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Duplicates;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn dataset(recs: &[(i64, i64, i64)], with_ts: bool) -> Dataset {
        let users: Vec<i64> = recs.iter().map(|r| r.0).collect();
        let items: Vec<i64> = recs.iter().map(|r| r.1).collect();
        let ts: Vec<i64> = recs.iter().map(|r| r.2).collect();
        Dataset::from_external(
            &users,
            &items,
            None,
            with_ts.then_some(&ts[..]),
            Duplicates::KeepLast,
        )
        .unwrap()
    }

    fn pairs_of(m: &Interactions) -> BTreeSet<(u32, u32)> {
        m.records().map(|r| (r.user, r.item)).collect()
    }

    fn test_pairs(t: &TestSet) -> BTreeSet<(u32, u32)> {
        t.cases
            .iter()
            .flat_map(|c| c.items.iter().map(move |&i| (c.user, i)))
            .collect()
    }

    fn check_partition(d: &Dataset, s: &Split) -> std::result::Result<(), TestCaseError> {
        let all = pairs_of(&d.interactions);
        let tr = pairs_of(&s.train);
        let te = test_pairs(&s.test);
        prop_assert!(tr.is_disjoint(&te));
        let union: BTreeSet<_> = tr.union(&te).copied().collect();
        prop_assert_eq!(union, all);
        prop_assert_eq!(s.train.n_users(), d.interactions.n_users());
        prop_assert_eq!(s.train.n_items(), d.interactions.n_items());
        prop_assert!(s.test.cases.windows(2).all(|w| w[0].user < w[1].user));
        Ok(())
    }

    #[test]
    fn leave_last_out_breaks_ties_by_file_order() {
        // Same timestamp for the last two ratings of user 1: the later line wins.
        let d = dataset(&[(1, 10, 5), (1, 12, 9), (1, 11, 9), (2, 10, 1)], true);
        let s = leave_last_out(&d).unwrap();
        assert_eq!(s.test.cases.len(), 1);
        assert_eq!(d.items.external(s.test.cases[0].items[0]), Some(11));
        // Without timestamps: file order alone.
        let d = dataset(&[(1, 12, 0), (1, 10, 0), (1, 11, 0)], false);
        let s = leave_last_out(&d).unwrap();
        assert_eq!(d.items.external(s.test.cases[0].items[0]), Some(11));
    }

    #[test]
    fn leave_last_n_keeps_small_users_in_train() {
        let d = dataset(
            &[(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 1), (2, 2, 2)],
            true,
        );
        let s = leave_last_n(&d, 2).unwrap();
        assert_eq!(s.test.cases.len(), 1);
        assert_eq!(s.test.cases[0].items.len(), 2);
        assert_eq!(s.train.items_of(1).len(), 2);
        assert!(leave_last_n(&d, 0).is_err());
    }

    #[test]
    fn splitters_reject_bad_params() {
        let d = dataset(&[(1, 1, 1), (1, 2, 2)], true);
        for f in [0.0, 1.0, -0.5, f64::NAN] {
            assert!(random_holdout(&d, Holdout::Fraction(f), 0).is_err());
            assert!(temporal_cut(&d, Cut::Fraction(f)).is_err());
        }
        assert!(random_holdout(&d, Holdout::Count(0), 0).is_err());
        let no_ts = dataset(&[(1, 1, 1)], false);
        assert!(temporal_cut(&no_ts, Cut::Timestamp(0))
            .unwrap_err()
            .to_string()
            .contains("timestamps"));
    }

    #[test]
    fn temporal_fraction_breaks_ties_by_input_order() {
        let d = dataset(&[(1, 1, 5), (2, 1, 5), (3, 1, 5), (4, 1, 5)], true);
        let s = temporal_cut(&d, Cut::Fraction(0.5)).unwrap();
        let users: Vec<i64> = s
            .test
            .cases
            .iter()
            .map(|c| d.users.external(c.user).unwrap())
            .collect();
        assert_eq!(users, vec![3, 4]);
    }

    fn arb_records() -> impl Strategy<Value = Vec<(i64, i64, i64)>> {
        prop::collection::vec((0i64..12, 0i64..15, 0i64..20), 1..120)
    }

    proptest! {
        #[test]
        fn leave_last_out_partitions_and_holds_the_latest(recs in arb_records(), with_ts in any::<bool>()) {
            let d = dataset(&recs, with_ts);
            let s = leave_last_out(&d).unwrap();
            check_partition(&d, &s)?;
            let m = &d.interactions;
            let key = keys(&d);
            for u in 0..m.n_users() as u32 {
                let n = m.items_of(u).len();
                let case = s.test.cases.iter().find(|c| c.user == u);
                prop_assert_eq!(case.is_some(), n >= 2);
                if let Some(c) = case {
                    prop_assert_eq!(c.items.len(), 1);
                    // The held-out entry has the largest key of the user.
                    let a = m.indptr()[u as usize];
                    let best = (a..a + n).max_by_key(|&k| key[k]).unwrap();
                    prop_assert_eq!(c.items[0], m.indices()[best]);
                }
            }
        }

        #[test]
        fn random_holdout_partitions_and_is_deterministic(recs in arb_records(), f in 0.05f64..0.95, seed in any::<u64>()) {
            let d = dataset(&recs, false);
            let s = random_holdout(&d, Holdout::Fraction(f), seed).unwrap();
            check_partition(&d, &s)?;
            prop_assert_eq!(&s, &random_holdout(&d, Holdout::Fraction(f), seed).unwrap());
            for u in 0..d.interactions.n_users() as u32 {
                let n = d.interactions.items_of(u).len();
                let held = s.test.cases.iter().find(|c| c.user == u).map_or(0, |c| c.items.len());
                let want = if n < 2 { 0 } else { ((f * n as f64).round() as usize).min(n - 1) };
                prop_assert_eq!(held, want);
            }
            let c = random_holdout(&d, Holdout::Count(2), seed).unwrap();
            check_partition(&d, &c)?;
        }

        /// K-fold hold-outs: each fold partitions the data, the folds are disjoint, every
        /// fold holds out the `round` width of the user's ratings (capped to keep one), fold 0
        /// is the single hold-out, and with `K = 1 / F` (F = 0.2 or 0.25) every rating of a
        /// user with at least two is held out exactly once.
        #[test]
        fn random_folds_are_disjoint_and_cover_each_user(recs in arb_records(), f in 0.05f64..0.5, seed in any::<u64>(), cover in any::<bool>()) {
            let f = if cover { if seed % 2 == 0 { 0.2 } else { 0.25 } } else { f };
            let d = dataset(&recs, false);
            let k = max_folds(f);
            let folds = random_folds(&d, f, k, seed).unwrap();
            prop_assert_eq!(folds.len(), k);
            let single = random_holdout(&d, Holdout::Fraction(f), seed).unwrap();
            prop_assert_eq!((&folds[0].train, &folds[0].test), (&single.train, &single.test));
            let mut seen = BTreeSet::new();
            for s in &folds {
                check_partition(&d, s)?;
                for p in test_pairs(&s.test) {
                    // disjoint: no pair is held out by two folds
                    prop_assert!(seen.insert(p), "{:?} in two folds", p);
                }
            }
            let m = &d.interactions;
            for u in 0..m.n_users() as u32 {
                let n = m.items_of(u).len();
                let held = seen.iter().filter(|p| p.0 == u).count();
                for (j, s) in folds.iter().enumerate() {
                    let got = s.test.cases.iter().find(|c| c.user == u).map_or(0, |c| c.items.len());
                    let bound = |j: usize| ((f * n as f64 * j as f64).round() as usize).min(n);
                    let want = if n < 2 { 0 } else { (bound(j + 1) - bound(j)).min(n - 1) };
                    prop_assert_eq!(got, want, "user {} fold {}", u, j);
                }
                if cover {
                    prop_assert_eq!(held, if n < 2 { 0 } else { n }, "user {}", u);
                }
            }
            prop_assert!(random_folds(&d, f, k + 1, seed).is_err());
            prop_assert!(random_folds(&d, f, 0, seed).is_err());
        }

        #[test]
        fn temporal_cut_partitions(recs in arb_records(), t in 0i64..20, f in 0.05f64..0.95) {
            let d = dataset(&recs, true);
            let s = temporal_cut(&d, Cut::Timestamp(t)).unwrap();
            check_partition(&d, &s)?;
            let ts = s.train.timestamps().unwrap();
            prop_assert!(ts.iter().all(|&x| x < t));
            let s = temporal_cut(&d, Cut::Fraction(f)).unwrap();
            check_partition(&d, &s)?;
            let nnz = d.interactions.nnz();
            prop_assert_eq!(s.test.n_items_total(), (f * nnz as f64).round() as usize);
            // Every train timestamp is <= every test timestamp.
            let max_train = s.train.timestamps().unwrap().iter().max().copied();
            let test_ts: Vec<i64> = s.test.cases.iter().flat_map(|c| {
                let items = d.interactions.items_of(c.user);
                let tts = d.interactions.timestamps_of(c.user).unwrap();
                c.items.iter().map(move |i| tts[items.binary_search(i).unwrap()])
            }).collect();
            if let (Some(mt), Some(&mn)) = (max_train, test_ts.iter().min()) {
                prop_assert!(mt <= mn);
            }
        }
    }
}
