//! The recs side of the peer benchmark (`benches/peers.sh`): fits models on the ML-1M NCF split
//! and prints one JSON line per model with train seconds, recommend-all-users seconds and
//! HR@10 / NDCG@10 under both protocols (P1: full ranking without training items; P2: rank among
//! the 99 given negatives).
//!
//! ```text
//! cargo bench -p recs --bench models -- [--data DIR] [--split test|validation] SPEC...
//! SPEC = name[:key=value,...]     e.g.  item-knn:neighbors=20  ease:lambda=500
//! ```
//!
//! `--split validation` carves each user's last training line out of the training file and
//! evaluates on it (P2 negatives: 99 sampled, seeded), which is where defaults are tuned.
//! An unknown model name prints `{"model": ..., "status": "not available"}`.
//!
//! To add a model, add one line to `fit_model`'s table.

use std::time::Instant;

use recs::data::Interactions;
use recs::model::{AnyModel, Ease, Fit, ItemKnn, Popularity, RecOpts, Recommender, Weighting};

mod scratch;

type Res<T> = std::result::Result<T, String>;

/// Parses `key=value` pairs into setter calls on a params builder, then fits.
macro_rules! fit_with {
    ($params:expr, $kv:expr, $train:expr, { $($key:ident : $ty:ty),* $(,)? }) => {(|| -> Res<AnyModel> {
        #[allow(unused_mut)]
        let mut p = $params;
        for (k, v) in $kv {
            match k.as_str() {
                $(stringify!($key) => {
                    let parsed: $ty = v.parse().map_err(|e| format!("{k}={v}: {e:?}"))?;
                    p = p.$key(parsed.into());
                })*
                other => return Err(format!("unknown parameter `{other}`")),
            }
        }
        p.fit($train).map(AnyModel::from).map_err(|e| e.to_string())
    })()};
}

/// `Some(fit result)` for a known model name, `None` when recs has no such model (yet).
fn fit_model(name: &str, kv: &[(String, String)], train: &Interactions) -> Option<Res<AnyModel>> {
    Some(match name {
        "popularity" => fit_with!(Popularity::params(), kv, train, { min_value: f32 }),
        "item-knn" => fit_with!(ItemKnn::params(), kv, train, { neighbors: usize, shrinkage: f32, weighting: W, binarize: bool }),
        "ease" => fit_with!(Ease::params(), kv, train, { lambda: f32, dropout: f32, max_memory: usize }),
        _ => return None,
    })
}

/// `none`, `tfidf` or `bm25:K1:B`.
struct W(Weighting);
impl std::str::FromStr for W {
    type Err = String;
    fn from_str(s: &str) -> Res<W> {
        let parts: Vec<&str> = s.split(':').collect();
        Ok(W(match parts.as_slice() {
            ["none"] => Weighting::None,
            ["tfidf"] => Weighting::TfIdf,
            ["bm25", k1, b] => Weighting::Bm25 {
                k1: k1.parse().map_err(|_| format!("bad k1 {k1}"))?,
                b: b.parse().map_err(|_| format!("bad b {b}"))?,
            },
            _ => return Err(format!("weighting `{s}`: expected none, tfidf or bm25:K1:B")),
        }))
    }
}
impl From<W> for Weighting {
    fn from(w: W) -> Self {
        w.0
    }
}

fn parse_spec(spec: &str) -> Res<(String, Vec<(String, String)>)> {
    let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let kv = rest
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("`{p}` is not key=value"))
        })
        .collect::<Res<Vec<_>>>()?;
    Ok((name.to_string(), kv))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let mut data_dir = std::env::var("RECS_DATA_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").into());
    let mut split = "test".to_string();
    let mut specs = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data_dir = args.next().ok_or("--data needs a value")?,
            "--split" => split = args.next().ok_or("--split needs a value")?,
            "--bench" => {} // passed by `cargo bench`
            s if s.starts_with("--") => return Err(format!("unknown flag {s}")),
            s => specs.push(s.to_string()),
        }
    }
    if specs.is_empty() {
        specs = vec!["popularity".into(), "item-knn".into(), "ease".into()];
    }
    let dir = std::path::Path::new(&data_dir).join("ml-1m-ncf");
    let t = Instant::now();
    let split = match split.as_str() {
        "test" => scratch::load_ncf(&dir)?,
        "validation" => scratch::validation(&scratch::load_ncf(&dir)?, 99, 42),
        other => return Err(format!("--split {other}: expected test or validation")),
    };
    eprintln!(
        "loaded {} users x {} items, {} train interactions, {} test users in {:.2}s; rayon threads {}",
        split.train.n_users(),
        split.train.n_items(),
        split.train.nnz(),
        split.cases.len(),
        t.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    for spec in &specs {
        let (name, kv) = parse_spec(spec)?;
        let t = Instant::now();
        let model = match fit_model(&name, &kv, &split.train) {
            None => {
                println!(r#"{{"model": "{spec}", "status": "not available"}}"#);
                continue;
            }
            Some(m) => m.map_err(|e| format!("{spec}: {e}"))?,
        };
        let train_s = t.elapsed().as_secs_f64();
        let users: Vec<u32> = (0..split.train.n_users() as u32).collect();
        let t = Instant::now();
        let all = model
            .recommend_batch(&users, &split.train, &RecOpts::default())
            .map_err(|e| e.to_string())?;
        let rec_s = t.elapsed().as_secs_f64();
        let p1 = scratch::full_ranking(&all, &split.cases);
        let p2 = scratch::sampled(&model, &split.train, &split.cases)?;
        println!(
            r#"{{"model": "{spec}", "kind": "{}", "status": "ok", "train_s": {train_s:.4}, "recommend_all_s": {rec_s:.4}, "p1_hr10": {:.4}, "p1_ndcg10": {:.4}, "p2_hr10": {:.4}, "p2_ndcg10": {:.4}, "threads": {}}}"#,
            model.kind(),
            p1.0,
            p1.1,
            p2.0,
            p2.1,
            rayon::current_num_threads()
        );
    }
    Ok(())
}
