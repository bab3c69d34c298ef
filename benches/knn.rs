//! Item-item kernels: the sparse Gram matrix `XᵀX`, ItemKNN fit, EASE fit and EASE batch
//! scoring, on synthetic data shaped like ML-1M (6,040 users × 3,706 items, ~165 items per user,
//! popularity-skewed).
//!
//! ```text
//! cargo bench -p recs-benches --bench knn
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use recs::data::{Interactions, Record};
use recs::model::{gram_dense, Ease, Fit, ItemKnn, RecOpts, Recommender};

/// Deterministic ML-1M-like matrix: user activity and item popularity both skewed.
fn synthetic(n_users: usize, n_items: usize, mean_len: usize) -> Interactions {
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut recs = Vec::new();
    for u in 0..n_users as u32 {
        // activity between 20 and ~6x the mean, skewed
        let r = (next() % 1000) as f64 / 1000.0;
        let len = (20.0 + (mean_len as f64 - 20.0) * 3.0 * r * r) as usize;
        for _ in 0..len.min(n_items) {
            // item popularity ~ power law: square a uniform to favour small indices
            let x = (next() % 1_000_000) as f64 / 1_000_000.0;
            let i = ((x * x) * n_items as f64) as u32;
            recs.push(Record {
                user: u,
                item: i.min(n_items as u32 - 1),
                value: 1.0,
                timestamp: None,
            });
        }
    }
    Interactions::from_records(n_users, n_items, &recs, Default::default())
        .expect("synthetic data is in range")
}

fn bench(c: &mut Criterion) {
    let x = synthetic(6040, 3706, 165);
    eprintln!(
        "synthetic: {} users x {} items, {} interactions",
        x.n_users(),
        x.n_items(),
        x.nnz()
    );
    let mut g = c.benchmark_group("item-item");
    g.sample_size(10);
    g.bench_function("gram_dense ml-1m-like", |b| b.iter(|| gram_dense(&x)));
    g.bench_function("item-knn fit k=20", |b| {
        b.iter(|| ItemKnn::params().neighbors(20).fit(&x).expect("fit"))
    });
    g.bench_function("ease fit", |b| {
        b.iter(|| Ease::params().lambda(500.0).fit(&x).expect("fit"))
    });
    let ease = Ease::params().lambda(500.0).fit(&x).expect("fit");
    let users: Vec<u32> = (0..x.n_users() as u32).collect();
    let opts = RecOpts::default();
    // at this density (4 %) recommend_batch takes the sparse path; see DENSE_BATCH_DENSITY
    g.bench_function("ease recommend_batch all users", |b| {
        b.iter(|| ease.recommend_batch(&users, &x, &opts).expect("batch"))
    });
    g.bench_function("ease recommend one call per user, all users", |b| {
        b.iter(|| {
            use rayon::prelude::*;
            users
                .par_iter()
                .map(|&u| ease.recommend(u, x.items_of(u), &opts).expect("rec"))
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
