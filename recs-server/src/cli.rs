//! Command-line parsing and the commands themselves. Each command is a thin layer over the
//! `recs` library; errors are printed as one clear line and turn into a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use recs::data::{self, Dataset, Format, LoadOptions, Split};
use recs::eval::{EvalConfig, MetricKind, Protocol, Report};
use recs::model::{fit_named, AnyModel, MODEL_NAMES};
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
    /// the table. Needs nothing installed or downloaded.
    Demo(DemoArgs),
    /// Load data, split it, train the chosen models and print the evaluation table.
    Eval(EvalArgs),
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Users in the generated data.
    #[arg(long, default_value_t = 6040)]
    users: usize,
    /// Items in the generated data.
    #[arg(long, default_value_t = 3706)]
    items: usize,
    /// Interactions in the generated data.
    #[arg(long, default_value_t = 1_000_209)]
    interactions: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Models to train, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "pop")]
    models: Vec<String>,
    #[command(flatten)]
    out: OutputArgs,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// An interaction file to split (MovieLens ratings.dat, ML-100K u.data, CSV/TSV; .gz ok).
    #[arg(long, conflicts_with_all = ["train", "test"])]
    data: Option<PathBuf>,
    /// Format of --data: auto (from the file name), ml1m, ml100k, csv, tsv.
    #[arg(long, default_value = "auto")]
    format: String,
    /// How to split --data: leave-last-out, random:FRACTION, temporal:FRACTION.
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
struct OutputArgs {
    /// Cut-offs K, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10")]
    k: Vec<usize>,
    /// Write all reports as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the table as CSV to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo(args),
        Command::Eval(args) => eval(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn demo(args: DemoArgs) -> CliResult {
    let bar = spinner(args.out.quiet, "generating MovieLens-shaped data");
    let data = data::synth::SynthParams::new(args.users, args.items, args.interactions)
        .seed(args.seed)
        .generate()?;
    bar.finish_with_message(format!(
        "generated {} users x {} items, {} interactions",
        data.users.len(),
        data.items.len(),
        data.interactions.nnz()
    ));
    let split = data::split::leave_last_out(&data)?.with_name("synthetic leave-last-out");
    let protocol = Protocol::FullRanking {
        exclude_train: true,
    };
    let reports = train_and_evaluate(&split, &args.models, protocol, &args.out)?;
    print_and_write(&reports, &args.out)
}

fn eval(args: EvalArgs) -> CliResult {
    let opts = LoadOptions {
        skip_bad_lines: args.skip_bad_lines,
        ..LoadOptions::default()
    };
    let bar = spinner(args.out.quiet, "loading data");
    let split = match (&args.data, &args.train, &args.test) {
        (Some(path), _, _) => {
            let format = parse_format(&args.format, path)?;
            let (data, report) = data::load(path, &format, &opts)?;
            if report.skipped > 0 {
                eprintln!("{report}");
            }
            split_dataset(&data, &args.split, args.seed)?
        }
        (None, Some(train), Some(test)) => data::load_ncf(train, test, args.negatives.as_deref())?,
        _ => return Err("give --data FILE, or --train FILE --test FILE".into()),
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
    let reports = train_and_evaluate(&split, &args.models, protocol, &args.out)?;
    print_and_write(&reports, &args.out)
}

fn train_and_evaluate(
    split: &Split,
    models: &[String],
    protocol: Protocol,
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
        let model: AnyModel = fit_named(name, &split.train)?;
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
        reports.push(report);
    }
    Ok(reports)
}

fn print_and_write(reports: &[Report], out: &OutputArgs) -> CliResult {
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

fn spinner(quiet: bool, msg: &str) -> ProgressBar {
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
