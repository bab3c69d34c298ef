//! Acceptance: on the ML-1M NCF split (P1: full ranking without training items, HR@10 under
//! `recs::eval`'s pessimistic ties), ItemKNN and EASE at their default parameters, and ItemKNN
//! at the peers' own K = 20, at least match the HR@10 of their peers as measured by
//! `benches/peers.sh` (external reference figures): implicit item-item cosine K=20 0.0765,
//! LensKit ItemKNN 0.0677, numpy EASE λ=500 0.1126.
//!
//! Skips (passes) when the data is absent. Data location: `RECS_DATA_DIR`, default
//! `shared/data` next to the workspace.

use std::path::PathBuf;

use recs::data::{load_ncf, Split};
use recs::eval::{EvalConfig, Evaluator, FullRanking, MetricKind};
use recs::model::{Ease, Fit, ItemKnn, Recommender};

fn load() -> Option<Split> {
    let dir = std::env::var_os("RECS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").into())
        .join("ml-1m-ncf");
    let train = dir.join("ml-1m.train.pairs.gz");
    let test = dir.join("ml-1m.test.rating");
    if !train.is_file() || !test.is_file() {
        eprintln!("skipping: ML-1M NCF files not found in {}", dir.display());
        return None;
    }
    Some(load_ncf(&train, &test, None).unwrap())
}

fn hr_at_10(model: &dyn Recommender, split: &Split) -> f64 {
    let config = EvalConfig::default()
        .ks([10])
        .metrics([MetricKind::Hr])
        .latency_users(0);
    FullRanking::new()
        .config(config)
        .evaluate(model, split)
        .unwrap()
        .get("hr@10")
        .unwrap()
}

#[test]
fn item_knn_and_ease_match_their_peers() {
    let Some(split) = load() else { return };
    assert_eq!(split.test.len(), 6040);

    let knn = ItemKnn::params().fit(&split.train).unwrap();
    let hr = hr_at_10(&knn, &split);
    eprintln!("ItemKnn default: HR@10 {hr:.4}");
    assert!(hr >= 0.0765, "ItemKnn HR@10 {hr:.4} < implicit's 0.0765");

    let knn20 = ItemKnn::params().neighbors(20).fit(&split.train).unwrap();
    let hr20 = hr_at_10(&knn20, &split);
    eprintln!("ItemKnn K=20: HR@10 {hr20:.4}");
    assert!(hr20 >= 0.0765, "ItemKnn K=20 HR@10 {hr20:.4} < implicit's 0.0765");

    let ease = Ease::params().fit(&split.train).unwrap();
    let hr = hr_at_10(&ease, &split);
    eprintln!("Ease default: HR@10 {hr:.4}");
    assert!(hr >= 0.1126, "Ease HR@10 {hr:.4} < numpy EASE's 0.1126");
}
