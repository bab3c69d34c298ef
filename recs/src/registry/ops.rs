//! Operations built on any [`Registry`]: typed model helpers, rollback, verification.

use std::collections::BTreeSet;

use super::meta::sha256_hex;
use super::serving::ServingData;
use super::{
    Artifact, ArtifactMeta, NewVersion, PointerAction, PointerEntry, Registry, RegistryError,
    Version, VersionMeta, MAX_MODEL_BYTES, MODEL_ARTIFACT,
};
use crate::model::{read_header, AnyModel, Recommender, MAGIC};
use crate::{Error, Result};

/// Checks `bytes` against the size and sha256 recorded for `artifact` of `version`.
///
/// # Errors
/// [`RegistryError::Checksum`] saying what was expected and what was found.
pub fn verify_artifact(version: &Version, artifact: &ArtifactMeta, bytes: &[u8]) -> Result<()> {
    let damaged = |got: String| {
        Error::from(RegistryError::Checksum {
            version: *version,
            artifact: artifact.name.clone(),
            expected: format!("{} bytes with sha256 {}", artifact.size, artifact.sha256),
            got,
        })
    };
    if bytes.len() as u64 != artifact.size {
        let what = if (bytes.len() as u64) < artifact.size {
            "truncated"
        } else {
            "padded"
        };
        return Err(damaged(format!("{} bytes ({what})", bytes.len())));
    }
    let sha = sha256_hex(bytes);
    if sha != artifact.sha256 {
        return Err(damaged(format!("sha256 {sha} (bytes changed)")));
    }
    Ok(())
}

/// Publishes `model` as [`MODEL_ARTIFACT`]. `meta.kind` is filled in from the model when
/// empty, and must match it otherwise.
///
/// # Errors
/// [`RegistryError::InvalidMeta`] for a kind mismatch, [`Error::Serde`], or as
/// [`Registry::publish`].
pub fn publish_model(
    reg: &dyn Registry,
    model: &AnyModel,
    meta: NewVersion,
) -> Result<VersionMeta> {
    publish_model_with(reg, model, &[], meta)
}

/// Publishes `model` with further artifacts (a vocabulary, an evaluation report, ...).
///
/// # Errors
/// As [`publish_model`].
pub fn publish_model_with(
    reg: &dyn Registry,
    model: &AnyModel,
    extra: &[Artifact<'_>],
    mut meta: NewVersion,
) -> Result<VersionMeta> {
    if meta.kind.is_empty() {
        meta.kind = model.kind().to_string();
    } else if meta.kind != model.kind() {
        return Err(RegistryError::InvalidMeta(format!(
            "metadata says kind `{}` but the model is `{}`",
            meta.kind,
            model.kind()
        ))
        .into());
    }
    let bytes = model.to_bytes()?;
    let mut artifacts = Vec::with_capacity(extra.len() + 1);
    artifacts.push(Artifact::new(MODEL_ARTIFACT, &bytes));
    artifacts.extend_from_slice(extra);
    reg.publish(&artifacts, meta)
}

/// Publishes `model` with its [`ServingData`] (as [`SERVING_ARTIFACT`](super::SERVING_ARTIFACT)) and `extra` artifacts.
///
/// # Errors
/// [`RegistryError::InvalidMeta`] when the model does not score exactly the data's items, or
/// as [`publish_model_with`].
pub fn publish_model_serving(
    reg: &dyn Registry,
    model: &AnyModel,
    data: &ServingData,
    extra: &[Artifact<'_>],
    meta: NewVersion,
) -> Result<VersionMeta> {
    if model.n_items() != data.items().len() {
        return Err(RegistryError::InvalidMeta(format!(
            "the model scores {} items but its serving data has {}",
            model.n_items(),
            data.items().len()
        ))
        .into());
    }
    let bytes = data.to_bytes()?;
    let mut artifacts = Vec::with_capacity(extra.len() + 1);
    artifacts.push(Artifact::new(super::SERVING_ARTIFACT, &bytes));
    artifacts.extend_from_slice(extra);
    publish_model_with(reg, model, &artifacts, meta)
}

/// Loads the model of `version`: the size recorded in `meta.json` against
/// [`MAX_MODEL_BYTES`] (before reading), the registry checksum, then the model file's own
/// header and checksum, then that its kind is the one `meta.json` records.
///
/// # Errors
/// [`RegistryError::InvalidMeta`] for a recorded size over the cap,
/// [`RegistryError::Checksum`] / [`Error::Format`] for damaged files,
/// [`RegistryError::NotFound`], [`RegistryError::Corrupt`] for a kind mismatch.
pub fn load_model(reg: &dyn Registry, version: &Version) -> Result<AnyModel> {
    load_model_capped(reg, version, MAX_MODEL_BYTES)
}

/// As [`load_model`], with a cap of `max_bytes` on the model file instead of
/// [`MAX_MODEL_BYTES`].
///
/// ```
/// use recs::data::Interactions;
/// use recs::registry::{load_model_capped, publish_model, LocalRegistry, NewVersion};
/// let dir = tempfile::tempdir()?;
/// let reg = LocalRegistry::open(dir.path())?;
/// let model = recs::model::fit_named("pop", &Interactions::empty(2, 3))?;
/// let v = publish_model(&reg, &model, NewVersion::new("popularity"))?.version;
/// assert!(load_model_capped(&reg, &v, 1 << 20).is_ok());
/// let err = load_model_capped(&reg, &v, 10).unwrap_err().to_string();
/// assert!(err.contains("more than the 10 bytes"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`load_model`].
pub fn load_model_capped(
    reg: &dyn Registry,
    version: &Version,
    max_bytes: u64,
) -> Result<AnyModel> {
    Ok(load_checked(reg, version, max_bytes)?.1)
}

fn load_checked(
    reg: &dyn Registry,
    version: &Version,
    max_bytes: u64,
) -> Result<(VersionMeta, AnyModel)> {
    let meta = reg.meta(version)?;
    let art = meta.artifact(MODEL_ARTIFACT).ok_or_else(|| {
        Error::from(RegistryError::NotFound(format!(
            "{version} has no `{MODEL_ARTIFACT}`"
        )))
    })?;
    if art.size > max_bytes {
        return Err(RegistryError::InvalidMeta(format!(
            "{version}/{MODEL_ARTIFACT} is {} bytes by its meta.json, more than the {max_bytes} \
             bytes a model may have; refused before reading",
            art.size
        ))
        .into());
    }
    let bytes = reg.read_artifact(&meta, art)?;
    verify_artifact(version, art, &bytes)?;
    let model = AnyModel::from_bytes(&bytes)?;
    if model.kind() != meta.kind {
        return Err(RegistryError::Corrupt {
            what: format!("{version}/meta.json"),
            message: format!(
                "records kind `{}` but the model file is `{}`",
                meta.kind,
                model.kind()
            ),
        }
        .into());
    }
    Ok((meta, model))
}

/// The latest version's metadata and model.
///
/// # Errors
/// [`RegistryError::NotFound`] when no latest version is set, or as [`load_model`].
pub fn load_latest(reg: &dyn Registry) -> Result<(VersionMeta, AnyModel)> {
    let v = reg.latest()?.ok_or_else(|| {
        Error::from(RegistryError::NotFound(format!(
            "latest version of {} (none was promoted)",
            reg.location()
        )))
    })?;
    load_checked(reg, &v, MAX_MODEL_BYTES)
}

/// The version [`rollback`] would move the latest pointer to, `None` when there is none.
///
/// The pointer history is replayed as a stack (a promote pushes, a rollback pops), so repeated
/// rollbacks walk back through earlier promotions: promote v1.0, v1.1, v1.2 then rollback,
/// rollback gives v1.1 then v1.0. Deleted versions are skipped. When the history holds no
/// earlier version, the previous existing version in list order is taken.
///
/// # Errors
/// As [`Registry::history`] and [`Registry::versions`].
pub fn rollback_target(reg: &dyn Registry) -> Result<Option<Version>> {
    let history = reg.history()?;
    let Some(current) = history.last().map(|e| e.version) else {
        return Ok(None);
    };
    let existing: BTreeSet<Version> = reg.versions()?.into_iter().collect();
    let mut stack: Vec<Version> = Vec::new();
    for e in &history {
        match e.action {
            PointerAction::Promote => stack.push(e.version),
            PointerAction::Rollback => {
                stack.pop();
                while stack.last().is_some_and(|&top| top != e.version) {
                    stack.pop();
                }
                if stack.is_empty() {
                    stack.push(e.version);
                }
            }
        }
    }
    stack.pop();
    while let Some(v) = stack.pop() {
        if v != current && existing.contains(&v) {
            return Ok(Some(v));
        }
    }
    Ok(existing.range(..current).next_back().copied())
}

/// Moves the latest pointer back (see [`rollback_target`]) and returns the new entry.
///
/// # Errors
/// [`RegistryError::NotFound`] when there is nothing to roll back to.
pub fn rollback(reg: &dyn Registry) -> Result<PointerEntry> {
    let target = rollback_target(reg)?.ok_or_else(|| {
        Error::from(RegistryError::NotFound(
            "an earlier version to roll back to".into(),
        ))
    })?;
    reg.move_latest(&target, PointerAction::Rollback)
}

/// Re-hashes every artifact of `version` and, when the model file is a recs model file (it
/// starts with [`MAGIC`]), checks its own header (format, checksum) and that its kind matches
/// `meta.json`. Raw bytes published with [`Registry::publish_bytes`] are only re-hashed.
///
/// # Errors
/// The first problem found: [`RegistryError::Checksum`], [`Error::Format`],
/// [`RegistryError::Corrupt`], [`RegistryError::NotFound`].
pub fn verify(reg: &dyn Registry, version: &Version) -> Result<VersionMeta> {
    let meta = reg.meta(version)?;
    for art in &meta.artifacts {
        let bytes = reg.read_artifact(&meta, art)?;
        verify_artifact(version, art, &bytes)?;
        if art.name == MODEL_ARTIFACT && bytes.starts_with(MAGIC) {
            let h = read_header(&bytes)?;
            if h.kind != meta.kind {
                return Err(RegistryError::Corrupt {
                    what: format!("{version}/meta.json"),
                    message: format!(
                        "records kind `{}` but the model file is `{}`",
                        meta.kind, h.kind
                    ),
                }
                .into());
            }
        }
    }
    Ok(meta)
}

/// [`verify`] for every version: one result per version, oldest first.
///
/// # Errors
/// Only when the versions cannot be listed; problems of single versions are in the results.
pub fn verify_all(reg: &dyn Registry) -> Result<Vec<(Version, Result<VersionMeta>)>> {
    Ok(reg
        .versions()?
        .into_iter()
        .map(|v| (v, verify(reg, &v)))
        .collect())
}

/// Every version of a registry, the readable and the faulty: what `recs registry list` and
/// `verify` report.
#[derive(Debug, Default)]
pub struct Scan {
    /// Versions whose `meta.json` reads back, oldest first.
    pub good: Vec<VersionMeta>,
    /// Versions (or version folders) that cannot be used, with the reason: no `meta.json`, or
    /// one that cannot be read or parsed.
    pub faulty: Vec<(String, String)>,
    /// The latest pointer.
    pub latest: Option<Version>,
}

impl Scan {
    /// The reason `latest` cannot be served, when it points at a faulty or missing version.
    pub fn latest_fault(&self) -> Option<String> {
        let latest = self.latest?;
        if self.good.iter().any(|m| m.version == latest) {
            return None;
        }
        let name = latest.to_string();
        Some(self.faulty.iter().find(|(n, _)| *n == name).map_or_else(
            || format!("latest -> {name}, which does not exist"),
            |(_, why)| format!("latest -> {name}, which is faulty: {why}"),
        ))
    }

    /// Whether any fault was found.
    pub fn has_faults(&self) -> bool {
        !self.faulty.is_empty() || self.latest_fault().is_some()
    }
}

/// Reads every version's metadata, going on past faulty ones (see [`Scan`]).
///
/// ```
/// use recs::registry::{scan, LocalRegistry, NewVersion, Registry};
/// let dir = tempfile::tempdir()?;
/// let reg = LocalRegistry::open(dir.path())?;
/// let a = reg.publish_bytes(b"a", NewVersion::new("popularity"))?;
/// let b = reg.publish_bytes(b"b", NewVersion::new("popularity").promote(true))?;
/// std::fs::remove_file(dir.path().join(b.version.to_string()).join("meta.json"))?;
/// let s = scan(&reg)?;
/// assert_eq!(s.good.len(), 1);
/// assert_eq!(s.good[0].version, a.version);
/// assert_eq!(s.faulty[0].0, b.version.to_string());
/// assert!(s.latest_fault().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Only when the versions or the latest pointer cannot be read at all.
pub fn scan(reg: &dyn Registry) -> Result<Scan> {
    let mut out = Scan {
        latest: reg.latest()?,
        ..Scan::default()
    };
    for v in reg.versions()? {
        match reg.meta(&v) {
            Ok(m) => out.good.push(m),
            Err(e) => out.faulty.push((v.to_string(), e.to_string())),
        }
    }
    out.faulty.extend(reg.without_meta()?);
    Ok(out)
}
