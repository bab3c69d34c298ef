//! The registry's own error cases, carried transparently by [`crate::Error::Registry`].

use super::Version;

/// What can go wrong in a [`Registry`](super::Registry) beyond plain I/O.
///
/// Every variant says what was asked, what was expected and what was found, so that a user of
/// `recs registry ...` can act on the message without reading code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A version or artifact name is malformed or could escape the registry (`..`, `/`, `\`).
    #[error("bad name `{name}`: {reason}")]
    BadName {
        /// The rejected name, as given.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An explicit version was asked for but it exists already (or existed and was deleted:
    /// version numbers are never reused).
    #[error("version {0} already exists (version numbers are never reused)")]
    VersionExists(Version),
    /// The version, artifact or pointer does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A stored artifact does not match the size or sha256 recorded when it was published.
    #[error("artifact `{artifact}` of {version} is damaged: expected {expected}, got {got}")]
    Checksum {
        /// The version holding the artifact.
        version: Version,
        /// The artifact name.
        artifact: String,
        /// Size and digest recorded in `meta.json`.
        expected: String,
        /// What the stored bytes have.
        got: String,
    },
    /// Deleting this version is refused: it is the latest or a served version.
    #[error("refusing to delete {version}: {reason}")]
    Protected {
        /// The version that was to be deleted.
        version: Version,
        /// Why it is protected.
        reason: String,
    },
    /// Stored registry metadata (`meta.json`, a latest pointer) cannot be read back.
    #[error("registry metadata {what} is unreadable: {message}")]
    Corrupt {
        /// Which file or object.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// The metadata given to `publish` is invalid (for example a NaN metric).
    #[error("invalid version metadata: {0}")]
    InvalidMeta(String),
    /// The storage backend (object store) failed.
    #[error("registry backend error: {0}")]
    Backend(String),
    /// Too many concurrent writers raced for the same version or pointer slot.
    #[error("gave up after {0} attempts: too many concurrent publishers")]
    Contention(usize),
}
