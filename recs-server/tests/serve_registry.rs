//! Self-contained registry versions: a model trained from pre-split NCF files (the P1 way) is
//! published with its id vocabularies and training interactions, and `recs serve --registry`
//! alone answers in raw MovieLens ids with seen items left out and a cold-start list; a
//! version served with data of other ids is refused; versions published before the serving
//! data existed (a committed fixture) keep loading. The same server with `--exposure-log`
//! writes each answer as a `reco_response` event to rotating files, which `recs ingest` reads
//! back and the offline KPI joins with later watches; `recs probe --events` writes the
//! matching `reco_request`/`reco_response` pairs.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use recs::model::RecOpts;
use recs::Recommender;
use serde_json::Value;

mod common;
use common::{get, Server};

/// Starts `recs serve` with `args`; the server (killed on drop) and its address once ready.
fn start(args: &[&std::ffi::OsStr]) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
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

fn recommend(addr: &str, user: i64, k: usize) -> (Vec<i64>, bool) {
    let (code, body) = get(addr, &format!("/recommend/{user}?k={k}"));
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

const N_USERS: u32 = 30;
const N_ITEMS: u32 = 25;

/// The MovieID of NCF item `i`: not the identity and not in index order, so a server that
/// mapped ids any other way would answer other numbers.
fn movie_of(i: u32) -> i64 {
    3000 - 37 * i64::from(i)
}

/// P1-shaped files (NCF ids: user = UserID − 1, items through item_id_map.tsv): two taste
/// groups, 8 train items and one held-out item per user. Returns (train, test, map) paths.
fn write_p1(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (mut train, mut test) = (String::new(), String::new());
    for u in 0..N_USERS {
        let base = if u % 2 == 0 { 0 } else { 12 };
        let items: Vec<u32> = (0..9).map(|j| base + (u + j * 5) % 13).collect();
        let mut seen = HashSet::new();
        let items: Vec<u32> = items.into_iter().filter(|i| seen.insert(*i)).collect();
        let (held, rest) = items.split_last().unwrap();
        for (j, i) in rest.iter().enumerate() {
            train += &format!("{u}\t{i}\t{}\n", 1 + (u as usize + j) % 5);
        }
        test += &format!("{u}\t{held}\t5\t978300000\n");
    }
    let mut map = String::from("ncf_item_id\tMovieID\n");
    for i in 0..N_ITEMS {
        map += &format!("{i}\t{}\n", movie_of(i));
    }
    let paths = (
        dir.join("train.tsv"),
        dir.join("test.rating"),
        dir.join("item_id_map.tsv"),
    );
    std::fs::write(&paths.0, train).unwrap();
    std::fs::write(&paths.1, test).unwrap();
    std::fs::write(&paths.2, map).unwrap();
    paths
}

fn publish_p1(dir: &Path) -> PathBuf {
    let (train, test, map) = write_p1(dir);
    let reg = dir.join("registry");
    let out = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args(["eval", "--models", "ease:lambda=5", "-q", "--train"])
        .arg(&train)
        .arg("--test")
        .arg(&test)
        .arg("--item-map")
        .arg(&map)
        .arg("--publish")
        .arg(&reg)
        .arg("--promote")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    reg
}

#[test]
fn p1_model_is_served_from_the_registry_alone_in_raw_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let reg_dir = publish_p1(tmp.path());

    // What the library computes (the scoring `recs eval` ranks by): the published model, each
    // user's NCF train items as history, seen items filtered, ids mapped by hand.
    let reg = recs::registry::LocalRegistry::open(&reg_dir).unwrap();
    let (meta, model) = recs::registry::load_latest(&reg).unwrap();
    assert_eq!(
        meta.params["params"]["lambda"], 5.0,
        "meta.json params: {}",
        meta.params
    );
    let split = recs::data::load_ncf(
        &tmp.path().join("train.tsv"),
        &tmp.path().join("test.rating"),
        None,
    )
    .unwrap();
    let (_server, addr) = start(&["--registry".as_ref(), reg_dir.as_os_str()]);
    for u in [0u32, 7, 18, 29] {
        let history = split.train.items_of(u);
        let opts = RecOpts {
            k: 10,
            ..RecOpts::default()
        };
        let expected: Vec<i64> = model
            .recommend(u, history, &opts)
            .unwrap()
            .iter()
            .map(|s| movie_of(s.item))
            .collect();
        let (got, cold) = recommend(&addr, i64::from(u) + 1, 10);
        assert!(!cold, "user {} answered cold", u + 1);
        assert_eq!(got, expected, "UserID {}", u + 1);
        let seen: HashSet<i64> = history.iter().map(|&i| movie_of(i)).collect();
        assert!(got.iter().all(|m| !seen.contains(m)), "seen item served");
    }
    // An unknown user gets the training data's popularity list, not an empty one.
    let counts = split.train.item_counts();
    let top = (0..N_ITEMS).max_by_key(|&i| (counts[i as usize], std::cmp::Reverse(i)));
    let (cold_list, cold) = recommend(&addr, 99_999, 5);
    assert!(cold);
    assert_eq!(cold_list.len(), 5);
    assert_eq!(cold_list[0], movie_of(top.unwrap()));
}

#[test]
fn a_version_served_with_data_of_other_ids_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let reg_dir = publish_p1(tmp.path());
    // The same users and items numbered the NCF way, not as MovieIDs.
    let other = tmp.path().join("other.dat");
    let mut s = String::new();
    for u in 1..=N_USERS {
        for i in 0..N_ITEMS {
            s += &format!("{u}::{i}::3::978300000\n");
        }
    }
    std::fs::write(&other, s).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args(["serve", "--addr", "127.0.0.1:0", "--registry"])
        .arg(&reg_dir)
        .arg("--data")
        .arg(&other)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("do not match the data it is served with"),
        "{err}"
    );
}

/// The committed fixture `fixtures/registry-old` was published by recs before `serving.bin`
/// existed (no vocabularies, `params: null`), from `fixtures/registry-old-ratings.dat`.
#[test]
fn old_registry_versions_keep_loading() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let tmp = tempfile::tempdir().unwrap();
    let reg_dir = tmp.path().join("registry");
    copy_dir(&fixtures.join("registry-old"), &reg_dir);
    let reg = recs::registry::LocalRegistry::open(&reg_dir).unwrap();
    let latest = recs::registry::Registry::latest(&reg).unwrap().unwrap();
    assert!(recs::registry::load_serving_data(&reg, &latest)
        .unwrap()
        .is_none());
    let ratings = fixtures.join("registry-old-ratings.dat");
    let (_server, addr) = start(&[
        "--registry".as_ref(),
        reg_dir.as_os_str(),
        "--data".as_ref(),
        ratings.as_os_str(),
    ]);
    // user 1 rated movies 40, 60, 80 and 20 (see the fixture): they are left out
    let (got, cold) = recommend(&addr, 1, 10);
    assert!(!cold);
    assert!(!got.is_empty() && got.len() <= 4, "{got:?}");
    assert!(got.iter().all(|m| ![20, 40, 60, 80].contains(m)), "{got:?}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Every line of the exposure log and its rotated files, parsed by the event schema.
fn read_exposures(log: &Path) -> Vec<recs::stream::RecoResponse> {
    let mut files = vec![log.to_path_buf()];
    files.extend((1..=50).map(|n| recs_server::exposure::RotatingFile::rotated(log, n)));
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.exists()) {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            match recs::stream::parse_json(line.as_bytes()).unwrap() {
                recs::stream::Event::RecoResponse(r) => out.push(r),
                other => panic!("not a reco_response: {other:?}"),
            }
        }
    }
    out
}

#[test]
fn exposures_are_logged_read_back_by_ingest_and_joined_by_the_kpi() {
    use recs::stream::{online_kpi, Event, Ts, Watch};
    let tmp = tempfile::tempdir().unwrap();
    let reg_dir = publish_p1(tmp.path());
    let log = tmp.path().join("exposures.jsonl");
    let (_server, addr) = start(&[
        "--registry".as_ref(),
        reg_dir.as_os_str(),
        "--exposure-log".as_ref(),
        log.as_os_str(),
        "--exposure-log-max-bytes".as_ref(),
        "2048".as_ref(),
        "--exposure-log-keep".as_ref(),
        "50".as_ref(),
    ]);
    let answers: Vec<Vec<i64>> = (1..=10).map(|u| recommend(&addr, u, 5).0).collect();
    let probe_events = tmp.path().join("probe.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args([
            "probe",
            "--count",
            "6",
            "--interval",
            "0",
            "--request-id-prefix",
            "t",
        ])
        .arg("--url")
        .arg(format!("http://{addr}/recommend/3?k=5"))
        .arg("--events")
        .arg(&probe_events)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The writer is off the request path: wait for it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let exposures = loop {
        let e = read_exposures(&log);
        if e.len() >= 16 || Instant::now() > deadline {
            break e;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exposures.len(), 16);
    assert!(
        recs_server::exposure::RotatingFile::rotated(&log, 1).exists(),
        "16 events of ~300 bytes pass the 2048-byte cap"
    );
    for (u, items) in (1..=10).zip(&answers) {
        let e = exposures.iter().find(|e| e.user_id == u).unwrap();
        let logged: Vec<i64> = e.movie_ids.iter().map(|m| m.parse().unwrap()).collect();
        assert_eq!(
            &logged, items,
            "user {u}: the log lists the answer, best first"
        );
        assert_eq!(e.model_version.as_deref(), Some("v1.0"));
        assert_eq!(e.model_name.as_deref(), Some("ease"));
        assert_eq!(e.variant.as_deref(), Some("fixed"));
        assert_eq!((e.status, e.k), (200, 5));
    }
    // The probe's pairs share their request ids with the server's log.
    let probe_text = std::fs::read_to_string(&probe_events).unwrap();
    let pairs: Vec<Event> = probe_text
        .lines()
        .map(|l| recs::stream::parse_json(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(pairs.len(), 12);
    for (n, pair) in pairs.chunks(2).enumerate() {
        let (Event::RecoRequest(q), Event::RecoResponse(r)) = (&pair[0], &pair[1]) else {
            panic!("not a request/response pair: {pair:?}");
        };
        let id = format!("t-{n}");
        assert_eq!(
            (q.request_id.as_str(), r.request_id.as_str()),
            (id.as_str(), id.as_str())
        );
        let served = exposures.iter().find(|e| e.request_id == id).unwrap();
        assert_eq!(served.movie_ids, r.movie_ids);
        assert_eq!(r.model_version.as_deref(), Some("v1.0"));
    }

    // Offline KPI on the logged exposures: user 1 watches its first movie a second later,
    // user 2 a movie it was not recommended; 1 of 16 answers converted.
    let first = &exposures.iter().find(|e| e.user_id == 1).unwrap();
    let mut events: Vec<Event> = exposures.iter().cloned().map(Event::RecoResponse).collect();
    let watch = |user_id, movie_id: &str, ts: i64| {
        Event::Watch(Watch {
            ts: Ts(ts),
            user_id,
            movie_id: movie_id.into(),
            minute: 0,
        })
    };
    events.push(watch(1, &first.movie_ids[0], first.ts.0 + 1000));
    events.push(watch(2, "1", first.ts.0 + 1000));
    let rows = online_kpi(&events, 3_600_000);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].responses, rows[0].converted, rows[0].watched),
        (16, 1, 1)
    );

    // `recs ingest` reads the log (all its files) and the probe's pairs back.
    let mut files: Vec<PathBuf> = vec![log.clone(), probe_events.clone()];
    files.extend(
        (1..=50)
            .map(|n| recs_server::exposure::RotatingFile::rotated(&log, n))
            .filter(|f| f.exists()),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_recs"))
        .arg("ingest")
        .args(&files)
        .args(["--format", "csv", "--json", "--out"])
        .arg(tmp.path().join("snap"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["counts"]["reco_response"], 22, "{v}");
    assert_eq!(v["summary"]["counts"]["reco_request"], 6, "{v}");
    assert_eq!(v["summary"]["counts"]["dead_letter"], 0, "{v}");

    let (_, metrics) = get(&addr, "/metrics");
    assert!(
        metrics.contains("recs_exposure_written_total{sink=\"file\"} 16"),
        "{metrics}"
    );
    assert!(
        metrics.contains("recs_exposure_dropped_total{sink=\"file\"} 0"),
        "{metrics}"
    );
}

/// Serve → exposure events on Kafka → `recs ingest --kafka` → KPI joined with watch events, on
/// the broker of `scripts/kafka-test.sh` (skips without `RECS_KAFKA_BROKER`; topics
/// `<prefix>exposure` and `<prefix>kpiwatch`).
#[cfg(feature = "stream")]
#[test]
fn exposures_reach_kafka_and_join_watches_after_ingest() {
    use recs::stream::kafka::{tail, KafkaConfig, TailFrom};
    use recs::stream::{online_kpi, parse_json};
    let broker = match std::env::var("RECS_KAFKA_BROKER") {
        Ok(b) if !b.is_empty() => b,
        _ => {
            eprintln!("skipping: RECS_KAFKA_BROKER not set (run scripts/kafka-test.sh)");
            return;
        }
    };
    let prefix = std::env::var("RECS_KAFKA_PREFIX").unwrap_or_else(|_| "recs-test-".into());
    let tmp = tempfile::tempdir().unwrap();
    let reg_dir = publish_p1(tmp.path());
    let topic = format!("{prefix}exposure");
    let (_server, addr) = start(&[
        "--registry".as_ref(),
        reg_dir.as_os_str(),
        "--exposure-kafka".as_ref(),
        broker.as_ref(),
        "--exposure-topic".as_ref(),
        topic.as_ref(),
    ]);
    let answers: Vec<Vec<i64>> = (1..=8).map(|u| recommend(&addr, u, 5).0).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get(&addr, "/metrics")
        .1
        .contains("recs_exposure_written_total{sink=\"kafka\"} 8")
    {
        assert!(Instant::now() < deadline, "{}", get(&addr, "/metrics").1);
        std::thread::sleep(Duration::from_millis(100));
    }
    // User 1 watches its first recommended movie (after the answer); user 2 another movie.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let watches: Vec<Vec<u8>> = [(1, answers[0][0]), (2, 1)]
        .iter()
        .map(|(u, m)| {
            format!(
                r#"{{"type":"watch","ts":{},"user_id":{u},"movie_id":"{m}","minute":0}}"#,
                now + 1
            )
            .into_bytes()
        })
        .collect();
    recs::stream::kafka::produce(
        std::slice::from_ref(&broker),
        &format!("{prefix}kpiwatch"),
        0,
        &watches,
    )
    .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args([
            "ingest",
            "--kafka",
            &broker,
            "--topics",
            "exposure,kpiwatch",
        ])
        .args([
            "--prefix",
            &prefix,
            "--idle-exit",
            "3",
            "--format",
            "csv",
            "--json",
        ])
        .arg("--out")
        .arg(tmp.path().join("snap"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["counts"]["reco_response"], 8, "{v}");
    assert_eq!(v["summary"]["counts"]["watch"], 2, "{v}");

    // The KPI over what the broker holds: 1 of 8 answers converted.
    let config = KafkaConfig::new(&broker, ["exposure", "kpiwatch"])
        .prefix(prefix.clone())
        .idle_exit(Some(Duration::from_secs(2)));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut events = Vec::new();
    tail(&config, TailFrom::Earliest, &stop, |_, value| {
        events.push(parse_json(value).unwrap());
    })
    .unwrap();
    let rows = online_kpi(&events, 3_600_000);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].responses, rows[0].converted), (8, 1));
    assert_eq!(rows[0].model_version, "v1.0");
}
