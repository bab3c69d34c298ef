//! Evaluation as data (as in LensKit): a model is run over a split into a [`Run`] (each test
//! user's ranked list), the run is measured into a [`Report`] by [`Metric`] values, and the
//! report is plain serde data (JSON, CSV, markdown).
//!
//! An [`Evaluator`] does both steps under one [`Protocol`]: [`FullRanking`] (the catalogue,
//! training items excluded) or [`SampledCandidates`] (NCF-style negatives). Ties between a
//! held-out item and another candidate are resolved **against** the held-out item under both
//! protocols, so a model cannot gain from ties.
//!
//! ```
//! use recs::prelude::*;
//! use recs::data::{Interactions, Record, Split, TestCase, TestSet, Vocab};
//! use recs::eval::{fit_timed, measure, run, FullRanking, Hr, Metric, Protocol};
//!
//! let recs = [(0, 0), (1, 0), (1, 1), (2, 0), (2, 2), (3, 1)]
//!     .map(|(u, i)| Record { user: u, item: i, value: 1.0, timestamp: None });
//! let train = Interactions::from_records(4, 5, &recs, Default::default())?;
//! let cases = vec![
//!     TestCase { user: 0, items: vec![1], negatives: None },
//!     TestCase { user: 3, items: vec![4], negatives: None },
//! ];
//! let split = Split { name: "toy".into(), train, test: TestSet { cases },
//!     users: Vocab::identity(4), items: Vocab::identity(5) };
//!
//! // one call ...
//! let (model, secs) = fit_timed(&Popularity::params(), &split.train)?;
//! let report = FullRanking::new().ks([1, 3]).evaluate(&model, &split)?.with_train_seconds(secs);
//! assert_eq!(report.get("hr@1"), Some(0.5)); // user 0 gets item 1, user 3 gets item 0
//! println!("{}", recs::eval::table_markdown(&[report]));
//!
//! // ... or the two steps
//! let r = run(&model, &split, &Protocol::FullRanking { exclude_train: true }, 3)?;
//! let metrics: Vec<Box<dyn Metric>> = vec![Box::new(Hr::new(3))];
//! assert_eq!(measure(&r, &split.test, &metrics)?.get("hr@3"), Some(0.5));
//! # Ok::<(), recs::Error>(())
//! ```

mod evaluator;
pub mod experiment;
pub mod fairness;
pub mod feedback;
mod measure;
mod metrics;
mod paired;
mod report;
mod run;
pub mod stats;

pub use evaluator::{fit_timed, EvalConfig, FullRanking, SampledCandidates};
pub use measure::measure;
pub use metrics::{
    metrics_for, parse_metric, Coverage, Hr, Map, Metric, MetricKind, Mrr, Ndcg, Precision, Recall,
    RecallCapped,
};
pub use paired::{paired, Paired};
pub use report::{
    markdown_table, table_csv, table_markdown, table_rows, PerUser, Report, TableRow, Timings,
    TABLE_COLUMNS,
};
pub use run::{measure_latency, run, Latency, Protocol, Run};

use crate::data::Split;
use crate::model::Recommender;
use crate::Result;

/// Evaluates a fitted model on a split: runs it over the test users, then measures the lists.
///
/// Object-safe; implemented by [`FullRanking`] and [`SampledCandidates`] (and returned boxed
/// by [`Protocol::evaluator`]).
pub trait Evaluator {
    /// Runs `model` on `split` and measures the result.
    ///
    /// # Errors
    /// [`Error::InvalidParam`](crate::Error::InvalidParam) for a bad configuration,
    /// [`Error::Data`](crate::Error::Data) for a split that does not fit the model, and any
    /// model error other than an unknown user (such users count as misses).
    fn evaluate(&self, model: &dyn Recommender, split: &Split) -> Result<Report>;
}
