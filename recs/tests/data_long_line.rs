//! A rating file with one huge line: `recs::data::load` refuses it with an error naming file,
//! line and length, without ever holding the line in memory.
//!
//! Alone in its own test binary (own process), so the peak-RSS figure (`VmHWM`) is this test's.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use recs::data::{load, Format, LoadOptions};

const LONG_LINE_BYTES: usize = 64 << 20;

/// A gzip CSV: two good ratings, one 64 MiB line (line 3), one more good rating. Written in
/// 64 KiB chunks, so writing it takes little memory; it compresses to well under 1 MiB.
fn write_gzip_with_long_line(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut gz = GzEncoder::new(std::io::BufWriter::new(file), Compression::fast());
    gz.write_all(b"1,10,4.0\n2,20,3.0\n").unwrap();
    let chunk = vec![b'9'; 64 << 10];
    for _ in 0..LONG_LINE_BYTES / chunk.len() {
        gz.write_all(&chunk).unwrap();
    }
    gz.write_all(b"\n3,30,5.0\n").unwrap();
    gz.finish().unwrap().flush().unwrap();
}

/// `(name, kB)` of a `/proc/self/status` field, Linux only.
fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_64_mib_line_fails_fast_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ratings.csv.gz");
    write_gzip_with_long_line(&path);
    assert!(std::fs::metadata(&path).unwrap().len() < 4 << 20);

    // Reset the peak-RSS mark (Linux ≥ 4.0: writing 5 to clear_refs), so the writer above does
    // not hide the loader's peak; where that is refused, the peak since start is compared.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = proc_status_kb("VmHWM:");

    let started = Instant::now();
    let err = load(
        &path,
        &Format::guess(&path),
        &LoadOptions {
            skip_bad_lines: true, // a too-long line is an error even when bad lines are skipped
            ..LoadOptions::default()
        },
    )
    .expect_err("a 64 MiB line must be refused")
    .to_string();
    let took = started.elapsed();

    let want = format!(
        "{}:3: field `line`: line too long ({LONG_LINE_BYTES} bytes, limit {})",
        path.display(),
        recs::util::MAX_LINE_BYTES
    );
    assert_eq!(err, want);
    // Decompressing and counting 64 MiB takes well under a second; reading it into a growing
    // buffer and parsing it would take longer, and a slow machine gets a wide margin.
    assert!(took < Duration::from_secs(20), "took {took:?}");

    if let (Some(before), Some(after)) = (before, proc_status_kb("VmHWM:")) {
        let growth_mib = (after.saturating_sub(before)) as f64 / 1024.0;
        eprintln!("VmHWM {before} kB -> {after} kB (+{growth_mib:.1} MiB), {took:?}");
        assert!(
            growth_mib < 16.0,
            "peak RSS grew by {growth_mib:.1} MiB reading a 64 MiB line"
        );
    } else {
        eprintln!("no /proc/self/status (not Linux): memory bound not checked");
    }
}
