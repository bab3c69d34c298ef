//! Reading input files: transparent gzip, fast line reading and number parsing, load options and
//! reports, one entry point for every interaction format, and building a [`Dataset`] from
//! external ids.
//!
//! Loaders read bytes and parse them by hand: no `String` per line, no regex. A `.gz` file is
//! recognised by its magic bytes (`1f 8b`), whatever its name, and read with a multi-member
//! decoder, so concatenated gzip files work too.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::text::{self, TextFormat};
use super::{Dataset, Duplicates, Interactions, Vocab};
use crate::util::{Line, LineReader, MAX_LINE_BYTES};
use crate::{Error, Result};

/// How loaders treat bad input and repeated (user, item) pairs.
///
/// ```
/// use recs::data::{Duplicates, LoadOptions};
/// let opts = LoadOptions { skip_bad_lines: true, ..LoadOptions::default() };
/// assert_eq!(opts.duplicates, Duplicates::KeepLast);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// Skip lines that do not parse, counting them in [`LoadReport::skipped`] (the first
    /// [`MAX_REPORTED_ERRORS`] messages are kept). Default `false`: the first bad line is an
    /// [`Error::Parse`].
    pub skip_bad_lines: bool,
    /// How records of the same (user, item) pair are merged. Default [`Duplicates::KeepLast`].
    pub duplicates: Duplicates,
}

/// How many error messages a [`LoadReport`] keeps when bad lines are skipped.
pub const MAX_REPORTED_ERRORS: usize = 5;

/// What a loader read: line and record counts, skipped lines with the first few errors.
///
/// ```
/// use recs::data::LoadReport;
/// let r = LoadReport { lines: 3, records: 2, skipped: 1, ..Default::default() };
/// assert!(r.to_string().contains("1 skipped"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The file(s) read.
    pub paths: Vec<PathBuf>,
    /// Lines read, header and blank lines included.
    pub lines: usize,
    /// Records parsed.
    pub records: usize,
    /// Bad lines skipped (only with [`LoadOptions::skip_bad_lines`]).
    pub skipped: usize,
    /// Records merged into another record of the same (user, item) pair.
    pub merged: usize,
    /// The first [`MAX_REPORTED_ERRORS`] errors of skipped lines.
    pub errors: Vec<String>,
    /// Remarks on the data that are not errors (for example a known quirk that was fixed).
    pub notes: Vec<String>,
}

impl LoadReport {
    /// Adds the counts of `other` to this report (for loaders that read several files).
    pub fn absorb(&mut self, other: LoadReport) {
        self.paths.extend(other.paths);
        self.lines += other.lines;
        self.records += other.records;
        self.skipped += other.skipped;
        self.merged += other.merged;
        let room = MAX_REPORTED_ERRORS.saturating_sub(self.errors.len());
        self.errors.extend(other.errors.into_iter().take(room));
        self.notes.extend(other.notes);
    }

    pub(crate) fn for_path(path: &Path) -> Self {
        LoadReport {
            paths: vec![path.to_path_buf()],
            ..Default::default()
        }
    }

    /// Records a bad line: kept when skipping, returned otherwise.
    pub(crate) fn bad_line(&mut self, opts: &LoadOptions, err: Error) -> Result<()> {
        if !opts.skip_bad_lines {
            return Err(err);
        }
        self.skipped += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(err.to_string());
        }
        Ok(())
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        write!(
            f,
            "{}: {} lines, {} records, {} skipped, {} merged duplicates",
            names.join(", "),
            self.lines,
            self.records,
            self.skipped,
            self.merged
        )?;
        for e in &self.errors {
            write!(f, "\n  skipped: {e}")?;
        }
        for n in &self.notes {
            write!(f, "\n  note: {n}")?;
        }
        Ok(())
    }
}

/// Opens a file for reading, decompressing it when it starts with the gzip magic bytes.
///
/// Decompression runs on a helper thread, one megabyte ahead of the reader, so that parsing and
/// inflating overlap.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened or read.
///
/// ```
/// use std::io::{Read, Write};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("x.txt"); // a gzip file, despite its name
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// gz.write_all(b"hello")?;
/// std::fs::write(&path, gz.finish()?)?;
/// let mut s = String::new();
/// recs::data::open(&path)?.read_to_string(&mut s)?;
/// assert_eq!(s, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 16, file);
    let head = r.fill_buf().map_err(|e| Error::io(path, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        let decoder = flate2::bufread::MultiGzDecoder::new(r);
        Ok(Box::new(
            ReadAhead::spawn(decoder).map_err(|e| Error::io(path, e))?,
        ))
    } else {
        Ok(Box::new(r))
    }
}

/// A reader fed by a thread that reads `inner` ahead in chunks.
struct ReadAhead {
    rx: std::sync::mpsc::Receiver<io::Result<Option<Vec<u8>>>>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

impl ReadAhead {
    const CHUNK: usize = 1 << 20;

    fn spawn<R: Read + Send + 'static>(mut inner: R) -> io::Result<ReadAhead> {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        std::thread::Builder::new()
            .name("recs-read-ahead".into())
            .spawn(move || loop {
                let mut buf = vec![0u8; Self::CHUNK];
                let mut filled = 0;
                let msg = loop {
                    match inner.read(&mut buf[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == buf.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                let eof = filled < buf.len();
                buf.truncate(filled);
                let sent = match msg {
                    Err(e) => {
                        let _ = tx.send(Ok(Some(buf)));
                        let _ = tx.send(Err(e));
                        return;
                    }
                    Ok(()) if filled > 0 => tx.send(Ok(Some(buf))),
                    Ok(()) => Ok(()),
                };
                // A send fails only when the reader was dropped: stop quietly.
                if sent.is_err() {
                    return;
                }
                if eof {
                    let _ = tx.send(Ok(None));
                    return;
                }
            })?;
        Ok(ReadAhead {
            rx,
            chunk: Vec::new(),
            pos: 0,
            done: false,
        })
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(Some(buf))) => {
                    self.chunk = buf;
                    self.pos = 0;
                }
                Ok(Ok(None)) => self.done = true,
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::other("the decompression thread stopped early"));
                }
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads lines as byte slices from one reusable buffer (no allocation per line), keeping at
/// most [`MAX_LINE_BYTES`] (1 MiB) of a line in memory.
///
/// Lines end at `\n`; a trailing `\r` is removed, and so is a UTF-8 byte order mark on line 1.
/// A longer line is an [`Error::Parse`] naming the file, the line and "line too long (N bytes,
/// limit L)", whatever [`LoadOptions::skip_bad_lines`] says: a training file with such a line is
/// not what its writer meant, and skipping it would train on a silently different file. The
/// line is counted, not kept ([`LineReader`]), so memory stays bounded whatever the input.
pub(crate) struct Lines<R> {
    inner: LineReader<BufReader<R>>,
    path: PathBuf,
    limit: usize,
    line: usize,
}

impl Lines<Box<dyn Read + Send>> {
    /// Opens `path` (gzip or plain).
    pub(crate) fn open(path: &Path) -> Result<Self> {
        Ok(Lines::new(open(path)?, path))
    }
}

impl<R: Read> Lines<R> {
    pub(crate) fn new(inner: R, path: &Path) -> Self {
        Lines::with_limit(inner, path, MAX_LINE_BYTES)
    }

    /// Like [`Lines::new`] with another line limit (tests).
    pub(crate) fn with_limit(inner: R, path: &Path, limit: usize) -> Self {
        Lines {
            inner: LineReader::new(BufReader::with_capacity(1 << 18, inner), limit),
            path: path.to_path_buf(),
            limit: limit.max(1),
            line: 0,
        }
    }

    /// The next line without its terminator, with its 1-based number, or `None` at the end of
    /// the input.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Parse`] for a line longer than the limit.
    pub(crate) fn next_line(&mut self) -> Result<Option<(usize, &[u8])>> {
        let line = self
            .inner
            .next_line()
            .map_err(|e| Error::io(&self.path, e))?;
        let Some(line) = line else {
            return Ok(None);
        };
        self.line += 1;
        match line {
            Line::Text { mut bytes, .. } => {
                if self.line == 1 {
                    bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
                }
                Ok(Some((self.line, bytes)))
            }
            Line::TooLong { len, .. } => Err(Error::Parse {
                path: self.path.clone(),
                line: self.line,
                field: "line",
                message: format!("line too long ({len} bytes, limit {})", self.limit),
            }),
        }
    }
}

/// Removes ASCII whitespace at both ends.
#[inline]
pub(crate) fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// Parses a decimal integer (optional sign, surrounding spaces allowed), checking overflow.
#[inline]
pub(crate) fn parse_int(b: &[u8]) -> Option<i64> {
    let b = trim(b);
    let (neg, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    if neg {
        // 2^63 maps to i64::MIN.
        (v <= 1 << 63).then(|| (v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses a finite float: short integers by hand, everything else by the standard library.
#[inline]
pub(crate) fn parse_float(b: &[u8]) -> Option<f32> {
    let b = trim(b);
    if !b.is_empty() && b.len() <= 7 && b.iter().all(u8::is_ascii_digit) {
        // At most 9_999_999 < 2^24: exact in f32.
        let v = b.iter().fold(0u32, |a, &c| a * 10 + (c - b'0') as u32);
        return Some(v as f32);
    }
    let v: f32 = std::str::from_utf8(b).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Parses a Unix timestamp in seconds: an integer, or a decimal number whose fraction is dropped.
#[inline]
pub(crate) fn parse_timestamp(b: &[u8]) -> Option<i64> {
    parse_int(b).or_else(|| {
        let v: f64 = std::str::from_utf8(trim(b)).ok()?.parse().ok()?;
        (v.is_finite() && v.abs() < 9.2e18).then_some(v.trunc() as i64)
    })
}

/// A field's text for an error message: lossy UTF-8, at most 40 characters.
pub(crate) fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > 40 {
        let cut: String = s.chars().take(40).collect();
        format!("{cut}...")
    } else {
        s.into_owned()
    }
}

/// A fast hasher for integer keys (multiply-rotate with a final mix); inputs are local files,
/// so hash flooding is not a concern.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517C_C1B7_2722_0A95);
    }
    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64);
    }
    fn finish(&self) -> u64 {
        let z = self.0;
        z ^ (z >> 29) ^ (z >> 47)
    }
}

/// Maps external ids to dense indices in first-seen order; small non-negative ids use a table.
pub(crate) struct IdMap {
    dense: Vec<u32>,
    sparse: HashMap<i64, u32, BuildHasherDefault<IdHasher>>,
    ids: Vec<i64>,
}

const DENSE_LIMIT: i64 = 1 << 22;
const ABSENT: u32 = u32::MAX;

impl IdMap {
    pub(crate) fn new() -> Self {
        IdMap {
            dense: Vec::new(),
            sparse: HashMap::default(),
            ids: Vec::new(),
        }
    }

    /// The index of `id`, inserting it when new; `None` when there are already `u32::MAX` ids.
    #[inline]
    pub(crate) fn get_or_insert(&mut self, id: i64) -> Option<u32> {
        let next = self.ids.len();
        if next >= ABSENT as usize {
            return self.get(id);
        }
        let next = next as u32;
        if (0..DENSE_LIMIT).contains(&id) {
            let k = id as usize;
            if k >= self.dense.len() {
                let n = (k + 1).next_power_of_two().min(DENSE_LIMIT as usize);
                self.dense.resize(n, ABSENT);
            }
            let slot = &mut self.dense[k];
            if *slot == ABSENT {
                *slot = next;
                self.ids.push(id);
            }
            Some(*slot)
        } else {
            let ids = &mut self.ids;
            Some(*self.sparse.entry(id).or_insert_with(|| {
                ids.push(id);
                next
            }))
        }
    }

    fn get(&self, id: i64) -> Option<u32> {
        if (0..DENSE_LIMIT).contains(&id) {
            self.dense
                .get(id as usize)
                .copied()
                .filter(|&x| x != ABSENT)
        } else {
            self.sparse.get(&id).copied()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn into_vocab(self) -> Vocab {
        Vocab::from(self.ids)
    }
}

/// Collects records with external ids (columnar) and builds a [`Dataset`].
pub(crate) struct DatasetBuilder {
    users: IdMap,
    items: IdMap,
    user_idx: Vec<u32>,
    item_idx: Vec<u32>,
    values: Vec<f32>,
    /// Timestamps while every record so far has one.
    timestamps: Option<Vec<i64>>,
}

impl DatasetBuilder {
    pub(crate) fn new() -> Self {
        DatasetBuilder {
            users: IdMap::new(),
            items: IdMap::new(),
            user_idx: Vec::new(),
            item_idx: Vec::new(),
            values: Vec::new(),
            timestamps: Some(Vec::new()),
        }
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        self.user_idx.reserve(n);
        self.item_idx.reserve(n);
        self.values.reserve(n);
        if let Some(t) = self.timestamps.as_mut() {
            t.reserve(n);
        }
    }

    /// Adds one record; `Err` carries the field and message when an id cannot be indexed.
    #[inline]
    pub(crate) fn push(
        &mut self,
        user: i64,
        item: i64,
        value: f32,
        timestamp: Option<i64>,
    ) -> std::result::Result<(), (&'static str, String)> {
        if self.values.len() >= u32::MAX as usize {
            return Err(("line", "more than 2^32 - 1 records".into()));
        }
        let u = self
            .users
            .get_or_insert(user)
            .ok_or_else(|| ("user", "more than 2^32 - 1 distinct users".to_string()))?;
        let i = self
            .items
            .get_or_insert(item)
            .ok_or_else(|| ("item", "more than 2^32 - 1 distinct items".to_string()))?;
        self.user_idx.push(u);
        self.item_idx.push(i);
        self.values.push(value);
        match (timestamp, self.timestamps.as_mut()) {
            (Some(t), Some(ts)) => ts.push(t),
            (None, Some(_)) => self.timestamps = None,
            (_, None) => {}
        }
        Ok(())
    }

    /// Builds the dataset; returns it with the number of records merged as duplicates.
    pub(crate) fn finish(self, dups: Duplicates) -> Result<(Dataset, usize)> {
        let n = self.values.len();
        let ts = self.timestamps.filter(|_| n > 0);
        let (interactions, order) = build_csr(
            self.users.len(),
            self.items.len(),
            &self.user_idx,
            &self.item_idx,
            &self.values,
            ts.as_deref(),
            dups,
        )?;
        let merged = n - interactions.nnz();
        Ok((
            Dataset {
                interactions,
                users: self.users.into_vocab(),
                items: self.items.into_vocab(),
                order: Some(order),
            },
            merged,
        ))
    }
}

/// Builds the CSR matrix from columnar records (indices already dense and in range), merging
/// duplicate pairs exactly as [`Interactions::from_records`] does, and returns with it the input
/// position of each stored entry: the first record of its pair for [`Duplicates::KeepFirst`],
/// the last one otherwise.
///
/// Faster than `from_records` for large inputs: one counting sort by user, then each row sorts
/// packed `item << 32 | position` keys.
pub(crate) fn build_csr(
    n_users: usize,
    n_items: usize,
    users: &[u32],
    items: &[u32],
    values: &[f32],
    timestamps: Option<&[i64]>,
    dups: Duplicates,
) -> Result<(Interactions, Vec<u32>)> {
    let n = values.len();
    if users.len() != n || items.len() != n || timestamps.is_some_and(|t| t.len() != n) {
        return Err(Error::Data("record columns have different lengths".into()));
    }
    if let Some(&bad) = users.iter().find(|&&u| u as usize >= n_users) {
        return Err(Error::Data(format!("user {bad} outside 0..{n_users}")));
    }
    let mut start = vec![0usize; n_users + 1];
    for &u in users {
        start[u as usize + 1] += 1;
    }
    for u in 0..n_users {
        start[u + 1] += start[u];
    }
    let mut next = start.clone();
    let mut keys = vec![0u64; n];
    for (pos, (&u, &i)) in users.iter().zip(items).enumerate() {
        let slot = &mut next[u as usize];
        keys[*slot] = (i as u64) << 32 | pos as u64;
        *slot += 1;
    }
    drop(next);
    let mut indptr = Vec::with_capacity(n_users + 1);
    indptr.push(0usize);
    let mut indices: Vec<u32> = Vec::with_capacity(n);
    let mut vals: Vec<f32> = Vec::with_capacity(n);
    let mut ts_out: Option<Vec<i64>> = timestamps.map(|_| Vec::with_capacity(n));
    let mut order: Vec<u32> = Vec::with_capacity(n);
    for u in 0..n_users {
        let row = &mut keys[start[u]..start[u + 1]];
        row.sort_unstable();
        let mut j = 0;
        while j < row.len() {
            let item = (row[j] >> 32) as u32;
            let mut k = j + 1;
            while k < row.len() && (row[k] >> 32) as u32 == item {
                k += 1;
            }
            // Positions of the group, in input order.
            let group = &row[j..k];
            let pos = |x: &u64| (*x & 0xFFFF_FFFF) as usize;
            let first = pos(&group[0]);
            let last = pos(&group[group.len() - 1]);
            let ts_of = |p: usize| timestamps.map(|t| t[p]);
            let latest = || group.iter().filter_map(|x| ts_of(pos(x))).max();
            let (value, ts, at) = match dups {
                Duplicates::KeepFirst => (values[first], ts_of(first), first),
                Duplicates::KeepLast => {
                    // The largest timestamp, ties (or no timestamps) going to the later record.
                    let best = group
                        .iter()
                        .map(pos)
                        .max_by_key(|&p| ts_of(p).unwrap_or(i64::MIN))
                        .unwrap_or(last);
                    (values[best], ts_of(best), last)
                }
                Duplicates::Sum => (group.iter().map(|x| values[pos(x)]).sum(), latest(), last),
                Duplicates::Max => (
                    group
                        .iter()
                        .map(|x| values[pos(x)])
                        .fold(f32::NEG_INFINITY, f32::max),
                    latest(),
                    last,
                ),
            };
            indices.push(item);
            vals.push(value);
            if let Some(t) = ts_out.as_mut() {
                t.push(ts.unwrap_or(0));
            }
            order.push(at as u32);
            j = k;
        }
        indptr.push(indices.len());
    }
    if let Some(&bad) = indices.iter().find(|&&i| i as usize >= n_items) {
        return Err(Error::Data(format!("item {bad} outside 0..{n_items}")));
    }
    let m = Interactions::from_csr(n_items, indptr, indices, vals, ts_out)?;
    Ok((m, order))
}

impl Dataset {
    /// Builds a dataset from parallel arrays of external ids (the form numpy or a dataframe
    /// gives), mapping ids to dense indices in first-seen order.
    ///
    /// `values` defaults to 1.0 (implicit feedback); `timestamps` are kept when given.
    /// Records of one (user, item) pair are merged by `dups`.
    ///
    /// # Errors
    /// [`Error::Data`] when the arrays have different lengths or a value is not finite.
    ///
    /// ```
    /// use recs::data::{Dataset, Duplicates};
    /// let d = Dataset::from_external(&[10, 10, 7], &[3, 5, 3], Some(&[4.0, 5.0, 1.0]), None,
    ///     Duplicates::KeepLast)?;
    /// assert_eq!(d.users.ids(), &[10, 7]);
    /// assert_eq!(d.items.ids(), &[3, 5]);
    /// assert_eq!(d.interactions.values_of(0), &[4.0, 5.0]);
    /// # Ok::<(), recs::Error>(())
    /// ```
    pub fn from_external(
        users: &[i64],
        items: &[i64],
        values: Option<&[f32]>,
        timestamps: Option<&[i64]>,
        dups: Duplicates,
    ) -> Result<Dataset> {
        let n = users.len();
        let check = |name: &str, len: usize| {
            if len == n {
                Ok(())
            } else {
                Err(Error::Data(format!(
                    "{name} has {len} entries but users has {n}"
                )))
            }
        };
        check("items", items.len())?;
        if let Some(v) = values {
            check("values", v.len())?;
        }
        if let Some(t) = timestamps {
            check("timestamps", t.len())?;
        }
        let mut b = DatasetBuilder::new();
        b.reserve(n);
        for k in 0..n {
            let value = values.map_or(1.0, |v| v[k]);
            if !value.is_finite() {
                return Err(Error::Data(format!(
                    "value {k} must be finite, got {value}"
                )));
            }
            b.push(users[k], items[k], value, timestamps.map(|t| t[k]))
                .map_err(|(field, msg)| Error::Data(format!("{field} {k}: {msg}")))?;
        }
        Ok(b.finish(dups)?.0)
    }

    /// Wraps a matrix whose indices are the ids (identity vocabularies, input order unknown).
    ///
    /// ```
    /// use recs::data::{Dataset, Interactions};
    /// let d = Dataset::from_interactions(Interactions::empty(2, 3));
    /// assert_eq!(d.items.len(), 3);
    /// ```
    pub fn from_interactions(interactions: Interactions) -> Dataset {
        Dataset {
            users: Vocab::identity(interactions.n_users()),
            items: Vocab::identity(interactions.n_items()),
            interactions,
            order: None,
        }
    }
}

/// The interaction file formats [`load`] reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// MovieLens `ratings.dat` (ML-1M, ML-10M): `UserID::MovieID::Rating[::Timestamp]`.
    MovieLens,
    /// MovieLens 100K `u.data` (and `u1.base` ...): tab-separated `user item rating timestamp`.
    Ml100k,
    /// Any delimited text file.
    Delimited(TextFormat),
}

impl Format {
    /// Guesses the format from the file name (a `.gz` suffix is ignored): `*.dat` is
    /// [`Format::MovieLens`], `u.data`, `*.base`, `*.test` are [`Format::Ml100k`], `*.csv` is CSV
    /// with a header, anything else tab-separated without header; the columns are user, item,
    /// then optional rating and timestamp.
    ///
    /// ```
    /// use recs::data::Format;
    /// assert_eq!(Format::guess("ml-1m/ratings.dat.gz".as_ref()), Format::MovieLens);
    /// assert_eq!(Format::guess("ml-100k/u.data".as_ref()), Format::Ml100k);
    /// ```
    pub fn guess(path: &Path) -> Format {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if name.ends_with(".dat") && name != "u.data" {
            Format::MovieLens
        } else if name == "u.data" || name.ends_with(".base") || name.ends_with(".test") {
            Format::Ml100k
        } else if name.ends_with(".csv") {
            Format::Delimited(TextFormat::csv())
        } else {
            Format::Delimited(TextFormat::tsv())
        }
    }

    /// The delimited-text description of this format.
    pub fn text_format(&self) -> TextFormat {
        match self {
            Format::MovieLens => TextFormat::movielens(),
            Format::Ml100k => TextFormat::tsv(),
            Format::Delimited(f) => f.clone(),
        }
    }
}

/// Loads an interaction file of any [`Format`] into a [`Dataset`].
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Parse`] (file, line, field) for the first
/// bad line unless [`LoadOptions::skip_bad_lines`], [`Error::Data`] when no record was read.
///
/// ```
/// use recs::data::{load, Format, LoadOptions};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("ratings.dat");
/// std::fs::write(&path, "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")?;
/// let (data, report) = load(&path, &Format::guess(&path), &LoadOptions::default())?;
/// assert_eq!((data.users.len(), data.items.len(), report.records), (2, 2, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(path: &Path, format: &Format, opts: &LoadOptions) -> Result<(Dataset, LoadReport)> {
    text::load_delimited(path, &format.text_format(), opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Record;
    use proptest::prelude::*;

    #[test]
    fn parse_int_handles_signs_spaces_and_overflow() {
        assert_eq!(parse_int(b"42"), Some(42));
        assert_eq!(parse_int(b" -7 "), Some(-7));
        assert_eq!(parse_int(b"+3"), Some(3));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_int(b"99999999999999999999"), None);
        assert_eq!(parse_int(b""), None);
        assert_eq!(parse_int(b"-"), None);
        assert_eq!(parse_int(b"1x"), None);
        assert_eq!(parse_int(b"1.0"), None);
    }

    #[test]
    fn parse_float_and_timestamp() {
        assert_eq!(parse_float(b"5"), Some(5.0));
        assert_eq!(parse_float(b"3.5"), Some(3.5));
        assert_eq!(parse_float(b" -0.25"), Some(-0.25));
        assert_eq!(parse_float(b"1e2"), Some(100.0));
        assert_eq!(parse_float(b"NaN"), None);
        assert_eq!(parse_float(b"inf"), None);
        assert_eq!(parse_float(b"five"), None);
        assert_eq!(parse_float(b""), None);
        assert_eq!(parse_timestamp(b"978300760"), Some(978300760));
        assert_eq!(parse_timestamp(b"978300760.75"), Some(978300760));
        assert_eq!(parse_timestamp(b"2000-12-31"), None);
    }

    #[test]
    fn lines_split_crlf_bom_and_last_line_without_newline() {
        let data = b"\xEF\xBB\xBFa,b\r\n\nc\r\nlast".to_vec();
        let mut l = Lines::new(&data[..], Path::new("mem"));
        let mut got = Vec::new();
        while let Some((n, line)) = l.next_line().unwrap() {
            got.push((n, line.to_vec()));
        }
        assert_eq!(
            got,
            vec![
                (1, b"a,b".to_vec()),
                (2, b"".to_vec()),
                (3, b"c".to_vec()),
                (4, b"last".to_vec())
            ]
        );
    }

    #[test]
    fn lines_survive_lines_longer_than_the_buffer() {
        let long = "x".repeat(600_000);
        let data = format!("{long}\nshort\n");
        let mut l = Lines::new(data.as_bytes(), Path::new("mem"));
        assert_eq!(l.next_line().unwrap().map(|s| s.1.len()), Some(600_000));
        assert_eq!(l.next_line().unwrap(), Some((2, &b"short"[..])));
        assert_eq!(l.next_line().unwrap(), None);
    }

    #[test]
    fn a_line_over_the_limit_is_an_error_naming_file_line_and_length() {
        // Line 2 is 11 bytes; a 10-byte line (line 1) is still fine.
        let data = b"0123456789\n0123456789a\nok\n";
        let mut l = Lines::with_limit(&data[..], Path::new("r.csv"), 10);
        assert_eq!(l.next_line().unwrap().map(|s| s.0), Some(1));
        let err = l.next_line().unwrap_err().to_string();
        assert_eq!(
            err,
            "r.csv:2: field `line`: line too long (11 bytes, limit 10)"
        );
    }

    #[test]
    fn idmap_assigns_first_seen_order_for_dense_and_sparse_ids() {
        let mut m = IdMap::new();
        let ids = [5i64, -3, 1 << 40, 5, 0, -3, 1 << 40, 7_000_000];
        let got: Vec<u32> = ids.iter().map(|&i| m.get_or_insert(i).unwrap()).collect();
        assert_eq!(got, vec![0, 1, 2, 0, 3, 1, 2, 4]);
        assert_eq!(m.into_vocab().ids(), &[5, -3, 1 << 40, 0, 7_000_000]);
    }

    #[test]
    fn from_external_checks_lengths_and_values() {
        let e = Dataset::from_external(&[1, 2], &[1], None, None, Duplicates::KeepLast);
        assert!(e.unwrap_err().to_string().contains("items has 1 entries"));
        let e = Dataset::from_external(&[1], &[1], Some(&[f32::NAN]), None, Duplicates::KeepLast);
        assert!(e.unwrap_err().to_string().contains("finite"));
        let e = Dataset::from_external(&[1], &[1], None, Some(&[]), Duplicates::KeepLast);
        assert!(e.is_err());
    }

    #[test]
    fn from_external_merges_duplicates_and_keeps_order() {
        let d = Dataset::from_external(
            &[1, 1, 2, 1],
            &[9, 8, 9, 9],
            Some(&[1.0, 2.0, 3.0, 4.0]),
            Some(&[10, 20, 30, 40]),
            Duplicates::KeepLast,
        )
        .unwrap();
        assert_eq!(d.interactions.nnz(), 3);
        // user 0 (ext 1): items 0 (ext 9) and 1 (ext 8); item 0 re-rated at position 3.
        assert_eq!(d.interactions.items_of(0), &[0, 1]);
        assert_eq!(d.interactions.values_of(0), &[4.0, 2.0]);
        assert_eq!(d.order.as_deref(), Some(&[3, 1, 2][..]));
        let first = Dataset::from_external(
            &[1, 1, 2, 1],
            &[9, 8, 9, 9],
            None,
            None,
            Duplicates::KeepFirst,
        )
        .unwrap();
        assert_eq!(first.order.as_deref(), Some(&[0, 1, 2][..]));
    }

    #[test]
    fn format_guess() {
        assert_eq!(Format::guess(Path::new("a/ratings.dat")), Format::MovieLens);
        assert_eq!(Format::guess(Path::new("u1.base")), Format::Ml100k);
        assert_eq!(
            Format::guess(Path::new("r.csv.gz")),
            Format::Delimited(TextFormat::csv())
        );
        assert_eq!(
            Format::guess(Path::new("x.tsv")),
            Format::Delimited(TextFormat::tsv())
        );
    }

    fn dups_strategy() -> impl Strategy<Value = Duplicates> {
        prop_oneof![
            Just(Duplicates::KeepLast),
            Just(Duplicates::KeepFirst),
            Just(Duplicates::Sum),
            Just(Duplicates::Max),
        ]
    }

    proptest! {
        #[test]
        fn build_csr_equals_from_records(
            recs in prop::collection::vec((0u32..6, 0u32..8, 1u8..6, 0i64..5), 0..80),
            with_ts in any::<bool>(),
            dups in dups_strategy(),
        ) {
            let records: Vec<Record> = recs.iter().map(|&(u, i, v, t)| Record {
                user: u, item: i, value: v as f32, timestamp: with_ts.then_some(t),
            }).collect();
            let want = Interactions::from_records(6, 8, &records, dups).unwrap();
            let users: Vec<u32> = recs.iter().map(|r| r.0).collect();
            let items: Vec<u32> = recs.iter().map(|r| r.1).collect();
            let values: Vec<f32> = recs.iter().map(|r| r.2 as f32).collect();
            let ts: Vec<i64> = recs.iter().map(|r| r.3).collect();
            let (got, order) = build_csr(6, 8, &users, &items, &values,
                (with_ts && !recs.is_empty()).then_some(&ts[..]), dups).unwrap();
            prop_assert_eq!(&got, &want);
            // order: the first / last input position of each stored pair
            for (k, r) in got.records().enumerate() {
                let positions: Vec<usize> = recs.iter().enumerate()
                    .filter(|(_, x)| x.0 == r.user && x.1 == r.item).map(|(p, _)| p).collect();
                let want_pos = if dups == Duplicates::KeepFirst { positions[0] } else { positions[positions.len() - 1] };
                prop_assert_eq!(order[k] as usize, want_pos);
            }
        }

        #[test]
        fn read_ahead_returns_the_same_bytes(len in 0usize..3_000_000, seed in any::<u64>()) {
            let mut rng = crate::data::rng::Rng::seed_from_u64(seed);
            let data: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
            let mut r = ReadAhead::spawn(std::io::Cursor::new(data.clone())).unwrap();
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            prop_assert_eq!(back, data);
        }

        #[test]
        fn parse_int_agrees_with_std(x in any::<i64>()) {
            prop_assert_eq!(parse_int(x.to_string().as_bytes()), Some(x));
        }

        #[test]
        fn parse_float_agrees_with_std(x in -1e6f32..1e6) {
            let s = x.to_string();
            prop_assert_eq!(parse_float(s.as_bytes()), s.parse::<f32>().ok());
        }

        #[test]
        fn lines_reassemble_the_input(parts in prop::collection::vec("[a-z,:]{0,12}", 0..50)) {
            let text = parts.join("\n");
            let mut l = Lines::new(text.as_bytes(), Path::new("mem"));
            let mut got = Vec::new();
            while let Some((_, line)) = l.next_line().unwrap() {
                got.push(String::from_utf8(line.to_vec()).unwrap());
            }
            // A trailing empty part after the last newline is not a line.
            let mut want = parts.clone();
            if want.last().is_some_and(|s| s.is_empty()) {
                want.pop();
            }
            prop_assert_eq!(got, want);
        }
    }
}
