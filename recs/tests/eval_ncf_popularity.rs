//! Issue acceptance: Popularity on ML-1M (NCF split) under P1 (full ranking, training items
//! excluded) and P2 (the 99 listed negatives), HR@10 and NDCG@10, checked against
//! 1. a direct computation in this file that shares no code with `recs::eval`, and
//! 2. the independent numpy script `p1_popularity.py` (when python3 with numpy is there).
//!
//! Both use the same definition: pessimistic ties (a held-out item ranks after every other
//! candidate with an equal score), P2 candidates = held-out item + negatives without duplicates.

#[path = "eval_support/ncf.rs"]
mod ncf;

use std::process::Command;

use recs::data::Split;
use recs::eval::{EvalConfig, Evaluator, FullRanking, MetricKind, SampledCandidates};
use recs::model::{Fit, Popularity};

/// (hr@10, ndcg@10) computed directly from item counts.
fn direct(split: &Split, p2: bool) -> (f64, f64) {
    let counts = split.train.item_counts();
    let (mut hr, mut ndcg) = (0.0, 0.0);
    for case in &split.test.cases {
        let h = case.items[0];
        let s = counts[h as usize];
        let rank = if p2 {
            let mut cand = case.negatives.clone().unwrap();
            cand.sort_unstable();
            cand.dedup();
            cand.iter()
                .filter(|&&i| i != h && counts[i as usize] >= s)
                .count()
        } else {
            let seen = split.train.items_of(case.user);
            (0..counts.len() as u32)
                .filter(|&i| i != h && seen.binary_search(&i).is_err() && counts[i as usize] >= s)
                .count()
        };
        if rank < 10 {
            hr += 1.0;
            ndcg += 1.0 / ((rank + 2) as f64).log2();
        }
    }
    let n = split.test.len() as f64;
    (hr / n, ndcg / n)
}

/// The numpy script's figures, or why they are not available.
fn numpy_figures() -> Result<serde_json::Value, String> {
    let has_numpy = Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if !has_numpy.status.success() {
        return Err("numpy is not importable by python3".into());
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/p1_popularity.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(ncf::data_dir())
        .output()
        .map_err(|e| e.to_string())?;
    assert!(
        out.status.success(),
        "p1_popularity.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout).expect("script prints JSON"))
}

#[test]
fn popularity_p1_p2_match_independent_computations() {
    let dir = match ncf::ncf_dir() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("skipping: {why}");
            return;
        }
    };
    let (p1, p2) = ncf::load_p1_p2(&dir);
    assert_eq!(p1.test.len(), 6040);
    let model = Popularity::params().fit(&p1.train).unwrap();
    let cfg = EvalConfig::default()
        .ks([10])
        .metrics([MetricKind::Hr, MetricKind::Ndcg])
        .latency_users(0);
    let r1 = FullRanking::new()
        .config(cfg.clone())
        .evaluate(&model, &p1)
        .unwrap();
    let r2 = SampledCandidates::new(99, 0)
        .config(cfg)
        .evaluate(&model, &p2)
        .unwrap();
    let got = |r: &recs::Report| (r.get("hr@10").unwrap(), r.get("ndcg@10").unwrap());
    let (g1, g2) = (got(&r1), got(&r2));
    eprintln!(
        "recs   P1 hr@10 {:.6} ndcg@10 {:.6} | P2 hr@10 {:.6} ndcg@10 {:.6}",
        g1.0, g1.1, g2.0, g2.1
    );
    assert_eq!(r1.n_missing + r2.n_missing, 0);

    let close = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9;
    let (d1, d2) = (direct(&p1, false), direct(&p2, true));
    assert!(close(g1, d1), "P1 recs {g1:?} vs direct {d1:?}");
    assert!(close(g2, d2), "P2 recs {g2:?} vs direct {d2:?}");
    // a non-trivial figure: popularity finds some held-out items but far from all
    assert!(g1.0 > 0.0 && g1.0 < g2.0 && g2.0 < 1.0);

    match numpy_figures() {
        Ok(v) => {
            let fig = |p: &str| {
                (
                    v[p]["hr@10"].as_f64().unwrap(),
                    v[p]["ndcg@10"].as_f64().unwrap(),
                )
            };
            let (n1, n2) = (fig("p1"), fig("p2"));
            eprintln!(
                "numpy  P1 hr@10 {:.6} ndcg@10 {:.6} | P2 hr@10 {:.6} ndcg@10 {:.6}",
                n1.0, n1.1, n2.0, n2.1
            );
            assert_eq!(v["users"].as_u64(), Some(6040));
            assert!(close(g1, n1), "P1 recs {g1:?} vs numpy {n1:?}");
            assert!(close(g2, n2), "P2 recs {g2:?} vs numpy {n2:?}");
        }
        Err(why) => eprintln!("skipping the numpy comparison: {why}"),
    }
}
