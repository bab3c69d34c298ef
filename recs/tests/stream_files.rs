//! File ingestion end to end: valid events land in snapshots exactly once across restarts,
//! invalid ones in dead letters with reasons, snapshots verify and load as training data,
//! drift between snapshots, the KPI over snapshot events.

use std::io::Write;
use std::path::Path;

use recs::stream::{
    ingest_files, ingest_reader, online_kpi, parse_line, DriftReport, Event, IngestConfig, Profile,
    Rules, SnapshotSet, Thresholds, Ts,
};

const GOOD: &[&str] = &[
    "2024-02-01T12:00:00,1,GET /data/m/the+matrix+1999/0.mpg",
    "2024-02-01T12:00:01.5,1,GET /data/m/the+matrix+1999/1.mpg",
    "2024-02-01T12:00:02,2,GET /rate/the+matrix+1999=5",
    "2024-02-01T12:00:03,2,GET /rate/heat+1995=3",
    r#"{"type":"reco_request","ts":"2024-02-01T12:00:04Z","request_id":"q1","user_id":3,"k":2}"#,
    r#"{"type":"reco_response","ts":"2024-02-01T12:00:05Z","request_id":"q1","user_id":3,"status":200,"latency_ms":7,"k":2,"movie_ids":["heat+1995","up+2009"],"model_version":"v1","variant":"A"}"#,
    "2024-02-01T12:00:06,3,GET /data/m/up+2009/0.mpg",
    "2024-02-01T12:00:07,4,recommendation request srv:8082, status 200, result: heat+1995, up+2009, 12 ms",
];

const BAD: &[(&str, &str)] = &[
    (
        "2024-02-01T12:00:08,5,GET /rate/heat+1995=7",
        "invalid: rating",
    ),
    ("hello world", "parse: log line"),
    (
        r#"{"type":"watch","ts":"2024-02-01T12:00:09Z","user_id":5,"movie_id":"x"}"#,
        "missing field `minute`",
    ),
    ("1980-01-01T00:00:00,5,GET /data/m/x/1.mpg", "invalid: ts"),
    (
        "2024-02-01T12:00:10,-5,GET /data/m/x/1.mpg",
        "parse: log line: userid",
    ),
];

fn rules() -> Rules {
    Rules {
        now: Some(Ts::parse("2024-03-01T00:00:00").unwrap()),
        ..Rules::default()
    }
}

fn input() -> Vec<String> {
    // Interleave bad lines among the good ones, plus a blank line.
    let mut v: Vec<String> = Vec::new();
    for (i, g) in GOOD.iter().enumerate() {
        v.push(g.to_string());
        if let Some((b, _)) = BAD.get(i) {
            v.push(b.to_string());
        }
    }
    v.push(String::new());
    v
}

fn check_exactly_once(dir: &Path) {
    let set = SnapshotSet::open(dir).unwrap();
    set.verify().unwrap();
    let events = set.events().unwrap();
    let mut got: Vec<Event> = events.iter().map(|(_, e)| e.clone()).collect();
    let mut want: Vec<Event> = GOOD
        .iter()
        .map(|l| parse_line(l.as_bytes()).unwrap())
        .collect();
    let key = |e: &Event| serde_json::to_string(e).unwrap();
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want);
    // Raw counts in the manifests agree: nothing was written twice.
    assert_eq!(set.counts().valid(), GOOD.len() as u64);
    assert_eq!(set.counts().dead_letter, BAD.len() as u64);
    let dead = set.dead_letters().unwrap();
    assert_eq!(dead.len(), BAD.len());
    for (raw, reason) in BAD {
        let d = dead
            .iter()
            .find(|d| d.raw == *raw)
            .unwrap_or_else(|| panic!("{raw} missing"));
        assert!(d.reason.contains(reason), "{raw}: {}", d.reason);
    }
}

#[test]
fn ingest_restart_every_batch_size() {
    let lines = input();
    for batch in [1, 2, 3, 7, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = IngestConfig::new(dir.path())
            .batch_size(batch)
            .rules(rules());
        // First run sees only a prefix (a crash or a still-growing log) ...
        let cut = lines.len() / 2;
        let first = lines[..cut].join("\n") + "\n";
        let s1 = ingest_reader("events.log", first.as_bytes(), &cfg).unwrap();
        // ... the second run re-reads everything and resumes after the committed lines.
        let all = lines.join("\n") + "\n";
        let s2 = ingest_reader("events.log", all.as_bytes(), &cfg).unwrap();
        assert_eq!(
            s2.already_committed,
            (cut as u64).min(s1.counts.valid() + s1.counts.dead_letter)
        );
        check_exactly_once(dir.path());
        // A third run adds nothing.
        let s3 = ingest_reader("events.log", all.as_bytes(), &cfg).unwrap();
        assert_eq!(s3.counts.valid() + s3.counts.dead_letter, 0);
        check_exactly_once(dir.path());
    }
}

#[test]
fn crash_between_files_and_manifest_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = IngestConfig::new(dir.path()).batch_size(4).rules(rules());
    let all = input().join("\n") + "\n";
    ingest_reader("events.log", all.as_bytes(), &cfg).unwrap();
    // Simulate a crash after batch files were written but before the manifest commit: restore
    // the manifest of an earlier state (drop the last batch), keep the orphan files.
    let mpath = dir.path().join("manifest-0.json");
    let mut m: recs::stream::Manifest =
        serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let last = m.batches.pop().unwrap();
    for r in &last.ranges {
        m.offsets
            .get_mut(&r.topic)
            .unwrap()
            .insert(r.partition, r.first);
    }
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    let s = ingest_reader("events.log", all.as_bytes(), &cfg).unwrap();
    assert_eq!(
        s.counts.valid() + s.counts.dead_letter,
        last.ranges.iter().map(|r| r.records).sum::<u64>()
    );
    check_exactly_once(dir.path());
}

#[test]
fn tampered_file_fails_verify() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = IngestConfig::new(dir.path()).rules(rules());
    ingest_reader("e", (GOOD.join("\n") + "\n").as_bytes(), &cfg).unwrap();
    let f = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-rate.csv"))
        .unwrap();
    let mut h = std::fs::OpenOptions::new().append(true).open(&f).unwrap();
    writeln!(h, "x").unwrap();
    let err = SnapshotSet::open(dir.path()).unwrap().verify().unwrap_err();
    assert!(err.to_string().contains("sha256"), "{err}");
}

#[test]
fn files_gzip_and_training_data() {
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let plain = src.path().join("a.log");
    std::fs::write(&plain, GOOD[..4].join("\n")).unwrap();
    let gz = src.path().join("b.log.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all((GOOD[4..].join("\n") + "\n").as_bytes())
        .unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let cfg = IngestConfig::new(dir.path()).rules(rules());
    let s = ingest_files(&[plain.as_path(), gz.as_path()], &cfg).unwrap();
    assert_eq!(s.counts.valid(), GOOD.len() as u64);
    let t = SnapshotSet::open(dir.path())
        .unwrap()
        .training_data()
        .unwrap();
    // Users 1, 2, 3 interacted (4 only has a recommendation); movies as slugs.
    assert_eq!(t.ratings.users, t.watches.users);
    assert_eq!(t.ratings.interactions.nnz(), 2);
    assert_eq!(t.watches.interactions.nnz(), 2);
    let u1 = t.watches.users.index(1).unwrap();
    assert_eq!(
        t.watches.interactions.values_of(u1),
        &[2.0],
        "two watched minutes"
    );
    let m = t
        .ratings
        .items
        .index(t.movie_ids.iter().position(|m| m == "heat+1995").unwrap() as i64)
        .unwrap();
    let u2 = t.ratings.users.index(2).unwrap();
    let row = t.ratings.interactions.items_of(u2);
    let pos = row.iter().position(|&i| i == m).unwrap();
    assert_eq!(t.ratings.interactions.values_of(u2)[pos], 3.0);
}

#[test]
fn drift_between_snapshots_and_kpi() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let mut la = Vec::new();
    let mut lb = Vec::new();
    for u in 0..200 {
        for m in 0..5 {
            la.push(format!(
                "2024-02-01T12:00:00,{u},GET /rate/m{m}={}",
                3 + (u + m) % 3
            ));
            // B: new users, all ratings 1, a new item.
            lb.push(format!(
                "2024-02-02T12:00:00,{},GET /rate/m{}=1",
                u + 1000,
                m + 3
            ));
        }
    }
    lb.push("garbage".into());
    let cfg = |d: &Path| IngestConfig::new(d).rules(rules());
    ingest_reader("a", (la.join("\n") + "\n").as_bytes(), &cfg(a.path())).unwrap();
    ingest_reader("b", (lb.join("\n") + "\n").as_bytes(), &cfg(b.path())).unwrap();
    let pa = Profile::from_snapshot(&SnapshotSet::open(a.path()).unwrap()).unwrap();
    let pb = Profile::from_snapshot(&SnapshotSet::open(b.path()).unwrap()).unwrap();
    let same = DriftReport::compare(&pa, &pa, &Thresholds::default());
    assert!(!same.crossed(), "{same}");
    let r = DriftReport::compare(&pa, &pb, &Thresholds::default());
    assert!(r.crossed());
    let crossed: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.crossed)
        .map(|c| c.subject.as_str())
        .collect();
    for s in ["rating", "new_users", "new_items", "item_popularity"] {
        assert!(crossed.contains(&s), "{s} not crossed: {r}");
    }
    assert!(!crossed.contains(&"user_activity"), "same activity: {r}");
    let mal = r.checks.iter().find(|c| c.subject == "malformed").unwrap();
    assert!((mal.value.unwrap() - 1.0 / 1001.0).abs() < 1e-12);
    // Snapshot vs. training data: the same data compares clean.
    let t = SnapshotSet::open(a.path())
        .unwrap()
        .training_data()
        .unwrap();
    let pt = Profile::from_training(&t);
    assert!(!DriftReport::compare(&pt, &pa, &Thresholds::default()).crossed());

    // KPI over the events of a snapshot.
    let k = tempfile::tempdir().unwrap();
    ingest_reader("k", (GOOD.join("\n") + "\n").as_bytes(), &cfg(k.path())).unwrap();
    let ev: Vec<Event> = SnapshotSet::open(k.path())
        .unwrap()
        .events()
        .unwrap()
        .into_iter()
        .map(|x| x.1)
        .collect();
    let rows = online_kpi(&ev, 60_000);
    let v1 = rows.iter().find(|r| r.model_version == "v1").unwrap();
    assert_eq!(
        (v1.responses, v1.converted, v1.watched, v1.recommended),
        (1, 1, 1, 2)
    );
    let unknown = rows.iter().find(|r| r.model_version == "unknown").unwrap();
    assert_eq!((unknown.responses, unknown.converted), (1, 0));
}
