//! A small private reader of the NCF ML-1M files, shared by the eval tests and the eval bench
//! (via `#[path]`) until the data layer's loader lands. Not part of the library.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use recs::data::{Interactions, Record, Split, TestCase, TestSet, Vocab};

/// `$RECS_DATA_DIR`, else `shared/data` beside the workspace.
pub fn data_dir() -> PathBuf {
    std::env::var_os("RECS_DATA_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
        PathBuf::from,
    )
}

/// The NCF folder when its three files are there, else the reason it is not.
pub fn ncf_dir() -> Result<PathBuf, String> {
    let d = data_dir().join("ml-1m-ncf");
    for f in [
        "ml-1m.train.pairs.gz",
        "ml-1m.test.rating",
        "ml-1m.test.negative",
    ] {
        if !d.join(f).is_file() {
            return Err(format!(
                "{} not found (set RECS_DATA_DIR)",
                d.join(f).display()
            ));
        }
    }
    Ok(d)
}

fn fields(line: &str) -> Vec<&str> {
    line.split('\t').filter(|s| !s.is_empty()).collect()
}

fn lines(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    reader
        .lines()
        .map(Result::unwrap)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// The NCF split: train pairs (with ratings as values), one held-out item per user and, when
/// `with_negatives`, the 99 listed negatives of each user (protocol P2); without them P1.
pub fn load(dir: &Path, with_negatives: bool) -> Split {
    let train: Vec<Record> = lines(&dir.join("ml-1m.train.pairs.gz"))
        .iter()
        .map(|l| {
            let f = fields(l);
            Record {
                user: f[0].parse().unwrap(),
                item: f[1].parse().unwrap(),
                value: f[2].parse().unwrap(),
                timestamp: None,
            }
        })
        .collect();
    let test: Vec<(u32, u32)> = lines(&dir.join("ml-1m.test.rating"))
        .iter()
        .map(|l| {
            let f = fields(l);
            (f[0].parse().unwrap(), f[1].parse().unwrap())
        })
        .collect();
    let negatives: Vec<(u32, Vec<u32>)> = lines(&dir.join("ml-1m.test.negative"))
        .iter()
        .map(|l| {
            let f = fields(l);
            let (u, _) = f[0].trim_matches(['(', ')']).split_once(',').unwrap();
            (
                u.parse().unwrap(),
                f[1..].iter().map(|x| x.parse().unwrap()).collect(),
            )
        })
        .collect();
    let n_users = 1 + train
        .iter()
        .map(|r| r.user)
        .chain(test.iter().map(|t| t.0))
        .max()
        .unwrap() as usize;
    let n_items = 1 + train
        .iter()
        .map(|r| r.item)
        .chain(test.iter().map(|t| t.1))
        .chain(negatives.iter().flat_map(|n| n.1.iter().copied()))
        .max()
        .unwrap() as usize;
    let cases = test
        .iter()
        .zip(&negatives)
        .map(|(&(user, item), (nu, neg))| {
            assert_eq!(
                user, *nu,
                "test.rating and test.negative disagree on line order"
            );
            TestCase {
                user,
                items: vec![item],
                negatives: with_negatives.then(|| neg.clone()),
            }
        })
        .collect();
    Split {
        name: if with_negatives {
            "ml-1m-ncf-p2"
        } else {
            "ml-1m-ncf-p1"
        }
        .into(),
        train: Interactions::from_records(n_users, n_items, &train, Default::default()).unwrap(),
        test: TestSet { cases },
        users: Vocab::identity(n_users),
        items: Vocab::identity(n_items),
    }
}
