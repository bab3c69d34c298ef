//! The registry conformance suite against a real S3-protocol server (cargo feature `s3`).
//!
//! Run through `scripts/s3-test.sh`, which starts `moto_server` and sets `RECS_S3_ENDPOINT`
//! and `RECS_S3_BUCKET`; without them every test prints `skipping: ...` and passes.

mod registry_suite;

use recs::registry::{ObjectRegistry, Registry};
use registry_suite::{Backend, Fixture};

struct S3;

/// (endpoint, bucket) of the test server, if one was started.
fn server() -> Option<(String, String)> {
    let endpoint = std::env::var("RECS_S3_ENDPOINT").ok()?;
    let bucket = std::env::var("RECS_S3_BUCKET").unwrap_or_else(|_| "recs-test".into());
    Some((endpoint, bucket))
}

fn open_s3(spec: &str) -> ObjectRegistry {
    let (endpoint, _) = server().unwrap();
    ObjectRegistry::s3(
        spec,
        [
            ("aws_endpoint", endpoint),
            ("aws_allow_http", "true".to_string()),
        ],
    )
    .unwrap()
}

impl Backend for S3 {
    fn fixture(&self) -> Option<Fixture> {
        let Some((_, bucket)) = server() else {
            eprintln!("skipping: RECS_S3_ENDPOINT is not set (run scripts/s3-test.sh)");
            return None;
        };
        // A fresh prefix per test: an empty registry in the shared bucket.
        let spec = format!(
            "s3://{bucket}/t-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let tamperer = open_s3(&spec);
        let remover = open_s3(&spec);
        Some(Fixture {
            reg: Box::new(open_s3(&spec)),
            spec,
            tamper: Box::new(move |path, f| {
                use object_store::ObjectStoreExt;
                let mut key = tamperer.prefix().clone();
                for part in path.split('/') {
                    key = key.join(part);
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let store = tamperer.store();
                    let bytes = store.get(&key).await.unwrap().bytes().await.unwrap();
                    store.put(&key, f(bytes.to_vec()).into()).await.unwrap();
                });
            }),
            remove: Box::new(move |path| {
                use object_store::ObjectStoreExt;
                let mut key = remover.prefix().clone();
                for part in path.split('/') {
                    key = key.join(part);
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async { remover.store().delete(&key).await.unwrap() });
            }),
            keep: Box::new(()),
        })
    }
    fn open(&self, spec: &str) -> Box<dyn Registry> {
        Box::new(open_s3(spec))
    }
}

registry_suite!(S3);

/// The commit protocol relies on the server honouring `If-None-Match: *`; check it directly.
#[test]
fn server_honours_conditional_create() {
    let Some(fx) = S3.fixture() else { return };
    let reg = open_s3(&fx.spec);
    use object_store::{ObjectStore, PutMode, PutOptions};
    let key = reg.prefix().clone().join("probe");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let create = || PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        reg.store()
            .put_opts(&key, b"1".to_vec().into(), create())
            .await
            .unwrap();
        let second = reg
            .store()
            .put_opts(&key, b"2".to_vec().into(), create())
            .await;
        assert!(
            matches!(second, Err(object_store::Error::AlreadyExists { .. })),
            "{second:?}"
        );
    });
}

/// The registry also works when called from inside an async runtime (as the server might).
#[test]
fn usable_inside_an_async_runtime() {
    let Some(fx) = S3.fixture() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let m = fx
            .reg
            .publish_bytes(b"abc", recs::registry::NewVersion::new("popularity"))
            .unwrap();
        assert_eq!(fx.reg.load_bytes(&m.version).unwrap(), b"abc");
        drop(fx);
    });
}
