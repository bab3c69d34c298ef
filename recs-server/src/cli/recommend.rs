//! `recs recommend`: batch top-K for all (or listed) users to CSV, JSON lines or Parquet, with
//! raw ids, from a model spec fitted on the data or from a registry version.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use recs::data::{self, LoadOptions, Split, TestSet};
use recs::model::{recommend_in_chunks, AnyModel, AutoOptions, ModelSpec, RecOpts};
use recs::registry::{self, Version};
use recs::{Error, Recommender};

use crate::cli::{parse_format, print_chosen, side_info, CliResult};

#[derive(Debug, Args)]
pub(crate) struct RecommendArgs {
    /// The interactions (users' histories; with --model also the training data): a MovieLens
    /// ratings file or a CSV/TSV export, as for `recs eval --data`.
    #[arg(long)]
    data: PathBuf,
    /// Format of --data: auto, ml1m, ml100k, csv, tsv (see `recs eval --help`).
    #[arg(long, default_value = "auto")]
    format: String,
    /// Columns of a CSV/TSV --data, e.g. `user=userId,item=movieId,rating=rating,time=timestamp`.
    #[arg(long)]
    columns: Option<String>,
    /// A model spec to fit on all of --data, e.g. `ease` or `ease:lambda=500` (auto values
    /// are chosen on a validation split carved from --data and printed).
    #[arg(long, conflicts_with = "registry")]
    model: Option<String>,
    /// A registry to load the model from instead (its items must be --data's, loaded the same
    /// way).
    #[arg(long)]
    registry: Option<String>,
    /// The registry version (default: latest).
    #[arg(long, requires = "registry")]
    version: Option<String>,
    /// Movie file for `fresh` (movies.dat, u.item or movies.csv).
    #[arg(long)]
    movies: Option<PathBuf>,
    /// Only these users (raw ids, comma-separated); default every user of --data.
    #[arg(long, value_delimiter = ',')]
    users: Vec<i64>,
    /// Items per user.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Keep the items a user already has in --data (default: leave them out).
    #[arg(long)]
    keep_seen: bool,
    /// Output file; written to FILE.tmp while running, then renamed.
    #[arg(long)]
    out: PathBuf,
    /// Output format: csv (`user,rank,item,score`), jsonl (one `{"user":..,"items":[..],
    /// "scores":[..]}` per line) or parquet (the csv columns: user Int64, rank UInt32, item
    /// Int64, score Float32; snappy, row groups of up to 2^20 rows); default from the file name
    /// (.jsonl/.json → jsonl, .parquet/.pq → parquet, else csv).
    #[arg(long)]
    output_format: Option<String>,
    /// Users scored per parallel chunk (memory is bounded by the chunk, not the user count).
    #[arg(long, default_value_t = 4096)]
    chunk: usize,
    /// Seed of the `auto` validation split.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub(crate) fn recommend(args: RecommendArgs) -> CliResult {
    let format = parse_format(&args.format, &args.data, args.columns.as_deref())?;
    let (dataset, report) = data::load(&args.data, &format, &LoadOptions::default())?;
    if report.skipped > 0 {
        tracing::info!("{report}");
    }
    let model: AnyModel = match (&args.model, &args.registry) {
        (Some(spec), None) => {
            let spec: ModelSpec = spec.parse()?;
            // `side_info` reads item years through the dataset's vocabulary
            let as_split = Split {
                name: "all".into(),
                train: dataset.interactions.clone(),
                test: TestSet::default(),
                users: dataset.users.clone(),
                items: dataset.items.clone(),
            };
            let side = side_info(&as_split, args.movies.as_deref(), None)?;
            let fitted = spec.clone().with_auto_defaults().fit_with(
                &dataset.interactions,
                &side,
                &AutoOptions {
                    seed: args.seed,
                    ..AutoOptions::default()
                },
            )?;
            print_chosen(&spec.to_string(), &fitted.chosen);
            fitted.model
        }
        (None, Some(location)) => {
            let reg = registry::open(location)?;
            let version = match &args.version {
                Some(v) => Version::parse(v)?,
                None => reg
                    .latest()?
                    .ok_or_else(|| format!("registry {location} has no latest version"))?,
            };
            registry::load_model(reg.as_ref(), &version)?
        }
        _ => return Err("give --model SPEC or --registry LOCATION".into()),
    };
    if model.n_items() != dataset.items.len() {
        return Err(format!(
            "the model scores {} items but --data has {}; use the data it was trained on",
            model.n_items(),
            dataset.items.len()
        )
        .into());
    }
    let users: Vec<u32> = if args.users.is_empty() {
        (0..dataset.users.len() as u32).collect()
    } else {
        args.users
            .iter()
            .map(|&id| {
                dataset
                    .users
                    .index(id)
                    .ok_or_else(|| format!("--users: user {id} is not in --data"))
            })
            .collect::<Result<_, _>>()?
    };
    let format = OutFormat::of(args.output_format.as_deref(), &args.out)?;
    let opts = RecOpts {
        k: args.k,
        filter_seen: !args.keep_seen,
        ..RecOpts::default()
    };
    let tmp = tmp_path(&args.out);
    let file = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    let mut sink = Sink::new(format, std::io::BufWriter::new(file), &tmp)?;
    let (uv, iv) = (&dataset.users, &dataset.items);
    let mut written = 0usize;
    recommend_in_chunks(
        model.as_recommender(),
        &dataset.interactions,
        &users,
        &opts,
        args.chunk,
        |lists| {
            let raw: Vec<(i64, Vec<(i64, f32)>)> = lists
                .iter()
                .map(|(u, list)| {
                    let user = uv.external(*u).unwrap_or(i64::from(*u));
                    let items = list
                        .iter()
                        .map(|s| (iv.external(s.item).unwrap_or(i64::from(s.item)), s.score))
                        .collect();
                    (user, items)
                })
                .collect();
            written += lists.len();
            sink.write(&raw, &tmp)
        },
    )?;
    sink.finish(&tmp)?;
    std::fs::rename(&tmp, &args.out).map_err(|e| io_err(&args.out, e))?;
    tracing::info!("wrote {} ({written} users)", args.out.display());
    Ok(())
}

/// The output formats of `recs recommend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutFormat {
    Csv,
    Jsonl,
    Parquet,
}

impl OutFormat {
    /// `--output-format`, else from the file name's extension.
    fn of(given: Option<&str>, out: &Path) -> Result<OutFormat, Error> {
        Ok(match given {
            Some("csv") => OutFormat::Csv,
            Some("jsonl") | Some("json") => OutFormat::Jsonl,
            Some("parquet") => OutFormat::Parquet,
            Some(other) => {
                return Err(Error::Data(format!(
                    "unknown --output-format `{other}`: expected csv, jsonl or parquet"
                )))
            }
            None => match out.extension().and_then(|e| e.to_str()) {
                Some("jsonl") | Some("json") => OutFormat::Jsonl,
                Some("parquet") | Some("pq") => OutFormat::Parquet,
                _ => OutFormat::Csv,
            },
        })
    }
}

type FileOut = std::io::BufWriter<std::fs::File>;

/// Where the lists go: text lines or a streaming Parquet writer.
enum Sink {
    Csv(FileOut),
    Jsonl(FileOut),
    #[cfg(feature = "stream")]
    Parquet(Box<recs::model::ListsParquetWriter<FileOut>>),
}

impl Sink {
    fn new(format: OutFormat, mut w: FileOut, tmp: &Path) -> Result<Sink, Error> {
        Ok(match format {
            OutFormat::Csv => {
                writeln!(w, "user,rank,item,score").map_err(|e| io_err(tmp, e))?;
                Sink::Csv(w)
            }
            OutFormat::Jsonl => Sink::Jsonl(w),
            #[cfg(feature = "stream")]
            OutFormat::Parquet => Sink::Parquet(Box::new(recs::model::ListsParquetWriter::new(w)?)),
            #[cfg(not(feature = "stream"))]
            OutFormat::Parquet => {
                return Err(Error::Data(
                    "Parquet output needs recs built with the `stream` feature (the default)"
                        .into(),
                ))
            }
        })
    }

    /// Writes one chunk of lists: `(raw user, [(raw item, score)])` in rank order.
    fn write(&mut self, lists: &[(i64, Vec<(i64, f32)>)], tmp: &Path) -> Result<(), Error> {
        match self {
            Sink::Csv(w) => {
                let mut buf = String::new();
                for (user, list) in lists {
                    for (rank, (item, score)) in list.iter().enumerate() {
                        buf.push_str(&format!("{user},{},{item},{score}\n", rank + 1));
                    }
                }
                w.write_all(buf.as_bytes()).map_err(|e| io_err(tmp, e))
            }
            Sink::Jsonl(w) => {
                let mut buf = String::new();
                for (user, list) in lists {
                    let items: Vec<i64> = list.iter().map(|&(i, _)| i).collect();
                    let scores: Vec<f32> = list.iter().map(|&(_, s)| s).collect();
                    let line = serde_json::json!({"user": user, "items": items, "scores": scores});
                    buf.push_str(&line.to_string());
                    buf.push('\n');
                }
                w.write_all(buf.as_bytes()).map_err(|e| io_err(tmp, e))
            }
            #[cfg(feature = "stream")]
            Sink::Parquet(w) => {
                let mut rows = recs::model::ListRows::default();
                for (user, list) in lists {
                    for (rank, &(item, score)) in list.iter().enumerate() {
                        rows.push(*user, rank as u32 + 1, item, score);
                    }
                }
                w.write(&rows)
            }
        }
    }

    /// Flushes everything (the Parquet footer too).
    fn finish(self, tmp: &Path) -> Result<(), Error> {
        let mut w = match self {
            Sink::Csv(w) | Sink::Jsonl(w) => w,
            #[cfg(feature = "stream")]
            Sink::Parquet(p) => p.finish()?,
        };
        w.flush().map_err(|e| io_err(tmp, e))
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
