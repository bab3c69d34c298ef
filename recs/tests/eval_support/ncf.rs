//! Locating and loading the NCF ML-1M split, shared by the eval tests and the eval bench (via
//! `#[path]`).

use std::path::{Path, PathBuf};

use recs::data::{load_ncf, Split};

/// `$RECS_DATA_DIR`, else `shared/data` beside the workspace.
pub fn data_dir() -> PathBuf {
    std::env::var_os("RECS_DATA_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
        PathBuf::from,
    )
}

/// The NCF folder when its three files are there, else the reason it is not.
pub fn ncf_dir() -> Result<PathBuf, String> {
    let d = data_dir().join("ml-1m-ncf");
    for f in [
        "ml-1m.train.pairs.gz",
        "ml-1m.test.rating",
        "ml-1m.test.negative",
    ] {
        if !d.join(f).is_file() {
            return Err(format!(
                "{} not found (set RECS_DATA_DIR)",
                d.join(f).display()
            ));
        }
    }
    Ok(d)
}

/// The P1 split (no negatives: full ranking) and the P2 split (the listed negatives), loaded
/// with `recs::data::load_ncf` (which drops a held-out item from its own negatives).
pub fn load_p1_p2(dir: &Path) -> (Split, Split) {
    let mut p2 = load_ncf(
        &dir.join("ml-1m.train.pairs.gz"),
        &dir.join("ml-1m.test.rating"),
        Some(&dir.join("ml-1m.test.negative")),
    )
    .expect("load the NCF split");
    let mut p1 = p2.clone();
    p1.name = "ml-1m-ncf-p1".into();
    p1.test.cases.iter_mut().for_each(|c| c.negatives = None);
    p2.name = "ml-1m-ncf-p2".into();
    (p1, p2)
}
