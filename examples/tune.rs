//! Validation grid for the ML-1M defaults, on a split carved from the NCF *training* data only.
//!
//! Validation split: for each of users 1–2999 (the users whose timestamps survive, see
//! `../shared/data/README.md`) the latest training rating by timestamp (ties: the later line)
//! is held out; every other training rating stays in the validation training set. The test
//! files are never read. Each model spec is fitted once and evaluated with
//! full ranking (training items excluded; as P1) and against 99 negatives sampled from the
//! items the user has not rated in the validation training set (seed 0; as P2).
//!
//! ```sh
//! RECS_DATA_DIR=../shared/data cargo run --release -p recs-benches --example tune -- \
//!     ease:lambda=500 als:factors=128,reg=0.01,alpha=1,it=15 blend:ease=1,als=0.5
//! ```
//!
//! Specs: `ease:lambda=L,dropout=P`, `fresh:boost=B,decay=D,recency=A,rdecay=H,<base>.<key>=V...`
//! (recency boost A, default 0 here, and decay H in interactions, weighting the history by the
//! rating times of users 1–2999 in `ml-1m/ratings_users0001-2999.dat.gz`; the base model
//! is the one named by the `<base>.` prefix, default `ease`; item years from `ml-1m/movies.dat`), `als:factors=K,reg=R,alpha=A,it=N,nu=V,cg=S`,
//! `knn:k=N,shrink=S`, `bpr`, `pop`, `blend:<member>=<weight>,...` (members at defaults,
//! with any `ease.lambda=`/`als.factors=`-style overrides given after them).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use recs::data::{
    item_years, load_id_map, load_movies, load_ncf, load_rating_times, open, with_rating_times,
    Interactions, Record, Split, TestCase, TestSet,
};
use recs::eval::{EvalConfig, Protocol};
use recs::model::{Als, AnyModel, Blend, Bpr, Ease, Fit, Fresh, ItemKnn, Popularity, Recommender};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn data_dir() -> PathBuf {
    std::env::var_os("RECS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

fn validation_split(dir: &std::path::Path) -> Res<Split> {
    let ncf = dir.join("ml-1m-ncf");
    let full = load_ncf(
        &ncf.join("ml-1m.train.pairs.gz"),
        &ncf.join("ml-1m.test.rating"),
        None,
    )?;
    // MovieID -> NCF item
    // NCF item -> MovieID, and back
    let item_map = load_id_map(&ncf.join("item_id_map.tsv"))?;
    let map: HashMap<u32, u32> = item_map
        .iter()
        .map(|(&item, &movie)| Ok((u32::try_from(movie)?, u32::try_from(item)?)))
        .collect::<Res<_>>()?;
    // latest (user, item) by timestamp for users 1..=2999, ties -> later line
    let mut latest: HashMap<u32, (i64, u32)> = HashMap::new();
    let reader = std::io::BufReader::new(open(&dir.join("ml-1m/ratings_users0001-2999.dat.gz"))?);
    for line in reader.lines() {
        let line = line?;
        let f: Vec<&str> = line.split("::").collect();
        let user: u32 = f[0].parse::<u32>()? - 1;
        let item = *map.get(&f[1].parse::<u32>()?).ok_or("unmapped movie")?;
        let ts: i64 = f[3].parse()?;
        let train = &full.train;
        if train.items_of(user).binary_search(&item).is_err() {
            continue; // the NCF test pair
        }
        let e = latest.entry(user).or_insert((i64::MIN, 0));
        if ts >= e.0 {
            *e = (ts, item);
        }
    }
    let t = &full.train;
    let mut recs = Vec::with_capacity(t.nnz());
    for u in 0..t.n_users() as u32 {
        let held = latest.get(&u).map(|&(_, i)| i);
        for (&i, &v) in t.items_of(u).iter().zip(t.values_of(u)) {
            if Some(i) != held {
                recs.push(Record {
                    user: u,
                    item: i,
                    value: v,
                    timestamp: None,
                });
            }
        }
    }
    let train = Interactions::from_records(t.n_users(), t.n_items(), &recs, Default::default())?;
    // the rating times of users 1..=2999 (NCF user = UserID - 1), for `fresh`'s recency weights
    let times = load_rating_times(&dir.join("ml-1m/ratings_users0001-2999.dat.gz"))?;
    let (train, _) = with_rating_times(
        &train,
        &times,
        |u| Some(i64::from(u) + 1),
        |i| item_map.get(&i64::from(i)).copied(),
    )?;
    let mut cases: Vec<TestCase> = latest
        .iter()
        .map(|(&user, &(_, item))| TestCase {
            user,
            items: vec![item],
            negatives: None,
        })
        .collect();
    cases.sort_by_key(|c| c.user);
    Ok(Split {
        name: "ml1m-ncf-train-latest-1-2999".into(),
        train,
        test: TestSet { cases },
        users: full.users,
        items: full.items,
    })
}

fn kv(spec: &str) -> (String, Vec<(String, f64)>) {
    let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let args = rest
        .split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(f64::NAN)))
        })
        .collect();
    (name.to_string(), args)
}

/// What `fit_one` needs besides the training data: item years and fitted bases to reuse.
struct Ctx {
    years: Vec<Option<u16>>,
    bases: HashMap<String, AnyModel>,
}

fn fit_one(
    name: &str,
    args: &[(String, f64)],
    train: &Interactions,
    ctx: &mut Ctx,
) -> Res<AnyModel> {
    let get = |k: &str| args.iter().find(|(n, _)| n == k).map(|&(_, v)| v);
    Ok(match name {
        "fresh" => {
            let base = args
                .iter()
                .find_map(|(k, _)| k.split_once('.').map(|(b, _)| b.to_string()))
                .unwrap_or_else(|| "ease".into());
            let sub: Vec<(String, f64)> = args
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix(&format!("{base}."))
                        .map(|s| (s.to_string(), *v))
                })
                .collect();
            let key = format!("{base}:{sub:?}");
            let model = match ctx.bases.get(&key) {
                Some(m) => m.clone(),
                None => {
                    let m = fit_one(&base, &sub, train, ctx)?;
                    ctx.bases.insert(key, m.clone());
                    m
                }
            };
            let mut p = Fresh::params().years(ctx.years.clone());
            if let Some(v) = get("boost") {
                p = p.boost(v as f32)
            }
            if let Some(v) = get("decay") {
                p = p.decay_years(v as f32)
            }
            p = p.recency_boost(get("recency").unwrap_or(0.0) as f32);
            if let Some(v) = get("rdecay") {
                p = p.recency_decay(v as f32)
            }
            p.fit_base_on(model, train)?.into()
        }
        "pop" => Popularity::params().fit(train)?.into(),
        "ease" => {
            let mut p = Ease::params();
            if let Some(v) = get("lambda") {
                p = p.lambda(v as f32)
            }
            if let Some(v) = get("dropout") {
                p = p.dropout(v as f32)
            }
            p.fit(train)?.into()
        }
        "als" => {
            let mut p = Als::params();
            if let Some(v) = get("factors") {
                p = p.factors(v as usize)
            }
            if let Some(v) = get("reg") {
                p = p.regularization(v as f32)
            }
            if let Some(v) = get("alpha") {
                p = p.alpha(v as f32)
            }
            if let Some(v) = get("it") {
                p = p.iterations(v as usize)
            }
            if let Some(v) = get("nu") {
                p = p.reg_exponent(v as f32)
            }
            if let Some(v) = get("cg") {
                p = p.cg_steps(v as usize)
            }
            p.fit(train)?.into()
        }
        "knn" => {
            let mut p = ItemKnn::params();
            if let Some(v) = get("k") {
                p = p.neighbors(v as usize)
            }
            if let Some(v) = get("shrink") {
                p = p.shrinkage(v as f32)
            }
            p.fit(train)?.into()
        }
        "bpr" => Bpr::params().fit(train)?.into(),
        "blend" => {
            // members: keys without a dot; overrides: "member.key"
            let mut members = Vec::new();
            let mut weights = Vec::new();
            for (k, w) in args.iter().filter(|(k, _)| !k.contains('.')) {
                let sub: Vec<(String, f64)> = args
                    .iter()
                    .filter_map(|(kk, v)| {
                        kk.strip_prefix(&format!("{k}."))
                            .map(|s| (s.to_string(), *v))
                    })
                    .collect();
                members.push(fit_one(k, &sub, train, ctx)?);
                weights.push(*w as f32);
            }
            Blend::params()
                .weights(weights)
                .fit_members(members)?
                .into()
        }
        other => return Err(format!("unknown model {other}").into()),
    })
}

fn main() -> Res<()> {
    let split = validation_split(&data_dir())?;
    eprintln!(
        "validation: {} train ratings, {} held-out users",
        split.train.nnz(),
        split.test.len()
    );
    let ncf = data_dir().join("ml-1m-ncf");
    let movies = load_movies(&data_dir().join("ml-1m/movies.dat"))?;
    let map = load_id_map(&ncf.join("item_id_map.tsv"))?;
    let mut ctx = Ctx {
        years: item_years(&split.items, &movies, Some(&map)),
        bases: HashMap::new(),
    };
    let config = EvalConfig::default().ks([10]).latency_users(0);
    println!("| spec | val full HR@10 | NDCG@10 | val sampled-99 HR@10 | NDCG@10 | fit s |");
    println!("|---|---|---|---|---|---|");
    for spec in std::env::args().skip(1) {
        let (name, args) = kv(&spec);
        let start = Instant::now();
        let model = fit_one(&name, &args, &split.train, &mut ctx)?;
        let secs = start.elapsed().as_secs_f64();
        let full = config.evaluate(&Protocol::default(), &model, &split)?;
        let sampled = config.evaluate(
            &Protocol::SampledCandidates { n: 99, seed: 0 },
            &model,
            &split,
        )?;
        let g = |r: &recs::eval::Report, m: &str| r.get(m).unwrap_or(f64::NAN);
        println!(
            "| {spec} | {:.4} | {:.4} | {:.4} | {:.4} | {secs:.1} |",
            g(&full, "hr@10"),
            g(&full, "ndcg@10"),
            g(&sampled, "hr@10"),
            g(&sampled, "ndcg@10"),
        );
        let _ = model.n_items();
    }
    Ok(())
}
