//! Object-store plumbing shared by the registry backend and the snapshot store (feature `s3`):
//! building an S3 client from an `s3://bucket/prefix` URL and the environment, a small tokio
//! runtime to block on, and get/put/list helpers that turn "not found" and "already exists"
//! into plain values.
//!
//! The store's API is async; callers here are synchronous, so each client owns a runtime and
//! blocks on it (from inside an async task it runs on a scoped helper thread instead, since
//! blocking inside a runtime panics).

use std::future::Future;
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

/// Errors of this module, as text: each caller wraps them in its own error type.
pub(crate) type ObjResult<T> = std::result::Result<T, String>;

/// The runtime the blocking calls run on. Shut down in the background on drop, so that
/// dropping a client inside an async task does not panic.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A store and the runtime its calls block on.
pub(crate) struct Objects {
    store: Arc<dyn ObjectStore>,
    rt: Runtime,
}

impl Objects {
    /// Wraps `store`; the runtime's threads are named `thread_name`.
    pub(crate) fn new(store: Arc<dyn ObjectStore>, thread_name: &str) -> ObjResult<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(thread_name)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Objects {
            store,
            rt: Runtime(Some(rt)),
        })
    }

    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Runs a future made by `make` to completion on the runtime.
    pub(crate) fn run<T, F>(&self, make: impl FnOnce() -> F + Send) -> ObjResult<T>
    where
        T: Send,
        F: Future<Output = ObjResult<T>>,
    {
        let rt = self
            .rt
            .0
            .as_ref()
            .ok_or_else(|| "the object-store runtime is shut down".to_string())?;
        if tokio::runtime::Handle::try_current().is_err() {
            return rt.block_on(make());
        }
        std::thread::scope(|s| match s.spawn(|| rt.block_on(make())).join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }

    /// Every object under `under` (the whole store when `under` is empty).
    pub(crate) fn list(&self, under: &Path) -> ObjResult<Vec<ObjectMeta>> {
        let prefix = (under.parts_count() > 0).then_some(under);
        self.run(move || async move {
            self.store
                .list(prefix)
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| e.to_string())
        })
    }

    /// `None` when the object does not exist.
    pub(crate) fn get(&self, key: &Path) -> ObjResult<Option<Vec<u8>>> {
        self.run(move || async move {
            match self.store.get(key).await {
                Ok(r) => Ok(Some(r.bytes().await.map_err(|e| e.to_string())?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    pub(crate) fn exists(&self, key: &Path) -> ObjResult<bool> {
        self.run(move || async move {
            match self.store.head(key).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    /// Writes `bytes` at `key` (a single put: readers see the whole object or none).
    /// `Ok(false)` when `mode` is `Create` and the object exists already.
    pub(crate) fn put(&self, key: &Path, bytes: Vec<u8>, mode: PutMode) -> ObjResult<bool> {
        self.run(move || async move {
            let opts = PutOptions {
                mode,
                ..Default::default()
            };
            match self
                .store
                .put_opts(key, PutPayload::from(bytes), opts)
                .await
            {
                Ok(_) => Ok(true),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Ok(false),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    /// Removes `key`; a missing object is not an error.
    pub(crate) fn delete(&self, key: &Path) -> ObjResult<()> {
        self.run(move || async move {
            match self.store.delete(key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    pub(crate) fn copy(&self, from: &Path, to: &Path) -> ObjResult<()> {
        self.run(move || async move { self.store.copy(from, to).await.map_err(|e| e.to_string()) })
    }
}

/// Splits `s3://bucket/prefix` (or `s3a://`) into the bucket and the prefix (without its
/// surrounding slashes). The error says what is wrong.
pub(crate) fn parse_s3_url(url: &str) -> std::result::Result<(&str, &str), &'static str> {
    let rest = url
        .strip_prefix("s3://")
        .or_else(|| url.strip_prefix("s3a://"))
        .ok_or("expected `s3://bucket/prefix`")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("the bucket name is empty");
    }
    Ok((bucket, prefix.trim_matches('/')))
}

/// An S3 client for `bucket`, configured from the standard environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, ...) and then from
/// `options`, whose keys are `object_store`'s `AmazonS3ConfigKey` names.
pub(crate) fn s3_store<K: AsRef<str>, V: Into<String>>(
    bucket: &str,
    options: impl IntoIterator<Item = (K, V)>,
) -> ObjResult<Arc<dyn ObjectStore>> {
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (k, v) in options {
        let key = k.as_ref().parse().map_err(|e| format!("{e}"))?;
        builder = builder.with_config(key, v);
    }
    Ok(Arc::new(builder.build().map_err(|e| e.to_string())?))
}

/// `prefix` as a store path, refusing `.` and `..` parts (a prefix never climbs out).
pub(crate) fn parse_prefix(prefix: &str) -> std::result::Result<Path, &'static str> {
    let p = Path::parse(prefix.trim_matches('/')).map_err(|_| "not a valid object-store prefix")?;
    if p.parts().any(|p| p.as_ref() == "." || p.as_ref() == "..") {
        return Err("prefixes contain no `.` or `..` parts");
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_prefix() {
        assert_eq!(parse_s3_url("s3://b/x/y/"), Ok(("b", "x/y")));
        assert_eq!(parse_s3_url("s3a://b"), Ok(("b", "")));
        assert!(parse_s3_url("s3:///x").is_err());
        assert!(parse_s3_url("gs://b/x").is_err());
        assert!(parse_prefix("a/../b").is_err());
        assert_eq!(
            parse_prefix("/a/b/").map(|p| p.to_string()),
            Ok("a/b".into())
        );
    }

    #[test]
    fn put_get_list_on_a_memory_store() {
        let o = Objects::new(Arc::new(object_store::memory::InMemory::new()), "t").unwrap();
        let k = Path::from("p/a");
        assert_eq!(o.get(&k).unwrap(), None);
        assert!(o.put(&k, b"1".to_vec(), PutMode::Create).unwrap());
        assert!(!o.put(&k, b"2".to_vec(), PutMode::Create).unwrap());
        assert_eq!(o.get(&k).unwrap().as_deref(), Some(&b"1"[..]));
        assert!(o.exists(&k).unwrap());
        assert_eq!(o.list(&Path::from("p")).unwrap().len(), 1);
        o.delete(&k).unwrap();
        assert!(!o.exists(&k).unwrap());
    }
}
