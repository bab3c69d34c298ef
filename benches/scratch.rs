//! Stand-in loader and HR/NDCG for the NCF files until `recs::data`/`recs::eval` land.

use std::io::{BufRead, BufReader};
use std::path::Path;

use recs::data::{Interactions, Record};
use recs::model::{Recommender, Scored};

pub struct Case {
    pub user: u32,
    pub item: u32,
    pub negatives: Vec<u32>,
}

pub struct NcfSplit {
    pub train: Interactions,
    pub cases: Vec<Case>,
}

fn lines(path: &Path) -> Result<Vec<String>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let r: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(f)))
    } else {
        Box::new(BufReader::new(f))
    };
    r.lines()
        .map(|l| l.map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()
}

fn num(s: &str) -> Result<u32, String> {
    s.trim().parse().map_err(|_| format!("bad number `{s}`"))
}

pub fn load_ncf(dir: &Path) -> Result<NcfSplit, String> {
    let mut pairs = Vec::new();
    for l in lines(&dir.join("ml-1m.train.pairs.gz"))? {
        let f: Vec<&str> = l.split('\t').collect();
        pairs.push((num(f[0])?, num(f[1])?));
    }
    let mut test = Vec::new();
    for l in lines(&dir.join("ml-1m.test.rating"))? {
        let f: Vec<&str> = l.split('\t').collect();
        test.push((num(f[0])?, num(f[1])?));
    }
    let mut negs = std::collections::HashMap::new();
    for l in lines(&dir.join("ml-1m.test.negative"))? {
        let mut f = l.split('\t');
        let head = f.next().unwrap_or("");
        let (u, i) = head
            .trim_matches(|c| c == '(' || c == ')')
            .split_once(',')
            .ok_or("bad negative head")?;
        let (u, i) = (num(u)?, num(i)?);
        let ns: Vec<u32> = f
            .map(num)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|&n| n != i)
            .collect();
        negs.insert(u, ns);
    }
    let n_users = pairs.iter().chain(&test).map(|p| p.0).max().unwrap_or(0) as usize + 1;
    let n_items = pairs
        .iter()
        .chain(&test)
        .map(|p| p.1)
        .chain(negs.values().flatten().copied())
        .max()
        .unwrap_or(0) as usize
        + 1;
    let recs: Vec<Record> = pairs
        .iter()
        .map(|&(u, i)| Record {
            user: u,
            item: i,
            value: 1.0,
            timestamp: None,
        })
        .collect();
    let train = Interactions::from_records(n_users, n_items, &recs, Default::default())
        .map_err(|e| e.to_string())?;
    let cases = test
        .into_iter()
        .map(|(user, item)| Case {
            user,
            item,
            negatives: negs.remove(&user).unwrap_or_default(),
        })
        .collect();
    // keep the raw order for the validation carve
    RAW.with(|r| *r.borrow_mut() = pairs);
    Ok(NcfSplit { train, cases })
}

thread_local! {
    static RAW: std::cell::RefCell<Vec<(u32, u32)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Holds out each user's last training line; `n_neg` negatives sampled among items the user
/// never interacted with (in the full training data).
pub fn validation(full: &NcfSplit, n_neg: usize, seed: u64) -> NcfSplit {
    let pairs = RAW.with(|r| r.borrow().clone());
    let n_users = full.train.n_users();
    let n_items = full.train.n_items();
    let mut last = vec![usize::MAX; n_users];
    for (k, &(u, _)) in pairs.iter().enumerate() {
        last[u as usize] = k;
    }
    let recs: Vec<Record> = pairs
        .iter()
        .enumerate()
        .filter(|&(k, &(u, _))| last[u as usize] != k)
        .map(|(_, &(u, i))| Record {
            user: u,
            item: i,
            value: 1.0,
            timestamp: None,
        })
        .collect();
    let train = Interactions::from_records(n_users, n_items, &recs, Default::default())
        .expect("valid");
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut cases = Vec::new();
    for u in 0..n_users as u32 {
        let k = last[u as usize];
        if k == usize::MAX || train.items_of(u).is_empty() {
            continue;
        }
        let item = pairs[k].1;
        let seen = full.train.items_of(u);
        let mut negatives = Vec::with_capacity(n_neg);
        while negatives.len() < n_neg {
            let c = (next() % n_items as u64) as u32;
            if seen.binary_search(&c).is_err() && !negatives.contains(&c) {
                negatives.push(c);
            }
        }
        cases.push(Case {
            user: u,
            item,
            negatives,
        });
    }
    NcfSplit { train, cases }
}

/// (HR@10, NDCG@10) of full-ranking lists (already filtered of training items).
pub fn full_ranking(all: &[Vec<Scored>], cases: &[Case]) -> (f64, f64) {
    let (mut hr, mut ndcg) = (0.0, 0.0);
    for c in cases {
        if let Some(pos) = all[c.user as usize]
            .iter()
            .take(10)
            .position(|s| s.item == c.item)
        {
            hr += 1.0;
            ndcg += 1.0 / ((pos + 2) as f64).log2();
        }
    }
    let n = cases.len().max(1) as f64;
    (hr / n, ndcg / n)
}

/// (HR@10, NDCG@10) ranking the test item among its negatives; ties count against the item.
pub fn sampled(
    model: &dyn Recommender,
    train: &Interactions,
    cases: &[Case],
) -> Result<(f64, f64), String> {
    let (mut hr, mut ndcg) = (0.0, 0.0);
    for c in cases {
        let mut items = vec![c.item];
        items.extend(&c.negatives);
        let s = model
            .score_items(c.user, train.items_of(c.user), &items)
            .map_err(|e| e.to_string())?;
        let rank = s[1..].iter().filter(|&&x| x >= s[0]).count();
        if rank < 10 {
            hr += 1.0;
            ndcg += 1.0 / ((rank + 2) as f64).log2();
        }
    }
    let n = cases.len().max(1) as f64;
    Ok((hr / n, ndcg / n))
}
