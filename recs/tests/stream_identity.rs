//! Ingestion identity by content, not by path (issue 17): the same bytes through another path
//! spelling, a symlink or after a rename add nothing; a file that grew adds only its new lines; a
//! different file under a known name is ingested; a shorter copy adds nothing.

use std::path::Path;

use recs::stream::{ingest_files, IngestConfig, IngestSummary, Rules, SnapshotSet, Ts};

fn lines(users: std::ops::Range<u32>) -> String {
    users
        .map(|u| {
            format!(
                "2024-02-01T12:00:00,{u},GET /rate/{}={}\n",
                u % 17,
                1 + u % 5
            )
        })
        .collect()
}

fn config(dir: &Path) -> IngestConfig {
    IngestConfig::new(dir).batch_size(7).rules(Rules {
        now: Some(Ts::parse("2024-03-01T00:00:00").unwrap()),
        ..Rules::default()
    })
}

fn ingest(snap: &Path, file: &Path) -> IngestSummary {
    ingest_files(&[file], &config(snap)).unwrap()
}

fn events(snap: &Path) -> usize {
    SnapshotSet::open(snap).unwrap().events().unwrap().len()
}

#[test]
fn the_same_content_through_any_path_is_ingested_once() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("snap");
    let sub = tmp.path().join("logs");
    std::fs::create_dir(&sub).unwrap();
    let file = sub.join("events.log");
    std::fs::write(&file, lines(0..50)).unwrap();

    assert_eq!(ingest(&snap, &file).counts.rate, 50);
    assert_eq!(events(&snap), 50);
    // Another spelling of the same path, a symlink, a rename: nothing new.
    let dotted = tmp.path().join("logs/../logs/./events.log");
    assert_eq!(ingest(&snap, &dotted).counts.rate, 0);
    #[cfg(unix)]
    {
        let link = tmp.path().join("link.log");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(ingest(&snap, &link).counts.rate, 0);
    }
    let renamed = tmp.path().join("renamed.log");
    std::fs::rename(&file, &renamed).unwrap();
    let s = ingest(&snap, &renamed);
    assert_eq!((s.counts.rate, s.already_committed), (0, 50));
    assert_eq!(events(&snap), 50);

    // It grows (under its new name): only the new lines are added.
    let mut grown = lines(0..50);
    grown += &lines(50..65);
    std::fs::write(&renamed, &grown).unwrap();
    assert_eq!(ingest(&snap, &renamed).counts.rate, 15);
    assert_eq!(events(&snap), 65);
    // A shorter copy of what was ingested (its first 30 lines) adds nothing either.
    let head = tmp.path().join("head.log");
    std::fs::write(&head, lines(0..30)).unwrap();
    assert_eq!(ingest(&snap, &head).counts.rate, 0);

    // A different file under the name the first one had: ingested in full.
    std::fs::write(&file, lines(100..120)).unwrap();
    assert_eq!(ingest(&snap, &file).counts.rate, 20);
    assert_eq!(events(&snap), 85);
    // And a gzip of already-ingested content is the same content.
    let gz = tmp.path().join("again.log.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, grown.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    assert_eq!(ingest(&snap, &gz).counts.rate, 0);
    assert_eq!(events(&snap), 85);
}

#[test]
fn a_copy_that_goes_on_differently_adds_only_its_own_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = tmp.path().join("snap");
    let a = tmp.path().join("a.log");
    std::fs::write(&a, lines(0..40)).unwrap();
    assert_eq!(ingest(&snap, &a).counts.rate, 40);
    // Shares the first 35 lines (a batch boundary at 35: batches of 7), then differs.
    let b = tmp.path().join("b.log");
    let mut text = lines(0..35);
    text += &lines(200..210);
    std::fs::write(&b, text).unwrap();
    assert_eq!(ingest(&snap, &b).counts.rate, 10);
    assert_eq!(events(&snap), 50);
    // Re-running either adds nothing.
    assert_eq!(ingest(&snap, &a).counts.rate, 0);
    assert_eq!(ingest(&snap, &b).counts.rate, 0);
}
