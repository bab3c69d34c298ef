//! The HTTP/1.1 server: accept loop, per-connection hyper service, graceful shutdown, and the
//! [`serve`] entry point of `recs serve`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::conn::{refuse, Admission};
use crate::error::ServerError;
use crate::state::{AppState, Catalog, ModelSource, RegistrySource};
use crate::ServeConfig;

/// Largest request head (request line + headers) accepted, in bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
}

impl Server {
    /// Binds `state.config().addr` (port 0 picks a free port; see [`local_addr`](Self::local_addr)).
    ///
    /// # Errors
    /// [`ServerError::Io`] when the address cannot be bound.
    pub async fn bind(state: AppState) -> Result<Server, ServerError> {
        let want = state.config().addr;
        let listener = TcpListener::bind(want)
            .await
            .map_err(|source| ServerError::Io {
                context: format!("binding {want}"),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Io {
            context: "reading the bound address".into(),
            source,
        })?;
        Ok(Server {
            listener,
            addr,
            state,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (to switch models or record events in-process).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (closing idle keep-alive connections) and returns once all connections are closed or the
    /// configured grace period has passed.
    ///
    /// # Errors
    /// None today; accept errors (e.g. out of file descriptors) are logged and retried.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let Server {
            listener, state, ..
        } = self;
        let config = state.config().clone();
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_millis(config.header_read_timeout_ms))
            // Caps the request line and headers (hyper answers 431 beyond); bodies are streamed
            // and capped separately by `max_body_bytes`.
            .max_buf_size(MAX_HEAD_BYTES)
            .keep_alive(true);
        let graceful = GracefulShutdown::new();
        // Admission, not a queue: a connection over the total or per-IP cap is answered 503
        // at once (see conn.rs), so slow or idle sockets of one host cannot starve the others.
        let admission = Admission::new(config.max_connections, config.max_connections_per_ip);
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let permit = match admission.try_admit(peer.ip()) {
                Ok(slot) => slot,
                Err(refusal) => {
                    state.metrics().refused(refusal, 1);
                    refuse(stream);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let st = state.clone();
            let svc = service_fn(move |req| {
                let st = st.clone();
                async move { Ok::<_, Infallible>(crate::routes::handle(st, req).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                // Client-side failures (reset, bad request line, header timeout) end the
                // connection; they are not server errors.
                let _ = conn.await;
                drop(permit);
            });
        }
        drop(listener);
        let grace = Duration::from_millis(config.shutdown_grace_ms);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(grace) => {
                crate::log(&format!("shutdown grace period of {grace:?} elapsed; closing remaining connections"));
            }
        }
        Ok(())
    }
}

/// Completes on Ctrl-C or (Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Runs `recs serve`: binds, loads the initial version (the configured one or the source's
/// latest) while already answering `/healthz` and `/readyz` (503 until loaded), polls the
/// latest pointer when configured, and serves until `shutdown` completes (the CLI passes
/// [`shutdown_signal`]: Ctrl-C / SIGTERM), then drains in-flight requests.
///
/// When the initial load fails and `follow_latest_secs` is unset, the server stops and the
/// error is returned; with polling it keeps running (not ready) and retries at each poll.
///
/// # Errors
/// [`ServerError::Config`], [`ServerError::Io`] (bind), [`ServerError::Model`] (initial load).
pub async fn serve(
    config: ServeConfig,
    source: Arc<dyn ModelSource>,
    catalog: Catalog,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let poll = config.follow_latest_secs;
    let catalog = crate::foldin::attach(catalog, &config.live);
    let state = AppState::new(config, source, catalog)?;
    let _live = crate::foldin::start(&state, &state.config().live)?;
    let server = Server::bind(state.clone()).await?;
    crate::log(&format!("listening on http://{}", server.local_addr()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        tokio::select! {
            () = shutdown => crate::log("shutdown requested; draining in-flight requests"),
            _ = stop_rx => {}
        }
    }));
    let initial = state.load_initial().await;
    if let Err(e) = &initial {
        tracing::error!("initial model load failed: {e}");
        if poll.is_none() {
            let _ = stop_tx.send(());
            let _ = running.await;
            return initial.map(|_| ());
        }
    }
    let poller = poll.map(|secs| {
        let st = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(secs));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = st.follow_latest_once().await {
                    tracing::warn!("registry poll failed: {e}");
                }
            }
        })
    });
    let result = running
        .await
        .map_err(|e| ServerError::Config(format!("server task failed: {e}")))?;
    if let Some(p) = poller {
        p.abort();
    }
    drop(stop_tx);
    crate::log("stopped");
    result
}

/// `recs serve` from a configuration alone: opens the registry directory `config.registry`,
/// loads the catalog from `config.data` / `config.movies` (see [`Catalog::load`]), then
/// [`serve`]s until `shutdown` completes.
///
/// # Errors
/// [`ServerError::Config`] without a registry or when the data cannot be loaded,
/// [`ServerError::Model`] when the registry cannot be opened, else as [`serve`].
pub async fn serve_from_config(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.check()?;
    let dir = config.registry.clone().ok_or_else(|| {
        ServerError::Config("no model registry: set `registry` (recs serve --registry DIR)".into())
    })?;
    let (data, movies) = (config.data.clone(), config.movies.clone());
    let (source, catalog) = tokio::task::spawn_blocking(move || {
        let source = RegistrySource::open_local(&dir).map_err(|e| {
            ServerError::Model(format!("cannot open registry {}: {e}", dir.display()))
        })?;
        let mut catalog = Catalog::load(data.as_deref(), movies.as_deref())
            .map_err(|e| ServerError::Config(format!("cannot load the catalog: {e}")))?;
        if data.is_none() {
            // Without --data, the latest version's own ids and seen items (when it has them).
            let own = source.latest_catalog().map_err(|e| {
                ServerError::Model(format!(
                    "cannot read the latest version's serving data: {e}"
                ))
            })?;
            if let Some(own) = own {
                let titles = Catalog::load(None, movies.as_deref())
                    .map_err(|e| ServerError::Config(format!("cannot load the movies: {e}")))?;
                catalog = own.with_titles_of(&titles);
            }
        }
        Ok::<_, ServerError>((source, catalog))
    })
    .await
    .map_err(|e| ServerError::Config(format!("loading task failed: {e}")))??;
    crate::log(&format!(
        "catalog{}: {} items, {} titles; registry: {source:?}",
        catalog
            .from_version()
            .map_or(String::new(), |v| format!(" (from {v})")),
        catalog
            .n_items()
            .map_or("model-indexed".to_string(), |n| n.to_string()),
        catalog.n_titles()
    ));
    serve(config, Arc::new(source), catalog, shutdown).await
}

/// [`serve_from_config`] until Ctrl-C / SIGTERM ([`shutdown_signal`]), on a new multi-threaded
/// tokio runtime: the one call of a synchronous `main`.
///
/// # Errors
/// As [`serve_from_config`], plus [`ServerError::Io`] when the runtime cannot start.
pub fn serve_blocking(config: ServeConfig) -> Result<(), ServerError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("recs-serve")
        .build()
        .map_err(|source| ServerError::Io {
            context: "starting the async runtime".into(),
            source,
        })?
        .block_on(serve_from_config(config, shutdown_signal()))
}
