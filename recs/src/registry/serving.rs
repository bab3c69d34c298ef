//! What a version needs to be served on its own: the id vocabularies and the training
//! interactions (each user's seen items, the popularity ranking for cold start).
//!
//! A model file scores dense indices. Without the vocabularies of the data it was trained on,
//! a server must be given that data again (`recs serve --data`), and a different file maps
//! ids differently. [`publish_model_serving`] stores a [`ServingData`] next to the model as the
//! artifact [`SERVING_ARTIFACT`] (checksummed in `meta.json` like every artifact), so that
//! `recs serve --registry DIR` alone answers in raw ids, leaves seen items out and has a
//! cold-start list. Versions published before this artifact existed have none
//! ([`load_serving_data`] returns `None`) and keep loading.
//!
//! ```
//! use recs::data::{Interactions, Record, Vocab};
//! use recs::registry::{self, LocalRegistry, NewVersion, ServingData};
//!
//! # let dir = tempfile::tempdir()?;
//! let reg = LocalRegistry::open(dir.path())?;
//! let rec = |user, item| Record { user, item, value: 1.0, timestamp: None };
//! let seen = Interactions::from_records(2, 3, &[rec(0, 1), rec(1, 2)], Default::default())?;
//! let data = ServingData::new(Vocab::from(vec![10, 20]), Vocab::from(vec![1193, 661, 914]), seen)?;
//! let model = recs::model::fit_named("pop", data.seen())?;
//! let meta = registry::publish_model_serving(&reg, &model, &data, &[], NewVersion::new("popularity"))?;
//! let back = registry::load_serving_data(&reg, &meta.version)?.expect("published with data");
//! assert_eq!(back, data);
//! assert_eq!(back.items().external(2), Some(914));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Deserialize, Serialize};

use super::{Registry, RegistryError, Version};
use crate::data::{Interactions, Vocab};
use crate::{Error, Result};

/// Name of the serving-data artifact inside a version.
pub const SERVING_ARTIFACT: &str = "serving.bin";

/// First bytes of a serving-data file.
const MAGIC: &[u8; 8] = b"RECSSERV";
/// Layout version of the serving-data file.
const FORMAT: u32 = 1;
/// Largest serving-data artifact read back (1 GiB; ML-1M takes about 16 MB). Checked against
/// the size recorded in `meta.json` before any byte is read, so a forged size cannot make a
/// server allocate without bound.
pub const MAX_SERVING_BYTES: u64 = 1 << 30;

/// The id vocabularies and training interactions a model was fitted on.
///
/// Invariants (checked by [`ServingData::new`] and on every load): the vocabularies hold no
/// id twice, the interactions have exactly as many items as the item vocabulary and at most
/// as many users as the user vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct ServingData {
    users: Vocab,
    items: Vocab,
    seen: Interactions,
}

/// The stored layout: plain arrays, re-validated on load (never trusted as a built matrix).
#[derive(Serialize, Deserialize)]
struct Wire {
    users: Vec<i64>,
    items: Vec<i64>,
    indptr: Vec<u64>,
    indices: Vec<u32>,
    values: Vec<f32>,
    timestamps: Option<Vec<i64>>,
}

impl ServingData {
    /// Bundles the vocabularies with the interactions (model indices) they describe.
    ///
    /// # Errors
    /// [`Error::Data`] when the shapes disagree or a vocabulary repeats an id.
    pub fn new(users: Vocab, items: Vocab, seen: Interactions) -> Result<Self> {
        if seen.n_items() != items.len() {
            return Err(Error::Data(format!(
                "serving data: the interactions have {} items but the item vocabulary has {}",
                seen.n_items(),
                items.len()
            )));
        }
        if seen.n_users() > users.len() {
            return Err(Error::Data(format!(
                "serving data: the interactions have {} users but the user vocabulary has {}",
                seen.n_users(),
                users.len()
            )));
        }
        Ok(ServingData { users, items, seen })
    }

    /// External user ids by model user index.
    pub fn users(&self) -> &Vocab {
        &self.users
    }
    /// External item ids by model item index.
    pub fn items(&self) -> &Vocab {
        &self.items
    }
    /// The training interactions, in model indices.
    pub fn seen(&self) -> &Interactions {
        &self.seen
    }
    /// The parts, for building a catalog.
    pub fn into_parts(self) -> (Vocab, Vocab, Interactions) {
        (self.users, self.items, self.seen)
    }

    /// Encodes the data (a small header, then a postcard body, as model files since format 2).
    ///
    /// # Errors
    /// [`Error::Serde`] when encoding fails.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let wire = Wire {
            users: self.users.ids().to_vec(),
            items: self.items.ids().to_vec(),
            indptr: self.seen.indptr().iter().map(|&p| p as u64).collect(),
            indices: self.seen.indices().to_vec(),
            values: self.seen.values().to_vec(),
            timestamps: self.seen.timestamps().map(<[i64]>::to_vec),
        };
        let body = postcard::to_stdvec(&wire).map_err(|e| Error::Serde(e.to_string()))?;
        let mut out = Vec::with_capacity(body.len() + 12);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes and validates bytes written by [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    /// [`Error::Format`] for a foreign, damaged or inconsistent file (repeated ids, a matrix
    /// that breaks the CSR invariants, shapes that disagree).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |m: String| Error::Format(format!("serving data: {m}"));
        if bytes.len() > MAX_SERVING_BYTES as usize {
            return Err(bad(format!(
                "{} bytes is more than the {MAX_SERVING_BYTES} allowed",
                bytes.len()
            )));
        }
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(bad(
                "not a recs serving-data file (magic bytes missing)".into()
            ));
        }
        let format = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if format != FORMAT {
            return Err(bad(format!(
                "format {format} is not supported (expected {FORMAT})"
            )));
        }
        // A forged length prefix cannot make this allocate much beyond the input: serde
        // preallocates at most 1 MiB per sequence and grows only with elements actually read.
        let (wire, rest): (Wire, &[u8]) = postcard::take_from_bytes(&bytes[12..])
            .map_err(|e| bad(format!("cannot decode: {e}")))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes".into()));
        }
        let vocab = |ids: Vec<i64>, what: &str| -> Result<Vocab> {
            let n = ids.len();
            let v = Vocab::from(ids);
            if v.len() != n {
                return Err(bad(format!("the {what} vocabulary repeats an id")));
            }
            Ok(v)
        };
        let users = vocab(wire.users, "user")?;
        let items = vocab(wire.items, "item")?;
        let indptr = wire
            .indptr
            .into_iter()
            .map(usize::try_from)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| bad("row pointer does not fit this machine".into()))?;
        let seen = Interactions::from_csr(
            items.len(),
            indptr,
            wire.indices,
            wire.values,
            wire.timestamps,
        )
        .map_err(|e| bad(e.to_string()))?;
        ServingData::new(users, items, seen).map_err(|e| bad(e.to_string()))
    }

    /// Checks that this data describes the same ids as `users`/`items` (the vocabularies of
    /// the data a server was started with): the item vocabularies are equal and every user of
    /// this data has the same index there (the other data may add users after them).
    ///
    /// # Errors
    /// [`Error::Data`] naming the first difference.
    pub fn check_same_ids(&self, users: &Vocab, items: &Vocab) -> Result<()> {
        if self.items.ids() != items.ids() {
            let first = self
                .items
                .ids()
                .iter()
                .zip(items.ids())
                .position(|(a, b)| a != b);
            let detail = match first {
                Some(i) => format!(
                    "item index {i} is id {} in the model but id {} in the data",
                    self.items.ids()[i],
                    items.ids()[i]
                ),
                None => format!(
                    "the first {} ids agree, then the {} has more",
                    self.items.len().min(items.len()),
                    if self.items.len() > items.len() {
                        "model"
                    } else {
                        "data"
                    }
                ),
            };
            return Err(Error::Data(format!(
                "the model was trained on {} items, the data has {} items, and their ids differ ({detail})",
                self.items.len(),
                items.len()
            )));
        }
        let n = self.users.len();
        if users.len() < n || users.ids()[..n] != *self.users.ids() {
            let first = self
                .users
                .ids()
                .iter()
                .zip(users.ids())
                .position(|(a, b)| a != b)
                .unwrap_or(n.min(users.len()));
            return Err(Error::Data(format!(
                "the model's {n} users are not the first users of the data ({} users): they differ at user index {first}",
                users.len()
            )));
        }
        Ok(())
    }
}

/// The verified [`ServingData`] of `version`; `None` for a version published without it
/// (older versions).
///
/// # Errors
/// [`RegistryError::InvalidMeta`] when `meta.json` records a size above
/// [`MAX_SERVING_BYTES`] (refused before reading), [`RegistryError::Checksum`] for damaged
/// bytes, [`Error::Format`] for an inconsistent file, I/O or backend errors.
pub fn load_serving_data(reg: &dyn Registry, version: &Version) -> Result<Option<ServingData>> {
    let meta = reg.meta(version)?;
    let Some(art) = meta.artifact(SERVING_ARTIFACT) else {
        return Ok(None);
    };
    if art.size > MAX_SERVING_BYTES {
        return Err(RegistryError::InvalidMeta(format!(
            "{version}/{SERVING_ARTIFACT} is {} bytes, more than the {MAX_SERVING_BYTES} a server reads",
            art.size
        ))
        .into());
    }
    let bytes = reg.read_artifact(&meta, art)?;
    super::verify_artifact(version, art, &bytes)?;
    ServingData::from_bytes(&bytes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Record;
    use crate::registry::{publish_model_serving, LocalRegistry, NewVersion};
    use proptest::prelude::*;

    fn sample() -> ServingData {
        let rec = |user, item, t| Record {
            user,
            item,
            value: 4.0,
            timestamp: Some(t),
        };
        let seen = Interactions::from_records(
            2,
            3,
            &[rec(0, 2, 5), rec(0, 0, 3), rec(1, 1, 9)],
            Default::default(),
        )
        .unwrap();
        ServingData::new(vec![7, 3, 11].into(), vec![1193, 661, 914].into(), seen).unwrap()
    }

    #[test]
    fn round_trips_with_timestamps() {
        let d = sample();
        let back = ServingData::from_bytes(&d.to_bytes().unwrap()).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.seen().items_of(0), &[0, 2]);
        assert_eq!(back.users().index(11), Some(2));
    }

    #[test]
    fn refuses_inconsistent_shapes() {
        let seen = Interactions::empty(1, 2);
        assert!(ServingData::new(vec![1].into(), vec![5, 6, 7].into(), seen.clone()).is_err());
        assert!(ServingData::new(Vocab::new(), vec![5, 6].into(), seen).is_err());
    }

    #[test]
    fn refuses_foreign_truncated_and_repeated() {
        let bytes = sample().to_bytes().unwrap();
        assert!(ServingData::from_bytes(b"RECSMODL\x01\0\0\0").is_err());
        assert!(ServingData::from_bytes(&bytes[..bytes.len() - 3]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(ServingData::from_bytes(&extra).is_err());
        // a repeated user id: encode a wire by hand
        let wire = Wire {
            users: vec![1, 1],
            items: vec![5],
            indptr: vec![0, 0],
            indices: vec![],
            values: vec![],
            timestamps: None,
        };
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&FORMAT.to_le_bytes());
        b.extend(postcard::to_stdvec(&wire).unwrap());
        let err = ServingData::from_bytes(&b).unwrap_err().to_string();
        assert!(err.contains("repeats an id"), "{err}");
        // an item index outside the vocabulary
        let wire = Wire {
            users: vec![1],
            items: vec![5],
            indptr: vec![0, 1],
            indices: vec![3],
            values: vec![1.0],
            timestamps: None,
        };
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&FORMAT.to_le_bytes());
        b.extend(postcard::to_stdvec(&wire).unwrap());
        assert!(ServingData::from_bytes(&b).is_err());
    }

    #[test]
    fn same_ids_check_names_the_difference() {
        let d = sample();
        let users: Vocab = vec![7, 3, 11, 40].into();
        assert!(d
            .check_same_ids(&users, &vec![1193, 661, 914].into())
            .is_ok());
        let err = d
            .check_same_ids(&users, &vec![1193, 914, 661].into())
            .unwrap_err()
            .to_string();
        assert!(err.contains("item index 1 is id 661"), "{err}");
        let err = d
            .check_same_ids(&vec![7, 11].into(), &vec![1193, 661, 914].into())
            .unwrap_err()
            .to_string();
        assert!(err.contains("user index 1"), "{err}");
    }

    #[test]
    fn old_versions_have_none_and_oversized_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let reg = LocalRegistry::open(dir.path()).unwrap();
        let d = sample();
        let model = crate::model::fit_named("pop", d.seen()).unwrap();
        let old =
            crate::registry::publish_model(&reg, &model, NewVersion::new("popularity")).unwrap();
        assert_eq!(load_serving_data(&reg, &old.version).unwrap(), None);
        let new =
            publish_model_serving(&reg, &model, &d, &[], NewVersion::new("popularity")).unwrap();
        assert_eq!(
            load_serving_data(&reg, &new.version).unwrap(),
            Some(d.clone())
        );
        // forge the recorded size: refused from meta.json alone
        let meta_path = dir.path().join(new.version.to_string()).join("meta.json");
        let text = std::fs::read_to_string(&meta_path).unwrap();
        let size = new.artifact(SERVING_ARTIFACT).unwrap().size;
        let forged = text.replacen(&format!("\"size\": {size}"), "\"size\": 99999999999", 1);
        assert_ne!(forged, text, "meta.json layout changed; update the test");
        std::fs::write(&meta_path, forged).unwrap();
        let err = load_serving_data(&reg, &new.version)
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than"), "{err}");
    }

    #[test]
    fn publish_refuses_a_model_of_other_items() {
        let dir = tempfile::tempdir().unwrap();
        let reg = LocalRegistry::open(dir.path()).unwrap();
        let model = crate::model::fit_named("pop", &Interactions::empty(2, 5)).unwrap();
        assert!(
            publish_model_serving(&reg, &model, &sample(), &[], NewVersion::new("popularity"))
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn any_valid_data_round_trips(
            rows in proptest::collection::vec(proptest::collection::btree_set(0u32..20, 0..6), 0..8),
            ts in any::<bool>(),
        ) {
            let mut recs = Vec::new();
            for (u, items) in rows.iter().enumerate() {
                for &i in items {
                    recs.push(Record { user: u as u32, item: i, value: 1.0 + i as f32, timestamp: ts.then_some(i64::from(i)) });
                }
            }
            let seen = Interactions::from_records(rows.len(), 20, &recs, Default::default()).unwrap();
            let users: Vocab = (0..rows.len() as i64).map(|u| 1000 - u).collect::<Vec<_>>().into();
            let items: Vocab = (0..20i64).map(|i| i * 7 + 1).collect::<Vec<_>>().into();
            let d = ServingData::new(users, items, seen).unwrap();
            let bytes = d.to_bytes().unwrap();
            prop_assert_eq!(ServingData::from_bytes(&bytes).unwrap(), d);
            // any truncation is refused, never a panic
            for cut in [0, 5, 12, bytes.len() / 2, bytes.len() - 1] {
                prop_assert!(ServingData::from_bytes(&bytes[..cut]).is_err());
            }
        }
    }
}
