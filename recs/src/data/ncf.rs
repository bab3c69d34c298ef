//! The pre-split files of He et al., "Neural Collaborative Filtering" (WWW 2017): a train file,
//! a leave-one-out test file and, for the sampled protocol, 99 negatives per test case.
//!
//! Formats (tab-separated, ids already dense, 0-based):
//! - train `user item rating [timestamp]` (`ml-1m.train.rating`, or the derived
//!   `ml-1m.train.pairs.gz` without timestamps);
//! - test `user item rating timestamp` (`ml-1m.test.rating`), normally one line per user;
//! - negatives `(user,item)\tneg1\tneg2...` (`ml-1m.test.negative`), one line per test line, whose
//!   `(user,item)` must be a pair of the test file.
//!
//! Quirk of the upstream ML-1M files: in 156 of the 6040 negatives lines the user's own test item
//! is also listed among the 99 "negatives". Ranking an item against itself is meaningless, so
//! [`load_ncf`] drops every held-out item from its own negatives (those cases keep 98), and says
//! how many lines were fixed in the [`LoadReport`] notes.

use std::collections::BTreeMap;
use std::path::Path;

use super::load::{parse_int, show, trim, Lines};
use super::text::{read_rows, TextFormat};
use super::{
    Interactions, ItemIdx, LoadOptions, LoadReport, Record, Split, TestCase, TestSet, UserIdx,
    Vocab,
};
use crate::{Error, Result};

/// Loads the NCF pre-split files with default (strict) [`LoadOptions`].
///
/// Ids are already dense, so both vocabularies are [`Vocab::identity`] of size
/// `max id + 1` over all files: every user and item of the train, test and negatives files is
/// known. Each test case holds the held-out item(s) of one user and, with `negatives`, the
/// negatives of that user without the held-out items (see the module docs for the quirk).
///
/// # Errors
/// As [`load_ncf_with`].
///
/// ```
/// use recs::data::load_ncf;
/// let dir = tempfile::tempdir()?;
/// let p = |n: &str| dir.path().join(n);
/// std::fs::write(p("train"), "0\t0\t5\n0\t1\t3\n1\t1\t4\n")?;
/// std::fs::write(p("test"), "0\t2\t4\t100\n1\t0\t5\t200\n")?;
/// std::fs::write(p("neg"), "(0,2)\t3\t2\n(1,0)\t3\t2\n")?;
/// let split = load_ncf(&p("train"), &p("test"), Some(&p("neg")))?;
/// assert_eq!(split.train.nnz(), 3);
/// assert_eq!(split.test.cases[0].items, [2]);
/// assert_eq!(split.test.cases[0].negatives.as_deref(), Some(&[3][..])); // 2 dropped
/// assert_eq!(split.items.len(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_ncf(train: &Path, test: &Path, negatives: Option<&Path>) -> Result<Split> {
    Ok(load_ncf_with(train, test, negatives, &LoadOptions::default())?.0)
}

fn dense_id(v: i64, what: &'static str) -> std::result::Result<u32, (&'static str, String)> {
    u32::try_from(v)
        .ok()
        .filter(|&x| x < u32::MAX)
        .ok_or_else(|| {
            (
                what,
                format!("NCF ids are dense 0-based indices; expected 0..2^32-1, got {v}"),
            )
        })
}

/// Loads the NCF pre-split files; returns the split (named `"ncf"`) and a report over all files.
///
/// `opts.skip_bad_lines` applies to the train and test files; a bad negatives line is always an
/// error (skipping it would silently change the protocol).
///
/// # Errors
/// [`Error::Io`]; [`Error::Parse`] naming file, line and field (a negative id, a malformed
/// `(user,item)`, a negatives pair that is not in the test file, a second negatives line for one
/// pair); [`Error::Data`] when the train or test file is empty or a test pair has no negatives.
pub fn load_ncf_with(
    train: &Path,
    test: &Path,
    negatives: Option<&Path>,
    opts: &LoadOptions,
) -> Result<(Split, LoadReport)> {
    let fmt = TextFormat::tsv();
    let mut n_users = 0usize;
    let mut n_items = 0usize;

    let mut train_recs: Vec<Record> = Vec::new();
    let mut report = read_rows(train, &fmt, opts, |r| {
        let user = dense_id(r.user, "user")?;
        let item = dense_id(r.item, "item")?;
        n_users = n_users.max(user as usize + 1);
        n_items = n_items.max(item as usize + 1);
        train_recs.push(Record {
            user,
            item,
            value: r.value,
            timestamp: r.timestamp,
        });
        Ok(())
    })?;
    if train_recs.is_empty() {
        return Err(Error::Data(format!(
            "{}: no train records",
            train.display()
        )));
    }

    let mut test_items: BTreeMap<UserIdx, Vec<ItemIdx>> = BTreeMap::new();
    let test_report = read_rows(test, &fmt, opts, |r| {
        let user = dense_id(r.user, "user")?;
        let item = dense_id(r.item, "item")?;
        n_users = n_users.max(user as usize + 1);
        n_items = n_items.max(item as usize + 1);
        test_items.entry(user).or_default().push(item);
        Ok(())
    })?;
    report.absorb(test_report);
    if test_items.is_empty() {
        return Err(Error::Data(format!("{}: no test records", test.display())));
    }
    for items in test_items.values_mut() {
        items.sort_unstable();
        items.dedup();
    }

    let mut negs: BTreeMap<UserIdx, Vec<ItemIdx>> = BTreeMap::new();
    if let Some(neg_path) = negatives {
        let (neg_report, fixed) = read_negatives(neg_path, &test_items, &mut negs, &mut n_items)?;
        report.absorb(neg_report);
        if fixed > 0 {
            report.notes.push(format!(
                "{}: in {fixed} lines the held-out item was also listed as a negative; it was \
                 removed from those negatives (known quirk of the upstream NCF files)",
                neg_path.display()
            ));
        }
        if let Some((&u, _)) = test_items.iter().find(|(u, _)| !negs.contains_key(u)) {
            let missing = test_items.keys().filter(|u| !negs.contains_key(u)).count();
            return Err(Error::Data(format!(
                "{}: {missing} test users have no negatives line, for example user {u}",
                neg_path.display()
            )));
        }
    }

    let train_m = Interactions::from_records(n_users, n_items, &train_recs, opts.duplicates)?;
    report.merged = train_recs.len() - train_m.nnz();
    let overlap = test_items
        .iter()
        .map(|(&u, items)| {
            let seen = train_m.items_of(u);
            items
                .iter()
                .filter(|i| seen.binary_search(i).is_ok())
                .count()
        })
        .sum::<usize>();
    if overlap > 0 {
        report.notes.push(format!(
            "{overlap} test (user, item) pairs also appear in the train file"
        ));
    }
    let cases = test_items
        .into_iter()
        .map(|(user, items)| TestCase {
            user,
            negatives: negs.remove(&user),
            items,
        })
        .collect();
    let split = Split {
        name: "ncf".into(),
        train: train_m,
        test: TestSet { cases },
        users: Vocab::identity(n_users),
        items: Vocab::identity(n_items),
    };
    Ok((split, report))
}

/// Reads the negatives file into `out` (user → negatives without held-out items); returns the
/// report and the number of lines that listed a held-out item among their negatives.
fn read_negatives(
    path: &Path,
    test: &BTreeMap<UserIdx, Vec<ItemIdx>>,
    out: &mut BTreeMap<UserIdx, Vec<ItemIdx>>,
    n_items: &mut usize,
) -> Result<(LoadReport, usize)> {
    let mut report = LoadReport::for_path(path);
    let mut lines = Lines::open(path)?;
    let mut fixed = 0;
    let perr = |line: usize, field: &'static str, message: String| Error::Parse {
        path: path.to_path_buf(),
        line,
        field,
        message,
    };
    // Pairs already seen, to refuse a second line for the same pair.
    let mut seen: BTreeMap<(UserIdx, ItemIdx), usize> = BTreeMap::new();
    while let Some((ln, line)) = lines.next_line()? {
        report.lines += 1;
        if trim(line).is_empty() {
            continue;
        }
        let mut fields = line.split(|&b| b == b'\t');
        let head = trim(fields.next().unwrap_or_default());
        let pair = head
            .strip_prefix(b"(")
            .and_then(|h| h.strip_suffix(b")"))
            .and_then(|h| {
                let comma = h.iter().position(|&b| b == b',')?;
                Some((parse_int(&h[..comma])?, parse_int(&h[comma + 1..])?))
            })
            .ok_or_else(|| {
                perr(
                    ln,
                    "(user,item)",
                    format!("expected `(user,item)`, got `{}`", show(head)),
                )
            })?;
        let (user, item) = match (u32::try_from(pair.0), u32::try_from(pair.1)) {
            (Ok(u), Ok(i)) => (u, i),
            _ => {
                return Err(perr(
                    ln,
                    "(user,item)",
                    format!("ids must be non-negative, got {pair:?}"),
                ))
            }
        };
        let held = test.get(&user).filter(|items| items.contains(&item));
        let Some(held) = held else {
            return Err(perr(
                ln,
                "(user,item)",
                format!("the pair ({user},{item}) is not in the test file"),
            ));
        };
        if let Some(prev) = seen.insert((user, item), ln) {
            return Err(perr(
                ln,
                "(user,item)",
                format!("second negatives line for ({user},{item}); the first is line {prev}"),
            ));
        }
        let list = out.entry(user).or_default();
        let mut had_held = false;
        for f in fields {
            let f = trim(f);
            if f.is_empty() {
                continue;
            }
            let neg = parse_int(f)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&v| v < u32::MAX)
                .ok_or_else(|| {
                    perr(
                        ln,
                        "negative",
                        format!("expected a non-negative item id, got `{}`", show(f)),
                    )
                })?;
            *n_items = (*n_items).max(neg as usize + 1);
            if held.binary_search(&neg).is_ok() {
                had_held = true;
            } else {
                list.push(neg);
            }
        }
        if had_held {
            fixed += 1;
        }
        report.records += 1;
    }
    Ok((report, fixed))
}
