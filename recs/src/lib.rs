//! # recs
//!
//! Fast, trustworthy recommender systems: load interactions, fit a model, evaluate it under one
//! protocol, version it in a registry and serve it.
//!
//! ```
//! use recs::prelude::*;
//! use recs::data::{Interactions, Record};
//!
//! let recs = [(0, 0), (0, 1), (1, 1), (2, 0), (2, 2)]
//!     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
//! let train = Interactions::from_records(3, 3, &recs, Default::default())?;
//! let model = Popularity::params().fit(&train)?;
//! let top = model.recommend(1, train.items_of(1), &RecOpts { k: 2, ..Default::default() })?;
//! assert_eq!(top[0].item, 0);
//! # Ok::<(), recs::Error>(())
//! ```
//!
//! ## Optional features
//! `s3` (registry and snapshots in S3-compatible object stores), `kafka` (Kafka event source,
//! pure Rust), `kafka-group` (consumer groups through librdkafka, a C build) and `parquet`
//! (Parquet snapshots). None is on by default.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod data;
mod error;
pub mod eval;
pub mod model;
#[cfg(feature = "s3")]
mod objects;
pub mod prelude;
pub mod registry;
pub mod retrain;
pub mod serve;
pub mod stream;
pub mod util;

pub use data::{Dataset, Interactions, Split};
pub use error::{Error, Result};
pub use eval::{Evaluator, Report};
pub use model::{AnyModel, Fit, ParamGuard, Persist, RecOpts, Recommender, Scored};
pub use registry::Registry;
