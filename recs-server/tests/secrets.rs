//! The admin token never leaks: `recs serve` (the real binary) takes it from
//! `RECS_ADMIN_TOKEN`, accepts it, and neither its log output (access log on) nor `/metrics`
//! ever contains it or a wrong token a client sent (docs/threat-model.md, "Information
//! disclosure").

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use recs::model::{Fit, Popularity};
use recs::registry::{publish_model, LocalRegistry, NewVersion, Registry};

const TOKEN: &str = "s3cr3t-admin-token-7f9c2e";
const WRONG: &str = "guessed-token-0000";

/// One HTTP/1.1 request on a fresh connection; returns (status, body).
fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let body = if method == "POST" { "{}" } else { "" };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    (status, body)
}

#[test]
fn admin_token_never_appears_in_logs_or_metrics() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let reg = LocalRegistry::open(tmp.path().join("models")).expect("registry");
    let data = recs::data::synth::movielens_like(50, 30, 600, 1).expect("synth");
    let model: recs::AnyModel = Popularity::params()
        .fit(&data.interactions)
        .expect("fit")
        .into();
    let meta = publish_model(&reg, &model, NewVersion::new("popularity")).expect("publish");
    reg.set_latest(&meta.version).expect("latest");
    let config = tmp.path().join("serve.json");
    std::fs::write(
        &config,
        r#"{"addr": "127.0.0.1:0", "access_log": true, "request_timeout_ms": 20000}"#,
    )
    .expect("config");

    let mut child = Command::new(env!("CARGO_BIN_EXE_recs"))
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--registry")
        .arg(tmp.path().join("models"))
        .env(recs_server::ADMIN_TOKEN_ENV, TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start recs serve");
    // Read stderr on a thread: find the address, keep every line.
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server starts within 60 s");
        log.push(line.clone());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim().to_string();
        }
    };
    // Wait until the model is loaded.
    for _ in 0..200 {
        if http(&addr, "GET", "/readyz", None).0 == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // The token from the environment works; wrong ones are refused.
    let (status, body) = http(&addr, "GET", "/admin/versions", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("v1.0"), "{body}");
    for t in [Some(WRONG), None, Some("")] {
        assert_eq!(http(&addr, "GET", "/admin/rollout", t).0, 401);
        assert_eq!(http(&addr, "POST", "/admin/rollout", t).0, 401);
    }
    let (status, _) = http(&addr, "POST", "/admin/rollout", Some(TOKEN));
    assert_eq!(
        status, 400,
        "an empty rollout is refused after authorization"
    );
    assert_eq!(http(&addr, "GET", "/recommend/3?k=5", None).0, 200);
    let (status, metrics) = http(&addr, "GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(metrics.contains("recs_"), "{metrics}");

    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    log.extend(rx.try_iter());
    let mut stdout = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut stdout);
    }
    let all_logs = format!("{}\n{stdout}", log.join("\n"));
    assert!(
        all_logs.contains("/admin/rollout"),
        "the access log is on and lists the admin requests:\n{all_logs}"
    );
    for secret in [TOKEN, WRONG] {
        assert!(!metrics.contains(secret), "{secret} in /metrics");
        assert!(
            !all_logs.contains(secret),
            "{secret} in the log output:\n{all_logs}"
        );
    }
}
