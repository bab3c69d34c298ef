//! Real-time fold-in: rate/watch events change a user's recommendations without retraining,
//! and the newly seen movies are left out. In-process (`POST /events` path, known and new
//! users) and through the `recs serve --events-file` binary over HTTP. Sequence models served
//! live read the order of the streamed events (issue 19, item 5).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use recs::data::{load, Dataset, Format, LoadOptions};
use recs::model::{Als, AnyModel, Fit, Transition};
use recs_server::foldin::{attach, LiveConfig};
use recs_server::{AppState, Catalog, MemorySource, ServeConfig};
use serde_json::Value;

mod common;
use common::{get, Server};

/// Two taste clusters: users 1..=20 rate movies 1..=20, users 21..=40 movies 21..=40 (twelve
/// movies each, MovieLens `::` format).
fn write_ratings(path: &Path) -> Dataset {
    let mut s = String::new();
    for u in 1..=40u32 {
        let base = if u <= 20 { 0 } else { 20 };
        for j in 0..12u32 {
            let m = base + 1 + (u * 7 + j * 3) % 20;
            s += &format!("{u}::{m}::{}::{}\n", 3 + j % 3, 978_300_000 + u * 100 + j);
        }
    }
    std::fs::write(path, s).unwrap();
    load(path, &Format::guess(path), &LoadOptions::default())
        .unwrap()
        .0
}

fn als(ds: &Dataset) -> Als {
    Als::params()
        .factors(4)
        .iterations(15)
        .fit(&ds.interactions)
        .unwrap()
}

fn cluster_b(ids: &[i64]) -> usize {
    ids.iter().filter(|&&m| m > 20).count()
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
async fn posted_events_fold_into_known_and_new_users() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = write_ratings(&tmp.path().join("ratings.dat"));
    let model = als(&ds);
    let source = Arc::new(MemorySource::new());
    source.insert("v1", model);
    let config = ServeConfig {
        live: LiveConfig {
            posted: true,
            max_users: 10,
            ..LiveConfig::default()
        },
        ..ServeConfig::default()
    };
    let catalog = attach(Catalog::from_dataset(ds), &config.live);
    let state = AppState::new(config, source, catalog).unwrap();
    state.load_initial().await.unwrap();

    // A known cluster-A user: answers are cluster A before.
    let (before, cold) = top(&state, 5, 5);
    assert!(!cold);
    assert_eq!(cluster_b(&before), 0, "{before:?}");
    // They watch ten cluster-B movies (more than their training history).
    let watched: Vec<i64> = (21..=30).collect();
    for &m in &watched {
        state.record_watch(5, m, None);
    }
    let (after, cold) = top(&state, 5, 5);
    assert!(!cold);
    assert_ne!(after, before);
    assert!(after.iter().all(|m| !watched.contains(m)), "{after:?}");
    assert!(cluster_b(&after) >= 3, "{after:?}");

    // A new user: cold start before, cluster B after three B movies, which are left out.
    let (cold_list, cold) = top(&state, 4242, 5);
    assert!(cold);
    for m in [31, 33, 35] {
        state.record_watch(4242, m, None);
    }
    let (folded, cold) = top(&state, 4242, 5);
    assert!(!cold);
    assert_ne!(folded, cold_list);
    assert!(folded.iter().all(|m| ![31, 33, 35].contains(m)));
    assert!(cluster_b(&folded) >= 4, "{folded:?}");

    // Unknown movies are ignored; memory is bounded by max_users.
    state.record_watch(4243, 99_999, None);
    assert!(top(&state, 4243, 3).1);
    for u in 0..50 {
        state.record_watch(10_000 + u, 21, None);
    }
    let live = state.catalog().live().unwrap();
    assert_eq!(live.len(), 10);
    assert!(live.stats().evicted >= 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_events_ignored_unless_enabled() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = write_ratings(&tmp.path().join("ratings.dat"));
    let source = Arc::new(MemorySource::new());
    source.insert("v1", als(&ds));
    let config = ServeConfig::default();
    let catalog = attach(Catalog::from_dataset(ds), &config.live);
    assert!(catalog.live().is_none());
    let state = AppState::new(config, source, catalog).unwrap();
    state.load_initial().await.unwrap();
    let before = top(&state, 5, 5);
    state.record_watch(5, 21, None);
    assert_eq!(top(&state, 5, 5), before);
}

// ---------------------------------------------------------------------------------------------
// Sequence models: the order of the streamed events decides the next answer.

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

// ---------------------------------------------------------------------------------------------
// The binary: `recs serve --events-file` over HTTP.

fn recommend(addr: &str, user: i64) -> (Vec<i64>, bool) {
    let (code, body) = get(addr, &format!("/recommend/{user}?k=5"));
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let ids = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    (ids, v["cold_start"].as_bool().unwrap())
}

/// Starts `recs serve` on the ratings of `write_ratings` with `extra` flags; returns the
/// server (killed on drop) and its address once ready.
fn start_server(tmp: &Path, extra: &[&str]) -> (Server, String) {
    let ratings = tmp.join("ratings.dat");
    let ds = write_ratings(&ratings);
    let reg = recs::registry::LocalRegistry::open(tmp.join("registry")).unwrap();
    let model: AnyModel = als(&ds).into();
    recs::registry::publish_model(
        &reg,
        &model,
        recs::registry::NewVersion::new("als").promote(true),
    )
    .unwrap();
    spawn_server(tmp, extra)
}

/// Starts `recs serve` on what `start_server` wrote and published in `tmp` (a restart).
fn spawn_server(tmp: &Path, extra: &[&str]) -> (Server, String) {
    let ratings = tmp.join("ratings.dat");
    let mut child = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args(["serve", "--addr", "127.0.0.1:0", "--registry"])
        .arg(tmp.join("registry"))
        .arg("--data")
        .arg(&ratings)
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("server: {line}");
            if let Some(a) = line.split("listening on http://").nth(1) {
                let _ = tx.send(a.trim().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&addr, "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "server never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, addr)
}

/// Polls until `user`'s answer is a personalised list of 5 without `watched`; returns it and
/// the time it took.
fn wait_folded(addr: &str, user: i64, watched: &[i64]) -> (Vec<i64>, Duration) {
    let t0 = Instant::now();
    loop {
        let (ids, cold) = recommend(addr, user);
        if !cold && ids.len() == 5 && ids.iter().all(|m| !watched.contains(m)) {
            return (ids, t0.elapsed());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "events never folded in: {ids:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `recs serve --events-kafka` against the broker of `scripts/kafka-test.sh` (skips without
/// `RECS_KAFKA_BROKER`): events produced after start change a new user's answer.
#[cfg(feature = "stream")]
#[test]
fn serve_follows_kafka() {
    let broker = match std::env::var("RECS_KAFKA_BROKER") {
        Ok(b) if !b.is_empty() => b,
        _ => {
            eprintln!("skipping: RECS_KAFKA_BROKER not set (run scripts/kafka-test.sh)");
            return;
        }
    };
    let prefix = std::env::var("RECS_KAFKA_PREFIX").unwrap_or_else(|_| "recs-test-".into());
    let tmp = tempfile::tempdir().unwrap();
    let (_server, addr) = start_server(
        tmp.path(),
        &[
            "--events-kafka",
            &broker,
            "--events-topics",
            "foldin",
            "--events-prefix",
            &prefix,
            "--events-from",
            "earliest",
        ],
    );
    let user = 888;
    assert!(recommend(&addr, user).1);
    let watched = [23i64, 27, 31, 35];
    let lines: Vec<Vec<u8>> = watched
        .iter()
        .map(|m| format!("2024-02-01T12:00:00,{user},GET /data/m/{m}/0.mpg").into_bytes())
        .chain([b"not an event".to_vec()])
        .collect();
    let topic = format!("{prefix}foldin");
    recs::stream::kafka::produce(std::slice::from_ref(&broker), &topic, 0, &lines).unwrap();
    let (after, took) = wait_folded(&addr, user, &watched);
    eprintln!(
        "kafka fold-in visible {:.0} ms after produce: {after:?}",
        took.as_secs_f64() * 1e3
    );
    assert!(cluster_b(&after) >= 4, "{after:?}");
}

#[test]
fn serve_follows_an_event_file() {
    let tmp = tempfile::tempdir().unwrap();
    let events = tmp.path().join("events.log");
    std::fs::write(&events, "").unwrap();
    let (server, addr) = start_server(tmp.path(), &["--events-file", events.to_str().unwrap()]);

    let user = 777;
    let (before, cold) = recommend(&addr, user);
    assert!(cold);
    let watched = [22i64, 26, 30, 34];
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .unwrap();
    // A bad line and an out-of-range rating are skipped, not fatal.
    writeln!(f, "garbage").unwrap();
    writeln!(f, "2024-02-01T12:00:00,{user},GET /rate/1=11").unwrap();
    for (i, m) in watched.iter().enumerate() {
        writeln!(f, "2024-02-01T12:00:0{i},{user},GET /data/m/{m}/0.mpg").unwrap();
    }
    f.flush().unwrap();
    let (after, took) = wait_folded(&addr, user, &watched);
    eprintln!(
        "fold-in visible after {:.0} ms: {before:?} -> {after:?}",
        took.as_secs_f64() * 1e3
    );
    assert_ne!(after, before);
    assert!(cluster_b(&after) >= 4, "{after:?}");

    // The same bytes read again add nothing (issue 17, identity by content): the live history
    // is a set of movies per user, so repeated lines leave it as it was, and a restart, which
    // reads the followed file from its start into empty memory (no offset is kept that a path
    // could fool), rebuilds the same state.
    for (i, m) in watched.iter().enumerate() {
        writeln!(f, "2024-02-01T12:00:0{i},{user},GET /data/m/{m}/0.mpg").unwrap();
    }
    writeln!(f, "2024-02-01T12:00:09,{user},GET /data/m/1/0.mpg").unwrap();
    f.flush().unwrap();
    // Movie 1 is a marker: once it is left out, the repeated lines before it were read too.
    let (repeated, _) = wait_folded(&addr, user, &[22, 26, 30, 34, 1]);
    drop(server);
    let (_server, addr) = spawn_server(tmp.path(), &["--events-file", events.to_str().unwrap()]);
    let (restarted, _) = wait_folded(&addr, user, &[22, 26, 30, 34, 1]);
    assert_eq!(
        restarted, repeated,
        "a restart re-reads the file into the same state"
    );
}

/// The value of the sample of `name` whose labels contain `labels`, from `/metrics`.
fn metric(addr: &str, name: &str, labels: &str) -> Option<f64> {
    let (code, body) = get(addr, "/metrics");
    assert_eq!(code, 200);
    body.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(labels))
        .find_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()))
}

/// Watch events of the live feed are joined with the answers served before them: the online
/// KPI (and the experiment) count them.
#[test]
fn feed_watch_events_count_in_the_online_kpi() {
    let tmp = tempfile::tempdir().unwrap();
    let events = tmp.path().join("events.log");
    std::fs::write(&events, "").unwrap();
    let (_server, addr) = start_server(tmp.path(), &["--events-file", events.to_str().unwrap()]);

    let (shown, cold) = recommend(&addr, 5);
    assert!(!cold && !shown.is_empty());
    let (other, _) = recommend(&addr, 6);
    assert!(!other.is_empty());
    let fixed = "variant=\"fixed\"";
    assert_eq!(
        metric(&addr, "recs_online_recommendations_total", fixed),
        Some(2.0)
    );
    // Whole seconds after both answers were served (the feed's timestamps are seconds).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .unwrap();
    // User 6 watches a movie it was not recommended; user 5 one it was.
    let unseen = (1..=40).find(|m| !other.contains(m)).unwrap();
    for (user, movie) in [(6, unseen), (5, shown[0])] {
        writeln!(
            f,
            r#"{{"type":"watch","ts":{now},"user_id":{user},"movie_id":"{movie}","minute":0}}"#
        )
        .unwrap();
    }
    f.flush().unwrap();
    let t0 = Instant::now();
    while metric(&addr, "recs_online_watched_total", fixed) != Some(1.0) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the watch never counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(metric(&addr, "recs_online_watch_rate", fixed), Some(0.5));
    assert_eq!(
        metric(&addr, "recs_watch_events_total", "attributed=\"true\""),
        Some(1.0)
    );
}
