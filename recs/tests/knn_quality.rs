//! Acceptance: on the ML-1M NCF split (full ranking without training items, K = 10), ItemKNN
//! and EASE at their default parameters at least match the HR@10 of their peers, as measured by
//! `benches/peers.sh` (external reference figures):
//! implicit item-item cosine K=20 0.0765, LensKit ItemKNN 0.0677, numpy EASE λ=500 0.1126.
//!
//! Skips (passes) when the data is absent. Data location: `RECS_DATA_DIR`, default
//! `shared/data` next to the workspace.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use recs::data::{Interactions, Record};
use recs::model::{Ease, Fit, ItemKnn, RecOpts, Recommender};

fn data_dir() -> PathBuf {
    std::env::var_os("RECS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").into())
        .join("ml-1m-ncf")
}

/// (train, test pairs) with dense NCF ids.
fn load() -> Option<(Interactions, Vec<(u32, u32)>)> {
    let dir = data_dir();
    let train_path = dir.join("ml-1m.train.pairs.gz");
    let test_path = dir.join("ml-1m.test.rating");
    if !train_path.exists() || !test_path.exists() {
        eprintln!("skipping: ML-1M NCF files not found in {}", dir.display());
        return None;
    }
    let parse = |line: &str| -> (u32, u32) {
        let mut f = line.split('\t');
        let u = f.next().unwrap().parse().unwrap();
        let i = f.next().unwrap().parse().unwrap();
        (u, i)
    };
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&train_path).unwrap());
    let train: Vec<(u32, u32)> = BufReader::new(gz)
        .lines()
        .map(|l| parse(&l.unwrap()))
        .collect();
    let test: Vec<(u32, u32)> = BufReader::new(std::fs::File::open(&test_path).unwrap())
        .lines()
        .map(|l| parse(&l.unwrap()))
        .collect();
    let n_users = train.iter().chain(&test).map(|p| p.0).max().unwrap() as usize + 1;
    let n_items = train.iter().chain(&test).map(|p| p.1).max().unwrap() as usize + 1;
    let recs: Vec<Record> = train
        .iter()
        .map(|&(user, item)| Record {
            user,
            item,
            value: 1.0,
            timestamp: None,
        })
        .collect();
    let x = Interactions::from_records(n_users, n_items, &recs, Default::default()).unwrap();
    Some((x, test))
}

fn hr_at_10(model: &dyn Recommender, train: &Interactions, test: &[(u32, u32)]) -> f64 {
    let users: Vec<u32> = test.iter().map(|p| p.0).collect();
    let lists = model
        .recommend_batch(&users, train, &RecOpts::default())
        .unwrap();
    let hits = lists
        .iter()
        .zip(test)
        .filter(|(l, &(_, item))| l.iter().any(|s| s.item == item))
        .count();
    hits as f64 / test.len() as f64
}

#[test]
fn item_knn_and_ease_match_their_peers() {
    let Some((train, test)) = load() else { return };

    let knn = ItemKnn::params().fit(&train).unwrap();
    let hr = hr_at_10(&knn, &train, &test);
    eprintln!("ItemKnn default: HR@10 {hr:.4}");
    assert!(hr >= 0.0765, "ItemKnn HR@10 {hr:.4} < implicit's 0.0765");

    // the peers' own configuration (K = 20) must match them too
    let knn20 = ItemKnn::params().neighbors(20).fit(&train).unwrap();
    let hr20 = hr_at_10(&knn20, &train, &test);
    eprintln!("ItemKnn K=20: HR@10 {hr20:.4}");
    assert!(hr20 >= 0.0765, "ItemKnn K=20 HR@10 {hr20:.4} < implicit's 0.0765");

    let ease = Ease::params().fit(&train).unwrap();
    let hr = hr_at_10(&ease, &train, &test);
    eprintln!("Ease default: HR@10 {hr:.4}");
    assert!(hr >= 0.1126, "Ease HR@10 {hr:.4} < numpy EASE's 0.1126");
}
