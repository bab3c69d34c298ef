//! `recs experiment analyze` on logged events: the decision and its rule from the binary.

use std::io::Write;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_recs");

/// 2000 responses of 10 movies per arm (20 000 distinct pairs each, one user per response);
/// `watched_a` / `watched_b` of the pairs are watched after they were shown.
fn write_events(path: &Path, watched_a: usize, watched_b: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("events file"));
    for (arm, watched, first_user) in [("A", watched_a, 0), ("B", watched_b, 100_000)] {
        for r in 0..2000usize {
            let user = first_user + r;
            let movies: Vec<String> = (0..10).map(|m| format!("\"m{m}\"")).collect();
            writeln!(
                f,
                r#"{{"type":"reco_response","ts":{},"request_id":"{arm}{r}","user_id":{user},"status":200,"latency_ms":{},"k":10,"movie_ids":[{}],"variant":"{arm}"}}"#,
                1_000_000 + r,
                10.0 + (r % 7) as f64,
                movies.join(",")
            )
            .expect("write");
            for m in 0..10 {
                if r * 10 + m < watched {
                    writeln!(
                        f,
                        r#"{{"type":"watch","ts":{},"user_id":{user},"movie_id":"m{m}","minute":3}}"#,
                        2_000_000 + r
                    )
                    .expect("write");
                }
            }
        }
    }
    f.flush().expect("flush");
}

fn analyze(args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = Command::new(BIN)
        .args(["experiment", "analyze"])
        .args(args)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), json, stderr)
}

#[test]
fn logged_events_give_a_decision_with_its_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let win = dir.path().join("win.jsonl");
    // A: 10 % of 20 000 pairs watched, B: 13 %. Past the 14 751-pair horizon, z ≈ 9.4.
    write_events(&win, 2000, 2600);
    let path = win.to_str().expect("utf-8 path");
    let (ok, v, err) = analyze(&[path]);
    assert!(ok, "{err}");
    assert_eq!(v["decision"], "ship_b", "{v}");
    assert_eq!(v["control"]["stats"]["recommended"], 20_000);
    assert_eq!(v["treatment"]["stats"]["watched"], 2600);
    assert_eq!(v["analysis"]["required_per_arm"], 14_751);
    assert_eq!(v["analysis"]["watch_rate"]["p_a"], 0.1);
    assert_eq!(v["analysis"]["rule"]["power"], 0.8);

    // The same data under a larger planned sample: too early to decide.
    let (ok, v, err) = analyze(&[path, "--min-per-arm", "50000"]);
    assert!(ok, "{err}");
    assert_eq!(v["decision"], "keep_running", "{v}");

    // Arms swapped: the control is better, keep it.
    let (ok, v, err) = analyze(&[path, "--control", "B", "--treatment", "A"]);
    assert!(ok, "{err}");
    assert_eq!(v["decision"], "keep_a", "{v}");

    // Flat: 10 % against 10.1 %, no significant difference at the horizon.
    let flat = dir.path().join("flat.jsonl");
    write_events(&flat, 2000, 2020);
    let (ok, v, err) = analyze(&[flat.to_str().expect("utf-8 path")]);
    assert!(ok, "{err}");
    assert_eq!(v["decision"], "keep_a", "{v}");
}

#[test]
fn bad_input_names_the_file_line_and_variant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"type\":\"watch\",\"ts\":5,\"user_id\":1,\"movie_id\":\"m\",\"minute\":0}\n{oops\n",
    )
    .expect("write");
    let (ok, _, err) = analyze(&[bad.to_str().expect("utf-8 path")]);
    assert!(!ok);
    assert!(err.contains("bad.jsonl: line 2"), "{err}");
    let (ok, _, err) = analyze(&[bad.to_str().expect("utf-8 path"), "--skip-bad-lines"]);
    assert!(!ok);
    assert!(
        err.contains("no reco_response event with variant `A`"),
        "{err}"
    );
    let (ok, _, err) = analyze(&[bad.to_str().expect("utf-8 path"), "--alpha", "2"]);
    assert!(!ok);
    assert!(err.contains("alpha"), "{err}");
}

#[test]
fn an_over_long_line_is_refused_or_skipped_and_reading_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let long = dir.path().join("long.jsonl");
    // line 1 is 2 MiB (over the 1 MiB record limit), then the decisive events
    let mut text = format!("{}\n", "x".repeat(2 << 20));
    let events = dir.path().join("events.jsonl");
    write_events(&events, 2000, 2600);
    text.push_str(&std::fs::read_to_string(&events).expect("read"));
    std::fs::write(&long, text).expect("write");
    let path = long.to_str().expect("utf-8 path");
    let (ok, _, err) = analyze(&[path]);
    assert!(!ok);
    assert!(err.contains("long.jsonl: line 1: line too long"), "{err}");
    let (ok, v, err) = analyze(&[path, "--skip-bad-lines"]);
    assert!(ok, "{err}");
    assert_eq!(v["decision"], "ship_b", "{v}");
}
