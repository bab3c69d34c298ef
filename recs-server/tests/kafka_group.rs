//! `recs ingest --group` against a real Kafka-protocol broker (run by `scripts/kafka-test.sh`,
//! which starts tansu on 127.0.0.1, creates the topics and sets `RECS_KAFKA_BROKER`): two
//! ingest processes in one consumer group share a 4-partition topic while it is being written,
//! one is SIGKILLed mid-stream and restarted, and the snapshot set still holds every valid
//! record exactly once and every invalid one as a dead letter with its reason.
#![cfg(feature = "kafka-group")]

use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use recs::stream::kafka::{partitions, produce};
use recs::stream::{parse_line, Event, SnapshotSet};

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

/// Record `i`: a unique valid event (log line or JSON), or every 13th an invalid one.
fn record(i: usize) -> (Vec<u8>, bool) {
    let ts = format!(
        "2024-03-01T{:02}:{:02}:{:02}.{:03}",
        (i / 3_600_000) % 24,
        (i / 60_000) % 60,
        (i / 1000) % 60,
        i % 1000
    );
    let (s, valid) = match i % 13 {
        0 => (format!("{ts},{i},GET /rate/m{i}=11"), false),
        7 => (format!("{ts},{i},not an event at all"), false),
        1 | 2 => (
            format!(
                r#"{{"type":"rate","ts":"{ts}Z","user_id":{i},"movie_id":"m{}","rating":{}}}"#,
                i % 40,
                1 + i % 5
            ),
            true,
        ),
        _ => (
            format!("{ts},{i},GET /data/m/movie+{}/{}.mpg", i % 40, i % 90),
            true,
        ),
    };
    (s.into_bytes(), valid)
}

/// Produces records `range` round-robin over the topic's partitions.
fn produce_range(brokers: &[String], topic: &str, range: std::ops::Range<usize>) {
    let parts = partitions(brokers, topic).unwrap();
    let mut by_part: Vec<Vec<Vec<u8>>> = vec![Vec::new(); parts.len()];
    for i in range {
        by_part[i % parts.len()].push(record(i).0);
    }
    for (p, vals) in parts.iter().zip(by_part) {
        if !vals.is_empty() {
            produce(brokers, topic, *p, &vals).unwrap();
        }
    }
}

/// `idle_exit`: seconds without a record or an assignment before the process ends on its own.
fn spawn(broker: &str, dir: &Path, group: &str, idle_exit: u32) -> Child {
    Command::new(env!("CARGO_BIN_EXE_recs"))
        .args([
            "ingest", "--kafka", broker, "--topics", "cgroup", "--prefix",
        ])
        .arg(prefix())
        .args(["--group", group, "--out"])
        .arg(dir)
        .args([
            "--batch-size",
            "100",
            // tansu holds a join for the whole session timeout (librdkafka default 45 s).
            "--kafka-option",
            "session.timeout.ms=6000",
            "--kafka-option",
            "heartbeat.interval.ms=500",
        ])
        .args(["--idle-exit", &idle_exit.to_string()])
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ready() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_exit(child: &mut Child, limit: Duration) {
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "recs ingest failed: {status}");
            return;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("recs ingest did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn batches(dir: &Path, member: &str) -> usize {
    SnapshotSet::open(dir)
        .ok()
        .and_then(|s| {
            s.manifests()
                .iter()
                .find(|m| m.member == member)
                .map(|m| m.batches.len())
        })
        .unwrap_or(0)
}

#[test]
// Every child is reaped by `wait_exit` or after `kill`; clippy cannot follow that.
#[allow(clippy::zombie_processes)]
fn two_group_members_kill_and_restart() {
    let Some(b) = broker() else { return };
    let brokers = vec![b.clone()];
    let topic = format!("{}cgroup", prefix());
    assert_eq!(partitions(&brokers, &topic).unwrap().len(), 4);
    let dir = tempfile::tempdir().unwrap();
    // A fresh group per run: the broker may keep committed offsets of an earlier one.
    let group = format!("cg{}", std::process::id());
    produce_range(&brokers, &topic, 0..1000);

    // The producer keeps writing while the members join, share and lose partitions.
    let produced = Arc::new(AtomicUsize::new(1000));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (brokers, topic, produced, stop) = (
            brokers.clone(),
            topic.clone(),
            Arc::clone(&produced),
            Arc::clone(&stop),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && produced.load(Ordering::Relaxed) < 500_000 {
                let from = produced.load(Ordering::Relaxed);
                produce_range(&brokers, &topic, from..from + 200);
                produced.store(from + 200, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(40));
            }
        })
    };

    let mut a = spawn(&b, dir.path(), &group, 10);
    // Start b once a holds slot 0, so b is `<group>-1`.
    let slot0 = dir.path().join(format!(".slot-{group}-0.lock"));
    wait_for("slot 0 claimed", Duration::from_secs(10), || slot0.exists());
    std::thread::sleep(Duration::from_millis(200));
    let mut b1 = spawn(&b, dir.path(), &group, 10);
    let (m0, m1) = (format!("{group}-0"), format!("{group}-1"));
    wait_for("both members committed", Duration::from_secs(90), || {
        batches(dir.path(), &m0) > 0 && batches(dir.path(), &m1) > 0
    });
    b1.kill().unwrap();
    b1.wait().unwrap();
    let at_kill = produced.load(Ordering::Relaxed);
    let m1_at_kill = batches(dir.path(), &m1);
    eprintln!("killed {m1} after {m1_at_kill} of its batches; {at_kill} records produced so far");
    // Records keep coming after the kill; a alone holds the group until b rejoins.
    std::thread::sleep(Duration::from_secs(2));
    // The join waits for the dead member's session to time out and, on tansu, for a whole
    // session timeout more: give the restarted process longer than that before it may idle out.
    let mut b2 = spawn(&b, dir.path(), &group, 60);
    // The restarted process takes slot 1 again and must get partitions and write to it.
    wait_for(
        "restarted member committed",
        Duration::from_secs(90),
        || batches(dir.path(), &m1) > m1_at_kill,
    );
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    let n = produced.load(Ordering::Relaxed);
    assert!(n > at_kill, "records were produced after the kill");
    wait_exit(&mut a, Duration::from_secs(180));
    wait_exit(&mut b2, Duration::from_secs(180));

    let set = SnapshotSet::open(dir.path()).unwrap();
    set.verify().unwrap();
    let members: Vec<&str> = set.manifests().iter().map(|m| m.member.as_str()).collect();
    assert_eq!(members, [m0.as_str(), m1.as_str()]);
    for m in set.manifests() {
        assert!(!m.batches.is_empty(), "{} wrote nothing", m.member);
    }
    let valid: Vec<usize> = (0..n).filter(|&i| record(i).1).collect();
    // The manifests' own counts (before the loader's dedup): nothing was written twice.
    let counts = set.counts();
    assert_eq!(counts.valid() as usize, valid.len(), "valid events written");
    assert_eq!(
        counts.dead_letter as usize,
        n - valid.len(),
        "dead letters written"
    );
    let key = |e: &Event| serde_json::to_string(e).unwrap();
    let mut got: Vec<String> = set
        .events()
        .unwrap()
        .iter()
        .map(|(k, e)| {
            assert_eq!(k.topic, topic);
            key(e)
        })
        .collect();
    let mut want: Vec<String> = valid
        .iter()
        .map(|&i| key(&parse_line(&record(i).0).unwrap()))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len());
    assert!(
        got == want,
        "snapshot events differ from the produced valid events"
    );
    let dead = set.dead_letters().unwrap();
    let mut raws: Vec<String> = dead.iter().map(|d| d.raw.clone()).collect();
    raws.sort();
    let mut want_raw: Vec<String> = (0..n)
        .filter(|&i| !record(i).1)
        .map(|i| String::from_utf8(record(i).0).unwrap())
        .collect();
    want_raw.sort();
    assert_eq!(raws, want_raw);
    for d in &dead {
        let rating = d.raw.contains("GET /rate/");
        let ok = if rating {
            d.reason.starts_with("invalid: rating")
        } else {
            d.reason.starts_with("parse:")
        };
        assert!(ok, "{}: {}", d.raw, d.reason);
    }
}

#[test]
fn group_flags_are_checked() {
    // No broker needed: bad flags fail before connecting.
    let dir = tempfile::tempdir().unwrap();
    let ingest = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_recs"))
            .arg("ingest")
            .args(args)
            .output()
            .unwrap()
    };
    let out_dir = dir.path().to_str().unwrap();
    let kafka = ["--kafka", "127.0.0.1:1", "--topics", "t", "--out", out_dir];
    let out = ingest(&[&kafka[..], &["--group", "g", "--kafka-option", "novalue"]].concat());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEY=VALUE"));
    let out = ingest(&[&kafka[..], &["--group", "a/b"]].concat());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("group"));
    let out = ingest(&["x.log", "--max-records", "3"]);
    assert!(!out.status.success(), "--max-records needs --group");
}
