//! Snapshots: batches of validated events written as CSV (default) or Parquet (feature
//! `parquet`), one file per event type per batch, plus a dead-letter JSON-lines file, all listed
//! in a manifest with offset ranges, counts and sha256 of each file.
//!
//! Snapshots live in a [`SnapshotStore`]: a local directory by default, or an object-store
//! prefix (feature `s3`). Layout (one location per stream; several ingest members may share it):
//! - `manifest-<member>.json`: the [`Manifest`] of one ingest member. Writing it is the commit:
//!   batch files are written (atomically) first, then the manifest (atomically) with the batch
//!   and the next offset of each partition. A crash in between leaves files no manifest lists;
//!   they are ignored and overwritten by the retried batch. So offsets are committed only after
//!   the snapshot is durable (at-least-once), and since consumption restarts at the committed
//!   offsets nothing is written twice.
//! - `<member>-<batch:06>-<kind>.csv|.parquet` and `<member>-<batch:06>-dead_letter.jsonl`.
//!
//! CSV columns: `topic,partition,offset,` then per kind `ts_ms,user_id,movie_id,minute` (watch),
//! `ts_ms,user_id,movie_id,rating` (rate), `ts_ms,request_id,user_id,k` (reco_request),
//! `ts_ms,request_id,user_id,status,latency_ms,k,movie_ids,model_name,model_version,variant,
//! git_sha,data_snapshot_id,server` (reco_response; `movie_ids` is a JSON array, absent
//! optional fields are empty). RFC 4180 quoting.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::event::{Event, EventKind, Rate, RecoRequest, RecoResponse, SourceKey, Ts, Watch};
use super::store::SnapshotStore;
use super::validate::DeadLetter;
use crate::data::{Dataset, Duplicates, Interactions, Record, Vocab};
use crate::{Error, Result};

/// Version of the manifest layout.
pub const MANIFEST_VERSION: u32 = 1;

/// File format of event files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotFormat {
    /// CSV (always available).
    #[default]
    Csv,
    /// Apache Parquet, snappy-compressed (feature `parquet`).
    Parquet,
}

impl std::str::FromStr for SnapshotFormat {
    type Err = Error;
    /// `csv` or `parquet`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "csv" => Ok(SnapshotFormat::Csv),
            "parquet" => Ok(SnapshotFormat::Parquet),
            other => Err(Error::param("format", "csv or parquet", other)),
        }
    }
}

impl SnapshotFormat {
    fn ext(self) -> &'static str {
        match self {
            SnapshotFormat::Csv => "csv",
            SnapshotFormat::Parquet => "parquet",
        }
    }
}

/// The offsets of one partition consumed by a batch (dead letters included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetRange {
    /// Topic (or `file:<name>`).
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First offset consumed.
    pub first: i64,
    /// Last offset consumed.
    pub last: i64,
    /// Records consumed (valid + dead letters).
    pub records: u64,
}

/// Event counts of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Watch events.
    pub watch: u64,
    /// Rate events.
    pub rate: u64,
    /// Recommendation requests.
    pub reco_request: u64,
    /// Recommendation responses.
    pub reco_response: u64,
    /// Inputs sent to the dead-letter file.
    pub dead_letter: u64,
}

impl Counts {
    /// Valid events.
    pub fn valid(&self) -> u64 {
        self.watch + self.rate + self.reco_request + self.reco_response
    }
    /// Adds `other`.
    pub fn add(&mut self, other: &Counts) {
        self.watch += other.watch;
        self.rate += other.rate;
        self.reco_request += other.reco_request;
        self.reco_response += other.reco_response;
        self.dead_letter += other.dead_letter;
    }
    fn bump(&mut self, k: EventKind) {
        match k {
            EventKind::Watch => self.watch += 1,
            EventKind::Rate => self.rate += 1,
            EventKind::RecoRequest => self.reco_request += 1,
            EventKind::RecoResponse => self.reco_response += 1,
        }
    }
}

/// One file of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// File name, relative to the snapshot directory.
    pub name: String,
    /// Event kind (`watch`, `rate`, `reco_request`, `reco_response`) or `dead_letter`.
    pub kind: String,
    /// Format (`dead_letter` files are always JSON lines; this says `csv` for them).
    pub format: SnapshotFormat,
    /// Data rows.
    pub rows: u64,
    /// File size.
    pub bytes: u64,
    /// Hex sha256 of the file.
    pub sha256: String,
}

/// One committed batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchInfo {
    /// Sequence number within the member (0, 1, …).
    pub id: u64,
    /// When it was written (wall clock).
    pub written: Ts,
    /// Offsets consumed, per partition.
    pub ranges: Vec<OffsetRange>,
    /// Counts.
    pub counts: Counts,
    /// Files.
    pub files: Vec<FileInfo>,
}

/// The manifest of one ingest member: its batches and its committed offsets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// Member name.
    pub member: String,
    /// Committed batches, in order.
    pub batches: Vec<BatchInfo>,
    /// Next offset to consume, per topic and partition.
    pub offsets: BTreeMap<String, BTreeMap<i32, i64>>,
}

impl Manifest {
    /// Next offset to consume of `(topic, partition)`, 0 when none was committed.
    pub fn next_offset(&self, topic: &str, partition: i32) -> i64 {
        self.offsets
            .get(topic)
            .and_then(|p| p.get(&partition))
            .copied()
            .unwrap_or(0)
    }
    /// Totals over all batches.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for b in &self.batches {
            c.add(&b.counts);
        }
        c
    }
}

fn check_member(member: &str) -> Result<()> {
    if member.is_empty()
        || member.len() > 64
        || !member
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        || member.starts_with('.')
    {
        return Err(Error::param(
            "member",
            "1-64 characters of [A-Za-z0-9_.-], not starting with `.`",
            member,
        ));
    }
    Ok(())
}

fn manifest_name(member: &str) -> String {
    format!("manifest-{member}.json")
}

fn parse_manifest(bytes: &[u8], path: &Path) -> Result<Manifest> {
    let m: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| Error::Serde(format!("{}: {e}", path.display())))?;
    if m.version != MANIFEST_VERSION {
        return Err(Error::Format(format!(
            "{}: manifest version {}, expected {MANIFEST_VERSION}",
            path.display(),
            m.version
        )));
    }
    Ok(m)
}

/// The writing side of one ingest member in a snapshot directory.
#[derive(Debug)]
pub struct SnapshotWriter {
    store: SnapshotStore,
    manifest: Manifest,
    format: SnapshotFormat,
}

impl SnapshotWriter {
    /// Opens (or creates) a snapshot location (a directory, or any [`SnapshotStore`]) for
    /// member `member`, reading its manifest when present.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a bad member name or a format not compiled in, [`Error::Io`]
    /// when the directory cannot be created or the store not read, [`Error::Serde`]/
    /// [`Error::Format`] for a damaged manifest.
    pub fn open(
        store: impl Into<SnapshotStore>,
        member: &str,
        format: SnapshotFormat,
    ) -> Result<Self> {
        let store = store.into();
        check_member(member)?;
        if format == SnapshotFormat::Parquet && !cfg!(feature = "parquet") {
            return Err(Error::param(
                "format",
                "csv (parquet needs the `parquet` feature)",
                "parquet",
            ));
        }
        store.prepare()?;
        let name = manifest_name(member);
        let manifest = if let Some(bytes) = store.get(&name)? {
            parse_manifest(&bytes, &store.describe(&name))?
        } else {
            Manifest {
                version: MANIFEST_VERSION,
                member: member.to_owned(),
                batches: Vec::new(),
                offsets: BTreeMap::new(),
            }
        };
        Ok(SnapshotWriter {
            store,
            manifest,
            format,
        })
    }

    /// Where the snapshots go.
    pub fn store(&self) -> &SnapshotStore {
        &self.store
    }

    /// The committed state.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Writes one batch durably, then commits it and its offsets in the manifest. `consumed`
    /// gives the offsets consumed per partition (events and dead letters); each partition's
    /// next offset moves to `last + 1`. Does nothing when `consumed` is empty.
    ///
    /// # Errors
    /// [`Error::Io`] when a file cannot be written; the manifest is then unchanged.
    pub fn commit(
        &mut self,
        events: &[(SourceKey, Event)],
        dead: &[DeadLetter],
        mut consumed: Vec<OffsetRange>,
    ) -> Result<Option<&BatchInfo>> {
        if consumed.is_empty() {
            return Ok(None);
        }
        consumed.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        let id = self.manifest.batches.last().map_or(0, |b| b.id + 1);
        let stem = format!("{}-{id:06}", self.manifest.member);
        let mut files = Vec::new();
        let mut counts = Counts::default();
        for kind in EventKind::ALL {
            let rows: Vec<&(SourceKey, Event)> =
                events.iter().filter(|(_, e)| e.kind() == kind).collect();
            if rows.is_empty() {
                continue;
            }
            let bytes = match self.format {
                SnapshotFormat::Csv => to_csv(kind, &rows).into_bytes(),
                SnapshotFormat::Parquet => parquet_bytes(kind, &rows)?,
            };
            for _ in &rows {
                counts.bump(kind);
            }
            let name = format!("{stem}-{}.{}", kind.as_str(), self.format.ext());
            files.push(self.write_file(name, kind.as_str(), rows.len(), &bytes)?);
        }
        if !dead.is_empty() {
            let mut s = String::new();
            for d in dead {
                s.push_str(&serde_json::to_string(d).map_err(|e| Error::Serde(e.to_string()))?);
                s.push('\n');
            }
            counts.dead_letter = dead.len() as u64;
            let name = format!("{stem}-dead_letter.jsonl");
            let mut info = self.write_file(name, "dead_letter", dead.len(), s.as_bytes())?;
            info.format = SnapshotFormat::Csv;
            files.push(info);
        }
        let mut next = self.manifest.clone();
        for r in &consumed {
            let slot = next
                .offsets
                .entry(r.topic.clone())
                .or_default()
                .entry(r.partition)
                .or_insert(0);
            *slot = (*slot).max(r.last + 1);
        }
        next.batches.push(BatchInfo {
            id,
            written: now(),
            ranges: consumed,
            counts,
            files,
        });
        let json = serde_json::to_vec_pretty(&next).map_err(|e| Error::Serde(e.to_string()))?;
        // The manifest goes last: once it lists the batch, every file of it is in place.
        self.store.put(&manifest_name(&next.member), &json)?;
        self.manifest = next;
        Ok(self.manifest.batches.last())
    }

    fn write_file(&self, name: String, kind: &str, rows: usize, bytes: &[u8]) -> Result<FileInfo> {
        self.store.put(&name, bytes)?;
        Ok(FileInfo {
            name,
            kind: kind.to_owned(),
            format: self.format,
            rows: rows as u64,
            bytes: bytes.len() as u64,
            sha256: hex(&Sha256::digest(bytes)),
        })
    }
}

fn now() -> Ts {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ts(d.as_millis() as i64)
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

#[cfg(feature = "parquet")]
fn parquet_bytes(kind: EventKind, rows: &[&(SourceKey, Event)]) -> Result<Vec<u8>> {
    super::parquet::write(kind, rows)
}

#[cfg(not(feature = "parquet"))]
fn parquet_bytes(_: EventKind, _: &[&(SourceKey, Event)]) -> Result<Vec<u8>> {
    Err(Error::Unsupported(
        "parquet needs the `parquet` feature".into(),
    ))
}

/// CSV header of an event kind.
pub fn csv_header(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Watch => "topic,partition,offset,ts_ms,user_id,movie_id,minute",
        EventKind::Rate => "topic,partition,offset,ts_ms,user_id,movie_id,rating",
        EventKind::RecoRequest => "topic,partition,offset,ts_ms,request_id,user_id,k",
        EventKind::RecoResponse => "topic,partition,offset,ts_ms,request_id,user_id,status,latency_ms,k,movie_ids,model_name,model_version,variant,git_sha,data_snapshot_id,server",
    }
}

fn field(s: &mut String, v: &str) {
    if v.contains([',', '"', '\n', '\r']) {
        s.push('"');
        s.push_str(&v.replace('"', "\"\""));
        s.push('"');
    } else {
        s.push_str(v);
    }
}

fn opt(s: &mut String, v: &Option<String>) {
    s.push(',');
    if let Some(v) = v {
        field(s, v);
    }
}

/// Writes events of one kind as CSV (header first). Events of other kinds are skipped.
pub fn to_csv(kind: EventKind, rows: &[&(SourceKey, Event)]) -> String {
    let mut s = String::with_capacity(64 + rows.len() * 64);
    s.push_str(csv_header(kind));
    s.push('\n');
    for (k, e) in rows.iter().map(|r| (&r.0, &r.1)) {
        if e.kind() != kind {
            continue;
        }
        field(&mut s, &k.topic);
        let _ = write!(s, ",{},{},{}", k.partition, k.offset, e.ts().0);
        match e {
            Event::Watch(w) => {
                let _ = write!(s, ",{},", w.user_id);
                field(&mut s, &w.movie_id);
                let _ = write!(s, ",{}", w.minute);
            }
            Event::Rate(r) => {
                let _ = write!(s, ",{},", r.user_id);
                field(&mut s, &r.movie_id);
                let _ = write!(s, ",{}", r.rating);
            }
            Event::RecoRequest(q) => {
                s.push(',');
                field(&mut s, &q.request_id);
                let _ = write!(s, ",{},{}", q.user_id, q.k);
            }
            Event::RecoResponse(p) => {
                s.push(',');
                field(&mut s, &p.request_id);
                let _ = write!(s, ",{},{},{},{},", p.user_id, p.status, p.latency_ms, p.k);
                field(
                    &mut s,
                    &serde_json::to_string(&p.movie_ids).unwrap_or_default(),
                );
                for v in [
                    &p.model_name,
                    &p.model_version,
                    &p.variant,
                    &p.git_sha,
                    &p.data_snapshot_id,
                    &p.server,
                ] {
                    opt(&mut s, v);
                }
            }
        }
        s.push('\n');
    }
    s
}

/// Splits RFC 4180 CSV text into records of fields.
fn csv_records(text: &str) -> std::result::Result<Vec<Vec<String>>, String> {
    let mut out = Vec::new();
    let mut rec = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_start => {
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            cur.push('"');
                        }
                        Some('"') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated quoted field".into()),
                    }
                }
                at_start = false;
            }
            ',' => {
                rec.push(std::mem::take(&mut cur));
                at_start = true;
            }
            '\n' => {
                rec.push(std::mem::take(&mut cur));
                out.push(std::mem::take(&mut rec));
                at_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            c => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if !cur.is_empty() || !rec.is_empty() {
        rec.push(cur);
        out.push(rec);
    }
    Ok(out)
}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> std::result::Result<T, String> {
    s.parse().map_err(|_| format!("{what}: bad number `{s}`"))
}

fn none_if_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Reads a CSV event file written by [`to_csv`].
///
/// # Errors
/// [`Error::Parse`] naming the line and field.
pub fn from_csv(kind: EventKind, text: &str, path: &Path) -> Result<Vec<(SourceKey, Event)>> {
    let perr = |line: usize, message: String| Error::Parse {
        path: path.to_path_buf(),
        line,
        field: "row",
        message,
    };
    let recs = csv_records(text).map_err(|m| perr(0, m))?;
    let mut it = recs.into_iter().enumerate();
    match it.next() {
        Some((_, h)) if h.join(",") == csv_header(kind) => {}
        _ => return Err(perr(1, format!("expected header `{}`", csv_header(kind)))),
    }
    let width = csv_header(kind).split(',').count();
    let mut out = Vec::new();
    for (i, r) in it {
        let line = i + 1;
        if r.len() != width {
            return Err(perr(line, format!("{} fields, expected {width}", r.len())));
        }
        let row = (|| -> std::result::Result<(SourceKey, Event), String> {
            let key = SourceKey {
                topic: r[0].clone(),
                partition: num(&r[1], "partition")?,
                offset: num(&r[2], "offset")?,
            };
            let ts = Ts(num(&r[3], "ts_ms")?);
            let e = match kind {
                EventKind::Watch => Event::Watch(Watch {
                    ts,
                    user_id: num(&r[4], "user_id")?,
                    movie_id: r[5].clone(),
                    minute: num(&r[6], "minute")?,
                }),
                EventKind::Rate => Event::Rate(Rate {
                    ts,
                    user_id: num(&r[4], "user_id")?,
                    movie_id: r[5].clone(),
                    rating: num(&r[6], "rating")?,
                }),
                EventKind::RecoRequest => Event::RecoRequest(RecoRequest {
                    ts,
                    request_id: r[4].clone(),
                    user_id: num(&r[5], "user_id")?,
                    k: num(&r[6], "k")?,
                }),
                EventKind::RecoResponse => Event::RecoResponse(RecoResponse {
                    ts,
                    request_id: r[4].clone(),
                    user_id: num(&r[5], "user_id")?,
                    status: num(&r[6], "status")?,
                    latency_ms: num(&r[7], "latency_ms")?,
                    k: num(&r[8], "k")?,
                    movie_ids: serde_json::from_str(&r[9])
                        .map_err(|e| format!("movie_ids: {e}"))?,
                    model_name: none_if_empty(&r[10]),
                    model_version: none_if_empty(&r[11]),
                    variant: none_if_empty(&r[12]),
                    git_sha: none_if_empty(&r[13]),
                    data_snapshot_id: none_if_empty(&r[14]),
                    server: none_if_empty(&r[15]),
                }),
            };
            Ok((key, e))
        })()
        .map_err(|m| perr(line, m))?;
        out.push(row);
    }
    Ok(out)
}

/// Every committed batch of every member in a snapshot directory, read back.
///
/// ```
/// use recs::stream::{ingest_reader, IngestConfig, SnapshotSet};
/// let dir = tempfile::tempdir()?;
/// let log = "2024-02-01T12:34:56,1,GET /rate/10=4\n2024-02-01T12:35:00,1,GET /rate/11=9\n";
/// let sum = ingest_reader("demo", log.as_bytes(), &IngestConfig::new(dir.path()))?;
/// assert_eq!((sum.counts.rate, sum.counts.dead_letter), (1, 1));
/// let set = SnapshotSet::open(dir.path())?;
/// set.verify()?;
/// let data = set.training_data()?;
/// assert_eq!(data.ratings.interactions.nnz(), 1);
/// assert_eq!(data.ratings.items.ids(), &[10]);
/// assert!(set.dead_letters()?[0].reason.contains("rating"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SnapshotSet {
    store: SnapshotStore,
    manifests: Vec<Manifest>,
}

/// Training data from a snapshot set: explicit ratings and implicit watches over one pair of
/// vocabularies (the same user and item indices in both).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingData {
    /// Rate events (re-ratings: the latest wins), timestamps in seconds.
    pub ratings: Dataset,
    /// Watch events, value = number of watch events (minutes streamed) of the pair,
    /// timestamp = the latest, in seconds.
    pub watches: Dataset,
    /// Movie id (string) of each item index. When every movie id is an integer the item
    /// vocabulary holds those integers; otherwise it is the identity and this maps back.
    pub movie_ids: Vec<String>,
}

impl SnapshotSet {
    /// Reads every `manifest-*.json` of a snapshot location (a directory, or any
    /// [`SnapshotStore`]).
    ///
    /// # Errors
    /// [`Error::Io`], or a damaged manifest.
    pub fn open(store: impl Into<SnapshotStore>) -> Result<Self> {
        let store = store.into();
        let mut manifests = Vec::new();
        for name in store.list("manifest-", ".json")? {
            let path = store.describe(&name);
            // Listed, then gone: a concurrent writer cannot remove manifests, so this is damage.
            let bytes = store.get(&name)?.ok_or_else(|| {
                Error::io(&path, std::io::Error::from(std::io::ErrorKind::NotFound))
            })?;
            manifests.push(parse_manifest(&bytes, &path)?);
        }
        Ok(SnapshotSet { store, manifests })
    }

    /// Opens a location string: a directory, `file:///dir`, or `s3://bucket/prefix` (feature
    /// `s3`), see [`SnapshotStore::parse`].
    ///
    /// ```
    /// use recs::stream::{ingest_reader, IngestConfig, SnapshotSet};
    /// let dir = tempfile::tempdir()?;
    /// ingest_reader("e", "2024-02-01T12:00:00,1,GET /rate/10=4\n".as_bytes(), &IngestConfig::new(dir.path()))?;
    /// let set = SnapshotSet::open_location(dir.path().to_str().unwrap())?;
    /// assert_eq!(set.counts().rate, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`SnapshotStore::parse`] and [`SnapshotSet::open`].
    pub fn open_location(location: &str) -> Result<Self> {
        SnapshotSet::open(SnapshotStore::parse(location)?)
    }

    /// Where the set lives.
    pub fn store(&self) -> &SnapshotStore {
        &self.store
    }

    /// The manifests, by member name.
    pub fn manifests(&self) -> &[Manifest] {
        &self.manifests
    }

    /// Totals over all members.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for m in &self.manifests {
            c.add(&m.counts());
        }
        c
    }

    /// An id for the set: sha256 over the sorted file hashes (first 16 hex digits).
    pub fn id(&self) -> String {
        let mut h: Vec<&str> = self.files().map(|f| f.sha256.as_str()).collect();
        h.sort_unstable();
        hex(&Sha256::digest(h.concat().as_bytes()))[..16].to_owned()
    }

    fn files(&self) -> impl Iterator<Item = &FileInfo> {
        self.manifests
            .iter()
            .flat_map(|m| &m.batches)
            .flat_map(|b| &b.files)
    }

    /// Reads a listed file and checks its size and sha256 against the manifest.
    fn read(&self, f: &FileInfo) -> Result<Vec<u8>> {
        let path = self.store.describe(&f.name);
        let b = self.store.get(&f.name)?.ok_or_else(|| {
            Error::Format(format!(
                "{}: listed in the manifest but missing from the snapshot store",
                path.display()
            ))
        })?;
        let sha = hex(&Sha256::digest(&b));
        if b.len() as u64 != f.bytes || sha != f.sha256 {
            return Err(Error::Format(format!(
                "{}: checksum mismatch: {} bytes with sha256 {sha}, manifest says {} bytes with sha256 {}",
                path.display(),
                b.len(),
                f.bytes,
                f.sha256
            )));
        }
        Ok(b)
    }

    /// Checks the size and sha256 of every listed file.
    ///
    /// # Errors
    /// [`Error::Format`] naming the first file that is missing or does not match.
    pub fn verify(&self) -> Result<()> {
        for f in self.files() {
            self.read(f)?;
        }
        Ok(())
    }

    /// Every valid event, deduplicated by [`SourceKey`] and sorted by it.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Parse`] for an unreadable file.
    pub fn events(&self) -> Result<Vec<(SourceKey, Event)>> {
        let mut all = Vec::new();
        for f in self.files() {
            let Some(kind) = EventKind::ALL.into_iter().find(|k| k.as_str() == f.kind) else {
                continue;
            };
            let bytes = self.read(f)?;
            let path = self.store.describe(&f.name);
            match f.format {
                SnapshotFormat::Csv => {
                    let text = String::from_utf8(bytes)
                        .map_err(|_| Error::Data(format!("{}: not UTF-8", path.display())))?;
                    all.extend(from_csv(kind, &text, &path)?);
                }
                SnapshotFormat::Parquet => all.extend(parquet_read(kind, bytes, &path)?),
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.dedup_by(|a, b| a.0 == b.0);
        Ok(all)
    }

    /// Every dead letter, sorted by key.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Serde`] for an unreadable file.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        let mut all = Vec::new();
        for f in self.files().filter(|f| f.kind == "dead_letter") {
            let bytes = self.read(f)?;
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                all.push(
                    serde_json::from_slice::<DeadLetter>(line)
                        .map_err(|e| Error::Serde(format!("{}: {e}", f.name)))?,
                );
            }
        }
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all.dedup_by(|a, b| a.key == b.key);
        Ok(all)
    }

    /// Rate and watch events as training data (see [`training_data`]).
    ///
    /// # Errors
    /// As [`SnapshotSet::events`].
    pub fn training_data(&self) -> Result<TrainingData> {
        let events = self.events()?;
        training_data(events.iter().map(|(_, e)| e))
    }
}

#[cfg(feature = "parquet")]
fn parquet_read(kind: EventKind, bytes: Vec<u8>, path: &Path) -> Result<Vec<(SourceKey, Event)>> {
    super::parquet::read(kind, bytes, path)
}

#[cfg(not(feature = "parquet"))]
fn parquet_read(_: EventKind, _: Vec<u8>, path: &Path) -> Result<Vec<(SourceKey, Event)>> {
    Err(Error::Unsupported(format!(
        "{}: reading parquet needs the `parquet` feature",
        path.display()
    )))
}

/// Builds [`TrainingData`] from events: rate events → explicit ratings, watch events →
/// implicit counts; users and movies indexed in first-seen order over both.
///
/// # Errors
/// [`Error::Data`] when a rating is not finite (validated events never are).
pub fn training_data<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<TrainingData> {
    let mut users = Vocab::new();
    let mut movies: HashMap<&'a str, u32> = HashMap::new();
    let mut movie_ids: Vec<String> = Vec::new();
    let mut rates = Vec::new();
    let mut watches = Vec::new();
    for e in events {
        let (movie, value, out) = match e {
            Event::Rate(r) => (r.movie_id.as_str(), r.rating, &mut rates),
            Event::Watch(w) => (w.movie_id.as_str(), 1.0, &mut watches),
            _ => continue,
        };
        let user = users.index_or_insert(e.user_id());
        let next = movies.len() as u32;
        let item = *movies.entry(movie).or_insert_with(|| {
            movie_ids.push(movie.to_owned());
            next
        });
        out.push(Record {
            user,
            item,
            value,
            timestamp: Some(e.ts().0.div_euclid(1000)),
        });
    }
    let numeric: Option<Vec<i64>> = movie_ids
        .iter()
        .map(|m| m.parse::<i64>().ok().filter(|n| n.to_string() == *m))
        .collect();
    let items = match numeric {
        Some(ids) => Vocab::from(ids),
        None => Vocab::identity(movie_ids.len()),
    };
    let (nu, ni) = (users.len(), items.len());
    let build = |records: &[Record], dups| -> Result<Dataset> {
        let interactions = Interactions::from_records(nu, ni, records, dups)?;
        Ok(Dataset {
            interactions,
            users: users.clone(),
            items: items.clone(),
            order: None,
        })
    };
    Ok(TrainingData {
        ratings: build(&rates, Duplicates::KeepLast)?,
        watches: build(&watches, Duplicates::Sum)?,
        movie_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting_roundtrip() {
        let key = SourceKey {
            topic: "t,\"x\"".into(),
            partition: 3,
            offset: 9,
        };
        let e = Event::RecoResponse(RecoResponse {
            ts: Ts(5),
            request_id: "r\n1".into(),
            user_id: 2,
            status: 200,
            latency_ms: 1.5,
            k: 2,
            movie_ids: vec!["a,b".into(), "c\"d".into()],
            model_name: Some("als".into()),
            model_version: None,
            variant: Some("B".into()),
            git_sha: None,
            data_snapshot_id: None,
            server: None,
        });
        let rows = [(key, e)];
        let refs: Vec<_> = rows.iter().collect();
        let text = to_csv(EventKind::RecoResponse, &refs);
        let back = from_csv(EventKind::RecoResponse, &text, Path::new("x")).unwrap();
        assert_eq!(back, rows);
        assert!(from_csv(EventKind::Watch, &text, Path::new("x")).is_err());
    }

    #[test]
    fn training_data_shares_vocab_and_maps_slugs() {
        let w = |u, m: &str| {
            Event::Watch(Watch {
                ts: Ts(1000),
                user_id: u,
                movie_id: m.into(),
                minute: 0,
            })
        };
        let r = |u, m: &str, x| {
            Event::Rate(Rate {
                ts: Ts(2000),
                user_id: u,
                movie_id: m.into(),
                rating: x,
            })
        };
        let ev = [
            w(5, "a+b"),
            w(5, "a+b"),
            r(6, "c", 3.0),
            r(6, "c", 4.0),
            w(6, "c"),
        ];
        let t = training_data(ev.iter()).unwrap();
        assert_eq!(t.movie_ids, ["a+b", "c"]);
        assert_eq!(t.watches.users.ids(), &[5, 6]);
        assert_eq!(t.watches.interactions.values_of(0), &[2.0]);
        assert_eq!(t.ratings.interactions.values_of(1), &[4.0]);
        assert_eq!(t.ratings.interactions.items_of(1), &[1]);
        let num = training_data([r(1, "10", 3.0), r(1, "007", 3.0)].iter()).unwrap();
        assert_eq!(
            num.ratings.items.ids(),
            &[0, 1],
            "`007` is not canonical: identity vocab"
        );
    }
}
