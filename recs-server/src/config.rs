//! Server configuration: every limit and switch of `recs serve`, readable from a JSON file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ServerError;

/// Environment variable the CLI should read the admin token from (keeps it out of `ps`).
pub const ADMIN_TOKEN_ENV: &str = "RECS_ADMIN_TOKEN";

/// Configuration of the HTTP server. Every field has a default, so a config file lists only
/// what it changes:
///
/// ```
/// use recs_server::ServeConfig;
/// let c = ServeConfig::from_json(r#"{"addr": "127.0.0.1:9000", "max_k": 50}"#)?;
/// assert_eq!(c.max_k, 50);
/// assert_eq!(c.default_k, 10);
/// # Ok::<(), recs_server::ServerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Listening address. Default `127.0.0.1:8080`; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Model registry directory (a `recs::registry::LocalRegistry`), read by
    /// [`serve_from_config`](crate::serve_from_config). Default none.
    pub registry: Option<PathBuf>,
    /// Interaction file the models were trained on (format guessed from the name, as
    /// `recs::data::Format::guess`): gives the external user and movie ids, each user's seen
    /// movies (left out of answers) and the cold-start popularity. Default none: ids are the
    /// model's dense indices and nothing is filtered.
    pub data: Option<PathBuf>,
    /// Movie metadata for titles: ML-1M `movies.dat` or ML-100K `u.item`. Default none.
    pub movies: Option<PathBuf>,
    /// Bearer token of the admin endpoints and `POST /events`. `None` (default): those
    /// endpoints always answer 401.
    pub admin_token: Option<String>,
    /// Version to serve at start. Default: the source's latest version.
    pub initial_version: Option<String>,
    /// When set, poll the source's latest pointer every this many seconds and switch to a new
    /// latest version (only while the rollout is `fixed`). Default off.
    pub follow_latest_secs: Option<f64>,
    /// `k` when the request gives none. Default 10; must be in `1..=max_k`.
    pub default_k: usize,
    /// Largest accepted `k`. Default 100; must be in `1..=10000`.
    pub max_k: usize,
    /// Largest accepted request body in bytes. Default 65536; must be > 0.
    pub max_body_bytes: usize,
    /// Time limit of one request in ms (504 after). Default 5000; must be > 0.
    pub request_timeout_ms: u64,
    /// Time limit to receive a request's headers in ms, from the connection's start or the end
    /// of the previous request (so it also bounds an idle keep-alive connection). Default 3000;
    /// must be > 0. A slow or idle socket holds a connection slot at most this long.
    pub header_read_timeout_ms: u64,
    /// On shutdown, how long in-flight requests may take to finish, in ms. Default 30000.
    pub shutdown_grace_ms: u64,
    /// Scoring jobs run at once on the blocking pool; others wait. Default 64; must be > 0.
    pub max_concurrent_scoring: usize,
    /// Open connections at once. Default 4096; must be > 0. A connection past it is accepted
    /// and answered `503` with `Retry-After: 1` at once, never queued.
    pub max_connections: usize,
    /// Open connections at once from one IP address. Default 256; must be > 0. Past it a new
    /// connection from that address is answered `503` with `Retry-After: 1` and closed, so one
    /// host cannot take the slots of the others. Behind a reverse proxy every client has the
    /// proxy's address: raise it to `max_connections` there and limit clients at the proxy.
    pub max_connections_per_ip: usize,
    /// Versions a public client may pick with `GET /recommend/{user}?model=VERSION`. Default
    /// none: `?model=` answers 404 unless the request carries the admin bearer token (which may
    /// pick any loaded version). Shadow and canary versions are thus not open to anyone who
    /// guesses their name; list the versions meant for public comparison here.
    pub public_models: Vec<String>,
    /// Users remembered for watch-event attribution per experiment. Default 100000.
    pub exposure_capacity: usize,
    /// Confidence level of experiment intervals. Default 0.95; must be in (0, 1).
    pub confidence: f64,
    /// The A/B decision rule of `GET /admin/experiment` and `POST /admin/experiment/promote`
    /// (`recs::eval::experiment::DecisionRule`: minimum sample, power, lift, latency and error
    /// guardrails). Its `alpha` is always `1 - confidence`. Default: the library's defaults.
    pub experiment_rule: recs::eval::experiment::DecisionRule,
    /// Online KPI window: a recommendation counts as watched when the user watches one of its
    /// movies at most this many seconds after it was served. Default 3600; must be > 0.
    pub kpi_window_secs: f64,
    /// Online KPI: most answers waiting for a watch event (oldest evicted). Default 100000.
    pub kpi_capacity: usize,
    /// Git commit of the server build, used in provenance when the model has none. Default:
    /// `RECS_GIT_SHA` at compile time, else `"unknown"`.
    pub git_sha: String,
    /// Write one line per request to stderr. Default false.
    pub access_log: bool,
    /// Real-time fold-in of rate/watch events (see [`crate::foldin`]). Default off.
    pub live: crate::foldin::LiveConfig,
    /// The exposure log: every `/recommend` answer as a `reco_response` event to a rotating
    /// file and/or a Kafka topic (see [`crate::exposure`]). Default off.
    pub exposure_log: crate::exposure::ExposureLogConfig,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            registry: None,
            data: None,
            movies: None,
            admin_token: None,
            initial_version: None,
            follow_latest_secs: None,
            default_k: 10,
            max_k: 100,
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 5_000,
            header_read_timeout_ms: 3_000,
            shutdown_grace_ms: 30_000,
            max_concurrent_scoring: 64,
            max_connections: 4096,
            max_connections_per_ip: 256,
            public_models: Vec::new(),
            exposure_capacity: 100_000,
            confidence: 0.95,
            experiment_rule: recs::eval::experiment::DecisionRule::default(),
            kpi_window_secs: recs::stream::KPI_DEFAULT_WINDOW_SECS,
            kpi_capacity: 100_000,
            git_sha: option_env!("RECS_GIT_SHA").unwrap_or("unknown").to_string(),
            access_log: false,
            live: crate::foldin::LiveConfig::default(),
            exposure_log: crate::exposure::ExposureLogConfig::default(),
        }
    }
}

impl ServeConfig {
    /// The A/B decision rule in force: `experiment_rule` with `alpha = 1 - confidence`.
    pub fn decision_rule(&self) -> recs::eval::experiment::DecisionRule {
        recs::eval::experiment::DecisionRule {
            alpha: 1.0 - self.confidence,
            ..self.experiment_rule
        }
    }

    /// Parses a JSON configuration and checks it.
    ///
    /// # Errors
    /// [`ServerError::Config`] for invalid JSON, unknown fields or values out of range.
    pub fn from_json(text: &str) -> Result<Self, ServerError> {
        let c: ServeConfig =
            serde_json::from_str(text).map_err(|e| ServerError::Config(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    /// Reads [`from_json`](Self::from_json) from a file.
    ///
    /// # Errors
    /// [`ServerError::Io`] when unreadable, [`ServerError::Config`] when longer than
    /// [`recs::util::SMALL_FILE_MAX_BYTES`], else as `from_json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ServerError> {
        let path = path.as_ref();
        let text = match recs::util::read_small_text(path, recs::util::SMALL_FILE_MAX_BYTES) {
            Ok(text) => text,
            Err(recs::Error::Io { source, .. }) => {
                return Err(ServerError::Io {
                    context: format!("reading {}", path.display()),
                    source,
                })
            }
            Err(e) => return Err(ServerError::Config(e.to_string())),
        };
        Self::from_json(&text)
    }

    /// Checks every documented range.
    ///
    /// # Errors
    /// [`ServerError::Config`] naming the first field out of range.
    pub fn check(&self) -> Result<(), ServerError> {
        let bad = |m: String| Err(ServerError::Config(m));
        self.exposure_log.check()?;
        if let Err(e) = self.decision_rule().check() {
            return bad(format!("experiment_rule: {e}"));
        }
        if !(1..=10_000).contains(&self.max_k) {
            return bad(format!("max_k must be in 1..=10000, got {}", self.max_k));
        }
        if !(1..=self.max_k).contains(&self.default_k) {
            return bad(format!(
                "default_k must be in 1..={}, got {}",
                self.max_k, self.default_k
            ));
        }
        for (name, v) in [
            ("max_body_bytes", self.max_body_bytes as u64),
            ("request_timeout_ms", self.request_timeout_ms),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("max_concurrent_scoring", self.max_concurrent_scoring as u64),
            ("max_connections", self.max_connections as u64),
            ("max_connections_per_ip", self.max_connections_per_ip as u64),
            ("exposure_capacity", self.exposure_capacity as u64),
            ("kpi_capacity", self.kpi_capacity as u64),
        ] {
            if v == 0 {
                return bad(format!("{name} must be > 0, got 0"));
            }
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return bad(format!(
                "confidence must be in (0, 1), got {}",
                self.confidence
            ));
        }
        if !(self.kpi_window_secs.is_finite() && self.kpi_window_secs > 0.0) {
            return bad(format!(
                "kpi_window_secs must be > 0, got {}",
                self.kpi_window_secs
            ));
        }
        if let Some(s) = self.follow_latest_secs {
            if !(s.is_finite() && s > 0.0) {
                return bad(format!("follow_latest_secs must be > 0, got {s}"));
            }
        }
        self.live.check()?;
        if self.admin_token.as_deref().is_some_and(str::is_empty) {
            return bad("admin_token must not be empty (leave it unset to disable admin)".into());
        }
        Ok(())
    }

    /// Fills [`admin_token`](Self::admin_token) from the environment variable
    /// [`ADMIN_TOKEN_ENV`] (`RECS_ADMIN_TOKEN`) when the configuration gives none; see
    /// [`with_admin_token_fallback`](Self::with_admin_token_fallback).
    pub fn admin_token_from_env(self) -> Self {
        let env = std::env::var(ADMIN_TOKEN_ENV).ok();
        self.with_admin_token_fallback(env)
    }

    /// Uses `token` as the admin token when the configuration gives none. A configured token
    /// wins; an empty or all-blank `token` counts as none (admin stays disabled). The token is
    /// trimmed, as the server trims the one it receives.
    ///
    /// ```
    /// use recs_server::ServeConfig;
    /// let c = ServeConfig::default().with_admin_token_fallback(Some(" s3cret\n".into()));
    /// assert_eq!(c.admin_token.as_deref(), Some("s3cret"));
    /// let c = ServeConfig { admin_token: Some("file".into()), ..ServeConfig::default() };
    /// assert_eq!(c.with_admin_token_fallback(Some("env".into())).admin_token.as_deref(), Some("file"));
    /// assert!(ServeConfig::default().with_admin_token_fallback(Some("".into())).admin_token.is_none());
    /// ```
    pub fn with_admin_token_fallback(mut self, token: Option<String>) -> Self {
        if self.admin_token.is_none() {
            self.admin_token = token
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty());
        }
        self
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range_and_unknown_fields() {
        assert!(ServeConfig::default().check().is_ok());
        for bad in [
            r#"{"max_k": 0}"#,
            r#"{"default_k": 101}"#,
            r#"{"confidence": 1.0}"#,
            r#"{"follow_latest_secs": -1}"#,
            r#"{"admin_token": ""}"#,
            r#"{"request_timeout_ms": 0}"#,
            r#"{"nope": 1}"#,
            r#"{"addr": "not an address"}"#,
        ] {
            assert!(ServeConfig::from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips_through_json() {
        let c = ServeConfig {
            admin_token: Some("t".into()),
            follow_latest_secs: Some(2.5),
            ..ServeConfig::default()
        };
        let back = ServeConfig::from_json(&serde_json::to_string(&c).expect("test value"))
            .expect("test value");
        assert_eq!(back, c);
    }
}
