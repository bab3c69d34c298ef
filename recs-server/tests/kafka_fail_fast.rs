//! `recs ingest --kafka` against a broker that is not there fails fast with a clear error
//! instead of retrying silently forever.
#![cfg(feature = "stream")]

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn unreachable_broker_fails_within_the_connect_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 1 on loopback: nothing listens, every connection attempt is refused.
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args([
            "ingest",
            "--kafka",
            "127.0.0.1:1",
            "--topics",
            "watch",
            "--out",
        ])
        .arg(dir.path().join("snap"))
        .output()
        .expect("runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("kafka 127.0.0.1:1"), "{stderr}");
    assert!(
        stderr.contains("no broker answered within 10 s"),
        "{stderr}"
    );
    // The connect timeout (10 s) plus process start, not a hang.
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
