//! # recs-server
//!
//! The HTTP service of recs, on hyper 1.x: recommendations with provenance, health and
//! readiness, Prometheus metrics, hot model swaps, canary / A/B / shadow rollouts with their
//! statistical analysis, and a probe client.
//!
//! The `recs` binary's `serve` and `probe` subcommands call [`serve_blocking`] (registry +
//! data + movies from a [`ServeConfig`], until Ctrl-C / SIGTERM) and [`probe_blocking`]; the
//! async pieces ([`serve`], [`serve_from_config`], [`Server`], [`probe()`]) are for embedding and
//! tests. Everything is also usable in-process:
//!
//! ```
//! use std::sync::Arc;
//! use recs::model::{Fit, Popularity};
//! use recs_server::{AppState, Catalog, MemorySource, ServeConfig, Server};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("test value").block_on(async {
//! let source = Arc::new(MemorySource::new());
//! source.insert("v1", Popularity::params().fit(&recs::data::Interactions::empty(1, 5))?);
//! let config = ServeConfig { addr: "127.0.0.1:0".parse().expect("test value"), ..ServeConfig::default() };
//! let state = AppState::new(config, source, Catalog::identity())?;
//! state.load_initial().await?;
//! let server = Server::bind(state).await?;
//! let addr = server.local_addr();
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = tokio::spawn(server.run(async { let _ = stopped.await; }));
//! let report = recs_server::probe(
//!     &recs_server::ProbeConfig::new(format!("http://{addr}/readyz"), 3, 0.01),
//!     |_| {},
//! ).await?;
//! assert_eq!(report.ok, 3);
//! let _ = stop.send(());
//! running.await.expect("test value")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).expect("test value");
//! ```
//!
//! Routes: `GET /recommend/{user_id}?k=&model=`, `GET /healthz`, `GET /readyz`, `GET /metrics`,
//! `GET /openapi.json`; admin (bearer token): `GET|POST /switch`, `POST /admin/switch`,
//! `GET|POST /admin/rollout`, `GET /admin/experiment`, `GET /admin/versions`, `POST /events`.
//! The OpenAPI document (`docs/openapi.json`) describes each.
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
pub mod conn;
pub mod error;
pub mod experiment;
pub mod exposure;
pub mod foldin;
pub mod metrics;
pub mod probe;
pub mod rollout;
mod routes;
mod server;
pub mod slo;
pub mod state;
/// The A/B statistics, now in the library (`recs::eval::stats`); re-exported for old paths.
pub use recs::eval::stats;

pub use config::{ServeConfig, ADMIN_TOKEN_ENV};
pub use error::{ApiError, ServerError};
pub use probe::{probe, probe_blocking, ProbeConfig, ProbeReport, ProbeSample};
pub use rollout::Rollout;
pub use server::{serve, serve_blocking, serve_from_config, shutdown_signal, Server};
pub use state::{
    AppState, Catalog, FileSource, LoadedModel, MemorySource, ModelMeta, ModelSource,
    RegistrySource, Snapshot, SourceError,
};

/// The OpenAPI 3 document of the API, served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Formats Unix seconds as RFC 3339 UTC with milliseconds (`2000-12-31T22:12:40.000Z`).
pub fn rfc3339(unix_secs: f64) -> String {
    let whole = unix_secs.floor();
    let millis = (((unix_secs - whole) * 1000.0) as u32).min(999);
    recs::util::time::rfc3339_ms(whole as i64 * 1000 + i64::from(millis))
}

/// One informational log line (a `tracing` event; [`init_logging`] sends it to stderr).
pub(crate) fn log(msg: &str) {
    tracing::info!("{msg}");
}

/// How [`init_logging`] writes log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `2026-12-06T01:42:13.123456Z  INFO listening on http://…`, one line per event.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields.message`, `target`), for log
    /// shippers.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format `{other}` (expected text or json)"
            )),
        }
    }
}

/// Installs the process-wide `tracing` subscriber: events to stderr in `format`, filtered by
/// `RUST_LOG` (e.g. `RUST_LOG=warn`, `RUST_LOG=recs_server=debug,recs=info`), `info` when unset
/// or unparsable. A second call (or one after another subscriber was set) changes nothing.
///
/// ```
/// recs_server::init_logging(recs_server::LogFormat::Text);
/// ```
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // `try_init` fails only when a subscriber is already installed: keep that one.
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_reference_dates() {
        assert_eq!(super::rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(978_300_760.25), "2000-12-31T22:12:40.250Z");
        assert_eq!(super::rfc3339(951_782_400.0), "2000-02-29T00:00:00.000Z");
        assert_eq!(super::rfc3339(-1.0), "1969-12-31T23:59:59.000Z");
    }
}
