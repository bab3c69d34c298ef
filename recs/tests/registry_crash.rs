//! Crash during publish (its own test binary, as tantivy's failpoints).
//!
//! The test re-invokes its own binary as a child process that publishes a large model slowly
//! (`with_pacing`) and kills it with SIGKILL at many moments: before it starts writing, in the
//! middle of an artifact (detected, not guessed), and at spread-out delays that fall around
//! `meta.json` and the commit. After each kill the registry must show no partial version,
//! every visible version must load and verify, the latest pointer must be unchanged, and a
//! new publish must work. Runs against the local backend always, and against S3 when built
//! with feature `s3` and `RECS_S3_ENDPOINT` is set (see `scripts/s3-test.sh`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use recs::model::{AnyModel, Fit, Popularity};
use recs::registry::{LocalRegistry, NewVersion, Registry, Version};

const CHILD_ENV: &str = "RECS_REGISTRY_CRASH_CHILD";
/// Items of the child's model: 2M f32 counts, about 8 MB.
const BIG_ITEMS: usize = 2_000_000;
const CHUNK: usize = 256 * 1024;
const DELAY: Duration = Duration::from_millis(25);

fn big_model() -> AnyModel {
    Popularity::params()
        .fit(&recs::data::Interactions::empty(1, BIG_ITEMS))
        .unwrap()
        .into()
}

fn open_paced(kind: &str, spec: &str) -> Box<dyn Registry> {
    match kind {
        "local" => Box::new(LocalRegistry::open(spec).unwrap().with_pacing(CHUNK, DELAY)),
        #[cfg(feature = "s3")]
        "s3" => Box::new(s3::open(spec).with_pacing(CHUNK, DELAY)),
        other => panic!("unknown backend {other}"),
    }
}

/// The child process: publish the big model slowly, then report.
#[test]
fn child_publish() {
    let Ok(job) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (kind, spec) = job.split_once('|').unwrap();
    let reg = open_paced(kind, spec);
    let meta = registry::publish_model(&*reg, &big_model(), NewVersion::new("")).unwrap();
    println!("PUBLISHED {}", meta.version);
}

fn spawn_child(kind: &str, spec: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_publish",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{kind}|{spec}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills the child unless it has finished; returns the version it published, if it did.
fn kill(mut child: Child) -> Option<Version> {
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("PUBLISHED "))
        .map(|v| v.trim().parse().unwrap())
}

/// Everything visible is complete and verified, nothing committed vanished, and the latest
/// pointer did not move. A child killed after its commit but before it could report leaves a
/// complete version: that is fine, it is added to `completed`.
fn check_consistent(
    reg: &dyn Registry,
    base: Version,
    completed: &mut Vec<Version>,
    reported: Option<Version>,
) {
    let versions = reg.versions().unwrap();
    assert_eq!(versions[0], base);
    let full = big_model().to_bytes().unwrap();
    for v in &versions {
        let meta = registry::verify(reg, v).unwrap();
        let model = registry::load_model(reg, v).unwrap();
        if *v != base {
            assert_eq!(meta.size(), full.len() as u64, "{v} is partial");
            assert_eq!(
                model.to_bytes().unwrap(),
                full,
                "{v} is not the published model"
            );
        }
    }
    for v in completed.iter().chain(&reported) {
        assert!(versions.contains(v), "committed {v} vanished");
    }
    *completed = versions[1..].to_vec();
    assert_eq!(reg.latest().unwrap(), Some(base));
    assert_eq!(reg.list().unwrap().len(), versions.len());
}

/// Waits (at most `limit`) until `probe` says the child is at its point; false when the child
/// exited first or time ran out.
fn wait_until(limit: Duration, child: &mut Child, mut probe: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if probe() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// When to kill a child publisher.
enum Moment {
    /// As soon as probe `i` says the child is at that point of its work.
    Probe(usize),
    /// After a fixed delay (ms).
    After(u64),
}

/// Runs children and kills them at many moments. `probes` detect points of the publish
/// (probe 0: mid-artifact).
fn crash_suite(kind: &str, spec: &str, probes: &mut [&mut dyn FnMut() -> bool]) {
    let reg = registry::open_any(kind, spec);
    let small: AnyModel = Popularity::params()
        .fit(&recs::data::Interactions::empty(1, 10))
        .unwrap()
        .into();
    let base = registry::publish_model(&*reg, &small, NewVersion::new("").promote(true))
        .unwrap()
        .version;
    let mut completed = Vec::new();
    let mut caught = vec![0usize; probes.len()];
    let mut removed = 0;
    // Detected points first, then kills at spread-out moments (the last ones late enough for
    // some children to finish or to be caught around their commit).
    let mut moments = vec![Moment::Probe(0), Moment::Probe(0)];
    moments.extend((1..probes.len()).map(Moment::Probe));
    moments.extend([0, 40, 150, 400, 800, 1500, 2500, 4000].map(Moment::After));
    let n_kills = moments.len();
    for moment in moments {
        let mut child = spawn_child(kind, spec);
        match moment {
            Moment::Probe(i) => {
                let hit = wait_until(Duration::from_secs(60), &mut child, &mut *probes[i]);
                // Mid-artifact spans most of the paced publish and must be caught; later
                // points are short windows, caught most of the time.
                assert!(hit || i > 0, "probe {i} never saw the child at its point");
                if hit {
                    caught[i] += 1;
                }
            }
            Moment::After(ms) => std::thread::sleep(Duration::from_millis(ms)),
        }
        let reported = kill(child);
        check_consistent(&*reg, base, &mut completed, reported);
        // Clear the debris so that the next detection sees only the next child's work.
        removed += reg.gc(Duration::ZERO).unwrap();
        check_consistent(&*reg, base, &mut completed, None);
    }
    assert_eq!(caught[0], 2, "caught a publisher mid-artifact twice");
    assert!(removed >= caught[0], "gc removed {removed}");
    // The registry still works: a new version gets a fresh number.
    let next = registry::publish_model(&*reg, &big_model(), NewVersion::new("")).unwrap();
    assert!(next.version > *completed.last().unwrap_or(&base));
    assert_eq!(reg.gc(Duration::ZERO).unwrap(), 0);
    check_consistent(&*reg, base, &mut completed, Some(next.version));
    eprintln!(
        "{kind}: {n_kills} kills (caught at probed points: {caught:?}), {} publishes \
         completed, gc removed {removed} leftovers",
        completed.len() - 1
    );
}

mod registry {
    pub use recs::registry::*;

    pub fn open_any(kind: &str, spec: &str) -> Box<dyn Registry> {
        match kind {
            "local" => Box::new(LocalRegistry::open(spec).unwrap()),
            #[cfg(feature = "s3")]
            "s3" => Box::new(super::s3::open(spec)),
            other => panic!("unknown backend {other}"),
        }
    }
}

#[test]
fn local_publisher_killed_mid_publish_leaves_no_partial_version() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("reg");
    let spec = root.to_str().unwrap().to_string();
    std::fs::create_dir_all(&root).unwrap();
    let full = AnyModel::to_bytes(&big_model()).unwrap().len() as u64;
    let mut mid = || {
        std::fs::read_dir(&root).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with(".tmp-")
                && std::fs::metadata(e.path().join("model.bin"))
                    .is_ok_and(|m| m.len() > 0 && m.len() < full)
        })
    };
    // Between meta.json and the commit rename (paced writes leave a short window).
    let mut mid_commit = || {
        std::fs::read_dir(&root).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with(".tmp-")
                && e.path().join("meta.json").is_file()
        })
    };
    crash_suite("local", &spec, &mut [&mut mid, &mut mid_commit]);
    // No folder with a version name lacks its meta.json.
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.parse::<Version>().is_ok() {
            assert!(
                e.path().join("meta.json").is_file(),
                "{name} has no meta.json"
            );
        }
    }
}

#[cfg(feature = "s3")]
mod s3 {
    use super::*;
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    use recs::registry::ObjectRegistry;

    pub fn open(spec: &str) -> ObjectRegistry {
        let endpoint = std::env::var("RECS_S3_ENDPOINT").unwrap();
        ObjectRegistry::s3(
            spec,
            [
                ("aws_endpoint", endpoint),
                ("aws_allow_http", "true".into()),
            ],
        )
        .unwrap()
    }

    #[test]
    fn s3_publisher_killed_mid_publish_leaves_no_partial_version() {
        let Ok(_) = std::env::var("RECS_S3_ENDPOINT") else {
            eprintln!("skipping: RECS_S3_ENDPOINT is not set (run scripts/s3-test.sh)");
            return;
        };
        let bucket = std::env::var("RECS_S3_BUCKET").unwrap_or_else(|_| "recs-test".into());
        let spec = format!("s3://{bucket}/crash-{}", std::process::id());
        let probe = open(&spec);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Mid-publish: an uploaded model.bin whose version has no meta.json yet.
        let mut mid = || {
            let objs: Vec<_> = rt
                .block_on(
                    probe
                        .store()
                        .list(Some(probe.prefix()))
                        .try_collect::<Vec<_>>(),
                )
                .unwrap();
            let keys: Vec<String> = objs.iter().map(|o| o.location.to_string()).collect();
            keys.iter().any(|k| {
                k.ends_with("/model.bin") && {
                    let parts: Vec<&str> = k.rsplitn(3, '/').collect();
                    let vdir = parts[2];
                    !keys.contains(&format!("{vdir}/meta.json"))
                }
            })
        };
        crash_suite("s3", &spec, &mut [&mut mid]);
    }
}
