//! The local-directory registry backend.
//!
//! Layout under the root:
//!
//! ```text
//! v1.0/meta.json, v1.0/model.bin, ...   committed versions
//! v1.1/deleted.json                      a deleted version (number stays reserved)
//! .tmp-<id>/                             a publish in progress (or crashed: see gc)
//! _latest/00000000000000000001.json      latest-pointer history, one file per move
//! ```
//!
//! A version is written completely into `.tmp-<id>/` (each file fsynced) and then renamed to
//! `vX.Y`. Renaming a folder onto an existing, non-empty one fails, which is what keeps two
//! publishers off the same number: the loser takes the next one. Pointer entries are written to
//! a temporary file and hard-linked to their sequence number, which fails if that number is
//! taken.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::gc::{abandoned, owner_line, AUTO_GC_AGE, OWNER_FILE};
use super::meta::{
    check_artifact_key, parse_pointer_name, pointer_name, unique_id, Tombstone, META_FILE,
    TOMBSTONE_FILE,
};
use super::{
    check_deletable, prepare, Artifact, ArtifactMeta, Bump, DeleteGuard, NewVersion, PointerAction,
    PointerEntry, Registry, RegistryError, Version, VersionMeta,
};
use crate::util::{read_small_file, SMALL_FILE_MAX_BYTES};
use crate::{Error, Result};

const POINTER_DIR: &str = "_latest";
const TMP_PREFIX: &str = ".tmp-";
const MAX_ATTEMPTS: usize = 10_000;

/// A registry in a local directory (no services needed).
///
/// ```
/// use recs::registry::{LocalRegistry, NewVersion, Registry};
/// # let dir = tempfile::tempdir()?;
/// let reg = LocalRegistry::open(dir.path())?;
/// let meta = reg.publish_bytes(b"not really a model", NewVersion::new("popularity"))?;
/// assert_eq!(reg.load_bytes(&meta.version)?, b"not really a model");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct LocalRegistry {
    root: PathBuf,
    pacing: Option<(usize, Duration)>,
}

impl LocalRegistry {
    /// Opens the registry at `root`, creating the folder if needed.
    ///
    /// # Errors
    /// [`Error::Io`] when the folder cannot be created.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        let pointers = root.join(POINTER_DIR);
        fs::create_dir_all(&pointers).map_err(|e| Error::io(&pointers, e))?;
        Ok(LocalRegistry { root, pacing: None })
    }

    /// The registry folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Slows writes down: sleep `delay` after every `chunk` bytes. For crash tests, which must
    /// kill a publisher in the middle of its work.
    #[doc(hidden)]
    pub fn with_pacing(mut self, chunk: usize, delay: Duration) -> Self {
        self.pacing = Some((chunk.max(1), delay));
        self
    }

    fn version_dir(&self, v: &Version) -> PathBuf {
        self.root.join(v.to_string())
    }

    /// Writes `bytes` to a new file at `path` and fsyncs it.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let io = |e| Error::io(path, e);
        let mut f = File::create(path).map_err(io)?;
        match self.pacing {
            Some((chunk, delay)) => {
                for part in bytes.chunks(chunk) {
                    f.write_all(part).map_err(io)?;
                    f.flush().map_err(io)?;
                    std::thread::sleep(delay);
                }
            }
            None => f.write_all(bytes).map_err(io)?,
        }
        f.sync_all().map_err(io)
    }

    /// The next free version number: after the highest name ever used (deleted versions and
    /// stray folders included, so that a number is never reused).
    fn next_version(&self, bump: Bump) -> Result<Version> {
        let max = self.version_names()?.into_iter().max();
        match max {
            Some(v) => v.bumped(bump),
            None => Ok(Version::FIRST),
        }
    }

    /// Every entry of the root whose name is a version.
    fn version_names(&self) -> Result<Vec<Version>> {
        let rd = fs::read_dir(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&self.root, e))?;
            if let Some(v) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                out.push(v);
            }
        }
        Ok(out)
    }

    fn pointer_seqs(&self) -> Result<Vec<u64>> {
        let dir = self.root.join(POINTER_DIR);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut seqs = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            if let Some(seq) = entry.file_name().to_str().and_then(parse_pointer_name) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        Ok(seqs)
    }

    fn read_pointer(&self, seq: u64) -> Result<PointerEntry> {
        let name = pointer_name(seq);
        let path = self.root.join(POINTER_DIR).join(&name);
        let bytes = read_small_file(&path, SMALL_FILE_MAX_BYTES)?;
        PointerEntry::from_json(&bytes, seq, &format!("{POINTER_DIR}/{name}"))
    }

    fn commit(
        &self,
        tmp: &Path,
        artifacts: &[Artifact<'_>],
        metas: &[ArtifactMeta],
        new: &NewVersion,
    ) -> Result<VersionMeta> {
        for a in artifacts {
            self.write_file(&tmp.join(a.name), a.bytes)?;
        }
        // The owner file must not end up in the version.
        let owner = tmp.join(OWNER_FILE);
        fs::remove_file(&owner).map_err(|e| Error::io(&owner, e))?;
        for _ in 0..MAX_ATTEMPTS {
            let v = match new.version {
                Some(v) => v,
                None => self.next_version(new.bump)?,
            };
            let meta = VersionMeta::build(v, new, metas.to_vec());
            self.write_file(&tmp.join(META_FILE), &meta.to_json()?)?;
            sync_dir(tmp);
            let dest = self.version_dir(&v);
            match fs::rename(tmp, &dest) {
                Ok(()) => {
                    sync_dir(&self.root);
                    return Ok(meta);
                }
                // Taken by another publisher (or a stray file): try the next number.
                Err(_) if fs::symlink_metadata(&dest).is_ok() => {
                    if new.version.is_some() {
                        return Err(RegistryError::VersionExists(v).into());
                    }
                }
                Err(e) => return Err(Error::io(&dest, e)),
            }
        }
        Err(RegistryError::Contention(MAX_ATTEMPTS).into())
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn age(meta: &fs::Metadata) -> Duration {
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default()
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

impl Registry for LocalRegistry {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn publish(&self, artifacts: &[Artifact<'_>], new: NewVersion) -> Result<VersionMeta> {
        let metas = prepare(artifacts, &new)?;
        if let Some(v) = new.version {
            if fs::symlink_metadata(self.version_dir(&v)).is_ok() {
                return Err(RegistryError::VersionExists(v).into());
            }
        }
        let tmp = self.root.join(format!("{TMP_PREFIX}{}", unique_id()));
        fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        // Who writes this folder, so that `gc` never takes a live publisher's (see gc.rs).
        let owner = tmp.join(OWNER_FILE);
        fs::write(&owner, owner_line()).map_err(|e| Error::io(&owner, e))?;
        let meta = match self.commit(&tmp, artifacts, &metas, &new) {
            Ok(m) => m,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        if new.promote {
            self.move_latest(&meta.version, PointerAction::Promote)?;
        }
        // Age-guarded clean-up of killed publishers' folders; a failure here is not the
        // publish's failure (the version is committed), so it is ignored.
        let _ = self.gc(AUTO_GC_AGE);
        Ok(meta)
    }

    fn versions(&self) -> Result<Vec<Version>> {
        let mut out: Vec<Version> = self
            .version_names()?
            .into_iter()
            .filter(|v| {
                let d = self.version_dir(v);
                d.join(META_FILE).is_file() && fs::symlink_metadata(d.join(TOMBSTONE_FILE)).is_err()
            })
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    fn without_meta(&self) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = self
            .version_names()?
            .into_iter()
            .filter_map(|v| {
                let d = self.version_dir(&v);
                if !d.is_dir() || fs::symlink_metadata(d.join(TOMBSTONE_FILE)).is_ok() {
                    return None;
                }
                match fs::symlink_metadata(d.join(META_FILE)) {
                    Ok(m) if m.is_file() => None,
                    Ok(_) => Some((v.to_string(), format!("{META_FILE} is not a file"))),
                    Err(e) => Some((v.to_string(), format!("{META_FILE}: {e}"))),
                }
            })
            .collect();
        out.sort();
        Ok(out)
    }

    fn meta(&self, version: &Version) -> Result<VersionMeta> {
        let v = version.validated()?;
        let dir = self.version_dir(&v);
        if fs::symlink_metadata(dir.join(TOMBSTONE_FILE)).is_ok() {
            return Err(RegistryError::NotFound(format!("{v} (deleted)")).into());
        }
        let path = dir.join(META_FILE);
        let bytes = match read_small_file(&path, SMALL_FILE_MAX_BYTES) {
            Ok(b) => b,
            Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Err(RegistryError::NotFound(format!("version {v}")).into())
            }
            Err(e) => return Err(e),
        };
        VersionMeta::from_json(&bytes, &v, &format!("{v}/{META_FILE}"))
    }

    fn read_artifact(&self, meta: &VersionMeta, artifact: &ArtifactMeta) -> Result<Vec<u8>> {
        check_artifact_key(artifact)?;
        let path = self
            .version_dir(&meta.version.validated()?)
            .join(&artifact.key);
        // At most one byte past the recorded size: enough for `verify_artifact` to call a
        // longer file padded, without reading (and holding) a file that grew without bound.
        let read = |path: &Path| -> std::io::Result<Vec<u8>> {
            let file = File::open(path)?;
            let mut bytes = Vec::new();
            file.take(artifact.size.saturating_add(1))
                .read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        match read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(RegistryError::NotFound(format!(
                "artifact `{}` of {}",
                artifact.name, meta.version
            ))
            .into()),
            Err(e) => Err(Error::io(&path, e)),
        }
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
        let dir = self.root.join(POINTER_DIR);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let tmp = dir.join(format!("{TMP_PREFIX}{}", unique_id()));
        let result = (|| {
            for _ in 0..MAX_ATTEMPTS {
                let seq = self.pointer_seqs()?.last().map_or(1, |s| s + 1);
                let entry = PointerEntry::new(seq, *version, action);
                self.write_file(&tmp, &entry.to_json()?)?;
                let dest = dir.join(pointer_name(seq));
                match fs::hard_link(&tmp, &dest) {
                    Ok(()) => {
                        sync_dir(&dir);
                        return Ok(entry);
                    }
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(Error::io(&dest, e)),
                }
            }
            Err(RegistryError::Contention(MAX_ATTEMPTS).into())
        })();
        let _ = fs::remove_file(&tmp);
        result
    }

    fn delete(&self, version: &Version, guard: &DeleteGuard) -> Result<()> {
        // A version whose meta.json is corrupt can still be deleted.
        match self.meta(version) {
            Ok(_) | Err(Error::Registry(RegistryError::Corrupt { .. })) => {}
            Err(e) => return Err(e),
        }
        check_deletable(self, version, guard)?;
        let dir = self.version_dir(version);
        // The tombstone hides the version at once; the files go afterwards.
        let tmp = dir.join(format!("{TMP_PREFIX}{TOMBSTONE_FILE}-{}", unique_id()));
        self.write_file(&tmp, &Tombstone::json(*version)?)?;
        let stone = dir.join(TOMBSTONE_FILE);
        fs::rename(&tmp, &stone).map_err(|e| Error::io(&stone, e))?;
        sync_dir(&dir);
        clear_deleted(&dir)?;
        Ok(())
    }

    fn gc(&self, older_than: Duration) -> Result<usize> {
        let mut removed = 0;
        let rd = fs::read_dir(&self.root).map_err(|e| Error::io(&self.root, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&self.root, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            if name.starts_with(TMP_PREFIX) {
                if abandoned(&path, older_than) {
                    remove_any(&path).map_err(|e| Error::io(&path, e))?;
                    removed += 1;
                }
            } else if name.parse::<Version>().is_ok() && path.is_dir() {
                if fs::symlink_metadata(path.join(TOMBSTONE_FILE)).is_ok() {
                    removed += clear_deleted(&path)?;
                } else {
                    removed += remove_stale_tmp(&path, older_than)?;
                }
            }
        }
        removed += remove_stale_tmp(&self.root.join(POINTER_DIR), older_than)?;
        Ok(removed)
    }
}

/// Removes everything but the tombstone from a deleted version's folder.
fn clear_deleted(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    // meta.json first, so that a crash leaves no readable metadata behind.
    let meta = dir.join(META_FILE);
    match fs::remove_file(&meta) {
        Ok(()) => removed += 1,
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&meta, e)),
    }
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_name() == TOMBSTONE_FILE {
            continue;
        }
        let p = entry.path();
        remove_any(&p).map_err(|e| Error::io(&p, e))?;
        removed += 1;
    }
    sync_dir(dir);
    Ok(removed)
}

fn remove_stale_tmp(dir: &Path, older_than: Duration) -> Result<usize> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut removed = 0;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if !entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            continue;
        }
        let p = entry.path();
        let md = fs::symlink_metadata(&p).map_err(|e| Error::io(&p, e))?;
        if age(&md) >= older_than {
            remove_any(&p).map_err(|e| Error::io(&p, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_size_is_capped_from_meta_and_reads_stop_past_the_recorded_size() {
        use crate::registry::{load_model, load_model_capped, publish_model, RegistryError};
        let dir = tempfile::tempdir().unwrap();
        let reg = LocalRegistry::open(dir.path()).unwrap();
        let data = crate::data::Interactions::empty(2, 3);
        let model = crate::model::fit_named("pop", &data).unwrap();
        let meta = publish_model(&reg, &model, NewVersion::new("popularity")).unwrap();
        let v = meta.version;
        let size = meta.artifact(crate::registry::MODEL_ARTIFACT).unwrap().size;
        assert!(load_model(&reg, &v).is_ok());
        // The cap compares with the recorded size: equal passes, one byte less refuses.
        assert!(load_model_capped(&reg, &v, size).is_ok());
        let err = load_model_capped(&reg, &v, size - 1).unwrap_err();
        assert!(
            matches!(&err, Error::Registry(RegistryError::InvalidMeta(m)) if m.contains("refused before reading")),
            "{err}"
        );

        // A meta.json that records 9 GiB (over MAX_MODEL_BYTES) is refused from meta.json
        // alone: the model file is left as it is, 9 GiB are never read.
        let meta_path = dir.path().join(v.to_string()).join("meta.json");
        let text = fs::read_to_string(&meta_path).unwrap();
        let forged = text.replacen(&format!("\"size\": {size}"), "\"size\": 9663676416", 1);
        assert_ne!(forged, text, "meta.json layout changed; update the test");
        fs::write(&meta_path, &forged).unwrap();
        let err = load_model(&reg, &v).unwrap_err().to_string();
        assert!(
            err.contains("9663676416 bytes") && err.contains("8589934592"),
            "{err}"
        );
        fs::write(&meta_path, &text).unwrap();

        // A model file that grew after publishing: read up to one byte past the recorded
        // size, then reported as padded with that many bytes.
        let art = meta.artifact(crate::registry::MODEL_ARTIFACT).unwrap();
        let model_path = dir.path().join(v.to_string()).join(&art.key);
        let mut grown = fs::read(&model_path).unwrap();
        grown.extend(std::iter::repeat_n(0u8, 1 << 20));
        fs::write(&model_path, &grown).unwrap();
        assert_eq!(
            reg.read_artifact(&meta, art).unwrap().len() as u64,
            size + 1
        );
        let err = load_model(&reg, &v).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{} bytes (padded)", size + 1)),
            "{err}"
        );
    }

    #[test]
    fn stray_version_names_are_skipped_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let reg = LocalRegistry::open(dir.path()).unwrap();
        // A stray file with a version name and an unrelated folder.
        fs::write(dir.path().join("v1.0"), b"junk").unwrap();
        fs::create_dir(dir.path().join("notes")).unwrap();
        assert!(reg.versions().unwrap().is_empty());
        let m = reg
            .publish_bytes(b"abc", NewVersion::new("popularity"))
            .unwrap();
        assert_eq!(m.version, Version::new(1, 1));
        assert_eq!(reg.versions().unwrap(), vec![Version::new(1, 1)]);
    }

    #[test]
    fn failed_publish_leaves_no_temp_folder() {
        let dir = tempfile::tempdir().unwrap();
        let reg = LocalRegistry::open(dir.path()).unwrap();
        reg.publish_bytes(
            b"a",
            NewVersion::new("popularity").version(Version::new(2, 0)),
        )
        .unwrap();
        let err = reg
            .publish_bytes(
                b"b",
                NewVersion::new("popularity").version(Version::new(2, 0)),
            )
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Registry(RegistryError::VersionExists(_))
        ));
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(TMP_PREFIX)),
            "{names:?}"
        );
    }

    #[test]
    fn gc_removes_stale_temp_and_delete_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let reg = LocalRegistry::open(dir.path()).unwrap();
        fs::create_dir(dir.path().join(".tmp-crashed")).unwrap();
        fs::write(dir.path().join(".tmp-crashed/model.bin"), b"half").unwrap();
        let m = reg
            .publish_bytes(b"x", NewVersion::new("popularity"))
            .unwrap();
        // A crash after the tombstone but before the files went.
        let vdir = dir.path().join(m.version.to_string());
        fs::write(vdir.join(TOMBSTONE_FILE), b"{}").unwrap();
        assert!(reg.versions().unwrap().is_empty());
        assert_eq!(
            reg.gc(Duration::from_secs(3600)).unwrap(),
            2,
            "fresh temp kept"
        );
        assert!(dir.path().join(".tmp-crashed").exists());
        assert_eq!(reg.gc(Duration::ZERO).unwrap(), 1);
        assert!(!dir.path().join(".tmp-crashed").exists());
        let left: Vec<_> = fs::read_dir(&vdir).unwrap().collect();
        assert_eq!(left.len(), 1, "only the tombstone stays");
    }
}
