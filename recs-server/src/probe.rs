//! `recs probe`: a bounded series of HTTP GETs to a running server, reporting latency
//! percentiles and errors. One fresh connection per probe, so the latency includes connecting.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;

use crate::error::ServerError;

/// Most probes in one run.
pub const MAX_PROBES: usize = 1_000_000;
/// Most bytes of a response body read by a probe.
const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// What to probe and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// `http://host:port/path?query` (plain HTTP only).
    pub url: String,
    /// Number of probes, in `1..=MAX_PROBES`.
    pub count: usize,
    /// Time between probe starts.
    pub interval: Duration,
    /// Time limit of one probe (connect + response). Default 5 s.
    pub timeout: Duration,
    /// Optional bearer token (to probe admin endpoints).
    pub bearer: Option<String>,
    /// Send `x-request-id: PREFIX-<seq>` with each probe (so that the server's exposure log
    /// and [`ProbeSample::events`] share the id). Default none (the server picks one).
    pub request_id_prefix: Option<String>,
}

impl ProbeConfig {
    /// `count` probes of `url`, `interval_secs` apart (negative or non-finite values count as
    /// 0), 5 s timeout, no token.
    pub fn new(url: impl Into<String>, count: usize, interval_secs: f64) -> Self {
        let interval = if interval_secs.is_finite() && interval_secs > 0.0 {
            Duration::from_secs_f64(interval_secs.min(86_400.0))
        } else {
            Duration::ZERO
        };
        ProbeConfig {
            url: url.into(),
            count,
            interval,
            timeout: Duration::from_secs(5),
            bearer: None,
            request_id_prefix: None,
        }
    }
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeSample {
    /// 0-based probe number.
    pub seq: usize,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Time to the full response (or to the failure), in ms.
    pub latency_ms: f64,
    /// Transport error or timeout, when no response arrived.
    pub error: Option<String>,
    /// The server's `x-request-id`, when present.
    pub request_id: Option<String>,
    /// When the probe was sent, Unix milliseconds.
    #[serde(skip)]
    pub sent_at_ms: i64,
    /// The response body (at most 4 MiB), when a response arrived.
    #[serde(skip)]
    pub body: Option<Bytes>,
}

impl ProbeSample {
    /// True for a 2xx response.
    pub fn is_ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The `reco_request`/`reco_response` pair of a probe of `/recommend/<user>` in the
    /// event schema (docs/events.md), `None` for another path. The request is stamped when it
    /// was sent, the response when it arrived; the movies, model version and variant come from
    /// the answer (none for a failed one; its status is the HTTP status, or 599 when no
    /// answer arrived: a transport error or timeout). `k` is the URL's `k` (10 when absent: the server default).
    pub fn events(&self, url: &str) -> Option<[recs::stream::Event; 2]> {
        use recs::stream::{Event, RecoRequest, RecoResponse, Ts};
        let uri: Uri = url.parse().ok()?;
        let user_id: i64 = uri.path().strip_prefix("/recommend/")?.parse().ok()?;
        let k = uri
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("k="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(10u32);
        let request_id = self
            .request_id
            .clone()
            .unwrap_or_else(|| format!("probe-{}-{}", self.sent_at_ms, self.seq));
        let answer: Option<serde_json::Value> = self
            .body
            .as_ref()
            .filter(|_| self.is_ok())
            .and_then(|b| serde_json::from_slice(b).ok());
        let field = |a: &serde_json::Value, k: &str| {
            a["provenance"][k]
                .as_str()
                .or_else(|| a[k].as_str())
                .map(str::to_string)
        };
        let movie_ids = answer
            .as_ref()
            .and_then(|a| a["items"].as_array())
            .map(|items| items.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        let request = Event::RecoRequest(RecoRequest {
            ts: Ts(self.sent_at_ms),
            request_id: request_id.clone(),
            user_id,
            k,
        });
        let response = Event::RecoResponse(RecoResponse {
            ts: Ts(self.sent_at_ms + self.latency_ms.round() as i64),
            request_id,
            user_id,
            status: self.status.unwrap_or(599),
            latency_ms: self.latency_ms,
            k,
            movie_ids,
            model_name: answer.as_ref().and_then(|a| field(a, "model_name")),
            model_version: answer.as_ref().and_then(|a| field(a, "model_version")),
            variant: answer.as_ref().and_then(|a| field(a, "variant")),
            git_sha: answer.as_ref().and_then(|a| field(a, "git_sha")),
            data_snapshot_id: answer.as_ref().and_then(|a| field(a, "data_snapshot_id")),
            server: uri.authority().map(|a| a.to_string()),
        });
        Some([request, response])
    }
}

/// Latency percentiles in ms (nearest rank).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Fastest.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// Percentiles of `ms` (all zero when empty).
    pub fn of(ms: &[f64]) -> Self {
        if ms.is_empty() {
            return Percentiles::default();
        }
        let mut v = ms.to_vec();
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Percentiles {
            min: v[0],
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: v[v.len() - 1],
            mean: v.iter().sum::<f64>() / v.len() as f64,
        }
    }
}

/// Summary of a probe run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// The probed URL.
    pub url: String,
    /// Probes sent.
    pub sent: usize,
    /// 2xx responses.
    pub ok: usize,
    /// Non-2xx responses.
    pub http_errors: usize,
    /// Probes without a response (connection refused, timeout, ...).
    pub transport_errors: usize,
    /// Responses by status code.
    pub by_status: BTreeMap<u16, usize>,
    /// Latency of the probes that got a response.
    pub latency_ms: Percentiles,
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency_ms;
        write!(
            f,
            "{}: {} sent, {} ok, {} http errors, {} transport errors; latency ms min {:.3} p50 {:.3} p90 {:.3} p99 {:.3} max {:.3}",
            self.url, self.sent, self.ok, self.http_errors, self.transport_errors,
            l.min, l.p50, l.p90, l.p99, l.max
        )
    }
}

struct Target {
    uri: Uri,
    host: String,
    port: u16,
    authority: String,
}

fn parse_url(url: &str) -> Result<Target, ServerError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| ServerError::Probe(format!("invalid URL `{url}`: {e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(ServerError::Probe(format!(
                "scheme `{other}` is not supported; probe the server's plain http:// address"
            )))
        }
        None => {
            return Err(ServerError::Probe(format!(
                "URL `{url}` needs a scheme, e.g. http://127.0.0.1:8080/healthz"
            )))
        }
    }
    let auth = uri
        .authority()
        .ok_or_else(|| ServerError::Probe(format!("URL `{url}` has no host")))?;
    let host = auth
        .host()
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    Ok(Target {
        port: auth.port_u16().unwrap_or(80),
        authority: auth.as_str().to_string(),
        host,
        uri,
    })
}

async fn one(
    target: &Target,
    bearer: Option<&str>,
    request_id: Option<&str>,
) -> Result<(u16, Option<String>, Bytes), String> {
    let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let driver = tokio::spawn(conn);
    let path = target
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut req = Request::builder()
        .uri(path)
        .header(hyper::header::HOST, target.authority.as_str())
        .header(hyper::header::USER_AGENT, "recs-probe")
        .header(hyper::header::CONNECTION, "close");
    if let Some(t) = bearer {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(id) = request_id {
        req = req.header("x-request-id", id);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    driver.abort();
    Ok((status, request_id, body))
}

/// Sends `config.count` GETs to `config.url`, one every `config.interval`, calling `on_sample`
/// after each, and summarizes them.
///
/// # Errors
/// [`ServerError::Probe`] for an unusable URL or count; failed probes are not errors, they are
/// counted in the report.
pub async fn probe(
    config: &ProbeConfig,
    mut on_sample: impl FnMut(&ProbeSample),
) -> Result<ProbeReport, ServerError> {
    if !(1..=MAX_PROBES).contains(&config.count) {
        return Err(ServerError::Probe(format!(
            "count must be in 1..={MAX_PROBES}, got {}",
            config.count
        )));
    }
    let target = parse_url(&config.url)?;
    let mut report = ProbeReport {
        url: config.url.clone(),
        sent: 0,
        ok: 0,
        http_errors: 0,
        transport_errors: 0,
        by_status: BTreeMap::new(),
        latency_ms: Percentiles::default(),
    };
    let mut latencies = Vec::with_capacity(config.count);
    let start = tokio::time::Instant::now();
    for seq in 0..config.count {
        if seq > 0 {
            tokio::time::sleep_until(start + config.interval * seq as u32).await;
        }
        let sent_id = config
            .request_id_prefix
            .as_ref()
            .map(|p| format!("{p}-{seq}"));
        let sent_at_ms = (crate::unix_now() * 1e3) as i64;
        let t0 = Instant::now();
        let r = tokio::time::timeout(
            config.timeout,
            one(&target, config.bearer.as_deref(), sent_id.as_deref()),
        )
        .await;
        let latency_ms = t0.elapsed().as_secs_f64() * 1e3;
        let failed = |error: String| ProbeSample {
            seq,
            status: None,
            latency_ms,
            error: Some(error),
            request_id: sent_id.clone(),
            sent_at_ms,
            body: None,
        };
        let sample = match r {
            Ok(Ok((status, request_id, body))) => ProbeSample {
                seq,
                status: Some(status),
                latency_ms,
                error: None,
                request_id: request_id.or_else(|| sent_id.clone()),
                sent_at_ms,
                body: Some(body),
            },
            Ok(Err(e)) => failed(e),
            Err(_) => failed(format!("timed out after {:?}", config.timeout)),
        };
        report.sent += 1;
        match sample.status {
            Some(s) => {
                latencies.push(latency_ms);
                *report.by_status.entry(s).or_default() += 1;
                if sample.is_ok() {
                    report.ok += 1;
                } else {
                    report.http_errors += 1;
                }
            }
            None => report.transport_errors += 1,
        }
        on_sample(&sample);
    }
    report.latency_ms = Percentiles::of(&latencies);
    Ok(report)
}

/// [`probe`] on a private single-threaded tokio runtime, for a synchronous caller (the CLI).
///
/// # Errors
/// As [`probe`], plus [`ServerError::Io`] when the runtime cannot start.
pub fn probe_blocking(
    config: &ProbeConfig,
    on_sample: impl FnMut(&ProbeSample),
) -> Result<ProbeReport, ServerError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ServerError::Io {
            context: "starting the async runtime".into(),
            source,
        })?
        .block_on(probe(config, on_sample))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&v);
        assert_eq!(
            (p.min, p.p50, p.p90, p.p99, p.max),
            (1.0, 50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(Percentiles::of(&[7.0]).p99, 7.0);
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
    }

    #[test]
    fn url_checks() {
        assert!(parse_url("https://x/").is_err());
        assert!(parse_url("127.0.0.1:8080/healthz").is_err());
        let t = parse_url("http://127.0.0.1:9/healthz?x=1").expect("valid url");
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 9));
        assert_eq!(parse_url("http://[::1]/").expect("valid url").host, "::1");
    }

    #[tokio::test]
    async fn refused_connections_are_counted_not_fatal() {
        // Bind then drop a listener to get a port with nothing behind it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let cfg = ProbeConfig::new(format!("http://127.0.0.1:{port}/healthz"), 2, 0.0);
        let mut seen = 0;
        let r = probe(&cfg, |_| seen += 1).await.expect("probe runs");
        assert_eq!((r.sent, r.transport_errors, seen), (2, 2, 2));
        let cfg2 = cfg.clone();
        let r = tokio::task::spawn_blocking(move || probe_blocking(&cfg2, |_| {}))
            .await
            .expect("join")
            .expect("probe runs");
        assert_eq!(r.transport_errors, 2);
        assert!(probe(&ProbeConfig::new("http://x/", 0, 0.0), |_| {})
            .await
            .is_err());
    }
}
