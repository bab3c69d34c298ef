//! Snapshots in an object store (cargo feature `s3`) against a real S3-protocol server.
//!
//! Run through `scripts/s3-test.sh`, which starts `moto_server` and sets `RECS_S3_ENDPOINT`,
//! `RECS_S3_BUCKET` and the `AWS_*` variables; without them every test prints `skipping: ...`
//! and passes.

use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use recs::stream::{ingest_reader, IngestConfig, Profile, Rules, SnapshotSet, SnapshotStore, Ts};

/// (endpoint, bucket) of the test server, if one was started.
fn server() -> Option<(String, String)> {
    let Ok(endpoint) = std::env::var("RECS_S3_ENDPOINT") else {
        eprintln!("skipping: RECS_S3_ENDPOINT is not set (run scripts/s3-test.sh)");
        return None;
    };
    let bucket = std::env::var("RECS_S3_BUCKET").unwrap_or_else(|_| "recs-test".into());
    Some((endpoint, bucket))
}

/// A fresh prefix per test: an empty snapshot location in the shared bucket.
fn fresh(bucket: &str, name: &str) -> (String, String) {
    let prefix = format!(
        "snap-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    (format!("s3://{bucket}/{prefix}"), prefix)
}

fn open(url: &str, endpoint: &str) -> SnapshotStore {
    SnapshotStore::s3(
        url,
        [
            ("aws_endpoint", endpoint.to_string()),
            ("aws_allow_http", "true".to_string()),
        ],
    )
    .unwrap()
}

/// A raw client, to damage objects behind the snapshot store's back.
fn raw(endpoint: &str, bucket: &str) -> (impl ObjectStore, tokio::runtime::Runtime) {
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (store, rt)
}

fn rules() -> Rules {
    Rules {
        now: Some(Ts::parse("2024-03-01T00:00:00").unwrap()),
        ..Rules::default()
    }
}

/// 10 valid events and 2 dead letters, as JSON lines and course log lines.
fn input() -> String {
    let mut lines = Vec::new();
    for u in 1..=5 {
        lines.push(format!(
            "2024-02-01T12:0{u}:00,{u},GET /rate/{}={}",
            10 + u,
            1 + u % 5
        ));
        lines.push(format!(
            r#"{{"type":"watch","ts":170000000{u},"user_id":{u},"movie_id":"{}","minute":3}}"#,
            20 + u
        ));
    }
    lines.push("garbage".into());
    lines.push("2024-02-01T12:00:00,1,GET /rate/10=11".into());
    lines.join("\n") + "\n"
}

#[test]
fn ingest_to_s3_then_reload_resume_and_drift() {
    let Some((endpoint, bucket)) = server() else {
        return;
    };
    let (url, _) = fresh(&bucket, "ingest");
    let store = open(&url, &endpoint);
    assert!(!store.is_local());
    let cfg = IngestConfig::at(&store).batch_size(5).rules(rules());
    let sum = ingest_reader("events", input().as_bytes(), &cfg).unwrap();
    assert_eq!((sum.counts.valid(), sum.counts.dead_letter), (10, 2));
    assert_eq!(sum.batches, 3);

    // The same input ingested into a local directory is the reference.
    let dir = tempfile::tempdir().unwrap();
    let local_cfg = IngestConfig::new(dir.path()).batch_size(5).rules(rules());
    ingest_reader("events", input().as_bytes(), &local_cfg).unwrap();
    let local = SnapshotSet::open(dir.path()).unwrap();

    let set = SnapshotSet::open(&store).unwrap();
    set.verify().unwrap();
    assert_eq!(set.counts(), local.counts());
    assert_eq!(set.events().unwrap(), local.events().unwrap());
    assert_eq!(set.dead_letters().unwrap(), local.dead_letters().unwrap());
    assert_eq!(set.training_data().unwrap(), local.training_data().unwrap());
    assert_eq!(set.id(), local.id(), "same files, same set id");

    // A location string (the client configured from AWS_* as the CLI does) reads the same.
    if std::env::var("AWS_ENDPOINT").is_ok() {
        let by_url = SnapshotSet::open_location(&url).unwrap();
        assert_eq!(by_url.events().unwrap(), local.events().unwrap());
        assert_eq!(
            Profile::from_location(&url).unwrap(),
            Profile::from_path(dir.path()).unwrap()
        );
    }

    // Re-running resumes from the manifest in the store: nothing is written twice.
    let again = ingest_reader("events", input().as_bytes(), &cfg).unwrap();
    assert_eq!((again.batches, again.already_committed), (0, 12));
    assert_eq!(SnapshotSet::open(&store).unwrap().counts(), local.counts());
}

#[test]
fn tampered_or_missing_objects_fail_with_a_clear_error() {
    let Some((endpoint, bucket)) = server() else {
        return;
    };
    let (url, prefix) = fresh(&bucket, "tamper");
    let store = open(&url, &endpoint);
    let cfg = IngestConfig::at(&store).rules(rules());
    ingest_reader("events", input().as_bytes(), &cfg).unwrap();
    let set = SnapshotSet::open(&store).unwrap();
    let files: Vec<String> = set.manifests()[0].batches[0]
        .files
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let rate = files.iter().find(|n| n.ends_with("-rate.csv")).unwrap();
    let watch = files.iter().find(|n| n.ends_with("-watch.csv")).unwrap();
    let (raw, rt) = raw(&endpoint, &bucket);

    // One changed byte in a data object.
    let key = Key::from(format!("{prefix}/{rate}"));
    let original = rt
        .block_on(async { raw.get(&key).await.unwrap().bytes().await.unwrap() })
        .to_vec();
    let mut bytes = original.clone();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'1' { b'2' } else { b'1' };
    rt.block_on(raw.put(&key, PutPayload::from(bytes))).unwrap();
    let err = set.events().unwrap_err().to_string();
    assert!(
        err.contains("checksum mismatch") && err.contains(rate.as_str()),
        "{err}"
    );
    assert!(set.verify().is_err());
    assert!(set.training_data().is_err());

    rt.block_on(raw.put(&key, PutPayload::from(original)))
        .unwrap();
    set.verify().unwrap();

    // A data object listed in the manifest but gone.
    rt.block_on(raw.delete(&Key::from(format!("{prefix}/{watch}"))))
        .unwrap();
    let err = set.verify().unwrap_err().to_string();
    assert!(
        err.contains("missing") && err.contains(watch.as_str()),
        "{err}"
    );
    assert!(set.events().is_err());
    let dead = SnapshotSet::open(&store).unwrap().dead_letters().unwrap();
    assert_eq!(
        dead.len(),
        2,
        "the other objects are intact and still readable"
    );
}

#[test]
fn an_empty_prefix_is_an_empty_set_and_a_bad_url_is_refused() {
    let Some((endpoint, bucket)) = server() else {
        return;
    };
    let (url, _) = fresh(&bucket, "empty");
    let set = SnapshotSet::open(open(&url, &endpoint)).unwrap();
    assert!(set.manifests().is_empty());
    assert!(SnapshotStore::s3("s3:///x", std::iter::empty::<(&str, &str)>()).is_err());
    assert!(SnapshotStore::s3("gs://b/x", std::iter::empty::<(&str, &str)>()).is_err());
}
