//! `recs demo`: the whole loop on the embedded default, with nothing installed or running
//! beforehand. Generates MovieLens-shaped data, trains and evaluates the models (the table),
//! publishes them to a local model registry, promotes the best, starts the HTTP server
//! in-process on 127.0.0.1 and sends it a few real HTTP requests: a known user, an unknown user
//! (cold start), `/healthz`, a refused and an accepted hot switch, and a slice of `/metrics`.
//! With `--serve` it then keeps serving until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use recs::data::{self, Dataset, Split};
use recs::eval::Protocol;
use recs::registry::{self, Version};
use recs_server::{AppState, Catalog, RegistrySource, ServeConfig, Server};

use crate::cli::{print_and_write, spinner, train_and_evaluate, CliResult, OutputArgs};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Users in the generated data.
    #[arg(long, default_value_t = 6040)]
    users: usize,
    /// Items in the generated data.
    #[arg(long, default_value_t = 3706)]
    items: usize,
    /// Interactions in the generated data.
    #[arg(long, default_value_t = 1_000_209)]
    interactions: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Models to train, comma-separated; the best by the first NDCG@k is promoted and served.
    #[arg(long, value_delimiter = ',', default_value = "pop,als")]
    models: Vec<String>,
    /// Model registry directory to publish to (default: a temporary directory, removed at
    /// the end).
    #[arg(long)]
    registry: Option<PathBuf>,
    /// Address of the demo server (port 0: a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Keep serving after the demo requests, until Ctrl-C.
    #[arg(long)]
    serve: bool,
    /// Skip the registry and the server: only generate, train, evaluate and print the table.
    #[arg(long)]
    no_server: bool,
    #[command(flatten)]
    out: OutputArgs,
}

/// Runs `recs demo`.
pub(crate) fn run(mut args: DemoArgs) -> CliResult {
    let bar = spinner(args.out.quiet, "generating MovieLens-shaped data");
    let data = data::synth::SynthParams::new(args.users, args.items, args.interactions)
        .seed(args.seed)
        .generate()?;
    bar.finish_with_message(format!(
        "generated {} users x {} items, {} interactions",
        data.users.len(),
        data.items.len(),
        data.interactions.nnz()
    ));
    let split = data::split::leave_last_out(&data)?.with_name("synthetic leave-last-out");
    let protocol = Protocol::FullRanking {
        exclude_train: true,
    };
    // demo data has no movie metadata: models run without side information
    let train_and_print = |out: &OutputArgs| -> CliResult {
        let reports = train_and_evaluate(&split, &args.models, protocol, &Default::default(), out)?;
        print_and_write(&reports, out)
    };
    if args.no_server {
        return train_and_print(&args.out);
    }

    // Publish every model of this run to the registry (a temporary one by default).
    let temp;
    let dir = match &args.registry {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("recs-demo-").tempdir()?;
            temp.path().join("registry")
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| recs::Error::io(&dir, e))?;
    let location = dir.to_string_lossy().into_owned();
    let reg = registry::open(&location)?;
    let before: Vec<Version> = reg.versions()?;
    args.out.publish = Some(location.clone());
    args.out.promote = false;
    train_and_print(&args.out)?;

    let published: Vec<_> = reg
        .list()?
        .into_iter()
        .filter(|m| !before.contains(&m.version))
        .collect();
    let ndcg = args
        .out
        .k
        .first()
        .map_or_else(|| "ndcg@10".to_string(), |k| format!("ndcg@{k}"));
    let score = |m: &registry::VersionMeta| m.metrics.get(&ndcg).copied().unwrap_or(f64::MIN);
    let best = published
        .iter()
        .max_by(|a, b| score(a).total_cmp(&score(b)))
        .ok_or("no model was published")?;
    reg.set_latest(&best.version)?;
    println!("\n## Registry {}\n", reg.location());
    for m in &published {
        println!(
            "- {} {:<10} {ndcg} = {:.4}{}",
            m.version,
            m.kind,
            score(m),
            if m.version == best.version {
                "   <- best, promoted to latest"
            } else {
                ""
            }
        );
    }
    let other = published
        .iter()
        .rev()
        .find(|m| m.version != best.version)
        .map(|m| m.version.to_string());

    let catalog = Catalog::from_dataset(Dataset {
        interactions: split.train.clone(),
        users: split.users.clone(),
        items: split.items.clone(),
        order: None,
    });
    let token = recs_server::ServeConfig::default()
        .admin_token_from_env()
        .admin_token
        .unwrap_or_else(random_token);
    let config = ServeConfig {
        addr: args.addr,
        registry: Some(dir.clone()),
        admin_token: Some(token.clone()),
        ..ServeConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("recs-demo")
        .build()?;
    runtime.block_on(serve_and_query(
        config,
        RegistrySource::open_local(&dir)?,
        catalog,
        &split,
        other,
        args.serve,
    ))
}

/// A token for this run only, when `RECS_ADMIN_TOKEN` gives none.
fn random_token() -> String {
    use sha2::{Digest, Sha256};
    let seed = format!(
        "{:?} {} {:?}",
        std::time::SystemTime::now(),
        std::process::id(),
        Instant::now()
    );
    Sha256::digest(seed.as_bytes())
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn serve_and_query(
    config: ServeConfig,
    source: RegistrySource,
    catalog: Catalog,
    split: &Split,
    other: Option<String>,
    keep_serving: bool,
) -> CliResult {
    let token = config.admin_token.clone().unwrap_or_default();
    let state = AppState::new(config, Arc::new(source), catalog)?;
    let loaded = state.load_initial().await?;
    let server = Server::bind(state).await?;
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    println!(
        "\n## Serving {} on http://{addr}\n",
        loaded.rollout.versions().join(", ")
    );

    let result = demo_requests(addr, &token, split, other.as_deref()).await;
    if result.is_ok() && keep_serving {
        println!("\nServing until Ctrl-C. Try:");
        println!("  curl 'http://{addr}/recommend/1?k=5'");
        println!("  curl 'http://{addr}/healthz'");
        println!("  curl -H 'Authorization: Bearer {token}' 'http://{addr}/switch?model=VERSION'");
        recs_server::shutdown_signal().await;
    }
    let _ = stop.send(());
    running.await??;
    println!("\nserver stopped (graceful shutdown)");
    result
}

async fn demo_requests(
    addr: SocketAddr,
    token: &str,
    split: &Split,
    other: Option<&str>,
) -> CliResult {
    // A known user: the first one with a training history.
    let known = (0..split.train.n_users())
        .find(|&u| !split.train.items_of(u as u32).is_empty())
        .and_then(|u| split.users.ids().get(u).copied())
        .ok_or("the generated data has no user with a history")?;
    let unknown = split.users.ids().iter().copied().max().unwrap_or(0) + 1_000_000;

    let r = get(addr, &format!("/recommend/{known}?k=5"), None).await?;
    show(&r, "a known user");
    println!("  {}", compact(&r.body));
    print_recommendation(&r.body);

    let r = get(addr, &format!("/recommend/{unknown}?k=5"), None).await?;
    show(&r, "an unknown user: cold start (popularity), not an error");
    print_recommendation(&r.body);

    let r = get(addr, "/healthz", None).await?;
    show(&r, "health");
    match serde_json::from_str::<serde_json::Value>(&r.body) {
        Ok(v) => println!(
            "  status {}, ready {}, generation {}, rollout {}",
            v["status"], v["ready"], v["generation"], v["rollout"]
        ),
        Err(_) => println!("  {}", compact(&r.body)),
    }

    match other {
        Some(version) => {
            let r = get(addr, &format!("/switch?model={version}"), None).await?;
            show(&r, "hot switch without the admin token: refused");
            let r = get(addr, &format!("/switch?model={version}"), Some(token)).await?;
            show(&r, "hot switch with the admin token");
            println!("  {}", compact(&r.body));
            let r = get(addr, &format!("/recommend/{known}?k=5"), None).await?;
            show(&r, "the same user, now served by the new version");
            print_recommendation(&r.body);
        }
        None => println!("\n(one model only: no other version to switch to)"),
    }

    let r = get(addr, "/metrics", None).await?;
    show(&r, "Prometheus metrics (excerpt)");
    for line in r.body.lines().filter(|l| {
        l.starts_with("recs_http_requests_total")
            || l.starts_with("recs_recommendations_total")
            || l.starts_with("recs_model_switches_total")
    }) {
        println!("  {line}");
    }
    Ok(())
}

/// One HTTP exchange as the demo prints it.
struct Exchange {
    request: String,
    status: u16,
    ms: f64,
    body: String,
}

fn show(r: &Exchange, what: &str) {
    println!("\n{} -> {} ({:.2} ms): {what}", r.request, r.status, r.ms);
}

fn compact(body: &str) -> String {
    let mut s: String = body.chars().take(300).collect();
    if s.len() < body.len() {
        s.push_str(" ...");
    }
    s
}

fn print_recommendation(body: &str) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        println!("  {}", compact(body));
        return;
    };
    let p = &v["provenance"];
    println!(
        "  model {} {} (variant {}, cold_start {}, strategy {}), request {} in {:.3} ms",
        p["model_name"].as_str().unwrap_or("?"),
        p["model_version"].as_str().unwrap_or("?"),
        v["variant"].as_str().unwrap_or("?"),
        v["cold_start"],
        v["strategy"].as_str().unwrap_or("?"),
        p["request_id"].as_str().unwrap_or("?"),
        p["latency_ms"].as_f64().unwrap_or(f64::NAN),
    );
    println!("  items: {}", v["items"]);
}

/// One request on a fresh connection (the demo's few requests need no pooling).
async fn get(addr: SocketAddr, path: &str, bearer: Option<&str>) -> CliResult<Exchange> {
    let start = Instant::now();
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(conn);
    let mut req = Request::builder()
        .uri(path)
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::USER_AGENT, "recs-demo");
    if let Some(t) = bearer {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::new()))?)
        .await?;
    let status = resp.status().as_u16();
    let body = Limited::new(resp.into_body(), 1 << 20)
        .collect()
        .await
        .map_err(|e| format!("reading the response body: {e}"))?
        .to_bytes();
    driver.abort();
    Ok(Exchange {
        request: format!(
            "GET {path}{}",
            if bearer.is_some() {
                " (Authorization: Bearer ...)"
            } else {
                ""
            }
        ),
        status,
        ms: start.elapsed().as_secs_f64() * 1e3,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
