//! `recs experiment analyze`: the A/B decision of `recs::eval::experiment` on logged events
//! (`reco_response` with a `variant`, and `watch`), as the server's `GET /admin/experiment`
//! gives it live.

use std::io::BufRead;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use recs::eval::experiment::{analyze, arms_from_events, DecisionRule};
use recs::stream::{parse_line, Event};
use recs::util::{Line, LineReader, MAX_LINE_BYTES};

type CliResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Most events one analysis reads (memory bound: about 200 bytes each).
pub const MAX_EVENTS: usize = 20_000_000;

/// `recs experiment ...`
#[derive(Debug, Subcommand)]
pub enum ExperimentCmd {
    /// Statistics and a decision (ship B / keep A / keep running) from logged events: JSON lines
    /// or course log lines with `reco_response` (carrying `variant`) and `watch` events.
    Analyze(AnalyzeArgs),
}

/// Arguments of `recs experiment analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Event files (JSON lines and/or course log lines; .gz not supported; `-` is stdin).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Variant of the control arm.
    #[arg(long, default_value = "A")]
    control: String,
    /// Variant of the treatment arm.
    #[arg(long, default_value = "B")]
    treatment: String,
    /// Significance level.
    #[arg(long, default_value_t = DecisionRule::default().alpha)]
    alpha: f64,
    /// Power at the planned horizon.
    #[arg(long, default_value_t = DecisionRule::default().power)]
    power: f64,
    /// Smallest relative watch-rate lift to detect (0.1 = +10 %).
    #[arg(long, default_value_t = DecisionRule::default().min_detectable_lift)]
    min_lift: f64,
    /// Control watch rate to plan the horizon with (default: the observed one).
    #[arg(long)]
    baseline_rate: Option<f64>,
    /// Smallest sample per arm (recommended pairs).
    #[arg(long, default_value_t = DecisionRule::default().min_per_arm)]
    min_per_arm: u64,
    /// Tolerated latency increase of B in ms.
    #[arg(long, default_value_t = DecisionRule::default().max_latency_increase_ms)]
    max_latency_increase_ms: f64,
    /// Tolerated absolute error-rate increase of B.
    #[arg(long, default_value_t = DecisionRule::default().max_error_rate_increase)]
    max_error_rate_increase: f64,
    /// Skip lines that are not valid events (counted on stderr) instead of failing.
    #[arg(long)]
    skip_bad_lines: bool,
}

/// Runs `recs experiment`.
pub fn experiment(cmd: ExperimentCmd) -> CliResult {
    match cmd {
        ExperimentCmd::Analyze(args) => {
            let out = analyze_files(&args)?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
    }
}

fn analyze_files(args: &AnalyzeArgs) -> CliResult<serde_json::Value> {
    let rule = DecisionRule {
        alpha: args.alpha,
        power: args.power,
        min_detectable_lift: args.min_lift,
        baseline_rate: args.baseline_rate,
        min_per_arm: args.min_per_arm,
        max_latency_increase_ms: args.max_latency_increase_ms,
        max_error_rate_increase: args.max_error_rate_increase,
    };
    rule.check()?;
    let mut events: Vec<Event> = Vec::new();
    let mut skipped = 0u64;
    for path in &args.files {
        let name = path.display().to_string();
        let reader: Box<dyn BufRead> = if name == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let f = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
            Box::new(std::io::BufReader::new(f))
        };
        // Lines are read with the record limit, so memory stays bounded whatever the file holds.
        let mut lines = LineReader::new(reader, MAX_LINE_BYTES);
        let mut i = 0usize;
        while let Some(line) = lines
            .next_line()
            .map_err(|e| format!("{name}: line {}: {e}", i + 1))?
        {
            i += 1;
            let trimmed = match line {
                Line::Text { bytes, .. } => bytes.trim_ascii(),
                Line::TooLong { .. } if args.skip_bad_lines => {
                    skipped += 1;
                    continue;
                }
                Line::TooLong { len, .. } => {
                    return Err(format!(
                        "{name}: line {i}: line too long ({len} bytes, limit {MAX_LINE_BYTES})"
                    )
                    .into())
                }
            };
            if trimmed.is_empty() {
                continue;
            }
            match parse_line(trimmed) {
                Ok(e @ (Event::RecoResponse(_) | Event::Watch(_))) => {
                    if events.len() >= MAX_EVENTS {
                        return Err(format!(
                            "{name}: line {}: more than {MAX_EVENTS} events; analyze a shorter period",
                            i
                        )
                        .into());
                    }
                    events.push(e);
                }
                Ok(_) => {}
                Err(_) if args.skip_bad_lines => skipped += 1,
                Err(e) => return Err(format!("{name}: line {}: {e}", i).into()),
            }
        }
    }
    if skipped > 0 {
        tracing::warn!("skipped {skipped} invalid line(s)");
    }
    let arms = arms_from_events(&events);
    let get = |v: &str| {
        arms.get(v).ok_or_else(|| {
            format!(
                "no reco_response event with variant `{v}`; variants found: {}",
                arms.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let (a, b) = (get(&args.control)?, get(&args.treatment)?);
    let analysis = analyze(a, b, &rule)?;
    Ok(serde_json::json!({
        "control": { "variant": args.control, "stats": a },
        "treatment": { "variant": args.treatment, "stats": b },
        "decision": analysis.decision,
        "reason": analysis.reason,
        "analysis": analysis,
    }))
}
