//! Ingestion: raw records (a Kafka message, a line of a file) → parse → validate → batch →
//! snapshot, with dead letters for everything that fails and offsets committed only with a
//! durable batch.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::store::SnapshotStore;
use sha2::{Digest, Sha256};

use serde::{Deserialize, Serialize};

use super::content::{hex, ContentMark, Marks};
use super::event::{Event, SourceKey};
use super::parse::parse_line;
use super::snapshot::{Counts, Manifest, OffsetRange, SnapshotFormat, SnapshotWriter};
use super::validate::{DeadLetter, Rules, Validator};
use crate::util::{Line, LineReader, MAX_LINE_BYTES};
use crate::{Error, Result};

/// Where and how to ingest.
///
/// ```
/// use recs::stream::{IngestConfig, SnapshotFormat};
/// let c = IngestConfig::new("snapshots").member("1").batch_size(10_000);
/// assert_eq!(c.format, SnapshotFormat::Csv);
/// ```
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Where snapshots go: a directory ([`IngestConfig::new`]) or any [`SnapshotStore`]
    /// ([`IngestConfig::at`]).
    pub dir: SnapshotStore,
    /// Member name of this ingest process (file names, manifest name). Default `"0"`.
    pub member: String,
    /// Snapshot file format. Default CSV.
    pub format: SnapshotFormat,
    /// Records (valid + dead letters) per batch. Default 50 000; must be > 0.
    pub batch_size: usize,
    /// Longest record accepted, in bytes; longer ones are dead letters (raw truncated to this).
    /// Default 1 MiB.
    pub max_record_bytes: usize,
    /// Validation rules.
    pub rules: Rules,
}

impl IngestConfig {
    /// Defaults for directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        IngestConfig::at(dir.into())
    }
    /// Defaults for snapshot location `store` (a directory or an object-store prefix).
    ///
    /// ```
    /// use recs::stream::{IngestConfig, SnapshotStore};
    /// let c = IngestConfig::at(SnapshotStore::parse("file:///srv/snapshots")?);
    /// assert_eq!(c.dir.to_string(), "/srv/snapshots");
    /// # Ok::<(), recs::Error>(())
    /// ```
    pub fn at(store: impl Into<SnapshotStore>) -> Self {
        IngestConfig {
            dir: store.into(),
            member: "0".into(),
            format: SnapshotFormat::Csv,
            batch_size: 50_000,
            max_record_bytes: MAX_LINE_BYTES,
            rules: Rules::default(),
        }
    }
    /// Sets the member name.
    pub fn member(mut self, m: impl Into<String>) -> Self {
        self.member = m.into();
        self
    }
    /// Sets the batch size.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }
    /// Sets the format.
    pub fn format(mut self, f: SnapshotFormat) -> Self {
        self.format = f;
        self
    }
    /// Sets the validation rules.
    pub fn rules(mut self, r: Rules) -> Self {
        self.rules = r;
        self
    }
}

/// What an ingest run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestSummary {
    /// Events written and dead letters, this run.
    pub counts: Counts,
    /// Batches committed this run.
    pub batches: u64,
    /// Records skipped because their offset was already committed (a restart re-reading).
    pub already_committed: u64,
    /// Blank lines skipped (files only).
    pub blank: u64,
    /// Dead letters committed this run, by [`reason_class`].
    pub reasons: BTreeMap<String, u64>,
    /// Ids ([`crate::stream::BatchInfo::id`]) of the batches committed this run.
    pub batch_ids: Vec<u64>,
}

/// The class of a dead-letter reason: its first two `:`-separated parts (`parse: json`,
/// `parse: log line`, `invalid: rating`, …), for counting.
///
/// ```
/// use recs::stream::reason_class;
/// assert_eq!(reason_class("invalid: rating: expected 1..=5, got 11"), "invalid: rating");
/// assert_eq!(reason_class("parse: log line: bad time `x`"), "parse: log line");
/// assert_eq!(reason_class("odd"), "odd");
/// ```
pub fn reason_class(reason: &str) -> &str {
    match reason.match_indices(':').nth(1) {
        Some((i, _)) => &reason[..i],
        None => reason,
    }
}

impl fmt::Display for IngestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "{} valid events (watch {}, rate {}, reco_request {}, reco_response {}), {} dead letters, {} batches, {} already committed",
            c.valid(),
            c.watch,
            c.rate,
            c.reco_request,
            c.reco_response,
            c.dead_letter,
            self.batches,
            self.already_committed
        )
    }
}

/// The ingest pipeline of one member: push raw records with their [`SourceKey`], it parses,
/// validates, batches and commits them.
///
/// ```
/// use recs::stream::{IngestConfig, Ingestor, SourceKey};
/// let dir = tempfile::tempdir()?;
/// let mut ing = Ingestor::open(&IngestConfig::new(dir.path()))?;
/// let key = |o| SourceKey { topic: "events".into(), partition: 0, offset: o };
/// ing.push(key(0), br#"{"type":"watch","ts":1700000000,"user_id":1,"movie_id":"m","minute":3}"#)?;
/// ing.push(key(1), b"garbage")?;
/// let sum = ing.finish()?;
/// assert_eq!((sum.counts.watch, sum.counts.dead_letter), (1, 1));
/// // A second run re-reading the same records writes nothing new.
/// let mut again = Ingestor::open(&IngestConfig::new(dir.path()))?;
/// assert_eq!(again.next_offset("events", 0), 2);
/// again.push(key(1), b"garbage")?;
/// assert_eq!(again.finish()?.already_committed, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Ingestor {
    writer: SnapshotWriter,
    validator: Validator,
    batch_size: usize,
    max_record_bytes: usize,
    events: Vec<(SourceKey, Event)>,
    dead: Vec<DeadLetter>,
    ranges: HashMap<(String, i32), OffsetRange>,
    buffered: usize,
    summary: IngestSummary,
    /// Content marks of file sources (see `content.rs`), and the positions reached since the
    /// last commit (bytes, lines, digest state), finalised into marks at the next commit.
    marks: Marks,
    staged: BTreeMap<String, (u64, i64, Sha256)>,
    store: SnapshotStore,
    member: String,
}

impl Ingestor {
    /// Opens the member's snapshot state (its committed offsets).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for bad settings; see [`SnapshotWriter::open`].
    pub fn open(config: &IngestConfig) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::param("batch_size", "> 0", 0));
        }
        if config.max_record_bytes == 0 {
            return Err(Error::param("max_record_bytes", "> 0", 0));
        }
        let writer = SnapshotWriter::open(&config.dir, &config.member, config.format)?;
        let mut marks = Marks::load(&config.dir, &config.member)?;
        // Marks are written before the manifest: drop any of a batch that did not commit.
        marks.retain_committed(writer.manifest());
        Ok(Ingestor {
            writer,
            validator: Validator::new(config.rules.clone())?,
            batch_size: config.batch_size,
            max_record_bytes: config.max_record_bytes,
            events: Vec::new(),
            dead: Vec::new(),
            ranges: HashMap::new(),
            buffered: 0,
            summary: IngestSummary::default(),
            marks,
            staged: BTreeMap::new(),
            store: config.dir.clone(),
            member: config.member.clone(),
        })
    }

    /// The committed manifest.
    pub fn manifest(&self) -> &Manifest {
        self.writer.manifest()
    }

    /// The next offset to consume of a partition: after the committed and buffered ones.
    pub fn next_offset(&self, topic: &str, partition: i32) -> i64 {
        let committed = self.writer.manifest().next_offset(topic, partition);
        self.ranges
            .get(&(topic.to_owned(), partition))
            .map_or(committed, |r| committed.max(r.last + 1))
    }

    /// Records buffered and not yet committed.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Ingests one raw record. Records at offsets already consumed are skipped (counted in
    /// [`IngestSummary::already_committed`]). Commits a batch when it is full.
    ///
    /// Returns `true` when the record was taken (valid or dead letter).
    ///
    /// # Errors
    /// Only when a batch cannot be written ([`Error::Io`]); a bad record is never an error.
    pub fn push(&mut self, key: SourceKey, raw: &[u8]) -> Result<bool> {
        if key.offset < self.next_offset(&key.topic, key.partition) {
            self.summary.already_committed += 1;
            return Ok(false);
        }
        let result = if raw.len() > self.max_record_bytes {
            Err(format!(
                "parse: record of {} bytes, limit {}",
                raw.len(),
                self.max_record_bytes
            ))
        } else {
            match parse_line(raw) {
                Err(e) => Err(format!("parse: {e}")),
                Ok(ev) => match self.validator.check(&ev) {
                    Ok(()) => Ok(ev),
                    Err(why) => Err(format!("invalid: {why}")),
                },
            }
        };
        self.take(key, result, raw)
    }

    /// Records a dead letter for a record the caller could not read whole (a line past the
    /// record limit: `raw` is its start). Skipped like [`Ingestor::push`] when already
    /// consumed.
    ///
    /// # Errors
    /// As [`Ingestor::push`].
    pub fn push_dead(&mut self, key: SourceKey, reason: String, raw: &[u8]) -> Result<bool> {
        if key.offset < self.next_offset(&key.topic, key.partition) {
            self.summary.already_committed += 1;
            return Ok(false);
        }
        self.take(key, Err(reason), raw)
    }

    fn take(
        &mut self,
        key: SourceKey,
        result: std::result::Result<Event, String>,
        raw: &[u8],
    ) -> Result<bool> {
        let r = self
            .ranges
            .entry((key.topic.clone(), key.partition))
            .or_insert_with(|| OffsetRange {
                topic: key.topic.clone(),
                partition: key.partition,
                first: key.offset,
                last: key.offset,
                records: 0,
            });
        r.first = r.first.min(key.offset);
        r.last = r.last.max(key.offset);
        r.records += 1;
        match result {
            Ok(ev) => self.events.push((key, ev)),
            Err(reason) => {
                let cut = raw.len().min(self.max_record_bytes);
                self.dead.push(DeadLetter {
                    key,
                    reason,
                    raw: String::from_utf8_lossy(&raw[..cut]).into_owned(),
                })
            }
        }
        self.buffered += 1;
        if self.buffered >= self.batch_size {
            self.flush()?;
        }
        Ok(true)
    }

    /// Commits the buffered records as one batch (nothing when empty).
    ///
    /// # Errors
    /// [`Error::Io`] when the batch cannot be written; the buffer is kept for a retry.
    pub fn flush(&mut self) -> Result<()> {
        if self.buffered == 0 {
            return Ok(());
        }
        let ranges: Vec<OffsetRange> = self.ranges.values().cloned().collect();
        if !self.staged.is_empty() {
            let mut marks = self.marks.clone();
            for (topic, (bytes, lines, digest)) in &self.staged {
                let mark = ContentMark {
                    bytes: *bytes,
                    lines: *lines,
                    sha256: hex(&digest.clone().finalize()),
                };
                marks.add(topic, mark);
            }
            marks.save(&self.store, &self.member)?;
            self.marks = marks;
            self.staged.clear();
        }
        if let Some(b) = self.writer.commit(&self.events, &self.dead, ranges)? {
            self.summary.counts.add(&b.counts);
            self.summary.batches += 1;
            self.summary.batch_ids.push(b.id);
            for d in &self.dead {
                *self
                    .summary
                    .reasons
                    .entry(reason_class(&d.reason).to_owned())
                    .or_default() += 1;
            }
        }
        self.events.clear();
        self.dead.clear();
        self.ranges.clear();
        self.buffered = 0;
        Ok(())
    }

    /// Commits what is buffered and returns the summary of this run.
    ///
    /// # Errors
    /// As [`Ingestor::flush`].
    pub fn finish(mut self) -> Result<IngestSummary> {
        self.flush()?;
        Ok(self.summary)
    }

    /// The summary so far (committed batches only).
    pub fn summary(&self) -> &IngestSummary {
        &self.summary
    }

    pub(crate) fn note_blank(&mut self) {
        self.summary.blank += 1;
    }
}

/// Ingests lines from `reader` (JSON events or course log lines, mixed freely) as source
/// `file:<name>`, partition 0, offset = 0-based line number. Re-running over the same input
/// resumes after the last committed line.
///
/// # Errors
/// [`Error::Io`] when reading or writing fails (bad lines are dead letters, never errors).
pub fn ingest_reader(
    name: &str,
    reader: impl BufRead,
    config: &IngestConfig,
) -> Result<IngestSummary> {
    let mut ing = Ingestor::open(config)?;
    ingest_lines(&mut ing, &format!("file:{name}"), reader, 0, false)?;
    ing.finish()
}

fn ingest_lines(
    ing: &mut Ingestor,
    topic: &str,
    reader: impl BufRead,
    skip_lines: i64,
    by_content: bool,
) -> Result<()> {
    let name = topic.strip_prefix("file:").unwrap_or(topic);
    // Reading is bounded by the record limit: an over-long line is skipped to its end, never
    // held whole (a 2 GiB line in a small gzip must not take the ingestor to 2 GiB).
    let mut lines = LineReader::new(reader, ing.max_record_bytes);
    if by_content {
        lines = lines.with_digest();
    }
    let mut offset = 0i64;
    // The line is copied out so that the reader's position and digest can be read before the
    // push (the copy is at most the record limit, and reused).
    let mut scratch: Vec<u8> = Vec::new();
    loop {
        let too_long = match lines.next_line().map_err(|e| Error::io(name, e))? {
            None => break,
            Some(Line::Text { bytes, .. }) => {
                scratch.clear();
                scratch.extend_from_slice(bytes);
                None
            }
            Some(Line::TooLong {
                offset: at,
                len,
                prefix,
            }) => {
                scratch.clear();
                scratch.extend_from_slice(prefix);
                Some((at, len))
            }
        };
        let key = SourceKey {
            topic: topic.to_owned(),
            partition: 0,
            offset,
        };
        if too_long.is_none() && scratch.iter().all(u8::is_ascii_whitespace) {
            ing.note_blank();
        } else if offset < skip_lines {
            // Known content shared with another source (see `content.rs`).
            ing.summary.already_committed += 1;
        } else {
            if let Some(d) = lines.digest() {
                // Staged before the push, so a batch this line fills carries its mark.
                ing.staged
                    .insert(topic.to_owned(), (lines.position(), offset + 1, d.clone()));
            }
            match too_long {
                None => {
                    ing.push(key, &scratch)?;
                }
                Some((at, len)) => {
                    let reason = format!(
                        "parse: line too long: {len} bytes at byte offset {at}, limit {}",
                        ing.max_record_bytes
                    );
                    ing.push_dead(key, reason, &scratch)?;
                }
            }
        }
        offset += 1;
    }
    Ok(())
}

/// Ingests files (gzip-transparent; `-` is stdin), each as a source known by its content, not
/// its path: the same bytes through another path, a symlink or after a rename add nothing, a file
/// that grew adds only its new lines (an appended log is picked up where it stopped), and a
/// different file under a known name is a new source (`file:<name>@<sha256 of its head>`; see
/// the `content-<member>.json` marks). Lines are read with memory bounded by the record limit
/// ([`LineReader`]): a longer line is one dead letter (`line too long`, with its byte offset).
/// Stdin is named `file:stdin@<ms>`, new each run: a pipe cannot be matched by content without
/// holding back what it sent (see the `content` module docs, "Where the rule applies").
///
/// ```no_run
/// use recs::stream::{ingest_files, IngestConfig};
/// let summary = ingest_files(&["events.log".as_ref()], &IngestConfig::new("snapshots"))?;
/// println!("{summary}");
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::Io`] when a file cannot be read or a batch cannot be written.
pub fn ingest_files(paths: &[&Path], config: &IngestConfig) -> Result<IngestSummary> {
    let mut ing = Ingestor::open(config)?;
    for p in paths {
        if p.as_os_str() == "-" {
            // A pipe cannot be re-read: each run is its own source, so nothing is skipped.
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let topic = format!("file:stdin@{ms}");
            ingest_lines(&mut ing, &topic, std::io::stdin().lock(), 0, false)?;
        } else {
            // Identity by content, not by path (see `content.rs`).
            let source = ing.marks.resolve(p, ing.writer.manifest())?;
            let r = crate::data::open(p)?;
            ingest_lines(
                &mut ing,
                &source.topic,
                std::io::BufReader::with_capacity(1 << 16, r),
                source.skip_lines,
                true,
            )?;
        }
    }
    ing.finish()
}
