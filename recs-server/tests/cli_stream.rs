//! `recs ingest` and `recs drift` through the binary: summaries, dead-letter reasons, resume,
//! stdin, the catalog, and drift exit codes (0 stable, 1 crossed, 2 error).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn recs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_recs"))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run recs");
    eprintln!(
        "recs {:?}: {}\nstdout: {}\nstderr: {}",
        cmd.get_args().collect::<Vec<_>>(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `n` events: user `i % users`, movie drawn from `movies`, ratings from `rating(i)`; every
/// 40th line a bad rating (11) and every 50th garbage (both under the 5 % default thresholds). Returns the text and the number of
/// valid lines, bad ratings and garbage lines.
fn events(
    n: usize,
    users: usize,
    movies: &[u32],
    rating: impl Fn(usize) -> u32,
) -> (String, usize, usize, usize) {
    let (mut s, mut valid, mut bad, mut garbage) = (String::new(), 0, 0, 0);
    for i in 0..n {
        let ts = format!(
            "2024-02-01T{:02}:{:02}:{:02}",
            i / 3600 % 24,
            i / 60 % 60,
            i % 60
        );
        let (u, m) = (i % users, movies[i * 7 % movies.len()]);
        if i % 50 == 49 {
            s += &format!("{ts},{u},this is no event\n");
            garbage += 1;
        } else if i % 40 == 39 {
            s += &format!("{ts},{u},GET /rate/{m}=11\n");
            bad += 1;
        } else if i % 3 == 0 {
            s += &format!(
                "{{\"type\":\"watch\",\"ts\":\"{ts}Z\",\"user_id\":{u},\"movie_id\":\"{m}\",\"minute\":{}}}\n",
                i % 90
            );
            valid += 1;
        } else {
            s += &format!("{ts},{u},GET /rate/{m}={}\n", rating(i));
            valid += 1;
        }
    }
    (s, valid, bad, garbage)
}

fn ingest_json(args: &[&str], dir: &Path) -> Value {
    let out = run(recs()
        .arg("ingest")
        .args(args)
        .arg("--out")
        .arg(dir)
        .arg("--json"));
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("ingest --json prints JSON")
}

#[test]
fn ingest_files_and_stdin_with_reasons_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let movies: Vec<u32> = (1..=30).collect();
    let (text, valid, bad, garbage) = events(200, 20, &movies, |i| 1 + (i % 5) as u32);
    let file = tmp.path().join("events.log");
    std::fs::write(&file, &text).unwrap();
    let dir = tmp.path().join("snap");
    let v = ingest_json(
        &[
            file.to_str().unwrap(),
            "--format",
            "csv",
            "--batch-size",
            "64",
        ],
        &dir,
    );
    let s = &v["summary"];
    let counts = &s["counts"];
    let n_valid = ["watch", "rate", "reco_request", "reco_response"]
        .iter()
        .map(|k| counts[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(n_valid as usize, valid);
    assert_eq!(
        counts["dead_letter"].as_u64().unwrap() as usize,
        bad + garbage
    );
    assert_eq!(v["records"].as_u64().unwrap(), 200);
    assert_eq!(
        s["reasons"]["invalid: rating"].as_u64().unwrap() as usize,
        bad
    );
    assert_eq!(
        s["reasons"]["parse: log line"].as_u64().unwrap() as usize,
        garbage
    );
    assert_eq!(
        s["batch_ids"].as_array().unwrap().len(),
        200usize.div_ceil(64)
    );
    let id = v["snapshot_set_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 16);

    // Re-running over the same file commits nothing new.
    let again = ingest_json(&[file.to_str().unwrap(), "--format", "csv"], &dir);
    assert_eq!(again["summary"]["already_committed"].as_u64().unwrap(), 200);
    assert_eq!(again["summary"]["batch_ids"].as_array().unwrap().len(), 0);
    assert_eq!(again["snapshot_set_id"].as_str().unwrap(), id);

    // Stdin, as member 1, with a catalog that knows only movies 1..=10: the rest are dead
    // letters naming the movie.
    let catalog = tmp.path().join("movies.txt");
    std::fs::write(
        &catalog,
        (1..=10).map(|m| format!("{m}\n")).collect::<String>(),
    )
    .unwrap();
    let mut child = recs()
        .args([
            "ingest",
            "-",
            "--format",
            "csv",
            "--member",
            "1/2",
            "--catalog",
        ])
        .arg(&catalog)
        .arg("--out")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success());
    let known = text
        .lines()
        .filter(|l| {
            let m = l
                .split("\"movie_id\":\"")
                .nth(1)
                .map(|r| r.split('"').next().unwrap_or(""))
                .or_else(|| {
                    l.split("/rate/")
                        .nth(1)
                        .and_then(|r| r.split('=').next())
                        .filter(|_| !l.ends_with("=11"))
                });
            m.and_then(|m| m.parse::<u32>().ok())
                .is_some_and(|m| m <= 10)
        })
        .count();
    assert!(known > 0 && known < valid);
    assert!(
        report.contains(&format!("valid events:  {known} ")),
        "{report}"
    );
    assert!(report.contains("invalid: movie_id"), "{report}");
    assert!(report.contains("member 1"), "{report}");
    assert!(report.contains("2 members"), "{report}");
}

#[test]
fn ingest_rejects_bad_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        vec!["ingest", "--format", "xml", "x.log"],
        vec!["ingest", "--member", "2/2", "x.log"],
        vec!["ingest"],
    ] {
        let out = run(recs().args(&args).arg("--out").arg(tmp.path()));
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

fn snapshot(dir: &Path, text: &str, format: &str) {
    let file = dir.with_extension("log");
    std::fs::write(&file, text).unwrap();
    let out = run(recs()
        .arg("ingest")
        .arg(&file)
        .args(["--format", format, "--out"])
        .arg(dir));
    assert!(out.status.success());
}

fn drift(a: &Path, b: &Path, extra: &[&str]) -> Output {
    run(recs().arg("drift").arg(a).arg(b).args(extra))
}

#[test]
fn drift_exit_codes_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let movies: Vec<u32> = (1..=40).collect();
    // A: high ratings; B: the same traffic with low ratings.
    let (high, ..) = events(400, 30, &movies, |i| 4 + (i % 2) as u32);
    let (low, ..) = events(400, 30, &movies, |i| 1 + (i % 2) as u32);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    snapshot(&a, &high, "csv");
    snapshot(&b, &low, "csv");

    // Identical data: nothing crossed, exit 0.
    let same = drift(&a, &a, &[]);
    assert_eq!(same.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&same.stdout).contains("no threshold crossed"));

    // Ratings moved by 3 stars: exit 1, JSON names the crossed check.
    let moved = drift(&a, &b, &["--json"]);
    assert_eq!(moved.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&moved.stdout).unwrap();
    let w = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == "rating" && c["measure"] == "wasserstein")
        .unwrap();
    assert!(w["crossed"].as_bool().unwrap());
    assert!((w["value"].as_f64().unwrap() - 3.0).abs() < 0.05, "{w}");
    let text = drift(&a, &b, &[]);
    assert_eq!(text.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&text.stdout).contains("!! rating"));

    // Thresholds raised above every value (file + flag): exit 0 again.
    let t = tmp.path().join("t.json");
    let loose = r#"{"psi": 1e9, "kl": 1e9, "wasserstein_rating": 1e9, "wasserstein_activity": 1e9,
        "new_user_rate": 1e9, "new_item_rate": 1e9, "malformed_ratio": 1e9}"#;
    std::fs::write(&t, loose).unwrap();
    let ok = drift(
        &a,
        &b,
        &[
            "--thresholds",
            t.to_str().unwrap(),
            "--threshold",
            "out_of_range_ratio=1e9",
        ],
    );
    assert_eq!(ok.status.code(), Some(0));
    // ... and one lowered back: exit 1.
    let strict = drift(
        &a,
        &b,
        &[
            "--thresholds",
            t.to_str().unwrap(),
            "--threshold",
            "out_of_range_ratio=1e9",
            "--threshold",
            "wasserstein_rating=0.5",
        ],
    );
    assert_eq!(strict.status.code(), Some(1));

    // Errors: exit 2.
    let missing = drift(&a, &tmp.path().join("nope"), &[]);
    assert_eq!(missing.status.code(), Some(2));
    let bad = drift(&a, &b, &["--threshold", "speed=1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown threshold"));
}

#[test]
fn drift_snapshot_against_training_file() {
    let tmp = tempfile::tempdir().unwrap();
    // The same ratings as a MovieLens file and as an ingested snapshot.
    let mut dat = String::new();
    let mut log = String::new();
    for i in 0..300u32 {
        let (u, m, r) = (1 + i % 25, 1 + (i * 7) % 60, 1 + (i * 3) % 5);
        let ts = 1_700_000_000 + i;
        dat += &format!("{u}::{m}::{r}::{ts}\n");
        log += &format!("{{\"type\":\"rate\",\"ts\":{ts},\"user_id\":{u},\"movie_id\":\"{m}\",\"rating\":{r}}}\n");
    }
    let ratings = tmp.path().join("ratings.dat");
    std::fs::write(&ratings, dat).unwrap();
    let snap = tmp.path().join("snap");
    snapshot(
        &snap,
        &log,
        if cfg!(feature = "stream") {
            "parquet"
        } else {
            "csv"
        },
    );
    for (a, b) in [(&ratings, &snap), (&snap, &ratings)] {
        let out = drift(a, b, &["--json"]);
        assert_eq!(out.status.code(), Some(0));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["a_records"], 300);
        assert_eq!(v["b_records"], 300);
        for c in v["checks"].as_array().unwrap() {
            if let Some(x) = c["value"].as_f64() {
                assert!(x.abs() < 1e-9, "{c}");
            }
        }
    }
}

/// A reader that stops early (`recs ingest ... | head -0`) must not make `recs` panic: it ends
/// quietly, killed by SIGPIPE like any Unix tool, and its work is done before it prints.
#[cfg(unix)]
#[test]
fn closed_stdout_ends_quietly_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let (text, valid, _, _) = events(200, 10, &[1, 2, 3], |i| (i % 5 + 1) as u32);
    let input = dir.path().join("events.log");
    std::fs::write(&input, text).unwrap();
    let out = dir.path().join("snap");
    let mut child = recs()
        .arg("ingest")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the child can print its summary.
    drop(child.stdout.take());
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(
        result.status.success() || result.status.signal() == Some(13), // SIGPIPE,
        "status {:?}, stderr: {stderr}",
        result.status
    );
    let set = recs::stream::SnapshotSet::open(&out).unwrap();
    assert_eq!(set.events().unwrap().len(), valid);
}
