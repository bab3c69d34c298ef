//! Id vocabularies: external ids (as in the files) ↔ dense indices (as in the matrices).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A bijection between external integer ids and dense indices `0..len`, in first-seen order.
///
/// Saved with a model so that a served model answers in the ids of the data it was trained on.
///
/// ```
/// use recs::data::Vocab;
/// let mut v = Vocab::new();
/// assert_eq!(v.index_or_insert(1193), 0);
/// assert_eq!(v.index_or_insert(661), 1);
/// assert_eq!(v.index_or_insert(1193), 0);
/// assert_eq!(v.index(661), Some(1));
/// assert_eq!(v.external(1), Some(661));
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<i64>", into = "Vec<i64>")]
pub struct Vocab {
    ids: Vec<i64>,
    index: HashMap<i64, u32>,
}

impl PartialEq for Vocab {
    fn eq(&self, other: &Self) -> bool {
        self.ids == other.ids
    }
}

impl Vocab {
    /// An empty vocabulary.
    pub fn new() -> Self {
        Self::default()
    }
    /// The identity vocabulary `0..n` (for files already in dense ids, such as the NCF split).
    pub fn identity(n: usize) -> Self {
        (0..n as i64).collect::<Vec<_>>().into()
    }
    /// The dense index of `id`, adding it when new.
    pub fn index_or_insert(&mut self, id: i64) -> u32 {
        let next = self.ids.len() as u32;
        *self.index.entry(id).or_insert_with(|| {
            self.ids.push(id);
            next
        })
    }
    /// The dense index of `id`, when known.
    pub fn index(&self, id: i64) -> Option<u32> {
        self.index.get(&id).copied()
    }
    /// The external id of a dense index, when in range.
    pub fn external(&self, idx: u32) -> Option<i64> {
        self.ids.get(idx as usize).copied()
    }
    /// All external ids in index order.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }
    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl From<Vec<i64>> for Vocab {
    fn from(ids: Vec<i64>) -> Self {
        let mut v = Vocab::new();
        for id in ids {
            v.index_or_insert(id);
        }
        v
    }
}

impl From<Vocab> for Vec<i64> {
    fn from(v: Vocab) -> Self {
        v.ids
    }
}
