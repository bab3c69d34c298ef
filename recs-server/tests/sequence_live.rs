//! Sequence models served live: the order of a user's streamed watch events decides the next
//! answer (issue 19, item 5). In-process, through the `POST /events` path (`record_watch`).

use std::path::Path;
use std::sync::Arc;

use recs::data::{load, Dataset, Format, LoadOptions};
use recs::model::{AnyModel, Fit, Transition};
use recs_server::foldin::{attach, LiveConfig};
use recs_server::{AppState, Catalog, MemorySource, ServeConfig};

/// 30 users, MovieLens `::` format with times giving the order: users 1..=10 watch movies
/// 10 → 11 → 12, users 11..=20 watch 20 → 21 → 22, users 21..=30 watch 30 → 31.
fn write_chains(path: &Path) -> Dataset {
    let mut s = String::new();
    for u in 1..=30u32 {
        let chain: &[u32] = match (u - 1) / 10 {
            0 => &[10, 11, 12],
            1 => &[20, 21, 22],
            _ => &[30, 31],
        };
        for (t, m) in chain.iter().enumerate() {
            s += &format!("{u}::{m}::4::{}\n", 978_300_000 + t);
        }
    }
    std::fs::write(path, s).unwrap();
    load(path, &Format::guess(path), &LoadOptions::default())
        .unwrap()
        .0
}

async fn serve_transition(ds: Dataset) -> AppState {
    let model: AnyModel = Transition::params().fit(&ds.interactions).unwrap().into();
    let source = Arc::new(MemorySource::new());
    source.insert("v1", model);
    let config = ServeConfig {
        live: LiveConfig {
            posted: true,
            ..LiveConfig::default()
        },
        ..ServeConfig::default()
    };
    let catalog = attach(Catalog::from_dataset(ds), &config.live);
    let state = AppState::new(config, source, catalog).unwrap();
    state.load_initial().await.unwrap();
    state
}

fn top(state: &AppState, user: i64, k: usize) -> (Vec<i64>, bool) {
    let dep = state.current().unwrap();
    let snap = dep.model("v1").unwrap();
    let s = snap.recommend(state.catalog(), user, k).unwrap();
    let ids = s
        .items
        .iter()
        .map(|x| state.catalog().item_id(x.item).unwrap())
        .collect();
    (ids, s.cold_start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_watch_decides_what_comes_next() {
    let tmp = tempfile::tempdir().unwrap();
    let state = serve_transition(write_chains(&tmp.path().join("ratings.dat"))).await;

    // Two new users watch the same two movies in opposite orders. Sorted as a set, both
    // histories would be {10, 20} and get one answer; read in order, each continues the chain
    // of the movie they watched last.
    assert!(top(&state, 9001, 1).1, "a new user starts cold");
    state.record_watch(9001, 20, None);
    state.record_watch(9001, 10, None);
    state.record_watch(9002, 10, None);
    state.record_watch(9002, 20, None);
    let (a, cold_a) = top(&state, 9001, 1);
    let (b, cold_b) = top(&state, 9002, 1);
    assert!(!cold_a && !cold_b);
    assert_eq!(a, [11]);
    assert_eq!(b, [21]);

    // The next event changes the very next answer (no retraining, no delay): 9001 now
    // watches 11, so 12 follows.
    state.record_watch(9001, 11, None);
    assert_eq!(top(&state, 9001, 1).0, [12]);

    // A known user (user 21 watched 30 → 31) who streams 20: the training sequence comes
    // first and the streamed movie is newest, so 21 follows; watched movies stay out.
    let (known, cold) = top(&state, 21, 3);
    assert!(!cold);
    state.record_watch(21, 20, None);
    let (after, _) = top(&state, 21, 3);
    assert_ne!(after, known);
    assert_eq!(after[0], 21, "{after:?}");
    assert!(after.iter().all(|m| ![20, 30, 31].contains(m)), "{after:?}");
}
