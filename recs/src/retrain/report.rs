//! The run report of `recs retrain`: every gate with its verdict, the drift report, the
//! candidates' metrics, what was published; as JSON and markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::stream::DriftReport;
use crate::util::write_atomic;
use crate::{Error, Result};

/// The step of the pipeline where a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reading and checking the configuration, opening the registry.
    Setup,
    /// Reading the training data.
    Collect,
    /// Schema, size and drift gates.
    DataGates,
    /// Fitting and evaluating the models.
    Train,
    /// Comparing the candidates with the floors and the served version.
    QualityGate,
    /// Writing the new version to the registry.
    Publish,
    /// Promoting or starting the canary.
    Deploy,
}

impl Stage {
    /// The process exit code of a run that failed at this stage: 2 for a data gate (bad or
    /// drifted data, including data that cannot be parsed), 3 for the quality gate, 4 when
    /// the version was published but its deployment failed, 1 for everything else
    /// (configuration, I/O, registry).
    pub fn exit_code(self) -> u8 {
        match self {
            Stage::DataGates => 2,
            Stage::QualityGate => 3,
            Stage::Deploy => 4,
            Stage::Setup | Stage::Collect | Stage::Train | Stage::Publish => 1,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// A new version was published (and promoted or canaried when configured).
    Published {
        /// The new version, e.g. `v1.3`.
        version: String,
    },
    /// Nothing needed doing (the data is the one the served version was trained on).
    NothingToDo {
        /// Why.
        reason: String,
    },
    /// A gate or step failed; the served version is unchanged (unless `stage` is `deploy`).
    Failed {
        /// Where it stopped.
        stage: Stage,
        /// Why, in one line.
        reason: String,
    },
}

impl Outcome {
    /// 0 when published or nothing to do, else [`Stage::exit_code`].
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Published { .. } | Outcome::NothingToDo { .. } => 0,
            Outcome::Failed { stage, .. } => stage.exit_code(),
        }
    }
}

/// One gate's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// `schema`, `min_users`, `min_items`, `min_interactions`, `drift`, `quality:<model>`, ...
    pub name: String,
    /// Passed (a skipped gate passes; `detail` says it was skipped).
    pub passed: bool,
    /// What was measured against what.
    pub detail: String,
}

impl GateResult {
    pub(crate) fn new(name: impl Into<String>, passed: bool, detail: impl Into<String>) -> Self {
        GateResult {
            name: name.into(),
            passed,
            detail: detail.into(),
        }
    }
}

/// What was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    /// `file` or `snapshots`.
    pub source: String,
    /// The file or directory.
    pub path: PathBuf,
    /// Its snapshot id (stored as the version's `data_snapshot`).
    pub snapshot_id: String,
    /// Users with at least one interaction.
    pub users: usize,
    /// Items with at least one interaction.
    pub items: usize,
    /// Interactions (after merging duplicates).
    pub interactions: usize,
    /// Input records read (good and bad).
    pub records: u64,
    /// Records that failed to parse or validate.
    pub bad_records: u64,
}

/// The version served when the run started (the registry's latest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedSummary {
    /// Its version.
    pub version: String,
    /// Its model kind.
    pub kind: String,
    /// Its training data's snapshot id.
    pub data_snapshot: Option<String>,
    /// Its recorded metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Whether it stores a data profile (the drift gate's reference).
    pub has_profile: bool,
}

/// One trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateSummary {
    /// The configured name (`als`, `ease`, ...).
    pub model: String,
    /// The model kind.
    pub kind: String,
    /// Held-out metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Fit time in seconds.
    pub train_seconds: f64,
    /// Passed the quality gate.
    pub passed: bool,
    /// Why not (or notes).
    pub reasons: Vec<String>,
}

/// The published version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedSummary {
    /// The new version.
    pub version: String,
    /// Its model kind.
    pub kind: String,
    /// The configured model name it came from.
    pub model: String,
    /// The registry location.
    pub registry: String,
    /// Its artifacts.
    pub artifacts: Vec<String>,
    /// Made the latest version.
    pub promoted: bool,
    /// What the deployment step did (canary started, promoted, nothing).
    pub deployment: Option<String>,
}

/// Everything a run did, written as `report.json` and `report.md` in its run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The run's id (UTC start time and process id), also its folder name.
    pub run_id: String,
    /// Start, RFC 3339.
    pub started_at: String,
    /// End, RFC 3339.
    pub finished_at: String,
    /// The registry location.
    pub registry: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The data read, when it could be read.
    pub data: Option<DataSummary>,
    /// The served version, if any.
    pub served: Option<ServedSummary>,
    /// Every gate evaluated, in order.
    pub gates: Vec<GateResult>,
    /// The drift report against the served version's data, when computed.
    pub drift: Option<DriftReport>,
    /// The trained models.
    pub candidates: Vec<CandidateSummary>,
    /// The published version.
    pub published: Option<PublishedSummary>,
}

impl RunReport {
    /// The exit code of the run ([`Outcome::exit_code`]).
    pub fn exit_code(&self) -> u8 {
        self.outcome.exit_code()
    }

    /// One line saying how the run ended, e.g. `published v1.2 (als)` or
    /// `FAILED at data_gates: min_interactions: 12 < 1000`.
    pub fn headline(&self) -> String {
        match &self.outcome {
            Outcome::Published { version } => {
                let kind = self.published.as_ref().map_or("", |p| p.model.as_str());
                let dep = self
                    .published
                    .as_ref()
                    .and_then(|p| p.deployment.clone())
                    .map_or(String::new(), |d| format!("; {d}"));
                format!("published {version} ({kind}){dep}")
            }
            Outcome::NothingToDo { reason } => format!("nothing to do: {reason}"),
            Outcome::Failed { stage, reason } => {
                let s = serde_json::to_value(stage)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                format!("FAILED at {s}: {reason}")
            }
        }
    }

    /// The report as pretty JSON.
    ///
    /// # Errors
    /// [`Error::Serde`] when serialization fails.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Serde(e.to_string()))
    }

    /// The report as markdown, for people (CI job summaries, chat).
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# recs retrain run {}\n", self.run_id);
        let _ = writeln!(s, "**{}**\n", self.headline());
        let _ = writeln!(
            s,
            "- started {}, finished {}\n- registry `{}`",
            self.started_at, self.finished_at, self.registry
        );
        if let Some(d) = &self.data {
            let _ = writeln!(
                s,
                "- data: {} `{}`, snapshot `{}`: {} users, {} items, {} interactions, {} of {} records bad",
                d.source,
                d.path.display(),
                d.snapshot_id,
                d.users,
                d.items,
                d.interactions,
                d.bad_records,
                d.records
            );
        }
        match &self.served {
            Some(v) => {
                let _ = writeln!(
                    s,
                    "- served: {} ({}), data `{}`, {}",
                    v.version,
                    v.kind,
                    v.data_snapshot.as_deref().unwrap_or("unknown"),
                    metrics_line(&v.metrics)
                );
            }
            None => {
                let _ = writeln!(s, "- served: nothing (first version)");
            }
        }
        if !self.gates.is_empty() {
            let _ = writeln!(
                s,
                "\n## Gates\n\n| gate | verdict | detail |\n|---|---|---|"
            );
            for g in &self.gates {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    g.name,
                    if g.passed { "pass" } else { "**FAIL**" },
                    g.detail.replace('|', "\\|")
                );
            }
        }
        if let Some(d) = &self.drift {
            let _ = writeln!(
                s,
                "\n## Drift against the served version's data\n\n```\n{d}\n```"
            );
        }
        if !self.candidates.is_empty() {
            let _ = writeln!(
                s,
                "\n## Candidates\n\n| model | kind | metrics | fit s | quality gate |\n|---|---|---|---|---|"
            );
            for c in &self.candidates {
                let verdict = if c.passed { "pass" } else { "**FAIL**" };
                let why = if c.reasons.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.reasons.join("; "))
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.2} | {verdict}{} |",
                    c.model,
                    c.kind,
                    metrics_line(&c.metrics),
                    c.train_seconds,
                    why.replace('|', "\\|")
                );
            }
        }
        if let Some(p) = &self.published {
            let _ = writeln!(
                s,
                "\n## Published\n\n{} ({}, from `{}`) in `{}`; artifacts {}; {}",
                p.version,
                p.kind,
                p.model,
                p.registry,
                p.artifacts.join(", "),
                p.deployment.clone().unwrap_or_else(|| if p.promoted {
                    "promoted to latest".to_string()
                } else {
                    "not promoted".to_string()
                })
            );
        }
        s
    }

    /// Writes `report.json` and `report.md` into `dir` (created if needed); returns the JSON
    /// file's path.
    ///
    /// # Errors
    /// [`Error::Io`] when the folder or files cannot be written.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let json = dir.join("report.json");
        write_atomic(&json, self.to_json()?.as_bytes())?;
        write_atomic(&dir.join("report.md"), self.to_markdown().as_bytes())?;
        Ok(json)
    }
}

fn metrics_line(m: &BTreeMap<String, f64>) -> String {
    if m.is_empty() {
        return "no metrics".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}
