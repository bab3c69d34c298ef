//! `recs registry list / verify / gc` on a damaged registry, and `recs eval --publish
//! --promote` choosing the best model (issue 17).

use std::path::Path;
use std::process::{Command, Output};

use recs::registry::{LocalRegistry, NewVersion, Registry};

fn recs(args: &[&str], registry: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args(args)
        .arg("--registry")
        .arg(registry)
        .output()
        .expect("run recs");
    eprintln!(
        "recs {args:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn registry_list_and_verify_name_damaged_versions() {
    let dir = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::open(dir.path()).unwrap();
    for body in [&b"a"[..], b"b", b"c"] {
        reg.publish_bytes(body, NewVersion::new("popularity"))
            .unwrap();
    }
    // Healthy: both succeed.
    assert!(recs(&["registry", "list"], dir.path()).status.success());
    assert!(recs(&["registry", "verify"], dir.path()).status.success());

    // v1.1 loses its meta.json and is latest; v1.2's meta.json is unreadable JSON.
    reg.set_latest(&"v1.1".parse().unwrap()).unwrap();
    std::fs::remove_file(dir.path().join("v1.1/meta.json")).unwrap();
    std::fs::write(dir.path().join("v1.2/meta.json"), b"{ not json").unwrap();

    let out = recs(&["registry", "list"], dir.path());
    assert!(!out.status.success());
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains("v1.0"),
        "the good version is listed: {stdout}"
    );
    assert!(
        stderr.contains("v1.1: FAULTY: meta.json"),
        "missing metadata named: {stderr}"
    );
    assert!(
        stderr.contains("v1.2: FAULTY"),
        "bad metadata named: {stderr}"
    );
    assert!(
        stderr.contains("latest: FAULTY: latest -> v1.1"),
        "the latest pointer named: {stderr}"
    );

    let out = recs(&["registry", "verify"], dir.path());
    assert!(!out.status.success());
    let (stdout, _) = text(&out);
    assert!(stdout.contains("v1.0: ok"), "{stdout}");
    assert!(stdout.contains("v1.1: DAMAGED: meta.json"), "{stdout}");
    assert!(stdout.contains("v1.2: DAMAGED"), "{stdout}");
    assert!(stdout.contains("latest: DAMAGED"), "{stdout}");
}

/// Sets the modification time of `path` (a file or folder) `secs` seconds back.
fn age(path: &Path, secs: u64) {
    let t = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
    std::fs::File::open(path).unwrap().set_modified(t).unwrap();
}

#[test]
#[cfg(target_os = "linux")]
fn registry_gc_reclaims_killed_publishes_only() {
    let dir = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::open(dir.path()).unwrap();
    reg.publish_bytes(b"a", NewVersion::new("popularity"))
        .unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let mk = |name: &str, owner: Option<String>| {
        let p = dir.path().join(name);
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("model.bin"), vec![0u8; 1 << 16]).unwrap();
        if let Some(o) = owner {
            std::fs::write(p.join(".owner"), o).unwrap();
        }
        p
    };
    // A publisher that was killed: its process is gone (this one has exited).
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let killed = mk(".tmp-killed", Some(format!("{dead_pid} {host}\n")));
    // A slow publisher still running, its folder untouched for two hours: kept.
    let mut live = Command::new("sleep").arg("60").spawn().unwrap();
    let running = mk(".tmp-running", Some(format!("{} {host}\n", live.id())));
    age(&running.join("model.bin"), 7200);
    age(&running.join(".owner"), 7200);
    age(&running, 7200);
    // No owner file (an older publisher): the age decides.
    let old = mk(".tmp-old", None);
    age(&old.join("model.bin"), 7200);
    age(&old, 7200);
    let fresh = mk(".tmp-fresh", None);

    let out = recs(&["registry", "gc"], dir.path());
    let _ = live.kill();
    let _ = live.wait();
    assert!(out.status.success());
    assert!(
        text(&out).0.contains("removed 2 abandoned"),
        "{:?}",
        text(&out)
    );
    assert!(!killed.exists() && !old.exists());
    assert!(running.exists() && fresh.exists());
    // The committed version is untouched, and a publish's own folder never stays behind.
    assert_eq!(reg.versions().unwrap().len(), 1);
    reg.publish_bytes(b"b", NewVersion::new("popularity"))
        .unwrap();
    assert!(!dir.path().join("v1.1/.owner").exists());
}

#[test]
fn eval_publish_promote_promotes_the_best_not_the_last() {
    let tmp = tempfile::tempdir().unwrap();
    // Two taste clusters: a neighbourhood model beats popularity by far.
    let mut s = String::new();
    for u in 1..=60u32 {
        let base = if u <= 30 { 0 } else { 30 };
        for j in 0..10u32 {
            let m = base + 1 + (u * 7 + j * 3) % 30;
            s += &format!("{u}::{m}::4::{}\n", 978_300_000 + u * 100 + j);
        }
    }
    let data = tmp.path().join("ratings.dat");
    std::fs::write(&data, s).unwrap();
    let registry = tmp.path().join("registry");
    // The best model is listed first: the old behaviour left the last one as latest.
    let out = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args(["eval", "--quiet", "--models", "itemknn,pop", "--publish"])
        .arg(&registry)
        .arg("--promote")
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reg = LocalRegistry::open(&registry).unwrap();
    let metas = reg.list().unwrap();
    assert_eq!(metas.len(), 2);
    let ndcg = |m: &recs::registry::VersionMeta| m.metrics["ndcg@10"];
    let best = metas
        .iter()
        .max_by(|a, b| ndcg(a).total_cmp(&ndcg(b)))
        .unwrap();
    assert!(ndcg(&metas[0]) > ndcg(&metas[1]), "itemknn should win here");
    assert_eq!(reg.latest().unwrap(), Some(best.version));
}
