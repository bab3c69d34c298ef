//! Routing and handlers. `handle` is the one entry point: it routes by `(method, path)`, applies
//! the request timeout, turns every [`ApiError`] into its JSON response and records metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{json_response, ApiError, Body};
use crate::metrics::{EndpointLabels, HttpLabels, ModelLabels, RecLabels};
use crate::rollout::Rollout;
use crate::state::{AppState, Snapshot};

/// Most watch events accepted in one `POST /events`.
pub const MAX_EVENTS_PER_REQUEST: usize = 10_000;

/// The routes: (path, or prefix when it ends with `/`; metrics endpoint name; allowed methods).
pub(crate) const ROUTES: &[(&str, &str, &str)] = &[
    ("/recommend/", "recommend", "GET"),
    ("/healthz", "healthz", "GET"),
    ("/readyz", "readyz", "GET"),
    ("/metrics", "metrics", "GET"),
    ("/openapi.json", "openapi", "GET"),
    ("/switch", "switch", "GET, POST"),
    ("/admin/switch", "switch", "POST"),
    ("/admin/rollout", "rollout", "GET, POST"),
    ("/admin/experiment", "experiment", "GET"),
    ("/admin/experiment/promote", "experiment_promote", "POST"),
    ("/admin/versions", "versions", "GET"),
    ("/events", "events", "POST"),
];

fn classify(path: &str) -> Option<(&'static str, &'static str)> {
    ROUTES.iter().find_map(|&(p, name, allow)| {
        let hit = if p.ends_with('/') {
            path.starts_with(p)
        } else {
            path == p
        };
        hit.then_some((name, allow))
    })
}

/// Decrements the in-flight gauge even when the request future is dropped (client gone).
struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Handles one request. Never fails: errors become JSON responses here.
pub(crate) async fn handle<B>(st: AppState, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let start = Instant::now();
    let metrics = st.metrics();
    metrics.in_flight.inc();
    let _guard = InFlight(&metrics.in_flight);
    let endpoint = classify(req.uri().path()).map_or("unknown", |(e, _)| e);
    let request_id = incoming_request_id(req.headers()).unwrap_or_else(|| st.next_request_id());
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let timeout_ms = st.config().request_timeout_ms;
    let ctx = Ctx {
        start,
        request_id: request_id.clone(),
        reading_body: AtomicBool::new(false),
    };
    let routed = tokio::time::timeout(st.config().request_timeout(), route(&st, req, &ctx)).await;
    let mut resp = match routed {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        // Still waiting for the client's body: the client is slow, not the server.
        Err(_) if ctx.reading_body.load(Ordering::Relaxed) => {
            ApiError::BodyTimeout(timeout_ms).into_response()
        }
        Err(_) => ApiError::Timeout(timeout_ms).into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let status = resp.status().as_u16();
    let secs = start.elapsed().as_secs_f64();
    metrics
        .http_requests
        .get_or_create(&HttpLabels { endpoint, status })
        .inc();
    metrics
        .http_duration
        .get_or_create(&EndpointLabels { endpoint })
        .observe(secs);
    if st.config().access_log {
        crate::log(&format!(
            "{method} {path} {status} {:.3}ms id={request_id}",
            secs * 1e3
        ));
    }
    resp
}

/// Scores one request on the blocking pool, within the scoring-slot limit; the answer and the
/// scoring time in seconds (from when a slot was free).
async fn score(
    st: &AppState,
    snap: &Arc<Snapshot>,
    user_id: i64,
    k: usize,
) -> Result<(crate::state::Scoring, f64), ApiError> {
    let permit = Arc::clone(st.scoring_slots())
        .acquire_owned()
        .await
        .map_err(|_| ApiError::Overloaded)?;
    let catalog = Arc::clone(st.catalog());
    let job_snap = Arc::clone(snap);
    let t0 = Instant::now();
    let scoring = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        job_snap.recommend(&catalog, user_id, k)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("scoring task failed: {e}")))??;
    Ok((scoring, t0.elapsed().as_secs_f64()))
}

/// A client-supplied `x-request-id`, kept when short and plain.
fn incoming_request_id(h: &HeaderMap) -> Option<String> {
    let v = h.get("x-request-id")?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    ok.then(|| v.to_string())
}

struct Ctx {
    start: Instant,
    request_id: String,
    /// Set while the request body is being received (a timeout then answers 408).
    reading_body: AtomicBool,
}

async fn route<B>(st: &AppState, req: Request<B>, ctx: &Ctx) -> Result<Response<Body>, ApiError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let query = query.as_deref();
    match (req.method(), path.as_str()) {
        (&Method::GET, p) if p.starts_with("/recommend/") => {
            recommend(st, &p["/recommend/".len()..], query, req.headers(), ctx).await
        }
        (&Method::GET, "/healthz") => Ok(healthz(st, authorize(st, req.headers()).is_ok())?),
        (&Method::GET, "/readyz") => readyz(st),
        (&Method::GET, "/metrics") => metrics(st),
        (&Method::GET, "/openapi.json") => Ok(openapi()),
        (&Method::GET, "/switch") => {
            authorize(st, req.headers())?;
            let q = parse_query(query.unwrap_or(""))?;
            switch(st, &q).await
        }
        (&Method::POST, "/switch" | "/admin/switch") => {
            authorize(st, req.headers())?;
            let form = read_form(st, req, ctx).await?;
            switch(st, &form).await
        }
        (&Method::GET, "/admin/rollout") => {
            authorize(st, req.headers())?;
            let d = st.current()?;
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "generation": d.generation, "rollout": d.rollout }),
            ))
        }
        (&Method::POST, "/admin/rollout") => {
            authorize(st, req.headers())?;
            let body = read_body(st, req, ctx).await?;
            set_rollout(st, &body).await
        }
        (&Method::GET, "/admin/experiment") => {
            authorize(st, req.headers())?;
            let report = st.experiment().report_with(&st.config().decision_rule());
            Ok(json_response(StatusCode::OK, &report))
        }
        (&Method::POST, "/admin/experiment/promote") => {
            authorize(st, req.headers())?;
            let body = read_body(st, req, ctx).await?;
            promote_winner(st, &body).await
        }
        (&Method::GET, "/admin/versions") => {
            authorize(st, req.headers())?;
            let (versions, latest) = st.available_versions().await?;
            let d = st.current()?;
            let served: Vec<&str> = d.rollout.iter().flat_map(Rollout::versions).collect();
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "versions": versions, "latest": latest, "served": served }),
            ))
        }
        (&Method::POST, "/events") => {
            authorize(st, req.headers())?;
            let body = read_body(st, req, ctx).await?;
            events(st, &body)
        }
        (_, p) => match classify(p) {
            Some((_, allow)) => Err(ApiError::MethodNotAllowed(allow)),
            None => Err(ApiError::NotFound(format!("no route for {p}"))),
        },
    }
}

/// One recommended movie.
#[derive(Debug, Serialize)]
struct Recommendation<'a> {
    movie_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    score: f32,
}

/// Provenance of an answer.
#[derive(Debug, Serialize)]
struct Provenance<'a> {
    request_id: &'a str,
    timestamp: String,
    model_name: &'a str,
    model_version: &'a str,
    git_sha: &'a str,
    data_snapshot_id: Option<&'a str>,
    latency_ms: f64,
}

#[derive(Debug, Serialize)]
struct RecommendResponse<'a> {
    user_id: i64,
    model: &'a str,
    items: Vec<i64>,
    recommendations: Vec<Recommendation<'a>>,
    variant: &'static str,
    cold_start: bool,
    strategy: &'static str,
    provenance: Provenance<'a>,
}

fn bad_k(st: &AppState, got: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "`k` must be an integer in 1..={}, got `{got}`",
        st.config().max_k
    ))
}

async fn recommend(
    st: &AppState,
    raw_user: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    ctx: &Ctx,
) -> Result<Response<Body>, ApiError> {
    let user_id: i64 = raw_user.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "user id must be an integer, got `{}`",
            truncate(raw_user, 64)
        ))
    })?;
    let q = parse_query(query.unwrap_or(""))?;
    let k = match get(&q, "k") {
        None => st.config().default_k,
        // Digits only: `parse` alone would take `+5`.
        Some(s) => match s
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse::<usize>())
        {
            Some(Ok(k)) if (1..=st.config().max_k).contains(&k) => k,
            _ => return Err(bad_k(st, &truncate(s, 32))),
        },
    };
    let dep = st.current()?;
    let Some(rollout) = &dep.rollout else {
        return Err(ApiError::NotReady("no model loaded yet".into()));
    };
    let (snap, variant, shadow) = match get(&q, "model") {
        Some(name) => {
            // Public callers may pick only the versions the operator opened
            // (`public_models`); the admin token may pick any loaded one. The answer for a
            // closed version is the one for a missing version, and lists only open ones. The
            // token is checked here only: the plain requests (no `model`) skip its two SHA-256.
            let admin = authorize(st, headers).is_ok();
            let open = |v: &str| admin || st.config().public_models.iter().any(|p| p == v);
            let s = dep
                .find(name)
                .filter(|s| open(name) || open(&s.meta.version))
                .ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "model `{}` is not available; available: {}",
                        truncate(name, 64),
                        dep.snapshots()
                            .iter()
                            .map(|s| s.meta.version.as_str())
                            .filter(|v| open(v))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            (Arc::clone(s), "override", None)
        }
        None => {
            let a = rollout.assign(user_id);
            let s = dep.model(a.version).ok_or_else(|| {
                ApiError::Internal(format!(
                    "version {} of the rollout is not loaded",
                    a.version
                ))
            })?;
            let shadow = a.shadow.and_then(|v| dep.model(v)).map(Arc::clone);
            (Arc::clone(s), a.variant, shadow)
        }
    };
    let generation = dep.generation;
    drop(dep);

    let scored = score(st, &snap, user_id, k).await;
    // A failure after assignment counts against the arm (the error-rate guardrail of the A/B
    // decision); requests refused before it (bad input, not ready) belong to no arm.
    let (scoring, score_secs) =
        scored.inspect_err(|_| st.experiment().record_error(generation, variant))?;

    let version = snap.meta.version.as_str();
    let m = st.metrics();
    m.recommend_duration
        .get_or_create(&ModelLabels {
            model_version: version.to_string(),
            variant,
        })
        .observe(score_secs);
    m.recommendations
        .get_or_create(&RecLabels {
            model_version: version.to_string(),
            variant,
            cold_start: scoring.cold_start,
        })
        .inc();

    let catalog = snap.catalog(st.catalog());
    let mut items = Vec::with_capacity(scoring.items.len());
    let mut recs = Vec::with_capacity(scoring.items.len());
    for s in &scoring.items {
        let id = catalog.item_id(s.item).ok_or_else(|| {
            ApiError::Internal(format!("model item {} is outside the catalog", s.item))
        })?;
        items.push(id);
        recs.push(Recommendation {
            movie_id: id,
            title: catalog.title(id),
            score: s.score,
        });
    }
    let latency_ms = ctx.start.elapsed().as_secs_f64() * 1e3;
    if let Some(log) = st.exposure() {
        log.log(exposure_event(
            st, &snap, ctx, user_id, k, variant, &items, latency_ms,
        ));
    }
    st.experiment().record_exposure(
        generation,
        user_id,
        variant,
        &items,
        latency_ms,
        scoring.cold_start,
    );
    m.online.served(
        ModelLabels {
            model_version: version.to_string(),
            variant,
        },
        user_id,
        &items,
        crate::unix_now(),
    );
    if let Some(sh) = shadow {
        if !scoring.cold_start {
            spawn_shadow(st, sh, user_id, k, &items);
        }
    }
    let body = RecommendResponse {
        user_id,
        model: &snap.meta.name,
        items,
        recommendations: recs,
        variant,
        cold_start: scoring.cold_start,
        strategy: if scoring.cold_start {
            "popularity"
        } else {
            "model"
        },
        provenance: Provenance {
            request_id: &ctx.request_id,
            timestamp: crate::rfc3339(crate::unix_now()),
            model_name: &snap.meta.name,
            model_version: version,
            git_sha: snap.meta.git_sha.as_deref().unwrap_or(&st.config().git_sha),
            data_snapshot_id: snap.meta.data_snapshot_id.as_deref(),
            latency_ms,
        },
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// The `reco_response` event of one answer (movies best first: the rank is the position).
#[allow(clippy::too_many_arguments)]
fn exposure_event(
    st: &AppState,
    snap: &Snapshot,
    ctx: &Ctx,
    user_id: i64,
    k: usize,
    variant: &str,
    items: &[i64],
    latency_ms: f64,
) -> recs::stream::Event {
    let now_ms = (crate::unix_now() * 1e3) as i64;
    recs::stream::Event::RecoResponse(recs::stream::RecoResponse {
        ts: recs::stream::Ts(now_ms),
        request_id: ctx.request_id.clone(),
        user_id,
        status: 200,
        latency_ms,
        k: u32::try_from(k).unwrap_or(u32::MAX),
        movie_ids: items.iter().map(ToString::to_string).collect(),
        model_name: Some(snap.meta.name.clone()),
        model_version: Some(snap.meta.version.clone()),
        variant: Some(variant.to_string()),
        git_sha: Some(
            snap.meta
                .git_sha
                .clone()
                .unwrap_or_else(|| st.config().git_sha.clone()),
        ),
        data_snapshot_id: snap.meta.data_snapshot_id.clone(),
        // port 0 means "any": the configured address would not say which server answered
        server: (st.config().addr.port() != 0).then(|| st.config().addr.to_string()),
    })
}

/// Scores the shadow version on the side, when a shadow slot is free (else skips it), and
/// records its overlap with the primary's answer (`primary`: raw movie ids, best first).
fn spawn_shadow(st: &AppState, shadow: Arc<Snapshot>, user_id: i64, k: usize, primary: &[i64]) {
    let Ok(permit) = Arc::clone(st.shadow_slots()).try_acquire_owned() else {
        return;
    };
    let st = st.clone();
    let primary = primary.to_vec();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let t0 = Instant::now();
        let result = crate::state::shadow_overlap(&shadow, st.catalog(), user_id, k, &primary);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(overlap) => {
                st.metrics().shadow_overlap.observe(overlap);
                st.experiment().record_shadow(ms, Some(overlap));
            }
            Err(_) => {
                st.metrics().shadow_errors.inc();
                st.experiment().record_shadow(ms, None);
            }
        }
    });
}

#[derive(Debug, Serialize)]
struct VersionInfo<'a> {
    version: &'a str,
    model_name: &'a str,
    kind: &'static str,
    variants: Vec<&'static str>,
    n_items: usize,
    loaded_at: &'a str,
    git_sha: Option<&'a str>,
    data_snapshot_id: Option<&'a str>,
}

/// `/healthz`: liveness and what is loaded. The rollout (variants, canary and shadow versions)
/// is admin information (`GET /admin/rollout`): shown only with the admin bearer token.
fn healthz(st: &AppState, admin: bool) -> Result<Response<Body>, ApiError> {
    let d = st.current()?;
    let mut versions = Vec::new();
    let rollout = d.rollout.as_ref().filter(|_| admin);
    if let Some(r) = rollout {
        let variants = r.variants();
        for s in d.snapshots() {
            let mut vs: Vec<&'static str> = variants
                .iter()
                .filter(|(_, v)| *v == s.meta.version)
                .map(|(name, _)| *name)
                .collect();
            if vs.is_empty() {
                vs.push("shadow");
            }
            versions.push(VersionInfo {
                version: &s.meta.version,
                model_name: &s.meta.name,
                kind: s.model.kind(),
                variants: vs,
                n_items: s.model.n_items(),
                loaded_at: &s.loaded_at,
                git_sha: s.meta.git_sha.as_deref(),
                data_snapshot_id: s.meta.data_snapshot_id.as_deref(),
            });
        }
    }
    let c = st.catalog();
    let body = serde_json::json!({
        "status": if d.rollout.is_some() { "ok" } else { "loading" },
        "ready": d.rollout.is_some(),
        "generation": d.generation,
        "rollout": rollout,
        "versions": versions,
        "uptime_s": st.uptime().as_secs_f64(),
        "git_sha": st.config().git_sha,
        "catalog": { "items": c.n_items(), "titles": c.n_titles() },
    });
    Ok(json_response(StatusCode::OK, &body))
}

fn readyz(st: &AppState) -> Result<Response<Body>, ApiError> {
    let d = st.current()?;
    if d.rollout.is_none() {
        return Err(ApiError::NotReady("no model loaded yet".into()));
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "ready": true, "generation": d.generation }),
    ))
}

fn metrics(st: &AppState) -> Result<Response<Body>, ApiError> {
    st.metrics().ops.refresh(st.uptime().as_secs_f64());
    let text = st
        .metrics()
        .encode()
        .map_err(|e| ApiError::Internal(format!("metrics encoding failed: {e}")))?;
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(resp)
}

fn openapi() -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(
        crate::OPENAPI_JSON.as_bytes(),
    )));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// Checks `Authorization: Bearer <token>` against the configured token. Both sides are hashed
/// first and the digests compared without early exit, so timing reveals neither the token's
/// content nor its length.
fn authorize(st: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = st
        .config()
        .admin_token
        .as_deref()
        .ok_or(ApiError::Unauthorized)?;
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or(ApiError::Unauthorized)?;
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (ha, hb) = (Sha256::digest(a), Sha256::digest(b));
    let diff = ha
        .iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Reads the whole body, refusing more than `max_body_bytes`.
async fn read_body<B>(st: &AppState, req: Request<B>, ctx: &Ctx) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = st.config().max_body_bytes;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    ctx.reading_body.store(true, Ordering::Relaxed);
    let collected = Limited::new(req.into_body(), limit).collect().await;
    ctx.reading_body.store(false, Ordering::Relaxed);
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::PayloadTooLarge(limit))
        }
        Err(e) => Err(ApiError::BadRequest(format!(
            "cannot read request body: {e}"
        ))),
    }
}

/// Reads a form body: `application/x-www-form-urlencoded` or a flat JSON object.
async fn read_form<B>(
    st: &AppState,
    req: Request<B>,
    ctx: &Ctx,
) -> Result<Vec<(String, String)>, ApiError>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let ctype = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let body = read_body(st, req, ctx).await?;
    match ctype.as_deref() {
        Some("application/x-www-form-urlencoded") => {
            let text = std::str::from_utf8(&body)
                .map_err(|_| ApiError::BadRequest("form body is not UTF-8".into()))?;
            parse_query(text)
        }
        Some("application/json") | None => {
            let v: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&body)
                .map_err(|e| ApiError::BadRequest(format!("body is not a JSON object: {e}")))?;
            Ok(v.into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect())
        }
        Some(_) => Err(ApiError::UnsupportedMediaType(
            "application/json or application/x-www-form-urlencoded",
        )),
    }
}

async fn switch(st: &AppState, form: &[(String, String)]) -> Result<Response<Body>, ApiError> {
    let version = match (get(form, "model"), get(form, "version")) {
        (Some(v), None) | (None, Some(v)) => v,
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give `model` or its alias `version`, not both".into(),
            ))
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "missing `model` (the version to serve)".into(),
            ))
        }
    };
    let version = version.to_string();
    let if_current = get(form, "if_current").map(str::to_string);
    let out = st.switch(&version, if_current.as_deref()).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "status": "ok",
            "model_version": version,
            "previous": out.previous,
            "rollout": out.rollout,
            "generation": out.generation,
            "loaded": out.loaded,
            "load_ms": out.load_ms,
        }),
    ))
}

/// `POST /admin/experiment/promote`: ends the current canary or A/B experiment by serving its
/// winner alone (`fixed` rollout): the treatment on `ship_b`, the control on `keep_a`. Refused
/// (409) while the decision is `keep_running`, unless the body is `{"force": "A"|"B"}` (an
/// operator's override, logged in the answer). Guarded by the experiment id: a rollout change
/// between the analysis and the promotion makes it fail with 409 instead of promoting a stale
/// winner.
async fn promote_winner(st: &AppState, body: &[u8]) -> Result<Response<Body>, ApiError> {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct PromoteBody {
        #[serde(default)]
        force: Option<String>,
    }
    let req: PromoteBody = if body.iter().all(u8::is_ascii_whitespace) {
        PromoteBody::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("invalid promote body: {e}")))?
    };
    let report = st.experiment().report_with(&st.config().decision_rule());
    let Some(cmp) = &report.comparison else {
        return Err(ApiError::Conflict(
            "no canary or A/B experiment is running: nothing to promote".into(),
        ));
    };
    let version_of = |variant: &str| {
        report
            .arms
            .iter()
            .find(|a| a.variant == variant)
            .map(|a| a.version.clone())
            .ok_or_else(|| ApiError::Internal(format!("arm {variant} missing from the report")))
    };
    let decision = cmp.decision.as_ref().map(|d| d.decision);
    let reason = cmp
        .decision
        .as_ref()
        .map_or_else(String::new, |d| d.reason.clone());
    let winner = match (req.force.as_deref(), decision) {
        (Some("A"), _) => cmp.control,
        (Some("B"), _) => cmp.treatment,
        (Some(other), _) => {
            return Err(ApiError::BadRequest(format!(
                "`force` must be \"A\" (control) or \"B\" (treatment), got `{}`",
                truncate(other, 16)
            )))
        }
        (None, Some(recs::eval::experiment::Decision::ShipB)) => cmp.treatment,
        (None, Some(recs::eval::experiment::Decision::KeepA)) => cmp.control,
        (None, _) => {
            return Err(ApiError::Conflict(format!(
                "the experiment has no decision yet (keep running): {reason}"
            )))
        }
    };
    let version = version_of(winner)?;
    let out = st
        .set_rollout(
            Rollout::Fixed {
                version: version.clone(),
            },
            Some(report.experiment_id),
        )
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok", "promoted": version, "variant": winner,
            "decision": decision, "reason": reason, "forced": req.force.is_some(),
            "previous": out.previous, "rollout": out.rollout, "generation": out.generation }),
    ))
}

async fn set_rollout(st: &AppState, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let mut v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("body is not JSON: {e}")))?;
    let if_generation = match v.as_object_mut().and_then(|o| o.remove("if_generation")) {
        None | Some(serde_json::Value::Null) => None,
        Some(g) => Some(g.as_u64().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`if_generation` must be an unsigned integer, got {g}"
            ))
        })?),
    };
    let rollout: Rollout = serde_json::from_value(v)
        .map_err(|e| ApiError::BadRequest(format!("invalid rollout: {e}")))?;
    let out = st.set_rollout(rollout, if_generation).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok", "previous": out.previous, "rollout": out.rollout,
            "generation": out.generation, "loaded": out.loaded, "load_ms": out.load_ms }),
    ))
}

/// A watch event of `POST /events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WatchEvent {
    user_id: i64,
    #[serde(alias = "item_id")]
    movie_id: i64,
    /// Unix seconds; now when absent.
    #[serde(default)]
    timestamp: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Events {
    One(WatchEvent),
    Many(Vec<WatchEvent>),
}

fn events(st: &AppState, body: &[u8]) -> Result<Response<Body>, ApiError> {
    let events = match serde_json::from_slice::<Events>(body) {
        Ok(Events::One(e)) => vec![e],
        Ok(Events::Many(v)) => v,
        Err(_) => {
            return Err(ApiError::BadRequest(
                "expected a watch event {\"user_id\", \"movie_id\", \"timestamp\"?} or an array of them"
                    .into(),
            ))
        }
    };
    if events.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_EVENTS_PER_REQUEST} events per request, got {}",
            events.len()
        )));
    }
    if let Some(e) = events
        .iter()
        .find(|e| e.timestamp.is_some_and(|t| !t.is_finite()))
    {
        return Err(ApiError::BadRequest(format!(
            "timestamp must be finite unix seconds (user {})",
            e.user_id
        )));
    }
    let attributed = events
        .iter()
        .filter(|e| st.record_watch(e.user_id, e.movie_id, e.timestamp))
        .count();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "accepted": events.len(), "attributed": attributed }),
    ))
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Parses `a=1&b=x%20y` (also `+` for space). Later keys win in [`get`].
pub(crate) fn parse_query(q: &str) -> Result<Vec<(String, String)>, ApiError> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // Two hex digits exactly: `from_str_radix` alone would take `+5`.
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ApiError::BadRequest("bad percent-encoding in query".into()))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::BadRequest("query is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn query_parsing() {
        let q = parse_query("k=5&model=v1%2E2&x&name=a+b").expect("valid query");
        assert_eq!(get(&q, "k"), Some("5"));
        assert_eq!(get(&q, "model"), Some("v1.2"));
        assert_eq!(get(&q, "x"), Some(""));
        assert_eq!(get(&q, "name"), Some("a b"));
        assert!(parse_query("k=%zz").is_err());
        assert!(parse_query("k=%ff").is_err()); // not UTF-8
        assert!(parse_query("k=%4").is_err());
    }

    #[test]
    fn routes_classify() {
        assert_eq!(classify("/recommend/12"), Some(("recommend", "GET")));
        assert_eq!(classify("/switch"), Some(("switch", "GET, POST")));
        assert_eq!(classify("/nope"), None);
        assert_eq!(classify("/healthz/x"), None);
    }

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"secret"));
    }

    proptest! {
        #[test]
        fn percent_round_trip(s in "\\PC{0,20}") {
            let enc: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
            prop_assert_eq!(percent_decode(&enc).expect("valid encoding"), s);
        }
    }
}
