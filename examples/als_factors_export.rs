//! Prepares the server load benchmark (`benches/server_load.sh`): loads an interaction file with
//! the same loader `recs serve --data` uses (so ids and histories match the server's catalog),
//! fits ALS with default parameters, publishes it to a model registry (promoted to latest), and
//! exports what a plain numpy server needs to answer the same requests:
//!
//! - `U.npy` (`n_users × width` f32), `V.npy` (`n_items × width` f32): the ALS factors, so that
//!   `scores = U[u] @ V.T` are exactly the Rust model's scores;
//! - `user_ids.npy`, `item_ids.npy` (i64): external ids of the model's rows;
//! - `hist_indptr.npy`, `hist_indices.npy` (i64): each user's training items (CSR), left out of
//!   answers as the server does.
//!
//! Run: `cargo run --release -p recs-server --example als_factors_export -- TRAIN_FILE REGISTRY_DIR OUT_DIR`

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use recs::data::{load, Format, LoadOptions};
use recs::model::{Als, AnyModel, Fit, Recommender};
use recs::registry::{self, LocalRegistry, NewVersion, Registry};

/// Writes a little-endian `.npy` file (format version 1.0) of `shape` from raw element bytes.
fn write_npy(path: &Path, descr: &str, shape: &[usize], bytes: &[u8]) -> std::io::Result<()> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    // magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(
        &u16::try_from(header.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes(),
    )?;
    f.write_all(header.as_bytes())?;
    f.write_all(bytes)?;
    f.flush()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i64_bytes(v: impl IntoIterator<Item = i64>) -> Vec<u8> {
    v.into_iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [train, registry_dir, out] = args.as_slice() else {
        return Err("usage: als_factors_export TRAIN_FILE REGISTRY_DIR OUT_DIR".into());
    };
    let t = Instant::now();
    let (ds, _) = load(train, &Format::guess(train), &LoadOptions::default())?;
    eprintln!(
        "loaded {}: {} users x {} items, {} interactions in {:.1} s",
        train.display(),
        ds.users.len(),
        ds.items.len(),
        ds.interactions.nnz(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let als = Als::params().fit(&ds.interactions)?;
    eprintln!(
        "fitted ALS (k = {}, width {}) in {:.1} s",
        als.n_factors(),
        als.factor_width(),
        t.elapsed().as_secs_f64()
    );

    std::fs::create_dir_all(out)?;
    let w = als.factor_width();
    write_npy(
        &out.join("U.npy"),
        "<f4",
        &[als.n_users(), w],
        &f32_bytes(als.user_factors()),
    )?;
    write_npy(
        &out.join("V.npy"),
        "<f4",
        &[als.item_factors().len() / w, w],
        &f32_bytes(als.item_factors()),
    )?;
    write_npy(
        &out.join("user_ids.npy"),
        "<i8",
        &[ds.users.len()],
        &i64_bytes(ds.users.ids().iter().copied()),
    )?;
    write_npy(
        &out.join("item_ids.npy"),
        "<i8",
        &[ds.items.len()],
        &i64_bytes(ds.items.ids().iter().copied()),
    )?;
    let m = &ds.interactions;
    write_npy(
        &out.join("hist_indptr.npy"),
        "<i8",
        &[m.indptr().len()],
        &i64_bytes(m.indptr().iter().map(|&p| p as i64)),
    )?;
    write_npy(
        &out.join("hist_indices.npy"),
        "<i8",
        &[m.indices().len()],
        &i64_bytes(m.indices().iter().map(|&i| i64::from(i))),
    )?;

    std::fs::create_dir_all(registry_dir)?;
    let reg = LocalRegistry::open(registry_dir)?;
    let model = AnyModel::from(als);
    let meta = registry::publish_model(
        &reg,
        &model,
        NewVersion::new(model.kind())
            .data_snapshot(registry::snapshot_of_interactions(&ds.interactions))
            .note(format!(
                "server load benchmark, trained on {}",
                train.display()
            )),
    )?;
    reg.set_latest(&meta.version)?;
    eprintln!(
        "published {} to {} (latest); factors in {}",
        meta.version,
        registry_dir.display(),
        out.display()
    );
    Ok(())
}
