//! End to end: the `recs retrain` binary on generated data into a temporary registry.
//!
//! The story it guards against: a scheduled retrain fed a 12-row file that published empty
//! models, one after another. Here a good run publishes, a broken data set publishes nothing
//! and exits non-zero, a model under the quality floor keeps the served version, drifted data
//! is refused, and a canary is started on a running server through its admin API.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use recs::registry::{LocalRegistry, Registry, Version};
use recs::retrain::write_movielens;
use recs_server::{AppState, Catalog, RegistrySource, Rollout, ServeConfig, Server};
use serde_json::Value;

const TOKEN: &str = "retrain-test-token-4242";

fn recs() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_recs"));
    c.env_remove(recs_server::ADMIN_TOKEN_ENV);
    c
}

/// MovieLens-shaped ratings (300 users, 120 items, 9000 ratings) written as `ratings.dat`.
/// Another seed is another "world" (other items are popular), which the drift gate refuses.
fn dataset(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let data = recs::data::synth::movielens_like(300, 120, 9_000, seed).expect("synth");
    let path = dir.join(name);
    write_movielens(&data, &path).expect("write");
    path
}

/// New data from the same world: `src` without every 20th line (from line `offset`).
fn next_week(src: &Path, dst: &Path, offset: usize) -> PathBuf {
    let text = std::fs::read_to_string(src).expect("read");
    let kept: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| i % 20 != offset)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(dst, kept).expect("write");
    dst.to_path_buf()
}

/// A config with the test's data file and `extra` TOML appended (tables after the top level).
fn config(dir: &Path, name: &str, data: &Path, extra: &str) -> PathBuf {
    let text = format!(
        r#"registry = "models"
run_dir = "runs"

[data]
source = "file"
path = "{}"

[gates]
min_users = 50
min_items = 50
min_interactions = 1000
max_bad_ratio = 0.01

[train]
models = ["pop", "itemknn"]
split = "leave-last-out"
k = [10]

[quality]
metrics = ["ndcg@10", "hr@10"]
# 300 test users: HR@10 has a standard error of ~0.03, so "no worse than served" needs room.
tolerance = 0.06
{extra}
"#,
        data.file_name().and_then(|n| n.to_str()).expect("name")
    );
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

fn run(config: &Path, token: Option<&str>) -> Output {
    let mut c = recs();
    c.args(["retrain", "--config"]).arg(config);
    if let Some(t) = token {
        c.env(recs_server::ADMIN_TOKEN_ENV, t);
    }
    c.output().expect("run recs retrain")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The run reports, oldest first (run ids start with the UTC time).
fn reports(dir: &Path) -> Vec<Value> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir.join("runs"))
        .map(|rd| rd.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.iter()
        .map(|d| {
            assert!(
                d.join("report.md").is_file(),
                "{} has no report.md",
                d.display()
            );
            let text = std::fs::read_to_string(d.join("report.json")).expect("report.json");
            serde_json::from_str(&text).expect("report parses")
        })
        .collect()
}

fn versions(reg: &LocalRegistry) -> Vec<String> {
    reg.versions()
        .expect("versions")
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn latest(reg: &LocalRegistry) -> Option<String> {
    reg.latest().expect("latest").map(|v| v.to_string())
}

#[test]
fn retrain_good_run_publishes_and_broken_data_or_weak_models_publish_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let good = dataset(dir, "ratings.dat", 1);
    let promote = "[publish]\npromote = true\n";

    // 1. Good data: published and promoted, exit 0.
    let out = run(&config(dir, "good.toml", &good, promote), None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("published v1.0"), "{}", stderr(&out));
    let reg = LocalRegistry::open(dir.join("models")).expect("registry");
    assert_eq!(versions(&reg), ["v1.0"]);
    assert_eq!(latest(&reg).as_deref(), Some("v1.0"));
    let meta = reg.meta(&Version::new(1, 0)).expect("meta");
    let names: Vec<&str> = meta.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "model.bin",
            "serving.bin",
            "report.json",
            "data_profile.json"
        ]
    );
    // self-contained: the collected data's ids and interactions, and the model spec
    let serving = recs::registry::load_serving_data(&reg, &Version::new(1, 0))
        .expect("serving data")
        .expect("published with serving data");
    let collected = recs::data::load(
        &good,
        &recs::data::Format::guess(&good),
        &Default::default(),
    )
    .expect("data")
    .0;
    assert_eq!(serving.items(), &collected.items);
    assert_eq!(serving.seen().nnz(), collected.interactions.nnz());
    assert!(meta.params["spec"].is_string(), "{}", meta.params);
    assert_eq!(
        meta.data_snapshot.as_deref(),
        Some(
            recs::registry::snapshot_of_files(&[&good])
                .expect("id")
                .as_str()
        )
    );
    assert!(meta.metrics["hr@10"] > 0.0, "{:?}", meta.metrics);
    assert!(meta.extra["retrain"]["gates"].is_array());
    // The published model is the one measured: it loads, verified, and recommends.
    let model = recs::registry::load_model(&reg, &meta.version).expect("load");
    assert_eq!(recs::Recommender::n_items(&model), 120);
    let r = &reports(dir)[0];
    assert_eq!(r["outcome"]["status"], "published");
    assert_eq!(r["outcome"]["version"], "v1.0");
    assert_eq!(r["data"]["interactions"], 9000);

    // 2. The broken data set: 12 rows. Nothing published, latest unchanged, non-zero exit
    //    naming the gate.
    let text = std::fs::read_to_string(&good).expect("read");
    let twelve: String = text.lines().take(12).map(|l| format!("{l}\n")).collect();
    let broken = dir.join("broken.dat");
    std::fs::write(&broken, twelve).expect("write");
    let out = run(&config(dir, "broken.toml", &broken, promote), None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("min_interactions: 12 < 1000"),
        "{}",
        stderr(&out)
    );
    assert_eq!(versions(&reg), ["v1.0"]);
    assert_eq!(latest(&reg).as_deref(), Some("v1.0"));
    let r = reports(dir).pop().expect("report");
    assert_eq!(r["outcome"]["status"], "failed");
    assert_eq!(r["outcome"]["stage"], "data_gates");
    assert!(r["candidates"].as_array().expect("array").is_empty());

    // 3. The same good data again: nothing to do, exit 0, nothing published.
    let out = run(&config(dir, "good.toml", &good, promote), None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing to do"), "{}", stderr(&out));
    assert_eq!(versions(&reg), ["v1.0"]);

    // 4. New data from the same world, but a floor no model reaches: the quality gate keeps
    //    the served version.
    let fresh = next_week(&good, &dir.join("fresh.dat"), 0);
    let floor = format!("[quality.floors]\n\"hr@10\" = 0.99\n{promote}");
    let out = run(&config(dir, "floor.toml", &fresh, &floor), None);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("below the floor 0.99"), "{err}");
    assert!(err.contains("keeping the served version v1.0"), "{err}");
    assert_eq!(versions(&reg), ["v1.0"]);
    assert_eq!(latest(&reg).as_deref(), Some("v1.0"));
    let r = reports(dir).pop().expect("report");
    assert_eq!(r["outcome"]["stage"], "quality_gate");
    assert_eq!(r["candidates"].as_array().expect("array").len(), 2);

    // 5. Drifted data (every rating turned into 5 stars; all-1.0 values would read as implicit
    //    feedback, with no rating histogram): refused by the drift gate. So is
    //    another world (a different seed: other items are popular).
    let other = dataset(dir, "other.dat", 2);
    let out = run(&config(dir, "other.toml", &other, promote), None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("item_popularity psi"),
        "{}",
        stderr(&out)
    );
    let drifted: String = std::fs::read_to_string(&fresh)
        .expect("read")
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split("::").collect();
            format!("{}::{}::5::{}\n", f[0], f[1], f[3])
        })
        .collect();
    let drifted_path = dir.join("drifted.dat");
    std::fs::write(&drifted_path, drifted).expect("write");
    let out = run(&config(dir, "drift.toml", &drifted_path, promote), None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("drift: against v1.0: rating psi"),
        "{}",
        stderr(&out)
    );
    assert!(reports(dir).pop().expect("report")["drift"]["checks"].is_array());
    assert_eq!(versions(&reg), ["v1.0"]);

    // 6. The fresh data with sane gates: published as v1.1 after passing drift and quality.
    let out = run(&config(dir, "fresh.toml", &fresh, promote), None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(versions(&reg), ["v1.0", "v1.1"]);
    assert_eq!(latest(&reg).as_deref(), Some("v1.1"));
    let r = reports(dir).pop().expect("report");
    let drift_gate = r["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .find(|g| g["name"] == "drift")
        .expect("drift gate")
        .clone();
    assert_eq!(drift_gate["passed"], true, "{drift_gate}");
    assert!(drift_gate["detail"]
        .as_str()
        .expect("detail")
        .contains("no threshold crossed against v1.0"));
    assert_eq!(reports(dir).len(), 7);
}

#[test]
fn retrain_bad_configs_exit_1_with_the_field_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let good = dataset(dir, "ratings.dat", 3);
    let out = run(
        &config(dir, "typo.toml", &good, "[gatez]\nmin_users = 1\n"),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("gatez"), "{}", stderr(&out));
    let out = run(
        &config(dir, "k.toml", &good, "[quality.floors]\n\"hr@20\" = 0.1\n"),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("hr@20"), "{}", stderr(&out));
    assert!(
        !dir.join("models").exists()
            || versions(&LocalRegistry::open(dir.join("models")).expect("reg")).is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrain_canary_is_started_on_a_running_server_through_the_admin_api() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let first = dataset(&dir, "ratings.dat", 5);
    let second = next_week(&first, &dir.join("next.dat"), 0);
    let canary = "[publish]\n[publish.canary]\nserver = \"http://SERVER\"\npercent = 25\n";

    // No server yet and nothing served: the first version is promoted instead.
    let cfg = config(&dir, "first.toml", &first, canary);
    let out = tokio::task::spawn_blocking(move || run(&cfg, None))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("promoted v1.0 to latest instead of a canary"));

    // A server on the registry, serving v1.0.
    let source = RegistrySource::open_local(&dir.join("models")).expect("source");
    let config_srv = ServeConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        admin_token: Some(TOKEN.into()),
        ..ServeConfig::default()
    };
    let state = AppState::new(config_srv, Arc::new(source), Catalog::identity()).expect("state");
    state.load_initial().await.expect("load");
    let server = Server::bind(state.clone()).await.expect("bind");
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let canary = canary.replace("SERVER", &addr.to_string());

    // Without the token: published, but the canary is refused (401) → exit 4.
    let cfg = config(&dir, "second.toml", &second, &canary);
    let c2 = cfg.clone();
    let out = tokio::task::spawn_blocking(move || run(&c2, Some("wrong-token")))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("answered 401"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("wrong-token"), "{}", stderr(&out));

    // With it (new data so that the run is not "nothing to do"): canary at 25 %.
    let third = next_week(&first, &dir.join("third.dat"), 1);
    let cfg = config(&dir, "third.toml", &third, &canary);
    let out = tokio::task::spawn_blocking(move || run(&cfg, Some(TOKEN)))
        .await
        .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("canary started"), "{}", stderr(&out));
    let d = state.current().expect("deployment");
    assert_eq!(
        d.rollout,
        Some(Rollout::Canary {
            stable: "v1.0".into(),
            canary: "v1.2".into(),
            percent: 25.0
        })
    );
    let _ = stop.send(());
    task.await.expect("join").expect("server");
}
