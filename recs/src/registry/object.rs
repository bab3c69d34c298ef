//! The object-store registry backend (cargo feature `s3`): S3, S3-compatible servers, or any
//! other [`object_store::ObjectStore`].
//!
//! Keys under the registry prefix:
//!
//! ```text
//! v1.0/meta.json                   the commit marker, written last with a conditional put
//! v1.0/<upload-id>/model.bin       artifacts, uploaded first
//! v1.1/deleted.json                a deleted version (number stays reserved)
//! _latest/00000000000000000001.json  latest-pointer history, one object per move
//! ```
//!
//! A publisher uploads its artifacts under a fresh upload id, then creates `meta.json` with
//! `PutMode::Create` (`If-None-Match: *` on S3). A version without `meta.json` is invisible, so
//! a publisher killed at any moment leaves only orphan uploads (removed by `gc`). When two
//! publishers race for a number, the conditional put lets exactly one win; the other copies its
//! upload to the next number and tries again. Pointer moves are conditional puts too.
//!
//! The store's API is async; the registry owns a small tokio runtime (`crate::objects`, shared
//! with the snapshot store) and blocks on it, so that [`Registry`] stays a plain synchronous
//! trait (from inside an async task, call it through `spawn_blocking`; it also works directly,
//! on a helper thread).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, PutMode};

use super::meta::{
    check_artifact_key, parse_pointer_name, pointer_name, unique_id, Tombstone, META_FILE,
    TOMBSTONE_FILE,
};
use super::{
    check_deletable, prepare, Artifact, ArtifactMeta, Bump, DeleteGuard, NewVersion, PointerAction,
    PointerEntry, Registry, RegistryError, Version, VersionMeta, AUTO_GC_AGE,
};
use crate::objects::{self, Objects};
use crate::{Error, Result};

const POINTER_DIR: &str = "_latest";
const MAX_ATTEMPTS: usize = 1_000;

/// A registry in an object store.
///
/// ```
/// use std::sync::Arc;
/// use recs::registry::{NewVersion, ObjectRegistry, Registry};
/// let store = Arc::new(object_store::memory::InMemory::new());
/// let reg = ObjectRegistry::new(store, "models/movies")?;
/// let meta = reg.publish_bytes(b"bytes", NewVersion::new("popularity"))?;
/// assert_eq!(reg.load_bytes(&meta.version)?, b"bytes");
/// # Ok::<(), recs::Error>(())
/// ```
pub struct ObjectRegistry {
    objects: Objects,
    prefix: Path,
    location: String,
    pacing: Option<(usize, Duration)>,
}

impl std::fmt::Debug for ObjectRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRegistry")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

fn backend(e: impl std::fmt::Display) -> Error {
    RegistryError::Backend(e.to_string()).into()
}

impl ObjectRegistry {
    /// A registry under `prefix` (may be empty) of `store`.
    ///
    /// # Errors
    /// [`RegistryError::BadName`] for a malformed prefix, [`RegistryError::Backend`] when the
    /// runtime cannot start.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Self> {
        let location = format!("{store}/{prefix}");
        Self::with_location(store, prefix, location)
    }

    fn with_location(store: Arc<dyn ObjectStore>, prefix: &str, location: String) -> Result<Self> {
        let prefix = objects::parse_prefix(prefix).map_err(|reason| RegistryError::BadName {
            name: prefix.trim_matches('/').to_string(),
            reason,
        })?;
        Ok(ObjectRegistry {
            objects: Objects::new(store, "recs-registry").map_err(backend)?,
            prefix,
            location,
            pacing: None,
        })
    }

    /// A registry at `s3://bucket/prefix`. The client is configured from the standard
    /// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, ...) and then from `options`, whose keys are
    /// `object_store`'s `AmazonS3ConfigKey` names (`aws_endpoint`, `aws_allow_http`,
    /// `aws_access_key_id`, ...). For an S3-compatible server give its endpoint, and
    /// `aws_allow_http = true` for plain HTTP.
    ///
    /// # Errors
    /// [`RegistryError::BadName`] for a malformed URL, [`RegistryError::Backend`] for a bad
    /// option or client configuration.
    pub fn s3<K: AsRef<str>, V: Into<String>>(
        url: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self> {
        let (bucket, prefix) = objects::parse_s3_url(url).map_err(|reason| {
            Error::from(RegistryError::BadName {
                name: url.to_string(),
                reason,
            })
        })?;
        let store = objects::s3_store(bucket, options).map_err(backend)?;
        Self::with_location(store, prefix, format!("s3://{bucket}/{prefix}"))
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        self.objects.store()
    }

    /// The key prefix of the registry inside the store.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// Slows uploads down: sleeps `delay` per `chunk` bytes uploaded, before `meta.json` is
    /// written. For crash tests, which must kill a publisher in the middle of its work.
    #[doc(hidden)]
    pub fn with_pacing(mut self, chunk: usize, delay: Duration) -> Self {
        self.pacing = Some((chunk.max(1), delay));
        self
    }

    fn key(&self, parts: &[&str]) -> Path {
        let mut p = self.prefix.clone();
        for part in parts {
            p = p.join(*part);
        }
        p
    }

    /// The parts of `location` after the prefix.
    fn rel_parts(&self, location: &Path) -> Vec<String> {
        match location.prefix_match(&self.prefix) {
            Some(parts) => parts.map(|p| p.as_ref().to_string()).collect(),
            None => Vec::new(),
        }
    }

    fn list_all(&self, under: &Path) -> Result<Vec<ObjectMeta>> {
        self.objects.list(under).map_err(backend)
    }

    /// `None` when the object does not exist.
    fn get(&self, key: &Path) -> Result<Option<Vec<u8>>> {
        self.objects.get(key).map_err(backend)
    }

    fn exists(&self, key: &Path) -> Result<bool> {
        self.objects.exists(key).map_err(backend)
    }

    /// `Ok(false)` when `mode` is `Create` and the object exists already.
    fn put(&self, key: &Path, bytes: Vec<u8>, mode: PutMode) -> Result<bool> {
        self.objects.put(key, bytes, mode).map_err(backend)
    }

    fn delete_key(&self, key: &Path) -> Result<()> {
        self.objects.delete(key).map_err(backend)
    }

    fn copy(&self, from: &Path, to: &Path) -> Result<()> {
        self.objects.copy(from, to).map_err(backend)
    }

    /// What exists under each version name that holds any object: (has meta.json, has
    /// deleted.json). A name with only artifacts (an upload in flight or abandoned, or a
    /// version whose `meta.json` was lost) is there as `(false, false)`.
    fn scan(&self) -> Result<BTreeMap<Version, (bool, bool)>> {
        let mut out: BTreeMap<Version, (bool, bool)> = BTreeMap::new();
        for obj in self.list_all(&self.prefix)? {
            let parts = self.rel_parts(&obj.location);
            let [name, rest @ ..] = parts.as_slice() else {
                continue;
            };
            let Ok(v) = name.parse::<Version>() else {
                continue;
            };
            let e = out.entry(v).or_default();
            match rest {
                [file] if file == META_FILE => e.0 = true,
                [file] if file == TOMBSTONE_FILE => e.1 = true,
                _ => {}
            }
        }
        Ok(out)
    }

    /// The next free version number: after the highest number that holds any object, with or
    /// without `meta.json` (as the local backend counts every folder). A version whose
    /// `meta.json` was lost thus keeps its number: the pointer history that names it never
    /// comes to mean two models. An upload in flight also holds its number, so a concurrent
    /// publisher starts at the next one instead of racing for it.
    fn next_version(&self, bump: Bump) -> Result<Version> {
        match self.scan()?.keys().max() {
            Some(v) => v.bumped(bump),
            None => Ok(Version::FIRST),
        }
    }

    fn pointer_seqs(&self) -> Result<Vec<u64>> {
        let mut seqs: Vec<u64> = self
            .list_all(&self.key(&[POINTER_DIR]))?
            .iter()
            .filter_map(|o| match self.rel_parts(&o.location).as_slice() {
                [dir, name] if dir == POINTER_DIR => parse_pointer_name(name),
                _ => None,
            })
            .collect();
        seqs.sort_unstable();
        Ok(seqs)
    }

    fn read_pointer(&self, seq: u64) -> Result<PointerEntry> {
        let name = pointer_name(seq);
        let what = format!("{POINTER_DIR}/{name}");
        let bytes = self
            .get(&self.key(&[POINTER_DIR, &name]))?
            .ok_or_else(|| Error::from(RegistryError::NotFound(what.clone())))?;
        PointerEntry::from_json(&bytes, seq, &what)
    }

    fn upload(&self, v: &Version, upload: &str, artifacts: &[Artifact<'_>]) -> Result<()> {
        for a in artifacts {
            self.put(
                &self.key(&[&v.to_string(), upload, a.name]),
                a.bytes.to_vec(),
                PutMode::Overwrite,
            )?;
            if let Some((chunk, delay)) = self.pacing {
                std::thread::sleep(delay * a.bytes.len().div_ceil(chunk).max(1) as u32);
            }
        }
        Ok(())
    }

    fn remove_upload(&self, v: &Version, upload: &str, artifacts: &[ArtifactMeta]) {
        for a in artifacts {
            let _ = self.delete_key(&self.key(&[&v.to_string(), upload, &a.name]));
        }
    }

    fn commit(
        &self,
        artifacts: &[Artifact<'_>],
        metas: &[ArtifactMeta],
        new: &NewVersion,
        upload: &str,
    ) -> Result<VersionMeta> {
        let mut v = match new.version {
            Some(v) => v,
            None => self.next_version(new.bump)?,
        };
        self.upload(&v, upload, artifacts)?;
        let metas: Vec<ArtifactMeta> = metas
            .iter()
            .map(|m| ArtifactMeta {
                key: format!("{upload}/{}", m.name),
                ..m.clone()
            })
            .collect();
        for _ in 0..MAX_ATTEMPTS {
            let meta = VersionMeta::build(v, new, metas.clone());
            let key = self.key(&[&v.to_string(), META_FILE]);
            if self.put(&key, meta.to_json()?, PutMode::Create)? {
                return Ok(meta);
            }
            if new.version.is_some() {
                self.remove_upload(&v, upload, &metas);
                return Err(RegistryError::VersionExists(v).into());
            }
            // Another publisher took `v`: move the upload to the next free number.
            let next = self.next_version(new.bump)?;
            for a in &metas {
                let from = self.key(&[&v.to_string(), upload, &a.name]);
                self.copy(&from, &self.key(&[&next.to_string(), upload, &a.name]))?;
            }
            self.remove_upload(&v, upload, &metas);
            v = next;
        }
        self.remove_upload(&v, upload, &metas);
        Err(RegistryError::Contention(MAX_ATTEMPTS).into())
    }
}

fn age(obj: &ObjectMeta) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    Duration::from_secs(now.saturating_sub(obj.last_modified.timestamp()).max(0) as u64)
}

impl Registry for ObjectRegistry {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn publish(&self, artifacts: &[Artifact<'_>], new: NewVersion) -> Result<VersionMeta> {
        let metas = prepare(artifacts, &new)?;
        if let Some(v) = new.version {
            // Any object under the number (meta.json, tombstone, or artifacts of a version
            // whose meta.json was lost) makes it taken, as a folder does in the local backend.
            if self.scan()?.contains_key(&v) {
                return Err(RegistryError::VersionExists(v).into());
            }
        }
        let meta = self.commit(artifacts, &metas, &new, &unique_id())?;
        if new.promote {
            self.move_latest(&meta.version, PointerAction::Promote)?;
        }
        Ok(meta)
    }

    fn versions(&self) -> Result<Vec<Version>> {
        Ok(self
            .scan()?
            .into_iter()
            .filter(|(_, (m, t))| *m && !*t)
            .map(|(v, _)| v)
            .collect())
    }

    /// A version number holding artifacts but no `meta.json` (and no tombstone) is reported when
    /// the latest pointer ever named it (it was committed: its metadata was lost), or when its
    /// youngest object is older than [`AUTO_GC_AGE`]. A younger one is left out: it may be a
    /// publish in flight, which uploads its artifacts before it writes `meta.json`.
    fn without_meta(&self) -> Result<Vec<(String, String)>> {
        let scan = self.scan()?;
        let named: BTreeSet<Version> = self.history()?.into_iter().map(|e| e.version).collect();
        // Age of the youngest object of each version without meta.json and tombstone.
        let mut youngest: BTreeMap<Version, Duration> = BTreeMap::new();
        for obj in self.list_all(&self.prefix)? {
            let parts = self.rel_parts(&obj.location);
            let Some(v) = parts.first().and_then(|n| n.parse::<Version>().ok()) else {
                continue;
            };
            if scan
                .get(&v)
                .is_none_or(|&(meta, deleted)| !meta && !deleted)
            {
                let a = age(&obj);
                youngest
                    .entry(v)
                    .and_modify(|y| *y = (*y).min(a))
                    .or_insert(a);
            }
        }
        Ok(youngest
            .into_iter()
            .filter_map(|(v, young)| {
                let why = if named.contains(&v) {
                    format!(
                        "no {META_FILE}: the latest pointer named this version, its metadata \
                         was lost (its artifacts remain)"
                    )
                } else if young >= AUTO_GC_AGE {
                    format!(
                        "no {META_FILE}: artifacts last written {}s ago, by a publish that never \
                         committed or of a version whose {META_FILE} was lost (`gc` removes them)",
                        young.as_secs()
                    )
                } else {
                    return None;
                };
                Some((v.to_string(), why))
            })
            .collect())
    }

    fn meta(&self, version: &Version) -> Result<VersionMeta> {
        let v = version.validated()?;
        let name = v.to_string();
        if self.exists(&self.key(&[&name, TOMBSTONE_FILE]))? {
            return Err(RegistryError::NotFound(format!("{v} (deleted)")).into());
        }
        let bytes = self
            .get(&self.key(&[&name, META_FILE]))?
            .ok_or_else(|| Error::from(RegistryError::NotFound(format!("version {v}"))))?;
        VersionMeta::from_json(&bytes, &v, &format!("{name}/{META_FILE}"))
    }

    fn read_artifact(&self, meta: &VersionMeta, artifact: &ArtifactMeta) -> Result<Vec<u8>> {
        check_artifact_key(artifact)?;
        let mut parts = vec![meta.version.validated()?.to_string()];
        parts.extend(artifact.key.split('/').map(str::to_string));
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        self.get(&self.key(&parts))?.ok_or_else(|| {
            RegistryError::NotFound(format!("artifact `{}` of {}", artifact.name, meta.version))
                .into()
        })
    }

    fn latest(&self) -> Result<Option<Version>> {
        match self.pointer_seqs()?.last() {
            Some(&seq) => Ok(Some(self.read_pointer(seq)?.version)),
            None => Ok(None),
        }
    }

    fn history(&self) -> Result<Vec<PointerEntry>> {
        self.pointer_seqs()?
            .into_iter()
            .map(|s| self.read_pointer(s))
            .collect()
    }

    fn move_latest(&self, version: &Version, action: PointerAction) -> Result<PointerEntry> {
        self.meta(version)?;
        let first = self.pointer_seqs()?.last().map_or(1, |s| s + 1);
        // A taken slot means another move won it: take the next one.
        for seq in first..first + MAX_ATTEMPTS as u64 {
            let entry = PointerEntry::new(seq, *version, action);
            let key = self.key(&[POINTER_DIR, &pointer_name(seq)]);
            if self.put(&key, entry.to_json()?, PutMode::Create)? {
                return Ok(entry);
            }
        }
        Err(RegistryError::Contention(MAX_ATTEMPTS).into())
    }

    fn delete(&self, version: &Version, guard: &DeleteGuard) -> Result<()> {
        // A version whose meta.json is corrupt can still be deleted: then all its uploads go.
        let meta = match self.meta(version) {
            Ok(m) => Some(m),
            Err(Error::Registry(RegistryError::Corrupt { .. })) => None,
            Err(e) => return Err(e),
        };
        check_deletable(self, version, guard)?;
        let name = version.to_string();
        // The tombstone hides the version at once; meta.json and the artifacts go afterwards.
        self.put(
            &self.key(&[&name, TOMBSTONE_FILE]),
            Tombstone::json(*version)?,
            PutMode::Overwrite,
        )?;
        self.delete_key(&self.key(&[&name, META_FILE]))?;
        match meta {
            Some(meta) => {
                for a in &meta.artifacts {
                    let mut parts = vec![name.as_str()];
                    parts.extend(a.key.split('/'));
                    self.delete_key(&self.key(&parts))?;
                }
                let uploads: BTreeSet<&str> = meta
                    .artifacts
                    .iter()
                    .filter_map(|a| a.key.split_once('/').map(|(u, _)| u))
                    .collect();
                for upload in uploads {
                    for obj in self.list_all(&self.key(&[&name, upload]))? {
                        self.delete_key(&obj.location)?;
                    }
                }
            }
            None => {
                for obj in self.list_all(&self.key(&[&name]))? {
                    if obj.location.filename() != Some(TOMBSTONE_FILE) {
                        self.delete_key(&obj.location)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn gc(&self, older_than: Duration) -> Result<usize> {
        let objects = self.list_all(&self.prefix)?;
        let scan = self.scan()?;
        // Upload ids referenced by committed versions.
        let mut live: BTreeSet<(Version, String)> = BTreeSet::new();
        // Versions whose meta.json is unreadable: keep all their uploads.
        let mut unreadable: BTreeSet<Version> = BTreeSet::new();
        for (v, (has_meta, deleted)) in &scan {
            if *has_meta && !*deleted {
                match self.meta(v) {
                    Ok(meta) => {
                        for a in meta.artifacts {
                            if let Some((u, _)) = a.key.split_once('/') {
                                live.insert((*v, u.to_string()));
                            }
                        }
                    }
                    Err(Error::Registry(RegistryError::Corrupt { .. })) => {
                        unreadable.insert(*v);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let mut removed = 0;
        for obj in &objects {
            let parts = self.rel_parts(&obj.location);
            let Some(v) = parts.first().and_then(|n| n.parse::<Version>().ok()) else {
                continue;
            };
            let deleted = scan.get(&v).is_some_and(|(_, t)| *t);
            let stale = match parts.as_slice() {
                // Leftovers of a delete that crashed after its tombstone.
                [_, file] => deleted && file != TOMBSTONE_FILE,
                [_, upload, ..] => {
                    deleted
                        || (!unreadable.contains(&v)
                            && !live.contains(&(v, upload.clone()))
                            && age(obj) >= older_than)
                }
                _ => false,
            };
            if stale {
                self.delete_key(&obj.location)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
