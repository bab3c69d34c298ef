//! `recs retrain --every DURATION`: the gated retraining loop of `recs retrain`, run on a
//! schedule in one long-lived process. Each run re-reads the configuration (edits take effect
//! at the next run), a failed run (bad configuration, failed gate, unreachable server) is
//! logged and the loop goes on, and the last result is written as Prometheus metrics in the
//! node-exporter textfile format (`--metrics-file`), replaced atomically after every run.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Shortest accepted period: a loop faster than this is a configuration mistake.
pub const MIN_PERIOD: Duration = Duration::from_millis(100);

/// Parses `90`, `90s`, `15m`, `6h` or `1d` (a number of seconds, minutes, hours or days;
/// fractions allowed).
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let secs_per = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(format!("duration `{s}`: unit must be ms, s, m, h or d")),
    };
    let n: f64 = num.trim().parse().map_err(|_| {
        format!("duration `{s}`: expected a number then ms, s, m, h or d (e.g. 6h)")
    })?;
    let secs = n * secs_per;
    if !(secs.is_finite() && secs >= MIN_PERIOD.as_secs_f64() && secs <= 366.0 * 86_400.0) {
        return Err(format!(
            "duration `{s}` must be between {} ms and 366 days",
            MIN_PERIOD.as_millis()
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Counts of the loop, written after every run.
#[derive(Debug, Default)]
struct LoopState {
    runs: u64,
    failures: u64,
    last_exit_code: u8,
    last_run_unix: f64,
    last_success_unix: f64,
    last_duration_secs: f64,
}

impl LoopState {
    fn exposition(&self) -> String {
        format!(
            "# HELP recs_retrain_runs_total Scheduled retraining runs started.\n\
             # TYPE recs_retrain_runs_total counter\n\
             recs_retrain_runs_total {}\n\
             # HELP recs_retrain_failures_total Runs that ended with a non-zero exit code.\n\
             # TYPE recs_retrain_failures_total counter\n\
             recs_retrain_failures_total {}\n\
             # HELP recs_retrain_last_exit_code Exit code of the last run (0 published or nothing to do, 1 error, 2 data gate, 3 quality gate, 4 canary).\n\
             # TYPE recs_retrain_last_exit_code gauge\n\
             recs_retrain_last_exit_code {}\n\
             # HELP recs_retrain_last_run_timestamp_seconds Unix time the last run ended.\n\
             # TYPE recs_retrain_last_run_timestamp_seconds gauge\n\
             recs_retrain_last_run_timestamp_seconds {}\n\
             # HELP recs_retrain_last_success_timestamp_seconds Unix time the last successful run ended (0 = never).\n\
             # TYPE recs_retrain_last_success_timestamp_seconds gauge\n\
             recs_retrain_last_success_timestamp_seconds {}\n\
             # HELP recs_retrain_last_duration_seconds Wall time of the last run.\n\
             # TYPE recs_retrain_last_duration_seconds gauge\n\
             recs_retrain_last_duration_seconds {}\n",
            self.runs,
            self.failures,
            self.last_exit_code,
            self.last_run_unix,
            self.last_success_unix,
            self.last_duration_secs
        )
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Runs `once` every `period` (measured from the start of one run to the start of the next; a
/// run longer than the period is followed at once by the next), `max_runs` times or forever.
/// Returns the last run's exit code.
pub fn run_every(
    period: Duration,
    max_runs: Option<u64>,
    metrics_file: Option<&Path>,
    mut once: impl FnMut() -> u8,
) -> ExitCode {
    let mut state = LoopState::default();
    loop {
        let started = Instant::now();
        let code = once();
        state.runs += 1;
        state.last_exit_code = code;
        state.last_run_unix = unix_now();
        state.last_duration_secs = started.elapsed().as_secs_f64();
        if code == 0 {
            state.last_success_unix = state.last_run_unix;
        } else {
            state.failures += 1;
        }
        tracing::info!(
            "recs retrain: run {} ended with exit code {code}; {} failed so far",
            state.runs,
            state.failures
        );
        if let Some(path) = metrics_file {
            if let Err(e) = recs::model::write_atomic(path, state.exposition().as_bytes()) {
                // A full disk must not stop retraining; the next run tries again.
                tracing::error!("recs retrain: cannot write {}: {e}", path.display());
            }
        }
        if max_runs.is_some_and(|m| state.runs >= m) {
            return ExitCode::from(code);
        }
        std::thread::sleep(period.saturating_sub(started.elapsed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "h", "5x", "-1m", "10ms", "400d", "nan"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loop_survives_failures_and_writes_metrics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("retrain.prom");
        let mut codes = [3u8, 0, 1].into_iter();
        let mut calls = 0;
        let exit = run_every(MIN_PERIOD, Some(3), Some(&path), || {
            calls += 1;
            codes.next().unwrap_or(0)
        });
        assert_eq!(calls, 3);
        assert_eq!(exit, ExitCode::from(1));
        let text = std::fs::read_to_string(&path).expect("metrics file");
        assert!(text.contains("recs_retrain_runs_total 3\n"), "{text}");
        assert!(text.contains("recs_retrain_failures_total 2\n"), "{text}");
        assert!(text.contains("recs_retrain_last_exit_code 1\n"), "{text}");
        assert!(!text.contains("recs_retrain_last_success_timestamp_seconds 0\n"));
    }
}
