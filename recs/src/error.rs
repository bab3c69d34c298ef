//! The one error type of the `recs` crate.

use std::path::PathBuf;

/// Everything that can go wrong in `recs`.
///
/// Messages follow "what, expected, got" so that a user can act on them without reading code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hyper-parameter is outside its documented range.
    #[error("invalid parameter `{name}`: expected {expected}, got {got}")]
    InvalidParam {
        /// Name of the parameter, as spelled by its setter.
        name: &'static str,
        /// The documented range.
        expected: &'static str,
        /// The rejected value, formatted.
        got: String,
    },
    /// A user index outside the model or data.
    #[error("unknown user {0}")]
    UnknownUser(u64),
    /// An item index outside the model or data.
    #[error("unknown item {0}")]
    UnknownItem(u64),
    /// A line of an input file could not be parsed.
    #[error("{}:{line}: field `{field}`: {message}", path.display())]
    Parse {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Name of the field that failed.
        field: &'static str,
        /// What was wrong.
        message: String,
    },
    /// Input data is inconsistent or unusable (empty, mismatched shapes, ...).
    #[error("bad input data: {0}")]
    Data(String),
    /// A model or artifact file is not a valid recs file (wrong magic, version, kind or checksum).
    #[error("bad model file: {0}")]
    Format(String),
    /// The operation is not supported by this model.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A resource limit would be exceeded (for example EASE's items² memory).
    #[error("resource limit: {0}")]
    Limit(String),
    /// A numerical routine failed (for example a matrix that is not positive definite).
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// An I/O error, with the path involved when known.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Serialization or deserialization failed.
    #[error("serialization error: {0}")]
    Serde(String),
    /// A model-registry failure (bad version name, damaged artifact, protected version, ...).
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
}

/// `Result` with [`Error`] as the default error type. Refer to it as `recs::Result<T>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::InvalidParam`].
    pub fn param(name: &'static str, expected: &'static str, got: impl std::fmt::Display) -> Self {
        Error::InvalidParam {
            name,
            expected,
            got: got.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_unpin() {
        fn has_autotraits<T: Send + Sync + Unpin>() {}
        has_autotraits::<Error>();
    }

    #[test]
    fn parse_error_names_file_line_field() {
        let e = Error::Parse {
            path: "ratings.dat".into(),
            line: 7,
            field: "rating",
            message: "expected a number, got `x`".into(),
        };
        assert_eq!(
            e.to_string(),
            "ratings.dat:7: field `rating`: expected a number, got `x`"
        );
    }
}
