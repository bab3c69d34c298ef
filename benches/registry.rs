//! Registry benchmarks: publishing and loading an ALS-sized model (ML-1M: (6040 + 3706) × 64
//! f32 factors ≈ 2.5 MB) through the local registry. Target: load < 50 ms.
//!
//! Until ALS lands, the model is a Popularity over 650 000 items (2.6 MB of f32), which goes
//! through the same path: read, registry sha256 check, model-header sha256 check, decode.
//!
//! `cargo bench -p recs-benches --bench registry`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use recs::model::{AnyModel, Fit, Popularity};
use recs::registry::{self, DeleteGuard, LocalRegistry, NewVersion, Registry};

const ITEMS: usize = 650_000;

fn model() -> AnyModel {
    Popularity::params()
        .fit(&recs::data::Interactions::empty(1, ITEMS))
        .unwrap()
        .into()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::open(dir.path()).unwrap();
    let model = model();
    let bytes = model.to_bytes().unwrap();
    let meta = registry::publish_model(&reg, &model, NewVersion::new("")).unwrap();
    reg.set_latest(&meta.version).unwrap();

    let mut g = c.benchmark_group("registry");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(30);
    g.bench_function("load_model_2.6MB", |b| {
        b.iter(|| black_box(registry::load_model(&reg, &meta.version).unwrap()))
    });
    g.bench_function("load_latest_2.6MB", |b| {
        b.iter(|| black_box(registry::load_latest(&reg).unwrap()))
    });
    g.bench_function("load_bytes_2.6MB", |b| {
        b.iter(|| black_box(reg.load_bytes(&meta.version).unwrap()))
    });
    // Each published version is deleted again outside the timed part, so that the benchmark
    // does not fill the disk.
    g.bench_function("publish_2.6MB", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let m = reg
                    .publish_bytes(&bytes, NewVersion::new("popularity"))
                    .unwrap();
                total += start.elapsed();
                reg.delete(&m.version, &DeleteGuard::new()).unwrap();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
