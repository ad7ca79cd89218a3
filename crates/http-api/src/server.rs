//! The connection loop: hyper's HTTP/1 server under limits no client can wear down. A client
//! has [`Limits::header_timeout`] to send a request's head (also the idle time allowed between
//! requests on a kept-alive connection), a body may be silent at most the I/O timeout between
//! frames, at most [`Limits::max_connections`] connections are served at once (the rest wait
//! in the kernel's backlog; the default comes from the process's file limit), and a stop lets
//! requests in flight finish for at most [`Limits::shutdown_grace`], then cuts them off.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::AppState;

/// What bounds the server's connections.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(30),
            max_connections: default_max_connections(),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// File descriptors kept back from connections: the database, repos and git's pipes.
const RESERVED_FDS: u64 = 512;

/// Connections the file limit allows: the soft limit is raised to the hard one first, then a
/// connection is given three descriptors (its socket, and room for the git child or object
/// file it may open), after a reserve.
pub fn default_max_connections() -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum) {
        if cur < max {
            let raised = Rlimit {
                current: Some(max.min(1 << 20)),
                maximum: Some(max),
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                lim = raised;
            }
        }
    }
    let soft = lim.current.unwrap_or(1 << 20);
    (soft.saturating_sub(RESERVED_FDS) / 3).clamp(16, 100_000) as usize
}

/// The app with each request told the address it came from (`ConnectInfo`: what
/// `--metrics-allow` checks).
fn with_peer(
    app: axum::Router,
    peer: std::net::SocketAddr,
) -> impl tower::Service<
    axum::http::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    tower::ServiceBuilder::new()
        .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            req
        })
        .service(app)
}

/// Serves `router(state)` on `listener` until `shutdown` completes, then stops accepting and
/// gives the requests in flight `limits.shutdown_grace` to finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state
        .inner
        .downloads
        .spawn_flusher(state.accounts().clone());
    state.follow();
    crate::hf::list::spawn_describe_all(state.clone());
    // Every body, whatever reads it (a JSON extractor too), fails after this much silence
    // between frames. Streamed uploads have their own timer at the I/O timeout, which fires
    // first and answers 408; this one is the backstop a little behind it.
    let body_idle = state.config().io_timeout + Duration::from_secs(5);
    let app = crate::router(state.clone())
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_idle));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    tracing::info!(
        max_connections = limits.max_connections,
        header_timeout = ?limits.header_timeout,
        "accepting connections"
    );
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a reset before accept: wait a moment, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true)
            // A client may shut its side once the request is sent (or vanish): the request
            // is still carried out, so a push whose whole body arrived lands and its caches
            // are dropped. Its answer is simply not heard.
            .half_close(true)
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(with_peer(app.clone(), peer)),
            );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(grace = ?limits.shutdown_grace, "requests still running after the grace period were cut off");
        }
    }
    // Counts gathered since the last tick are not lost on a stop.
    state.inner.downloads.flush(state.accounts()).await;
    Ok(())
}
