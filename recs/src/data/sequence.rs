//! Ordered per-user histories ("what did this user watch, in which order") and the
//! leave-one-out-by-time split with a validation item.
//!
//! # The ordering convention
//! The whole project keeps sequences inside an ordinary [`Interactions`]: **its timestamps give
//! the order**. The CSR sorts each row by item, so the order cannot live in the entry positions.
//! The sequence loaders ([`load_sequences`]) therefore store an *ordinal* time per user:
//! 0, 1, 2, … in (timestamp, line of the file) order, so that equal timestamps are broken by the
//! order of the source lines and every user's times are unique. A user's repeated item keeps its
//! latest position (the [`Duplicates::KeepLast`] rule), so its ordinal may skip numbers; only the
//! order matters.
//!
//! [`Sequences::from_interactions`] reads the order back (oldest → newest). Interactions with
//! real timestamps work too; equal times are then broken by item index.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::load::Lines;
use super::{Dataset, Duplicates, Interactions, ItemIdx, Record, Split, TestCase, TestSet};
use super::{UserIdx, Vocab};
use crate::{Error, Result};

/// Per-user item lists, oldest → newest, in CSR-like form (`indptr`, `items`).
///
/// ```
/// use recs::data::{Interactions, Sequences};
/// // user 0 saw item 2 at t=5, item 0 at t=1, item 1 at t=3; user 1 saw nothing
/// let m = Interactions::from_csr(3, vec![0, 3, 3], vec![0, 1, 2], vec![1.0; 3], Some(vec![1, 3, 5]))?;
/// let s = Sequences::from_interactions(&m)?;
/// assert_eq!(s.get(0), &[0, 1, 2]);
/// assert_eq!(s.last(0), Some(2));
/// assert_eq!(s.last(1), None);
/// assert_eq!(s.truncated(2).get(0), &[1, 2]);
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequences {
    n_items: usize,
    indptr: Vec<usize>,
    items: Vec<ItemIdx>,
}

impl Sequences {
    /// Sequences from per-user lists (oldest first).
    ///
    /// # Errors
    /// [`Error::Data`] when an item is not below `n_items`.
    pub fn from_lists(n_items: usize, lists: &[Vec<ItemIdx>]) -> Result<Self> {
        let mut indptr = Vec::with_capacity(lists.len() + 1);
        indptr.push(0);
        let mut items = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        for (u, l) in lists.iter().enumerate() {
            if let Some(&bad) = l.iter().find(|&&i| i as usize >= n_items) {
                return Err(Error::Data(format!(
                    "sequence of user {u}: item {bad} outside 0..{n_items}"
                )));
            }
            items.extend_from_slice(l);
            indptr.push(items.len());
        }
        Ok(Sequences {
            n_items,
            indptr,
            items,
        })
    }

    /// Reads each user's order from the timestamps of `m` (see the module docs): items sorted
    /// by (timestamp, item index).
    ///
    /// # Errors
    /// [`Error::Data`] when `m` has entries but no timestamps.
    pub fn from_interactions(m: &Interactions) -> Result<Self> {
        let empty = Vec::new();
        let ts = match m.timestamps() {
            Some(ts) => ts,
            // an empty matrix carries no timestamps, yet its (empty) order is known
            None if m.nnz() == 0 => &empty,
            None => {
                return Err(Error::Data(
                    "sequences need interactions with timestamps (the order)".into(),
                ))
            }
        };
        let indptr = m.indptr().to_vec();
        let mut items = Vec::with_capacity(m.nnz());
        let mut row: Vec<(i64, ItemIdx)> = Vec::new();
        for u in 0..m.n_users() {
            let (a, b) = (indptr[u], indptr[u + 1]);
            row.clear();
            row.extend((a..b).map(|k| (ts[k], m.indices()[k])));
            row.sort_unstable();
            items.extend(row.iter().map(|&(_, i)| i));
        }
        Ok(Sequences {
            n_items: m.n_items(),
            indptr,
            items,
        })
    }

    /// Back to interactions (value 1) with ordinal timestamps 0, 1, 2, … per user.
    ///
    /// # Errors
    /// [`Error::Data`] when a user's sequence repeats an item (an `Interactions` row is a set).
    pub fn to_interactions(&self) -> Result<Interactions> {
        let mut records = Vec::with_capacity(self.items.len());
        for u in 0..self.n_users() {
            for (t, &i) in self.get(u as UserIdx).iter().enumerate() {
                records.push(Record {
                    user: u as UserIdx,
                    item: i,
                    value: 1.0,
                    timestamp: Some(t as i64),
                });
            }
        }
        let m = Interactions::from_records(
            self.n_users(),
            self.n_items,
            &records,
            Duplicates::KeepLast,
        )?;
        if m.nnz() != records.len() {
            return Err(Error::Data(
                "a sequence repeats an item; interactions hold each item once per user".into(),
            ));
        }
        Ok(m)
    }

    /// Number of users (sequences).
    pub fn n_users(&self) -> usize {
        self.indptr.len() - 1
    }
    /// Number of items (the catalogue size, not the number of entries).
    pub fn n_items(&self) -> usize {
        self.n_items
    }
    /// Total number of entries over all users.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// True when no user has an entry.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// The row pointer (`n_users + 1` entries).
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }
    /// All sequences concatenated.
    pub fn items(&self) -> &[ItemIdx] {
        &self.items
    }
    /// The sequence of `user`, oldest first (empty for a user outside).
    pub fn get(&self, user: UserIdx) -> &[ItemIdx] {
        let u = user as usize;
        if u + 1 >= self.indptr.len() {
            return &[];
        }
        &self.items[self.indptr[u]..self.indptr[u + 1]]
    }
    /// The newest item of `user`.
    pub fn last(&self, user: UserIdx) -> Option<ItemIdx> {
        self.get(user).last().copied()
    }
    /// Every sequence cut to its newest `max_len` items.
    pub fn truncated(&self, max_len: usize) -> Sequences {
        let lists: Vec<Vec<ItemIdx>> = (0..self.n_users())
            .map(|u| {
                let s = self.get(u as UserIdx);
                s[s.len().saturating_sub(max_len)..].to_vec()
            })
            .collect();
        let mut indptr = Vec::with_capacity(lists.len() + 1);
        indptr.push(0);
        let mut items = Vec::new();
        for l in &lists {
            items.extend_from_slice(l);
            indptr.push(items.len());
        }
        Sequences {
            n_items: self.n_items,
            indptr,
            items,
        }
    }
}

/// The layouts [`load_sequences`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqFormat {
    /// `user item` per line (space or tab separated, extra columns ignored), lines of a user in
    /// time order (Amazon Beauty's `beauty.txt` from the BERT4Rec preprocessing).
    UserItem,
    /// MovieLens `UserID::MovieID::Rating::Timestamp` (ML-1M `ratings.dat`); ties by line order.
    MovieLens,
    /// ML-100K `u.data`: tab-separated `user item rating timestamp`; ties by line order.
    Ml100k,
}

impl SeqFormat {
    /// Guesses the layout from the first non-empty line: `::` is MovieLens, four or more tab
    /// fields is ML-100K, anything else `user item`.
    ///
    /// ```
    /// use recs::data::SeqFormat;
    /// assert_eq!(SeqFormat::guess_line("1::2::5::978300760"), SeqFormat::MovieLens);
    /// assert_eq!(SeqFormat::guess_line("196\t242\t3\t881250949"), SeqFormat::Ml100k);
    /// assert_eq!(SeqFormat::guess_line("1 1"), SeqFormat::UserItem);
    /// ```
    pub fn guess_line(line: &str) -> SeqFormat {
        if line.contains("::") {
            SeqFormat::MovieLens
        } else if line.split('\t').count() >= 4 {
            SeqFormat::Ml100k
        } else {
            SeqFormat::UserItem
        }
    }
}

/// Loads ordered histories: a [`Dataset`] whose timestamps are per-user ordinals (see the module
/// docs). `format: None` guesses from the first line ([`SeqFormat::guess_line`]); `.gz` files
/// are read transparently. Raw ids go through the dataset's [`Vocab`]s.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("beauty.txt");
/// std::fs::write(&path, "1 7\n1 3\n2 3\n1 9\n")?;
/// let d = recs::data::load_sequences(&path, None)?;
/// let s = recs::data::Sequences::from_interactions(&d.interactions)?;
/// let u = d.users.index(1).unwrap();
/// let ext: Vec<i64> = s.get(u).iter().map(|&i| d.items.external(i).unwrap()).collect();
/// assert_eq!(ext, [7, 3, 9]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Io`]; [`Error::Parse`] naming file, line and field for a malformed line;
/// [`Error::Data`] for an empty file.
pub fn load_sequences(path: &Path, format: Option<SeqFormat>) -> Result<Dataset> {
    // Bounded lines: an over-long line is an error, never a multi-gigabyte `String`.
    let mut lines = Lines::open(path)?;
    let mut users = Vocab::new();
    let mut items = Vocab::new();
    // (user, timestamp, line, item)
    let mut rows: Vec<(UserIdx, i64, u32, ItemIdx)> = Vec::new();
    let mut format = format;
    while let Some((ln, bytes)) = lines.next_line()? {
        let n = ln - 1;
        let parse_err = |field: &'static str, message: String| Error::Parse {
            path: path.to_path_buf(),
            line: ln,
            field,
            message,
        };
        let line = std::str::from_utf8(bytes)
            .map_err(|e| parse_err("line", format!("not UTF-8: {e}")))?
            .trim();
        if line.is_empty() {
            continue;
        }
        let fmt = *format.get_or_insert_with(|| SeqFormat::guess_line(line));
        let fields: Vec<&str> = match fmt {
            SeqFormat::MovieLens => line.split("::").collect(),
            SeqFormat::Ml100k => line.split('\t').collect(),
            SeqFormat::UserItem => line.split_whitespace().collect(),
        };
        let need = if fmt == SeqFormat::UserItem { 2 } else { 4 };
        if fields.len() < need {
            return Err(parse_err(
                if fields.len() < 2 {
                    "item"
                } else {
                    "timestamp"
                },
                format!("expected {need} fields, got {}", fields.len()),
            ));
        }
        let int = |k: usize, field: &'static str| {
            fields[k]
                .trim()
                .parse::<i64>()
                .map_err(|e| parse_err(field, format!("`{}`: {e}", fields[k])))
        };
        let user = int(0, "user")?;
        let item = int(1, "item")?;
        let ts = if need == 4 { int(3, "timestamp")? } else { 0 };
        let line_no = u32::try_from(n).map_err(|_| parse_err("user", "too many lines".into()))?;
        rows.push((
            users.index_or_insert(user),
            ts,
            line_no,
            items.index_or_insert(item),
        ));
    }
    if rows.is_empty() {
        return Err(Error::Data(format!("{}: no interactions", path.display())));
    }
    // (user, time, line) order, then ordinals per user
    rows.sort_unstable_by_key(|&(u, t, l, _)| (u, t, l));
    let mut records = Vec::with_capacity(rows.len());
    let mut ordinal = 0i64;
    for (k, &(u, _, _, i)) in rows.iter().enumerate() {
        if k == 0 || rows[k - 1].0 != u {
            ordinal = 0;
        }
        records.push(Record {
            user: u,
            item: i,
            value: 1.0,
            timestamp: Some(ordinal),
        });
        ordinal += 1;
    }
    let interactions =
        Interactions::from_records(users.len(), items.len(), &records, Duplicates::KeepLast)?;
    Ok(Dataset {
        interactions,
        users,
        items,
        order: None,
    })
}

/// Which item of each user a leave-one-out-by-time split holds out, and what the model sees.
///
/// Per user with at least 3 items: the last item is the test item, the second-last the
/// validation item, the rest the train part. Users with fewer than 3 items are kept whole in
/// the train part and are never evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqTarget {
    /// Evaluate on the validation item: fit on the train part; the history is the train part.
    /// Use it to choose defaults without touching the test items.
    Validation,
    /// Evaluate on the test item, fitting on train + validation (the history is the same).
    Test,
    /// The published protocol (Amazon Beauty, Klenitskiy & Vasilev 2023): fit on the train
    /// part only, but the test history includes the validation item.
    TestPublished,
}

/// A leave-one-out-by-time split: what to fit on, and the ordinary [`Split`] to evaluate on
/// (its `train` is each user's history at test time, with ordinal timestamps).
#[derive(Debug, Clone, PartialEq)]
pub struct SeqSplit {
    /// The interactions to fit a model on (ordinal timestamps).
    pub fit: Interactions,
    /// History (`eval.train`) and held-out items (`eval.test`) for the evaluator.
    pub eval: Split,
}

/// Splits ordered histories leave-one-out by time (rules in [`SeqTarget`]).
///
/// ```
/// use recs::data::{split_sequences, Dataset, Duplicates, SeqTarget};
/// // user 1: items 10, 11, 12, 13 in time order; user 2: two items only (train only)
/// let d = Dataset::from_external(&[1, 1, 1, 1, 2, 2], &[10, 11, 12, 13, 10, 11], None,
///     Some(&[0, 1, 2, 3, 0, 1]), Duplicates::KeepLast)?;
/// let s = split_sequences(&d, SeqTarget::TestPublished)?;
/// assert_eq!(s.fit.nnz(), 2 + 2);             // 10, 11 of user 1; both of user 2
/// assert_eq!(s.eval.train.nnz(), 3 + 2);      // the history adds 12
/// assert_eq!(s.eval.test.cases.len(), 1);
/// assert_eq!(s.eval.items.external(s.eval.test.cases[0].items[0]), Some(13));
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::Data`] when the interactions have no timestamps.
pub fn split_sequences(data: &Dataset, target: SeqTarget) -> Result<SeqSplit> {
    let seqs = Sequences::from_interactions(&data.interactions)?;
    let n_users = seqs.n_users();
    let mut fit_lists = Vec::with_capacity(n_users);
    let mut hist_lists = Vec::with_capacity(n_users);
    let mut cases = Vec::new();
    for u in 0..n_users {
        let s = seqs.get(u as UserIdx);
        let n = s.len();
        if n < 3 {
            fit_lists.push(s.to_vec());
            hist_lists.push(s.to_vec());
            continue;
        }
        let (train, held) = match target {
            SeqTarget::Validation => (&s[..n - 2], s[n - 2]),
            SeqTarget::Test => (&s[..n - 1], s[n - 1]),
            SeqTarget::TestPublished => (&s[..n - 2], s[n - 1]),
        };
        fit_lists.push(train.to_vec());
        hist_lists.push(if target == SeqTarget::TestPublished {
            s[..n - 1].to_vec()
        } else {
            train.to_vec()
        });
        cases.push(TestCase {
            user: u as UserIdx,
            items: vec![held],
            negatives: None,
        });
    }
    let n_items = seqs.n_items();
    let fit = Sequences::from_lists(n_items, &fit_lists)?.to_interactions()?;
    let history = Sequences::from_lists(n_items, &hist_lists)?.to_interactions()?;
    let name = match target {
        SeqTarget::Validation => "seq-loo-validation",
        SeqTarget::Test => "seq-loo",
        SeqTarget::TestPublished => "seq-loo-published",
    };
    Ok(SeqSplit {
        fit,
        eval: Split {
            name: name.into(),
            train: history,
            test: TestSet { cases },
            users: data.users.clone(),
            items: data.items.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn ext_seq(d: &Dataset, user: i64) -> Vec<i64> {
        let s = Sequences::from_interactions(&d.interactions).unwrap();
        let u = d.users.index(user).unwrap();
        s.get(u)
            .iter()
            .map(|&i| d.items.external(i).unwrap())
            .collect()
    }

    #[test]
    fn movielens_ties_keep_line_order() {
        let dir = tempfile::tempdir().unwrap();
        // user 5: item 30 at t=9, then items 20 and 10 both at t=4 (line order 20, 10)
        let p = write(
            &dir,
            "r.dat",
            "5::30::4::9\n5::20::3::4\n5::10::5::4\n6::10::1::1\n",
        );
        let d = load_sequences(&p, None).unwrap();
        assert_eq!(ext_seq(&d, 5), [20, 10, 30]);
        assert_eq!(ext_seq(&d, 6), [10]);
    }

    #[test]
    fn ml100k_tab_format_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "u.data", "1\t3\t4\t100\n1\t2\t4\t50\n1\t9\t4\t100\n");
        let d = load_sequences(&p, None).unwrap();
        assert_eq!(ext_seq(&d, 1), [2, 3, 9]);
    }

    #[test]
    fn user_item_file_order_and_repeat_keeps_latest() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "b.txt", "1 4\n1 2\n1 4\n1 8\n");
        let d = load_sequences(&p, None).unwrap();
        // the repeated 4 keeps its latest position
        assert_eq!(ext_seq(&d, 1), [2, 4, 8]);
    }

    #[test]
    fn parse_error_names_file_line_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "bad.dat", "1::2::3::4\n1::x::3::5\n");
        let e = load_sequences(&p, None).unwrap_err().to_string();
        assert!(e.contains("bad.dat:2") && e.contains("`item`"), "{e}");
        let p = write(&dir, "short.dat", "1::2::3::4\n1::2::3\n");
        let e = load_sequences(&p, None).unwrap_err().to_string();
        assert!(e.contains("short.dat:2") && e.contains("timestamp"), "{e}");
    }

    fn by_hand() -> Dataset {
        // user 0: a b c d e (times 0..5), user 1: c a b, user 2: d e (too short)
        Dataset::from_external(
            &[0, 0, 0, 0, 0, 1, 1, 1, 2, 2],
            &[0, 1, 2, 3, 4, 2, 0, 1, 3, 4],
            None,
            Some(&[0, 1, 2, 3, 4, 0, 1, 2, 0, 1]),
            Duplicates::KeepLast,
        )
        .unwrap()
    }

    fn seq_of(m: &Interactions, u: UserIdx) -> Vec<ItemIdx> {
        Sequences::from_interactions(m).unwrap().get(u).to_vec()
    }

    #[test]
    fn split_rules_by_hand() {
        let d = by_hand();
        let ix = |e: i64| d.items.index(e).unwrap();
        let (a, b, c, dd, e) = (ix(0), ix(1), ix(2), ix(3), ix(4));
        let v = split_sequences(&d, SeqTarget::Validation).unwrap();
        assert_eq!(seq_of(&v.fit, 0), [a, b, c]);
        assert_eq!(seq_of(&v.fit, 1), [c]);
        assert_eq!(seq_of(&v.fit, 2), [dd, e], "short users stay in train");
        assert_eq!(v.eval.train, v.fit);
        let held: Vec<_> = v
            .eval
            .test
            .cases
            .iter()
            .map(|c| (c.user, c.items[0]))
            .collect();
        assert_eq!(held, [(0, dd), (1, a)]);

        let t = split_sequences(&d, SeqTarget::Test).unwrap();
        assert_eq!(seq_of(&t.fit, 0), [a, b, c, dd]);
        assert_eq!(seq_of(&t.fit, 1), [c, a]);
        let held: Vec<_> = t
            .eval
            .test
            .cases
            .iter()
            .map(|c| (c.user, c.items[0]))
            .collect();
        assert_eq!(held, [(0, e), (1, b)]);

        let p = split_sequences(&d, SeqTarget::TestPublished).unwrap();
        assert_eq!(p.fit, v.fit);
        assert_eq!(p.eval.train, t.fit);
        assert_eq!(p.eval.test, t.eval.test);
    }

    #[test]
    fn truncated_keeps_newest_and_round_trip() {
        let s = Sequences::from_lists(5, &[vec![4, 0, 3], vec![], vec![1]]).unwrap();
        let t = s.truncated(2);
        assert_eq!(t.get(0), &[0, 3]);
        assert_eq!(t.get(1), &[] as &[u32]);
        assert_eq!(t.get(2), &[1]);
        assert_eq!(t.get(7), &[] as &[u32]);
        let back = Sequences::from_interactions(&s.to_interactions().unwrap()).unwrap();
        assert_eq!(back, s);
        assert!(Sequences::from_lists(2, &[vec![2]]).is_err());
        assert!(Sequences::from_lists(3, &[vec![1, 1]])
            .unwrap()
            .to_interactions()
            .is_err());
    }

    #[test]
    fn needs_timestamps() {
        let untimed = Interactions::from_pairs(1, 2, &[(0, 1)]);
        assert!(Sequences::from_interactions(&untimed).is_err());
        let empty = Sequences::from_interactions(&Interactions::empty(2, 3)).unwrap();
        assert_eq!((empty.n_users(), empty.n_items(), empty.len()), (2, 3, 0));
    }
}
