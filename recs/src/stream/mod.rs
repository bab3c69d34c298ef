//! Streaming: the canonical event schema, parsers for JSON and course log lines, validation
//! with dead letters, ingestion from files/stdin (and Kafka with feature `kafka`, Kafka
//! consumer groups with `kafka-group`) into snapshots with a manifest (in a local directory or,
//! with feature `s3`, an object store), loading snapshots as training data, drift reports
//! between snapshots, and the online KPI over events.
//!
//! The schema is documented for producers in `docs/events.md` (JSON Schema:
//! `docs/events.schema.json`).
//!
//! ```
//! use recs::stream::{ingest_reader, IngestConfig, SnapshotSet, Profile, DriftReport, Thresholds};
//! let dir = tempfile::tempdir()?;
//! let log = "2024-02-01T12:00:00,1,GET /rate/10=4\n2024-02-01T12:01:00,2,GET /data/m/10/0.mpg\n";
//! ingest_reader("log", log.as_bytes(), &IngestConfig::new(dir.path()))?;
//! let set = SnapshotSet::open(dir.path())?;
//! let p = Profile::from_events(set.events()?.iter().map(|(_, e)| e));
//! let report = DriftReport::compare(&p, &p, &Thresholds::default());
//! assert!(!report.crossed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod content;
mod drift;
mod event;
mod ingest;
#[cfg(feature = "kafka")]
#[cfg_attr(docsrs, doc(cfg(feature = "kafka")))]
pub mod kafka;
#[cfg(feature = "kafka-group")]
#[cfg_attr(docsrs, doc(cfg(feature = "kafka-group")))]
pub mod kafka_group;
mod kpi;
#[cfg(feature = "parquet")]
mod parquet;
mod parse;
mod snapshot;
mod store;
mod validate;

/// Moved to [`crate::serve::FoldIn`] (it joins events with a fitted ALS model); this path is
/// kept so that existing code compiles.
#[deprecated(note = "use recs::serve::FoldIn")]
pub use crate::serve::FoldIn;
pub use crate::util::{Line, LineReader};
pub use content::ContentMark;
pub use drift::{popularity_buckets, Check, DriftReport, Profile, Thresholds};
pub use event::{
    Event, EventKind, MovieId, Rate, RecoRequest, RecoResponse, SourceKey, Ts, Watch,
    SCHEMA_VERSION,
};
pub use ingest::{
    ingest_files, ingest_reader, reason_class, IngestConfig, IngestSummary, Ingestor,
};
pub use kpi::{
    online_kpi, watch_attributed, KpiCounts, KpiRow, WatchAttribution, KPI_DEFAULT_WINDOW_SECS,
};
pub use parse::{format_log_line, parse_json, parse_line, parse_log_line, ParseError};
pub use snapshot::{
    csv_header, from_csv, to_csv, training_data, BatchInfo, Counts, FileInfo, Manifest,
    OffsetRange, SnapshotFormat, SnapshotSet, SnapshotWriter, TrainingData, MANIFEST_VERSION,
};
#[cfg(feature = "s3")]
#[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
pub use store::ObjectPrefix;
pub use store::SnapshotStore;
pub use validate::{Catalog, DeadLetter, Rules, Validator};
