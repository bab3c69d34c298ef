//! Ingest speed: parse + validate + batch + write CSV snapshots (with manifest and sha256), no
//! broker, on 200 000 generated records (70 % watch log lines, 15 % rate log lines, 5 %
//! recommendation log lines, 9 % JSON events, 1 % invalid), and parse + validate alone.
//!
//! Run: `cargo bench -p recs-benches --bench ingest` (events/s = the `thrpt` line); add
//! `--features parquet` for the Parquet snapshot figure (`parse_validate_write_parquet`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use recs::stream::{ingest_reader, parse_line, IngestConfig, Rules, Validator};

const N: usize = 200_000;

fn lines() -> String {
    let mut s = String::with_capacity(N * 64);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..N {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let user = x % 50_000;
        let movie = (x >> 20) % 3_000;
        let ts = format!(
            "2024-02-01T12:{:02}:{:02}.{:03}",
            (i / 60_000) % 60,
            (i / 1000) % 60,
            i % 1000
        );
        let line = match x % 100 {
            0..=69 => format!("{ts},{user},GET /data/m/movie+{movie}+1999/{}.mpg", x % 120),
            70..=84 => format!("{ts},{user},GET /rate/movie+{movie}+1999={}", 1 + x % 5),
            85..=89 => format!(
                "{ts},{user},recommendation request 17645-team20.isri.cmu.edu:8082, status 200, result: m{movie}, m{}, m{}, 42 ms",
                movie + 1,
                movie + 2
            ),
            90..=98 => format!(
                r#"{{"type":"rate","ts":"{ts}Z","user_id":{user},"movie_id":"{movie}","rating":{}}}"#,
                1 + x % 5
            ),
            _ => format!("{ts},{user},GET /rate/movie+{movie}=9"),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s
}

fn bench_ingest(c: &mut Criterion) {
    let text = lines();
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("parse_validate", |b| {
        let v = Validator::new(Rules::default()).unwrap();
        b.iter(|| {
            text.lines()
                .filter(|l| parse_line(l.as_bytes()).is_ok_and(|e| v.check(&e).is_ok()))
                .count()
        })
    });
    g.bench_function("parse_validate_write_csv", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let s =
                ingest_reader("bench", text.as_bytes(), &IngestConfig::new(dir.path())).unwrap();
            assert_eq!(s.counts.valid() + s.counts.dead_letter, N as u64);
            s.counts.valid()
        })
    });
    #[cfg(feature = "parquet")]
    g.bench_function("parse_validate_write_parquet", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let config =
                IngestConfig::new(dir.path()).format(recs::stream::SnapshotFormat::Parquet);
            let s = ingest_reader("bench", text.as_bytes(), &config).unwrap();
            assert_eq!(s.counts.valid() + s.counts.dead_letter, N as u64);
            s.counts.valid()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
