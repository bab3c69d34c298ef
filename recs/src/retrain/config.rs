//! The configuration of a retraining run (`retrain.toml`; see `examples/retrain.toml` and
//! `docs/retrain.md`). Plain serde data: the CLI reads it from TOML, tests build it in Rust.
//! Every struct refuses unknown fields, so a misspelt gate is an error rather than a gate that
//! silently never runs.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::split::SplitSpec;
use crate::data::{Dataset, Format, Split, TextFormat};
use crate::eval::Protocol;
use crate::model::ModelSpec;
use crate::stream::Thresholds;
use crate::util::{ensure_in, ensure_non_negative};
use crate::{Error, Result};

/// A whole retraining run: where the data comes from, the gates, the models, where to publish.
///
/// ```
/// use recs::retrain::{DataConfig, RetrainConfig};
/// let mut c = RetrainConfig::new("models", DataConfig::file("ratings.dat"), "runs");
/// c.train.models = vec!["pop".into()];
/// c.quality.floors.insert("hr@10".into(), 0.05);
/// c.check()?;
/// c.train.models.clear();
/// assert!(c.check().is_err());
/// # Ok::<(), recs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrainConfig {
    /// Registry location, as [`crate::registry::open`] takes it: a directory, `file:///path`
    /// or `s3://bucket/prefix` (feature `s3`). Required.
    pub registry: String,
    /// Directory receiving one folder per run (`<run_dir>/<run id>/report.{json,md}`). Required.
    pub run_dir: PathBuf,
    /// Where the training data comes from. Required.
    pub data: DataConfig,
    /// Data gates. Defaults: see [`DataGates`].
    #[serde(default)]
    pub gates: DataGates,
    /// Drift gate against the served version's data. Default: on, default thresholds.
    #[serde(default)]
    pub drift: DriftGate,
    /// Models, split and protocol. Default: `als` on a leave-last-out split, full ranking, K=10.
    #[serde(default)]
    pub train: TrainConfig,
    /// Quality gate. Default: compare `ndcg@10` and `hr@10` with the served version, tolerance
    /// 0.005, no floors.
    #[serde(default)]
    pub quality: QualityGate,
    /// What to do with a model that passed every gate. Default: publish, do not promote.
    #[serde(default)]
    pub publish: PublishConfig,
}

impl RetrainConfig {
    /// A configuration with every default except the three required fields.
    pub fn new(
        registry: impl Into<String>,
        data: DataConfig,
        run_dir: impl Into<PathBuf>,
    ) -> RetrainConfig {
        RetrainConfig {
            registry: registry.into(),
            run_dir: run_dir.into(),
            data,
            gates: DataGates::default(),
            drift: DriftGate::default(),
            train: TrainConfig::default(),
            quality: QualityGate::default(),
            publish: PublishConfig::default(),
        }
    }

    /// Checks every field (also done by [`crate::retrain::Retrain::run`] before anything else).
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the first bad field.
    pub fn check(&self) -> Result<()> {
        if self.registry.is_empty() {
            return Err(Error::param("registry", "a registry location", "\"\""));
        }
        if self.run_dir.as_os_str().is_empty() {
            return Err(Error::param("run_dir", "a directory", "\"\""));
        }
        self.data.format()?;
        if self.train.models.iter().any(|m| m == "fresh") && self.data.movies.is_none() {
            return Err(Error::param(
                "data.movies",
                "a movie file with release years (train.models has `fresh`)",
                "none",
            ));
        }
        if self.data.item_map.is_some() && self.data.movies.is_none() {
            return Err(Error::param(
                "data.item_map",
                "to come with data.movies",
                "no data.movies",
            ));
        }
        ensure_in(
            "gates.max_bad_ratio",
            "a share in [0, 1]",
            self.gates.max_bad_ratio,
            0.0..=1.0,
        )?;
        self.drift.thresholds()?;
        self.train.check()?;
        self.quality.check()?;
        let measured: Vec<String> = self
            .train
            .k
            .iter()
            .flat_map(|k| [format!("hr@{k}"), format!("ndcg@{k}")])
            .collect();
        if let Some(m) = self
            .quality
            .metrics
            .iter()
            .chain(self.quality.floors.keys())
            .find(|m| !measured.contains(m))
        {
            return Err(Error::param(
                "quality.metrics / quality.floors",
                "labels hr@K or ndcg@K for a K in train.k",
                m,
            ));
        }
        if let Some(c) = &self.publish.canary {
            if self.publish.promote {
                return Err(Error::param(
                    "publish.promote",
                    "false when publish.canary is set (the canary is promoted after analysis)",
                    true,
                ));
            }
            ensure_in(
                "publish.canary.percent",
                "a share in (0, 100]",
                c.percent,
                (Bound::Excluded(0.0), Bound::Included(100.0)),
            )?;
            if !(c.server.starts_with("http://") || c.server.starts_with("https://")) {
                return Err(Error::param(
                    "publish.canary.server",
                    "an http:// URL of a running `recs serve`",
                    &c.server,
                ));
            }
        }
        Ok(())
    }
}

/// Kind of training data source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// One interaction file read by [`crate::data::load`].
    File,
    /// A snapshot directory written by [`crate::stream`] ingestion (`manifest-*.json`).
    Snapshots,
}

/// Which events of a snapshot set become training interactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Rate events (explicit ratings).
    Ratings,
    /// Watch events (implicit counts).
    Watches,
}

/// The `[data]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `file` or `snapshots`. Default `file`.
    #[serde(default = "default_source")]
    pub source: SourceKind,
    /// The interaction file, or the snapshot location: a directory or `s3://bucket/prefix`
    /// (feature `s3`). Required.
    pub path: PathBuf,
    /// Files only: `auto` (guess from the name, default), `ml1m`, `ml100k`, `csv` or `tsv`.
    #[serde(default = "default_format")]
    pub format: String,
    /// Snapshots only: `ratings` (default) or `watches`.
    #[serde(default = "default_signal")]
    pub signal: Signal,
    /// Movie file (ML-1M `movies.dat` or ML-100K `u.item`) whose release years the `fresh`
    /// model uses. Default none; required when `train.models` has `fresh`.
    #[serde(default)]
    pub movies: Option<PathBuf>,
    /// Item id map (`item<TAB>MovieID` after a header) for data whose item ids are not
    /// MovieIDs. Default none.
    #[serde(default)]
    pub item_map: Option<PathBuf>,
}

fn default_source() -> SourceKind {
    SourceKind::File
}
fn default_format() -> String {
    "auto".into()
}
fn default_signal() -> Signal {
    Signal::Ratings
}

impl DataConfig {
    /// An interaction file, format guessed from its name.
    pub fn file(path: impl Into<PathBuf>) -> DataConfig {
        DataConfig {
            source: SourceKind::File,
            path: path.into(),
            format: default_format(),
            signal: Signal::Ratings,
            movies: None,
            item_map: None,
        }
    }

    /// A snapshot directory, `signal` events as training data.
    pub fn snapshots(dir: impl Into<PathBuf>, signal: Signal) -> DataConfig {
        DataConfig {
            source: SourceKind::Snapshots,
            path: dir.into(),
            format: default_format(),
            signal,
            movies: None,
            item_map: None,
        }
    }

    /// The file format this table names.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for an unknown `format`.
    pub fn format(&self) -> Result<Format> {
        Ok(match self.format.as_str() {
            "auto" => Format::guess(&self.path),
            "ml1m" | "movielens" => Format::MovieLens,
            "ml100k" => Format::Ml100k,
            "csv" => Format::Delimited(TextFormat::csv()),
            "tsv" => Format::Delimited(TextFormat::tsv()),
            other => {
                return Err(Error::param(
                    "data.format",
                    "auto, ml1m, ml100k, csv or tsv",
                    other,
                ))
            }
        })
    }
}

/// The `[gates]` table: what the data must look like before anything is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataGates {
    /// Fewest users with at least one interaction. Default 10.
    pub min_users: usize,
    /// Fewest items with at least one interaction. Default 10.
    pub min_items: usize,
    /// Fewest interactions. Default 1000.
    pub min_interactions: usize,
    /// Largest share of input records that failed to parse or validate (bad lines of a file,
    /// dead letters of a snapshot set). Default 0.01; in [0, 1].
    pub max_bad_ratio: f64,
    /// When the data's snapshot id equals the served version's `data_snapshot`, stop with
    /// "nothing to do" (exit 0) instead of retraining on the same data. Default true.
    pub skip_if_unchanged: bool,
}

impl Default for DataGates {
    fn default() -> Self {
        DataGates {
            min_users: 10,
            min_items: 10,
            min_interactions: 1000,
            max_bad_ratio: 0.01,
            skip_if_unchanged: true,
        }
    }
}

/// The `[drift]` table: a [`crate::stream::DriftReport`] of the new data (B) against the
/// data profile stored with the served version (A).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftGate {
    /// Run the drift gate. Default true.
    pub enabled: bool,
    /// Fail when the served version has no stored data profile (published by something other
    /// than `recs retrain`). Default false: the gate is then skipped with a note.
    pub require_reference: bool,
    /// Overrides of [`Thresholds`] fields by name (`psi`, `kl`, `wasserstein_rating`,
    /// `wasserstein_activity`, `new_user_rate`, `new_item_rate`, `malformed_ratio`,
    /// `out_of_range_ratio`); the others keep their defaults.
    pub thresholds: BTreeMap<String, f64>,
}

impl Default for DriftGate {
    fn default() -> Self {
        DriftGate {
            enabled: true,
            require_reference: false,
            thresholds: BTreeMap::new(),
        }
    }
}

impl DriftGate {
    /// [`Thresholds::default`] with the overrides applied.
    ///
    /// ```
    /// let mut g = recs::retrain::DriftGate::default();
    /// g.thresholds.insert("psi".into(), 0.5);
    /// assert_eq!(g.thresholds()?.psi, 0.5);
    /// g.thresholds.insert("pis".into(), 0.5);
    /// assert!(g.thresholds().is_err());
    /// # Ok::<(), recs::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for an unknown name or a negative or non-finite value.
    pub fn thresholds(&self) -> Result<Thresholds> {
        let mut v =
            serde_json::to_value(Thresholds::default()).map_err(|e| Error::Serde(e.to_string()))?;
        let Some(obj) = v.as_object_mut() else {
            return Err(Error::Serde("thresholds are not an object".into()));
        };
        for (name, &value) in &self.thresholds {
            if !obj.contains_key(name) {
                return Err(Error::param(
                    "drift.thresholds",
                    "names of recs::stream::Thresholds fields",
                    name,
                ));
            }
            if !(value.is_finite() && value >= 0.0) {
                return Err(Error::param(
                    "drift.thresholds",
                    "finite values >= 0",
                    format!("{name} = {value}"),
                ));
            }
            obj.insert(name.clone(), serde_json::json!(value));
        }
        serde_json::from_value(v).map_err(|e| Error::Serde(e.to_string()))
    }
}

/// The `[train]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Models to train, as [`ModelSpec`] text (`"als"`, `"ease:lambda=500"`,
    /// `"ease:lambda=auto"`). Default `["als"]`. The best one that passes the quality gate is published.
    pub models: Vec<String>,
    /// Held-out split, as [`SplitSpec`] text: `leave-last-out` (default), `leave-last:N`,
    /// `random:F`, `random-count:N`, `temporal:F` or `temporal-at:T` (F = test share).
    pub split: String,
    /// Evaluation protocol, as [`Protocol`] text: `full` (default; training items excluded),
    /// `full-all`, `sampled:N` or `sampled:N:SEED` (without SEED, [`seed`](Self::seed)).
    pub protocol: String,
    /// Cut-offs of the metrics (HR@K and NDCG@K are computed). Default `[10]`.
    pub k: Vec<usize>,
    /// Seed of random splits and sampled negatives. Default 42.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            models: vec!["als".into()],
            split: "leave-last-out".into(),
            protocol: "full".into(),
            k: vec![10],
            seed: 42,
        }
    }
}

impl TrainConfig {
    fn check(&self) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::param(
                "train.models",
                "at least one model name",
                "[]",
            ));
        }
        for m in &self.models {
            m.parse::<ModelSpec>()?;
        }
        if self.k.is_empty() || self.k.contains(&0) {
            return Err(Error::param(
                "train.k",
                "a non-empty list of cut-offs >= 1",
                format!("{:?}", self.k),
            ));
        }
        self.protocol()?;
        self.split.parse::<SplitSpec>()?;
        Ok(())
    }

    /// The evaluation protocol.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for an unknown protocol.
    pub fn protocol(&self) -> Result<Protocol> {
        Protocol::parse_with_seed(&self.protocol, self.seed)
    }

    /// Splits `data` as `split` says ([`SplitSpec`]); the split is named by that text.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a bad spec, else the splitter's errors.
    pub fn split(&self, data: &Dataset) -> Result<Split> {
        let spec: SplitSpec = self.split.parse()?;
        Ok(spec.apply(data, self.seed)?.with_name(&self.split))
    }
}

/// The `[quality]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityGate {
    /// Metrics compared with the served version's recorded metrics; the first also picks the
    /// best of several passing models. Default `["ndcg@10", "hr@10"]`.
    pub metrics: Vec<String>,
    /// A candidate passes when each compared metric is at least the served version's minus
    /// this (absolute, in metric units). Default 0.005; must be >= 0.
    pub tolerance: f64,
    /// Absolute floors: metric label → smallest accepted value, checked even when nothing is
    /// served yet. Default none.
    pub floors: BTreeMap<String, f64>,
}

impl Default for QualityGate {
    fn default() -> Self {
        QualityGate {
            metrics: vec!["ndcg@10".into(), "hr@10".into()],
            tolerance: 0.005,
            floors: BTreeMap::new(),
        }
    }
}

impl QualityGate {
    fn check(&self) -> Result<()> {
        if self.metrics.is_empty() {
            return Err(Error::param(
                "quality.metrics",
                "at least one metric label",
                "[]",
            ));
        }
        ensure_non_negative("quality.tolerance", "a finite number >= 0", self.tolerance)?;
        if let Some((k, v)) = self.floors.iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::param(
                "quality.floors",
                "finite values",
                format!("{k} = {v}"),
            ));
        }
        Ok(())
    }
}

/// The `[publish]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishConfig {
    /// Move the registry's latest pointer to the new version (servers following the latest
    /// pointer then switch to it). Default false.
    pub promote: bool,
    /// Start a canary of the new version on a running server. Default none.
    pub canary: Option<CanaryConfig>,
    /// A note stored in the version's metadata. Default none.
    pub note: Option<String>,
}

/// The `[publish.canary]` table: `POST {server}/admin/rollout` with
/// `{"mode":"canary","stable":<served>,"canary":<new>,"percent":<percent>}`, the bearer token
/// read from `RECS_ADMIN_TOKEN` (never from the file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8080`. Required.
    pub server: String,
    /// Share of users on the canary, in (0, 100]. Default 10.
    #[serde(default = "default_percent")]
    pub percent: f64,
}

fn default_percent() -> f64 {
    10.0
}
