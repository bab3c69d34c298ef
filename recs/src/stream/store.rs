//! Where snapshots live: a local directory (the default) or, with cargo feature `s3`, a prefix
//! in an object store (the registry's backend, issue 5).
//!
//! Both offer the same few operations on flat names (`manifest-<member>.json`,
//! `<member>-<batch>-<kind>.csv`, ...): read one, write one whole, list the manifests. A write
//! is atomic in both: temp file + rename locally, a single PUT in an object store (readers
//! see the whole object or none). The writer puts the data objects first and the manifest
//! last, so a reader never sees a manifest whose data is missing, and every read is checked
//! against the size and sha256 the manifest lists.

use std::fmt;
use std::path::{Path, PathBuf};
#[cfg(feature = "s3")]
use std::sync::Arc;

#[cfg(feature = "s3")]
use crate::objects::{self, Objects};
use crate::util::write_atomic;
use crate::{Error, Result};

/// A snapshot location: a local directory or an object-store prefix.
///
/// Paths convert into it, so [`SnapshotSet::open`](super::SnapshotSet::open) and
/// [`SnapshotWriter::open`](super::SnapshotWriter::open) take a directory as before;
/// [`SnapshotStore::parse`] also reads `s3://bucket/prefix` (feature `s3`).
///
/// ```
/// use recs::stream::SnapshotStore;
/// let s = SnapshotStore::parse("snapshots/2024-02")?;
/// assert_eq!(s, SnapshotStore::from(std::path::Path::new("snapshots/2024-02")));
/// assert_eq!(s.to_string(), "snapshots/2024-02");
/// assert!(SnapshotStore::parse("ftp://host/x").is_err());
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Clone)]
pub enum SnapshotStore {
    /// A directory on the local file system.
    Local(PathBuf),
    /// A prefix in an object store (feature `s3`).
    #[cfg(feature = "s3")]
    #[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
    Object(ObjectPrefix),
}

/// A prefix in an object store, with the client that reaches it (feature `s3`).
#[cfg(feature = "s3")]
#[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
#[derive(Clone)]
pub struct ObjectPrefix {
    objects: Arc<Objects>,
    prefix: object_store::path::Path,
    location: String,
}

#[cfg(feature = "s3")]
impl ObjectPrefix {
    /// `prefix` (may be empty) of `store`; `location` names it in messages.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a malformed prefix, [`Error::Io`] when the client's
    /// runtime cannot start.
    pub fn new(
        store: Arc<dyn object_store::ObjectStore>,
        prefix: &str,
        location: impl Into<String>,
    ) -> Result<Self> {
        let location = location.into();
        let prefix = objects::parse_prefix(prefix).map_err(|_| {
            Error::param(
                "snapshot prefix",
                "a prefix without `.` or `..` parts",
                prefix,
            )
        })?;
        let objects = Objects::new(store, "recs-snapshots").map_err(|e| obj_err(&location, e))?;
        Ok(ObjectPrefix {
            objects: Arc::new(objects),
            prefix,
            location,
        })
    }

    fn key(&self, name: &str) -> object_store::path::Path {
        self.prefix.clone().join(name)
    }
}

#[cfg(feature = "s3")]
fn obj_err(at: &str, e: String) -> Error {
    Error::io(at, std::io::Error::other(e))
}

impl fmt::Debug for SnapshotStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotStore::Local(p) => f.debug_tuple("Local").field(p).finish(),
            #[cfg(feature = "s3")]
            SnapshotStore::Object(o) => f.debug_tuple("Object").field(&o.location).finish(),
        }
    }
}

/// Equal when they name the same place (same directory path, or same object-store location).
impl PartialEq for SnapshotStore {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string() && self.is_local() == other.is_local()
    }
}

impl fmt::Display for SnapshotStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotStore::Local(p) => write!(f, "{}", p.display()),
            #[cfg(feature = "s3")]
            SnapshotStore::Object(o) => f.write_str(&o.location),
        }
    }
}

impl From<PathBuf> for SnapshotStore {
    fn from(p: PathBuf) -> Self {
        SnapshotStore::Local(p)
    }
}

impl From<&PathBuf> for SnapshotStore {
    fn from(p: &PathBuf) -> Self {
        SnapshotStore::Local(p.clone())
    }
}

impl From<&Path> for SnapshotStore {
    fn from(p: &Path) -> Self {
        SnapshotStore::Local(p.to_path_buf())
    }
}

impl From<&SnapshotStore> for SnapshotStore {
    fn from(s: &SnapshotStore) -> Self {
        s.clone()
    }
}

impl SnapshotStore {
    /// Reads a location: `s3://bucket/prefix` or `s3a://...` (feature `s3`; the client is
    /// configured from the standard `AWS_*` variables, e.g. `AWS_ENDPOINT` and
    /// `AWS_ALLOW_HTTP` for an S3-compatible server), `file:///dir`, or a plain directory.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for an unknown scheme or `s3://` without the feature;
    /// [`Error::InvalidParam`] for a malformed URL.
    pub fn parse(location: &str) -> Result<Self> {
        if location.starts_with("s3://") || location.starts_with("s3a://") {
            #[cfg(feature = "s3")]
            return SnapshotStore::s3(location, std::iter::empty::<(&str, &str)>());
            #[cfg(not(feature = "s3"))]
            return Err(Error::Unsupported(format!(
                "snapshots at `{location}` need recs built with cargo feature `s3`"
            )));
        }
        if let Some(path) = location.strip_prefix("file://") {
            return Ok(SnapshotStore::Local(path.into()));
        }
        if let Some((scheme, _)) = location.split_once("://") {
            return Err(Error::Unsupported(format!(
                "snapshot location scheme `{scheme}://` (known: a path, file://, s3://)"
            )));
        }
        Ok(SnapshotStore::Local(location.into()))
    }

    /// Snapshots at `s3://bucket/prefix`, the client configured from the environment and then
    /// `options` (`object_store`'s `AmazonS3ConfigKey` names: `aws_endpoint`,
    /// `aws_allow_http`, ...), as [`crate::registry::ObjectRegistry::s3`].
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a malformed URL, [`Error::Io`] for a bad option or client
    /// configuration.
    #[cfg(feature = "s3")]
    #[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
    pub fn s3<K: AsRef<str>, V: Into<String>>(
        url: &str,
        options: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self> {
        let (bucket, prefix) = objects::parse_s3_url(url)
            .map_err(|_| Error::param("snapshot location", "s3://bucket/prefix", url))?;
        let store = objects::s3_store(bucket, options).map_err(|e| obj_err(url, e))?;
        Ok(SnapshotStore::Object(ObjectPrefix::new(
            store,
            prefix,
            format!("s3://{bucket}/{prefix}"),
        )?))
    }

    /// Whether this is a local directory.
    pub fn is_local(&self) -> bool {
        matches!(self, SnapshotStore::Local(_))
    }

    /// The directory, for a local store.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            SnapshotStore::Local(p) => Some(p),
            #[cfg(feature = "s3")]
            SnapshotStore::Object(_) => None,
        }
    }

    /// Where `name` lives, for messages (`dir/name` or `s3://bucket/prefix/name`).
    pub(crate) fn describe(&self, name: &str) -> PathBuf {
        match self {
            SnapshotStore::Local(p) => p.join(name),
            #[cfg(feature = "s3")]
            SnapshotStore::Object(o) => {
                PathBuf::from(format!("{}/{name}", o.location.trim_end_matches('/')))
            }
        }
    }

    /// Makes sure the location can be written to (creates a local directory).
    pub(crate) fn prepare(&self) -> Result<()> {
        match self {
            SnapshotStore::Local(p) => std::fs::create_dir_all(p).map_err(|e| Error::io(p, e)),
            #[cfg(feature = "s3")]
            SnapshotStore::Object(_) => Ok(()),
        }
    }

    /// Object `name`, `None` when it does not exist.
    pub(crate) fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self {
            SnapshotStore::Local(p) => {
                let path = p.join(name);
                match std::fs::read(&path) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io(path, e)),
                }
            }
            #[cfg(feature = "s3")]
            SnapshotStore::Object(o) => o
                .objects
                .get(&o.key(name))
                .map_err(|e| obj_err(&o.location, e)),
        }
    }

    /// Writes object `name` whole, atomically.
    pub(crate) fn put(&self, name: &str, bytes: &[u8]) -> Result<()> {
        match self {
            SnapshotStore::Local(p) => write_atomic(&p.join(name), bytes),
            #[cfg(feature = "s3")]
            SnapshotStore::Object(o) => o
                .objects
                .put(
                    &o.key(name),
                    bytes.to_vec(),
                    object_store::PutMode::Overwrite,
                )
                .map(|_| ())
                .map_err(|e| obj_err(&o.location, e)),
        }
    }

    /// Names of the objects directly in the location that start with `prefix` and end with
    /// `suffix`, sorted.
    pub(crate) fn list(&self, prefix: &str, suffix: &str) -> Result<Vec<String>> {
        let keep = |n: &str| n.starts_with(prefix) && n.ends_with(suffix);
        let mut out = Vec::new();
        match self {
            SnapshotStore::Local(dir) => {
                let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
                for entry in rd {
                    let entry = entry.map_err(|e| Error::io(dir, e))?;
                    if let Some(n) = entry.file_name().to_str().filter(|n| keep(n)) {
                        out.push(n.to_owned());
                    }
                }
            }
            #[cfg(feature = "s3")]
            SnapshotStore::Object(o) => {
                for meta in o
                    .objects
                    .list(&o.prefix)
                    .map_err(|e| obj_err(&o.location, e))?
                {
                    let Some(parts) = meta.location.prefix_match(&o.prefix) else {
                        continue;
                    };
                    let parts: Vec<_> = parts.collect();
                    if let [name] = parts.as_slice() {
                        if keep(name.as_ref()) {
                            out.push(name.as_ref().to_owned());
                        }
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_paths_and_refuses_unknown_schemes() {
        assert_eq!(
            SnapshotStore::parse("file:///tmp/x").unwrap(),
            SnapshotStore::Local("/tmp/x".into())
        );
        assert!(matches!(
            SnapshotStore::parse("gs://b/x"),
            Err(Error::Unsupported(_))
        ));
        #[cfg(not(feature = "s3"))]
        assert!(matches!(
            SnapshotStore::parse("s3://b/x"),
            Err(Error::Unsupported(_))
        ));
        #[cfg(feature = "s3")]
        assert!(!SnapshotStore::parse("s3://b/x").unwrap().is_local());
    }

    #[test]
    fn local_put_get_list() {
        let dir = tempfile::tempdir().unwrap();
        let s = SnapshotStore::from(dir.path().join("sub"));
        s.prepare().unwrap();
        assert_eq!(s.get("manifest-a.json").unwrap(), None);
        s.put("manifest-a.json", b"{}").unwrap();
        s.put("a-000000-rate.csv", b"x").unwrap();
        assert_eq!(s.list("manifest-", ".json").unwrap(), ["manifest-a.json"]);
        assert_eq!(
            s.get("a-000000-rate.csv").unwrap().as_deref(),
            Some(&b"x"[..])
        );
    }

    #[cfg(feature = "s3")]
    #[test]
    fn object_put_get_list_skips_deeper_keys() {
        let mem = Arc::new(object_store::memory::InMemory::new());
        let s = SnapshotStore::Object(ObjectPrefix::new(mem, "snap/x", "mem://snap/x").unwrap());
        s.put("manifest-0.json", b"{}").unwrap();
        let SnapshotStore::Object(o) = &s else {
            unreachable!()
        };
        let deeper = object_store::path::Path::from("snap/x/sub/manifest-1.json");
        o.objects
            .put(&deeper, b"{}".to_vec(), object_store::PutMode::Overwrite)
            .unwrap();
        assert_eq!(s.list("manifest-", ".json").unwrap(), ["manifest-0.json"]);
        assert_eq!(
            s.get("manifest-0.json").unwrap().as_deref(),
            Some(&b"{}"[..])
        );
        assert_eq!(s.get("nope").unwrap(), None);
        assert_eq!(s.describe("a.csv"), PathBuf::from("mem://snap/x/a.csv"));
    }
}
