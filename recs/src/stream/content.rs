//! Identity of ingested files by content, not by path.
//!
//! A file source is known by what it holds: at every committed batch the ingestor records, per
//! file source, a [`ContentMark`]: how many bytes and lines of the file were consumed and the
//! SHA-256 of those bytes (`content-<member>.json` next to the manifest). A file to ingest is
//! matched against the marks: when its first `bytes` bytes hash to a mark's digest it is the same
//! content (whatever its path, a symlink, a rename), so ingestion resumes after the committed
//! lines of that source; a file that grew adds only its new lines; a different file, even under
//! the same name, matches no mark and becomes a new source.
//!
//! Marks are taken at batch boundaries, so a file that shares only part of a source is judged
//! at the last shared mark: when it ends before the source's next mark it is taken as a shorter
//! copy and adds nothing; when it goes on past that mark differently it is a new source whose
//! lines after the shared mark are ingested (the lines between that mark and where the file
//! differs, at most one batch, come in again: the one case where a duplicate remains).
//!
//! **Where the rule applies.** Every file given to [`ingest_files`](super::ingest_files) (plain
//! or gzip). Not to stdin (`recs ingest -`), which stays a new source `file:stdin@<ms>` each run:
//! a pipe cannot be read twice, so recognising known content would mean holding back (in
//! memory or a spool file) everything read until it passes a known mark, which is unbounded
//! for a stream that never ends and would stop `producer | recs ingest -` from committing
//! anything until EOF; write such data to a file to get the rule. Nor to Kafka, whose sources
//! are partitions with broker offsets (each record has one offset, whatever the path). The
//! followed events file of `recs serve --events-file` keeps nothing on disk: at each start it is
//! read from its beginning into empty memory, and a user's live history is a set of movies, so
//! the same bytes read again (after a restart, or repeated in the file) add nothing
//! (`recs-server/tests/foldin.rs::serve_follows_an_event_file`).
//!
//! Marks are written before the manifest; on opening, marks ahead of the manifest's committed
//! offsets (a crash between the two writes) are dropped, so a mark never claims lines that were
//! not committed, and the committed offsets skip what an earlier mark does not cover.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::snapshot::Manifest;
use super::store::SnapshotStore;
use crate::{Error, Result};

/// How much of a file names a new source (`file:<file name>@<sha256 of its first 64 KiB>`).
const HEAD_BYTES: u64 = 64 * 1024;

/// What was consumed of a file source at a committed batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentMark {
    /// Bytes consumed from the start of the (decompressed) file.
    pub bytes: u64,
    /// Lines consumed (the next line offset).
    pub lines: i64,
    /// Hex SHA-256 of those bytes.
    pub sha256: String,
}

/// Content marks of one member, per source topic, in commit order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Marks {
    sources: BTreeMap<String, Vec<ContentMark>>,
}

/// Where a file's lines go: a source topic, and how many leading lines are known already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub topic: String,
    pub skip_lines: i64,
}

fn marks_name(member: &str) -> String {
    format!("content-{member}.json")
}

pub(crate) fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

impl Marks {
    /// The member's marks (none when the file does not exist yet).
    pub(crate) fn load(store: &SnapshotStore, member: &str) -> Result<Marks> {
        let name = marks_name(member);
        match store.get(&name)? {
            None => Ok(Marks::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Serde(format!("{}: {e}", store.describe(&name).display()))),
        }
    }

    /// Writes the marks (atomically, as every store write).
    pub(crate) fn save(&self, store: &SnapshotStore, member: &str) -> Result<()> {
        let json = serde_json::to_vec(self).map_err(|e| Error::Serde(e.to_string()))?;
        store.put(&marks_name(member), &json)
    }

    /// Drops marks ahead of the manifest's committed offsets (of a batch whose manifest write
    /// did not happen).
    pub(crate) fn retain_committed(&mut self, manifest: &Manifest) {
        for (topic, list) in &mut self.sources {
            let committed = manifest.next_offset(topic, 0);
            list.retain(|m| m.lines <= committed);
        }
        self.sources.retain(|_, list| !list.is_empty());
    }

    /// Appends a mark of `topic` (a repeat of its last mark is not stored twice).
    pub(crate) fn add(&mut self, topic: &str, mark: ContentMark) {
        let list = self.sources.entry(topic.to_owned()).or_default();
        if list.last() != Some(&mark) {
            list.push(mark);
        }
    }

    /// Finds the source of the file at `path` by its content; see the module docs.
    pub(crate) fn resolve(&self, path: &Path, manifest: &Manifest) -> Result<Resolved> {
        // Checkpoints: every distinct mark length, ascending, plus the head used for naming.
        let mut checkpoints: Vec<u64> = self
            .sources
            .values()
            .flatten()
            .map(|m| m.bytes)
            .chain([HEAD_BYTES])
            .collect();
        checkpoints.sort_unstable();
        checkpoints.dedup();
        let mut digests: BTreeMap<u64, String> = BTreeMap::new();
        let mut reader = crate::data::open(path)?;
        let mut hasher = Sha256::new();
        let mut done = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        let mut next = 0usize;
        let mut head_len = 0u64;
        while next < checkpoints.len() {
            let want = (checkpoints[next] - done).min(buf.len() as u64) as usize;
            let n = match reader.read(&mut buf[..want]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(path, e)),
            };
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            done += n as u64;
            if done <= HEAD_BYTES {
                head_len = done;
            }
            if done == checkpoints[next] {
                digests.insert(done, hex(&hasher.clone().finalize()));
                next += 1;
            }
        }
        // The best match: the longest consumed prefix this file starts with.
        let best = self
            .sources
            .iter()
            .flat_map(|(topic, list)| {
                list.iter()
                    .enumerate()
                    .map(move |(i, m)| (topic, m, list.get(i + 1)))
            })
            .filter(|(_, m, _)| digests.get(&m.bytes) == Some(&m.sha256))
            .max_by_key(|(_, m, next)| (m.bytes, next.is_none()));
        let skip_lines = match best {
            // Same content, maybe grown: the manifest's offsets skip what was committed.
            Some((topic, _, None)) => {
                return Ok(Resolved {
                    topic: topic.clone(),
                    skip_lines: 0,
                })
            }
            // It matches an older mark and is shorter than the next one: a shorter copy of
            // what was ingested (marks are per batch, so the lines past the mark cannot be
            // compared; taken as known rather than ingested twice).
            Some((_, _, Some(next))) if !digests.contains_key(&next.bytes) => next.lines,
            // It matches an older mark and then differs: its own lines after the mark are new
            // (those between the mark and where it differs, at most a batch, come again).
            Some((_, m, Some(_))) => m.lines,
            None => {
                // Snapshots written before content marks keyed file sources by path
                // (`file:<path>`): such a source resumes by path, as it did then.
                let legacy = format!("file:{}", path.display());
                if manifest.offsets.contains_key(&legacy) && !self.sources.contains_key(&legacy) {
                    return Ok(Resolved {
                        topic: legacy,
                        skip_lines: 0,
                    });
                }
                0
            }
        };
        let head = if head_len == HEAD_BYTES {
            digests.get(&HEAD_BYTES).cloned()
        } else {
            // A file shorter than the head: name it by its whole content.
            Some(hex(&hasher.finalize()))
        }
        .unwrap_or_default();
        let file_name = path
            .file_name()
            .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
        let base = format!("file:{file_name}@{}", &head[..head.len().min(16)]);
        let taken = |t: &str| self.sources.contains_key(t) || manifest.offsets.contains_key(t);
        let mut topic = base.clone();
        let mut n = 2;
        while taken(&topic) {
            topic = format!("{base}-{n}");
            n += 1;
        }
        Ok(Resolved { topic, skip_lines })
    }
}
