//! Model files: a small header (magic, format version, kind, length, sha256) then the body.
//!
//! The header lets a loader refuse a wrong or damaged file with a clear error instead of
//! deserializing garbage.
//!
//! Format versions, all readable:
//! - **2** (written since 0.1.1): a [postcard](https://postcard.jamesmunns.com) body. postcard
//!   has a documented, stable wire format (1.0 spec) and is maintained; it is as compact as
//!   bincode for our float matrices (an `f32` is its 4 little-endian bytes, lengths are
//!   varints).
//! - **1**: a bincode 2 (standard configuration) body. bincode is unmaintained
//!   (RUSTSEC-2025-0141), so it is kept only to read these files; `tests/model_format.rs`
//!   loads a committed file of every kind.
//!
//! Both formats are positional (not self-describing): adding a field to a model's stored form
//! needs a new format version or a new kind tag, never a silent change.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Recommender;
pub use crate::util::write_atomic;
use crate::{Error, Result};

/// First bytes of every recs model file.
pub const MAGIC: &[u8; 8] = b"RECSMODL";
/// Version of the container layout written today; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version [`read_header`] accepts.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

/// A model that can be written to and read from a recs model file.
pub trait Persist: Recommender + Serialize + DeserializeOwned {
    /// The kind tag stored in the header; equals [`Recommender::kind`].
    const KIND: &'static str;
}

/// Format 1's body encoding (read only).
fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Serializes `model` into the recs file format.
///
/// ```
/// use recs::model::{to_bytes, from_bytes, Popularity, Fit, Recommender};
/// # let train = recs::data::Interactions::empty(1, 3);
/// let model = Popularity::params().fit(&train)?;
/// let bytes = to_bytes(&model)?;
/// let back: Popularity = from_bytes(&bytes)?;
/// assert_eq!(back.n_items(), 3);
/// # Ok::<(), recs::Error>(())
/// ```
///
/// # Errors
/// [`Error::Serde`] when the model cannot be encoded.
pub fn to_bytes<M: Persist>(model: &M) -> Result<Vec<u8>> {
    let body = postcard::to_stdvec(model).map_err(|e| Error::Serde(e.to_string()))?;
    let kind = M::KIND.as_bytes();
    let mut out = Vec::with_capacity(body.len() + 64 + kind.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(kind.len() as u16).to_le_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(&body));
    out.extend_from_slice(&body);
    Ok(out)
}

/// The parsed header of a model file and a view of its body.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    /// The format version the file was written in (1 or 2; see the module docs).
    pub version: u32,
    /// The model kind tag.
    pub kind: &'a str,
    /// The checked body.
    pub body: &'a [u8],
}

/// Parses and verifies the header (magic, version, length, checksum) of a model file.
///
/// # Errors
/// [`Error::Format`] naming what is wrong.
pub fn read_header(bytes: &[u8]) -> Result<Header<'_>> {
    let bad = |m: &str| Error::Format(m.to_string());
    if bytes.len() < 14 || &bytes[..8] != MAGIC {
        return Err(bad("not a recs model file (magic bytes missing)"));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(Error::Format(format!(
            "format version {version} is not supported (this build reads \
             {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})"
        )));
    }
    let klen = u16::from_le_bytes([bytes[12], bytes[13]]) as usize;
    let rest = &bytes[14..];
    if rest.len() < klen + 8 + 32 {
        return Err(bad("file is truncated (header)"));
    }
    let kind = std::str::from_utf8(&rest[..klen]).map_err(|_| bad("kind tag is not UTF-8"))?;
    let rest = &rest[klen..];
    let mut len = [0u8; 8];
    len.copy_from_slice(&rest[..8]);
    let len = u64::from_le_bytes(len) as usize;
    let digest = &rest[8..40];
    let body = &rest[40..];
    if body.len() != len {
        return Err(Error::Format(format!(
            "file is truncated or padded: body is {} bytes, header says {len}",
            body.len()
        )));
    }
    if Sha256::digest(body).as_slice() != digest {
        return Err(bad("checksum mismatch: the file is damaged"));
    }
    Ok(Header {
        version,
        kind,
        body,
    })
}

/// Deserializes a model of type `M`, refusing files of another kind or damaged files.
///
/// # Errors
/// [`Error::Format`] for a bad header, a checksum mismatch or another kind.
pub fn from_bytes<M: Persist>(bytes: &[u8]) -> Result<M> {
    let h = read_header(bytes)?;
    if h.kind != M::KIND {
        return Err(Error::Format(format!(
            "model kind is `{}`, expected `{}`",
            h.kind,
            M::KIND
        )));
    }
    decode_body(&h)
}

/// Decodes a checked body in the encoding of its format version.
pub(crate) fn decode_body<M: DeserializeOwned>(h: &Header<'_>) -> Result<M> {
    let cannot =
        |e: &dyn std::fmt::Display| Error::Format(format!("cannot decode model body: {e}"));
    let trailing = || Error::Format("trailing bytes after the model body".into());
    match h.version {
        1 => {
            let (m, used) = bincode::serde::decode_from_slice(h.body, bincode_config())
                .map_err(|e| cannot(&e))?;
            if used != h.body.len() {
                return Err(trailing());
            }
            Ok(m)
        }
        _ => {
            let (m, rest) = postcard::take_from_bytes(h.body).map_err(|e| cannot(&e))?;
            if !rest.is_empty() {
                return Err(trailing());
            }
            Ok(m)
        }
    }
}

/// Writes `model` to `path` atomically (temporary file in the same folder, fsync, rename).
///
/// # Errors
/// [`Error::Io`] naming the path, or [`Error::Serde`].
pub fn save<M: Persist>(model: &M, path: impl AsRef<Path>) -> Result<()> {
    write_atomic(path.as_ref(), &to_bytes(model)?)
}

/// Reads a model of type `M` from `path`.
///
/// # Errors
/// [`Error::Io`] or [`Error::Format`].
pub fn load<M: Persist>(path: impl AsRef<Path>) -> Result<M> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Interactions;
    use crate::model::{Fit, Popularity};

    fn model() -> Popularity {
        let train = Interactions::from_pairs(3, 4, &[(0, 0), (1, 0), (1, 2), (2, 3)]);
        Popularity::params().fit(&train).expect("fit")
    }

    #[test]
    fn writes_format_2_with_a_postcard_body() {
        let m = model();
        let bytes = to_bytes(&m).expect("encode");
        let h = read_header(&bytes).expect("header");
        assert_eq!(h.version, 2);
        let direct: Popularity = postcard::from_bytes(h.body).expect("a plain postcard body");
        assert_eq!(direct, m);
        assert_eq!(from_bytes::<Popularity>(&bytes).expect("decode"), m);
    }

    #[test]
    fn refuses_versions_outside_the_readable_range() {
        let mut bytes = to_bytes(&model()).expect("encode");
        for v in [0u32, FORMAT_VERSION + 1] {
            bytes[8..12].copy_from_slice(&v.to_le_bytes());
            let err = read_header(&bytes).expect_err("refused").to_string();
            assert!(err.contains(&format!("format version {v}")), "{err}");
        }
    }

    #[test]
    fn a_format_1_header_decodes_its_body_with_bincode() {
        let m = model();
        let body = bincode::serde::encode_to_vec(&m, bincode_config()).expect("bincode");
        let h = Header {
            version: 1,
            kind: Popularity::KIND,
            body: &body,
        };
        assert_eq!(decode_body::<Popularity>(&h).expect("decode"), m);
    }
}
