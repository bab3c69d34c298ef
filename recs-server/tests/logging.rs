//! The `recs` binary logs through `tracing`: `--log-format json` writes one JSON object per
//! line on stderr, `RUST_LOG` sets the level, and an unknown format is refused.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_recs");

/// `recs drift` with an unknown threshold: an error, logged at ERROR, exit code 2.
fn failing_drift(log_args: &[&str], rust_log: Option<&str>) -> Output {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut cmd = Command::new(BIN);
    cmd.args(log_args)
        .arg("drift")
        .arg(dir.path().join("missing-a.csv"))
        .arg(dir.path().join("missing-b.csv"))
        .args(["--threshold", "bogus=1"]);
    match rust_log {
        Some(level) => cmd.env("RUST_LOG", level),
        None => cmd.env_remove("RUST_LOG"),
    };
    cmd.output().expect("the recs binary runs")
}

#[test]
fn json_lines_carry_level_and_message() {
    let out = failing_drift(&["--log-format", "json"], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no ERROR line in {stderr}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
    assert_eq!(v["level"], "ERROR", "{line}");
    assert!(v["timestamp"].is_string(), "{line}");
    let message = v["fields"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("unknown threshold `bogus`"), "{line}");
}

#[test]
fn text_is_the_default_and_rust_log_filters() {
    let out = failing_drift(&[], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR") && stderr.contains("unknown threshold `bogus`"),
        "{stderr}"
    );
    assert!(serde_json::from_str::<serde_json::Value>(stderr.trim()).is_err());
    let quiet = failing_drift(&[], Some("off"));
    assert_eq!(quiet.status.code(), Some(2));
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
}

#[test]
fn unknown_log_format_is_refused() {
    let out = failing_drift(&["--log-format", "xml"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown log format `xml`"));
}
