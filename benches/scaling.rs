//! Training cost against data size on synthetic MovieLens-shaped data (`recs::data::synth`).
//! Prints one markdown row per (size, model): generation seconds, train seconds and the
//! process's peak resident memory so far (`VmHWM` from `/proc/self/status`, Linux; a
//! lower bound for later rows, so run one model per process to attribute memory: see below).
//!
//! ```text
//! cargo bench -p recs-benches --bench scaling                       # 1M, all models
//! RECS_SCALING_SIZES=1M,5M,20M RECS_SCALING_MODELS=als cargo bench -p recs-benches --bench scaling
//! ```
//!
//! Sizes: `1M` = 6,040 users × 3,706 items (ML-1M shape), `5M` = 30,000 × 8,000,
//! `20M` = 138,000 × 20,000 (about the ML-20M shape). Models at their defaults except BPR,
//! which runs [`BPR_EPOCHS`] epochs instead of 100 (train time is linear in epochs) unless
//! `RECS_SCALING_BPR_EPOCHS` says otherwise. EASE needs `12 · items²` bytes and `O(items³)`
//! time; at 20,000 items that is 4.8 GB, above its default 4 GiB cap, so `fit` refuses it
//! (the row says so).

use std::time::Instant;

use recs::data::synth::SynthParams;
use recs::model::{Als, Bpr, Ease, Fit, ItemKnn, Popularity, Recommender};

/// BPR epochs used here (the default is 100).
const BPR_EPOCHS: usize = 10;

fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn shape(size: &str) -> Option<(usize, usize, usize)> {
    match size {
        "1M" => Some((6_040, 3_706, 1_000_000)),
        "5M" => Some((30_000, 8_000, 5_000_000)),
        "20M" => Some((138_000, 20_000, 20_000_000)),
        _ => None,
    }
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .filter(|s| !s.is_empty() && !s.starts_with("--"))
        .map(str::to_string)
        .collect()
}

fn main() {
    let sizes = env_list("RECS_SCALING_SIZES", "1M");
    let models = env_list("RECS_SCALING_MODELS", "pop,itemknn,als,bpr,ease");
    let bpr_epochs = std::env::var("RECS_SCALING_BPR_EPOCHS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(BPR_EPOCHS);
    println!("threads: {}", rayon::current_num_threads());
    println!("| interactions | users × items | model | generate s | train s | peak RSS MB |");
    println!("|---|---|---|--:|--:|--:|");
    for size in &sizes {
        let Some((users, items, nnz)) = shape(size) else {
            eprintln!("unknown size {size}: expected 1M, 5M or 20M");
            continue;
        };
        let start = Instant::now();
        let data = match SynthParams::new(users, items, nnz).generate() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{size}: {e}");
                continue;
            }
        };
        let gen_s = start.elapsed().as_secs_f64();
        let train = data.interactions;
        for model in &models {
            let start = Instant::now();
            let fitted: Result<usize, recs::Error> = match model.as_str() {
                "pop" => Popularity::params().fit(&train).map(|m| m.n_items()),
                "itemknn" => ItemKnn::params().fit(&train).map(|m| m.n_items()),
                "als" => Als::params().fit(&train).map(|m| m.n_items()),
                "bpr" => Bpr::params()
                    .iterations(bpr_epochs)
                    .fit(&train)
                    .map(|m| m.n_items()),
                "ease" => Ease::params().fit(&train).map(|m| m.n_items()),
                other => {
                    eprintln!("unknown model {other}");
                    continue;
                }
            };
            let secs = start.elapsed().as_secs_f64();
            let label = if model == "bpr" {
                format!("bpr ({bpr_epochs} epochs)")
            } else {
                model.clone()
            };
            let train_s = match fitted {
                Ok(_) => format!("{secs:.2}"),
                Err(e) => format!("refused: {e}"),
            };
            println!(
                "| {size} | {users} × {items} | {label} | {gen_s:.2} | {train_s} | {:.0} |",
                peak_rss_mb().unwrap_or(f64::NAN)
            );
        }
    }
}
