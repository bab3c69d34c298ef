//! The user × item interaction matrix (CSR, `f32` values, optional timestamps).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Dense index of a user (row of [`Interactions`]).
pub type UserIdx = u32;
/// Dense index of an item (column of [`Interactions`]).
pub type ItemIdx = u32;

/// How [`Interactions::from_records`] merges several records of the same (user, item) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Duplicates {
    /// Keep the latest record: the one with the largest timestamp, ties (or no timestamps)
    /// broken by input order. A re-rating replaces the old rating. This is the default.
    #[default]
    KeepLast,
    /// Keep the first record in input order.
    KeepFirst,
    /// Sum the values (counts of plays, clicks); the timestamp is the latest one.
    Sum,
    /// Keep the largest value; the timestamp is the latest one.
    Max,
}

/// One interaction: a user, an item, a value and an optional timestamp (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Dense user index.
    pub user: UserIdx,
    /// Dense item index.
    pub item: ItemIdx,
    /// Rating, count or 1.0 for implicit feedback.
    pub value: f32,
    /// Unix timestamp in seconds, when known.
    pub timestamp: Option<i64>,
}

/// A sparse users × items matrix in compressed sparse row form.
///
/// Rows are users, columns items; each row's item indices are sorted ascending and unique.
///
/// ```
/// use recs::data::{Interactions, Record};
/// let records = [
///     Record { user: 0, item: 2, value: 5.0, timestamp: Some(10) },
///     Record { user: 1, item: 0, value: 3.0, timestamp: None },
///     Record { user: 0, item: 1, value: 4.0, timestamp: Some(5) },
/// ];
/// let m = Interactions::from_records(2, 3, &records, Default::default())?;
/// assert_eq!(m.items_of(0), &[1, 2]);
/// assert_eq!(m.values_of(0), &[4.0, 5.0]);
/// assert_eq!(m.nnz(), 3);
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interactions {
    n_users: usize,
    n_items: usize,
    indptr: Vec<usize>,
    indices: Vec<ItemIdx>,
    values: Vec<f32>,
    timestamps: Option<Vec<i64>>,
}

impl Interactions {
    /// An empty matrix of the given shape.
    pub fn empty(n_users: usize, n_items: usize) -> Self {
        Interactions {
            n_users,
            n_items,
            indptr: vec![0; n_users + 1],
            indices: Vec::new(),
            values: Vec::new(),
            timestamps: None,
        }
    }

    /// Builds the matrix from records, merging duplicate (user, item) pairs by `dups`.
    ///
    /// Timestamps are kept when every record has one; a record without one drops them all.
    ///
    /// # Errors
    /// [`Error::Data`] when a record's user or item is outside the shape or its value is not finite.
    pub fn from_records(
        n_users: usize,
        n_items: usize,
        records: &[Record],
        dups: Duplicates,
    ) -> Result<Self> {
        let has_ts = !records.is_empty() && records.iter().all(|r| r.timestamp.is_some());
        let mut counts = vec![0usize; n_users + 1];
        for (i, r) in records.iter().enumerate() {
            if r.user as usize >= n_users {
                return Err(Error::Data(format!(
                    "record {i}: user {} outside 0..{n_users}",
                    r.user
                )));
            }
            if r.item as usize >= n_items {
                return Err(Error::Data(format!(
                    "record {i}: item {} outside 0..{n_items}",
                    r.item
                )));
            }
            if !r.value.is_finite() {
                return Err(Error::Data(format!(
                    "record {i}: value must be finite, got {}",
                    r.value
                )));
            }
            counts[r.user as usize + 1] += 1;
        }
        for u in 0..n_users {
            counts[u + 1] += counts[u];
        }
        // Counting sort by user keeps input order within a user (stable), which the merge rule needs.
        let mut order = vec![0u32; records.len()];
        let mut next = counts.clone();
        for (i, r) in records.iter().enumerate() {
            order[next[r.user as usize]] = i as u32;
            next[r.user as usize] += 1;
        }
        let mut indptr = Vec::with_capacity(n_users + 1);
        indptr.push(0);
        let mut indices = Vec::with_capacity(records.len());
        let mut values = Vec::with_capacity(records.len());
        let mut timestamps = if has_ts {
            Some(Vec::with_capacity(records.len()))
        } else {
            None
        };
        let mut row: Vec<u32> = Vec::new();
        for u in 0..n_users {
            row.clear();
            row.extend_from_slice(&order[counts[u]..counts[u + 1]]);
            // stable: equal items stay in input order
            row.sort_by_key(|&i| records[i as usize].item);
            let mut j = 0;
            while j < row.len() {
                let first = &records[row[j] as usize];
                let mut k = j + 1;
                while k < row.len() && records[row[k] as usize].item == first.item {
                    k += 1;
                }
                let group = &row[j..k];
                let (value, ts) = merge(records, group, dups);
                indices.push(first.item);
                values.push(value);
                if let Some(t) = timestamps.as_mut() {
                    t.push(ts.unwrap_or(0));
                }
                j = k;
            }
            indptr.push(indices.len());
        }
        Ok(Interactions {
            n_users,
            n_items,
            indptr,
            indices,
            values,
            timestamps,
        })
    }

    /// Builds from raw CSR arrays, checking every invariant.
    ///
    /// # Errors
    /// [`Error::Data`] when `indptr` is not monotone, lengths disagree, or a row's indices are not
    /// strictly increasing and below `n_items`.
    pub fn from_csr(
        n_items: usize,
        indptr: Vec<usize>,
        indices: Vec<ItemIdx>,
        values: Vec<f32>,
        timestamps: Option<Vec<i64>>,
    ) -> Result<Self> {
        if indptr.is_empty() || indptr[0] != 0 {
            return Err(Error::Data("indptr must start with 0".into()));
        }
        let nnz = *indptr.last().unwrap_or(&0);
        if indices.len() != nnz || values.len() != nnz {
            return Err(Error::Data(format!(
                "indptr ends at {nnz} but there are {} indices and {} values",
                indices.len(),
                values.len()
            )));
        }
        if let Some(t) = &timestamps {
            if t.len() != nnz {
                return Err(Error::Data(format!(
                    "{} timestamps for {nnz} entries",
                    t.len()
                )));
            }
        }
        for w in indptr.windows(2) {
            if w[0] > w[1] {
                return Err(Error::Data("indptr must be non-decreasing".into()));
            }
            let row = &indices[w[0]..w[1]];
            if row.windows(2).any(|p| p[0] >= p[1]) {
                return Err(Error::Data(
                    "item indices within a row must be strictly increasing".into(),
                ));
            }
            if row.last().is_some_and(|&i| i as usize >= n_items) {
                return Err(Error::Data(format!("item index outside 0..{n_items}")));
            }
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::Data("values must be finite".into()));
        }
        Ok(Interactions {
            n_users: indptr.len() - 1,
            n_items,
            indptr,
            indices,
            values,
            timestamps,
        })
    }

    /// Number of users (rows).
    pub fn n_users(&self) -> usize {
        self.n_users
    }
    /// Number of items (columns).
    pub fn n_items(&self) -> usize {
        self.n_items
    }
    /// Number of stored interactions.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }
    /// Row pointer array (`n_users + 1` entries).
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }
    /// Column indices of all rows, concatenated.
    pub fn indices(&self) -> &[ItemIdx] {
        &self.indices
    }
    /// Values of all rows, concatenated.
    pub fn values(&self) -> &[f32] {
        &self.values
    }
    /// Timestamps of all rows, concatenated, when known.
    pub fn timestamps(&self) -> Option<&[i64]> {
        self.timestamps.as_deref()
    }
    /// Sorted item indices of `user` (empty for a user outside the matrix).
    pub fn items_of(&self, user: UserIdx) -> &[ItemIdx] {
        match self.range(user) {
            Some(r) => &self.indices[r],
            None => &[],
        }
    }
    /// Values of `user`, aligned with [`items_of`](Self::items_of).
    pub fn values_of(&self, user: UserIdx) -> &[f32] {
        match self.range(user) {
            Some(r) => &self.values[r],
            None => &[],
        }
    }
    /// Timestamps of `user`, aligned with [`items_of`](Self::items_of), when known.
    pub fn timestamps_of(&self, user: UserIdx) -> Option<&[i64]> {
        let r = self.range(user)?;
        self.timestamps.as_ref().map(|t| &t[r])
    }
    fn range(&self, user: UserIdx) -> Option<std::ops::Range<usize>> {
        let u = user as usize;
        (u < self.n_users).then(|| self.indptr[u]..self.indptr[u + 1])
    }

    /// The same interactions with `timestamps`, one per stored entry in CSR order
    /// (see [`indices`](Self::indices)).
    ///
    /// ```
    /// use recs::data::Interactions;
    /// let m = Interactions::from_csr(3, vec![0, 2, 3], vec![0, 2, 1], vec![1.0; 3], None)?;
    /// let m = m.with_timestamps(vec![10, 20, 5])?;
    /// assert_eq!(m.timestamps_of(0), Some(&[10, 20][..]));
    /// assert!(m.clone().with_timestamps(vec![1]).is_err());
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Data`] when there is not one timestamp per entry.
    pub fn with_timestamps(mut self, timestamps: Vec<i64>) -> Result<Self> {
        if timestamps.len() != self.nnz() {
            return Err(Error::Data(format!(
                "{} timestamps for {} interactions",
                timestamps.len(),
                self.nnz()
            )));
        }
        self.timestamps = Some(timestamps);
        Ok(self)
    }

    /// Iterates over all interactions as records, row by row.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        (0..self.n_users).flat_map(move |u| {
            (self.indptr[u]..self.indptr[u + 1]).map(move |k| Record {
                user: u as UserIdx,
                item: self.indices[k],
                value: self.values[k],
                timestamp: self.timestamps.as_ref().map(|t| t[k]),
            })
        })
    }

    /// The transpose: items × users in CSR form (equivalently, this matrix in CSC form).
    pub fn transpose(&self) -> Interactions {
        let mut counts = vec![0usize; self.n_items + 1];
        for &i in &self.indices {
            counts[i as usize + 1] += 1;
        }
        for i in 0..self.n_items {
            counts[i + 1] += counts[i];
        }
        let nnz = self.nnz();
        let mut next = counts.clone();
        let mut indices = vec![0u32; nnz];
        let mut values = vec![0f32; nnz];
        let mut ts = self.timestamps.as_ref().map(|_| vec![0i64; nnz]);
        for u in 0..self.n_users {
            for k in self.indptr[u]..self.indptr[u + 1] {
                let i = self.indices[k] as usize;
                let dst = next[i];
                next[i] += 1;
                indices[dst] = u as u32;
                values[dst] = self.values[k];
                if let (Some(t), Some(src)) = (ts.as_mut(), self.timestamps.as_ref()) {
                    t[dst] = src[k];
                }
            }
        }
        Interactions {
            n_users: self.n_items,
            n_items: self.n_users,
            indptr: counts,
            indices,
            values,
            timestamps: ts,
        }
    }

    /// Number of interactions per item (item popularity).
    pub fn item_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_items];
        for &i in &self.indices {
            c[i as usize] += 1;
        }
        c
    }

    /// Number of interactions per user (activity).
    pub fn user_counts(&self) -> Vec<u32> {
        self.indptr
            .windows(2)
            .map(|w| (w[1] - w[0]) as u32)
            .collect()
    }

    /// A copy with every value set to 1.0 (implicit feedback).
    pub fn binarized(&self) -> Interactions {
        let mut m = self.clone();
        m.values.iter_mut().for_each(|v| *v = 1.0);
        m
    }

    /// Grows the shape (new users/items have no interactions). Shrinking is an error.
    ///
    /// # Errors
    /// [`Error::Data`] when a new dimension is smaller than the current one.
    pub fn resized(mut self, n_users: usize, n_items: usize) -> Result<Self> {
        if n_users < self.n_users || n_items < self.n_items {
            return Err(Error::Data(format!(
                "cannot shrink a {}x{} matrix to {n_users}x{n_items}",
                self.n_users, self.n_items
            )));
        }
        let last = self.nnz();
        self.indptr.resize(n_users + 1, last);
        self.n_users = n_users;
        self.n_items = n_items;
        Ok(self)
    }

    /// Approximate heap size in bytes.
    pub fn size_bytes(&self) -> usize {
        self.indptr.len() * 8
            + self.indices.len() * 4
            + self.values.len() * 4
            + self.timestamps.as_ref().map_or(0, |t| t.len() * 8)
    }
}

fn merge(records: &[Record], group: &[u32], dups: Duplicates) -> (f32, Option<i64>) {
    let recs = || group.iter().map(|&i| &records[i as usize]);
    let latest_ts = recs().filter_map(|r| r.timestamp).max();
    match dups {
        Duplicates::KeepFirst => {
            let r = &records[group[0] as usize];
            (r.value, r.timestamp)
        }
        Duplicates::KeepLast => {
            // max_by_key returns the last maximum, so ties go to the later record.
            let r = recs()
                .max_by_key(|r| r.timestamp.unwrap_or(i64::MIN))
                .unwrap_or(&records[group[0] as usize]);
            (r.value, r.timestamp)
        }
        Duplicates::Sum => (recs().map(|r| r.value).sum(), latest_ts),
        Duplicates::Max => (
            recs().map(|r| r.value).fold(f32::NEG_INFINITY, f32::max),
            latest_ts,
        ),
    }
}

#[cfg(test)]
impl Interactions {
    /// Binary interactions (value 1, no timestamps) from `(user, item)` pairs: the small
    /// matrices of the model tests.
    pub(crate) fn from_pairs(n_users: usize, n_items: usize, pairs: &[(u32, u32)]) -> Self {
        let recs: Vec<Record> = pairs
            .iter()
            .map(|&(user, item)| Record {
                user,
                item,
                value: 1.0,
                timestamp: None,
            })
            .collect();
        Interactions::from_records(n_users, n_items, &recs, Default::default())
            .expect("test pairs inside the shape")
    }

    /// Interactions with values from `(user, item, value)` triples (no timestamps).
    pub(crate) fn from_triples(
        n_users: usize,
        n_items: usize,
        triples: &[(u32, u32, f32)],
    ) -> Self {
        let recs: Vec<Record> = triples
            .iter()
            .map(|&(user, item, value)| Record {
                user,
                item,
                value,
                timestamp: None,
            })
            .collect();
        Interactions::from_records(n_users, n_items, &recs, Default::default())
            .expect("test triples inside the shape")
    }

    /// Two taste groups, the factor models' shared fixture: users `< n/2` like even items,
    /// the others odd items (with gaps where `(user + item) % 5 == 0`).
    pub(crate) fn two_taste_groups(n_users: u32, n_items: u32) -> Self {
        let pairs: Vec<(u32, u32)> = (0..n_users)
            .flat_map(|u| (0..n_items).map(move |i| (u, i)))
            .filter(|&(u, i)| i % 2 == u % 2 && (u + i) % 5 != 0)
            .collect();
        Interactions::from_pairs(n_users as usize, n_items as usize, &pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(user: u32, item: u32, value: f32, ts: i64) -> Record {
        Record {
            user,
            item,
            value,
            timestamp: Some(ts),
        }
    }

    #[test]
    fn duplicates_follow_the_rule() {
        let r = [rec(0, 1, 1.0, 5), rec(0, 1, 3.0, 9), rec(0, 1, 2.0, 7)];
        let get = |d| {
            Interactions::from_records(1, 2, &r, d)
                .unwrap()
                .values_of(0)[0]
        };
        assert_eq!(get(Duplicates::KeepLast), 3.0);
        assert_eq!(get(Duplicates::KeepFirst), 1.0);
        assert_eq!(get(Duplicates::Sum), 6.0);
        assert_eq!(get(Duplicates::Max), 3.0);
    }

    #[test]
    fn keep_last_breaks_timestamp_ties_by_input_order() {
        let r = [rec(0, 0, 1.0, 5), rec(0, 0, 2.0, 5)];
        let m = Interactions::from_records(1, 1, &r, Duplicates::KeepLast).unwrap();
        assert_eq!(m.values_of(0), &[2.0]);
    }

    #[test]
    fn out_of_shape_records_are_refused() {
        assert!(
            Interactions::from_records(1, 1, &[rec(1, 0, 1.0, 0)], Default::default()).is_err()
        );
        assert!(
            Interactions::from_records(1, 1, &[rec(0, 1, 1.0, 0)], Default::default()).is_err()
        );
        assert!(
            Interactions::from_records(1, 1, &[rec(0, 0, f32::NAN, 0)], Default::default())
                .is_err()
        );
    }

    #[test]
    fn from_csr_checks_invariants() {
        assert!(Interactions::from_csr(3, vec![0, 2], vec![1, 1], vec![1.0, 1.0], None).is_err());
        assert!(Interactions::from_csr(3, vec![0, 1], vec![3], vec![1.0], None).is_err());
        assert!(Interactions::from_csr(3, vec![0, 2], vec![0, 2], vec![1.0, 1.0], None).is_ok());
    }

    proptest! {
        #[test]
        fn transpose_twice_is_identity(recs in prop::collection::vec((0u32..8, 0u32..10, 1u8..6), 0..60)) {
            let r: Vec<Record> = recs.iter().map(|&(u, i, v)| Record { user: u, item: i, value: v as f32, timestamp: None }).collect();
            let m = Interactions::from_records(8, 10, &r, Duplicates::KeepLast).unwrap();
            prop_assert_eq!(m.transpose().transpose(), m.clone());
            // every distinct pair is present exactly once
            let mut pairs: Vec<(u32, u32)> = recs.iter().map(|&(u, i, _)| (u, i)).collect();
            pairs.sort();
            pairs.dedup();
            prop_assert_eq!(m.nnz(), pairs.len());
            let back: Vec<(u32, u32)> = m.records().map(|r| (r.user, r.item)).collect();
            prop_assert_eq!(back, pairs);
        }
    }
}
