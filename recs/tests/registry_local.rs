//! The registry conformance suite against the local-directory backend.

mod registry_suite;

use recs::registry::{LocalRegistry, Registry};
use registry_suite::{Backend, Fixture};

struct Local;

impl Backend for Local {
    fn fixture(&self) -> Option<Fixture> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("registry");
        let reg = LocalRegistry::open(&root).unwrap();
        let tamper_root = root.clone();
        let remove_root = root.clone();
        Some(Fixture {
            reg: Box::new(reg),
            spec: root.to_str().unwrap().to_string(),
            tamper: Box::new(move |path, f| {
                let p = tamper_root.join(path);
                let bytes = std::fs::read(&p).unwrap();
                std::fs::write(&p, f(bytes)).unwrap();
            }),
            remove: Box::new(move |path| std::fs::remove_file(remove_root.join(path)).unwrap()),
            keep: Box::new(dir),
        })
    }
    fn open(&self, spec: &str) -> Box<dyn Registry> {
        Box::new(LocalRegistry::open(spec).unwrap())
    }
}

registry_suite!(Local);

#[test]
fn open_by_location_string() {
    let dir = tempfile::tempdir().unwrap();
    let a = recs::registry::open(dir.path().to_str().unwrap()).unwrap();
    let m = a
        .publish_bytes(b"x", recs::registry::NewVersion::new("popularity"))
        .unwrap();
    let b = recs::registry::open(&format!("file://{}", dir.path().display())).unwrap();
    assert_eq!(b.load_bytes(&m.version).unwrap(), b"x");
    assert_eq!(b.location(), dir.path().display().to_string());
}
