//! Trains SASRec on S1 (ML-1M users 1–2999, timestamps) or B1 (Amazon Beauty) with the
//! leave-one-out protocol of issue 19 (last item test, second-last validation, full ranking,
//! seen items removed, ties counted against the test item) and prints HR@10 / NDCG@10.
//!
//! ```text
//! cargo run --release -p recs-benches --example sasrec -- s1 [key=value ...]
//! cargo run --release -p recs-benches --example sasrec -- b1 negatives=4096 ...
//! ```
//! Keys: blocks heads hidden max_len dropout epochs batch lr negatives patience seed
//! valid_users max_seconds; `test=0` stops after training (settings are compared on the
//! per-epoch validation figures, without looking at the test item).
//! The data is read from `../shared/data` (or `$RECS_DATA`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::time::Instant;

use recs::model::{Recommender, SasRec};

type Seqs = Vec<Vec<u32>>;

fn data_dir() -> std::path::PathBuf {
    std::env::var_os("RECS_DATA")
        .map(Into::into)
        .unwrap_or_else(|| "../shared/data".into())
}

fn open_gz(path: &std::path::Path) -> Result<Box<dyn BufRead>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Box::new(BufReader::new(flate2::read::GzDecoder::new(f))))
}

/// Per-user ordered item lists and the item count. S1: by timestamp, ties by line order.
fn load(which: &str) -> Result<(Seqs, usize), String> {
    let dir = data_dir();
    let (path, s1) = match which {
        "s1" => (dir.join("ml-1m/ratings_users0001-2999.dat.gz"), true),
        "b1" => (dir.join("amazon-beauty/beauty.txt.gz"), false),
        other => return Err(format!("unknown data set {other} (s1 or b1)")),
    };
    let mut users: HashMap<String, usize> = HashMap::new();
    let mut items: HashMap<String, u32> = HashMap::new();
    let mut rows: Vec<Vec<(i64, usize, u32)>> = Vec::new();
    for (n, line) in open_gz(&path)?.lines().enumerate() {
        let line = line.map_err(|e| format!("{}: line {}: {e}", path.display(), n + 1))?;
        let f: Vec<&str> = if s1 {
            line.split("::").collect()
        } else {
            line.split_whitespace().collect()
        };
        if f.len() < if s1 { 4 } else { 2 } {
            return Err(format!(
                "{}: line {}: too few fields",
                path.display(),
                n + 1
            ));
        }
        let ts: i64 = if s1 {
            f[3].trim()
                .parse()
                .map_err(|_| format!("{}: line {}: field timestamp", path.display(), n + 1))?
        } else {
            0
        };
        let nu = users.len();
        let u = *users.entry(f[0].to_string()).or_insert(nu);
        let ni = items.len() as u32;
        let i = *items.entry(f[1].to_string()).or_insert(ni);
        if u == rows.len() {
            rows.push(Vec::new());
        }
        rows[u].push((ts, n, i));
    }
    let seqs = rows
        .into_iter()
        .map(|mut r| {
            r.sort_unstable();
            r.into_iter().map(|(_, _, i)| i).collect()
        })
        .collect();
    Ok((seqs, items.len()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("s1");
    let mut p = SasRec::params();
    let mut score_test = true;
    for kv in args.iter().skip(1) {
        let (k, v) = kv
            .split_once('=')
            .ok_or(format!("expected key=value, got {kv}"))?;
        p = match k {
            "blocks" => p.blocks(v.parse()?),
            "heads" => p.heads(v.parse()?),
            "hidden" => p.hidden(v.parse()?),
            "max_len" => p.max_len(v.parse()?),
            "dropout" => p.dropout(v.parse()?),
            "epochs" => p.epochs(v.parse()?),
            "batch" => p.batch_size(v.parse()?),
            "lr" => p.learning_rate(v.parse()?),
            "negatives" => p.negatives(v.parse()?),
            "patience" => p.patience(v.parse()?),
            "seed" => p.seed(v.parse()?),
            "valid_users" => p.validation_users(v.parse()?),
            "max_seconds" => p.max_seconds(v.parse()?),
            "test" => {
                score_test = v != "0";
                p
            }
            _ => return Err(format!("unknown key {k}").into()),
        };
    }
    let (seqs, n_items) = load(which)?;
    let mut train = Vec::with_capacity(seqs.len());
    let mut valid = Vec::with_capacity(seqs.len());
    let mut test = Vec::with_capacity(seqs.len());
    for s in &seqs {
        let n = s.len();
        if n < 3 {
            train.push(s.clone());
            valid.push(None);
            test.push(None);
            continue;
        }
        train.push(s[..n - 2].to_vec());
        valid.push(Some(s[n - 2]));
        test.push(Some(s[n - 1]));
    }
    eprintln!(
        "{which}: {} users, {n_items} items, {} interactions; threads {}",
        seqs.len(),
        seqs.iter().map(Vec::len).sum::<usize>(),
        rayon::current_num_threads()
    );
    let t0 = Instant::now();
    let model = p.fit_sequences(n_items, &train, &valid, |e| {
        eprintln!(
            "epoch {:3} loss {:.4} valid HR@10 {:.4} NDCG@10 {:.4} train {:.1}s (total {:.0}s)",
            e.epoch,
            e.loss,
            e.valid_hr,
            e.valid_ndcg,
            e.train_seconds,
            t0.elapsed().as_secs_f64()
        )
    })?;
    let wall = t0.elapsed().as_secs_f64();
    if !score_test {
        println!(
            "{which} sasrec (test item not scored) | train wall {wall:.0}s, epochs {} (best {}) | {:?}",
            model.epochs_run(),
            model.best_epoch(),
            model.hyperparams()
        );
        return Ok(());
    }
    // test: the stored history (train + validation item) scores every item; seen removed
    let mut hr = 0.0;
    let mut ndcg = 0.0;
    let mut n_test = 0usize;
    let mut scores = vec![0f32; n_items];
    for (u, t) in test.iter().enumerate() {
        let Some(t) = *t else { continue };
        model.score_into(u as u32, &[], &mut scores)?;
        let ts = scores[t as usize];
        for &i in train[u].iter().chain(valid[u].iter()) {
            scores[i as usize] = f32::NEG_INFINITY;
        }
        scores[t as usize] = ts;
        let rank = scores
            .iter()
            .enumerate()
            .filter(|&(i, &s)| i != t as usize && s >= ts)
            .count();
        if rank < 10 {
            hr += 1.0;
            ndcg += 1.0 / (rank as f64 + 2.0).log2();
        }
        n_test += 1;
    }
    println!(
        "{which} sasrec test HR@10 {:.4} NDCG@10 {:.4} ({n_test} users) | train wall {wall:.0}s, epochs {} (best {}) | {:?}",
        hr / n_test as f64,
        ndcg / n_test as f64,
        model.epochs_run(),
        model.best_epoch(),
        model.hyperparams()
    );
    Ok(())
}
