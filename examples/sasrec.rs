//! Trains SASRec on S1 (ML-1M users 1–2999, timestamps) or B1 (Amazon Beauty) with the
//! leave-one-out protocol of issue 19 (last item test, second-last validation, full ranking,
//! seen items removed, ties counted against the test item) and prints HR@10 / NDCG@10.
//!
//! ```text
//! cargo run --release -p recs-benches --example sasrec -- s1 [key=value ...]
//! cargo run --release -p recs-benches --example sasrec -- b1 negatives=4096 ...
//! ```
//! Keys: blocks heads hidden max_len dropout epochs batch lr negatives patience seed
//! valid_users max_seconds; `save=PATH` writes the trained model, `load=PATH` reads one instead of
//! training (same data set); `transition_KEY=VALUE` (any key of the `transition` spec, e.g.
//! `transition_backward=0.25`, `transition_history_decay=0.7`) sets the blended
//! `transition`'s parameters; `test=0` stops after training (settings are compared on the
//! per-epoch validation figures, without looking at the test item).
//! The data is read from `../shared/data` (or `$RECS_DATA`).
//!
//! After training it also fits `transition` (the fast sequence baseline, defaults) on the same
//! training sequences and reads blends of the two on the **validation** item of every user:
//! `z`: per-user standardized scores `z_sasrec + w·z_transition`; `mix`: a mixture of the two
//! next-item distributions `(1 − a)·softmax(sasrec) + a·transition / Σ transition`. The blend
//! with the best validation NDCG@10 is the one read on the test item (`test=1`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::time::Instant;

use rayon::prelude::*;
use recs::data::{Interactions, Record};
use recs::model::{standardize, AnyModel, ModelSpec, Recommender, SasRec, SideInfo};

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
    let mut save: Option<String> = None;
    let mut load_from: Option<String> = None;
    let mut trans_spec = ModelSpec::new("transition")?;
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
            "save" => {
                save = Some(v.to_string());
                p
            }
            // `transition_KEY=VALUE`: the blended `transition`'s parameters, read by the
            // library's spec parser for `transition` (the same keys and checks as
            // `recs eval --models transition:KEY=VALUE`)
            _ if k.starts_with("transition_") => {
                trans_spec = trans_spec.with(&k["transition_".len()..], v)?;
                p
            }
            "load" => {
                load_from = Some(v.to_string());
                p
            }
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
    let model = match &load_from {
        // a model saved by an earlier run (`save=PATH`) on the same data: no training
        Some(path) => recs::model::from_bytes::<SasRec>(&std::fs::read(path)?)?,
        None => p.fit_sequences(n_items, &train, &valid, |e| {
            eprintln!(
                "epoch {:3} loss {:.4} valid HR@10 {:.4} NDCG@10 {:.4} train {:.1}s (total {:.0}s)",
                e.epoch,
                e.loss,
                e.valid_hr,
                e.valid_ndcg,
                e.train_seconds,
                t0.elapsed().as_secs_f64()
            )
        })?,
    };
    if let Some(path) = &save {
        std::fs::write(path, recs::model::to_bytes(&model)?)?;
    }
    let wall = t0.elapsed().as_secs_f64();
    // blends with `transition`, chosen on the validation item
    let inter = sequences_as_interactions(n_items, &train)?;
    let trans = trans_spec.fit(&inter, &SideInfo::default())?.model;
    let val_cases: Vec<(Vec<u32>, u32)> = train
        .iter()
        .zip(&valid)
        .filter_map(|(h, v)| v.map(|v| (h.clone(), v)))
        .filter(|(h, _)| !h.is_empty())
        .collect();
    let grid = blend_grid();
    let val = read_blends(&model, &trans, &val_cases, &grid)?;
    let mut best = 0;
    for (g, (hr, nd)) in grid.iter().zip(&val) {
        eprintln!("validation {g:?}: HR@10 {hr:.4} NDCG@10 {nd:.4}");
    }
    for (k, v) in val.iter().enumerate() {
        if v.1 > val[best].1 {
            best = k;
        }
    }
    println!(
        "{which} blend chosen on validation: {:?} (validation HR@10 {:.4} NDCG@10 {:.4}; sasrec alone {:.4} / {:.4}, transition alone {:.4} / {:.4}; {} users)",
        grid[best], val[best].0, val[best].1, val[0].0, val[0].1, val[1].0, val[1].1, val_cases.len()
    );
    if score_test {
        let test_cases: Vec<(Vec<u32>, u32)> = train
            .iter()
            .zip(&valid)
            .zip(&test)
            .filter_map(|((h, v), t)| {
                let (v, t) = (v.as_ref()?, t.as_ref()?);
                let mut h = h.clone();
                h.push(*v);
                Some((h, *t))
            })
            .collect();
        let picks = [grid[0], grid[1], grid[best]];
        let res = read_blends(&model, &trans, &test_cases, &picks)?;
        for (g, (hr, nd)) in picks.iter().zip(&res) {
            println!(
                "{which} test {g:?}: HR@10 {hr:.4} NDCG@10 {nd:.4} ({} users)",
                test_cases.len()
            );
        }
    }
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

/// The training sequences as interactions whose timestamps are the positions, so that
/// `Transition` reads the same order.
fn sequences_as_interactions(n_items: usize, train: &Seqs) -> Result<Interactions, recs::Error> {
    let recs: Vec<Record> = train
        .iter()
        .enumerate()
        .flat_map(|(u, s)| {
            s.iter().enumerate().map(move |(t, &i)| Record {
                user: u as u32,
                item: i,
                value: 1.0,
                timestamp: Some(t as i64),
            })
        })
        .collect();
    Interactions::from_records(train.len(), n_items, &recs, Default::default())
}

/// A blend of SASRec and `transition` scores (see the module docs).
#[derive(Debug, Clone, Copy)]
enum BlendRule {
    /// `z_sasrec + w · z_transition`; `Z(0)` is SASRec alone.
    Z(f32),
    /// `(1 − a) · softmax(sasrec) + a · transition / Σ transition`.
    Mix(f32),
    /// `transition` alone.
    Transition,
}

fn blend_grid() -> Vec<BlendRule> {
    let mut g = vec![BlendRule::Z(0.0), BlendRule::Transition];
    // The first grid stopped at 0.025 and 0.75, and B1's validation put its best z-blend and
    // its best mixture at those edges, so both ends were widened (before any test read).
    g.extend(
        [
            0.00625, 0.0125, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0,
        ]
        .map(BlendRule::Z),
    );
    g.extend([0.1, 0.25, 0.5, 0.75, 0.85, 0.9, 0.95].map(BlendRule::Mix));
    g
}

/// HR@10 / NDCG@10 of each rule over (ordered history, target) cases: full ranking, the
/// history removed, ties counted against the target.
fn read_blends(
    sas: &SasRec,
    trans: &AnyModel,
    cases: &[(Vec<u32>, u32)],
    rules: &[BlendRule],
) -> Result<Vec<(f64, f64)>, recs::Error> {
    let n = sas.n_items();
    let sums = cases
        .par_iter()
        .map_init(
            || (vec![0f32; n], vec![0f32; n], vec![0f32; n]),
            |(a, b, out), (h, t)| -> Result<Vec<(f64, f64)>, recs::Error> {
                sas.score_history_into(h, a)?;
                trans.score_history_into(h, b)?;
                let (mut za, mut zb) = (a.clone(), b.clone());
                standardize(&mut za);
                standardize(&mut zb);
                // softmax of SASRec's logits; transition's scores as a distribution
                let m = a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let pa: Vec<f32> = a.iter().map(|&v| (v - m).exp()).collect();
                let sa: f32 = pa.iter().sum();
                let sb: f32 = b
                    .iter()
                    .map(|v| v.max(0.0))
                    .sum::<f32>()
                    .max(f32::MIN_POSITIVE);
                let mut res = Vec::with_capacity(rules.len());
                for r in rules {
                    for i in 0..n {
                        out[i] = match *r {
                            BlendRule::Z(w) => za[i] + w * zb[i],
                            BlendRule::Mix(x) => (1.0 - x) * pa[i] / sa + x * b[i].max(0.0) / sb,
                            BlendRule::Transition => b[i],
                        };
                    }
                    let ts = out[*t as usize];
                    for &i in h {
                        out[i as usize] = f32::NEG_INFINITY;
                    }
                    out[*t as usize] = ts;
                    let rank = out
                        .iter()
                        .enumerate()
                        .filter(|&(i, &s)| i != *t as usize && s >= ts)
                        .count();
                    res.push(if rank < 10 {
                        (1.0, 1.0 / (rank as f64 + 2.0).log2())
                    } else {
                        (0.0, 0.0)
                    });
                }
                Ok(res)
            },
        )
        .try_reduce(
            || vec![(0.0, 0.0); rules.len()],
            |mut x, y| {
                for (a, b) in x.iter_mut().zip(y) {
                    a.0 += b.0;
                    a.1 += b.1;
                }
                Ok(x)
            },
        )?;
    let c = cases.len().max(1) as f64;
    Ok(sums.into_iter().map(|(h, d)| (h / c, d / c)).collect())
}
