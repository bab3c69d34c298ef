//! The production loop behind `recs retrain`: collect → data gates → train → evaluate →
//! quality gate → publish → deploy → report.
//!
//! Each step is a public function so that another scheduler can compose them differently;
//! [`Retrain::run`] chains them and turns every failure into a [`RunReport`] whose
//! [`Outcome`] says where and why it stopped (and the exit code). Nothing is published unless
//! every gate passed:
//!
//! 1. [`collect`] reads an interaction file or a snapshot set, computes its snapshot id and a
//!    drift [`Profile`];
//! 2. [`data_gates`] checks the schema (bad-record ratio), minimum users/items/interactions;
//!    [`drift_gate`] compares the profile with the one stored in the served version
//!    ([`PROFILE_ARTIFACT`]);
//! 3. [`train_and_evaluate`] fits each configured model on a held-out split and evaluates it
//!    under one protocol;
//! 4. [`quality_gate`] keeps the candidates above the absolute floors and no worse than the
//!    served version's recorded metrics minus the tolerance, and picks the best;
//! 5. [`publish`] stores model, evaluation report and data profile with full provenance, then
//!    promotes it or starts a canary through a [`Deployer`].
//!
//! ```
//! use recs::retrain::{DataConfig, Retrain, RetrainConfig, Outcome};
//! let dir = tempfile::tempdir()?;
//! let data = recs::data::synth::movielens_like(200, 100, 6_000, 7)?;
//! let path = dir.path().join("ratings.dat");
//! recs::retrain::write_movielens(&data, &path)?;
//!
//! let mut config = RetrainConfig::new(
//!     dir.path().join("models").to_string_lossy(), DataConfig::file(&path), dir.path().join("runs"));
//! config.train.models = vec!["pop".into()];
//! config.publish.promote = true;
//! let report = Retrain::new(config.clone()).run()?;
//! assert_eq!(report.outcome, Outcome::Published { version: "v1.0".into() });
//! assert_eq!(report.exit_code(), 0);
//!
//! // Same data again: nothing to do. A floor nobody reaches: the served version stays.
//! assert!(matches!(Retrain::new(config.clone()).run()?.outcome, Outcome::NothingToDo { .. }));
//! config.gates.skip_if_unchanged = false;
//! config.quality.floors.insert("hr@10".into(), 0.99);
//! let failed = Retrain::new(config).run()?;
//! assert_eq!(failed.exit_code(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod profile;
mod report;

pub use config::{
    CanaryConfig, DataConfig, DataGates, DriftGate, PublishConfig, QualityGate, RetrainConfig,
    Signal, SourceKind, TrainConfig,
};
pub use profile::{profile_from_json, profile_to_json};
pub use report::{
    CandidateSummary, DataSummary, GateResult, Outcome, PublishedSummary, RunReport, ServedSummary,
    Stage,
};

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::data::{load, Dataset, LoadOptions};
use crate::eval::{EvalConfig, MetricKind, Report};
use crate::model::{AnyModel, ModelSpec, Recommender, SideInfo};
use crate::registry::{self, Artifact, NewVersion, Registry, Version, VersionMeta};
use crate::stream::{DriftReport, Profile, SnapshotSet};
use crate::{Error, Result};

/// Name of the artifact holding the training data's drift profile in a published version.
pub const PROFILE_ARTIFACT: &str = "data_profile.json";
/// Name of the artifact holding the evaluation report in a published version.
pub const REPORT_ARTIFACT: &str = "report.json";

/// Starts a canary of a freshly published version on a running server. The CLI implements it
/// over HTTP (`POST /admin/rollout`); tests can record the calls.
pub trait Deployer {
    /// Starts sending `canary.percent` % of users to `candidate`, the others to `stable`;
    /// returns a one-line description of what the server answered.
    ///
    /// # Errors
    /// Whatever prevented the rollout (server unreachable, 401, version not loadable).
    fn start_canary(
        &self,
        canary: &CanaryConfig,
        stable: &Version,
        candidate: &Version,
    ) -> Result<String>;
}

/// The training data of a run, read and profiled.
#[derive(Debug, Clone)]
pub struct Collected {
    /// The interactions with their vocabularies.
    pub dataset: Dataset,
    /// Its drift profile (stored with the published version).
    pub profile: Profile,
    /// What was read (counts, snapshot id).
    pub summary: DataSummary,
}

/// Reads the configured data: an interaction file (bad lines skipped and counted) or a
/// snapshot set (files verified against their manifests, dead letters counted as bad).
///
/// # Errors
/// [`Error::Io`] for a missing file or folder, [`Error::Parse`]/[`Error::Data`]/
/// [`Error::Format`] for data that cannot be used at all.
pub fn collect(config: &DataConfig) -> Result<Collected> {
    match config.source {
        SourceKind::File => {
            let opts = LoadOptions {
                skip_bad_lines: true,
                ..LoadOptions::default()
            };
            let snapshot_id = registry::snapshot_of_files(&[&config.path])?;
            let (dataset, rep) = load(&config.path, &config.format()?, &opts)?;
            let explicit = dataset.interactions.values().iter().any(|&v| v != 1.0);
            let mut profile = Profile::from_dataset(&dataset, explicit);
            profile.malformed += rep.skipped as u64;
            profile.records += rep.skipped as u64;
            let summary = summarize(
                "file",
                &config.path,
                snapshot_id,
                &dataset,
                (rep.records + rep.skipped) as u64,
                rep.skipped as u64,
            );
            Ok(Collected {
                dataset,
                profile,
                summary,
            })
        }
        SourceKind::Snapshots => {
            // A directory or an object-store location (`s3://bucket/prefix`, feature `s3`).
            let set = SnapshotSet::open_location(&config.path.to_string_lossy())?;
            if set.manifests().is_empty() {
                return Err(Error::Data(format!(
                    "{}: no manifest-*.json (not a snapshot directory)",
                    config.path.display()
                )));
            }
            let profile = Profile::from_snapshot(&set)?; // verifies every file's sha256
            let t = set.training_data()?;
            let dataset = match config.signal {
                Signal::Ratings => t.ratings,
                Signal::Watches => t.watches,
            };
            let c = set.counts();
            let summary = summarize(
                "snapshots",
                &config.path,
                set.id(),
                &dataset,
                c.valid() + c.dead_letter,
                c.dead_letter,
            );
            Ok(Collected {
                dataset,
                profile,
                summary,
            })
        }
    }
}

fn summarize(
    source: &str,
    path: &Path,
    snapshot_id: String,
    d: &Dataset,
    records: u64,
    bad_records: u64,
) -> DataSummary {
    let m = &d.interactions;
    DataSummary {
        source: source.into(),
        path: path.to_path_buf(),
        snapshot_id,
        users: m.user_counts().iter().filter(|&&c| c > 0).count(),
        items: m.item_counts().iter().filter(|&&c| c > 0).count(),
        interactions: m.nnz(),
        records,
        bad_records,
    }
}

/// The schema and size gates: bad-record ratio, minimum users, items and interactions.
pub fn data_gates(data: &DataSummary, gates: &DataGates) -> Vec<GateResult> {
    let ratio = if data.records == 0 {
        0.0
    } else {
        data.bad_records as f64 / data.records as f64
    };
    let min = |name: &str, got: usize, want: usize| {
        GateResult::new(
            name,
            got >= want,
            format!("{got} {} {want}", if got >= want { ">=" } else { "<" }),
        )
    };
    vec![
        GateResult::new(
            "schema",
            ratio <= gates.max_bad_ratio,
            format!(
                "{} of {} records failed to parse or validate ({:.2} %, limit {:.2} %)",
                data.bad_records,
                data.records,
                ratio * 100.0,
                gates.max_bad_ratio * 100.0
            ),
        ),
        min("min_users", data.users, gates.min_users),
        min("min_items", data.items, gates.min_items),
        min(
            "min_interactions",
            data.interactions,
            gates.min_interactions,
        ),
    ]
}

/// The served version (the registry's latest) with its stored data profile.
#[derive(Debug, Clone)]
pub struct Served {
    /// Its metadata.
    pub meta: VersionMeta,
    /// Its training data's profile, when it stores [`PROFILE_ARTIFACT`].
    pub profile: Option<Profile>,
}

/// The registry's latest version, with its data profile (checksum-verified).
///
/// # Errors
/// Registry errors, [`RegistryError::Checksum`](crate::registry::RegistryError::Checksum) for a damaged profile, [`Error::Serde`] for
/// one that does not parse.
pub fn served(reg: &dyn Registry) -> Result<Option<Served>> {
    let Some(v) = reg.latest()? else {
        return Ok(None);
    };
    let meta = reg.meta(&v)?;
    let profile = match meta.artifact(PROFILE_ARTIFACT) {
        Some(_) => Some(profile_from_json(
            &reg.load_artifact(&v, PROFILE_ARTIFACT)?,
        )?),
        None => None,
    };
    Ok(Some(Served { meta, profile }))
}

/// The drift gate: the new profile (B) against the served version's (A).
///
/// # Errors
/// [`Error::InvalidParam`] for bad threshold overrides.
pub fn drift_gate(
    profile: &Profile,
    served: Option<&Served>,
    gate: &DriftGate,
) -> Result<(GateResult, Option<DriftReport>)> {
    let thresholds = gate.thresholds()?;
    if !gate.enabled {
        return Ok((GateResult::new("drift", true, "skipped: disabled"), None));
    }
    let Some(s) = served else {
        return Ok((
            GateResult::new("drift", true, "skipped: nothing served yet"),
            None,
        ));
    };
    let Some(reference) = &s.profile else {
        let msg = format!(
            "served version {} stores no {PROFILE_ARTIFACT} (not published by recs retrain)",
            s.meta.version
        );
        return Ok(if gate.require_reference {
            (GateResult::new("drift", false, msg), None)
        } else {
            (
                GateResult::new("drift", true, format!("skipped: {msg}")),
                None,
            )
        });
    };
    let report = DriftReport::compare(reference, profile, &thresholds);
    let crossed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.crossed)
        .map(|c| {
            format!(
                "{} {} {:.4} > {}",
                c.subject,
                c.measure,
                c.value.unwrap_or(f64::NAN),
                c.threshold
            )
        })
        .collect();
    let detail = if crossed.is_empty() {
        format!(
            "no threshold crossed against {} ({} checks)",
            s.meta.version,
            report.checks.len()
        )
    } else {
        format!("against {}: {}", s.meta.version, crossed.join("; "))
    };
    Ok((
        GateResult::new("drift", crossed.is_empty(), detail),
        Some(report),
    ))
}

/// A fitted and evaluated model.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The configured name.
    pub name: String,
    /// The model (fitted on the split's training part: what was measured is what ships).
    pub model: AnyModel,
    /// Its evaluation on the held-out part.
    pub report: Report,
}

/// Item metadata from the `[data]` table's movie file (and item map), when it names one.
fn side_info(data: &Dataset, cfg: &config::DataConfig) -> Result<SideInfo> {
    let Some(movies) = &cfg.movies else {
        return Ok(SideInfo::default());
    };
    let map = cfg
        .item_map
        .as_deref()
        .map(crate::data::load_id_map)
        .transpose()?;
    let movies = crate::data::load_movie_file(movies)?;
    Ok(SideInfo {
        item_years: Some(crate::data::item_years(&data.items, &movies, map.as_ref())),
    })
}

/// Splits the data as configured, fits every model on the training part and evaluates it on
/// the held-out part (HR@K and NDCG@K for each configured K, one protocol for all).
///
/// # Errors
/// Splitter, fit or evaluation errors.
pub fn train_and_evaluate(data: &Dataset, train: &TrainConfig) -> Result<Vec<Trained>> {
    train_and_evaluate_with(data, train, &SideInfo::default())
}

/// [`train_and_evaluate`] with item metadata for the models that use it (`fresh`).
///
/// # Errors
/// As [`train_and_evaluate`].
pub fn train_and_evaluate_with(
    data: &Dataset,
    train: &TrainConfig,
    side: &SideInfo,
) -> Result<Vec<Trained>> {
    let split = train.split(data)?;
    let config = EvalConfig::default()
        .ks(train.k.iter().copied())
        .metrics([MetricKind::Hr, MetricKind::Ndcg])
        .latency_users(0);
    config.check()?;
    let evaluator = train.protocol()?.evaluator(config);
    let mut out = Vec::with_capacity(train.models.len());
    for name in &train.models {
        let start = Instant::now();
        let spec: ModelSpec = name.parse()?;
        let model = spec.fit(&split.train, side)?.model;
        let secs = start.elapsed().as_secs_f64();
        let size = model.to_bytes()?.len() as u64;
        let report = evaluator
            .evaluate(model.as_recommender(), &split)?
            .with_name(name.clone())
            .with_train_seconds(secs)
            .with_model_size(size);
        out.push(Trained {
            name: name.clone(),
            model,
            report,
        });
    }
    Ok(out)
}

/// The quality gate: each candidate against the floors and the served version's recorded
/// metrics minus the tolerance. Returns the index of the best passing candidate (by the first
/// compared metric) and every candidate's verdict.
///
/// The served version's metrics were measured on its own data's held-out split; when the data
/// moved a little (the drift gate bounds how much) the comparison is approximate, which the
/// tolerance absorbs.
pub fn quality_gate(
    candidates: &[Trained],
    served: Option<&VersionMeta>,
    gate: &QualityGate,
) -> (Option<usize>, Vec<CandidateSummary>) {
    let mut out = Vec::with_capacity(candidates.len());
    for c in candidates {
        let mut reasons = Vec::new();
        let mut passed = true;
        let get = |m: &str| c.report.get(m).filter(|v| v.is_finite());
        for (metric, &floor) in &gate.floors {
            match get(metric) {
                Some(v) if v >= floor => {}
                Some(v) => {
                    passed = false;
                    reasons.push(format!("{metric} {v:.4} below the floor {floor}"));
                }
                None => {
                    passed = false;
                    reasons.push(format!("{metric} was not measured (floor {floor})"));
                }
            }
        }
        for metric in &gate.metrics {
            let Some(v) = get(metric) else {
                passed = false;
                reasons.push(format!("{metric} was not measured"));
                continue;
            };
            let Some(s) = served else { continue };
            match s.metrics.get(metric) {
                Some(&old) if v + gate.tolerance >= old => {}
                Some(&old) => {
                    passed = false;
                    reasons.push(format!(
                        "{metric} {v:.4} < served {} {old:.4} - tolerance {}",
                        s.version, gate.tolerance
                    ));
                }
                None => reasons.push(format!(
                    "served {} records no {metric}; not compared",
                    s.version
                )),
            }
        }
        out.push(CandidateSummary {
            model: c.name.clone(),
            kind: c.model.kind().to_string(),
            metrics: c.report.summary.clone(),
            train_seconds: c.report.timings.train_seconds.unwrap_or(0.0),
            passed,
            reasons,
        });
    }
    let key = gate.metrics.first().map(String::as_str).unwrap_or("");
    let best = (0..candidates.len())
        .filter(|&i| out[i].passed)
        .max_by(|&a, &b| {
            let va = candidates[a].report.get(key).unwrap_or(f64::MIN);
            let vb = candidates[b].report.get(key).unwrap_or(f64::MIN);
            // On ties keep the earlier configured model.
            va.total_cmp(&vb).then(b.cmp(&a))
        });
    (best, out)
}

/// Publishes `chosen` with its evaluation report and the data profile as artifacts, the data's
/// snapshot id, the git commit, the metrics and the run's gates as provenance.
///
/// # Errors
/// As [`registry::publish_model_with`].
pub fn publish(
    reg: &dyn Registry,
    chosen: &Trained,
    data: &Collected,
    config: &RetrainConfig,
    provenance: serde_json::Value,
) -> Result<VersionMeta> {
    let report_json = chosen.report.to_json()?;
    let profile_json = profile_to_json(&data.profile)?;
    let mut note = format!(
        "recs retrain: {} on {} `{}`, split `{}`, protocol `{}`",
        chosen.name,
        data.summary.source,
        data.summary.path.display(),
        config.train.split,
        config.train.protocol
    );
    if let Some(n) = &config.publish.note {
        let _ = write!(note, "; {n}");
    }
    let mut meta = NewVersion::new(chosen.model.kind())
        .data_snapshot(data.summary.snapshot_id.clone())
        .git_sha(registry::detect_git_sha())
        .exported_by(format!("recs retrain {}", env!("CARGO_PKG_VERSION")))
        .note(note)
        .extra("retrain", provenance)
        .params(&serde_json::json!({ "spec": chosen.name }))?
        .promote(config.publish.promote);
    for (label, value) in &chosen.report.summary {
        meta = meta.metric(label.clone(), *value);
    }
    let extra = [
        Artifact::new(REPORT_ARTIFACT, report_json.as_bytes()),
        Artifact::new(PROFILE_ARTIFACT, profile_json.as_bytes()),
    ];
    // The collected data's ids and every interaction in it (the held-out part was watched
    // too), so that the version serves on its own; a model of another item count (cannot
    // happen with the built-in models) is published without.
    let ds = &data.dataset;
    if chosen.model.n_items() == ds.items.len() {
        let serving = registry::ServingData::new(
            ds.users.clone(),
            ds.items.clone(),
            ds.interactions.clone(),
        )?;
        return registry::publish_model_serving(reg, &chosen.model, &serving, &extra, meta);
    }
    registry::publish_model_with(reg, &chosen.model, &extra, meta)
}

/// Writes a [`Dataset`] as MovieLens `ratings.dat` lines (`user::item::rating::timestamp`,
/// external ids), e.g. to hand generated data to `recs retrain`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn write_movielens(data: &Dataset, path: &Path) -> Result<()> {
    let m = &data.interactions;
    let mut s = String::with_capacity(m.nnz() * 24);
    for u in 0..m.n_users() as u32 {
        let uid = data.users.external(u).unwrap_or(i64::from(u));
        let ts = m.timestamps_of(u);
        for (j, (&i, &v)) in m.items_of(u).iter().zip(m.values_of(u)).enumerate() {
            let iid = data.items.external(i).unwrap_or(i64::from(i));
            let t = ts.and_then(|t| t.get(j)).copied().unwrap_or(0);
            let _ = writeln!(s, "{uid}::{iid}::{v}::{t}");
        }
    }
    crate::util::write_atomic(path, s.as_bytes())
}

/// One retraining run: [`RetrainConfig`] plus an optional [`Deployer`] for canaries.
pub struct Retrain {
    config: RetrainConfig,
    deployer: Option<Box<dyn Deployer>>,
}

impl std::fmt::Debug for Retrain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrain")
            .field("config", &self.config)
            .field("deployer", &self.deployer.is_some())
            .finish()
    }
}

/// A run stopped early: where, why, and (for data gates) no further step ran.
struct Stop(Stage, String);

impl Retrain {
    /// A run of `config`, without a deployer (a configured canary then fails at deploy).
    pub fn new(config: RetrainConfig) -> Retrain {
        Retrain {
            config,
            deployer: None,
        }
    }

    /// Uses `deployer` for `[publish.canary]`.
    pub fn deployer(mut self, deployer: Box<dyn Deployer>) -> Retrain {
        self.deployer = Some(deployer);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &RetrainConfig {
        &self.config
    }

    /// The run's id: start time (UTC, compact) and process id.
    fn run_id(started: &str) -> String {
        let compact: String = started
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        format!("{compact}-{}", std::process::id())
    }

    /// Runs every step, writes `report.json` and `report.md` into `<run_dir>/<run id>/`, and
    /// returns the report. A failed gate is not an error: it is the report's
    /// [`Outcome::Failed`] (see [`RunReport::exit_code`]).
    ///
    /// # Errors
    /// Only when the report itself cannot be written.
    pub fn run(&self) -> Result<RunReport> {
        let report = self.run_in_memory();
        report.write(&self.run_dir(&report))?;
        Ok(report)
    }

    /// The folder of a run's report.
    pub fn run_dir(&self, report: &RunReport) -> PathBuf {
        self.config.run_dir.join(&report.run_id)
    }

    /// Runs every step without writing the report.
    pub fn run_in_memory(&self) -> RunReport {
        let started_at = registry::now_rfc3339();
        let mut report = RunReport {
            run_id: Self::run_id(&started_at),
            started_at,
            finished_at: String::new(),
            registry: self.config.registry.clone(),
            outcome: Outcome::NothingToDo {
                reason: String::new(),
            },
            data: None,
            served: None,
            gates: Vec::new(),
            drift: None,
            candidates: Vec::new(),
            published: None,
        };
        report.outcome = match self.steps(&mut report) {
            Ok(o) => o,
            Err(Stop(stage, reason)) => Outcome::Failed { stage, reason },
        };
        report.finished_at = registry::now_rfc3339();
        report
    }

    fn steps(&self, rep: &mut RunReport) -> std::result::Result<Outcome, Stop> {
        let cfg = &self.config;
        let at = |stage: Stage| move |e: Error| Stop(stage, e.to_string());
        cfg.check().map_err(at(Stage::Setup))?;
        let reg = registry::open(&cfg.registry).map_err(at(Stage::Setup))?;
        rep.registry = reg.location();

        // 1. collect
        let data = collect(&cfg.data).map_err(|e| match e {
            Error::Io { .. } => Stop(Stage::Collect, e.to_string()),
            other => {
                rep.gates
                    .push(GateResult::new("schema", false, other.to_string()));
                Stop(Stage::DataGates, format!("schema: {other}"))
            }
        })?;
        rep.data = Some(data.summary.clone());

        let served = served(reg.as_ref()).map_err(at(Stage::Setup))?;
        rep.served = served.as_ref().map(|s| ServedSummary {
            version: s.meta.version.to_string(),
            kind: s.meta.kind.clone(),
            data_snapshot: s.meta.data_snapshot.clone(),
            metrics: s.meta.metrics.clone(),
            has_profile: s.profile.is_some(),
        });
        if let Some(s) = &served {
            if cfg.gates.skip_if_unchanged
                && s.meta.data_snapshot.as_deref() == Some(data.summary.snapshot_id.as_str())
            {
                return Ok(Outcome::NothingToDo {
                    reason: format!(
                        "the data (snapshot {}) is what the served version {} was trained on",
                        data.summary.snapshot_id, s.meta.version
                    ),
                });
            }
        }

        // 2. data gates
        rep.gates.extend(data_gates(&data.summary, &cfg.gates));
        let (drift, drift_report) =
            drift_gate(&data.profile, served.as_ref(), &cfg.drift).map_err(at(Stage::Setup))?;
        rep.gates.push(drift);
        rep.drift = drift_report;
        fail_on_gates(rep, Stage::DataGates)?;

        // 3. train and evaluate
        let side = side_info(&data.dataset, &cfg.data).map_err(at(Stage::Train))?;
        let trained =
            train_and_evaluate_with(&data.dataset, &cfg.train, &side).map_err(at(Stage::Train))?;

        // 4. quality gate
        let served_meta = served.as_ref().map(|s| &s.meta);
        let (best, candidates) = quality_gate(&trained, served_meta, &cfg.quality);
        for c in &candidates {
            rep.gates.push(GateResult::new(
                format!("quality:{}", c.model),
                c.passed,
                if c.reasons.is_empty() {
                    "all checks passed".to_string()
                } else {
                    c.reasons.join("; ")
                },
            ));
        }
        rep.candidates = candidates;
        let Some(best) = best else {
            let keep = served_meta.map_or("nothing is served".to_string(), |m| {
                format!("keeping the served version {}", m.version)
            });
            let why: Vec<String> = rep
                .gates
                .iter()
                .filter(|g| !g.passed)
                .map(|g| format!("{}: {}", g.name, g.detail))
                .collect();
            return Err(Stop(
                Stage::QualityGate,
                format!("no candidate passed ({}); {keep}", why.join(" | ")),
            ));
        };

        // 5. publish
        let chosen = &trained[best];
        let provenance = serde_json::json!({
            "run_id": rep.run_id,
            "model": chosen.name,
            "split": cfg.train.split,
            "protocol": cfg.train.protocol,
            "data": rep.data,
            "served_before": rep.served.as_ref().map(|s| s.version.clone()),
            "gates": rep.gates,
        });
        let meta =
            publish(reg.as_ref(), chosen, &data, cfg, provenance).map_err(at(Stage::Publish))?;
        let version = meta.version.to_string();
        rep.published = Some(PublishedSummary {
            version: version.clone(),
            kind: meta.kind.clone(),
            model: chosen.name.clone(),
            registry: reg.location(),
            artifacts: meta.artifacts.iter().map(|a| a.name.clone()).collect(),
            promoted: cfg.publish.promote,
            deployment: None,
        });

        // 6. deploy
        if let Some(canary) = &cfg.publish.canary {
            let result = match served_meta {
                None => reg.set_latest(&meta.version).map(|_| {
                    format!("nothing was served: promoted {version} to latest instead of a canary")
                }),
                Some(stable) => match &self.deployer {
                    Some(d) => d.start_canary(canary, &stable.version, &meta.version),
                    None => Err(Error::Unsupported(
                        "publish.canary is set but this run has no deployer".into(),
                    )),
                },
            };
            match result {
                Ok(desc) => {
                    if let Some(p) = rep.published.as_mut() {
                        p.promoted = served_meta.is_none();
                        p.deployment = Some(desc);
                    }
                }
                Err(e) => {
                    return Err(Stop(
                        Stage::Deploy,
                        format!("{version} was published but its canary did not start: {e}"),
                    ))
                }
            }
        } else if cfg.publish.promote {
            if let Some(p) = rep.published.as_mut() {
                p.deployment = Some(format!("promoted {version} to latest"));
            }
        }
        Ok(Outcome::Published { version })
    }
}

fn fail_on_gates(rep: &RunReport, stage: Stage) -> std::result::Result<(), Stop> {
    let failed: Vec<String> = rep
        .gates
        .iter()
        .filter(|g| !g.passed)
        .map(|g| format!("{}: {}", g.name, g.detail))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Stop(stage, failed.join(" | ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::LocalRegistry;

    fn summary(users: usize, items: usize, interactions: usize, bad: u64) -> DataSummary {
        DataSummary {
            source: "file".into(),
            path: PathBuf::from("x"),
            snapshot_id: "s".into(),
            users,
            items,
            interactions,
            records: interactions as u64 + bad,
            bad_records: bad,
        }
    }

    #[test]
    fn autotraits() {
        fn has<T: Send + Sync + Unpin>() {}
        has::<RetrainConfig>();
        has::<RunReport>();
        has::<Collected>();
    }

    #[test]
    fn data_gates_fail_exactly_below_the_minimums() {
        let g = DataGates::default();
        let ok = data_gates(&summary(10, 10, 1000, 10), &g);
        assert!(ok.iter().all(|r| r.passed), "{ok:?}");
        let twelve = data_gates(&summary(3, 12, 12, 0), &g);
        let failed: Vec<&str> = twelve
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(failed, ["min_users", "min_interactions"]);
        let bad = data_gates(&summary(10, 10, 1000, 11), &g);
        assert!(!bad[0].passed && bad[0].name == "schema");
    }

    #[test]
    fn quality_gate_compares_with_floors_and_the_served_version() {
        let data = crate::data::synth::movielens_like(200, 80, 5_000, 3).unwrap();
        let train = TrainConfig {
            models: vec!["pop".into(), "itemknn".into()],
            ..TrainConfig::default()
        };
        let trained = train_and_evaluate(&data, &train).unwrap();
        let (pop, knn) = (
            trained[0].report.get("ndcg@10").unwrap(),
            trained[1].report.get("ndcg@10").unwrap(),
        );
        let gate = QualityGate::default();
        // Nothing served, no floors: both pass, the better one is chosen.
        let (best, c) = quality_gate(&trained, None, &gate);
        assert!(c.iter().all(|c| c.passed));
        assert_eq!(best, Some(if knn > pop { 1 } else { 0 }));
        // A served version better than both by more than the tolerance: none passes.
        let dir = tempfile::tempdir().unwrap();
        let reg = LocalRegistry::open(dir.path()).unwrap();
        let top = pop.max(knn);
        let m = crate::registry::publish_model(
            &reg,
            &trained[0].model,
            NewVersion::new("popularity")
                .metric("ndcg@10", top + 0.011)
                .metric("hr@10", 1.0),
        )
        .unwrap();
        let (best, c) = quality_gate(&trained, Some(&m), &gate);
        assert_eq!(best, None);
        assert!(
            c[0].reasons[0].contains("< served v1.0"),
            "{:?}",
            c[0].reasons
        );
        // Within the tolerance: passes.
        let loose = QualityGate {
            metrics: vec!["ndcg@10".into()],
            tolerance: 0.012,
            ..QualityGate::default()
        };
        let (best, _) = quality_gate(&trained, Some(&m), &loose);
        assert!(best.is_some());
        // A floor above both.
        let mut floor = QualityGate::default();
        floor.floors.insert("hr@10".into(), 1.01);
        let (best, c) = quality_gate(&trained, None, &floor);
        assert_eq!(best, None);
        assert!(c[1].reasons[0].contains("below the floor"));
    }

    #[test]
    fn drift_gate_skips_without_reference_unless_required() {
        let p = Profile::default();
        let (g, r) = drift_gate(&p, None, &DriftGate::default()).unwrap();
        assert!(g.passed && r.is_none() && g.detail.contains("nothing served"));
    }

    #[test]
    fn config_rejects_bad_fields() {
        let base = RetrainConfig::new("m", DataConfig::file("r.dat"), "runs");
        base.check().unwrap();
        let mut c = base.clone();
        c.train.split = "random:1.5".into();
        assert!(c.check().is_err());
        let mut c = base.clone();
        c.train.protocol = "sampled:0".into();
        assert!(c.check().is_err());
        let mut c = base.clone();
        c.train.models = vec!["nope".into()];
        assert!(c.check().is_err());
        let mut c = base.clone();
        c.publish.promote = true;
        c.publish.canary = Some(CanaryConfig {
            server: "http://x".into(),
            percent: 10.0,
        });
        assert!(c.check().is_err());
        c.publish.promote = false;
        c.check().unwrap();
        c.publish.canary = Some(CanaryConfig {
            server: "http://x".into(),
            percent: 0.0,
        });
        assert!(c.check().is_err());
        let mut c = base.clone();
        c.quality.metrics = vec!["ndcg@20".into()];
        assert!(c.check().is_err());
        c.train.k = vec![10, 20];
        c.check().unwrap();
        let mut c = base.clone();
        c.data.format = "xml".into();
        assert!(c.check().is_err());
        // `fresh` needs release years; an item map needs a movie file
        let mut c = base.clone();
        c.train.models = vec!["fresh".into()];
        assert!(
            matches!(
                c.check(),
                Err(Error::InvalidParam {
                    name: "data.movies",
                    ..
                })
            ),
            "{:?}",
            c.check()
        );
        c.data.movies = Some("movies.dat".into());
        c.check().unwrap();
        let mut c = base.clone();
        c.data.item_map = Some("map.tsv".into());
        assert!(c.check().is_err());
        // ranges name their field; NaN is out of every range
        let named = |c: &RetrainConfig| match c.check() {
            Err(Error::InvalidParam { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        for bad in [-0.1, 1.1, f64::NAN] {
            let mut c = base.clone();
            c.gates.max_bad_ratio = bad;
            assert_eq!(named(&c), "gates.max_bad_ratio");
        }
        for bad in [-1e-9, f64::NAN, f64::INFINITY] {
            let mut c = base.clone();
            c.quality.tolerance = bad;
            assert_eq!(named(&c), "quality.tolerance");
        }
        for (bad, ok) in [
            (0.0, false),
            (100.0, true),
            (100.5, false),
            (f64::NAN, false),
        ] {
            let mut c = base.clone();
            c.publish.canary = Some(CanaryConfig {
                server: "http://x".into(),
                percent: bad,
            });
            assert_eq!(c.check().is_ok(), ok, "{bad}");
            if !ok {
                assert_eq!(named(&c), "publish.canary.percent");
            }
        }
    }

    #[test]
    fn fresh_trains_with_years_from_the_movie_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = crate::data::synth::movielens_like(200, 80, 5_000, 3).unwrap();
        // a movie per item id, every other one a new release
        let movies: String = data
            .items
            .ids()
            .iter()
            .map(|id| {
                format!(
                    "{id}::M{id} ({})::Drama\n",
                    if id % 2 == 0 { 2000 } else { 1980 }
                )
            })
            .collect();
        let path = dir.path().join("movies.dat");
        std::fs::write(&path, movies).unwrap();
        let mut cfg = DataConfig::file("unused");
        cfg.movies = Some(path);
        let side = side_info(&data, &cfg).unwrap();
        let years = side.item_years.clone().unwrap();
        assert_eq!(years.len(), data.items.len());
        assert!(years.iter().all(Option::is_some));
        let train = TrainConfig {
            models: vec!["fresh".into()],
            ..TrainConfig::default()
        };
        let trained = train_and_evaluate_with(&data, &train, &side).unwrap();
        assert_eq!(trained[0].model.kind(), "fresh");
        // without the years the same configuration fails with a parameter error
        assert!(matches!(
            train_and_evaluate(&data, &train),
            Err(Error::InvalidParam { name: "years", .. })
        ));
    }

    #[test]
    fn a_run_on_unreadable_data_is_a_schema_failure_and_writes_a_report() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.dat");
        std::fs::write(&path, "this is not a ratings file\n").unwrap();
        let reg = dir.path().join("models");
        let config = RetrainConfig::new(
            reg.to_string_lossy(),
            DataConfig::file(&path),
            dir.path().join("runs"),
        );
        let run = Retrain::new(config);
        let report = run.run().unwrap();
        assert_eq!(report.exit_code(), 2, "{}", report.headline());
        assert!(report
            .headline()
            .starts_with("FAILED at data_gates: schema"));
        assert!(run.run_dir(&report).join("report.md").is_file());
        assert!(LocalRegistry::open(&reg)
            .unwrap()
            .versions()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn collect_reads_snapshots_with_their_id_and_dead_letters() {
        use crate::stream::{ingest_reader, IngestConfig};
        let dir = tempfile::tempdir().unwrap();
        let mut log = String::new();
        for n in 0..40u32 {
            let (user, movie, stars) = (1 + n % 7, 10 + n % 11, 1 + n % 5);
            log.push_str(&format!(
                "2024-02-01T12:{:02}:00,{user},GET /rate/{movie}={stars}\n",
                n % 60
            ));
        }
        log.push_str("2024-02-01T12:00:00,3,GET /rate/10=9\n"); // out of range: dead letter
        ingest_reader("log", log.as_bytes(), &IngestConfig::new(dir.path())).unwrap();
        let set = SnapshotSet::open(dir.path()).unwrap();
        let c = collect(&DataConfig::snapshots(dir.path(), Signal::Ratings)).unwrap();
        assert_eq!(c.summary.snapshot_id, set.id());
        assert_eq!(c.summary.source, "snapshots");
        assert_eq!(c.summary.bad_records, 1);
        assert_eq!(c.summary.records, 41);
        assert_eq!(c.summary.users, 7);
        assert_eq!(c.summary.items, 11);
        // (user, movie) pairs repeat every lcm(7, 11) = 77 > 40 events: no merges.
        assert_eq!(c.summary.interactions, 40);
        assert_eq!(c.profile.out_of_range, 1);
        let watches = collect(&DataConfig::snapshots(dir.path(), Signal::Watches)).unwrap();
        assert_eq!(watches.summary.interactions, 0);
    }
}
