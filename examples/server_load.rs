//! Load test of `GET /recommend/{user_id}`: starts `recs serve` in-process on 127.0.0.1 with a
//! model (any name `recs::model::fit_named` knows; default `pop`) fitted on ML-1M (with titles),
//! or on synthetic ML-1M-shaped data when the files are absent, then `clients` keep-alive connections send `requests` requests each for
//! random known users (plus 5 % unknown users: cold start) and it prints a latency table.
//!
//! Two latencies are reported: the client's (send → full body received, over loopback TCP) and
//! the server's own `provenance.latency_ms` (request start → answer built). Client and server
//! share the machine's cores, so the figures are an upper bound for a dedicated server.
//!
//! Run:
//! `RECS_DATA_DIR=/work/shared/data cargo run --release -p recs-server --example server_load -- 4 2000 10 pop`
//! (arguments: clients, requests per client, k, model name).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use recs::data::{load_movielens_ratings, load_movies, Dataset, LoadOptions};
use recs::model::fit_named;
use recs::Recommender;
use recs_server::probe::Percentiles;
use recs_server::{AppState, Catalog, MemorySource, ModelMeta, ServeConfig, Server};

fn data_dir() -> std::path::PathBuf {
    std::env::var_os("RECS_DATA_DIR")
        .map(Into::into)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data").into())
}

fn load_data() -> Result<(Dataset, Catalog, String), Box<dyn std::error::Error>> {
    let dir = data_dir().join("ml-1m");
    let ratings = dir.join("ratings_uir.dat.gz");
    if ratings.exists() {
        let (ds, _) = load_movielens_ratings(&ratings, &LoadOptions::default())?;
        let movies = load_movies(&dir.join("movies.dat"))?;
        let catalog = Catalog::from_dataset(ds.clone()).with_movies(&movies);
        Ok((ds, catalog, "ml-1m".into()))
    } else {
        eprintln!(
            "note: {} not found (set RECS_DATA_DIR); using synthetic ML-1M-shaped data",
            ratings.display()
        );
        let ds = recs::data::synth::SynthParams::ml1m().generate()?;
        Ok((
            ds.clone(),
            Catalog::from_dataset(ds),
            "synthetic-ml-1m".into(),
        ))
    }
}

struct Xorshift(u64);
impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let model_name = raw.get(3).cloned().unwrap_or_else(|| "pop".into());
    let args: Vec<usize> = raw
        .iter()
        .take(3)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let clients = args.first().copied().unwrap_or(4).max(1);
    let requests = args.get(1).copied().unwrap_or(2000).max(1);
    let k = args.get(2).copied().unwrap_or(10).max(1);

    let t = Instant::now();
    let (ds, catalog, data_name) = load_data()?;
    let fit = Instant::now();
    let model = fit_named(&model_name, &ds.interactions)?;
    let fit_s = fit.elapsed().as_secs_f64();
    let kind = model.kind().to_string();
    let users: Vec<i64> = ds.users.ids().to_vec();
    let source = Arc::new(MemorySource::new());
    source.insert_with_meta(
        Arc::new(model),
        ModelMeta {
            name: kind.clone(),
            version: "v1".into(),
            git_sha: None,
            data_snapshot_id: Some(data_name.clone()),
        },
    );
    let config = ServeConfig {
        addr: "127.0.0.1:0".parse()?,
        ..ServeConfig::default()
    };
    let state = AppState::new(config, source, catalog)?;
    state.load_initial().await?;
    let server = Server::bind(state).await?;
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    println!(
        "data {data_name}: {} users, {} items, {} ratings; model {kind} (fit {fit_s:.1} s); setup {:.1} s",
        ds.users.len(),
        ds.items.len(),
        ds.interactions.nnz(),
        t.elapsed().as_secs_f64()
    );

    let users = Arc::new(users);
    let wall = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let users = Arc::clone(&users);
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1));
            let (mut client_ms, mut server_ms, mut errors) = (Vec::new(), Vec::new(), 0usize);
            for _ in 0..requests {
                let r = rng.next();
                let user = if r.is_multiple_of(20) {
                    -((r % 1000) as i64) - 1 // unknown: cold start
                } else {
                    users[(r as usize / 20) % users.len()]
                };
                let req = Request::builder()
                    .uri(format!("/recommend/{user}?k={k}"))
                    .header("host", addr.to_string())
                    .body(Empty::<Bytes>::new())?;
                send.ready().await?;
                let t0 = Instant::now();
                let resp = send.send_request(req).await?;
                let ok = resp.status().is_success();
                let body = resp.into_body().collect().await?.to_bytes();
                client_ms.push(t0.elapsed().as_secs_f64() * 1e3);
                if !ok {
                    errors += 1;
                    continue;
                }
                let v: serde_json::Value = serde_json::from_slice(&body)?;
                if let Some(ms) = v["provenance"]["latency_ms"].as_f64() {
                    server_ms.push(ms);
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((client_ms, server_ms, errors))
        }));
    }
    let (mut client_ms, mut server_ms, mut errors) = (Vec::new(), Vec::new(), 0);
    for t in tasks {
        let (c, s, e) = t.await?.map_err(|e| e.to_string())?;
        client_ms.extend(c);
        server_ms.extend(s);
        errors += e;
    }
    let secs = wall.elapsed().as_secs_f64();
    let _ = stop.send(());
    running.await??;

    println!(
        "{} requests ({clients} clients x {requests}, k={k}), {errors} errors, {:.0} req/s",
        client_ms.len(),
        client_ms.len() as f64 / secs
    );
    println!("| latency (ms) | p50 | p90 | p99 | max | mean |");
    println!("|---|---|---|---|---|---|");
    for (name, v) in [
        ("client (loopback)", &client_ms),
        ("server (provenance)", &server_ms),
    ] {
        let p = Percentiles::of(v);
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            p.p50, p.p90, p.p99, p.max, p.mean
        );
    }
    Ok(())
}
