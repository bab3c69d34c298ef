//! Model files of every earlier format version keep loading.
//!
//! `tests/data/model-v1/` holds one small file per model kind written by format 1 (the bincode
//! body, recs 0.1 up to this change), each with the top-5 answer the writing code gave for
//! three users (`expected.json`). The test loads every file with today's code and checks the
//! kind and the answers, so a change that breaks old registries fails here.
//!
//! The files were written by `write_fixtures` below (ignored; run it only on the commit that
//! still writes the old format, with `RECS_WRITE_MODEL_FIXTURES=1`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use recs::data::{Interactions, Record};
use recs::model::{AnyModel, ModelSpec, RecOpts, Recommender, SideInfo};

const USERS: [u32; 3] = [0, 7, 19];

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/model-v1")
}

/// 24 users × 30 items, ordered by time (every user walks a window of items), two tastes.
fn train() -> Interactions {
    let mut recs = Vec::new();
    for u in 0..24u32 {
        for step in 0..12u32 {
            let item = (u * 3 + step * (1 + u % 2)) % 30;
            recs.push(Record {
                user: u,
                item,
                value: 1.0 + (step % 5) as f32,
                timestamp: Some(1_000_000 + i64::from(u * 100 + step)),
            });
        }
    }
    Interactions::from_records(24, 30, &recs, Default::default()).expect("fixture data")
}

fn side() -> SideInfo {
    SideInfo {
        item_years: Some((0..30).map(|i| Some(1980 + (i % 20) as u16)).collect()),
    }
}

const SPECS: [&str; 12] = [
    "pop",
    "itemknn",
    "ease:lambda=50",
    "als:factors=4,iterations=3",
    "bpr:factors=4,iterations=5",
    "gmf:factors=4,epochs=1",
    "mlp:epochs=1",
    "neumf:factors=4,epochs=1",
    "blend",
    "fresh:lambda=50",
    "transition",
    "sasrec:epochs=1,hidden=8,max_len=8,blocks=1,heads=1",
];

fn file_name(spec: &str) -> String {
    format!("{}.model", spec.split(':').next().unwrap_or(spec))
}

fn top5(model: &dyn Recommender, train: &Interactions, user: u32) -> Vec<u32> {
    let opts = RecOpts {
        k: 5,
        ..RecOpts::default()
    };
    model
        .recommend(user, train.items_of(user), &opts)
        .expect("recommend")
        .iter()
        .map(|s| s.item)
        .collect()
}

#[test]
#[ignore = "writes the fixtures; run once on the commit that writes the old format"]
fn write_fixtures() {
    if std::env::var_os("RECS_WRITE_MODEL_FIXTURES").is_none() {
        return;
    }
    let (train, side) = (train(), side());
    let mut expected: BTreeMap<String, BTreeMap<u32, Vec<u32>>> = BTreeMap::new();
    for spec in SPECS {
        let spec_v: ModelSpec = spec.parse().expect("spec");
        let model = spec_v.fit(&train, &side).expect("fit").model;
        let bytes = model.to_bytes().expect("encode");
        std::fs::write(fixture_dir().join(file_name(spec)), bytes).expect("write");
        let answers = USERS
            .iter()
            .map(|&u| (u, top5(&model, &train, u)))
            .collect();
        expected.insert(file_name(spec), answers);
    }
    let json = serde_json::to_string_pretty(&expected).expect("json");
    std::fs::write(fixture_dir().join("expected.json"), json + "\n").expect("write");
}

#[test]
fn format_1_files_of_every_kind_still_load_and_answer_the_same() {
    let train = train();
    let text = std::fs::read_to_string(fixture_dir().join("expected.json")).expect("expected.json");
    let expected: BTreeMap<String, BTreeMap<u32, Vec<u32>>> =
        serde_json::from_str(&text).expect("expected.json parses");
    assert_eq!(expected.len(), SPECS.len(), "one fixture per spec");
    for (file, answers) in &expected {
        let bytes = std::fs::read(fixture_dir().join(file)).expect("fixture");
        let header = recs::model::read_header(&bytes).expect("header");
        assert_eq!(header.version, 1, "{file} is a format-1 file");
        let model = AnyModel::from_bytes(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let kind = match file.trim_end_matches(".model") {
            "pop" => "popularity",
            "itemknn" => "item-knn",
            "gmf" | "mlp" | "neumf" => "ncf",
            other => other,
        };
        assert_eq!(model.kind(), kind, "{file}: kind");
        for (&user, want) in answers {
            assert_eq!(&top5(&model, &train, user), want, "{file}: user {user}");
        }
    }
}
