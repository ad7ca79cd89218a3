//! The connection loop: hyper's HTTP/1 server under limits no client can wear down. A client
//! has [`Limits::header_timeout`] to send a request's head (also the idle time allowed between
//! requests on a kept-alive connection), a body may be silent at most the I/O timeout between
//! frames, at most [`Limits::max_connections`] connections are served at once (the rest wait
//! in the kernel's backlog; the default comes from the process's file limit), and a stop lets
//! requests in flight finish for at most [`Limits::shutdown_grace`], then cuts them off.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
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
    crate::webhooks::spawn_worker(state.clone());
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

/// An answer given while the request's body is unread (an extractor refused the request before
/// the body was wanted, a handler ignored it) says `Connection: close`. hyper then closes the
/// connection rather than read a body nobody wants; without the header a client would put the
/// connection back in its pool and its next request could meet the closed socket
/// ("Server disconnected without sending a response"). Bodies a handler still holds (handed
/// to a task that streams them) are not touched.
pub async fn close_if_body_unread(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use http_body::Body as _;
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let state = Arc::new(BodyState::default());
    let req = req.map(|inner| {
        axum::body::Body::new(TrackedBody {
            inner,
            state: state.clone(),
        })
    });
    let mut res = next.run(req).await;
    if state.dropped.load(Ordering::Acquire) && !state.finished.load(Ordering::Acquire) {
        res.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    res
}

#[derive(Default)]
struct BodyState {
    finished: AtomicBool,
    dropped: AtomicBool,
}

/// A request body that records whether it was read to its end, and when it was let go.
struct TrackedBody {
    inner: axum::body::Body,
    state: Arc<BodyState>,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.state.finished.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.state.dropped.store(true, Ordering::Release);
    }
}
