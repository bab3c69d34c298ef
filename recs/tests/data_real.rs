//! The real MovieLens files in `RECS_DATA_DIR` (default `../shared/data`): documented counts and
//! cross-checks between files. Each test prints `skipping: ...` and passes when data is absent.

use std::collections::HashMap;
use std::path::PathBuf;

use recs::data::{
    load_ml100k_items, load_ml100k_ratings, load_ml100k_users, load_movielens_ratings, load_movies,
    load_ncf_with, load_users, split, Dataset, LoadOptions,
};

fn data_dir() -> PathBuf {
    std::env::var_os("RECS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

/// The path of `rel` under the data dir, or `None` (after printing why) when absent.
fn file(rel: &str) -> Option<PathBuf> {
    let p = data_dir().join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

fn rating_counts(d: &Dataset) -> [usize; 5] {
    let mut c = [0; 5];
    for &v in d.interactions.values() {
        c[v as usize - 1] += 1;
    }
    c
}

#[test]
fn ml1m_ratings_have_the_documented_counts() {
    let Some(p) = file("ml-1m/ratings_uir.dat.gz") else {
        return;
    };
    let (d, rep) = load_movielens_ratings(&p, &LoadOptions::default()).unwrap();
    assert_eq!(
        (rep.lines, rep.records, rep.skipped, rep.merged),
        (1_000_209, 1_000_209, 0, 0)
    );
    assert_eq!(d.interactions.nnz(), 1_000_209);
    assert_eq!(d.users.len(), 6040);
    assert_eq!(d.items.len(), 3706);
    assert_eq!(rating_counts(&d), [56174, 107557, 261197, 348971, 226310]);
    assert!(d.interactions.timestamps().is_none());
    // First-seen order: user 1's first movie is 1193 (first line of ratings.dat).
    assert_eq!((d.users.ids()[0], d.items.ids()[0]), (1, 1193));
    // ML-1M users have at least 20 ratings each.
    assert!(d.interactions.user_counts().iter().all(|&c| c >= 20));

    // The timestamped file is the first 487,650 lines of the same data.
    let Some(pt) = file("ml-1m/ratings_users0001-2999.dat.gz") else {
        return;
    };
    let (t, rep) = load_movielens_ratings(&pt, &LoadOptions::default()).unwrap();
    assert_eq!((rep.records, t.users.len()), (487_650, 2999));
    assert!(t.interactions.timestamps().is_some());
    for r in t.interactions.records() {
        let (u, i) = (
            t.users.ids()[r.user as usize],
            t.items.ids()[r.item as usize],
        );
        let du = d.users.index(u).unwrap();
        let di = d.items.index(i).unwrap();
        let row = d.interactions.items_of(du);
        let k = row.binary_search(&di).unwrap();
        assert_eq!(d.interactions.values_of(du)[k], r.value);
    }
}

#[test]
fn ml1m_movies_and_users() {
    let (Some(pm), Some(pu)) = (file("ml-1m/movies.dat"), file("ml-1m/users.dat")) else {
        return;
    };
    let movies = load_movies(&pm).unwrap();
    assert_eq!(movies.len(), 3883);
    let m73 = movies.iter().find(|m| m.id == 73).unwrap();
    assert_eq!(m73.title, "Misérables, Les (1995)");
    assert_eq!(m73.genres, ["Drama", "Musical"]);
    assert_eq!(movies[0].title, "Toy Story (1995)");
    assert!(movies.iter().all(|m| !m.genres.is_empty()));
    let users = load_users(&pu).unwrap();
    assert_eq!(users.len(), 6040);
    assert_eq!(users[0].gender, 'F');
    assert_eq!(users[0].occupation, "K-12 student");
}

#[test]
fn ml100k_files_have_the_documented_counts() {
    let Some(p) = file("ml-100k/u.data") else {
        return;
    };
    let (d, _) = load_ml100k_ratings(&p, &LoadOptions::default()).unwrap();
    assert_eq!(d.interactions.nnz(), 100_000);
    assert_eq!((d.users.len(), d.items.len()), (943, 1682));
    assert_eq!(rating_counts(&d), [6110, 11370, 27145, 34174, 21201]);
    let (Some(pi), Some(pu)) = (file("ml-100k/u.item"), file("ml-100k/u.user")) else {
        return;
    };
    let items = load_ml100k_items(&pi).unwrap();
    assert_eq!(items.len(), 1682);
    assert_eq!(items[0].genres, ["Animation", "Children's", "Comedy"]);
    // Some titles have Latin-1 accents; none may hold the replacement character.
    assert!(items.iter().any(|m| !m.title.is_ascii()));
    assert!(items.iter().all(|m| !m.title.contains('\u{FFFD}')));
    assert_eq!(load_ml100k_users(&pu).unwrap().len(), 943);
}

#[test]
fn ncf_split_matches_the_readme() {
    let (Some(tr), Some(te), Some(ng)) = (
        file("ml-1m-ncf/ml-1m.train.pairs.gz"),
        file("ml-1m-ncf/ml-1m.test.rating"),
        file("ml-1m-ncf/ml-1m.test.negative"),
    ) else {
        return;
    };
    let (s, rep) = load_ncf_with(&tr, &te, Some(&ng), &LoadOptions::default()).unwrap();
    assert_eq!(s.train.nnz(), 994_169);
    assert_eq!(rep.merged, 0);
    assert_eq!((s.users.len(), s.items.len()), (6040, 3706));
    assert_eq!(s.test.cases.len(), 6040);
    assert_eq!(s.train.nnz() + s.test.n_items_total(), 1_000_209);
    let mut n98 = 0;
    for c in &s.test.cases {
        assert_eq!(c.items.len(), 1);
        let negs = c.negatives.as_ref().unwrap();
        assert!(!negs.contains(&c.items[0]));
        // The negatives avoid the user's train items.
        let seen = s.train.items_of(c.user);
        assert!(negs.iter().all(|i| seen.binary_search(i).is_err()));
        match negs.len() {
            99 => {}
            98 => n98 += 1,
            n => panic!("user {} has {n} negatives", c.user),
        }
    }
    assert_eq!(
        n98, 156,
        "README: the test item is among the negatives in 156 lines"
    );
    assert!(
        rep.notes.iter().any(|n| n.contains("in 156 lines")),
        "{rep}"
    );
}

/// Our leave-last-out on the timestamped ML-1M users holds out an item with the same timestamp
/// as NCF's held-out item (the NCF test item is each user's latest rating), and the same item
/// whenever the latest timestamp is not shared.
#[test]
fn leave_last_out_agrees_with_the_ncf_test_items() {
    let (Some(pt), Some(te), Some(map)) = (
        file("ml-1m/ratings_users0001-2999.dat.gz"),
        file("ml-1m-ncf/ml-1m.test.rating"),
        file("ml-1m-ncf/item_id_map.tsv"),
    ) else {
        return;
    };
    let (d, _) = load_movielens_ratings(&pt, &LoadOptions::default()).unwrap();
    let s = split::leave_last_out(&d).unwrap();
    assert_eq!(s.test.cases.len(), 2999);
    assert_eq!(s.train.nnz() + 2999, d.interactions.nnz());
    // ncf item id -> MovieID
    let text = std::fs::read_to_string(map).unwrap();
    let ncf_to_movie: HashMap<i64, i64> = text
        .lines()
        .skip(1)
        .map(|l| {
            let (a, b) = l.split_once('\t').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    // NCF user = UserID - 1; (MovieID, timestamp) of each NCF test line.
    let text = std::fs::read_to_string(te).unwrap();
    let ncf: HashMap<i64, (i64, i64)> = text
        .lines()
        .map(|l| {
            let f: Vec<i64> = l.split('\t').map(|x| x.parse().unwrap()).collect();
            (f[0] + 1, (ncf_to_movie[&f[1]], f[3]))
        })
        .collect();
    let mut untied = 0;
    for c in &s.test.cases {
        let user = d.users.external(c.user).unwrap();
        let item = c.items[0];
        let row = d.interactions.items_of(c.user);
        let k = row.binary_search(&item).unwrap();
        let all_ts = d.interactions.timestamps_of(c.user).unwrap();
        let ts = all_ts[k];
        let (ncf_movie, ncf_ts) = ncf[&user];
        assert_eq!(ts, ncf_ts, "user {user}");
        assert_eq!(ts, *all_ts.iter().max().unwrap());
        // When the latest timestamp is unique, the held-out item is the same. (NCF broke
        // same-second ties neither by first nor by last line, so tied users may differ.)
        if all_ts.iter().filter(|&&t| t == ts).count() == 1 {
            untied += 1;
            assert_eq!(d.items.external(item), Some(ncf_movie), "user {user}");
        }
    }
    eprintln!("{untied} of 2999 users have a unique latest timestamp; all match NCF's item");
    assert!(untied > 1000, "{untied}");
}
