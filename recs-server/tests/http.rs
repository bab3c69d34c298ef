//! The HTTP API over real sockets on 127.0.0.1 (ephemeral ports).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use recs::data::{Dataset, Interactions, Record, Vocab};
use recs::model::{Fit, Popularity, Recommender};
use recs_server::{AppState, Catalog, MemorySource, ModelMeta, ServeConfig, Server};
use serde_json::Value;

const TOKEN: &str = "test-token-0123456789";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

// ---------------------------------------------------------------------------------------------
// Harness

struct TestServer {
    addr: SocketAddr,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), recs_server::ServerError>>>,
}

impl TestServer {
    async fn start(
        config: ServeConfig,
        source: Arc<MemorySource>,
        catalog: Catalog,
        load: bool,
    ) -> Self {
        let config = ServeConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            ..config
        };
        let state = AppState::new(config, source, catalog).expect("valid config");
        if load {
            state.load_initial().await.expect("initial model loads");
        }
        let server = Server::bind(state.clone()).await.expect("bind");
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            state,
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// A client whose connection comes from the loopback address `from` (e.g. `127.0.0.2`).
    async fn client_from(&self, from: &str) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(format!("{from}:0").parse().expect("addr"))
            .expect("bind a loopback source address");
        let stream = socket.connect(self.addr).await.expect("connect");
        Client::handshake(stream, self.addr).await
    }

    async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server run");
        }
    }
}

/// A keep-alive HTTP/1.1 client connection.
struct Client {
    sender: SendRequest<Full<Bytes>>,
    addr: SocketAddr,
}

struct Reply {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        Client::handshake(stream, addr).await
    }

    async fn handshake(stream: tokio::net::TcpStream, addr: SocketAddr) -> Client {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        Client { sender, addr }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        ctype: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        self.sender.ready().await.expect("connection ready");
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(c) = ctype {
            req = req.header("content-type", c);
        }
        let req = req.body(Full::new(Bytes::from(body))).expect("request");
        let resp = self.sender.send_request(req).await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
        }
    }

    async fn get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, None, None, Vec::new()).await
    }

    async fn admin_get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, Some(TOKEN), None, Vec::new())
            .await
    }

    async fn admin_post_json(&mut self, path: &str, body: &Value) -> Reply {
        self.send(
            Method::POST,
            path,
            Some(TOKEN),
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }
}

fn records(pairs: &[(u32, u32)]) -> Vec<Record> {
    pairs
        .iter()
        .map(|&(u, i)| Record {
            user: u,
            item: i,
            value: 1.0,
            timestamp: None,
        })
        .collect()
}

/// 4 users × 5 items. Item popularity: 1 (3 users) > 0, 2 (2) > 3 (1) > 4 (0).
fn train() -> Interactions {
    let recs = records(&[
        (0, 0),
        (0, 1),
        (1, 1),
        (1, 2),
        (2, 1),
        (2, 0),
        (3, 2),
        (3, 3),
    ]);
    Interactions::from_records(4, 5, &recs, Default::default()).expect("valid data")
}

fn popularity(data: &Interactions) -> Popularity {
    Popularity::params().fit(data).expect("fits")
}

/// A catalog with external ids (users 10..13, movies 100..104) and titles.
fn catalog() -> Catalog {
    let ds = Dataset {
        interactions: train(),
        users: Vocab::from(vec![10, 11, 12, 13]),
        items: Vocab::from(vec![100, 101, 102, 103, 104]),
        order: None,
    };
    let titles = (100..105).map(|id| (id, format!("Movie {id}"))).collect();
    Catalog::from_dataset(ds).with_titles(titles)
}

fn source_v1() -> Arc<MemorySource> {
    let src = Arc::new(MemorySource::new());
    src.insert_with_meta(
        Arc::new(popularity(&train())),
        ModelMeta {
            name: "popularity".into(),
            version: "v1.0".into(),
            git_sha: Some("abc123".into()),
            data_snapshot_id: Some("ml-test".into()),
        },
    );
    src
}

/// A server with v1.0 (latest) and v2.0 in an A/B test, and an admin-capable client.
async fn ab_test_server() -> (TestServer, Client) {
    let src = source_v1();
    src.insert("v2.0", popularity(&train()));
    src.set_latest(Some("v1.0"));
    let srv = TestServer::start(admin_config(), src, catalog(), true).await;
    let mut c = srv.client().await;
    let r = c
        .admin_post_json(
            "/admin/rollout",
            &serde_json::json!({"mode": "ab_test", "a": "v1.0", "b": "v2.0"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (srv, c)
}

fn admin_config() -> ServeConfig {
    ServeConfig {
        admin_token: Some(TOKEN.into()),
        ..ServeConfig::default()
    }
}

fn assert_json_error(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let v = r.json();
    assert_eq!(v["error"]["status"], status, "{}", r.body);
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

/// A model that sleeps before scoring (to hold requests in flight).
struct Slow(Popularity, Duration);

impl Recommender for Slow {
    fn kind(&self) -> &'static str {
        "slow"
    }
    fn n_items(&self) -> usize {
        self.0.n_items()
    }
    fn score_into(&self, user: u32, history: &[u32], out: &mut [f32]) -> recs::Result<()> {
        std::thread::sleep(self.1);
        self.0.score_into(user, history, out)
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommend_happy_path_has_the_documented_shape() {
    let srv = TestServer::start(admin_config(), source_v1(), catalog(), true).await;
    let mut c = srv.client().await;
    // User 10 (index 0) has seen movies 100 and 101; popularity then gives 102, 103, 104.
    let r = c.get("/recommend/10?k=2").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["user_id"], 10);
    assert_eq!(v["model"], "popularity");
    assert_eq!(v["items"], serde_json::json!([102, 103]));
    assert_eq!(v["recommendations"][0]["movie_id"], 102);
    assert_eq!(v["recommendations"][0]["title"], "Movie 102");
    assert_eq!(v["recommendations"][0]["score"], 2.0);
    assert_eq!(v["variant"], "fixed");
    assert_eq!(v["cold_start"], false);
    assert_eq!(v["strategy"], "model");
    let p = &v["provenance"];
    assert_eq!(p["model_name"], "popularity");
    assert_eq!(p["model_version"], "v1.0");
    assert_eq!(p["git_sha"], "abc123");
    assert_eq!(p["data_snapshot_id"], "ml-test");
    assert!(p["latency_ms"].as_f64().is_some_and(|l| l >= 0.0));
    assert!(p["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z') && t.len() == 24));
    let rid = r.headers.get("x-request-id").and_then(|h| h.to_str().ok());
    assert_eq!(rid, p["request_id"].as_str());
    // Default k is 10 but only 3 unseen movies exist.
    let v = c.get("/recommend/10").await.json();
    assert_eq!(v["items"], serde_json::json!([102, 103, 104]));
    // `model=` picks a loaded version by version or name: with the admin token, or for the
    // versions in `public_models` (none by default, so a public caller gets the 404 of a
    // missing version).
    assert_json_error(&c.get("/recommend/11?k=1&model=popularity").await, 404);
    assert_json_error(&c.get("/recommend/11?k=1&model=v1.0").await, 404);
    let v = c
        .send(
            Method::GET,
            "/recommend/11?k=1&model=popularity",
            Some(TOKEN),
            None,
            Vec::new(),
        )
        .await
        .json();
    assert_eq!(
        (v["variant"].as_str(), v["items"][0].as_i64()),
        (Some("override"), Some(100))
    );
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_get_json_400_and_unknown_routes_json_404() {
    let srv = TestServer::start(admin_config(), source_v1(), catalog(), true).await;
    let mut c = srv.client().await;
    for path in [
        "/recommend/10?k=0",
        "/recommend/10?k=101",
        "/recommend/10?k=abc",
        "/recommend/10?k=-1",
        "/recommend/10?k=%zz",
        // A sign is not a digit: neither `k=+5` nor `%+5` (a percent escape) is a number.
        "/recommend/10?k=+5",
        "/recommend/10?k=%2B5",
        "/recommend/10?k=%+5",
        "/recommend/10?k=5%+5",
        "/recommend/abc",
        "/recommend/1.5",
        "/recommend/",
        "/recommend/99999999999999999999999",
    ] {
        let r = c.get(path).await;
        assert_json_error(&r, 400);
        assert_eq!(r.json()["error"]["code"], "bad_request", "{path}");
    }
    let r = c.get("/recommend/10?model=nope").await;
    assert_json_error(&r, 404);
    for path in ["/", "/nope", "/recommend", "/healthz/extra"] {
        assert_json_error(&c.get(path).await, 404);
    }
    let r = c
        .send(Method::DELETE, "/healthz", None, None, Vec::new())
        .await;
    assert_json_error(&r, 405);
    assert_eq!(
        r.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET")
    );
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_users_get_a_flagged_popularity_answer() {
    let srv = TestServer::start(admin_config(), source_v1(), catalog(), true).await;
    let mut c = srv.client().await;
    for user in ["999", "-7"] {
        let r = c.get(&format!("/recommend/{user}?k=3")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["cold_start"], true);
        assert_eq!(v["strategy"], "popularity");
        assert_eq!(v["items"], serde_json::json!([101, 100, 102]));
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_refuse_without_the_token() {
    // No token configured: admin is disabled whatever the client sends.
    let srv = TestServer::start(ServeConfig::default(), source_v1(), catalog(), true).await;
    let mut c = srv.client().await;
    let r = c.admin_get("/switch?model=v1.0").await;
    assert_json_error(&r, 401);
    assert_eq!(
        r.headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    srv.shutdown().await;

    let srv = TestServer::start(admin_config(), source_v1(), catalog(), true).await;
    let mut c = srv.client().await;
    let admin = [
        (Method::GET, "/switch?model=v1.0"),
        (Method::POST, "/switch"),
        (Method::POST, "/admin/switch"),
        (Method::GET, "/admin/rollout"),
        (Method::POST, "/admin/rollout"),
        (Method::GET, "/admin/experiment"),
        (Method::POST, "/admin/experiment/promote"),
        (Method::GET, "/admin/versions"),
        (Method::POST, "/events"),
    ];
    for (m, path) in &admin {
        for token in [None, Some("wrong"), Some("test-token-012345678"), Some("")] {
            let r = c
                .send(
                    m.clone(),
                    path,
                    token,
                    Some("application/json"),
                    b"{}".to_vec(),
                )
                .await;
            assert_json_error(&r, 401);
        }
    }
    let r = c.admin_get("/admin/rollout").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["rollout"]["version"], "v1.0");
    let r = c.admin_get("/admin/versions").await;
    assert_eq!(r.json()["versions"], serde_json::json!(["v1.0"]));
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_until_a_model_is_loaded() {
    let srv = TestServer::start(admin_config(), source_v1(), catalog(), false).await;
    let mut c = srv.client().await;
    assert_json_error(&c.get("/readyz").await, 503);
    assert_json_error(&c.get("/recommend/10").await, 503);
    let h = c.get("/healthz").await;
    assert_eq!(h.status, 200);
    assert_eq!(
        (h.json()["ready"].as_bool(), h.json()["status"].as_str()),
        (Some(false), Some("loading"))
    );
    let r = c.admin_get("/switch?model=v1.0").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(c.get("/readyz").await.status, 200);
    let h = c.get("/healthz").await.json();
    assert_eq!(h["ready"], true);
    // The rollout is admin information (GET /admin/rollout): not on the public /healthz.
    assert_eq!(h["rollout"], Value::Null, "{h}");
    assert_eq!(h["versions"], serde_json::json!([]), "{h}");
    let h = c.admin_get("/healthz").await.json();
    assert_eq!(h["versions"][0]["version"], "v1.0");
    assert_eq!(h["versions"][0]["variants"], serde_json::json!(["fixed"]));
    assert_eq!(h["rollout"]["mode"], "fixed");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_under_concurrent_load_never_fail_or_mix_a_request() {
    // Two versions with different answers for every user (identity catalog, no history).
    let a = Interactions::from_records(
        3,
        6,
        &records(&[(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (0, 2)]),
        Default::default(),
    )
    .expect("data");
    let b = Interactions::from_records(
        3,
        6,
        &records(&[(0, 5), (1, 5), (2, 5), (0, 4), (1, 4), (0, 3)]),
        Default::default(),
    )
    .expect("data");
    let src = Arc::new(MemorySource::new());
    src.insert("v1", popularity(&a));
    src.insert("v2", popularity(&b));
    src.set_latest(Some("v1"));
    let expected: HashMap<&str, Vec<i64>> = [("v1", vec![0, 1, 2]), ("v2", vec![5, 4, 3])].into();
    let srv = TestServer::start(admin_config(), src, Catalog::identity(), true).await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut admin = srv.client().await;
    let flag = Arc::clone(&stop);
    let switcher = tokio::spawn(async move {
        let mut n = 0u32;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) && n < 2000 {
            let v = if n.is_multiple_of(2) { "v2" } else { "v1" };
            let r = admin.admin_get(&format!("/switch?model={v}")).await;
            assert_eq!(r.status, 200, "{}", r.body);
            n += 1;
            tokio::task::yield_now().await;
        }
        n
    });
    let mut clients = Vec::new();
    for t in 0..4 {
        let mut c = srv.client().await;
        let expected = expected.clone();
        clients.push(tokio::spawn(async move {
            let mut seen = HashSet::new();
            for i in 0..200 {
                let r = c
                    .get(&format!("/recommend/{}?k=3", (t * 1000 + i) % 3))
                    .await;
                assert_eq!(r.status, 200, "{}", r.body);
                let v = r.json();
                let version = v["provenance"]["model_version"]
                    .as_str()
                    .expect("version")
                    .to_string();
                let items: Vec<i64> = v["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .filter_map(Value::as_i64)
                    .collect();
                assert_eq!(
                    items,
                    expected[version.as_str()],
                    "answer mixes versions: {v}"
                );
                seen.insert(version);
            }
            seen
        }));
    }
    let mut versions = HashSet::new();
    for c in clients {
        versions.extend(c.await.expect("client task"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let switches = switcher.await.expect("switcher");
    assert!(switches >= 2, "only {switches} switches happened");
    assert_eq!(
        versions.len(),
        2,
        "both versions should have served: {versions:?}"
    );
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_split_follows_the_percentage_with_a_stable_hash() {
    let src = source_v1();
    src.insert("v2.0", popularity(&train()));
    src.set_latest(Some("v1.0"));
    let srv = TestServer::start(admin_config(), src, catalog(), true).await;
    let mut c = srv.client().await;
    let r = c
        .admin_post_json(
            "/admin/rollout",
            &serde_json::json!({"mode": "canary", "stable": "v1.0", "canary": "v2.0", "percent": 20, "if_generation": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["generation"], 2);
    let n = 1000;
    let mut first = Vec::new();
    for user in 0..n {
        let v = c.get(&format!("/recommend/{user}?k=1")).await.json();
        let variant = v["variant"].as_str().expect("variant").to_string();
        let version = v["provenance"]["model_version"].as_str().expect("version");
        assert_eq!(version, if variant == "canary" { "v2.0" } else { "v1.0" });
        first.push(variant);
    }
    let share = first.iter().filter(|v| *v == "canary").count() as f64 / n as f64;
    // Binomial sd at p = 0.2, n = 1000 is 1.3 points: allow ~4 sd.
    assert!((share - 0.2).abs() < 0.05, "canary share {share}");
    for user in (0..n).step_by(37) {
        let v = c.get(&format!("/recommend/{user}?k=1")).await.json();
        assert_eq!(
            v["variant"].as_str(),
            Some(first[user].as_str()),
            "user {user} moved"
        );
    }
    // A stale generation is refused with 409, a bad percentage with 400.
    let stale = serde_json::json!({"mode": "fixed", "version": "v1.0", "if_generation": 1});
    assert_json_error(&c.admin_post_json("/admin/rollout", &stale).await, 409);
    let bad =
        serde_json::json!({"mode": "canary", "stable": "v1.0", "canary": "v2.0", "percent": 120});
    assert_json_error(&c.admin_post_json("/admin/rollout", &bad).await, 400);
    let unknown =
        serde_json::json!({"mode": "canary", "stable": "v1.0", "canary": "v9", "percent": 1});
    assert_json_error(&c.admin_post_json("/admin/rollout", &unknown).await, 404);
    srv.shutdown().await;
}

/// Parses the OpenMetrics text exposition strictly enough to catch format breaks; returns
/// sample name → list of (labels, value).
fn parse_exposition(text: &str) -> HashMap<String, Vec<(String, f64)>> {
    let mut out: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    let mut typed = HashSet::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "exposition must end with # EOF"
    );
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().expect("comment kind");
            let name = parts.next().expect("metric name");
            assert!(
                ["HELP", "TYPE", "UNIT"].contains(&kind),
                "bad comment: {line}"
            );
            assert!(valid_name(name), "bad metric name in {line}");
            if kind == "TYPE" {
                let t = parts.next().expect("type");
                assert!(
                    ["counter", "gauge", "histogram", "info", "unknown"].contains(&t),
                    "{line}"
                );
                typed.insert(name.to_string());
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                let l = l
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                for pair in l.split(',') {
                    let (k, v) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label in {line}"));
                    assert!(
                        valid_name(k) && v.starts_with('"') && v.ends_with('"'),
                        "{line}"
                    );
                }
                (n, l.to_string())
            }
            None => (series, String::new()),
        };
        assert!(valid_name(name), "bad sample name: {line}");
        let family = ["_total", "_bucket", "_sum", "_count", "_created", "_info"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "sample without # TYPE: {line}");
        out.entry(name.to_string())
            .or_default()
            .push((labels, value));
    }
    out
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_carry_the_expected_names() {
    let srv = TestServer::start(admin_config(), source_v1(), catalog(), true).await;
    let mut c = srv.client().await;
    c.get("/recommend/10").await;
    c.get("/recommend/999").await;
    c.get("/recommend/x").await;
    c.admin_post_json(
        "/events",
        &serde_json::json!({"user_id": 10, "movie_id": 102}),
    )
    .await;
    // Enough watch events of the training population for the drift gauges (100 at least).
    let watches: Vec<Value> = (0..120)
        .map(|i| serde_json::json!({"user_id": 10 + i % 4, "movie_id": 100 + i % 5}))
        .collect();
    c.admin_post_json("/events", &Value::Array(watches)).await;
    srv.state.follow_latest_once().await.expect("poll");
    let r = c.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/openmetrics-text")));
    let m = parse_exposition(&r.body);
    for name in [
        "recs_http_requests_total",
        "recs_http_request_duration_seconds_bucket",
        "recs_http_request_duration_seconds_sum",
        "recs_http_requests_in_flight",
        "recs_recommend_duration_seconds_bucket",
        "recs_recommendations_total",
        "recs_model_switches_total",
        "recs_model_info",
        "recs_model_ready",
        "recs_rollout_mode",
        "recs_rollout_split_percent",
        "recs_rollout_generation",
        "recs_build_info",
        "recs_start_time_seconds",
        "recs_uptime_seconds",
        "recs_slo_objective_ratio",
        "recs_slo_latency_threshold_seconds",
        "recs_last_deploy_timestamp_seconds",
        "recs_drift_value",
        "recs_drift_threshold",
        "recs_drift_crossed",
        "recs_drift_window_events",
    ] {
        assert!(m.contains_key(name), "missing {name}");
    }
    // The watch events are the training population: no new users, nothing crossed.
    assert!(
        m["recs_drift_crossed"]
            .iter()
            .any(|(l, v)| l == "subject=\"new_users\",measure=\"rate\"" && *v == 0.0),
        "{:?}",
        m["recs_drift_crossed"]
    );
    assert_eq!(m["recs_drift_window_events"][0].1, 121.0);
    let req = &m["recs_http_requests_total"];
    assert!(
        req.iter()
            .any(|(l, v)| l == "endpoint=\"recommend\",status=\"200\"" && *v == 2.0),
        "{req:?}"
    );
    assert!(
        req.iter()
            .any(|(l, v)| l == "endpoint=\"recommend\",status=\"400\"" && *v == 1.0),
        "{req:?}"
    );
    // Sub-millisecond buckets exist per model version and variant.
    let buckets = &m["recs_recommend_duration_seconds_bucket"];
    assert!(buckets
        .iter()
        .any(|(l, _)| l.contains("model_version=\"v1.0\"")
            && l.contains("variant=\"fixed\"")
            && l.contains("le=\"0.0001\"")));
    let recs = &m["recs_recommendations_total"];
    assert!(
        recs.iter()
            .any(|(l, v)| l.contains("cold_start=\"true\"") && *v == 1.0),
        "{recs:?}"
    );
    assert!(m["recs_rollout_mode"]
        .iter()
        .any(|(l, v)| l == "mode=\"fixed\"" && *v == 1.0));
    assert_eq!(m["recs_model_ready"][0].1, 1.0);
    assert!(m["recs_model_switches_total"]
        .iter()
        .any(|(l, v)| l == "result=\"ok\"" && *v == 1.0));

    // Every metric the Grafana dashboard queries is exported.
    let dash: Value = serde_json::from_str(include_str!("../../docs/grafana-dashboard.json"))
        .expect("dashboard JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dash, &mut exprs);
    assert!(exprs.len() >= 8, "dashboard has {} queries", exprs.len());
    let exported: HashSet<String> = m.keys().cloned().collect();
    for e in &exprs {
        for word in e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("recs_") {
                assert!(
                    exported.contains(word),
                    "dashboard queries {word}, not exported"
                );
            }
        }
    }
    srv.shutdown().await;
}

fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("expr", Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_exprs(x, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_drains_in_flight_requests() {
    let src = Arc::new(MemorySource::new());
    src.insert(
        "slow",
        Slow(popularity(&train()), Duration::from_millis(500)),
    );
    let srv = TestServer::start(admin_config(), src, Catalog::identity(), true).await;
    let addr = srv.addr;
    let mut clients = Vec::new();
    for u in 0..3 {
        let mut c = srv.client().await;
        clients.push(tokio::spawn(async move {
            c.get(&format!("/recommend/{u}?k=2")).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        srv.state.metrics().in_flight.get(),
        3,
        "requests should be in flight"
    );
    let t0 = std::time::Instant::now();
    srv.shutdown().await;
    assert!(
        t0.elapsed() >= Duration::from_millis(200),
        "shutdown did not wait"
    );
    for c in clients {
        let r = c.await.expect("client");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["items"].as_array().map(Vec::len), Some(2));
    }
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener still open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_models_opens_model_override_to_public_callers() {
    let src = source_v1();
    src.insert("v2.0", popularity(&train()));
    src.set_latest(Some("v1.0"));
    let config = ServeConfig {
        public_models: vec!["v1.0".into()],
        ..admin_config()
    };
    let srv = TestServer::start(config, src, catalog(), true).await;
    let mut c = srv.client().await;
    let r = c.get("/recommend/11?k=1&model=v1.0").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["variant"], "override");
    // Loaded only when served, and not open anyway: both are the same 404.
    let r = c.get("/recommend/11?k=1&model=v2.0").await;
    assert_json_error(&r, 404);
    assert!(!r.body.contains("v2.0`; available: v2.0"), "{}", r.body);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_admin_body_gets_408_not_504() {
    use std::io::{Read, Write};
    let config = ServeConfig {
        request_timeout_ms: 200,
        ..admin_config()
    };
    let srv = TestServer::start(config, source_v1(), catalog(), true).await;
    let addr = srv.addr;
    let (buf, n) = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        // Headers in full, then a body that never comes.
        let head = format!(
            "POST /admin/rollout HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
        );
        s.write_all(head.as_bytes()).expect("write");
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).expect("answered within 5 s");
        (buf, n)
    })
    .await
    .expect("client task");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_json_504() {
    let src = Arc::new(MemorySource::new());
    src.insert(
        "slow",
        Slow(popularity(&train()), Duration::from_millis(400)),
    );
    let config = ServeConfig {
        request_timeout_ms: 100,
        ..admin_config()
    };
    let srv = TestServer::start(config, src, Catalog::identity(), true).await;
    let r = srv.client().await.get("/recommend/1").await;
    assert_json_error(&r, 504);
    srv.shutdown().await;
}

/// The decision of `GET /admin/experiment` and `POST /admin/experiment/promote`: keep running
/// (promotion refused) until B's watches make it win under a rule sized for this tiny catalog,
/// then promotion serves B alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ab_decision_and_promote_change_the_rollout() {
    let src = source_v1();
    src.insert("v2.0", popularity(&train()));
    src.set_latest(Some("v1.0"));
    // Planned for a 1 % baseline and a 90-fold lift at power 0.5: 3 pairs per arm
    // ((1.959964 · √(2·0.455·0.545))² / 0.89² = 2.41 → 3), so 4 users are enough.
    let config = ServeConfig {
        experiment_rule: recs::eval::experiment::DecisionRule {
            baseline_rate: Some(0.01),
            min_detectable_lift: 89.0,
            power: 0.5,
            min_per_arm: 1,
            max_latency_increase_ms: 1e6,
            ..Default::default()
        },
        ..admin_config()
    };
    let srv = TestServer::start(config, src, catalog(), true).await;
    let mut c = srv.client().await;
    // No experiment yet: nothing to promote.
    let r = c
        .admin_post_json("/admin/experiment/promote", &serde_json::json!({}))
        .await;
    assert_json_error(&r, 409);
    let r = c
        .admin_post_json(
            "/admin/rollout",
            &serde_json::json!({"mode": "ab_test", "a": "v1.0", "b": "v2.0"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Nothing recommended yet: below the horizon.
    let rep = c.admin_get("/admin/experiment").await.json();
    assert_eq!(
        rep["comparison"]["decision"]["decision"], "keep_running",
        "{rep}"
    );
    assert_eq!(rep["comparison"]["decision"]["required_per_arm"], 3);
    let r = c
        .admin_post_json("/admin/experiment/promote", &serde_json::json!({}))
        .await;
    assert_json_error(&r, 409);
    assert!(r.body.contains("keep running"), "{}", r.body);
    let mut b_items = Vec::new();
    for user in 10..14 {
        let v = c.get(&format!("/recommend/{user}?k=5")).await.json();
        if v["variant"] == "B" {
            for m in v["items"].as_array().expect("items") {
                b_items.push(serde_json::json!({"user_id": user, "movie_id": m}));
            }
        }
    }
    // Every B recommendation is watched, no A recommendation is.
    let r = c.admin_post_json("/events", &Value::Array(b_items)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rep = c.admin_get("/admin/experiment").await.json();
    let arms = rep["arms"].as_array().expect("arms");
    assert!(
        arms.iter().all(|a| a["recommended"].as_u64() >= Some(3)),
        "the hash split must give both arms 3 pairs: {rep}"
    );
    assert_eq!(rep["comparison"]["decision"]["decision"], "ship_b", "{rep}");
    let r = c
        .admin_post_json(
            "/admin/experiment/promote",
            &serde_json::json!({"bogus": 1}),
        )
        .await;
    assert_json_error(&r, 400);
    let r = c
        .admin_post_json("/admin/experiment/promote", &serde_json::json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["promoted"], "v2.0");
    let r = c.admin_get("/admin/rollout").await.json();
    assert_eq!(
        r["rollout"],
        serde_json::json!({"mode": "fixed", "version": "v2.0"})
    );
    // The experiment ended with the promotion.
    let r = c
        .admin_post_json("/admin/experiment/promote", &serde_json::json!({}))
        .await;
    assert_json_error(&r, 409);
    // An operator may force a winner of a running experiment.
    let r = c
        .admin_post_json(
            "/admin/rollout",
            &serde_json::json!({"mode": "canary", "stable": "v2.0", "canary": "v1.0", "percent": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c
        .admin_post_json(
            "/admin/experiment/promote",
            &serde_json::json!({"force": "A"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["promoted"], "v2.0");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ab_test_reports_watch_rates_and_latency_tests() {
    let (srv, mut c) = ab_test_server().await;
    // Known users 10..13; each gets its unseen movies.
    let mut shown = Vec::new();
    for user in 10..14 {
        let v = c.get(&format!("/recommend/{user}?k=2")).await.json();
        let first = v["items"][0].as_i64().expect("an item");
        shown.push((
            user,
            first,
            v["variant"].as_str().expect("variant").to_string(),
        ));
    }
    let events: Vec<Value> = shown
        .iter()
        .map(|(u, m, _)| serde_json::json!({"user_id": u, "movie_id": m}))
        .chain([serde_json::json!({"user_id": 10, "movie_id": 424242})])
        .collect();
    let r = c.admin_post_json("/events", &Value::Array(events)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::json!({"accepted": 5, "attributed": 4})
    );
    let rep = c.admin_get("/admin/experiment").await.json();
    let arms = rep["arms"].as_array().expect("arms");
    assert_eq!(arms.len(), 2);
    let total_watched: i64 = arms.iter().filter_map(|a| a["watched"].as_i64()).sum();
    let total_shown: i64 = arms.iter().filter_map(|a| a["recommended"].as_i64()).sum();
    assert_eq!((total_watched, total_shown), (4, 8));
    for a in arms {
        let n = shown
            .iter()
            .filter(|(_, _, v)| a["variant"] == v.as_str())
            .count() as i64;
        assert_eq!(a["watched"].as_i64(), Some(n), "{a}");
    }
    assert_eq!(rep["comparison"]["control"], "A");
    assert_eq!(rep["attributed_events"], 4);
    // Malformed events are refused.
    let r = c
        .admin_post_json("/events", &serde_json::json!({"user": 1}))
        .await;
    assert_json_error(&r, 400);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_export_the_online_watch_rate_per_arm() {
    let (srv, mut c) = ab_test_server().await;
    // Users 10..13 get an answer each, user 10 a second one; users 10 and 12 then watch
    // their first recommended movie, user 11 a movie it was not recommended.
    let mut answers: Vec<(i64, String, Vec<i64>)> = Vec::new();
    for user in [10, 11, 12, 13, 10] {
        let v = c.get(&format!("/recommend/{user}?k=2")).await.json();
        let items: Vec<i64> = v["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        assert!(!items.is_empty(), "{v}");
        answers.push((user, v["variant"].as_str().expect("variant").into(), items));
    }
    let watches = [(10, answers[0].2[0]), (12, answers[2].2[0]), (11, 424242)];
    let events: Vec<Value> = watches
        .iter()
        .map(|(u, m)| serde_json::json!({"user_id": u, "movie_id": m}))
        .collect();
    let r = c.admin_post_json("/events", &Value::Array(events)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Hand-computed share per arm: an answer counts as watched when its user watched one of
    // its movies afterwards (each answer once).
    let mut expected: HashMap<String, (f64, f64)> = HashMap::new();
    for (user, variant, items) in &answers {
        let hit = watches.iter().any(|(u, m)| u == user && items.contains(m));
        let e = expected.entry(variant.clone()).or_default();
        e.0 += 1.0;
        e.1 += f64::from(u8::from(hit));
    }
    let m = parse_exposition(&c.get("/metrics").await.body);
    let version = |variant: &str| if variant == "A" { "v1.0" } else { "v2.0" };
    for (variant, (n, w)) in &expected {
        let labels = format!(
            "model_version=\"{}\",variant=\"{variant}\"",
            version(variant)
        );
        let find = |name: &str| {
            m[name]
                .iter()
                .find(|(l, _)| *l == labels)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("no {name}{{{labels}}} in {:?}", m[name]))
        };
        assert_eq!(find("recs_online_recommendations_total"), *n);
        assert_eq!(find("recs_online_watched_total"), *w);
        assert_eq!(find("recs_online_watch_rate"), w / n, "{variant}");
    }
    let total: f64 = expected.values().map(|e| e.1).sum();
    // User 10 got the same list twice, both before the watch: both answers count.
    assert_eq!(total, 3.0, "three answers were watched");
    // The same watches are the experiment's per-arm outcome.
    let rep = c.admin_get("/admin/experiment").await.json();
    let watched: i64 = rep["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .filter_map(|a| a["watched"].as_i64())
        .sum();
    assert_eq!(watched, 2);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_and_switch_accepts_forms() {
    let config = ServeConfig {
        max_body_bytes: 256,
        ..admin_config()
    };
    let src = source_v1();
    src.insert("v2.0", popularity(&train()));
    src.set_latest(Some("v1.0"));
    let srv = TestServer::start(config, src, catalog(), true).await;
    let mut c = srv.client().await;
    let big = vec![b' '; 1024];
    let r = c
        .send(
            Method::POST,
            "/events",
            Some(TOKEN),
            Some("application/json"),
            big,
        )
        .await;
    assert_json_error(&r, 413);
    let form = "model=v2.0&if_current=v1.0";
    let ct = Some("application/x-www-form-urlencoded");
    let r = c
        .send(Method::POST, "/switch", Some(TOKEN), ct, form.into())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["rollout"]["version"], "v2.0");
    // The precondition no longer holds.
    let r = c
        .send(Method::POST, "/admin/switch", Some(TOKEN), ct, form.into())
        .await;
    assert_json_error(&r, 409);
    let r = c
        .send(
            Method::POST,
            "/switch",
            Some(TOKEN),
            Some("text/plain"),
            b"x".to_vec(),
        )
        .await;
    assert_json_error(&r, 415);
    assert_json_error(&c.admin_get("/switch?model=v404").await, 404);
    assert_json_error(&c.admin_get("/switch").await, 400);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mode_answers_from_primary_and_measures_the_shadow() {
    let other = Interactions::from_records(2, 5, &records(&[(0, 4), (1, 4)]), Default::default())
        .expect("data");
    let src = source_v1();
    src.insert("v2.0", popularity(&other));
    src.set_latest(Some("v1.0"));
    let srv = TestServer::start(admin_config(), src, catalog(), true).await;
    let mut c = srv.client().await;
    let r = c
        .admin_post_json(
            "/admin/rollout",
            &serde_json::json!({"mode": "shadow", "primary": "v1.0", "shadow": "v2.0"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for user in 10..14 {
        let v = c.get(&format!("/recommend/{user}?k=2")).await.json();
        assert_eq!(v["provenance"]["model_version"], "v1.0");
        assert_eq!(v["variant"], "primary");
    }
    let mut shadowed = 0;
    for _ in 0..100 {
        let rep = c.admin_get("/admin/experiment").await.json();
        shadowed = rep["shadow"]["latency_ms"]["n"].as_i64().unwrap_or(0);
        if shadowed == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(shadowed, 4);
    let h = c.admin_get("/healthz").await.json();
    assert_eq!(h["versions"][1]["variants"], serde_json::json!(["shadow"]));
    // Nobody picks the shadow version with `?model=` without the token.
    let shadow = h["versions"][1]["version"].as_str().unwrap().to_string();
    assert_json_error(&c.get(&format!("/recommend/10?model={shadow}")).await, 404);
    assert!(!c.get("/healthz").await.body.contains(&shadow));
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_served_and_documents_every_route() {
    let srv = TestServer::start(admin_config(), source_v1(), catalog(), true).await;
    let r = srv.client().await.get("/openapi.json").await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    let on_disk: Value =
        serde_json::from_str(include_str!("../../docs/openapi.json")).expect("docs/openapi.json");
    assert_eq!(doc, on_disk);
    assert_eq!(doc["openapi"], "3.0.3");
    for (path, methods) in [
        ("/recommend/{user_id}", &["get"][..]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/openapi.json", &["get"]),
        ("/switch", &["get", "post"]),
        ("/admin/switch", &["post"]),
        ("/admin/rollout", &["get", "post"]),
        ("/admin/experiment", &["get"]),
        ("/admin/experiment/promote", &["post"]),
        ("/admin/versions", &["get"]),
        ("/events", &["post"]),
    ] {
        for m in methods {
            assert!(doc["paths"][path][m].is_object(), "{m} {path} undocumented");
        }
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_reports_latency_and_errors() {
    let srv = TestServer::start(admin_config(), source_v1(), catalog(), true).await;
    let cfg =
        recs_server::ProbeConfig::new(format!("http://{}/recommend/10?k=3", srv.addr), 5, 0.01);
    let mut samples = Vec::new();
    let rep = recs_server::probe(&cfg, |s| samples.push(s.clone()))
        .await
        .expect("probe");
    assert_eq!(
        (rep.sent, rep.ok, rep.http_errors, rep.transport_errors),
        (5, 5, 0, 0)
    );
    assert!(rep.latency_ms.p50 > 0.0 && rep.latency_ms.p50 <= rep.latency_ms.p99);
    assert!(samples.iter().all(|s| s.request_id.is_some()));
    let cfg = recs_server::ProbeConfig::new(format!("http://{}/recommend/x", srv.addr), 2, 0.0);
    let rep = recs_server::probe(&cfg, |_| {}).await.expect("probe");
    assert_eq!(
        (rep.http_errors, rep.by_status.get(&400).copied()),
        (2, Some(2))
    );
    srv.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// With the model registry

fn publish(reg: &recs::registry::LocalRegistry, data: &Interactions, latest: bool) -> String {
    use recs::registry::{publish_model, NewVersion, Registry};
    let model: recs::AnyModel = popularity(data).into();
    let meta = publish_model(
        reg,
        &model,
        NewVersion::new("popularity")
            .git_sha(Some(SHA.into()))
            .data_snapshot("snap-1"),
    )
    .expect("publish");
    if latest {
        reg.set_latest(&meta.version).expect("set latest");
    }
    meta.version.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_versions_are_loaded_verified_and_followed() {
    use recs::registry::LocalRegistry;
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = LocalRegistry::open(dir.path()).expect("registry");
    let v1 = publish(&reg, &train(), true);
    let other = Interactions::from_records(
        4,
        5,
        &records(&[(0, 4), (1, 4), (2, 3)]),
        Default::default(),
    )
    .expect("data");
    let v2 = publish(&reg, &other, false);
    assert_eq!((v1.as_str(), v2.as_str()), ("v1.0", "v1.1"));

    let source = Arc::new(recs_server::RegistrySource::open_local(dir.path()).expect("open"));
    let config = ServeConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        ..admin_config()
    };
    let state = AppState::new(config, source, catalog()).expect("state");
    state.load_initial().await.expect("initial load");
    let server = Server::bind(state.clone()).await.expect("bind");
    let addr = server.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    let mut c = Client::connect(addr).await;
    let v = c.get("/recommend/12?k=2").await.json();
    assert_eq!(v["provenance"]["model_version"], "v1.0");
    assert_eq!(v["provenance"]["git_sha"], SHA);
    assert_eq!(v["provenance"]["data_snapshot_id"], "snap-1");
    assert_eq!(v["model"], "popularity");

    // Explicit switch, unknown and malformed versions.
    let r = c.admin_get("/switch?model=v1.1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        c.get("/recommend/12?k=1").await.json()["items"],
        serde_json::json!([104])
    );
    assert_json_error(&c.admin_get("/switch?model=v9.9").await, 404);
    assert_json_error(&c.admin_get("/switch?model=..%2Fetc").await, 400);

    // A damaged artifact is refused; the served version stays.
    let v3 = publish(&reg, &train(), false);
    let model_file = dir.path().join(&v3).join("model.bin");
    let mut bytes = std::fs::read(&model_file).expect("model file");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&model_file, bytes).expect("damage");
    // As docs/server.md says: a version that fails verification is a 400, not a 500.
    let r = c.admin_get(&format!("/switch?model={v3}")).await;
    assert_json_error(&r, 400);
    assert!(r.body.contains("cannot be served"), "{}", r.body);
    assert_eq!(
        c.get("/recommend/12?k=1").await.json()["provenance"]["model_version"],
        "v1.1"
    );

    // The latest pointer moves: the poll switches to it.
    let v4 = publish(&reg, &train(), true);
    assert_eq!(state.follow_latest_once().await.expect("poll"), "switched");
    assert_eq!(
        c.get("/recommend/12?k=1").await.json()["provenance"]["model_version"],
        v4.as_str()
    );
    assert_eq!(state.follow_latest_once().await.expect("poll"), "unchanged");
    let listed = c.admin_get("/admin/versions").await.json();
    assert_eq!(listed["latest"], v4.as_str());
    assert_eq!(listed["versions"].as_array().map(Vec::len), Some(4));
    let _ = tx.send(());
    task.await.expect("task").expect("run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_from_config_runs_end_to_end_and_refuses_an_empty_registry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg_dir = dir.path().join("models");
    let ratings = dir.path().join("ratings.dat");
    std::fs::write(&ratings, "7::1193::5\n7::661::3\n8::661::4\n9::914::3\n").expect("ratings");
    let movies = dir.path().join("movies.dat");
    std::fs::write(&movies, "661::James and the Giant Peach (1996)::Animation\n914::My Fair Lady (1964)::Musical\n1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n")
        .expect("movies");
    let (ds, _) = recs::data::load(
        &ratings,
        &recs::data::Format::guess(&ratings),
        &Default::default(),
    )
    .expect("load");
    let reg = recs::registry::LocalRegistry::open(&reg_dir).expect("registry");
    publish(&reg, &ds.interactions, true);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = ServeConfig {
        addr: format!("127.0.0.1:{port}").parse().expect("addr"),
        registry: Some(reg_dir.clone()),
        data: Some(ratings.clone()),
        movies: Some(movies.clone()),
        ..ServeConfig::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(recs_server::serve_from_config(config.clone(), async {
        let _ = rx.await;
    }));
    let ready = recs_server::ProbeConfig::new(format!("http://127.0.0.1:{port}/readyz"), 1, 0.0);
    let mut up = false;
    for _ in 0..200 {
        if recs_server::probe(&ready, |_| {})
            .await
            .is_ok_and(|r| r.ok == 1)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "server never became ready");
    let mut c = Client::connect(format!("127.0.0.1:{port}").parse().expect("addr")).await;
    // User 8 saw 661; the most popular unseen movies are 1193 and 914 (one rating each).
    let v = c.get("/recommend/8?k=2").await.json();
    assert_eq!(v["items"], serde_json::json!([1193, 914]));
    assert_eq!(
        v["recommendations"][0]["title"],
        "One Flew Over the Cuckoo's Nest (1975)"
    );
    let v = c.get("/recommend/12345?k=1").await.json();
    assert_eq!(
        (v["cold_start"].as_bool(), v["items"][0].as_i64()),
        (Some(true), Some(661))
    );
    let _ = tx.send(());
    task.await.expect("task").expect("served");

    // An empty registry (no latest) without polling: serve returns the error.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let config = ServeConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        registry: Some(empty),
        ..ServeConfig::default()
    };
    let r = recs_server::serve_from_config(config, std::future::pending()).await;
    assert!(
        matches!(r, Err(recs_server::ServerError::Model(_))),
        "{r:?}"
    );
    // A missing registry directory is not created.
    let config = ServeConfig {
        registry: Some(dir.path().join("typo")),
        ..ServeConfig::default()
    };
    assert!(
        recs_server::serve_from_config(config, std::future::pending())
            .await
            .is_err()
    );
    assert!(!dir.path().join("typo").exists());
}

/// Opens a TCP connection to `addr` from the loopback address `from` (127.0.0.x) and returns
/// whatever the server sends within 2 s (the refusal is sent at once, then the socket closes).
async fn read_answer_from(from: &str, addr: SocketAddr) -> String {
    use tokio::io::AsyncReadExt;
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{from}:0").parse().expect("addr"))
        .expect("bind a loopback source address");
    let mut stream = socket.connect(addr).await.expect("connect");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

fn refused_count(metrics: &str, reason: &str) -> Option<u64> {
    let name = format!("recs_http_connections_refused_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&name))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_counted_by_reason() {
    // Per-IP cap 2, total cap 3: the third connection from 127.0.0.1 meets the per-IP cap; one
    // from 127.0.0.2 fills the total; the next, from 127.0.0.3, meets the total cap.
    let config = ServeConfig {
        max_connections: 3,
        max_connections_per_ip: 2,
        ..admin_config()
    };
    let srv = TestServer::start(config, source_v1(), catalog(), true).await;
    let mut a = srv.client().await;
    let _b = srv.client().await;
    let before = a.get("/metrics").await.body;
    assert_eq!(refused_count(&before, "per_ip"), Some(0), "{before}");
    assert_eq!(refused_count(&before, "overload"), Some(0), "{before}");

    let answer = read_answer_from("127.0.0.1", srv.addr).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let _d = srv.client_from("127.0.0.2").await;
    for _ in 0..2 {
        let answer = read_answer_from("127.0.0.3", srv.addr).await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }

    let after = a.get("/metrics").await.body;
    assert_eq!(refused_count(&after, "per_ip"), Some(1), "{after}");
    assert_eq!(refused_count(&after, "overload"), Some(2), "{after}");
    srv.shutdown().await;
}
