//! The model registry: versioned, checksummed, atomically published model files with provenance.
//!
//! A registry holds versions `vMAJOR.MINOR`. Each version is a set of named artifacts (the model
//! file `model.bin`, optionally a vocabulary, an evaluation report, ...) plus a `meta.json`
//! ([`VersionMeta`]) recording the model kind and parameters, each artifact's size and sha256,
//! the git commit, the training-data snapshot, evaluation metrics and who exported it. A
//! separate, append-only pointer history says which version is the *latest* (the one to
//! serve), so that a promotion can be rolled back.
//!
//! The [`Registry`] trait stores bytes and provenance and knows no model type; the typed helpers
//! [`publish_model`] and [`load_model`] put [`AnyModel`](crate::AnyModel)s in and out.
//!
//! Guarantees, for every backend:
//! - **Atomic publish.** A version becomes visible only once all its artifacts and its
//!   `meta.json` are stored; a publisher killed at any moment leaves no partial version
//!   (only garbage that [`Registry::gc`] removes). Concurrent publishers never get the same
//!   version number.
//! - **Verified loads.** [`Registry::load_artifact`] checks size and sha256 against
//!   `meta.json`; a damaged or truncated artifact is refused with
//!   [`RegistryError::Checksum`].
//! - **Safe names.** Version and artifact names are parsed strictly ([`Version::parse`],
//!   [`check_artifact_name`]); nothing a caller passes can name a path outside the registry.
//! - **Guarded deletes.** The latest version and the versions a [`DeleteGuard`] lists as served
//!   cannot be deleted. Deleted version numbers are never reused.
//!
//! Backends: [`LocalRegistry`] (a directory, the default) and, with cargo feature `s3`,
//! `ObjectRegistry` (any [`object_store`](https://docs.rs/object_store) store, S3 and
//! S3-compatible).
//!
//! ```
//! use recs::model::{AnyModel, Fit, Popularity};
//! use recs::registry::{self, LocalRegistry, NewVersion, Registry};
//!
//! # let dir = tempfile::tempdir()?;
//! let reg = LocalRegistry::open(dir.path().join("models"))?;
//! let model: AnyModel = Popularity::params().fit(&recs::data::Interactions::empty(2, 5))?.into();
//! let meta = registry::publish_model(&reg, &model, NewVersion::new("popularity").metric("hr@10", 0.5))?;
//! assert_eq!(meta.version.to_string(), "v1.0");
//! reg.set_latest(&meta.version)?;
//! let (latest, back) = registry::load_latest(&reg)?;
//! assert_eq!(latest.version, meta.version);
//! assert_eq!(back.to_bytes()?, model.to_bytes()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod gc;
mod local;
mod meta;
#[cfg(feature = "s3")]
mod object;
mod ops;
mod serving;

pub use error::RegistryError;
pub use gc::AUTO_GC_AGE;
pub use local::LocalRegistry;
pub use meta::{
    check_artifact_name, detect_git_sha, git_sha_of, now_rfc3339, sha256_hex, snapshot_of_files,
    snapshot_of_interactions, Artifact, ArtifactMeta, Bump, Exporter, NewVersion, PointerAction,
    PointerEntry, Version, VersionMeta, META_FORMAT,
};
#[cfg(feature = "s3")]
#[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
pub use object::ObjectRegistry;
pub use ops::{
    load_latest, load_model, load_model_capped, publish_model, publish_model_serving,
    publish_model_with, rollback, rollback_target, scan, verify, verify_all, verify_artifact, Scan,
};
pub use serving::{load_serving_data, ServingData, MAX_SERVING_BYTES, SERVING_ARTIFACT};

use std::time::Duration;

use crate::{Error, Result};

/// Name of the model file inside a version.
pub const MODEL_ARTIFACT: &str = "model.bin";

/// Largest model file [`load_model`] reads (8 GiB). Checked against the size recorded in
/// `meta.json` before any byte is read, so a forged or mistaken size cannot make a server
/// allocate without bound. The cap is far above the models this crate builds for MovieLens
/// (ML-1M EASE, the largest, is 55 MB) and leaves room for a dense item-item model of about
/// 45,000 items (`4·n²` bytes); a larger one should be a different model, not a larger file.
/// Use [`load_model_capped`] for another cap.
pub const MAX_MODEL_BYTES: u64 = 8 << 30;

/// A store of model versions. Object-safe: the server and CLI hold a `Box<dyn Registry>`.
///
/// Backends implement the storage primitives; verification ([`load_artifact`]), listing and
/// promotion are provided on top of them so that every backend behaves the same.
///
/// [`load_artifact`]: Registry::load_artifact
pub trait Registry: Send + Sync {
    /// Where the registry lives, e.g. `/srv/models` or `s3://bucket/prefix`.
    fn location(&self) -> String;

    /// Stores a new version holding `artifacts` and returns its metadata.
    ///
    /// The version is `meta.version` when given, else the next number after the highest
    /// version ever published (deleted ones included), bumped as `meta.bump` says. The version
    /// is visible only once complete. With `meta.promote` it then becomes the latest.
    ///
    /// # Errors
    /// [`RegistryError::BadName`] for a bad artifact name (or duplicates),
    /// [`RegistryError::InvalidMeta`] for bad metadata or no artifacts,
    /// [`RegistryError::VersionExists`] when an explicit version is taken,
    /// [`RegistryError::Contention`] when too many publishers race, or an I/O or backend error.
    fn publish(&self, artifacts: &[Artifact<'_>], meta: NewVersion) -> Result<VersionMeta>;

    /// The committed versions, oldest first (without reading their metadata).
    ///
    /// # Errors
    /// I/O or backend errors.
    fn versions(&self) -> Result<Vec<Version>>;

    /// The metadata of `version`.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when the version does not exist (or was deleted),
    /// [`RegistryError::Corrupt`] when its `meta.json` cannot be read back.
    fn meta(&self, version: &Version) -> Result<VersionMeta>;

    /// The stored bytes of one artifact of a version, **not verified**. Use
    /// [`load_artifact`](Registry::load_artifact), which verifies them.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when the artifact is missing, I/O or backend errors.
    fn read_artifact(&self, meta: &VersionMeta, artifact: &ArtifactMeta) -> Result<Vec<u8>>;

    /// The latest version, `None` when none was ever set.
    ///
    /// # Errors
    /// I/O, backend or [`RegistryError::Corrupt`] errors.
    fn latest(&self) -> Result<Option<Version>>;

    /// Every move of the latest pointer, oldest first.
    ///
    /// # Errors
    /// I/O, backend or [`RegistryError::Corrupt`] errors.
    fn history(&self) -> Result<Vec<PointerEntry>>;

    /// Appends a pointer move to `version` (which must exist). Concurrent moves are serialized:
    /// each gets its own sequence number.
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when `version` does not exist.
    fn move_latest(&self, version: &Version, action: PointerAction) -> Result<PointerEntry>;

    /// Deletes `version`, unless it is the latest or `guard` protects it. The version
    /// disappears at once; its number stays reserved.
    ///
    /// # Errors
    /// [`RegistryError::Protected`], [`RegistryError::NotFound`], I/O or backend errors.
    fn delete(&self, version: &Version, guard: &DeleteGuard) -> Result<()>;

    /// Removes what crashed publishers or deletes left behind (temporary folders, orphan
    /// uploads) that is older than `older_than`; returns how many items were removed.
    /// A publish still running and older than `older_than` would fail, so keep it generous
    /// (an hour) unless no publisher runs.
    ///
    /// # Errors
    /// I/O or backend errors.
    fn gc(&self, older_than: Duration) -> Result<usize>;

    /// Publishes one model file as [`MODEL_ARTIFACT`].
    ///
    /// # Errors
    /// As [`publish`](Registry::publish).
    fn publish_bytes(&self, model: &[u8], meta: NewVersion) -> Result<VersionMeta> {
        self.publish(&[Artifact::new(MODEL_ARTIFACT, model)], meta)
    }

    /// The bytes of artifact `name` of `version`, after checking their size and sha256.
    ///
    /// # Errors
    /// [`RegistryError::Checksum`] for damaged or truncated bytes, [`RegistryError::NotFound`],
    /// [`RegistryError::BadName`], I/O or backend errors.
    fn load_artifact(&self, version: &Version, name: &str) -> Result<Vec<u8>> {
        check_artifact_name(name)?;
        let meta = self.meta(version)?;
        let art = meta.artifact(name).ok_or_else(|| {
            Error::from(RegistryError::NotFound(format!(
                "artifact `{name}` of {version}"
            )))
        })?;
        let bytes = self.read_artifact(&meta, art)?;
        verify_artifact(&meta.version, art, &bytes)?;
        Ok(bytes)
    }

    /// The verified model file ([`MODEL_ARTIFACT`]) of `version`.
    ///
    /// # Errors
    /// As [`load_artifact`](Registry::load_artifact).
    fn load_bytes(&self, version: &Version) -> Result<Vec<u8>> {
        self.load_artifact(version, MODEL_ARTIFACT)
    }

    /// Version folders that [`versions`](Registry::versions) leaves out because they hold no
    /// `meta.json` (deleted by hand, or a copy that lost it), as `(folder name, reason)`.
    /// Backends that cannot tell return none (the default). See [`scan`] for every fault.
    ///
    /// # Errors
    /// I/O or backend errors.
    fn without_meta(&self) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }

    /// The metadata of every version, oldest first.
    ///
    /// # Errors
    /// As [`meta`](Registry::meta) for any version (see [`scan`] for a listing that goes on).
    fn list(&self) -> Result<Vec<VersionMeta>> {
        self.versions()?.iter().map(|v| self.meta(v)).collect()
    }

    /// Makes `version` the latest (promote, or roll forward/back by hand).
    ///
    /// # Errors
    /// [`RegistryError::NotFound`] when `version` does not exist.
    fn set_latest(&self, version: &Version) -> Result<PointerEntry> {
        self.move_latest(version, PointerAction::Promote)
    }
}

/// The versions that [`Registry::delete`] must not remove besides the latest one, typically
/// the versions a running server holds.
///
/// ```
/// use recs::registry::{DeleteGuard, Version};
/// let guard = DeleteGuard::new().serving(Version::new(1, 2));
/// assert!(guard.protects(&Version::new(1, 2)));
/// assert!(!guard.protects(&Version::new(1, 3)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteGuard {
    served: Vec<Version>,
}

impl DeleteGuard {
    /// A guard protecting only the latest version.
    pub fn new() -> Self {
        Self::default()
    }
    /// Also protects `version` (served somewhere).
    pub fn serving(mut self, version: Version) -> Self {
        self.served.push(version);
        self
    }
    /// The served versions.
    pub fn served(&self) -> &[Version] {
        &self.served
    }
    /// Whether `version` is listed as served.
    pub fn protects(&self, version: &Version) -> bool {
        self.served.contains(version)
    }
}

/// Refuses to delete the latest or a served version (shared by the backends).
pub(crate) fn check_deletable<R: Registry + ?Sized>(
    reg: &R,
    version: &Version,
    guard: &DeleteGuard,
) -> Result<()> {
    if guard.protects(version) {
        return Err(RegistryError::Protected {
            version: *version,
            reason: "it is being served".into(),
        }
        .into());
    }
    if reg.latest()? == Some(*version) {
        return Err(RegistryError::Protected {
            version: *version,
            reason: "it is the latest version; promote or roll back to another one first".into(),
        }
        .into());
    }
    Ok(())
}

/// Checks what every backend checks before publishing, and digests the artifacts
/// (`key` is left to the backend).
pub(crate) fn prepare(artifacts: &[Artifact<'_>], meta: &NewVersion) -> Result<Vec<ArtifactMeta>> {
    meta.validate()?;
    if let Some(v) = meta.version {
        v.validated()?;
    }
    if artifacts.is_empty() {
        return Err(
            RegistryError::InvalidMeta("a version holds at least one artifact".into()).into(),
        );
    }
    let mut out: Vec<ArtifactMeta> = Vec::with_capacity(artifacts.len());
    for a in artifacts {
        check_artifact_name(a.name)?;
        if out.iter().any(|o| o.name == a.name) {
            return Err(RegistryError::BadName {
                name: a.name.to_string(),
                reason: "two artifacts have this name",
            }
            .into());
        }
        out.push(ArtifactMeta {
            name: a.name.to_string(),
            size: a.bytes.len() as u64,
            sha256: sha256_hex(a.bytes),
            key: a.name.to_string(),
        });
    }
    Ok(out)
}

/// Opens a registry from a location string: `s3://bucket/prefix` (feature `s3`; configured
/// from the standard `AWS_*` variables, e.g. `AWS_ENDPOINT` and `AWS_ALLOW_HTTP` for an
/// S3-compatible server), `file:///path`, or a plain directory path.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let reg = recs::registry::open(dir.path().to_str().unwrap())?;
/// assert!(reg.versions()?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Unsupported`] for an unknown scheme (or `s3://` without the feature), or the
/// backend's errors when opening.
pub fn open(location: &str) -> Result<Box<dyn Registry>> {
    if location.starts_with("s3://") || location.starts_with("s3a://") {
        #[cfg(feature = "s3")]
        {
            return Ok(Box::new(ObjectRegistry::s3(
                location,
                std::iter::empty::<(&str, &str)>(),
            )?));
        }
        #[cfg(not(feature = "s3"))]
        return Err(Error::Unsupported(format!(
            "registry `{location}` needs recs built with cargo feature `s3`"
        )));
    }
    if let Some(path) = location.strip_prefix("file://") {
        return Ok(Box::new(LocalRegistry::open(path)?));
    }
    if let Some((scheme, _)) = location.split_once("://") {
        return Err(Error::Unsupported(format!(
            "registry scheme `{scheme}://` (known: a path, file://, s3://)"
        )));
    }
    Ok(Box::new(LocalRegistry::open(location)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<LocalRegistry>();
        has::<RegistryError>();
        has::<VersionMeta>();
        has::<NewVersion>();
        has::<DeleteGuard>();
        has::<Box<dyn Registry>>();
        #[cfg(feature = "s3")]
        has::<ObjectRegistry>();
    }

    #[test]
    fn open_refuses_unknown_schemes() {
        assert!(matches!(
            open("ftp://example/x"),
            Err(Error::Unsupported(_))
        ));
        #[cfg(not(feature = "s3"))]
        assert!(matches!(open("s3://bucket/x"), Err(Error::Unsupported(_))));
    }

    #[test]
    fn prepare_refuses_bad_artifacts() {
        let nv = NewVersion::new("popularity");
        assert!(prepare(&[], &nv).is_err());
        for bad in ["../x", "a/b", ".hidden", "meta.json", "deleted.json", ""] {
            assert!(
                matches!(
                    prepare(&[Artifact::new(bad, b"x")], &nv),
                    Err(Error::Registry(RegistryError::BadName { .. }))
                ),
                "{bad}"
            );
        }
        let dup = [Artifact::new("a", b"1"), Artifact::new("a", b"2")];
        assert!(prepare(&dup, &nv).is_err());
        let ok = prepare(&[Artifact::new("model.bin", b"abc")], &nv).unwrap();
        assert_eq!(ok[0].size, 3);
        assert_eq!(ok[0].sha256, sha256_hex(b"abc"));
    }
}
