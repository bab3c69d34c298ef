//! `recs retrain --every`: the loop survives failed runs and reports the last result as metrics.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_recs");

#[test]
fn scheduled_retrain_survives_failed_runs_and_writes_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A configuration that fails every run (unknown field): each run ends with exit code 1.
    let config = dir.path().join("retrain.toml");
    std::fs::write(&config, "no_such_field = 1\n").expect("write");
    let metrics = dir.path().join("retrain.prom");
    let out = Command::new(BIN)
        .args(["retrain", "--every", "100ms", "--max-runs", "3", "--config"])
        .arg(&config)
        .arg("--metrics-file")
        .arg(&metrics)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("ended with exit code 1").count(),
        3,
        "{stderr}"
    );
    let text = std::fs::read_to_string(&metrics).expect("metrics file");
    assert!(text.contains("recs_retrain_runs_total 3\n"), "{text}");
    assert!(text.contains("recs_retrain_failures_total 3\n"), "{text}");
    assert!(
        text.contains("recs_retrain_last_success_timestamp_seconds 0\n"),
        "{text}"
    );

    let out = Command::new(BIN)
        .args(["retrain", "--every", "5x", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--every"));
}
