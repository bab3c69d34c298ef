//! Command-line parsing and the commands themselves. Each command is a thin layer over the
//! `recs` library; errors are printed as one clear line and turn into a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use recs::data::{self, Dataset, Format, Interactions, LoadOptions, SeqTarget, Split};
use recs::eval::{EvalConfig, MetricKind, Protocol, Report};
use recs::model::{fit_named_with, AnyModel, SideInfo, MODEL_NAMES};
use recs::registry::{self, NewVersion, Version};
use recs::{Error, Recommender};

/// recs: train, evaluate, version and serve recommendations.
#[derive(Debug, Parser)]
#[command(name = "recs", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job on embedded defaults: generate MovieLens-shaped data, train, evaluate, print
    /// the table, publish the models to a local registry, promote the best and serve it over
    /// HTTP in-process (a few real requests, then a graceful stop; --serve keeps serving).
    /// Needs nothing installed or downloaded.
    Demo(crate::cmd_demo::DemoArgs),
    /// Load data, split it, train the chosen models and print the evaluation table
    /// (`recs train` is the same command; add --publish DIR to version the models).
    #[command(alias = "train")]
    Eval(EvalArgs),
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
    Retrain(crate::cmd_retrain::RetrainArgs),
    /// Exposure, quality by user group and the feedback loop of each model: JSON + SVG.
    Fairness(crate::cmd_fairness::FairnessArgs),
    /// One self-contained HTML page: accuracy curves, exposure, group gaps, feedback, drift.
    Report(crate::cmd_report::ReportArgs),
    /// Ingest events (files, stdin or Kafka) into validated snapshots with dead letters.
    Ingest(crate::cmd_stream::IngestArgs),
    /// Drift report between two snapshots or training files; exit 1 when a threshold is crossed.
    Drift(crate::cmd_stream::DriftArgs),
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
    live: crate::cmd_stream::LiveArgs,
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
    /// test, second-last = validation. --split seq-loo fits on all but the last item;
    /// --split seq-loo-published fits on all but the last two (the test history still holds
    /// the second-last, as in the published Beauty protocol).
    #[arg(long, conflicts_with_all = ["data", "train", "test"])]
    sequences: Option<PathBuf>,
    /// With --sequences: evaluate on the validation item (fit on all but the last two items),
    /// to choose settings without touching the test items.
    #[arg(long, requires = "sequences")]
    validation: bool,
    /// Format of --data: auto (from the file name), ml1m, ml100k, csv, tsv.
    #[arg(long, default_value = "auto")]
    format: String,
    /// How to split --data: leave-last-out, random:FRACTION, temporal:FRACTION; --sequences:
    /// seq-loo (the default there) or seq-loo-published.
    #[arg(long, default_value = "leave-last-out")]
    split: String,
    /// Pre-split training file in the NCF format (user\titem\trating[\tts]).
    #[arg(long, requires = "test")]
    train: Option<PathBuf>,
    /// Pre-split test file in the NCF format (one held-out item per line).
    #[arg(long, requires = "train")]
    test: Option<PathBuf>,
    /// NCF negatives file `(user,item)\tneg...`; implies the sampled-candidates protocol.
    #[arg(long, requires = "test")]
    negatives: Option<PathBuf>,
    /// Movie file (ML-1M movies.dat or ML-100K u.item) whose release years the `fresh` model
    /// uses.
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
    /// Skip (and count) lines that do not parse instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// Seed for random splits and sampled negatives.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Protocol: full (rank every item, training items excluded) or sampled[:N] (rank the
    /// held-out item among the given negatives, or N sampled ones).
    #[arg(long)]
    protocol: Option<String>,
    /// Models to train, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "pop")]
    models: Vec<String>,
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
    /// With --publish: also point `latest` at the published version.
    #[arg(long, requires = "publish")]
    pub(crate) promote: bool,
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => crate::cmd_demo::run(args),
        Command::Eval(args) => eval(args),
        Command::Registry(cmd) => registry(cmd),
        Command::Serve(args) => serve(args),
        Command::Probe(args) => probe(args),
        Command::Retrain(args) => return crate::cmd_retrain::main(args),
        Command::Fairness(args) => crate::cmd_fairness::fairness(args),
        Command::Report(args) => crate::cmd_report::report(args),
        Command::Ingest(args) => crate::cmd_stream::ingest(args),
        Command::Drift(args) => return crate::cmd_stream::drift(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) type CliResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn eval(args: EvalArgs) -> CliResult {
    let opts = LoadOptions {
        skip_bad_lines: args.skip_bad_lines,
        ..LoadOptions::default()
    };
    let bar = spinner(args.out.quiet, "loading data");
    let mut fit_on = None;
    let mut split = match (&args.data, &args.train, &args.test, &args.sequences) {
        (_, _, _, Some(path)) => {
            let data = data::load_sequences(path, None)?;
            let target = match (args.validation, args.split.as_str()) {
                (true, "seq-loo" | "seq-loo-published" | "leave-last-out") => SeqTarget::Validation,
                (false, "seq-loo" | "leave-last-out") => SeqTarget::Test,
                (false, "seq-loo-published") => SeqTarget::TestPublished,
                (_, other) => {
                    return Err(format!(
                        "--split {other} with --sequences: expected seq-loo or seq-loo-published"
                    )
                    .into())
                }
            };
            let s = data::split_sequences(&data, target)?;
            fit_on = Some(s.fit);
            s.eval
        }
        (Some(path), _, _, _) => {
            let format = parse_format(&args.format, path)?;
            let (data, report) = data::load(path, &format, &opts)?;
            if report.skipped > 0 {
                eprintln!("{report}");
            }
            split_dataset(&data, &args.split, args.seed)?
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
        Some(p) => parse_protocol(p, args.seed)?,
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
    let fit_on = fit_on.as_ref().unwrap_or(&split.train);
    let reports = train_and_evaluate_on(fit_on, &split, &args.models, protocol, &side, &args.out)?;
    print_and_write(&reports, &args.out)
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
    eprintln!(
        "--times: {found} of {} training interactions have a time",
        train.nnz()
    );
    Ok(train)
}

/// Item metadata for the models that use it: release years from `movies`, through `item_map`.
fn side_info(split: &Split, movies: Option<&Path>, map: Option<&IdMap>) -> CliResult<SideInfo> {
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
    let config = EvalConfig::default()
        .ks(out.k.iter().copied())
        .metrics([MetricKind::Hr, MetricKind::Ndcg]);
    config.check()?;
    let evaluator = protocol.evaluator(config);
    let mut reports = Vec::with_capacity(models.len());
    for name in models {
        let bar = spinner(out.quiet, &format!("training {name}"));
        let start = Instant::now();
        let model: AnyModel = fit_named_with(name, fit_on, side)?;
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
        if let Some(location) = &out.publish {
            publish(location, &model, &report, split, out.promote)?;
        }
        reports.push(report);
    }
    Ok(reports)
}

pub(crate) fn print_and_write(reports: &[Report], out: &OutputArgs) -> CliResult {
    println!("{}", recs::eval::table_markdown(reports));
    if let Some(path) = &out.json {
        let json =
            serde_json::to_string_pretty(reports).map_err(|e| Error::Serde(e.to_string()))?;
        recs::model::write_atomic(path, json.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &out.csv {
        recs::model::write_atomic(path, recs::eval::table_csv(reports).as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn parse_format(name: &str, path: &Path) -> CliResult<Format> {
    Ok(match name {
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
    })
}

fn split_dataset(data: &Dataset, spec: &str, seed: u64) -> CliResult<Split> {
    let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
    let fraction = || -> CliResult<f64> {
        arg.parse::<f64>().map_err(|_| {
            format!("--split {spec}: expected a fraction after `:`, got `{arg}`").into()
        })
    };
    Ok(match kind {
        "leave-last-out" => data::split::leave_last_out(data)?,
        "random" => {
            data::split::random_holdout(data, data::split::Holdout::Fraction(fraction()?), seed)?
        }
        "temporal" => data::split::temporal_cut(data, data::split::Cut::Fraction(fraction()?))?,
        other => {
            return Err(format!(
                "unknown --split `{other}`: expected leave-last-out, random:F or temporal:F"
            )
            .into())
        }
    })
}

fn parse_protocol(spec: &str, seed: u64) -> CliResult<Protocol> {
    let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
    Ok(match kind {
        "full" => Protocol::FullRanking {
            exclude_train: true,
        },
        "sampled" => Protocol::SampledCandidates {
            n: if arg.is_empty() {
                99
            } else {
                arg.parse()
                    .map_err(|_| format!("--protocol {spec}: expected a count after `:`"))?
            },
            seed,
        },
        other => {
            return Err(
                format!("unknown --protocol `{other}`: expected full or sampled[:N]").into(),
            )
        }
    })
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

fn publish(
    location: &str,
    model: &AnyModel,
    report: &Report,
    split: &Split,
    promote: bool,
) -> CliResult {
    let reg = registry::open(location)?;
    let mut meta = NewVersion::new(model.kind())
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
        ))
        .promote(promote);
    for (label, value) in &report.summary {
        meta = meta.metric(label.clone(), *value);
    }
    let report_json = report.to_json()?;
    let published = registry::publish_model_with(
        reg.as_ref(),
        model,
        &[registry::Artifact::new(
            "report.json",
            report_json.as_bytes(),
        )],
        meta,
    )?;
    eprintln!(
        "published {} ({}) to {}{}",
        published.version,
        published.kind,
        reg.location(),
        if promote {
            " and promoted it to latest"
        } else {
            ""
        }
    );
    Ok(())
}

fn registry(cmd: RegistryCmd) -> CliResult {
    match cmd {
        RegistryCmd::List(r) => {
            let reg = registry::open(&r.registry)?;
            let latest = reg.latest()?;
            let rows: Vec<Vec<String>> = reg
                .list()?
                .into_iter()
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
            let results = match version {
                Some(v) => {
                    let v = Version::parse(&v)?;
                    vec![(v, registry::verify(reg.as_ref(), &v))]
                }
                None => registry::verify_all(reg.as_ref())?,
            };
            let mut bad = 0;
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
    let config = config.admin_token_from_env();
    config.check()?;
    recs_server::serve_blocking(config)?;
    Ok(())
}

fn probe(args: ProbeArgs) -> CliResult {
    let config = recs_server::ProbeConfig::new(args.url, args.count, args.interval);
    let report = recs_server::probe_blocking(&config, |sample| {
        println!(
            "{}",
            serde_json::to_string(sample).unwrap_or_else(|_| format!("{sample:?}"))
        )
    })?;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|e| Error::Serde(e.to_string()))?
    );
    Ok(())
}
