//! Evaluation speed: Popularity on all 6040 ML-1M users (NCF split) under P1 (full ranking,
//! training items excluded, K=10) and P2 (99 listed negatives). Skips without the data
//! (`RECS_DATA_DIR`, default `shared/data` beside the workspace).
//!
//! `cargo bench -p recs-benches --bench eval`

#[path = "../recs/tests/eval_support/ncf.rs"]
mod ncf;

use criterion::{criterion_group, criterion_main, Criterion};
use recs::eval::{EvalConfig, Evaluator, FullRanking, MetricKind, SampledCandidates};
use recs::model::{Fit, Popularity};

fn bench(c: &mut Criterion) {
    let dir = match ncf::ncf_dir() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("skipping: {why}");
            return;
        }
    };
    let (p1, p2) = ncf::load_p1_p2(&dir);
    let model = Popularity::params().fit(&p1.train).expect("fit");
    let cfg = EvalConfig::default()
        .ks([10])
        .metrics([MetricKind::Hr, MetricKind::Ndcg])
        .latency_users(0);
    let full = FullRanking::new().config(cfg.clone());
    let sampled = SampledCandidates::new(99, 0).config(cfg);

    // one evaluation with latency sampling, printed for the record
    let r = FullRanking::new()
        .config(EvalConfig::default().ks([10]))
        .evaluate(&model, &p1)
        .expect("evaluate");
    eprintln!("\n{}", r.to_markdown());

    let mut g = c.benchmark_group("eval");
    g.sample_size(10);
    g.bench_function("popularity_p1_full_ranking_6040_users", |b| {
        b.iter(|| full.evaluate(&model, &p1).expect("evaluate"))
    });
    g.bench_function("popularity_p2_sampled_99_6040_users", |b| {
        b.iter(|| sampled.evaluate(&model, &p2).expect("evaluate"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
