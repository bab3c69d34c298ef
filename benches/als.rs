//! ALS and BPR speed on synthetic MovieLens-shaped data: the kernels (Gram matrix `YᵀY`; one
//! ALS iteration with 1 and with 3 conjugate-gradient steps per row, half the difference being
//! one CG step over all users and items; top-k selection; `recommend_all_users`, top 10 for
//! all 6040 users by blocked GEMM) and whole fits on 1M and 5M interactions (20M with
//! `RECS_BENCH_20M=1`: minutes per sample).
//!
//! `cargo bench -p recs-benches --bench als` (set `RAYON_NUM_THREADS` to fix the thread count).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use recs::data::synth::SynthParams;
use recs::data::Interactions;
use recs::model::{gram, select, top_k_dense, Als, AlsSolver, Bpr, Fit, RecOpts, Recommender};

/// Binary synthetic interactions: `users × items`, `nnz` interactions.
fn synthetic(users: usize, items: usize, nnz: usize) -> Interactions {
    SynthParams::new(users, items, nnz)
        .seed(1)
        .generate()
        .expect("synthetic data")
        .interactions
        .binarized()
}

fn kernels(c: &mut Criterion) {
    let train = synthetic(6040, 3706, 1_000_209);
    let mut g = c.benchmark_group("als_kernels");
    g.sample_size(10);
    for k in [64usize, 128] {
        let model = Als::params()
            .factors(k)
            .iterations(1)
            .fit(&train)
            .expect("fit");
        g.bench_with_input(BenchmarkId::new("gram_6040_users", k), &model, |b, m| {
            b.iter(|| gram(m.user_factors(), k))
        });
        // One ALS iteration (all users, then all items) with 1 and with 3 CG steps per row:
        // half their difference is the cost of one CG step over every row.
        for (name, solver, steps) in [
            ("iteration_cg1_1M", AlsSolver::ConjugateGradient, 1),
            ("iteration_cg3_1M", AlsSolver::ConjugateGradient, 3),
            ("iteration_cholesky_1M", AlsSolver::Cholesky, 3),
        ] {
            let p = Als::params()
                .factors(k)
                .iterations(1)
                .cg_steps(steps)
                .solver(solver);
            g.bench_with_input(BenchmarkId::new(name, k), &p, |b, p| {
                b.iter(|| p.fit(&train).expect("fit"))
            });
        }
        // implicit's alpha = 1 (recs alpha 0): no entry weighs in the normal matrix.
        let p = Als::params().factors(k).iterations(1).alpha(0.0);
        g.bench_with_input(
            BenchmarkId::new("iteration_cg3_alpha0_1M", k),
            &p,
            |b, p| b.iter(|| p.fit(&train).expect("fit")),
        );
    }
    let model = Als::params().iterations(3).fit(&train).expect("fit");
    let users: Vec<u32> = (0..6040).collect();
    let opts = RecOpts::default();
    // Top 10 (training items excluded) for all 6040 users, 64 factors: blocked GEMM + top-k.
    g.bench_function("recommend_all_users", |b| {
        b.iter(|| {
            model
                .recommend_batch(&users, &train, &opts)
                .expect("recommend")
        })
    });
    g.bench_function("recommend_one_by_one_top10_6040_users", |b| {
        b.iter(|| {
            let lists: Vec<_> = users
                .iter()
                .map(|&u| {
                    model
                        .recommend(u, train.items_of(u), &opts)
                        .expect("recommend")
                })
                .collect();
            lists
        })
    });
    let mut scores = vec![0f32; 3706];
    model
        .score_into(0, train.items_of(0), &mut scores)
        .expect("score");
    g.bench_function("top_k_dense_10_of_3706", |b| {
        b.iter(|| top_k_dense(&scores, 10, |_| false))
    });
    g.bench_function("select_filter_seen_top10_of_3706", |b| {
        b.iter(|| {
            let mut s = scores.clone();
            select(&mut s, train.items_of(0), &opts).expect("select")
        })
    });
    g.finish();
}

fn fits(c: &mut Criterion) {
    let mut sizes = vec![
        ("1M", 6040, 3706, 1_000_209),
        ("5M", 30_000, 10_000, 5_000_000),
    ];
    if std::env::var_os("RECS_BENCH_20M").is_some() {
        sizes.push(("20M", 138_493, 26_744, 20_000_263));
    }
    let mut g = c.benchmark_group("als_fit");
    g.sample_size(10);
    for (name, users, items, nnz) in sizes {
        let train = synthetic(users, items, nnz);
        let als = Als::params(); // 64 factors, 15 iterations, CG
        g.bench_with_input(BenchmarkId::new("als_k64_it15_cg", name), &train, |b, t| {
            b.iter(|| als.fit(t).expect("fit"))
        });
        if nnz <= 1_000_209 {
            let bpr = Bpr::params().iterations(10);
            g.bench_with_input(
                BenchmarkId::new("bpr_k64_10_epochs", name),
                &train,
                |b, t| b.iter(|| bpr.fit(t).expect("fit")),
            );
        }
    }
    g.finish();
}

criterion_group!(benches, kernels, fits);
criterion_main!(benches);
