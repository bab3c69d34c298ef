//! Loading speed: ML-1M `ratings_uir.dat.gz` (1,000,209 lines, gzip) through the MovieLens
//! loader, the same bytes decompressed only, and the synthetic generator at 1M interactions.
//!
//! Data: `RECS_DATA_DIR` or `../shared/data` relative to the workspace; the file benchmarks are
//! skipped with a message when it is absent.
//!
//! Run: `cargo bench -p recs-benches --bench load` (`RECS_BENCH_LARGE=1` adds 20M synthetic
//! interactions in the ML-20M shape).

use std::io::Read;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use recs::data::synth::SynthParams;
use recs::data::{load_movielens_ratings, open, LoadOptions};

fn data_dir() -> PathBuf {
    std::env::var_os("RECS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

fn bench_files(c: &mut Criterion) {
    let path = data_dir().join("ml-1m/ratings_uir.dat.gz");
    if !path.exists() {
        eprintln!("skipping: {} not found (set RECS_DATA_DIR)", path.display());
        return;
    }
    let mut g = c.benchmark_group("ml1m");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_000_209));
    g.bench_function("gunzip_only", |b| {
        b.iter(|| {
            let mut buf = Vec::new();
            open(&path).unwrap().read_to_end(&mut buf).unwrap();
            buf.len()
        })
    });
    g.bench_function("load_movielens_ratings", |b| {
        b.iter(|| {
            let (d, _) = load_movielens_ratings(&path, &LoadOptions::default()).unwrap();
            d.interactions.nnz()
        })
    });
    g.finish();
}

fn bench_synth(c: &mut Criterion) {
    let mut g = c.benchmark_group("synth");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_000_209));
    g.bench_function("ml1m_shape_1M", |b| {
        b.iter(|| SynthParams::ml1m().generate().unwrap().interactions.nnz())
    });
    g.finish();
    if std::env::var_os("RECS_BENCH_LARGE").is_none() {
        eprintln!("skipping: synth/ml20m_shape_20M (set RECS_BENCH_LARGE=1 to run it)");
        return;
    }
    let mut g = c.benchmark_group("synth");
    g.sample_size(10);
    g.throughput(Throughput::Elements(20_000_263));
    g.bench_function("ml20m_shape_20M", |b| {
        b.iter(|| {
            SynthParams::new(138_493, 26_744, 20_000_263)
                .generate()
                .unwrap()
                .interactions
                .nnz()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_files, bench_synth);
criterion_main!(benches);
