//! The registry conformance suite, written once and run against every backend
//! (`registry_local.rs`, `registry_s3.rs`) through the `registry_suite!` macro.
//!
//! A backend supplies fresh, empty registries ([`Fixture`]) and can re-open one from its
//! location string, which is how other threads and child processes reach the same registry.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use recs::data::{Interactions, Record};
use recs::model::{AnyModel, Fit, Popularity, Recommender};
use recs::registry::{
    self, Artifact, Bump, DeleteGuard, NewVersion, PointerAction, Registry, RegistryError, Version,
};
use recs::{Error, RecOpts};

/// Rewrites the stored object at a path (`vX.Y/<key>`, relative to the registry root).
pub type Tamper = Box<dyn Fn(&str, &dyn Fn(Vec<u8>) -> Vec<u8>)>;

/// An empty registry of one backend.
pub struct Fixture {
    /// The registry under test.
    pub reg: Box<dyn Registry>,
    /// Location string for [`Backend::open`] (other threads, child processes).
    pub spec: String,
    /// Rewrites the stored object at `path` (`vX.Y/<key>`, relative to the registry root).
    pub tamper: Tamper,
    /// Removes the stored object at `path` (`vX.Y/<key>`, relative to the registry root).
    pub remove: Box<dyn Fn(&str)>,
    /// Keeps temporary folders alive.
    pub keep: Box<dyn std::any::Any>,
}

/// A registry backend under test.
pub trait Backend: Sync {
    /// A fresh, empty registry, or `None` (after printing `skipping: ...`) when the backend's
    /// service is not available.
    fn fixture(&self) -> Option<Fixture>;
    /// Another handle to the registry at `spec`.
    fn open(&self, spec: &str) -> Box<dyn Registry>;
}

/// One model of every kind. **Add each new model kind here**: the round-trip test then covers it.
pub fn sample_models() -> Vec<AnyModel> {
    let train = sample_data();
    // Every model kind of recs::model (one line per kind).
    vec![
        Popularity::params().fit(&train).unwrap().into(),
        recs::model::ItemKnn::params().fit(&train).unwrap().into(),
        recs::model::Als::params()
            .factors(4)
            .iterations(3)
            .fit(&train)
            .unwrap()
            .into(),
        recs::model::Bpr::params()
            .factors(4)
            .iterations(3)
            .fit(&train)
            .unwrap()
            .into(),
        recs::model::Ease::params().fit(&train).unwrap().into(),
    ]
}

pub fn sample_data() -> Interactions {
    let pairs = [
        (0, 0),
        (0, 1),
        (0, 3),
        (1, 1),
        (1, 2),
        (2, 0),
        (2, 2),
        (2, 4),
        (3, 4),
        (3, 5),
        (4, 0),
        (4, 5),
    ];
    let recs: Vec<Record> = pairs
        .iter()
        .map(|&(u, i)| Record {
            user: u,
            item: i,
            value: 1.0,
            timestamp: None,
        })
        .collect();
    Interactions::from_records(5, 6, &recs, Default::default()).unwrap()
}

fn nv() -> NewVersion {
    NewVersion::new("popularity")
}

fn is_registry_err(e: &Error, f: impl Fn(&RegistryError) -> bool) -> bool {
    matches!(e, Error::Registry(r) if f(r))
}

pub fn round_trip_every_model_kind(fx: &Fixture) {
    let data = sample_data();
    let models = sample_models();
    for model in &models {
        let bytes = model.to_bytes().unwrap();
        let meta = registry::publish_model(&*fx.reg, model, NewVersion::new("")).unwrap();
        assert_eq!(meta.kind, model.kind());
        let art = meta.artifact(registry::MODEL_ARTIFACT).unwrap();
        assert_eq!(art.size, bytes.len() as u64);
        assert_eq!(art.sha256, registry::sha256_hex(&bytes));
        let back = registry::load_model(&*fx.reg, &meta.version).unwrap();
        assert_eq!(back.kind(), model.kind());
        assert_eq!(
            back.to_bytes().unwrap(),
            bytes,
            "{} round trip",
            model.kind()
        );
        let opts = RecOpts {
            k: 3,
            ..RecOpts::default()
        };
        for u in 0..data.n_users() as u32 {
            assert_eq!(
                back.recommend(u, data.items_of(u), &opts).unwrap(),
                model.recommend(u, data.items_of(u), &opts).unwrap()
            );
        }
        assert_eq!(fx.reg.meta(&meta.version).unwrap(), meta);
    }
    // Metadata kind must match the model.
    let err = registry::publish_model(&*fx.reg, &models[0], NewVersion::new("als")).unwrap_err();
    assert!(is_registry_err(&err, |r| matches!(
        r,
        RegistryError::InvalidMeta(_)
    )));
    assert_eq!(fx.reg.versions().unwrap().len(), models.len());
}

pub fn numbering_auto_explicit_and_bump(fx: &Fixture) {
    let r = &*fx.reg;
    let v = |maj, min| Version::new(maj, min);
    assert_eq!(r.publish_bytes(b"a", nv()).unwrap().version, v(1, 0));
    assert_eq!(r.publish_bytes(b"b", nv()).unwrap().version, v(1, 1));
    assert_eq!(
        r.publish_bytes(b"c", nv().bump(Bump::Major))
            .unwrap()
            .version,
        v(2, 0)
    );
    assert_eq!(
        r.publish_bytes(b"d", nv().version(v(5, 3)))
            .unwrap()
            .version,
        v(5, 3)
    );
    let err = r.publish_bytes(b"e", nv().version(v(5, 3))).unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::VersionExists(x) if *x == v(5, 3)
    )));
    // An explicit version below the highest is allowed when free.
    assert_eq!(
        r.publish_bytes(b"f", nv().version(v(1, 7)))
            .unwrap()
            .version,
        v(1, 7)
    );
    assert_eq!(r.publish_bytes(b"g", nv()).unwrap().version, v(5, 4));
    assert_eq!(
        r.versions().unwrap(),
        vec![v(1, 0), v(1, 1), v(1, 7), v(2, 0), v(5, 3), v(5, 4)]
    );
    assert_eq!(r.load_bytes(&v(5, 3)).unwrap(), b"d");
    assert_eq!(r.load_bytes(&v(1, 7)).unwrap(), b"f");
    let listed: Vec<Version> = r.list().unwrap().iter().map(|m| m.version).collect();
    assert_eq!(listed, r.versions().unwrap());
}

pub fn metadata_is_recorded(fx: &Fixture) {
    let r = &*fx.reg;
    let sha = "0123456789abcdef0123456789abcdef01234567".to_string();
    let snapshot = registry::snapshot_of_interactions(&sample_data());
    let meta = r
        .publish_bytes(
            b"model bytes",
            nv().params(&serde_json::json!({"min_value": 4.0}))
                .unwrap()
                .metric("ndcg@10", 0.25)
                .metric("hr@10", 0.5)
                .data_snapshot(snapshot.clone())
                .git_sha(Some(sha.clone()))
                .exported_by("recs train --model popularity")
                .extra("report", serde_json::json!({"users": 5}))
                .note("first"),
        )
        .unwrap();
    let back = r.meta(&meta.version).unwrap();
    assert_eq!(back, meta);
    assert_eq!(back.kind, "popularity");
    assert_eq!(back.params["min_value"], 4.0);
    assert_eq!(back.metrics["ndcg@10"], 0.25);
    assert_eq!(back.metrics["hr@10"], 0.5);
    assert_eq!(back.data_snapshot.as_deref(), Some(snapshot.as_str()));
    assert_eq!(back.git_sha.as_deref(), Some(sha.as_str()));
    assert_eq!(back.exported_by.tool, "recs train --model popularity");
    assert_eq!(back.extra["report"]["users"], 5);
    assert_eq!(back.note.as_deref(), Some("first"));
    assert_eq!(back.size(), 11);
    // RFC 3339 UTC with milliseconds: 2026-11-27T10:04:05.123Z
    let t = back.created_at.as_bytes();
    assert_eq!(t.len(), 24, "{}", back.created_at);
    assert_eq!(
        (t[4], t[7], t[10], t[13], t[16], t[19], t[23]),
        (b'-', b'-', b'T', b':', b':', b'.', b'Z')
    );
    assert!(back.created_at.as_str() > "2020");
    assert_eq!(r.list().unwrap(), vec![meta]);
    // Invalid metadata is refused and leaves nothing behind.
    let err = r
        .publish_bytes(b"x", nv().metric("ndcg@10", f64::NAN))
        .unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::InvalidMeta(_)
    )));
    let err = r.publish(&[], nv()).unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::InvalidMeta(_)
    )));
    assert_eq!(r.versions().unwrap().len(), 1);
}

pub fn extra_artifacts_round_trip(fx: &Fixture) {
    let r = &*fx.reg;
    let model = &sample_models()[0];
    let vocab = b"{\"items\": [10, 20, 30]}";
    let meta = registry::publish_model_with(
        r,
        model,
        &[Artifact::new("vocab.json", vocab)],
        NewVersion::new(""),
    )
    .unwrap();
    assert_eq!(meta.artifacts.len(), 2);
    assert_eq!(meta.artifacts[0].name, registry::MODEL_ARTIFACT);
    assert_eq!(r.load_artifact(&meta.version, "vocab.json").unwrap(), vocab);
    let err = r.load_artifact(&meta.version, "missing.bin").unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::NotFound(_)
    )));
    registry::verify(r, &meta.version).unwrap();
    let err = r.load_bytes(&Version::new(9, 9)).unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::NotFound(_)
    )));
}

pub fn latest_promote_and_rollback(fx: &Fixture) {
    let r = &*fx.reg;
    assert_eq!(r.latest().unwrap(), None);
    assert!(r.history().unwrap().is_empty());
    assert_eq!(registry::rollback_target(r).unwrap(), None);
    let err = registry::load_latest(r).unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::NotFound(_)
    )));
    let err = r.set_latest(&Version::new(1, 0)).unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::NotFound(_)
    )));

    let models = sample_models();
    let vs: Vec<Version> = (0..4)
        .map(|i| {
            registry::publish_model(r, &models[0], NewVersion::new("").note(format!("{i}")))
                .unwrap()
                .version
        })
        .collect();
    // Publishing does not move the pointer unless asked.
    assert_eq!(r.latest().unwrap(), None);
    for v in &vs[..3] {
        r.set_latest(v).unwrap();
    }
    assert_eq!(r.latest().unwrap(), Some(vs[2]));
    let (m, _) = registry::load_latest(r).unwrap();
    assert_eq!(m.version, vs[2]);
    // Rollback walks back through the promotions, not just list order.
    r.set_latest(&vs[0]).unwrap();
    r.set_latest(&vs[2]).unwrap();
    assert_eq!(registry::rollback(r).unwrap().version, vs[0]);
    assert_eq!(registry::rollback(r).unwrap().version, vs[2]);
    assert_eq!(registry::rollback(r).unwrap().version, vs[1]);
    assert_eq!(registry::rollback(r).unwrap().version, vs[0]);
    // Nothing earlier in the history or in list order.
    let err = registry::rollback(r).unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::NotFound(_)
    )));
    assert_eq!(r.latest().unwrap(), Some(vs[0]));
    let h = r.history().unwrap();
    assert_eq!(h.len(), 9);
    assert!(h.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
    assert_eq!(h[5].action, PointerAction::Rollback);
    assert_eq!(h.last().unwrap().version, vs[0]);
    // promote with publish
    let m = r.publish_bytes(b"p", nv().promote(true)).unwrap();
    assert_eq!(r.latest().unwrap(), Some(m.version));
    // Rollback skips deleted versions.
    r.set_latest(&vs[3]).unwrap();
    r.delete(&m.version, &DeleteGuard::new()).unwrap();
    assert_eq!(registry::rollback_target(r).unwrap(), Some(vs[0]));
}

pub fn delete_guards_and_never_reuses_numbers(fx: &Fixture) {
    let r = &*fx.reg;
    let a = r.publish_bytes(b"a", nv()).unwrap().version;
    let b = r.publish_bytes(b"b", nv()).unwrap().version;
    let c = r.publish_bytes(b"c", nv()).unwrap().version;
    r.set_latest(&b).unwrap();
    let err = r.delete(&b, &DeleteGuard::new()).unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::Protected { .. }
    )));
    let err = r.delete(&a, &DeleteGuard::new().serving(a)).unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::Protected { .. }
    )));
    assert_eq!(r.versions().unwrap(), vec![a, b, c]);
    r.delete(&c, &DeleteGuard::new().serving(a)).unwrap();
    assert_eq!(r.versions().unwrap(), vec![a, b]);
    for err in [
        r.meta(&c).unwrap_err(),
        r.load_bytes(&c).unwrap_err(),
        r.delete(&c, &DeleteGuard::new()).unwrap_err(),
        r.set_latest(&c).unwrap_err(),
        r.publish_bytes(b"again", nv().version(c)).unwrap_err(),
    ] {
        assert!(
            is_registry_err(&err, |e| matches!(
                e,
                RegistryError::NotFound(_) | RegistryError::VersionExists(_)
            )),
            "{err}"
        );
    }
    // The number of a deleted version is not reused.
    let d = r.publish_bytes(b"d", nv()).unwrap().version;
    assert!(d > c, "{d} after deleted {c}");
    assert_eq!(r.load_bytes(&d).unwrap(), b"d");
    // After a promotion, the old latest can go.
    r.set_latest(&d).unwrap();
    r.delete(&b, &DeleteGuard::new()).unwrap();
    assert_eq!(r.versions().unwrap(), vec![a, d]);
    assert_eq!(r.load_bytes(&a).unwrap(), b"a");
    assert_eq!(
        r.gc(Duration::ZERO).unwrap(),
        0,
        "delete left nothing behind"
    );
}

pub fn bit_flipped_artifact_is_refused(fx: &Fixture) {
    let r = &*fx.reg;
    let model = &sample_models()[0];
    let good = registry::publish_model(r, model, NewVersion::new("")).unwrap();
    let bad = registry::publish_model_with(
        r,
        model,
        &[Artifact::new("vocab.json", b"[1,2,3]")],
        NewVersion::new(""),
    )
    .unwrap();
    let key = |name: &str| format!("{}/{}", bad.version, bad.artifact(name).unwrap().key);
    let len = bad.artifact(registry::MODEL_ARTIFACT).unwrap().size as usize;
    // Flip one bit in the middle of the model file.
    (fx.tamper)(&key(registry::MODEL_ARTIFACT), &|mut b| {
        b[len / 2] ^= 0x10;
        b
    });
    let err = r.load_bytes(&bad.version).unwrap_err();
    assert!(
        is_registry_err(&err, |e| matches!(e, RegistryError::Checksum { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("damaged"), "{err}");
    let err = registry::load_model(r, &bad.version).unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::Checksum { .. }
    )));
    assert!(registry::verify(r, &bad.version).is_err());
    // Truncation is refused with a size message.
    (fx.tamper)(&key(registry::MODEL_ARTIFACT), &|b| {
        b[..b.len() / 3].to_vec()
    });
    let err = r.load_bytes(&bad.version).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    // A damaged extra artifact.
    (fx.tamper)(&key("vocab.json"), &|mut b| {
        b[0] ^= 1;
        b
    });
    assert!(r.load_artifact(&bad.version, "vocab.json").is_err());
    // The other version is untouched and verify_all tells them apart.
    registry::load_model(r, &good.version).unwrap();
    let report = registry::verify_all(r).unwrap();
    assert_eq!(report.len(), 2);
    assert!(report[0].1.is_ok());
    assert!(report[1].1.is_err());
}

pub fn corrupt_or_hostile_meta_is_refused(fx: &Fixture) {
    let r = &*fx.reg;
    let m = r.publish_bytes(b"abc", nv()).unwrap();
    let other = r.publish_bytes(b"def", nv()).unwrap();
    let path = format!("{}/meta.json", m.version);
    // A key that points outside the version.
    (fx.tamper)(&path, &|b| {
        let mut j: serde_json::Value = serde_json::from_slice(&b).unwrap();
        j["artifacts"][0]["key"] = "../../secret".into();
        serde_json::to_vec(&j).unwrap()
    });
    let err = r.load_bytes(&m.version).unwrap_err();
    assert!(
        is_registry_err(&err, |e| matches!(e, RegistryError::Corrupt { .. })),
        "{err}"
    );
    // A meta.json claiming to be another version.
    (fx.tamper)(&path, &|_| {
        let mut j = serde_json::to_value(&other).unwrap();
        j["version"] = other.version.to_string().into();
        serde_json::to_vec(&j).unwrap()
    });
    assert!(r.meta(&m.version).is_err());
    // Garbage.
    (fx.tamper)(&path, &|_| b"{not json".to_vec());
    let err = r.meta(&m.version).unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::Corrupt { .. }
    )));
    assert!(r.list().is_err(), "list reports the corrupt version");
    let report = registry::verify_all(r).unwrap();
    assert!(report[0].1.is_err() && report[1].1.is_ok());
    // It can still be deleted, and then all is well again.
    r.delete(&m.version, &DeleteGuard::new()).unwrap();
    assert_eq!(r.versions().unwrap(), vec![other.version]);
    assert!(r.list().is_ok());
    assert_eq!(r.load_bytes(&other.version).unwrap(), b"def");
    assert_eq!(
        r.gc(Duration::ZERO).unwrap(),
        0,
        "delete left nothing behind"
    );
}

/// A lost `meta.json` (of the latest version) and an unreadable one: [`registry::scan`] (what
/// `recs registry list`/`verify` print) names both with the reason, lists the good version and
/// flags the latest pointer; `list` alone stops at the unreadable one.
pub fn missing_or_unreadable_meta_is_reported(fx: &Fixture) {
    let r = &*fx.reg;
    let good = r.publish_bytes(b"good", nv()).unwrap();
    let garbled = r.publish_bytes(b"garbled", nv()).unwrap();
    let lost = r.publish_bytes(b"lost", nv().promote(true)).unwrap();
    (fx.tamper)(&format!("{}/meta.json", garbled.version), &|_| {
        b"{not json".to_vec()
    });
    (fx.remove)(&format!("{}/meta.json", lost.version));

    let s = registry::scan(r).unwrap();
    let good_versions: Vec<Version> = s.good.iter().map(|m| m.version).collect();
    assert_eq!(good_versions, vec![good.version]);
    let mut faulty: Vec<&str> = s.faulty.iter().map(|(v, _)| v.as_str()).collect();
    faulty.sort_unstable();
    let (g, l) = (garbled.version.to_string(), lost.version.to_string());
    assert_eq!(faulty, vec![g.as_str(), l.as_str()]);
    for (_, why) in &s.faulty {
        assert!(why.contains("meta.json"), "reason names meta.json: {why}");
    }
    assert_eq!(s.latest, Some(lost.version));
    let latest_fault = s
        .latest_fault()
        .expect("latest points at a version without meta");
    assert!(latest_fault.contains(&l), "{latest_fault}");
    assert!(s.has_faults());
    assert!(
        r.list().is_err(),
        "list alone stops at the unreadable meta.json"
    );

    // The lost version keeps its number: neither the next automatic publish nor an explicit
    // one takes it (the pointer history names it; two models must not share it).
    let next = r.publish_bytes(b"next", nv()).unwrap();
    assert!(
        next.version > lost.version,
        "{} reused or below the lost {}",
        next.version,
        lost.version
    );
    let err = r
        .publish_bytes(b"again", nv().version(lost.version))
        .unwrap_err();
    assert!(
        is_registry_err(
            &err,
            |e| matches!(e, RegistryError::VersionExists(x) if *x == lost.version)
        ),
        "{err}"
    );
}

pub fn traversal_names_are_refused(fx: &Fixture) {
    let r = &*fx.reg;
    let m = r.publish_bytes(b"abc", nv()).unwrap();
    for bad in [
        "../v1.0",
        "v1.0/../../etc",
        "..",
        "v1.0/",
        "/v1.0",
        "v1.0\\x",
        "v1..0",
        "v01.0",
        "v1.0.0",
        "",
        "latest",
    ] {
        let err = bad.parse::<Version>().unwrap_err();
        assert!(
            is_registry_err(&err, |e| matches!(e, RegistryError::BadName { .. })),
            "{bad}"
        );
    }
    for bad in [
        "../x",
        "a/b",
        "..",
        ".hidden",
        "a\\b",
        "meta.json",
        "deleted.json",
        "x/../y",
    ] {
        let err = r.publish(&[Artifact::new(bad, b"evil")], nv()).unwrap_err();
        assert!(
            is_registry_err(&err, |e| matches!(e, RegistryError::BadName { .. })),
            "{bad}"
        );
        let err = r.load_artifact(&m.version, bad).unwrap_err();
        assert!(
            is_registry_err(&err, |e| matches!(e, RegistryError::BadName { .. })),
            "{bad}"
        );
    }
    // Version numbers too large to name are refused too.
    let err = r
        .publish_bytes(b"x", nv().version(Version::new(4_000_000_000, 0)))
        .unwrap_err();
    assert!(is_registry_err(&err, |e| matches!(
        e,
        RegistryError::BadName { .. }
    )));
    assert_eq!(r.versions().unwrap(), vec![m.version]);
}

/// Content that identifies one publish of one publisher.
fn payload(tag: &str, i: usize) -> Vec<u8> {
    format!("publisher {tag} publish {i} ")
        .repeat(50)
        .into_bytes()
}

fn check_all_published(r: &dyn Registry, expected: &[Vec<u8>]) {
    let versions = r.versions().unwrap();
    assert_eq!(versions.len(), expected.len(), "{versions:?}");
    let mut seen = BTreeSet::new();
    for v in &versions {
        let bytes = r.load_bytes(v).unwrap();
        assert!(expected.contains(&bytes), "{v} holds unexpected bytes");
        assert!(seen.insert(bytes), "{v} duplicates another version");
    }
}

pub fn concurrent_publishers_threads(fx: &Fixture, backend: &dyn Backend) {
    let (threads, each) = (4, 5);
    let spec = fx.spec.clone();
    std::thread::scope(|s| {
        for t in 0..threads {
            let spec = &spec;
            s.spawn(move || {
                let reg = backend.open(spec);
                for i in 0..each {
                    reg.publish_bytes(&payload(&format!("t{t}"), i), nv())
                        .unwrap();
                }
            });
        }
    });
    let expected: Vec<Vec<u8>> = (0..threads)
        .flat_map(|t| (0..each).map(move |i| payload(&format!("t{t}"), i)))
        .collect();
    check_all_published(&*fx.reg, &expected);
    // Concurrent pointer moves each get their own history slot.
    let versions = fx.reg.versions().unwrap();
    std::thread::scope(|s| {
        for chunk in versions.chunks(5) {
            let spec = &spec;
            s.spawn(move || {
                let reg = backend.open(spec);
                for v in chunk {
                    reg.set_latest(v).unwrap();
                }
            });
        }
    });
    let h = fx.reg.history().unwrap();
    assert_eq!(h.len(), versions.len());
    let moved: BTreeSet<Version> = h.iter().map(|e| e.version).collect();
    assert_eq!(moved.len(), versions.len());
}

const CHILD_ENV: &str = "RECS_REGISTRY_SUITE_CHILD";

/// Entry point of the child processes of [`concurrent_publishers_processes`]; does nothing in
/// a normal test run.
pub fn child_entry(backend: &dyn Backend) {
    let Ok(job) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = job.splitn(3, '|');
    let (tag, n, spec) = (
        parts.next().unwrap(),
        parts.next().unwrap().parse::<usize>().unwrap(),
        parts.next().unwrap(),
    );
    let reg = backend.open(spec);
    for i in 0..n {
        reg.publish_bytes(&payload(tag, i), nv()).unwrap();
    }
}

pub fn concurrent_publishers_processes(fx: &Fixture, _backend: &dyn Backend) {
    let (procs, each) = (3, 4);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..procs)
        .map(|p| {
            Command::new(&exe)
                .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, format!("p{p}|{each}|{}", fx.spec))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // The parent publishes at the same time.
    for i in 0..each {
        fx.reg.publish_bytes(&payload("parent", i), nv()).unwrap();
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child publisher failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let expected: Vec<Vec<u8>> = (0..procs)
        .map(|p| format!("p{p}"))
        .chain(["parent".to_string()])
        .flat_map(|t| (0..each).map(move |i| payload(&t, i)))
        .collect();
    check_all_published(&*fx.reg, &expected);
}

/// Expands to one `#[test]` per suite check for the backend expression `$b`
/// (a value implementing [`Backend`]).
#[macro_export]
macro_rules! registry_suite {
    ($b:expr) => {
        #[test]
        fn child_entry() {
            registry_suite::child_entry(&$b);
        }
        registry_suite!(@tests $b;
            round_trip_every_model_kind,
            numbering_auto_explicit_and_bump,
            metadata_is_recorded,
            extra_artifacts_round_trip,
            latest_promote_and_rollback,
            delete_guards_and_never_reuses_numbers,
            bit_flipped_artifact_is_refused,
            corrupt_or_hostile_meta_is_refused,
            missing_or_unreadable_meta_is_reported,
            traversal_names_are_refused,
        );
        registry_suite!(@concurrent $b;
            concurrent_publishers_threads,
            concurrent_publishers_processes,
        );
    };
    (@tests $b:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(fx) = registry_suite::Backend::fixture(&$b) {
                    registry_suite::$name(&fx);
                }
            }
        )*
    };
    (@concurrent $b:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(fx) = registry_suite::Backend::fixture(&$b) {
                    registry_suite::$name(&fx, &$b);
                }
            }
        )*
    };
}
