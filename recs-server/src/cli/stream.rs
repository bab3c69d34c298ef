//! `recs ingest` (events from files, stdin or Kafka into validated snapshots) and `recs drift`
//! (data-quality and drift report between two snapshots or training files, exit code 1 when a
//! threshold is crossed, so a retrain pipeline can gate on it).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use recs::stream::{
    ingest_files, Catalog, DriftReport, IngestConfig, IngestSummary, Profile, Rules,
    SnapshotFormat, SnapshotSet, SnapshotStore, Thresholds,
};
use recs::Error;

type CliResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Snapshot format when `--format` is not given: Parquet when built with it (feature `stream`).
#[cfg(feature = "stream")]
const DEFAULT_FORMAT: &str = "parquet";
#[cfg(not(feature = "stream"))]
const DEFAULT_FORMAT: &str = "csv";

/// Arguments of `recs ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Event files: JSON lines and/or course log lines, mixed freely (.gz ok); `-` reads
    /// stdin. Re-running over a file resumes after its committed lines.
    #[arg(conflicts_with = "kafka")]
    files: Vec<PathBuf>,
    /// Consume Kafka instead of files: bootstrap broker(s), host:port[,host:port].
    #[arg(long, requires = "topics")]
    kafka: Option<String>,
    /// Kafka topics, comma-separated (without the prefix).
    #[arg(long, value_delimiter = ',')]
    topics: Vec<String>,
    /// Per-team prefix put before every topic name.
    #[arg(long, default_value = "")]
    prefix: String,
    /// This process's place in the group, `i/n`: with Kafka it consumes the partitions
    /// `p % n == i` of every topic; the snapshot files and manifest are named after `i`.
    #[arg(long, default_value = "0/1")]
    member: String,
    /// Kafka: join consumer group NAME instead of `--member` (needs the `kafka-group` build):
    /// processes with the same group and `--out` share the partitions, the broker moves them
    /// when one joins, leaves or dies, and together they write every record exactly once. Each
    /// writes as member `NAME-<k>`, the lowest slot no live process holds.
    #[arg(long, requires = "kafka", value_name = "NAME")]
    group: Option<String>,
    /// With `--group`: a librdkafka consumer setting, KEY=VALUE (repeatable), e.g.
    /// `--kafka-option session.timeout.ms=6000`.
    #[arg(long = "kafka-option", requires = "group", value_name = "KEY=VALUE")]
    kafka_option: Vec<String>,
    /// With `--group`: stop after this many records (valid + dead letters) in this run.
    #[arg(long, requires = "group", value_name = "N")]
    max_records: Option<u64>,
    /// Kafka: stop after this many seconds without a new record (default: run until killed;
    /// a restart resumes at the committed offsets).
    #[arg(long)]
    idle_exit: Option<f64>,
    /// Snapshot location: a directory, or `s3://bucket/prefix` (recs-server built with cargo
    /// feature `s3`; the client reads the standard `AWS_*` variables, e.g. `AWS_ENDPOINT` and
    /// `AWS_ALLOW_HTTP=true` for an S3-compatible server).
    #[arg(long, short, default_value = "snapshots")]
    out: String,
    /// Snapshot file format: csv or parquet.
    #[arg(long, default_value = DEFAULT_FORMAT)]
    format: String,
    /// Records (valid + dead letters) per committed batch.
    #[arg(long, default_value_t = 50_000)]
    batch_size: usize,
    /// Known movie ids: ML-1M movies.dat, ML-100K u.item, or a text file with one id per line
    /// (first field of `,` `\t` `|` `::` separated lines; `#` comments). Events naming other
    /// movies become dead letters.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `recs drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Reference: a snapshot directory or `s3://bucket/prefix` (feature `s3`), or a training
    /// data file (ratings.dat, u.data, CSV, ...).
    a: String,
    /// Current: a snapshot directory, `s3://bucket/prefix`, or a training data file.
    b: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Thresholds from a JSON file (fields of `recs::stream::Thresholds`; missing ones keep
    /// their defaults).
    #[arg(long)]
    thresholds: Option<PathBuf>,
    /// Override one threshold, NAME=VALUE (repeatable), e.g. `--threshold psi=0.1`. Names:
    /// psi, kl, wasserstein_rating, wasserstein_activity, new_user_rate, new_item_rate,
    /// malformed_ratio, out_of_range_ratio.
    #[arg(long = "threshold", value_name = "NAME=VALUE")]
    threshold: Vec<String>,
}

/// Real-time fold-in flags of `recs serve` (override the config file's `live` section).
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Fold in rate/watch events from Kafka: bootstrap broker(s), host:port[,host:port].
    #[arg(long)]
    events_kafka: Option<String>,
    /// Kafka topics of the events, comma-separated (default watch,rate).
    #[arg(long, value_delimiter = ',')]
    events_topics: Vec<String>,
    /// Per-team prefix of the event topics.
    #[arg(long)]
    events_prefix: Option<String>,
    /// Read the event topics from the `earliest` record or only new ones (`latest`).
    #[arg(long)]
    events_from: Option<String>,
    /// Fold in rate/watch events from a file, followed as `tail -f` does, or `-` for stdin.
    #[arg(long)]
    events_file: Option<PathBuf>,
    /// Also fold in the watch events of `POST /events`.
    #[arg(long)]
    fold_in_posted: bool,
    /// Most users tracked by the fold-in (least recently updated evicted first).
    #[arg(long)]
    fold_in_max_users: Option<usize>,
}

impl LiveArgs {
    /// Writes the given flags into `live`.
    pub fn apply(self, live: &mut recs_server::foldin::LiveConfig) {
        if let Some(k) = self.events_kafka {
            live.kafka = Some(k);
        }
        if !self.events_topics.is_empty() {
            live.topics = self.events_topics;
        }
        if let Some(p) = self.events_prefix {
            live.prefix = p;
        }
        if let Some(f) = self.events_from {
            live.from = f;
        }
        if let Some(f) = self.events_file {
            live.file = Some(f);
        }
        if self.fold_in_posted {
            live.posted = true;
        }
        if let Some(n) = self.fold_in_max_users {
            live.max_users = n;
        }
    }
}

/// `recs ingest`.
pub fn ingest(args: IngestArgs) -> CliResult {
    let (member, members) = parse_member(&args.member)?;
    let format: SnapshotFormat = args.format.parse()?;
    let mut rules = Rules::default();
    if let Some(path) = &args.catalog {
        let ids = read_catalog(path)?;
        tracing::info!(
            "catalog: {} known movie ids from {}",
            ids.len(),
            path.display()
        );
        rules.catalog = Catalog::default().movies(ids);
    }
    let store = SnapshotStore::parse(&args.out)?;
    let config = IngestConfig::at(&store)
        .member(member.to_string())
        .batch_size(args.batch_size)
        .format(format)
        .rules(rules);
    let source;
    let mut member_name = member.to_string();
    let summary = match &args.kafka {
        Some(broker) if args.group.is_some() => {
            let g = ingest_group(broker, &args, &config)?;
            source = format!(
                "kafka {broker} topics {} group {} ({} partitions held, {} assignments)",
                args.topics.join(","),
                args.group.as_deref().unwrap_or_default(),
                g.partitions,
                g.assignments
            );
            member_name = g.member;
            g.ingest
        }
        Some(broker) => {
            source = format!("kafka {broker} topics {}", args.topics.join(","));
            ingest_kafka(broker, &args, member, members, &config)?
        }
        None => {
            if args.files.is_empty() {
                return Err(
                    "give event files (or `-` for stdin), or --kafka BROKER --topics T".into(),
                );
            }
            source = format!("{} file(s)", args.files.len());
            let paths: Vec<&Path> = args.files.iter().map(PathBuf::as_path).collect();
            ingest_files(&paths, &config)?
        }
    };
    let set = SnapshotSet::open(&store)?;
    if args.json {
        let v = serde_json::json!({
            "dir": args.out,
            "member": member_name,
            "format": format,
            "summary": summary,
            "records": summary.counts.valid() + summary.counts.dead_letter,
            "snapshot_set_id": set.id(),
            "set_counts": set.counts(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| Error::Serde(e.to_string()))?
        );
    } else {
        print!(
            "{}",
            summary_text(&summary, &source, &store, &member_name, format, &set)
        );
    }
    Ok(())
}

fn summary_text(
    s: &IngestSummary,
    source: &str,
    dir: &SnapshotStore,
    member: &str,
    format: SnapshotFormat,
    set: &SnapshotSet,
) -> String {
    use std::fmt::Write;
    let c = &s.counts;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ingested {} records from {source} into {} (member {member}, {})",
        c.valid() + c.dead_letter,
        dir,
        if format == SnapshotFormat::Parquet {
            "parquet"
        } else {
            "csv"
        }
    );
    let _ = writeln!(
        out,
        "  valid events:  {} (watch {}, rate {}, reco_request {}, reco_response {})",
        c.valid(),
        c.watch,
        c.rate,
        c.reco_request,
        c.reco_response
    );
    let _ = writeln!(out, "  dead letters:  {}", c.dead_letter);
    for (reason, n) in &s.reasons {
        let _ = writeln!(out, "    {n:>8}  {reason}");
    }
    if s.already_committed > 0 || s.blank > 0 {
        let _ = writeln!(
            out,
            "  skipped:       {} already committed, {} blank lines",
            s.already_committed, s.blank
        );
    }
    let ids = match (s.batch_ids.first(), s.batch_ids.last()) {
        (Some(a), Some(b)) if a == b => format!("batch {a}"),
        (Some(a), Some(b)) => format!("batches {a}..={b}"),
        _ => "no new batch".to_string(),
    };
    let _ = writeln!(out, "  committed:     {ids} of member {member}");
    let total = set.counts();
    let _ = writeln!(
        out,
        "  snapshot set:  id {} ({} members, {} valid events, {} dead letters in all)",
        set.id(),
        set.manifests().len(),
        total.valid(),
        total.dead_letter
    );
    out
}

/// What `--group` reports back (without depending on the `kafka-group` types).
struct GroupRun {
    member: String,
    partitions: usize,
    assignments: u64,
    ingest: IngestSummary,
}

fn idle_exit(args: &IngestArgs) -> CliResult<Option<std::time::Duration>> {
    match args.idle_exit {
        Some(s) if s.is_finite() && s > 0.0 => Ok(Some(std::time::Duration::from_secs_f64(s))),
        Some(s) => Err(format!("--idle-exit must be > 0 seconds, got {s}").into()),
        None => Ok(None),
    }
}

#[cfg(feature = "kafka-group")]
fn ingest_group(broker: &str, args: &IngestArgs, config: &IngestConfig) -> CliResult<GroupRun> {
    use recs::stream::kafka_group::GroupConfig;
    let mut g = GroupConfig::new(
        broker,
        args.topics.iter().cloned(),
        args.group.clone().unwrap_or_default(),
    )
    .prefix(args.prefix.clone())
    .idle_exit(idle_exit(args)?)
    .max_records(args.max_records);
    for kv in &args.kafka_option {
        let (k, v) = kv
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| format!("--kafka-option: expected KEY=VALUE, got `{kv}`"))?;
        g = g.option(k.trim(), v.trim());
    }
    let s = recs::stream::kafka_group::ingest_group(&g, config)?;
    Ok(GroupRun {
        member: s.member,
        partitions: s.partitions.len(),
        assignments: s.assignments,
        ingest: s.ingest,
    })
}

#[cfg(not(feature = "kafka-group"))]
fn ingest_group(_broker: &str, _args: &IngestArgs, _config: &IngestConfig) -> CliResult<GroupRun> {
    Err("this recs was built without Kafka consumer groups (--group): rebuild with \
         `cargo build -p recs-server --features kafka-group` (builds librdkafka, needs a C compiler)"
        .into())
}

#[cfg(feature = "stream")]
fn ingest_kafka(
    broker: &str,
    args: &IngestArgs,
    member: u32,
    members: u32,
    config: &IngestConfig,
) -> CliResult<IngestSummary> {
    use recs::stream::kafka::KafkaConfig;
    let idle = idle_exit(args)?;
    let kafka = KafkaConfig::new(broker, args.topics.iter().cloned())
        .prefix(args.prefix.clone())
        .member(member, members)
        .idle_exit(idle);
    Ok(recs::stream::kafka::ingest_kafka(&kafka, config)?)
}

#[cfg(not(feature = "stream"))]
fn ingest_kafka(
    _broker: &str,
    _args: &IngestArgs,
    _member: u32,
    _members: u32,
    _config: &IngestConfig,
) -> CliResult<IngestSummary> {
    Err("this recs was built without Kafka support (cargo feature `stream` of recs-server)".into())
}

/// `i/n` with `i < n`.
fn parse_member(s: &str) -> CliResult<(u32, u32)> {
    let bad = || format!("--member: expected i/n with 0 <= i < n, got `{s}`");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let i: u32 = i.trim().parse().map_err(|_| bad())?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || i >= n {
        return Err(bad().into());
    }
    Ok((i, n))
}

/// Movie ids of a catalog file (see [`IngestArgs::catalog`]).
fn read_catalog(path: &Path) -> CliResult<HashSet<String>> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "u.item" {
        return Ok(recs::data::load_ml100k_items(path)?
            .iter()
            .map(|m| m.id.to_string())
            .collect());
    }
    if name.starts_with("movies.dat") {
        return Ok(recs::data::load_movies(path)?
            .iter()
            .map(|m| m.id.to_string())
            .collect());
    }
    let text = recs::util::read_small_text(path, recs::util::SMALL_FILE_MAX_BYTES)?;
    let ids: HashSet<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let end = l
                .find("::")
                .into_iter()
                .chain(l.find([',', '\t', '|']))
                .min()
                .unwrap_or(l.len());
            let id = l[..end].trim();
            (!id.is_empty()).then(|| id.to_string())
        })
        .collect();
    if ids.is_empty() {
        return Err(format!("{}: no movie ids in the catalog file", path.display()).into());
    }
    Ok(ids)
}

/// `recs drift`: exit 0 when no threshold is crossed, 1 when one is, 2 on an error.
pub fn drift(args: DriftArgs) -> ExitCode {
    match drift_report(&args) {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            if report.crossed() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(2)
        }
    }
}

fn drift_report(args: &DriftArgs) -> CliResult<DriftReport> {
    let t = thresholds(args.thresholds.as_deref(), &args.threshold)?;
    let a = Profile::from_location(&args.a)?;
    let b = Profile::from_location(&args.b)?;
    Ok(DriftReport::compare(&a, &b, &t))
}

/// Defaults, overlaid with the fields of `file`, then with `NAME=VALUE` overrides.
fn thresholds(file: Option<&Path>, overrides: &[String]) -> CliResult<Thresholds> {
    let ser = |e: serde_json::Error| Error::Serde(e.to_string());
    let mut v = serde_json::to_value(Thresholds::default()).map_err(ser)?;
    let known: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let mut set = |name: &str, value: serde_json::Value, from: &str| -> CliResult {
        if !known.iter().any(|k| k == name) {
            return Err(format!(
                "{from}: unknown threshold `{name}`; known: {}",
                known.join(", ")
            )
            .into());
        }
        if !value.as_f64().is_some_and(|x| x.is_finite() && x >= 0.0) {
            return Err(
                format!("{from}: threshold `{name}` must be a number >= 0, got {value}").into(),
            );
        }
        if let Some(o) = v.as_object_mut() {
            o.insert(name.to_string(), value);
        }
        Ok(())
    };
    if let Some(path) = file {
        let text = recs::util::read_small_text(path, recs::util::SMALL_FILE_MAX_BYTES)?;
        let obj: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).map_err(|e| {
                format!(
                    "{}: expected a JSON object of thresholds: {e}",
                    path.display()
                )
            })?;
        for (k, x) in obj {
            set(&k, x, &path.display().to_string())?;
        }
    }
    for o in overrides {
        let (name, value) = o
            .split_once('=')
            .ok_or_else(|| format!("--threshold: expected NAME=VALUE, got `{o}`"))?;
        let x: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("--threshold {o}: `{value}` is not a number"))?;
        let num = serde_json::Number::from_f64(x)
            .ok_or_else(|| format!("--threshold {o}: must be finite"))?;
        set(name.trim(), serde_json::Value::Number(num), "--threshold")?;
    }
    Ok(serde_json::from_value(v).map_err(ser)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_spec() {
        assert_eq!(parse_member("1/3").unwrap(), (1, 3));
        for bad in ["3/3", "0/0", "1", "a/b", "-1/2"] {
            assert!(parse_member(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn thresholds_overlay_file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.json");
        std::fs::write(&f, r#"{"psi": 0.5, "kl": 0.3}"#).unwrap();
        let t = thresholds(Some(&f), &["kl=0.01".into()]).unwrap();
        assert_eq!(t.psi, 0.5);
        assert_eq!(t.kl, 0.01);
        assert_eq!(t.new_item_rate, Thresholds::default().new_item_rate);
        assert!(thresholds(None, &["nope=1".into()]).is_err());
        assert!(thresholds(None, &["psi=-1".into()]).is_err());
        assert!(thresholds(None, &["psi".into()]).is_err());
        std::fs::write(&f, r#"{"psi": "high"}"#).unwrap();
        assert!(thresholds(Some(&f), &[]).is_err());
    }

    #[test]
    fn catalog_text_file_first_fields() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ids.txt");
        std::fs::write(&f, "# ids\n1\n2,Toy Story\nthe+matrix+1999\tx\n3::A::B\n\n").unwrap();
        let ids = read_catalog(&f).unwrap();
        let mut v: Vec<&str> = ids.iter().map(String::as_str).collect();
        v.sort_unstable();
        assert_eq!(v, ["1", "2", "3", "the+matrix+1999"]);
    }
}
