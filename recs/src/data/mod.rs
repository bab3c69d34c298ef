//! Data: the interaction matrix, id vocabularies, loaders, splits and synthetic data.
//!
//! Everything downstream (models, evaluation, registry, server) consumes these types.

mod csv;
mod interactions;
mod load;
mod movielens;
mod ncf;
pub use crate::util::rng;
mod sequence;
pub mod split;
pub mod synth;
mod text;
mod vocab;

pub use csv::{csv_fields, detect_header, load_movies_csv, parse_columns};
pub use interactions::{Duplicates, Interactions, ItemIdx, Record, UserIdx};
pub use load::{load, open, Format, LoadOptions, LoadReport, MAX_REPORTED_ERRORS};
pub use movielens::{
    item_years, latin1_to_string, load_id_map, load_ml100k_items, load_ml100k_ratings,
    load_ml100k_users, load_movie_file, load_movielens_ratings, load_movies, load_rating_times,
    load_users, with_rating_times, Movie, UserInfo, ML100K_GENRES, ML1M_OCCUPATIONS,
};
pub use ncf::{load_ncf, load_ncf_with};
pub use sequence::{load_sequences, split_sequences, SeqFormat, SeqSplit, SeqTarget, Sequences};
pub use text::{load_delimited, Column, Columns, Delimiter, TextFormat};
pub use vocab::Vocab;

use serde::{Deserialize, Serialize};

/// Interactions together with the vocabularies that map their indices back to external ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// The users × items matrix.
    pub interactions: Interactions,
    /// External user ids.
    pub users: Vocab,
    /// External item ids.
    pub items: Vocab,
    /// Input position (0-based record number in the file or arrays) of each stored entry, aligned
    /// with `interactions.indices()`: the record kept, or for merged duplicates the last one
    /// (the first one under [`Duplicates::KeepFirst`]). Splitters use it to break timestamp ties
    /// by file order. `None` when unknown (then ties fall back to the item index).
    #[serde(default)]
    pub order: Option<Vec<u32>>,
}

/// The held-out part of a split: for each test user, the relevant items and optionally the
/// candidate negatives to rank them against (sampled-candidates protocol).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestSet {
    /// One entry per test user, sorted by user.
    pub cases: Vec<TestCase>,
}

/// The held-out items of one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    /// The user.
    pub user: UserIdx,
    /// Relevant held-out items (sorted, unique).
    pub items: Vec<ItemIdx>,
    /// Negatives to rank `items` against; `None` means rank against the full catalogue.
    pub negatives: Option<Vec<ItemIdx>>,
}

impl TestSet {
    /// Number of test users.
    pub fn len(&self) -> usize {
        self.cases.len()
    }
    /// True when there is no test user.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }
    /// Total number of held-out items.
    pub fn n_items_total(&self) -> usize {
        self.cases.iter().map(|c| c.items.len()).sum()
    }
}

/// A train/test split: a plain value, made by a splitter, consumed by an evaluator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// A name for reports (e.g. `"ml-1m-ncf"`, `"leave-last-out"`).
    pub name: String,
    /// Training interactions.
    pub train: Interactions,
    /// Held-out interactions.
    pub test: TestSet,
    /// External user ids of both parts.
    pub users: Vocab,
    /// External item ids of both parts.
    pub items: Vocab,
}
