//! `recs retrain --config retrain.toml`: the production loop of `recs::retrain` with a TOML
//! configuration and a canary deployer over the server's admin API.
//!
//! Exit codes: 0 published (or nothing to do), 1 configuration/I/O/registry error, 2 a data
//! gate failed, 3 the quality gate failed, 4 published but the canary did not start.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use recs::registry::Version;
use recs::retrain::{CanaryConfig, Deployer, Retrain, RetrainConfig};
use recs::Error;

/// Arguments of `recs retrain`.
#[derive(Debug, Args)]
pub struct RetrainArgs {
    /// The run's configuration (TOML; see examples/retrain.toml). Relative paths in it are
    /// relative to the file's folder.
    #[arg(long)]
    config: PathBuf,
    /// Print the run report as JSON on stdout (default: markdown).
    #[arg(long)]
    json: bool,
    /// Run again every DURATION (`90s`, `15m`, `6h`, `1d`) in this process instead of once;
    /// each run re-reads the configuration, and a failed run does not stop the loop.
    #[arg(long, value_name = "DURATION")]
    every: Option<String>,
    /// With --every: stop after this many runs (default: run until killed).
    #[arg(long, requires = "every")]
    max_runs: Option<u64>,
    /// With --every: write the last run's result as Prometheus metrics to this file
    /// (node-exporter textfile format, replaced atomically after each run).
    #[arg(long, requires = "every")]
    metrics_file: Option<PathBuf>,
}

/// Runs `recs retrain` (once, or on a schedule with `--every`) and maps the outcome of the
/// (last) run to the process exit code.
pub fn main(args: RetrainArgs) -> ExitCode {
    let Some(every) = &args.every else {
        return ExitCode::from(run_once(&args));
    };
    let period = match crate::cli::retrain_every::parse_duration(every) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("--every: {e}");
            return ExitCode::from(1);
        }
    };
    crate::cli::retrain_every::run_every(
        period,
        args.max_runs,
        args.metrics_file.as_deref(),
        || run_once(&args),
    )
}

/// One gated run; its exit code.
fn run_once(args: &RetrainArgs) -> u8 {
    let config = match read_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    };
    let run = Retrain::new(config).deployer(Box::new(HttpDeployer));
    let report = match run.run() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot write the run report: {e}");
            return 1;
        }
    };
    if args.json {
        println!("{}", report.to_json().unwrap_or_default());
    } else {
        println!("{}", report.to_markdown());
    }
    tracing::info!(
        "recs retrain: {} (report: {})",
        report.headline(),
        run.run_dir(&report).join("report.md").display()
    );
    report.exit_code()
}

/// Reads and checks a TOML configuration; relative paths become relative to its folder.
///
/// # Errors
/// Unreadable file, TOML syntax, unknown fields (with the line), or a failed
/// [`RetrainConfig::check`].
pub fn read_config(path: &Path) -> Result<RetrainConfig, Error> {
    let text = recs::util::read_small_text(path, recs::util::SMALL_FILE_MAX_BYTES)?;
    let mut c: RetrainConfig =
        toml::from_str(&text).map_err(|e| Error::Format(format!("{}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let rebase = |p: &mut PathBuf| {
        // `s3://bucket/prefix` (a snapshot location) is a URL, not a relative path.
        if p.is_relative() && !p.to_string_lossy().contains("://") {
            *p = base.join(&*p);
        }
    };
    rebase(&mut c.run_dir);
    rebase(&mut c.data.path);
    c.data.movies.iter_mut().for_each(rebase);
    c.data.item_map.iter_mut().for_each(rebase);
    if !c.registry.contains("://") && Path::new(&c.registry).is_relative() {
        c.registry = base.join(&c.registry).to_string_lossy().into_owned();
    }
    c.check()?;
    Ok(c)
}

/// Starts canaries with `POST {server}/admin/rollout`, the token from `RECS_ADMIN_TOKEN`.
struct HttpDeployer;

impl Deployer for HttpDeployer {
    fn start_canary(
        &self,
        canary: &CanaryConfig,
        stable: &Version,
        candidate: &Version,
    ) -> recs::Result<String> {
        let token = std::env::var(recs_server::ADMIN_TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "{} is not set: the canary needs the server's admin token",
                    recs_server::ADMIN_TOKEN_ENV
                ))
            })?;
        let body = serde_json::json!({
            "mode": "canary",
            "stable": stable.to_string(),
            "canary": candidate.to_string(),
            "percent": canary.percent,
        });
        let url = format!("{}/admin/rollout", canary.server.trim_end_matches('/'));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Unsupported(format!("cannot start a runtime: {e}")))?;
        let (status, text) = rt
            .block_on(async {
                tokio::time::timeout(
                    std::time::Duration::from_secs(60),
                    post_json(&url, &token, &body),
                )
                .await
                .map_err(|_| "no answer within 60 s".to_string())?
            })
            .map_err(|e| Error::Unsupported(format!("POST {url}: {e}")))?;
        if status != 200 {
            let msg: String = text.chars().take(300).collect();
            return Err(Error::Unsupported(format!(
                "POST {url} answered {status}: {msg}"
            )));
        }
        let generation = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["generation"].as_u64());
        Ok(format!(
            "canary started on {}: {}% of users on {candidate}, the others on {stable}{}",
            canary.server,
            canary.percent,
            generation.map_or(String::new(), |g| format!(" (generation {g})"))
        ))
    }
}

async fn post_json(
    url: &str,
    token: &str,
    body: &serde_json::Value,
) -> Result<(u16, String), String> {
    let uri: Uri = url.parse().map_err(|e| format!("invalid URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// servers are supported (put TLS in front of recs serve)".into());
    }
    let auth = uri.authority().ok_or("the URL has no host")?.clone();
    let host = auth.host().trim_matches(|c| c == '[' || c == ']');
    let stream = tokio::net::TcpStream::connect((host, auth.port_u16().unwrap_or(80)))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let driver = tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(hyper::header::HOST, auth.as_str())
        .header(hyper::header::USER_AGENT, "recs-retrain")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(hyper::header::CONNECTION, "close")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = Limited::new(resp.into_body(), 1 << 20)
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    driver.abort();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
