//! Command-line parsing and the commands themselves. Each command is a thin layer over the
//! `recs` library; errors are printed as one clear line and turn into a non-zero exit.

pub(crate) mod demo;
pub(crate) mod experiment;
pub(crate) mod fairness;
pub(crate) mod recommend;
pub(crate) mod retrain;
pub(crate) mod retrain_every;
pub(crate) mod stream;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use recs::data::split::{Holdout, SplitSpec};
use recs::data::{self, Format, Interactions, LoadOptions, SeqTarget, Split};
use recs::eval::{EvalConfig, MetricKind, Protocol, Report};
use recs::model::{AnyModel, AutoOptions, ModelSpec, SideInfo, Validation, MODEL_NAMES};
use recs::registry::{self, NewVersion, Version};
use recs::{Error, Recommender};

/// recs: train, evaluate, version and serve recommendations.
#[derive(Debug, Parser)]
#[command(name = "recs", version, about, long_about = None)]
pub struct Cli {
    /// Log lines on stderr as `text` or `json` (one object per line); levels from `RUST_LOG`
    /// (e.g. `RUST_LOG=warn`), `info` by default.
    #[arg(long, global = true, default_value = "text", value_parser = parse_log_format)]
    log_format: recs_server::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job on embedded defaults: generate MovieLens-shaped data, train, evaluate, print
    /// the table, publish the models to a local registry, promote the best and serve it over
    /// HTTP in-process (a few real requests, then a graceful stop; --serve keeps serving).
    /// Needs nothing installed or downloaded.
    Demo(crate::cli::demo::DemoArgs),
    /// Load data, split it, train the chosen models and print the evaluation table
    /// (`recs train` is the same command; add --publish DIR to version the models).
    #[command(alias = "train")]
    Eval(Box<EvalArgs>),
    /// Inspect and manage a model registry (a directory, or s3://bucket/prefix with feature s3).
    #[command(subcommand)]
    Registry(RegistryCmd),
    /// Serve recommendations over HTTP from a model registry (see docs/server.md). The admin
    /// token comes from the config file or, when it gives none, from RECS_ADMIN_TOKEN.
    Serve(ServeArgs),
    /// Send periodic probes to a running server and report latency and errors.
    Probe(ProbeArgs),
    /// The production loop: collect data, gate it, train, evaluate, gate quality, publish,
    /// optionally promote or start a canary, write a run report (see docs/retrain.md).
    Retrain(crate::cli::retrain::RetrainArgs),
    /// Exposure, quality by user group and the feedback loop of each model: JSON + SVG.
    Fairness(crate::cli::fairness::FairnessArgs),
    /// One self-contained HTML page: accuracy curves, exposure, group gaps, feedback, drift.
    Report(crate::report::ReportArgs),
    /// Ingest events (files, stdin or Kafka) into validated snapshots with dead letters.
    Ingest(crate::cli::stream::IngestArgs),
    /// Drift report between two snapshots or training files; exit 1 when a threshold is crossed.
    Drift(crate::cli::stream::DriftArgs),
    /// A/B analysis of logged events: statistics and a decision with its rule.
    #[command(subcommand)]
    Experiment(crate::cli::experiment::ExperimentCmd),
    /// Batch top-K for all (or listed) users to CSV or JSON lines, with raw ids, from a model
    /// spec fitted on the data or a registry version (parallel, in bounded-memory chunks).
    Recommend(crate::cli::recommend::RecommendArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// A JSON configuration file (fields of recs_server::ServeConfig); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Registry directory to serve from.
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long)]
    addr: Option<std::net::SocketAddr>,
    /// Training data (users' histories, and cold-start popularity).
    #[arg(long)]
    data: Option<PathBuf>,
    /// movies.dat for titles in responses.
    #[arg(long)]
    movies: Option<PathBuf>,
    /// Version to serve first (default: latest).
    #[arg(long)]
    version: Option<String>,
    /// Poll the registry's latest pointer every S seconds and hot-swap to it.
    #[arg(long)]
    follow_latest: Option<f64>,
    #[command(flatten)]
    live: crate::cli::stream::LiveArgs,
    /// Exposure log: append every /recommend answer as a `reco_response` event (JSON lines,
    /// the event schema of docs/events.md) to this file, rotated at --exposure-log-max-bytes.
    #[arg(long, value_name = "FILE")]
    exposure_log: Option<PathBuf>,
    /// Size cap of one exposure log file; the full file becomes FILE.1 (default 64 MiB).
    #[arg(long, value_name = "BYTES")]
    exposure_log_max_bytes: Option<u64>,
    /// Rotated exposure log files kept (FILE.1 … FILE.N; default 5).
    #[arg(long, value_name = "N")]
    exposure_log_keep: Option<usize>,
    /// Exposure log to Kafka: produce the events to --exposure-topic on these brokers.
    #[arg(long, value_name = "HOST:PORT[,...]")]
    exposure_kafka: Option<String>,
    /// Kafka topic of the exposure log (default reco_responses).
    #[arg(long, value_name = "TOPIC")]
    exposure_topic: Option<String>,
}

#[derive(Debug, Args)]
struct ProbeArgs {
    /// URL to probe, e.g. http://127.0.0.1:8080/recommend/1?k=10
    #[arg(long)]
    url: String,
    /// Seconds between probes.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Number of probes.
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Write a `reco_request`/`reco_response` event pair per probe of /recommend/<user> to
    /// this JSON-lines file (the event schema; read back by `recs ingest`). Written to a
    /// temporary file and renamed when the run ends.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Send `x-request-id: PREFIX-<n>` with probe n, so that the events share their ids with
    /// the server's exposure log (default `probe-<unix seconds>`).
    #[arg(long, value_name = "PREFIX")]
    request_id_prefix: Option<String>,
}

#[derive(Debug, Subcommand)]
enum RegistryCmd {
    /// List the versions with kind, creation time, size and metrics; `*` marks latest.
    List(RegistryArg),
    /// Print one version's meta.json.
    Show(VersionArg),
    /// Point `latest` at a version.
    Promote(VersionArg),
    /// Point `latest` back at the version it pointed to before.
    Rollback(RegistryArg),
    /// Re-hash every artifact (or one version's) and report damaged versions; exits non-zero on any.
    Verify {
        #[command(flatten)]
        registry: RegistryArg,
        /// Only this version.
        version: Option<String>,
    },
    /// Remove what killed publishers left behind (`.tmp-*` folders) once abandoned: owner
    /// process gone (same host), or untouched for --older-than seconds. Never a live publish's.
    Gc {
        #[command(flatten)]
        registry: RegistryArg,
        /// Age in seconds past which an unowned temporary folder counts as abandoned.
        #[arg(long, default_value_t = 3600)]
        older_than: u64,
    },
}

#[derive(Debug, Args)]
struct RegistryArg {
    /// Registry location: a directory, file://DIR or s3://bucket/prefix.
    #[arg(long, default_value = "model_registry")]
    registry: String,
}

#[derive(Debug, Args)]
struct VersionArg {
    #[command(flatten)]
    registry: RegistryArg,
    /// A version name, vMAJOR.MINOR.
    version: String,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// An interaction file to split (MovieLens ratings.dat, ML-100K u.data, CSV/TSV; .gz ok).
    #[arg(long, conflicts_with_all = ["train", "test"])]
    data: Option<PathBuf>,
    /// Ordered histories to split leave-one-out by time (next-item protocols): `user item`
    /// lines in time order (Amazon Beauty's beauty.txt), MovieLens `::` ratings or ML-100K
    /// u.data (by timestamp, ties by line order); .gz ok. Per user with ≥ 3 items: last =
    /// test, second-last = validation. --split seq-loo (the default) fits on all but the last
    /// item; seq-loo-published fits on all but the last two (the test history still holds the
    /// second-last, as in the published Beauty protocol); seq-validation evaluates on the
    /// second-last item, fitting on all but the last two (to choose settings without test).
    #[arg(long, conflicts_with_all = ["data", "train", "test"])]
    sequences: Option<PathBuf>,
    /// Format of --data: auto (from the file name), ml1m, ml100k, csv, tsv. For csv and tsv a
    /// header line is detected (its first or second field is not an integer).
    #[arg(long, default_value = "auto")]
    format: String,
    /// Columns of a CSV/TSV --data by header name or 0-based position, e.g.
    /// `user=userId,item=movieId,rating=rating,time=timestamp` (rating and time optional;
    /// without rating every value is 1). Ids may be any integers: they go through vocabularies
    /// and are written back as given.
    #[arg(long)]
    columns: Option<String>,
    /// How to split --data. `leave-last-out`: each user's latest rating is test;
    /// `leave-last:N`: each user's N latest; latest = largest timestamp, ties broken by file
    /// order (without times, file order); users with N or fewer ratings stay wholly in train.
    /// `random:F`: round(F × n) random ratings of each user (seeded by --seed; users with one
    /// rating stay in train, every user keeps one); `random-count:N`: N random ones.
    /// `temporal:F`: the latest F of all ratings (global cut; test users may be unseen);
    /// `temporal-at:T`: ratings at or after Unix time T. With --sequences: seq-loo,
    /// seq-loo-published or seq-validation (see --sequences).
    #[arg(long, default_value = "leave-last-out")]
    split: String,
    /// Pre-split training file in the NCF format (user\titem\trating[\tts]).
    #[arg(long, requires = "test")]
    train: Option<PathBuf>,
    /// Pre-split test file in the NCF format: `user\titem[\t...]` lines; a user may have several
    /// lines (several held-out items).
    #[arg(long, requires = "train")]
    test: Option<PathBuf>,
    /// NCF negatives file `(user,item)\tneg...`; implies the sampled-candidates protocol.
    #[arg(long, requires = "test")]
    negatives: Option<PathBuf>,
    /// Movie file (ML-1M movies.dat, ML-100K u.item or ml-latest movies.csv) whose release
    /// years the `fresh` model uses. An error when no item of the data matches a movie.
    #[arg(long)]
    movies: Option<PathBuf>,
    /// Item id map (`item<TAB>MovieID` after a header line), for data whose item ids are not
    /// MovieIDs, such as the NCF split's item_id_map.tsv; used with --movies and --times.
    #[arg(long)]
    item_map: Option<PathBuf>,
    /// MovieLens ratings with timestamps (`UserID::MovieID::Rating::Timestamp`, e.g. ML-1M
    /// ratings.dat) giving the times of the --train interactions, which the NCF split lacks;
    /// `fresh` weighs each user's recent history by them. NCF ids: user = UserID − 1, items
    /// through --item-map. Interactions not found count as older than all found ones.
    #[arg(long, requires = "train")]
    times: Option<PathBuf>,
    /// With --train/--test and --publish: the external user id of NCF user `u` is `u + N`
    /// (default 1: NCF user = UserID − 1), so the published version answers in MovieLens
    /// UserIDs; its item ids come from --item-map (else the NCF ids).
    #[arg(long, requires = "train")]
    user_id_offset: Option<i64>,
    /// Skip (and count) lines that do not parse instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// Seed for random splits and sampled negatives.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Protocol: full (rank every item, training items excluded), full-all, or
    /// sampled[:N[:SEED]] (rank the held-out items among the given negatives, or N sampled
    /// ones; SEED defaults to --seed).
    #[arg(long)]
    protocol: Option<String>,
    /// Models to train, comma-separated specs `NAME[:KEY=VALUE,...]`, e.g.
    /// `ease:lambda=500,als:factors=128,alpha=1,pop`; keys are the Rust builder / Python
    /// keyword names; `auto` (ease:lambda, als:regularization, fresh:lambda,
    /// fresh:recency_boost, a blend's member weights) is chosen on a validation split carved
    /// from the training data. `ease` and `fresh` default to their auto values. A blend names
    /// its members' weights and sets their parameters as MEMBER.KEY:
    /// `blend:sasrec=1,transition=auto,transition.backward=0.25`.
    #[arg(long, default_value = "pop")]
    models: String,
    /// A file of model specs, one per line (`#` comments), added to --models.
    #[arg(long)]
    models_file: Option<PathBuf>,
    /// Metrics, comma-separated: hr (hit rate: 1 when any held-out item is in the top K; also
    /// `hit_rate`), ndcg, recall (hits / number of held-out items), recall_capped (hits /
    /// min(held-out, K)), precision, map, mrr, coverage. Each at every --k.
    #[arg(long, value_delimiter = ',', default_value = "hr,ndcg")]
    metrics: Vec<String>,
    /// Write every test user's metric values (raw user ids, one row per model and user) to
    /// this CSV file.
    #[arg(long)]
    per_user: Option<PathBuf>,
    /// Compare two models of --models (`A,B`, by spec text or name) user by user: the mean
    /// paired difference B − A, its standard error and 95% CI on every metric.
    #[arg(long, value_delimiter = ',', num_args = 1)]
    compare: Vec<String>,
    /// Which training interactions of each user the `auto` searches hold out, as the test
    /// does: latest (by time), random:F (a seeded random fraction F of each user's training
    /// ratings), random (the --split random:F / random-count:N hold-out applied to the training
    /// ratings; one rating per user without such a split), or auto (as random for a --split
    /// random*, latest otherwise).
    #[arg(long, default_value = "auto")]
    validation: String,
    /// Cross-validation folds K for a random:F validation (also the random:F one `random` and
    /// `auto` take from --split random:F): min(K, floor(1/F)) disjoint random hold-outs of
    /// each user's training ratings (F = 0.2: 5 folds that hold out every rating once); each
    /// user's validation score is their mean over the folds that hold out some of their
    /// ratings. 1 = a single hold-out. Ignored by latest and one-per-user validations.
    #[arg(long, default_value_t = 5)]
    validation_folds: usize,
    #[command(flatten)]
    out: OutputArgs,
}

#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Cut-offs K, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10")]
    pub(crate) k: Vec<usize>,
    /// Write all reports as JSON to this file.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Write the table as CSV to this file.
    #[arg(long)]
    pub(crate) csv: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    pub(crate) quiet: bool,
    /// Publish each trained model, with its metrics and provenance, to this registry.
    #[arg(long)]
    pub(crate) publish: Option<String>,
    /// With --publish: also point `latest` at the best published model, by the primary
    /// metric NDCG@k at the first --k (as `recs demo`); ties keep the first listed.
    #[arg(long, requires = "publish")]
    pub(crate) promote: bool,
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    recs_server::init_logging(cli.log_format);
    let result = match cli.command {
        Command::Demo(args) => crate::cli::demo::run(args),
        Command::Eval(args) => eval(*args),
        Command::Registry(cmd) => registry(cmd),
        Command::Serve(args) => serve(args),
        Command::Probe(args) => probe(args),
        Command::Retrain(args) => return crate::cli::retrain::main(args),
        Command::Fairness(args) => crate::cli::fairness::fairness(args),
        Command::Report(args) => crate::report::report(args),
        Command::Ingest(args) => crate::cli::stream::ingest(args),
        Command::Drift(args) => return crate::cli::stream::drift(args),
        Command::Experiment(cmd) => crate::cli::experiment::experiment(cmd),
        Command::Recommend(args) => crate::cli::recommend::recommend(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_log_format(s: &str) -> Result<recs_server::LogFormat, String> {
    s.parse()
}

pub(crate) type CliResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn eval(args: EvalArgs) -> CliResult {
    let opts = LoadOptions {
        skip_bad_lines: args.skip_bad_lines,
        ..LoadOptions::default()
    };
    let mut specs = ModelSpec::parse_list(&args.models)?;
    if let Some(path) = &args.models_file {
        specs.extend(read_models_file(path)?);
    }
    let metrics = args
        .metrics
        .iter()
        .map(|m| m.parse::<MetricKind>())
        .collect::<Result<Vec<_>, _>>()?;
    // --sequences has split names of its own (seq-loo, ...), read where the sequences load
    let split_spec: SplitSpec = if args.sequences.is_some() {
        SplitSpec::LeaveLast(1)
    } else {
        args.split.parse()?
    };
    let bar = spinner(args.out.quiet, "loading data");
    let mut fit_on = None;
    let mut split = match (&args.data, &args.train, &args.test, &args.sequences) {
        (_, _, _, Some(path)) => {
            let data = data::load_sequences(path, None)?;
            let target = match args.split.as_str() {
                "seq-loo" | "leave-last-out" => SeqTarget::Test,
                "seq-loo-published" => SeqTarget::TestPublished,
                "seq-validation" => SeqTarget::Validation,
                other => {
                    return Err(format!(
                        "--split {other} with --sequences: expected seq-loo, seq-loo-published or seq-validation"
                    )
                    .into())
                }
            };
            let s = data::split_sequences(&data, target)?;
            fit_on = Some(s.fit);
            s.eval
        }
        (Some(path), _, _, _) => {
            let format = parse_format(&args.format, path, args.columns.as_deref())?;
            let (data, report) = data::load(path, &format, &opts)?;
            if report.skipped > 0 {
                tracing::warn!("{report}");
            }
            split_spec.apply(&data, args.seed)?
        }
        (None, Some(train), Some(test), _) => {
            data::load_ncf(train, test, args.negatives.as_deref())?
        }
        _ => return Err("give --data FILE, --sequences FILE, or --train FILE --test FILE".into()),
    };
    bar.finish_with_message(format!(
        "split `{}`: {} train interactions, {} test users",
        split.name,
        split.train.nnz(),
        split.test.len()
    ));
    let protocol = match args.protocol.as_deref() {
        Some(p) => Protocol::parse_with_seed(p, args.seed)?,
        None if args.negatives.is_some() => Protocol::SampledCandidates {
            n: 99,
            seed: args.seed,
        },
        None => Protocol::FullRanking {
            exclude_train: true,
        },
    };
    let item_map = args
        .item_map
        .as_deref()
        .map(data::load_id_map)
        .transpose()?;
    if let Some(path) = &args.times {
        split.train = timed_train(&split, path, item_map.as_ref())?;
    }
    let side = side_info(&split, args.movies.as_deref(), item_map.as_ref())?;
    let serving_ids = if args.train.is_some() && args.out.publish.is_some() {
        Some(ncf_serving_ids(
            &split,
            args.user_id_offset.unwrap_or(1),
            item_map.as_ref(),
        )?)
    } else {
        None
    };
    // the validation mimics the test's hold-out (recs::model::auto's docs)
    let test_holdout = match split_spec {
        SplitSpec::Random(h) if args.data.is_some() => Some(h),
        _ => None,
    };
    let validation = match (args.validation.as_str(), test_holdout) {
        ("latest", _) => Validation::Latest,
        ("random" | "auto", Some(h)) => Validation::Holdout(h),
        ("random", None) => Validation::Random,
        ("auto", None) => Validation::Latest,
        (other, _) => match other.strip_prefix("random:").map(str::parse::<f64>) {
            Some(Ok(f)) if f > 0.0 && f < 1.0 => Validation::Holdout(Holdout::Fraction(f)),
            _ => {
                return Err(format!(
                    "unknown --validation `{other}`: expected latest, random, random:F with F in \
                     (0, 1), or auto"
                )
                .into())
            }
        },
    };
    if args.validation_folds == 0 {
        return Err("--validation-folds must be at least 1 (1 = a single hold-out)".into());
    }
    let extra = EvalExtra {
        metrics,
        per_user: args.per_user.is_some() || !args.compare.is_empty(),
        auto: AutoOptions {
            validation,
            seed: args.seed,
            folds: args.validation_folds,
            ..AutoOptions::default()
        },
        serving_ids,
    };
    let names: Vec<String> = specs.iter().map(ToString::to_string).collect();
    let compare = match args.compare.as_slice() {
        [] => None,
        [a, b] => Some((find_model(&names, a)?, find_model(&names, b)?)),
        _ => return Err("--compare takes two models: A,B".into()),
    };
    let fit_on = fit_on.as_ref().unwrap_or(&split.train);
    let reports =
        train_and_evaluate_specs(fit_on, &split, &specs, protocol, &side, &args.out, &extra)?;
    print_and_write(&reports, &args.out)?;
    if args
        .metrics
        .iter()
        .any(|m| !matches!(m.as_str(), "hr" | "ndcg" | "hit_rate"))
    {
        // the standard table shows HR and NDCG only: every metric, one column per label
        let labels: Vec<String> = reports
            .first()
            .map(|r| r.summary.keys().cloned().collect())
            .unwrap_or_default();
        let rows: Vec<Vec<String>> = reports
            .iter()
            .map(|r| {
                std::iter::once(r.name.clone())
                    .chain(labels.iter().map(|l| {
                        r.summary
                            .get(l)
                            .map_or_else(String::new, |v| format!("{v:.4}"))
                    }))
                    .collect()
            })
            .collect();
        let mut head = vec!["model".to_string()];
        head.extend(labels.iter().cloned());
        println!("{}", recs::eval::markdown_table(&head, &rows));
    }
    if let Some((a, b)) = compare {
        println!();
        for label in reports[a].summary.keys() {
            let has = |r: &Report| {
                r.per_user
                    .as_ref()
                    .is_some_and(|p| p.columns.contains_key(label))
            };
            if has(&reports[a]) && has(&reports[b]) {
                println!("{}", recs::eval::paired(&reports[a], &reports[b], label)?);
            }
        }
    }
    if let Some(path) = &args.per_user {
        write_per_user(path, &reports, &split)?;
    }
    Ok(())
}

/// The index in `names` of the model called `wanted` (its spec text, or its bare name when
/// that is unambiguous).
fn find_model(names: &[String], wanted: &str) -> CliResult<usize> {
    if let Some(i) = names.iter().position(|n| n == wanted) {
        return Ok(i);
    }
    let by_name: Vec<usize> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| n.split(':').next() == Some(wanted))
        .map(|(i, _)| i)
        .collect();
    match by_name.as_slice() {
        [i] => Ok(*i),
        _ => Err(format!(
            "--compare: `{wanted}` is not exactly one of the models ({})",
            names.join(" ")
        )
        .into()),
    }
}

/// Model specs from a file: one per line, blank lines and `#` comments ignored.
fn read_models_file(path: &Path) -> CliResult<Vec<ModelSpec>> {
    let text = recs::util::read_small_text(path, recs::util::SMALL_FILE_MAX_BYTES)
        .map_err(|e| format!("--models-file: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        out.push(
            line.parse::<ModelSpec>()
                .map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?,
        );
    }
    Ok(out)
}

/// Every model's per-user values as CSV: `model,user,<labels>`, raw user ids.
fn write_per_user(path: &Path, reports: &[Report], split: &Split) -> CliResult {
    let labels: std::collections::BTreeSet<&String> = reports
        .iter()
        .filter_map(|r| r.per_user.as_ref())
        .flat_map(|p| p.columns.keys())
        .collect();
    let mut out = String::from("model,user");
    for l in &labels {
        out.push(',');
        out.push_str(l);
    }
    out.push('\n');
    for r in reports {
        let Some(pu) = &r.per_user else { continue };
        for (row, &u) in pu.users.iter().enumerate() {
            let raw = split
                .users
                .external(u)
                .map_or_else(|| u.to_string(), |id| id.to_string());
            out.push_str(&format!("\"{}\",{raw}", r.name.replace('"', "\"\"")));
            for l in &labels {
                out.push(',');
                if let Some(Some(v)) = pu.columns.get(*l).and_then(|c| c.get(row)) {
                    // `+ 0.0` turns a negative zero into 0
                    out.push_str(&(v + 0.0).to_string());
                }
            }
            out.push('\n');
        }
    }
    recs::model::write_atomic(path, out.as_bytes())?;
    tracing::info!("wrote {}", path.display());
    Ok(())
}

type IdMap = std::collections::HashMap<i64, i64>;

/// When ids matched nothing and no `--item-map` was given, the likely reason.
fn item_map_hint(map: Option<&IdMap>) -> &'static str {
    if map.is_none() {
        " (do the item ids need --item-map?)"
    } else {
        ""
    }
}

/// The NCF split's training data with the rating times from `path` (NCF user = UserID − 1;
/// items through `item_map`).
fn timed_train(split: &Split, path: &Path, item_map: Option<&IdMap>) -> CliResult<Interactions> {
    let times = data::load_rating_times(path)?;
    let (users, items) = (split.users.ids(), split.items.ids());
    let (train, found) = data::with_rating_times(
        &split.train,
        &times,
        |u| users.get(u as usize).map(|id| id + 1),
        |i| {
            let id = *items.get(i as usize)?;
            match item_map {
                Some(map) => map.get(&id).copied(),
                None => Some(id),
            }
        },
    )?;
    if found == 0 {
        return Err(format!(
            "--times {}: none of the training interactions is in it{}",
            path.display(),
            item_map_hint(item_map)
        )
        .into());
    }
    tracing::info!(
        "--times: {found} of {} training interactions have a time",
        train.nnz()
    );
    Ok(train)
}

/// Item metadata for the models that use it: release years from `movies`, through `item_map`.
pub(crate) fn side_info(
    split: &Split,
    movies: Option<&Path>,
    map: Option<&IdMap>,
) -> CliResult<SideInfo> {
    let mut side = SideInfo::default();
    if let Some(path) = movies {
        let movies = data::load_movie_file(path)?;
        let years = data::item_years(&split.items, &movies, map);
        let known = years.iter().filter(|y| y.is_some()).count();
        if known == 0 {
            return Err(format!(
                "--movies {}: no item of the data has a movie with a release year{}",
                path.display(),
                item_map_hint(map)
            )
            .into());
        }
        side.item_years = Some(years);
    }
    Ok(side)
}

/// What `recs eval` adds to [`train_and_evaluate`]: metrics, per-user values, `auto` options.
pub(crate) struct EvalExtra {
    pub(crate) metrics: Vec<MetricKind>,
    pub(crate) per_user: bool,
    pub(crate) auto: AutoOptions,
    /// The external (user, item) ids published with each model; `None`: the split's own.
    pub(crate) serving_ids: Option<(data::Vocab, data::Vocab)>,
}

impl Default for EvalExtra {
    fn default() -> Self {
        EvalExtra {
            metrics: vec![MetricKind::Hr, MetricKind::Ndcg],
            per_user: false,
            auto: AutoOptions::default(),
            serving_ids: None,
        }
    }
}

/// The raw ids of an NCF split, for publishing: user `u` is `u + user_offset`, item `i` is
/// `item_map[i]` (the NCF ids themselves without a map).
fn ncf_serving_ids(
    split: &Split,
    user_offset: i64,
    item_map: Option<&IdMap>,
) -> CliResult<(data::Vocab, data::Vocab)> {
    let users: Vec<i64> = split
        .users
        .ids()
        .iter()
        .map(|&u| {
            u.checked_add(user_offset)
                .ok_or("--user-id-offset overflows an id")
        })
        .collect::<Result<_, _>>()?;
    let items: Vec<i64> = match item_map {
        Some(map) => split
            .items
            .ids()
            .iter()
            .map(|i| {
                map.get(i).copied().ok_or_else(|| {
                    format!("--item-map has no line for item {i} of the --train/--test files")
                })
            })
            .collect::<Result<_, _>>()?,
        None => {
            tracing::warn!(
                "publishing NCF item ids as they are: give --item-map to serve MovieLens MovieIDs"
            );
            split.items.ids().to_vec()
        }
    };
    let check = |ids: Vec<i64>, what: &str| -> CliResult<data::Vocab> {
        let n = ids.len();
        let v = data::Vocab::from(ids);
        if v.len() != n {
            return Err(format!("two {what}s get the same external id").into());
        }
        Ok(v)
    };
    Ok((check(users, "user")?, check(items, "item")?))
}

/// The parameters a model was fitted with, for `meta.json`: the spec as given, its name and
/// every key with the value used (fixed defaults filled in, `auto` ones as chosen).
fn fitted_params(spec: &ModelSpec, chosen: &[(String, String)]) -> serde_json::Value {
    let resolved = spec.clone().with_auto_defaults();
    let value = |v: &str| serde_json::from_str(v).unwrap_or_else(|_| v.into());
    let mut params = serde_json::Map::new();
    for (k, v) in resolved.params() {
        params.insert(k.clone(), value(v));
    }
    for (k, v) in chosen.iter().filter(|(k, _)| !k.contains('@')) {
        params.insert(k.clone(), value(v));
    }
    serde_json::json!({
        "spec": spec.to_string(),
        "model": resolved.name(),
        "params": params,
    })
}

pub(crate) fn train_and_evaluate(
    split: &Split,
    models: &[String],
    protocol: Protocol,
    side: &SideInfo,
    out: &OutputArgs,
) -> CliResult<Vec<Report>> {
    train_and_evaluate_on(&split.train, split, models, protocol, side, out)
}

/// [`train_and_evaluate`] fitting on `fit_on` while `split.train` is each user's history at
/// evaluation time (the published Beauty protocol fits without the validation item but scores
/// with it).
pub(crate) fn train_and_evaluate_on(
    fit_on: &Interactions,
    split: &Split,
    models: &[String],
    protocol: Protocol,
    side: &SideInfo,
    out: &OutputArgs,
) -> CliResult<Vec<Report>> {
    if models.is_empty() {
        return Err(format!("no model given; choose from {}", MODEL_NAMES.join(", ")).into());
    }
    let specs = models
        .iter()
        .map(|m| m.parse::<ModelSpec>())
        .collect::<Result<Vec<_>, _>>()?;
    train_and_evaluate_specs(
        fit_on,
        split,
        &specs,
        protocol,
        side,
        out,
        &EvalExtra::default(),
    )
}

/// Fits every spec (with [`ModelSpec::with_auto_defaults`]), evaluates it and prints the
/// values chosen for `auto` parameters.
/// Fits each spec on `fit_on` (usually `split.train`; the published next-item protocol fits on
/// less than the histories it scores from) and evaluates it on `split`.
pub(crate) fn train_and_evaluate_specs(
    fit_on: &Interactions,
    split: &Split,
    specs: &[ModelSpec],
    protocol: Protocol,
    side: &SideInfo,
    out: &OutputArgs,
    extra: &EvalExtra,
) -> CliResult<Vec<Report>> {
    let config = EvalConfig::default()
        .ks(out.k.iter().copied())
        .metrics(extra.metrics.iter().copied())
        .per_user(extra.per_user);
    config.check()?;
    let evaluator = protocol.evaluator(config);
    let mut reports = Vec::with_capacity(specs.len());
    // With --promote, the best published model becomes latest once all are evaluated (not
    // each in turn, which left the last listed one as latest).
    let primary = format!("ndcg@{}", out.k.first().copied().unwrap_or(10));
    let mut best: Option<(f64, registry::Version)> = None;
    for spec in specs {
        let name = spec.to_string();
        let bar = spinner(out.quiet, &format!("training {name}"));
        let start = Instant::now();
        let fitted = spec
            .clone()
            .with_auto_defaults()
            .fit_with(fit_on, side, &extra.auto)?;
        let (model, chosen): (AnyModel, _) = (fitted.model, fitted.chosen);
        let train_seconds = start.elapsed().as_secs_f64();
        bar.set_message(format!("evaluating {name}"));
        let size = model.to_bytes()?.len() as u64;
        let report = evaluator
            .evaluate(model.as_recommender(), split)?
            .with_name(name.clone())
            .with_train_seconds(train_seconds)
            .with_model_size(size);
        bar.finish_with_message(format!(
            "{name} ({}): trained in {train_seconds:.2} s",
            model.kind()
        ));
        print_chosen(&name, &chosen);
        if let Some(location) = &out.publish {
            let (users, items) = extra
                .serving_ids
                .clone()
                .unwrap_or_else(|| (split.users.clone(), split.items.clone()));
            let serving = registry::ServingData::new(users, items, fit_on.clone())?;
            let params = fitted_params(spec, &chosen);
            let version = publish(location, &model, &report, split, &serving, &params)?;
            let score = report.get(&primary).unwrap_or(f64::NEG_INFINITY);
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, version));
            }
        }
        reports.push(report);
    }
    if let (true, Some(location), Some((score, version))) = (out.promote, &out.publish, best) {
        let reg = registry::open(location)?;
        reg.set_latest(&version)?;
        tracing::info!("promoted {version} to latest (best {primary} = {score:.4})");
    }
    Ok(reports)
}

/// Prints the values chosen for `auto` parameters and the validation score of each candidate.
pub(crate) fn print_chosen(name: &str, chosen: &[(String, String)]) {
    let (picks, scores): (Vec<_>, Vec<_>) = chosen.iter().partition(|(k, _)| !k.contains('@'));
    for (k, v) in picks {
        println!("{name}: auto {k} = {v} (validation Recall@20 carved from the training data)");
    }
    if !scores.is_empty() {
        let s: Vec<String> = scores.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("{name}: validation {}", s.join(" "));
    }
}

pub(crate) fn print_and_write(reports: &[Report], out: &OutputArgs) -> CliResult {
    println!("{}", recs::eval::table_markdown(reports));
    if let Some(path) = &out.json {
        let json =
            serde_json::to_string_pretty(reports).map_err(|e| Error::Serde(e.to_string()))?;
        recs::util::write_atomic(path, json.as_bytes())?;
        tracing::info!("wrote {}", path.display());
    }
    if let Some(path) = &out.csv {
        recs::util::write_atomic(path, recs::eval::table_csv(reports).as_bytes())?;
        tracing::info!("wrote {}", path.display());
    }
    Ok(())
}

pub(crate) fn parse_format(name: &str, path: &Path, columns: Option<&str>) -> CliResult<Format> {
    let format = match name {
        "auto" => Format::guess(path),
        "ml1m" | "movielens" => Format::MovieLens,
        "ml100k" => Format::Ml100k,
        "csv" => Format::Delimited(data::TextFormat::csv()),
        "tsv" => Format::Delimited(data::TextFormat::tsv()),
        other => {
            return Err(format!(
                "unknown --format `{other}`: expected auto, ml1m, ml100k, csv or tsv"
            )
            .into())
        }
    };
    let mut text = match (format, columns) {
        (Format::Delimited(t), _) => t,
        (f, None) => return Ok(f),
        (_, Some(_)) => {
            return Err("--columns needs a CSV/TSV file (--format csv or tsv)".into());
        }
    };
    text.header = data::detect_header(path, &text)?;
    if let Some(spec) = columns {
        text.columns = data::parse_columns(spec)?;
    }
    Ok(Format::Delimited(text))
}

pub(crate) fn spinner(quiet: bool, msg: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}") {
        bar.set_style(style);
    }
    bar.set_message(msg.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Publishes `model` with its report, its serving data (ids and training interactions, so
/// that `recs serve --registry` alone can serve it) and its parameters.
fn publish(
    location: &str,
    model: &AnyModel,
    report: &Report,
    split: &Split,
    serving: &registry::ServingData,
    params: &serde_json::Value,
) -> CliResult<registry::Version> {
    let reg = registry::open(location)?;
    let mut meta = NewVersion::new(model.kind())
        .params(params)?
        .data_snapshot(registry::snapshot_of_interactions(&split.train))
        .git_sha(registry::detect_git_sha())
        .exported_by(format!(
            "recs {} ({})",
            env!("CARGO_PKG_VERSION"),
            report.name
        ))
        .note(format!(
            "split `{}`, protocol `{}`",
            split.name, report.protocol
        ));
    for (label, value) in &report.summary {
        meta = meta.metric(label.clone(), *value);
    }
    let report_json = report.to_json()?;
    let published = registry::publish_model_serving(
        reg.as_ref(),
        model,
        serving,
        &[registry::Artifact::new(
            "report.json",
            report_json.as_bytes(),
        )],
        meta,
    )?;
    tracing::info!(
        "published {} ({}) to {}",
        published.version,
        published.kind,
        reg.location(),
    );
    Ok(published.version)
}

fn registry(cmd: RegistryCmd) -> CliResult {
    match cmd {
        RegistryCmd::List(r) => {
            let reg = registry::open(&r.registry)?;
            // Faulty versions are listed after the good ones, never abort the listing.
            let found = registry::scan(reg.as_ref())?;
            let latest = found.latest;
            let rows: Vec<Vec<String>> = found
                .good
                .iter()
                .map(|m| {
                    let mark = if Some(&m.version) == latest.as_ref() {
                        "*"
                    } else {
                        ""
                    };
                    let metrics = m
                        .metrics
                        .iter()
                        .map(|(k, v)| format!("{k}={v:.4}"))
                        .collect::<Vec<_>>()
                        .join(" ");
                    vec![
                        format!("{}{mark}", m.version),
                        m.kind.clone(),
                        m.created_at.clone(),
                        format!("{:.2}", m.size() as f64 / 1e6),
                        metrics,
                    ]
                })
                .collect();
            println!(
                "{}",
                recs::eval::markdown_table(
                    &["version", "kind", "created_at", "size_MB", "metrics"],
                    &rows
                )
            );
            report_faults(&found)?;
        }
        RegistryCmd::Show(v) => {
            let reg = registry::open(&v.registry.registry)?;
            let meta = reg.meta(&Version::parse(&v.version)?)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&meta).map_err(|e| Error::Serde(e.to_string()))?
            );
        }
        RegistryCmd::Promote(v) => {
            let reg = registry::open(&v.registry.registry)?;
            let version = Version::parse(&v.version)?;
            registry::verify(reg.as_ref(), &version)?;
            reg.set_latest(&version)?;
            println!("latest -> {version}");
        }
        RegistryCmd::Rollback(r) => {
            let reg = registry::open(&r.registry)?;
            let entry = registry::rollback(reg.as_ref())?;
            println!("latest -> {}", entry.version);
        }
        RegistryCmd::Verify {
            registry: r,
            version,
        } => {
            let reg = registry::open(&r.registry)?;
            let all = version.is_none();
            let results = match version {
                Some(v) => {
                    let v = Version::parse(&v)?;
                    vec![(v, registry::verify(reg.as_ref(), &v))]
                }
                None => registry::verify_all(reg.as_ref())?,
            };
            let mut bad = 0;
            // Folders with no metadata and a latest pointer at a faulty version are faults too.
            let found = registry::scan(reg.as_ref())?;
            if all {
                for (name, why) in reg.without_meta()? {
                    bad += 1;
                    println!("{name}: DAMAGED: {why}");
                }
            }
            if let Some(why) = found.latest_fault() {
                bad += 1;
                println!("latest: DAMAGED: {why}");
            }
            for (v, res) in results {
                match res {
                    Ok(m) => println!("{v}: ok ({}, {} artifacts)", m.kind, m.artifacts.len()),
                    Err(e) => {
                        bad += 1;
                        println!("{v}: DAMAGED: {e}");
                    }
                }
            }
            if bad > 0 {
                return Err(format!("{bad} damaged version(s)").into());
            }
        }
        RegistryCmd::Gc {
            registry: r,
            older_than,
        } => {
            let reg = registry::open(&r.registry)?;
            let removed = reg.gc(std::time::Duration::from_secs(older_than))?;
            println!(
                "removed {removed} abandoned item(s) from {}",
                reg.location()
            );
        }
    }
    Ok(())
}

/// Prints the faults of a registry scan (stderr) and fails when there is any.
fn report_faults(found: &registry::Scan) -> CliResult {
    for (name, why) in &found.faulty {
        tracing::error!("{name}: FAULTY: {why}");
    }
    if let Some(why) = found.latest_fault() {
        tracing::error!("latest: FAULTY: {why}");
    }
    if found.has_faults() {
        return Err(format!(
            "{} faulty version(s){}",
            found.faulty.len(),
            if found.latest_fault().is_some() {
                ", latest among them"
            } else {
                ""
            }
        )
        .into());
    }
    Ok(())
}

fn serve(args: ServeArgs) -> CliResult {
    let mut config = match &args.config {
        Some(path) => recs_server::ServeConfig::from_file(path)?,
        None => recs_server::ServeConfig::default(),
    };
    if let Some(r) = args.registry {
        config.registry = Some(r);
    }
    if let Some(a) = args.addr {
        config.addr = a;
    }
    if let Some(d) = args.data {
        config.data = Some(d);
    }
    if let Some(m) = args.movies {
        config.movies = Some(m);
    }
    if let Some(v) = args.version {
        config.initial_version = Some(v);
    }
    if let Some(s) = args.follow_latest {
        config.follow_latest_secs = Some(s);
    }
    args.live.apply(&mut config.live);
    let exposure = &mut config.exposure_log;
    if let Some(f) = args.exposure_log {
        exposure.file = Some(f);
    }
    if let Some(n) = args.exposure_log_max_bytes {
        exposure.max_file_bytes = n;
    }
    if let Some(n) = args.exposure_log_keep {
        exposure.keep_files = n;
    }
    if let Some(b) = args.exposure_kafka {
        exposure.kafka = Some(b);
    }
    if let Some(t) = args.exposure_topic {
        exposure.kafka_topic = t;
    }
    let config = config.admin_token_from_env();
    config.check()?;
    recs_server::serve_blocking(config)?;
    Ok(())
}

fn probe(args: ProbeArgs) -> CliResult {
    use std::io::Write as _;
    let mut config = recs_server::ProbeConfig::new(args.url, args.count, args.interval);
    config.request_id_prefix = Some(args.request_id_prefix.unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("probe-{secs}")
    }));
    // The event file is written beside its final name and renamed at the end (atomic).
    let mut events = match &args.events {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .map_err(|e| format!("--events {}: {e}", path.display()))?;
            Some((std::io::BufWriter::new(tmp), path.clone()))
        }
        None => None,
    };
    let mut write_error: Option<std::io::Error> = None;
    let url = config.url.clone();
    let report = recs_server::probe_blocking(&config, |sample| {
        println!(
            "{}",
            serde_json::to_string(sample).unwrap_or_else(|_| format!("{sample:?}"))
        );
        if let (Some((w, _)), None, Some(pair)) =
            (events.as_mut(), write_error.as_ref(), sample.events(&url))
        {
            for e in pair {
                let line = serde_json::to_vec(&e).unwrap_or_default();
                if let Err(err) = w.write_all(&line).and_then(|()| w.write_all(b"\n")) {
                    write_error = Some(err);
                }
            }
        }
    })?;
    if let Some((w, path)) = events {
        if let Some(e) = write_error {
            return Err(format!("--events {}: {e}", path.display()).into());
        }
        let tmp = w
            .into_inner()
            .map_err(|e| format!("--events {}: {}", path.display(), e.error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| format!("--events {}: {e}", path.display()))?;
        tmp.persist(&path)
            .map_err(|e| format!("--events {}: {}", path.display(), e.error))?;
        tracing::info!("wrote probe events to {}", path.display());
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|e| Error::Serde(e.to_string()))?
    );
    Ok(())
}
