//! The recs side of the peer benchmark (`benches/peers.sh`): fits models on the ML-1M NCF split
//! and prints one JSON line per model with train seconds, recommend-all-users seconds and
//! HR@10 / NDCG@10 under both protocols (P1: full ranking without training items; P2: rank among
//! the 99 given negatives).
//!
//! ```text
//! cargo bench -p recs-benches --bench models -- [--data DIR] [--split test|validation] [--per-user] SPEC...
//! SPEC = name[:key=value,...]     e.g.  item-knn:neighbors=20  ease:lambda=500
//! ```
//!
//! `--split validation` carves each user's last training line out of the training file and
//! evaluates on it (P2: 99 negatives sampled with seed 42). `--split validation-time` holds
//! out instead each user's latest training rating by timestamp, for the 2,999 users whose
//! timestamps are known (`ml-1m/ratings_users0001-2999.dat.gz`): it mirrors the test protocol
//! (latest rating) and is where the defaults were chosen. Neither touches the test files'
//! held-out items.
//! Both protocols are `recs::eval`'s (pessimistic ties).
//! `--per-user` times recommend-all through one `recommend` call per user instead of the
//! model's `recommend_batch`. An unknown model name prints `{"model": ..., "status": "not available"}`.
//!
//! To add a model, add one line to `fit_model`'s table.

use std::time::Instant;

use std::path::Path;

use recs::data::{load_delimited, load_ncf, split, Interactions, LoadOptions, Split, TextFormat};
use recs::eval::{EvalConfig, Evaluator, FullRanking, MetricKind, SampledCandidates};
use recs::model::{
    Als, AnyModel, Bpr, Ease, Fit, ItemKnn, Popularity, RecOpts, Recommender, Weighting,
};

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
    // `reg` is short for `regularization`
    let kv: Vec<(String, String)> = kv
        .iter()
        .map(|(k, v)| match k.as_str() {
            "reg" => ("regularization".to_string(), v.clone()),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    let kv = &kv;
    Some(match name {
        "popularity" => fit_with!(Popularity::params(), kv, train, { min_value: f32 }),
        "item-knn" => {
            fit_with!(ItemKnn::params(), kv, train, { neighbors: usize, shrinkage: f32, weighting: W, binarize: bool })
        }
        "ease" => {
            fit_with!(Ease::params(), kv, train, { lambda: f32, dropout: f32, max_memory: usize })
        }
        "als" => fit_with!(Als::params(), kv, train, {
            factors: usize, regularization: f32, alpha: f32, iterations: usize, cg_steps: usize, reg_exponent: f32, seed: u64
        }),
        "bpr" => fit_with!(Bpr::params(), kv, train, {
            factors: usize, learning_rate: f32, regularization: f32, iterations: usize, seed: u64, hogwild: bool
        }),
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
            _ => {
                return Err(format!(
                    "weighting `{s}`: expected none, tfidf or bm25:K1:B"
                ))
            }
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

/// CPU seconds (user + system, all threads) of this process so far, from `/proc/self/stat`
/// (0 where that is unavailable). Under a shared machine this is steadier than wall time.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&k| f.get(k).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The NCF split (`test`, with the 99 listed negatives) or a validation split carved from its
/// training file: each user's last training line held out (`leave_last_out` on input order).
fn load_split(dir: &Path, which: &str) -> Res<Split> {
    let train = dir.join("ml-1m.train.pairs.gz");
    match which {
        "test" => load_ncf(
            &train,
            &dir.join("ml-1m.test.rating"),
            Some(&dir.join("ml-1m.test.negative")),
        )
        .map_err(|e| e.to_string()),
        "validation" => {
            let (data, _) = load_delimited(&train, &TextFormat::tsv(), &LoadOptions::default())
                .map_err(|e| e.to_string())?;
            split::leave_last_out(&data).map_err(|e| e.to_string())
        }
        "validation-time" => validation_by_time(dir),
        other => Err(format!(
            "--split {other}: expected test, validation or validation-time"
        )),
    }
}

/// A validation split that mirrors the test protocol (each user's *latest* rating): the NCF
/// training data with, for each of users 1–2999 (the only ones with timestamps, in
/// `ml-1m/ratings_users0001-2999.dat.gz`), their latest training rating held out. Users
/// 3000–6040 stay wholly in train. Ties in time go to the later line of the file.
fn validation_by_time(dir: &Path) -> Res<Split> {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader};
    let full = load_split(dir, "test")?;
    let read = |p: &Path| -> Res<Vec<String>> {
        let r = recs::data::open(p).map_err(|e| e.to_string())?;
        BufReader::new(r)
            .lines()
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())
    };
    let num = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| format!("bad number {s}"))
    };
    let mut ncf_item: HashMap<i64, u32> = HashMap::new();
    for line in read(&dir.join("item_id_map.tsv"))?.iter().skip(1) {
        let (ncf, movie) = line.split_once('\t').ok_or("bad item map line")?;
        ncf_item.insert(num(movie)?, num(ncf)? as u32);
    }
    let ratings = dir.join("../ml-1m/ratings_users0001-2999.dat.gz");
    // latest (time, line) per NCF user among their training items
    let mut latest: HashMap<u32, (i64, usize, u32)> = HashMap::new();
    for (k, line) in read(&ratings)?.iter().enumerate() {
        let f: Vec<&str> = line.split("::").collect();
        if f.len() != 4 {
            return Err(format!("bad ratings line {k}"));
        }
        let user = (num(f[0])? - 1) as u32;
        let item = *ncf_item.get(&num(f[1])?).ok_or("movie not in item map")?;
        let ts = num(f[3])?;
        if full.train.items_of(user).binary_search(&item).is_err() {
            continue; // the NCF test pair
        }
        let e = latest.entry(user).or_insert((ts, k, item));
        if (ts, k) >= (e.0, e.1) {
            *e = (ts, k, item);
        }
    }
    let mut records = Vec::with_capacity(full.train.nnz());
    let mut cases = Vec::new();
    for u in 0..full.train.n_users() as u32 {
        let held = latest.get(&u).map(|e| e.2);
        for &i in full.train.items_of(u) {
            if Some(i) != held {
                records.push(recs::data::Record {
                    user: u,
                    item: i,
                    value: 1.0,
                    timestamp: None,
                });
            }
        }
        if let Some(i) = held {
            cases.push(recs::data::TestCase {
                user: u,
                items: vec![i],
                negatives: None,
            });
        }
    }
    let train = Interactions::from_records(
        full.train.n_users(),
        full.train.n_items(),
        &records,
        Default::default(),
    )
    .map_err(|e| e.to_string())?;
    Ok(Split {
        name: "ncf-train-latest-1-2999".into(),
        train,
        test: recs::data::TestSet { cases },
        users: full.users,
        items: full.items,
    })
}

fn run() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let mut data_dir = std::env::var("RECS_DATA_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").into());
    let mut which = "test".to_string();
    let mut specs = Vec::new();
    let mut per_user = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data_dir = args.next().ok_or("--data needs a value")?,
            "--split" => which = args.next().ok_or("--split needs a value")?,
            "--per-user" => per_user = true,
            "--bench" => {} // passed by `cargo bench`
            s if s.starts_with("--") => return Err(format!("unknown flag {s}")),
            s => specs.push(s.to_string()),
        }
    }
    if specs.is_empty() {
        specs = vec!["popularity".into(), "item-knn".into(), "ease".into()];
    }
    let t = Instant::now();
    let split = load_split(&Path::new(&data_dir).join("ml-1m-ncf"), &which)?;
    eprintln!(
        "{} split: {} users x {} items, {} train interactions, {} test users, loaded in {:.2}s; rayon threads {}",
        which,
        split.train.n_users(),
        split.train.n_items(),
        split.train.nnz(),
        split.test.len(),
        t.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    let config = EvalConfig::default()
        .ks([10])
        .metrics([MetricKind::Hr, MetricKind::Ndcg])
        .latency_users(0);
    for spec in &specs {
        let (name, kv) = parse_spec(spec)?;
        let (t, c) = (Instant::now(), cpu_seconds());
        let model = match fit_model(&name, &kv, &split.train) {
            None => {
                println!(r#"{{"model": "{spec}", "status": "not available"}}"#);
                continue;
            }
            Some(m) => m.map_err(|e| format!("{spec}: {e}"))?,
        };
        let (train_s, train_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        // recommend-all: top 10 without training items for every user, as the peers do
        let users: Vec<u32> = (0..split.train.n_users() as u32).collect();
        let (t, c) = (Instant::now(), cpu_seconds());
        let all = if per_user {
            // the trait's provided path: one `recommend` per user, in parallel
            use rayon::prelude::*;
            users
                .par_iter()
                .map(|&u| model.recommend(u, split.train.items_of(u), &RecOpts::default()))
                .collect::<recs::Result<Vec<_>>>()
        } else {
            model.recommend_batch(&users, &split.train, &RecOpts::default())
        }
        .map_err(|e| e.to_string())?;
        let (rec_s, rec_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        drop(all);
        let p1 = FullRanking::new()
            .config(config.clone())
            .evaluate(&model, &split)
            .map_err(|e| e.to_string())?;
        let p2 = SampledCandidates::new(99, 42)
            .config(config.clone())
            .evaluate(&model, &split)
            .map_err(|e| e.to_string())?;
        let get = |r: &recs::eval::Report, m: &str| r.get(m).unwrap_or(f64::NAN);
        println!(
            r#"{{"model": "{spec}", "kind": "{}", "status": "ok", "split": "{which}", "train_s": {train_s:.4}, "recommend_all_s": {rec_s:.4}, "train_cpu_s": {train_cpu:.2}, "recommend_all_cpu_s": {rec_cpu:.2}, "p1_hr10": {:.4}, "p1_ndcg10": {:.4}, "p2_hr10": {:.4}, "p2_ndcg10": {:.4}, "threads": {}}}"#,
            model.kind(),
            get(&p1, "hr@10"),
            get(&p1, "ndcg@10"),
            get(&p2, "hr@10"),
            get(&p2, "ndcg@10"),
            rayon::current_num_threads()
        );
    }
    Ok(())
}
