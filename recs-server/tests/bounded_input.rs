//! Memory stays bounded by the record limit whatever the input (issue 17): one huge line in a
//! small gzip, on stdin, and appended to the file `recs serve --events-file` follows. The line is
//! one dead letter (`parse: line too long`, with its byte offset) and the lines after it are
//! ingested; the child's peak RSS (`VmHWM` of /proc/<pid>/status, Linux) stays under a bound.
//!
//! The line is `RECS_LONG_LINE_MB` MiB (default 256, so the suite stays fast in debug builds);
//! `scripts/bounded_input.sh` runs the same tests with 2048 (2 GiB) on the release binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{get, Server};

/// The ingest record limit (the default, 1 MiB).
const LIMIT: u64 = 1 << 20;
/// Peak RSS allowed: the limit plus a constant for the binary, its runtime, the 64 KiB line
/// buffers and the gzip read-ahead (4 chunks of 1 MiB). Measured peaks are printed.
const BOUND_KIB: u64 = (LIMIT + 60 * (1 << 20)) / 1024;

fn long_line_bytes() -> u64 {
    std::env::var("RECS_LONG_LINE_MB")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(256)
        << 20
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Waits for `child`, polling its peak RSS; returns (exit ok, peak KiB, stdout).
fn wait_with_peak(mut child: Child) -> (bool, u64, String) {
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let mut peak = 0;
    let status = loop {
        // VmHWM only grows: the last reading before exit is the peak.
        if let Some(k) = vm_hwm_kib(child.id()) {
            peak = peak.max(k);
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (status.success(), peak, reader.join().unwrap())
}

const BEFORE: &str = "2024-02-01T12:00:00,1,GET /rate/10=4\n";
const AFTER: &str = "2024-02-01T12:00:01,2,GET /rate/11=5\n2024-02-01T12:00:02,3,GET /rate/12=3\n";

/// Writes `len` bytes of `x` through `w` in 1 MiB pieces.
fn write_long(w: &mut impl Write, len: u64) {
    let chunk = vec![b'x'; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
}

fn check_summary(out: &str) {
    let v: Value = serde_json::from_str(out).unwrap();
    let s = &v["summary"];
    assert_eq!(s["counts"]["rate"].as_u64(), Some(3), "{out}");
    assert_eq!(s["counts"]["dead_letter"].as_u64(), Some(1), "{out}");
    assert_eq!(
        s["reasons"]["parse: line too long"].as_u64(),
        Some(1),
        "{out}"
    );
}

fn dead_letter_reason(dir: &Path) -> String {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with("dead_letter.jsonl") {
            let text = std::fs::read_to_string(&p).unwrap();
            let v: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            return v["reason"].as_str().unwrap().to_string();
        }
    }
    panic!("no dead-letter file in {}", dir.display());
}

#[test]
fn a_huge_line_in_a_small_gzip_is_one_dead_letter_in_bounded_memory() {
    if vm_hwm_kib(std::process::id()).is_none() {
        eprintln!("skipping: no /proc/<pid>/status (not Linux)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let long = long_line_bytes();
    // gzip members concatenate: one 64 MiB member of `x`, repeated, makes the long line
    // without compressing it whole (the file stays a few hundred KiB).
    let member = |bytes: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    };
    let piece = 64u64 << 20;
    let x = member(&vec![b'x'; piece as usize]);
    let path = tmp.path().join("events.log.gz");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    f.write_all(&member(BEFORE.as_bytes())).unwrap();
    for _ in 0..long / piece {
        f.write_all(&x).unwrap();
    }
    f.write_all(&member(&vec![b'x'; (long % piece) as usize]))
        .unwrap();
    f.write_all(&member(format!("\n{AFTER}").as_bytes()))
        .unwrap();
    f.flush().unwrap();
    drop(f);
    let gz_len = std::fs::metadata(&path).unwrap().len();
    let out = tmp.path().join("snap");
    let t0 = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_recs"))
        .arg("ingest")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (ok, peak, stdout) = wait_with_peak(child);
    eprintln!(
        "gzip of {gz_len} bytes holding a {} MiB line: ingested in {:.1} s, peak RSS {:.1} MiB",
        long >> 20,
        t0.elapsed().as_secs_f64(),
        peak as f64 / 1024.0
    );
    assert!(ok, "{stdout}");
    check_summary(&stdout);
    let reason = dead_letter_reason(&out);
    assert_eq!(
        reason,
        format!(
            "parse: line too long: {long} bytes at byte offset {}, limit {LIMIT}",
            BEFORE.len()
        )
    );
    assert!(peak < BOUND_KIB, "peak RSS {peak} KiB over {BOUND_KIB} KiB");
}

#[test]
fn a_huge_line_on_stdin_is_one_dead_letter_in_bounded_memory() {
    if vm_hwm_kib(std::process::id()).is_none() {
        eprintln!("skipping: no /proc/<pid>/status (not Linux)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let long = long_line_bytes();
    let out = tmp.path().join("snap");
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args(["ingest", "-", "--json", "--out"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(BEFORE.as_bytes()).unwrap();
        write_long(&mut stdin, long);
        stdin.write_all(b"\n").unwrap();
        stdin.write_all(AFTER.as_bytes()).unwrap();
    });
    let (ok, peak, stdout) = wait_with_peak(child);
    writer.join().unwrap();
    eprintln!(
        "stdin with a {} MiB line: ingested in {:.1} s, peak RSS {:.1} MiB",
        long >> 20,
        t0.elapsed().as_secs_f64(),
        peak as f64 / 1024.0
    );
    assert!(ok, "{stdout}");
    check_summary(&stdout);
    assert!(dead_letter_reason(&out).starts_with(&format!("parse: line too long: {long} bytes")));
    assert!(peak < BOUND_KIB, "peak RSS {peak} KiB over {BOUND_KIB} KiB");
}

// The followed events file of `recs serve`.

#[test]
fn a_huge_line_appended_to_the_followed_events_file_is_skipped_in_bounded_memory() {
    if vm_hwm_kib(std::process::id()).is_none() {
        eprintln!("skipping: no /proc/<pid>/status (not Linux)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A popularity model over a tiny MovieLens file: enough to serve.
    let ratings = tmp.path().join("ratings.dat");
    let mut s = String::new();
    for u in 1..=20u32 {
        for m in 1..=8u32 {
            s += &format!(
                "{u}::{}::4::{}\n",
                (u + m) % 12 + 1,
                978_300_000 + u * 10 + m
            );
        }
    }
    std::fs::write(&ratings, s).unwrap();
    let (ds, _) = recs::data::load(
        &ratings,
        &recs::data::Format::guess(&ratings),
        &recs::data::LoadOptions::default(),
    )
    .unwrap();
    use recs::model::Fit;
    let model: recs::model::AnyModel = recs::model::Popularity::params()
        .fit(&ds.interactions)
        .unwrap()
        .into();
    let reg = recs::registry::LocalRegistry::open(tmp.path().join("registry")).unwrap();
    recs::registry::publish_model(
        &reg,
        &model,
        recs::registry::NewVersion::new("popularity").promote(true),
    )
    .unwrap();
    let events = tmp.path().join("events.log");
    std::fs::write(&events, "").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args(["serve", "--addr", "127.0.0.1:0", "--registry"])
        .arg(tmp.path().join("registry"))
        .arg("--data")
        .arg(&ratings)
        .arg("--events-file")
        .arg(&events)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let pid = child.id();
    let _server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("server: {line}");
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        if let Some(a) = line.split("listening on http://").nth(1) {
            break a.trim().to_string();
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&addr, "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "server never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = vm_hwm_kib(pid).unwrap();
    let long = long_line_bytes();
    let t0 = Instant::now();
    let mut f = std::io::BufWriter::new(
        std::fs::OpenOptions::new()
            .append(true)
            .open(&events)
            .unwrap(),
    );
    write_long(&mut f, long);
    // A watch of a new user after the long line: folded in once the long line is skipped.
    writeln!(f).unwrap();
    writeln!(f, "2024-02-01T12:00:00,999,GET /data/m/3/0.mpg").unwrap();
    f.flush().unwrap();
    drop(f);
    let skipped = loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        if line.contains("line too long") {
            break line;
        }
    };
    assert!(
        skipped.contains(&format!("{long} bytes at byte offset 0")),
        "{skipped}"
    );
    // The line after it is read: the new user's answer is folded in (no longer cold start).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = get(&addr, "/recommend/999?k=5");
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        if v["cold_start"] == Value::Bool(false) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the line after the long one was not read: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let peak = vm_hwm_kib(pid).unwrap();
    eprintln!(
        "followed file + {} MiB line: skipped in {:.1} s, peak RSS {:.1} MiB (before {:.1} MiB)",
        long >> 20,
        t0.elapsed().as_secs_f64(),
        peak as f64 / 1024.0,
        before as f64 / 1024.0
    );
    assert!(
        peak < before + (LIMIT + 16 * (1 << 20)) / 1024,
        "peak RSS {peak} KiB, before {before} KiB"
    );
}
