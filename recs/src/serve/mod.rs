//! Serving from live histories: the parts of real-time recommendation that are not HTTP.
//!
//! [`LiveHistories`] keeps each user's streamed items (watch or rate events that arrived after
//! training) in a bounded, ordered, least-recently-updated-evicted store, and
//! [`recommend_live`] answers for a user from their training history plus those items, without
//! retraining. `recs serve` uses both; so can any Rust or Python caller.
//!
//! ```
//! use recs::prelude::*;
//! use recs::data::{Interactions, Record};
//! use recs::serve::{recommend_live, LiveHistories};
//!
//! let recs = [(0, 0), (0, 1), (1, 1), (2, 0), (2, 2)]
//!     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
//! let train = Interactions::from_records(3, 3, &recs, Default::default())?;
//! let model = Popularity::params().fit(&train)?;
//!
//! let live = LiveHistories::new(1000, 100);
//! live.observe(42, 0); // user 42 (unknown to the model) watched item 0
//! let streamed = live.items(42).unwrap_or_default();
//! let answer = recommend_live(&model, None, &[], &streamed, 2, &[])?;
//! assert!(!answer.cold_start);
//! assert!(answer.items.iter().all(|s| s.item != 0)); // what they watched is left out
//! # Ok::<(), recs::Error>(())
//! ```

mod foldin;
mod live;

pub use foldin::FoldIn;
pub use live::{recommend_live, LiveAnswer, LiveHistories, LiveStats};
