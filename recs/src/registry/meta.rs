//! Version names, version metadata (`meta.json`), latest-pointer entries and provenance helpers.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::RegistryError;
use crate::data::Interactions;
use crate::{Error, Result};

/// Layout version of `meta.json`; bumped on incompatible changes.
pub const META_FORMAT: u32 = 1;

/// A version name `vMAJOR.MINOR` (for example `v1.3`).
///
/// Parsing is strict, so that a name can never escape the registry: a `v`, then two decimal
/// numbers without leading zeros (each at most 9 digits), separated by one dot. Versions order
/// numerically (`v1.10` after `v1.9`).
///
/// ```
/// use recs::registry::Version;
/// let v: Version = "v1.3".parse()?;
/// assert_eq!((v.major, v.minor), (1, 3));
/// assert_eq!(v.to_string(), "v1.3");
/// assert!("../v1.3".parse::<Version>().is_err());
/// assert!("v1.3/x".parse::<Version>().is_err());
/// assert!(Version::new(1, 9) < Version::new(1, 10));
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major number: bumped for a new model family or an incompatible change.
    pub major: u32,
    /// Minor number: bumped for each retrain.
    pub minor: u32,
}

impl Version {
    /// The version `vMAJOR.MINOR`.
    pub const fn new(major: u32, minor: u32) -> Self {
        Version { major, minor }
    }

    /// The first version of an empty registry, `v1.0`.
    pub const FIRST: Version = Version::new(1, 0);

    /// The largest MAJOR or MINOR number (9 digits).
    pub const MAX_NUMBER: u32 = 999_999_999;

    /// Checks that both numbers are at most [`MAX_NUMBER`](Self::MAX_NUMBER), so that the name
    /// parses back.
    ///
    /// # Errors
    /// [`RegistryError::BadName`].
    pub fn validated(self) -> Result<Version> {
        if self.major > Self::MAX_NUMBER || self.minor > Self::MAX_NUMBER {
            return Err(RegistryError::BadName {
                name: self.to_string(),
                reason: "MAJOR and MINOR are at most 999999999",
            }
            .into());
        }
        Ok(self)
    }

    /// The version after `self` for the given bump.
    ///
    /// # Errors
    /// [`RegistryError::BadName`] when the number would overflow.
    pub fn bumped(self, bump: Bump) -> Result<Version> {
        let overflow = || {
            Error::from(RegistryError::BadName {
                name: self.to_string(),
                reason: "no version number after this one",
            })
        };
        let next = match bump {
            Bump::Minor => Version::new(self.major, self.minor.saturating_add(1)),
            Bump::Major => Version::new(self.major.saturating_add(1), 0),
        };
        next.validated().map_err(|_| overflow())
    }

    /// Parses a version name, refusing anything that is not exactly `vMAJOR.MINOR`.
    ///
    /// # Errors
    /// [`RegistryError::BadName`] saying what is wrong.
    pub fn parse(name: &str) -> Result<Version> {
        let bad = |reason| {
            Error::from(RegistryError::BadName {
                name: name.to_string(),
                reason,
            })
        };
        if name.contains(['/', '\\']) || name.contains("..") || name.contains('\0') {
            return Err(bad("version names contain no path separators or `..`"));
        }
        let rest = name
            .strip_prefix('v')
            .ok_or_else(|| bad("expected `vMAJOR.MINOR`, e.g. `v1.3`"))?;
        let (major, minor) = rest
            .split_once('.')
            .ok_or_else(|| bad("expected `vMAJOR.MINOR`, e.g. `v1.3`"))?;
        let number = |s: &str| -> Result<u32> {
            if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("MAJOR and MINOR are decimal numbers of 1 to 9 digits"));
            }
            if s.len() > 1 && s.starts_with('0') {
                return Err(bad("numbers have no leading zeros"));
            }
            s.parse()
                .map_err(|_| bad("MAJOR and MINOR are decimal numbers of 1 to 9 digits"))
        };
        Ok(Version::new(number(major)?, number(minor)?))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)
    }
}

impl FromStr for Version {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Version::parse(s)
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Version::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Which number an automatically numbered version increments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    /// `vX.Y` → `vX.(Y+1)`. The default.
    #[default]
    Minor,
    /// `vX.Y` → `v(X+1).0`.
    Major,
}

/// Checks an artifact name: 1 to 128 characters from `[A-Za-z0-9._-]`, starting with a letter or
/// digit, without `..`, and not one of the registry's own file names.
///
/// ```
/// use recs::registry::check_artifact_name;
/// assert!(check_artifact_name("model.bin").is_ok());
/// assert!(check_artifact_name("../model.bin").is_err());
/// assert!(check_artifact_name("meta.json").is_err());
/// ```
///
/// # Errors
/// [`RegistryError::BadName`].
pub fn check_artifact_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::from(RegistryError::BadName {
            name: name.to_string(),
            reason,
        }))
    };
    if name.is_empty() || name.len() > 128 {
        return bad("artifact names have 1 to 128 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("artifact names use only letters, digits, `.`, `_` and `-`");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return bad("artifact names start with a letter or digit");
    }
    if name.contains("..") {
        return bad("artifact names contain no `..`");
    }
    if name == META_FILE || name == TOMBSTONE_FILE {
        return bad("this name is reserved by the registry");
    }
    Ok(())
}

/// Checks that an artifact's storage key stays inside its version: `name` or `<id>/name`,
/// each part a valid artifact name.
pub(crate) fn check_artifact_key(a: &ArtifactMeta) -> Result<()> {
    let parts: Vec<&str> = a.key.split('/').collect();
    let ok = parts.len() <= 2
        && parts.last() == Some(&a.name.as_str())
        && parts.iter().all(|p| check_artifact_name(p).is_ok());
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadName {
            name: a.key.clone(),
            reason: "artifact keys are `name` or `<upload-id>/name` inside the version",
        }
        .into())
    }
}

/// Name of the metadata file in a version folder; its presence commits the version.
pub(crate) const META_FILE: &str = "meta.json";
/// Name of the marker left by `delete`: the version stays invisible and its number reserved.
pub(crate) const TOMBSTONE_FILE: &str = "deleted.json";

/// One named file of a version, borrowed for `publish`.
#[derive(Debug, Clone, Copy)]
pub struct Artifact<'a> {
    /// File name inside the version (see [`check_artifact_name`]).
    pub name: &'a str,
    /// Contents.
    pub bytes: &'a [u8],
}

impl<'a> Artifact<'a> {
    /// An artifact named `name` holding `bytes`.
    pub fn new(name: &'a str, bytes: &'a [u8]) -> Self {
        Artifact { name, bytes }
    }
}

/// Who or what exported a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exporter {
    /// The exporting program, e.g. `recs 0.1.0` or `recs train --model als`.
    pub tool: String,
    /// Login name (`$USER`), when known.
    pub user: Option<String>,
    /// Host name, when known.
    pub host: Option<String>,
}

impl Default for Exporter {
    /// `recs <version>` on this user and host.
    fn default() -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|s| !s.trim().is_empty());
        let host = small_text(Path::new("/etc/hostname"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| env("HOSTNAME"))
            .or_else(|| env("COMPUTERNAME"));
        Exporter {
            tool: concat!("recs ", env!("CARGO_PKG_VERSION")).to_string(),
            user: env("USER").or_else(|| env("USERNAME")),
            host,
        }
    }
}

/// What the caller says about a version it publishes. The registry adds the version number,
/// time and artifact digests to make the [`VersionMeta`].
///
/// ```
/// use recs::registry::{Bump, NewVersion};
/// let nv = NewVersion::new("als")
///     .params(&serde_json::json!({"factors": 64, "reg": 0.05}))?
///     .metric("ndcg@10", 0.31)
///     .data_snapshot("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
///     .bump(Bump::Major);
/// assert_eq!(nv.kind, "als");
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewVersion {
    /// An explicit version; `None` (the default) takes the next number after the highest one.
    pub version: Option<Version>,
    /// How an automatic version number is chosen. Default [`Bump::Minor`].
    pub bump: Bump,
    /// Model kind tag (`"popularity"`, `"als"`, ...); filled in by `publish_model`.
    pub kind: String,
    /// Model hyper-parameters as JSON. Default `null`.
    pub params: serde_json::Value,
    /// Commit of the code that built the model. [`NewVersion::new`] fills it from
    /// [`detect_git_sha`].
    pub git_sha: Option<String>,
    /// Identity of the training data: see [`snapshot_of_files`], [`snapshot_of_interactions`].
    pub data_snapshot: Option<String>,
    /// Evaluation metrics (`"ndcg@10" → 0.31`); values must be finite.
    pub metrics: BTreeMap<String, f64>,
    /// Further JSON provenance (for example the full evaluation report under `"report"`).
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Who or what exports the version.
    pub exported_by: Exporter,
    /// A free-text note.
    pub note: Option<String>,
    /// Make the new version the latest once it is published. Default false.
    pub promote: bool,
}

impl NewVersion {
    /// Metadata for a model of `kind`, with the git commit and exporter detected.
    pub fn new(kind: impl Into<String>) -> Self {
        NewVersion {
            version: None,
            bump: Bump::Minor,
            kind: kind.into(),
            params: serde_json::Value::Null,
            git_sha: detect_git_sha(),
            data_snapshot: None,
            metrics: BTreeMap::new(),
            extra: BTreeMap::new(),
            exported_by: Exporter::default(),
            note: None,
            promote: false,
        }
    }
    /// Publish as this exact version (fails with [`RegistryError::VersionExists`] if taken).
    pub fn version(mut self, v: Version) -> Self {
        self.version = Some(v);
        self
    }
    /// Which number an automatic version increments. Default [`Bump::Minor`].
    pub fn bump(mut self, bump: Bump) -> Self {
        self.bump = bump;
        self
    }
    /// Records the hyper-parameters.
    ///
    /// # Errors
    /// [`Error::Serde`] when `params` cannot be represented as JSON.
    pub fn params<P: Serialize + ?Sized>(mut self, params: &P) -> Result<Self> {
        self.params = serde_json::to_value(params).map_err(|e| Error::Serde(e.to_string()))?;
        Ok(self)
    }
    /// Records one evaluation metric (must be finite).
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.metrics.insert(name.into(), value);
        self
    }
    /// Records the training-data identity.
    pub fn data_snapshot(mut self, id: impl Into<String>) -> Self {
        self.data_snapshot = Some(id.into());
        self
    }
    /// Overrides the detected git commit (`None` to leave it out).
    pub fn git_sha(mut self, sha: Option<String>) -> Self {
        self.git_sha = sha;
        self
    }
    /// Names the exporting program, e.g. `"recs train --model als"`.
    pub fn exported_by(mut self, tool: impl Into<String>) -> Self {
        self.exported_by.tool = tool.into();
        self
    }
    /// Adds a JSON value to [`extra`](Self::extra).
    pub fn extra(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }
    /// Sets the note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
    /// Makes the version the latest once published.
    pub fn promote(mut self, yes: bool) -> Self {
        self.promote = yes;
        self
    }

    /// Checks the fields that the registry cannot fix itself.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::from(RegistryError::InvalidMeta(m)));
        if self.kind.is_empty()
            || self.kind.len() > 64
            || !self
                .kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return bad(format!(
                "kind must be 1 to 64 characters from [A-Za-z0-9_.-], got `{}`",
                self.kind
            ));
        }
        if let Some(sha) = &self.git_sha {
            if !is_hex_digest(sha) {
                return bad(format!("git_sha must be 40 or 64 hex digits, got `{sha}`"));
            }
        }
        if let Some(id) = &self.data_snapshot {
            if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
                return bad(format!(
                    "data_snapshot must be 1 to 256 printable characters, got `{id}`"
                ));
            }
        }
        for (name, v) in &self.metrics {
            if name.is_empty() {
                return bad("metric names are not empty".into());
            }
            if !v.is_finite() {
                return bad(format!("metric `{name}` must be finite, got {v}"));
            }
        }
        Ok(())
    }
}

fn is_hex_digest(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One stored file of a version, as recorded in `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactMeta {
    /// The artifact name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the contents.
    pub sha256: String,
    /// Where the backend stored it, relative to the version (`model.bin` locally,
    /// `<upload-id>/model.bin` in an object store).
    pub key: String,
}

/// The metadata of a published version (`meta.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionMeta {
    /// Layout version of this record ([`META_FORMAT`]).
    pub format: u32,
    /// The version.
    pub version: Version,
    /// Publication time, RFC 3339 UTC (`2026-11-27T10:04:05.123Z`).
    pub created_at: String,
    /// Model kind tag.
    pub kind: String,
    /// Model hyper-parameters.
    pub params: serde_json::Value,
    /// The stored files, the model file first.
    pub artifacts: Vec<ArtifactMeta>,
    /// Commit of the code that built the model, when known.
    pub git_sha: Option<String>,
    /// Identity of the training data, when known.
    pub data_snapshot: Option<String>,
    /// Evaluation metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Further JSON provenance.
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Who or what exported the version.
    pub exported_by: Exporter,
    /// Free-text note.
    pub note: Option<String>,
}

impl VersionMeta {
    /// Builds the record for `version` from the caller's metadata and the artifacts' digests.
    pub(crate) fn build(version: Version, new: &NewVersion, artifacts: Vec<ArtifactMeta>) -> Self {
        VersionMeta {
            format: META_FORMAT,
            version,
            created_at: now_rfc3339(),
            kind: new.kind.clone(),
            params: new.params.clone(),
            artifacts,
            git_sha: new.git_sha.clone(),
            data_snapshot: new.data_snapshot.clone(),
            metrics: new.metrics.clone(),
            extra: new.extra.clone(),
            exported_by: new.exported_by.clone(),
            note: new.note.clone(),
        }
    }

    /// The artifact named `name`.
    pub fn artifact(&self, name: &str) -> Option<&ArtifactMeta> {
        self.artifacts.iter().find(|a| a.name == name)
    }

    /// Total stored bytes.
    pub fn size(&self) -> u64 {
        self.artifacts.iter().map(|a| a.size).sum()
    }

    /// Serializes as pretty JSON.
    pub(crate) fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| Error::Serde(e.to_string()))
    }

    /// Parses `meta.json` of `expected`, checking it describes that version and that its
    /// artifact keys stay inside the version.
    pub(crate) fn from_json(bytes: &[u8], expected: &Version, what: &str) -> Result<Self> {
        let corrupt = |message: String| {
            Error::from(RegistryError::Corrupt {
                what: what.to_string(),
                message,
            })
        };
        let meta: VersionMeta =
            serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        if meta.format != META_FORMAT {
            return Err(corrupt(format!(
                "format {} is not supported (expected {META_FORMAT})",
                meta.format
            )));
        }
        if meta.version != *expected {
            return Err(corrupt(format!(
                "it describes {}, expected {expected}",
                meta.version
            )));
        }
        for a in &meta.artifacts {
            check_artifact_name(&a.name).map_err(|e| corrupt(e.to_string()))?;
            check_artifact_key(a).map_err(|e| corrupt(e.to_string()))?;
        }
        Ok(meta)
    }
}

/// How the latest pointer moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointerAction {
    /// `set_latest` / promote.
    Promote,
    /// [`rollback`](super::rollback): undoes the last promote.
    Rollback,
}

/// One move of the latest pointer. The pointer history is append-only; the last entry is the
/// current latest version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointerEntry {
    /// Position in the history, from 1.
    pub seq: u64,
    /// The version the pointer moved to.
    pub version: Version,
    /// Promote or rollback.
    pub action: PointerAction,
    /// When, RFC 3339 UTC.
    pub set_at: String,
    /// Who moved it.
    pub by: Exporter,
}

impl PointerEntry {
    pub(crate) fn new(seq: u64, version: Version, action: PointerAction) -> Self {
        PointerEntry {
            seq,
            version,
            action,
            set_at: now_rfc3339(),
            by: Exporter::default(),
        }
    }
    pub(crate) fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| Error::Serde(e.to_string()))
    }
    pub(crate) fn from_json(bytes: &[u8], seq: u64, what: &str) -> Result<Self> {
        let corrupt = |message: String| {
            Error::from(RegistryError::Corrupt {
                what: what.to_string(),
                message,
            })
        };
        let e: PointerEntry = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        if e.seq != seq {
            return Err(corrupt(format!("entry says seq {}, expected {seq}", e.seq)));
        }
        Ok(e)
    }
}

/// The marker `delete` leaves in place of a version (`deleted.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Tombstone {
    pub version: Version,
    pub deleted_at: String,
    pub by: Exporter,
}

impl Tombstone {
    pub(crate) fn json(version: Version) -> Result<Vec<u8>> {
        let t = Tombstone {
            version,
            deleted_at: now_rfc3339(),
            by: Exporter::default(),
        };
        serde_json::to_vec_pretty(&t).map_err(|e| Error::Serde(e.to_string()))
    }
}

/// A name unique across processes and threads, for temporary files and upload folders.
pub(crate) fn unique_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(nanos);
    h.write_u32(std::process::id());
    format!(
        "{:016x}-{:x}-{:x}",
        h.finish(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// File name of pointer entry `seq` (zero-padded so names sort as numbers).
pub(crate) fn pointer_name(seq: u64) -> String {
    format!("{seq:020}.json")
}

/// Parses a pointer entry file name.
pub(crate) fn parse_pointer_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Identity of a data snapshot made of files: the sha256 of a manifest listing each file's name,
/// size and sha256, sorted by name. Renaming the folder keeps the id; changing a byte changes it.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::fs::write(dir.path().join("ratings.dat"), b"1::2::5::0\n")?;
/// let id = recs::registry::snapshot_of_files(&[dir.path().join("ratings.dat")])?;
/// assert_eq!(id.len(), 64);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Io`] naming a file that cannot be read.
pub fn snapshot_of_files<P: AsRef<Path>>(paths: &[P]) -> Result<String> {
    let mut entries: Vec<(String, u64, String)> = Vec::with_capacity(paths.len());
    for p in paths {
        let p = p.as_ref();
        // Streamed: data files can be larger than memory.
        let mut hasher = Sha256::new();
        let size = std::fs::File::open(p)
            .and_then(|mut f| std::io::copy(&mut f, &mut hasher))
            .map_err(|e| Error::io(p, e))?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        entries.push((name, size, hex(&hasher.finalize())));
    }
    entries.sort();
    let mut manifest = String::new();
    for (name, size, sha) in entries {
        manifest.push_str(&format!("{name}\t{size}\t{sha}\n"));
    }
    Ok(sha256_hex(manifest.as_bytes()))
}

/// Identity of an interaction matrix: sha256 of its shape, CSR arrays and timestamps.
///
/// ```
/// use recs::data::Interactions;
/// let a = recs::registry::snapshot_of_interactions(&Interactions::empty(2, 3));
/// let b = recs::registry::snapshot_of_interactions(&Interactions::empty(2, 4));
/// assert_ne!(a, b);
/// ```
pub fn snapshot_of_interactions(data: &Interactions) -> String {
    let mut h = Sha256::new();
    h.update(b"recs-interactions-v1");
    h.update((data.n_users() as u64).to_le_bytes());
    h.update((data.n_items() as u64).to_le_bytes());
    for &p in data.indptr() {
        h.update((p as u64).to_le_bytes());
    }
    for &i in data.indices() {
        h.update(i.to_le_bytes());
    }
    for &v in data.values() {
        h.update(v.to_bits().to_le_bytes());
    }
    match data.timestamps() {
        Some(ts) => {
            h.update([1u8]);
            for &t in ts {
                h.update(t.to_le_bytes());
            }
        }
        None => h.update([0u8]),
    }
    hex(&h.finalize())
}

/// The commit of the git checkout the process runs in: `$RECS_GIT_SHA` when set (validated),
/// else `HEAD` of the first `.git` found walking up from the current directory (plain
/// checkouts and worktrees; loose and packed refs). `None` outside a checkout.
pub fn detect_git_sha() -> Option<String> {
    if let Ok(sha) = std::env::var("RECS_GIT_SHA") {
        return is_hex_digest(sha.trim()).then(|| sha.trim().to_ascii_lowercase());
    }
    git_sha_of(&std::env::current_dir().ok()?)
}

/// The commit of `HEAD` of the git checkout containing `dir`, read from the `.git` files
/// (no `git` process). `None` when `dir` is not inside a checkout.
pub fn git_sha_of(dir: &Path) -> Option<String> {
    let mut cur = Some(dir);
    while let Some(d) = cur {
        let dot_git = d.join(".git");
        if dot_git.is_dir() {
            return head_of(&dot_git);
        }
        if dot_git.is_file() {
            // A worktree or submodule: `gitdir: <path>`.
            let text = small_text(&dot_git).ok()?;
            let target = text.trim().strip_prefix("gitdir:")?.trim();
            let mut gitdir = PathBuf::from(target);
            if gitdir.is_relative() {
                gitdir = d.join(gitdir);
            }
            return head_of(&gitdir);
        }
        cur = d.parent();
    }
    None
}

/// A small file read whole (git's HEAD, refs, packed-refs; the host name), bounded so that a
/// strange path cannot take unbounded memory.
fn small_text(path: &Path) -> Result<String> {
    crate::util::read_small_text(path, crate::util::SMALL_FILE_MAX_BYTES)
}

fn head_of(gitdir: &Path) -> Option<String> {
    let head = small_text(&gitdir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(refname) = head.strip_prefix("ref:") else {
        return is_hex_digest(head).then(|| head.to_ascii_lowercase());
    };
    let refname = refname.trim();
    if refname.contains("..") {
        return None;
    }
    // Refs of a worktree live in the common dir.
    let common = match small_text(&gitdir.join("commondir")) {
        Ok(c) => {
            let c = PathBuf::from(c.trim());
            if c.is_relative() {
                gitdir.join(c)
            } else {
                c
            }
        }
        Err(_) => gitdir.to_path_buf(),
    };
    for base in [gitdir, common.as_path()] {
        if let Ok(s) = small_text(&base.join(refname)) {
            let s = s.trim();
            if is_hex_digest(s) {
                return Some(s.to_ascii_lowercase());
            }
        }
    }
    let packed = small_text(&common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (sha, name) = line.split_once(' ')?;
        (name.trim() == refname && is_hex_digest(sha)).then(|| sha.to_ascii_lowercase())
    })
}

pub use crate::util::time::now_rfc3339;

/// Formats seconds since the Unix epoch (UTC) with milliseconds.
#[cfg(test)]
fn rfc3339(secs: i64, millis: u32) -> String {
    crate::util::time::rfc3339_ms(secs * 1000 + i64::from(millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3339_known_instants() {
        // Worked by hand: 0 is the epoch; 951_782_400 = 11_016 days = 2000-02-29 (leap day);
        // 1_700_000_000 s = 19_675 days + 80_000 s = 2023-11-14 22:13:20 (the well-known
        // "1.7 billion seconds" instant).
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(1_700_000_000, 999), "2023-11-14T22:13:20.999Z");
        assert_eq!(rfc3339(-1, 0), "1969-12-31T23:59:59.000Z");
    }

    #[test]
    fn version_rejects_bad_names() {
        for bad in [
            "",
            "v",
            "v1",
            "1.0",
            "V1.0",
            "v1.",
            "v.1",
            "v01.0",
            "v1.00",
            "v1.0.0",
            " v1.0",
            "v1.0 ",
            "v1.0/",
            "../v1.0",
            "v1.0/../x",
            "v1..0",
            "v1\\0",
            "v-1.0",
            "v+1.0",
            "v1.0\0",
            "v1234567890.0",
            "v1.٣",
            "..",
            ".",
            "/",
            "/etc/passwd",
        ] {
            assert!(
                matches!(
                    Version::parse(bad),
                    Err(Error::Registry(RegistryError::BadName { .. }))
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn version_serde_is_the_name() {
        let v = Version::new(3, 14);
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"v3.14\"");
        let back: Version = serde_json::from_str("\"v3.14\"").unwrap();
        assert_eq!(back, v);
        assert!(serde_json::from_str::<Version>("\"../v3.14\"").is_err());
    }

    #[test]
    fn bumps() {
        let v = Version::new(2, 7);
        assert_eq!(v.bumped(Bump::Minor).unwrap(), Version::new(2, 8));
        assert_eq!(v.bumped(Bump::Major).unwrap(), Version::new(3, 0));
        assert!(Version::new(1, Version::MAX_NUMBER)
            .bumped(Bump::Minor)
            .is_err());
        assert!(Version::new(1_000_000_000, 0).validated().is_err());
    }

    #[test]
    fn new_version_validation() {
        assert!(NewVersion::new("als").validate().is_ok());
        assert!(NewVersion::new("").validate().is_err());
        assert!(NewVersion::new("a/b").validate().is_err());
        assert!(NewVersion::new("als")
            .metric("ndcg@10", f64::NAN)
            .validate()
            .is_err());
        assert!(NewVersion::new("als")
            .git_sha(Some("nothex".into()))
            .validate()
            .is_err());
        assert!(NewVersion::new("als")
            .data_snapshot("a\nb")
            .validate()
            .is_err());
    }

    #[test]
    fn git_sha_of_this_checkout_matches_git() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let Ok(out) = std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(dir)
            .output()
        else {
            eprintln!("skipping: no git binary");
            return;
        };
        if !out.status.success() {
            eprintln!("skipping: not a git checkout");
            return;
        }
        let want = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(git_sha_of(dir).as_deref(), Some(want.as_str()));
    }

    #[test]
    fn snapshot_of_files_ignores_folder_and_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for d in [&a, &b] {
            std::fs::write(d.path().join("x.dat"), b"1,2,3").unwrap();
            std::fs::write(d.path().join("y.dat"), b"4,5").unwrap();
        }
        let ida = snapshot_of_files(&[a.path().join("x.dat"), a.path().join("y.dat")]).unwrap();
        let idb = snapshot_of_files(&[b.path().join("y.dat"), b.path().join("x.dat")]).unwrap();
        assert_eq!(ida, idb);
        std::fs::write(b.path().join("y.dat"), b"4,6").unwrap();
        let idc = snapshot_of_files(&[b.path().join("x.dat"), b.path().join("y.dat")]).unwrap();
        assert_ne!(ida, idc);
    }

    #[test]
    fn sha256_hex_known_value() {
        // sha256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    proptest! {
        #[test]
        fn version_display_parse_round_trip(major in 0u32..1_000_000_000, minor in 0u32..1_000_000_000) {
            let v = Version::new(major, minor);
            prop_assert_eq!(Version::parse(&v.to_string()).unwrap(), v);
        }

        #[test]
        fn names_with_separators_never_parse(a in ".{0,8}", b in ".{0,8}", sep in prop::sample::select(vec!["/", "\\", ".."])) {
            let name = format!("{a}{sep}{b}");
            prop_assert!(Version::parse(&name).is_err());
            prop_assert!(check_artifact_name(&name).is_err());
        }

        #[test]
        fn accepted_names_are_plain(s in "\\PC{0,12}") {
            if let Ok(v) = Version::parse(&s) {
                prop_assert_eq!(v.to_string(), s.clone());
            }
            if check_artifact_name(&s).is_ok() {
                prop_assert!(!s.contains(['/', '\\']) && !s.starts_with('.'));
            }
        }
    }
}
