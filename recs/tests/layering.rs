//! The import rule of `docs/architecture.md`, checked on the source text:
//! - `util` imports nothing from the rest of the crate (every layer may use it);
//! - `data` never imports `model` (nor `eval`, `stream`, `registry`, `retrain`);
//! - `stream` never imports `model` (the model-aware live paths are in `serve`);
//! - `registry` imports no model type: only `registry/ops.rs`, the bridge that stores and loads
//!   model files, names the model *container* (`AnyModel`, `Recommender`, the file header);
//! - the library names no `pyo3`, `hyper` or `tracing_subscriber`, and `tokio` only in the
//!   feature-gated object-store and Kafka modules (where `recs/Cargo.toml` makes it optional).
//!
//! Comment and doc lines are skipped: a doctest may show how `data` and `model` meet.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as (path relative to `src/`, text).
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable source folder") {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(src())
                    .expect("under src")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&path).expect("utf-8 source")));
            }
        }
    }
    out.sort();
    out
}

/// Code lines (comments and doc comments dropped) of `text`, with their 1-based numbers,
/// up to a file's unit-test module (`#[cfg(test)]` then `mod tests`): a test may build a real
/// model to exercise any layer; the rule is about what the library code depends on.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod tests"))
        .unwrap_or(lines.len());
    lines
        .into_iter()
        .take(end)
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
}

/// `file:line: text` for every code line of `files` that contains one of `needles`.
fn offenders(files: &[(String, String)], needles: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in files {
        for (n, line) in code_lines(text) {
            if needles.iter().any(|needle| line.contains(needle)) {
                out.push(format!("{path}:{n}: {}", line.trim()));
            }
        }
    }
    out
}

const LAYERS: [&str; 7] = [
    "data", "model", "eval", "stream", "registry", "retrain", "serve",
];

fn crate_paths(modules: &[&str]) -> Vec<String> {
    modules
        .iter()
        .flat_map(|m| {
            [
                format!("crate::{m}"),
                format!("super::{m}::"),
                format!("super::super::{m}"),
            ]
        })
        .collect()
}

#[test]
fn util_imports_no_other_module() {
    let needles = crate_paths(&LAYERS);
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    let bad = offenders(&sources(&src().join("util")), &needles);
    assert!(
        bad.is_empty(),
        "util must stay neutral:\n{}",
        bad.join("\n")
    );
}

#[test]
fn data_never_imports_model() {
    let needles = crate_paths(&["model", "eval", "stream", "registry", "retrain", "serve"]);
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    let bad = offenders(&sources(&src().join("data")), &needles);
    assert!(
        bad.is_empty(),
        "data imports a later layer:\n{}",
        bad.join("\n")
    );
}

/// Events, ingestion and drift work on ids and counts; joining events with a fitted model is
/// `serve`'s job (`serve::FoldIn`, `serve::recommend_live`).
#[test]
fn stream_imports_no_model() {
    let needles = crate_paths(&["model"]);
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    let bad = offenders(&sources(&src().join("stream")), &needles);
    assert!(
        bad.is_empty(),
        "stream imports the model layer:\n{}",
        bad.join("\n")
    );
}

#[test]
fn registry_imports_no_model_type() {
    const BRIDGE: &str = "registry/ops.rs";
    const CONTAINER: [&str; 4] = ["AnyModel", "Recommender", "read_header", "MAGIC"];
    let files = sources(&src().join("registry"));
    let (bridge, rest): (Vec<_>, Vec<_>) = files.into_iter().partition(|(p, _)| p == BRIDGE);
    let bad = offenders(&rest, &["crate::model", "super::super::model"]);
    assert!(
        bad.is_empty(),
        "only {BRIDGE} may use model:\n{}",
        bad.join("\n")
    );
    for line in offenders(&bridge, &["crate::model::"]) {
        let names = line
            .split("crate::model::")
            .nth(1)
            .unwrap_or_default()
            .trim_matches(|c: char| "{};".contains(c));
        for name in names
            .split(',')
            .map(|n| n.trim().trim_matches(|c| c == '}' || c == ';'))
        {
            assert!(
                name.is_empty() || CONTAINER.contains(&name),
                "{BRIDGE} names the model type `{name}`: {line}"
            );
        }
    }
}

#[test]
fn library_imports_no_service_or_binding_crate() {
    let all = sources(&src());
    let bad = offenders(&all, &["pyo3", "hyper::", "tracing_subscriber"]);
    assert!(
        bad.is_empty(),
        "the library must not use these:\n{}",
        bad.join("\n")
    );
    // tokio only inside the optional object-store and Kafka modules.
    const TOKIO_OK: [&str; 3] = ["objects.rs", "registry/object.rs", "stream/kafka.rs"];
    let tokio: Vec<String> = offenders(&all, &["tokio"])
        .into_iter()
        .filter(|l| !TOKIO_OK.iter().any(|ok| l.starts_with(&format!("{ok}:"))))
        .collect();
    assert!(
        tokio.is_empty(),
        "tokio outside the feature-gated modules:\n{}",
        tokio.join("\n")
    );
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("recs/Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .unwrap_or_default();
    for line in deps.lines().filter(|l| l.starts_with("tokio")) {
        assert!(
            line.contains("optional = true"),
            "tokio must stay optional: {line}"
        );
    }
    for banned in ["pyo3", "hyper", "tracing-subscriber"] {
        assert!(
            !deps.lines().any(|l| l.starts_with(banned)),
            "recs must not depend on {banned}"
        );
    }
}

/// The checker itself finds what it should (so the rules above can fail).
#[test]
fn checker_finds_an_import_and_skips_comments_and_tests() {
    let files = vec![(
        "data/x.rs".to_string(),
        "//! crate::model in a doc line\nuse crate::model::Als;\n\
         #[cfg(test)]\nmod tests {\n    use crate::model::Bpr;\n}\n"
            .to_string(),
    )];
    let needles = crate_paths(&["model"]);
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    assert_eq!(
        offenders(&files, &needles),
        ["data/x.rs:2: use crate::model::Als;"]
    );
}
