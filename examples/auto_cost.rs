//! Cost of `ease:lambda=auto` against one fixed-λ EASE fit, for both λ paths of the search
//! ([`LambdaPath::Cholesky`]: one Cholesky factorization and inverse per λ; [`LambdaPath::Eigen`]:
//! one eigendecomposition, then one matrix product per λ), on the ML-1M NCF training data (P1)
//! and on ML-100K `u.data` less each user's latest rating (leave-last-out), in one run.
//!
//! ```sh
//! RECS_DATA_DIR=../shared/data RAYON_NUM_THREADS=2 cargo run --release -p recs-benches --example auto_cost
//! ```
//!
//! Prints wall and CPU (user + system) seconds of each, the λ each path chose and its
//! validation scores (the two paths must agree up to `f32` rounding).

use std::path::PathBuf;
use std::time::Instant;

use recs::data::{load_ncf, split, Dataset, Duplicates, Interactions};
use recs::model::{ease_lambda, AutoOptions, Ease, Fit, LambdaPath};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn data_dir() -> PathBuf {
    std::env::var_os("RECS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`, 100 ticks a second).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn timed<T>(what: &str, f: impl FnOnce() -> Res<T>) -> Res<(T, f64)> {
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let out = f()?;
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    println!("  {what}: {wall:.2} s wall, {cpu:.2} s CPU");
    Ok((out, wall))
}

fn ml100k_llo(dir: &std::path::Path) -> Res<Interactions> {
    let text = std::fs::read_to_string(dir.join("ml-100k/u.data"))?;
    let (mut users, mut items, mut times) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let f: Vec<i64> = line.split('\t').map(str::parse).collect::<Result<_, _>>()?;
        users.push(f[0]);
        items.push(f[1]);
        times.push(f[3]);
    }
    let d = Dataset::from_external(&users, &items, None, Some(&times), Duplicates::KeepLast)?;
    Ok(split::leave_last_out(&d)?.train)
}

fn main() -> Res<()> {
    let dir = data_dir();
    let ncf = dir.join("ml-1m-ncf");
    let p1 = load_ncf(
        &ncf.join("ml-1m.train.pairs.gz"),
        &ncf.join("ml-1m.test.rating"),
        None,
    )?
    .train;
    for (name, train) in [("ml1m-p1", p1), ("ml100k-llo", ml100k_llo(&dir)?)] {
        println!(
            "{name}: {} users, {} items, {} ratings",
            train.n_users(),
            train.n_items(),
            train.nnz()
        );
        let (_, fixed) = timed("ease:lambda=500 fit", || {
            Ok(Ease::params().lambda(500.0).fit(&train)?)
        })?;
        let mut chosen = Vec::new();
        for path in [LambdaPath::Cholesky, LambdaPath::Eigen] {
            let opts = AutoOptions {
                lambda_path: path,
                ..AutoOptions::default()
            };
            let ((lambda, scores), wall) = timed(&format!("auto λ search, {path:?}"), || {
                Ok(ease_lambda(&Ease::params(), &train, &opts)?)
            })?;
            // `ease` with auto λ = the search, then one fit at the chosen λ on all the data
            println!(
                "    chose λ {lambda}; search + final fit = {:.1}× the fixed fit",
                (wall + fixed) / fixed
            );
            for (k, v) in &scores {
                println!("    {k} = {v}");
            }
            chosen.push(lambda);
        }
        println!("  same λ on both paths: {}", chosen[0] == chosen[1]);
    }
    Ok(())
}
