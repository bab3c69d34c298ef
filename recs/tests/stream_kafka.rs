//! Kafka ingestion against a real Kafka-protocol broker (run by `scripts/kafka-test.sh`, which
//! starts tansu on 127.0.0.1, creates the topics and sets `RECS_KAFKA_BROKER`).
//!
//! The ingestor runs as a child process (this test binary re-run with `kafka_child`, an ignored
//! test that does nothing unless `RECS_KAFKA_CHILD` is set), so it can be killed for real.
#![cfg(feature = "kafka")]

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use recs::stream::kafka::{ingest_kafka, partitions, produce, KafkaConfig, Producer};
use recs::stream::{parse_line, Event, IngestConfig, SnapshotSet};

fn broker() -> Option<String> {
    match std::env::var("RECS_KAFKA_BROKER") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            eprintln!("skipping: RECS_KAFKA_BROKER not set (run scripts/kafka-test.sh)");
            None
        }
    }
}

fn prefix() -> String {
    std::env::var("RECS_KAFKA_PREFIX").unwrap_or_else(|_| "recs-test-".into())
}

/// Record `i`: a unique valid event (log line or JSON), or every 17th an invalid one.
fn record(i: usize) -> (Vec<u8>, bool) {
    let ts = format!(
        "2024-02-01T{:02}:{:02}:{:02}.{:03}",
        (i / 3_600_000) % 24,
        (i / 60_000) % 60,
        (i / 1000) % 60,
        i % 1000
    );
    let s = match i % 17 {
        0 => (format!("{ts},{i},GET /rate/m{i}=11"), false),
        5 => (format!("{ts},{i},this is not an event"), false),
        1 | 2 => (
            format!(
                r#"{{"type":"rate","ts":"{ts}Z","user_id":{i},"movie_id":"m{}","rating":{}}}"#,
                i % 50,
                1 + i % 5
            ),
            true,
        ),
        3 => (
            format!(
                "{ts},{i},recommendation request s:1, status 200, result: m1, m{}, 5 ms",
                i % 50
            ),
            true,
        ),
        _ => (
            format!("{ts},{i},GET /data/m/movie+{}/{}.mpg", i % 50, i % 90),
            true,
        ),
    };
    (s.0.into_bytes(), s.1)
}

/// Produces records `range` round-robin over the topic's partitions.
fn produce_range(brokers: &[String], topic: &str, range: std::ops::Range<usize>) {
    let parts = partitions(brokers, topic).unwrap();
    let mut by_part: Vec<Vec<Vec<u8>>> = vec![Vec::new(); parts.len()];
    for i in range {
        by_part[i % parts.len()].push(record(i).0);
    }
    for (p, vals) in parts.iter().zip(by_part) {
        produce(brokers, topic, *p, &vals).unwrap();
    }
}

fn spawn_child(dir: &Path, topic: &str, member: u32, members: u32, batch: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "kafka_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RECS_KAFKA_CHILD", "1")
        .env("RECS_CHILD_DIR", dir)
        .env("RECS_CHILD_TOPIC", topic)
        .env("RECS_CHILD_MEMBER", member.to_string())
        .env("RECS_CHILD_MEMBERS", members.to_string())
        .env("RECS_CHILD_BATCH", batch.to_string())
        .spawn()
        .unwrap()
}

/// Not a test: the ingest child process (see the module docs).
#[test]
#[ignore]
fn kafka_child() {
    if std::env::var("RECS_KAFKA_CHILD").is_err() {
        return;
    }
    let env = |k: &str| std::env::var(k).unwrap();
    let Some(b) = broker() else { return };
    let k = KafkaConfig::new(&b, [env("RECS_CHILD_TOPIC")])
        .member(
            env("RECS_CHILD_MEMBER").parse().unwrap(),
            env("RECS_CHILD_MEMBERS").parse().unwrap(),
        )
        .idle_exit(Some(Duration::from_secs(3)));
    let c = IngestConfig::new(env("RECS_CHILD_DIR"))
        .member(env("RECS_CHILD_MEMBER"))
        .batch_size(env("RECS_CHILD_BATCH").parse().unwrap());
    let s = ingest_kafka(&k, &c).unwrap();
    eprintln!("child {}: {s}", env("RECS_CHILD_MEMBER"));
}

fn wait(child: &mut Child, limit: Duration) {
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "child failed: {status}");
            return;
        }
        assert!(t.elapsed() < limit, "child did not finish in {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every valid record of `0..n` exactly once in the snapshots, every invalid one in the dead
/// letters with a reason.
fn check(dir: &Path, topic: &str, n: usize) {
    let set = SnapshotSet::open(dir).unwrap();
    set.verify().unwrap();
    let counts = set.counts();
    let events = set.events().unwrap();
    let dead = set.dead_letters().unwrap();
    let valid: Vec<usize> = (0..n).filter(|&i| record(i).1).collect();
    // Raw manifest counts (before any dedup by readers) equal the expected: nothing twice.
    assert_eq!(counts.valid() as usize, valid.len(), "valid events written");
    assert_eq!(
        counts.dead_letter as usize,
        n - valid.len(),
        "dead letters written"
    );
    assert_eq!(events.len(), valid.len());
    let mut want: Vec<Event> = valid
        .iter()
        .map(|&i| parse_line(&record(i).0).unwrap())
        .collect();
    let mut got: Vec<Event> = events
        .iter()
        .map(|(k, e)| {
            assert_eq!(k.topic, topic);
            e.clone()
        })
        .collect();
    let key = |e: &Event| serde_json::to_string(e).unwrap();
    want.sort_by_key(key);
    got.sort_by_key(key);
    assert!(
        want == got,
        "snapshot events differ from the produced valid events"
    );
    let mut raws: Vec<String> = dead.iter().map(|d| d.raw.clone()).collect();
    raws.sort();
    let mut want_raw: Vec<String> = (0..n)
        .filter(|&i| !record(i).1)
        .map(|i| String::from_utf8(record(i).0).unwrap())
        .collect();
    want_raw.sort();
    assert_eq!(raws, want_raw);
    for d in &dead {
        assert!(
            d.reason.starts_with("parse:") || d.reason.starts_with("invalid: rating"),
            "{}",
            d.reason
        );
    }
}

/// SIGKILL, then reap.
fn stop(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
// The polling loop only exits through `stop` (kill + wait); clippy cannot see that.
#[allow(clippy::zombie_processes)]
fn kill_and_restart_mid_stream() {
    let Some(b) = broker() else { return };
    let brokers = vec![b];
    let topic = format!("{}restart", prefix());
    let dir = tempfile::tempdir().unwrap();
    let (n, half) = (4000, 2500);
    produce_range(&brokers, &topic, 0..half);
    let mut child = spawn_child(dir.path(), &topic, 0, 1, 50);
    // Kill as soon as some batches are committed: the second part is not even produced yet.
    let t = Instant::now();
    let committed_at_kill = loop {
        let c = SnapshotSet::open(dir.path())
            .map(|s| s.counts())
            .unwrap_or_default();
        let done = c.valid() + c.dead_letter;
        let timed_out = t.elapsed() > Duration::from_secs(60);
        if done > 0 || timed_out {
            stop(&mut child);
            assert!(!timed_out, "child committed nothing in 60 s");
            break done;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let after_kill = SnapshotSet::open(dir.path()).unwrap().counts();
    eprintln!(
        "killed with {committed_at_kill} records committed ({} after the kill settled) of {n}",
        after_kill.valid() + after_kill.dead_letter
    );
    assert!(
        ((after_kill.valid() + after_kill.dead_letter) as usize) < n,
        "killed mid-stream"
    );
    produce_range(&brokers, &topic, half..n);
    let mut child = spawn_child(dir.path(), &topic, 0, 1, 50);
    wait(&mut child, Duration::from_secs(120));
    check(dir.path(), &topic, n);
    // A third run finds nothing new.
    let mut child = spawn_child(dir.path(), &topic, 0, 1, 50);
    wait(&mut child, Duration::from_secs(60));
    check(dir.path(), &topic, n);
}

#[test]
fn two_members_share_partitions() {
    let Some(b) = broker() else { return };
    let brokers = vec![b];
    let topic = format!("{}group", prefix());
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    produce_range(&brokers, &topic, 0..n);
    let mut a = spawn_child(dir.path(), &topic, 0, 2, 200);
    let mut b = spawn_child(dir.path(), &topic, 1, 2, 200);
    wait(&mut a, Duration::from_secs(120));
    wait(&mut b, Duration::from_secs(120));
    check(dir.path(), &topic, n);
    let set = SnapshotSet::open(dir.path()).unwrap();
    assert_eq!(set.manifests().len(), 2);
    for m in set.manifests() {
        let member: i32 = m.member.parse().unwrap();
        let parts: Vec<i32> = m.offsets[&topic].keys().copied().collect();
        assert!(!parts.is_empty());
        assert!(
            parts.iter().all(|p| p % 2 == member),
            "member {member} took {parts:?}"
        );
        assert!(m.counts().valid() > 0);
    }
}

#[test]
fn in_process_ingest_and_bad_config() {
    let Some(b) = broker() else { return };
    let brokers = vec![b.clone()];
    let topic = format!("{}invalid", prefix());
    let dir = tempfile::tempdir().unwrap();
    let vals: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\xff\xfe".to_vec(),
        b"{\"type\":".to_vec(),
        record(4).0,
    ];
    produce(&brokers, &topic, 0, &vals).unwrap();
    let k = KafkaConfig::new(&b, ["invalid"])
        .prefix(prefix())
        .idle_exit(Some(Duration::from_millis(500)));
    let s = ingest_kafka(&k, &IngestConfig::new(dir.path())).unwrap();
    assert_eq!((s.counts.valid(), s.counts.dead_letter), (1, 3));
    let missing = KafkaConfig::new(&b, ["no-such-topic"]).prefix(prefix());
    assert!(ingest_kafka(&missing, &IngestConfig::new(dir.path())).is_err());
    let bad = KafkaConfig::new(&b, ["invalid"])
        .prefix(prefix())
        .member(2, 2);
    assert!(ingest_kafka(&bad, &IngestConfig::new(dir.path())).is_err());
}

#[test]
fn a_producer_keeps_one_connection_across_sends() {
    let Some(b) = broker() else { return };
    let topic = format!("{}producer", prefix());
    let mut p = Producer::new(&[b], &topic, 0).unwrap();
    assert_eq!(p.connects(), 0, "connects lazily");
    // 1 + 600 (two produce requests: chunks of 500) + 3 records, in three sends.
    let mut offsets = Vec::new();
    for n in [1, 600, 3] {
        let vals: Vec<Vec<u8>> = (0..n).map(|i| record(i).0).collect();
        let got = p.send(&vals).unwrap();
        assert_eq!(got.len(), n);
        offsets.extend(got);
    }
    assert_eq!(p.connects(), 1, "one connection for all sends");
    // One partition, one writer: the offsets follow each other without a gap.
    assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{offsets:?}");
}

/// Benchmark-like (ignored): broker → validated CSV snapshot throughput, in process.
/// `CARGO_TEST_ARGS="--ignored kafka_throughput --nocapture" scripts/kafka-test.sh` (add
/// `--release` via `cargo test --release` for the real figure).
#[test]
#[ignore]
fn kafka_throughput() {
    let Some(b) = broker() else { return };
    let brokers = vec![b.clone()];
    let topic = format!("{}throughput", prefix());
    let n: usize = std::env::var("RECS_KAFKA_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400_000);
    produce_range(&brokers, &topic, 0..n);
    let dir = tempfile::tempdir().unwrap();
    let k = KafkaConfig::new(&b, ["throughput"])
        .prefix(prefix())
        .idle_exit(Some(Duration::from_millis(300)));
    // Parquet (the production format) when built with it; RECS_KAFKA_BENCH_FORMAT overrides.
    let format: recs::stream::SnapshotFormat = std::env::var("RECS_KAFKA_BENCH_FORMAT")
        .unwrap_or_else(|_| {
            if cfg!(feature = "parquet") {
                "parquet"
            } else {
                "csv"
            }
            .into()
        })
        .parse()
        .unwrap();
    let t = Instant::now();
    let s = ingest_kafka(&k, &IngestConfig::new(dir.path()).format(format)).unwrap();
    let secs = t.elapsed().as_secs_f64() - 0.3;
    let total = s.counts.valid() + s.counts.dead_letter;
    assert_eq!(total as usize, n);
    eprintln!(
        "kafka → {format:?} snapshot: {total} records in {secs:.2} s = {:.0} records/s",
        total as f64 / secs
    );
}

/// `tail` (the server's fold-in source) sees every record of its partitions from the
/// earliest, splits partitions between members, and stops on its idle timeout or the flag.
#[test]
fn tail_follows_partitions() {
    use recs::stream::kafka::{tail, TailFrom};
    use std::sync::atomic::AtomicBool;
    let Some(b) = broker() else { return };
    let brokers = vec![b.clone()];
    let topic = format!("{}tail", prefix());
    produce_range(&brokers, &topic, 0..300);
    let stop = AtomicBool::new(false);
    let mut seen = std::collections::HashSet::new();
    for member in 0..2 {
        let k = KafkaConfig::new(&b, ["tail"])
            .prefix(prefix())
            .member(member, 2)
            .idle_exit(Some(Duration::from_millis(500)));
        let n = tail(&k, TailFrom::Earliest, &stop, |key, raw| {
            assert_eq!(key.partition % 2, member as i32);
            assert!(seen.insert(raw.to_vec()), "record seen twice");
        })
        .unwrap();
        assert!(n > 0);
    }
    assert_eq!(seen.len(), 300);
    // From the latest offset nothing old is seen.
    let k = KafkaConfig::new(&b, ["tail"])
        .prefix(prefix())
        .idle_exit(Some(Duration::from_millis(300)));
    assert_eq!(tail(&k, TailFrom::Latest, &stop, |_, _| {}).unwrap(), 0);
    // A set stop flag ends it at once.
    let k = k.idle_exit(None);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(tail(&k, TailFrom::Earliest, &stop, |_, _| {}).unwrap(), 0);
}

/// Benchmark-like (ignored): the consumer-group source (`kafka_group`, rdkafka) against the
/// static one (`kafka`, rskafka) on the same records of a 4-partition topic, broker →
/// validated Parquet snapshot, in one run. `scripts/kafka-test.sh --bench` (release build).
#[cfg(feature = "kafka-group")]
#[test]
#[ignore]
fn kafka_throughput_group_vs_static() {
    use recs::stream::kafka_group::{ingest_group, GroupConfig};
    let Some(b) = broker() else { return };
    let brokers = vec![b.clone()];
    let topic = format!("{}throughput_group", prefix());
    let n: usize = std::env::var("RECS_KAFKA_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400_000);
    produce_range(&brokers, &topic, 0..n);
    let format = if cfg!(feature = "parquet") {
        recs::stream::SnapshotFormat::Parquet
    } else {
        recs::stream::SnapshotFormat::Csv
    };

    let dir = tempfile::tempdir().unwrap();
    let k = KafkaConfig::new(&b, ["throughput_group"])
        .prefix(prefix())
        .idle_exit(Some(Duration::from_millis(300)));
    let t = Instant::now();
    let s = ingest_kafka(&k, &IngestConfig::new(dir.path()).format(format)).unwrap();
    let static_secs = t.elapsed().as_secs_f64() - 0.3;
    assert_eq!((s.counts.valid() + s.counts.dead_letter) as usize, n);

    let dir = tempfile::tempdir().unwrap();
    let g = GroupConfig::new(
        &b,
        ["throughput_group"],
        format!("bench{}", std::process::id()),
    )
    .prefix(prefix())
    .option("session.timeout.ms", "6000")
    .max_records(Some(n as u64));
    // Extra librdkafka settings to compare, e.g. RECS_KAFKA_GROUP_OPTIONS=fetch.wait.max.ms=10
    let extra = std::env::var("RECS_KAFKA_GROUP_OPTIONS").unwrap_or_default();
    let g = extra
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .fold(g, |g, (k, v)| g.option(k, v));
    let t = Instant::now();
    let s = ingest_group(&g, &IngestConfig::new(dir.path()).format(format)).unwrap();
    let group_wall = t.elapsed().as_secs_f64();
    let total = s.ingest.counts.valid() + s.ingest.counts.dead_letter;
    assert_eq!(total as usize, n);
    SnapshotSet::open(dir.path()).unwrap().verify().unwrap();
    eprintln!(
        "kafka → {format:?}, {n} records, 4 partitions:\n  static (rskafka):        {:.2} s = {:.0} records/s\n  group  (rdkafka, 1 member): {:.2} s = {:.0} records/s from the first record ({:.2} s wall with the group join = {:.0}/s)",
        static_secs,
        n as f64 / static_secs,
        s.busy_secs,
        n as f64 / s.busy_secs,
        group_wall,
        n as f64 / group_wall
    );
}
