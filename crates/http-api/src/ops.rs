//! What a load balancer and a monitoring system ask: `GET /healthz` (the process answers),
//! `GET /readyz` (the database and the content store answer too) and `GET /metrics` (the
//! Prometheus text format, through prometheus-client), served only to the addresses
//! `--metrics-allow` names. Every request passes [`track`], which counts it by route family,
//! method and status, times it to its response head and counts the body bytes each way. The
//! validator runs in git's hook process, so it leaves each push's outcome in a file that a
//! scrape reads ([`ingest_reports`]).

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    family: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FamilyLabel {
    family: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    rule: &'static str,
    severity: &'static str,
}

/// The server's counters. Cheap to update from any task (atomics inside).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<FamilyLabel, Histogram>,
    in_flight: Family<FamilyLabel, Gauge>,
    bytes_in: Family<FamilyLabel, Counter>,
    bytes_out: Family<FamilyLabel, Counter>,
    git_active: Family<ServiceLabel, Gauge>,
    uploaded: Family<KindLabel, Counter>,
    db_connections: Gauge,
    db_idle: Gauge,
    pushes: Family<OutcomeLabel, Counter>,
    findings: Family<FindingLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("modelhub");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route family, method and status",
            requests.clone(),
        );
        let latency = Family::<FamilyLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response head, by route family",
            latency.clone(),
        );
        let in_flight = Family::<FamilyLabel, Gauge>::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being handled (from their arrival to their response head), by route family",
            in_flight.clone(),
        );
        let bytes_in = Family::<FamilyLabel, Counter>::default();
        registry.register(
            "http_request_body_bytes",
            "Request body bytes read, by route family",
            bytes_in.clone(),
        );
        let bytes_out = Family::<FamilyLabel, Counter>::default();
        registry.register(
            "http_response_body_bytes",
            "Response body bytes sent, by route family",
            bytes_out.clone(),
        );
        let git_active = Family::<ServiceLabel, Gauge>::default();
        registry.register(
            "git_operations_active",
            "git upload-pack and receive-pack processes running, by service",
            git_active.clone(),
        );
        let uploaded = Family::<KindLabel, Counter>::default();
        registry.register(
            "content_uploaded_bytes",
            "Bytes uploaded and stored: LFS objects uploaded whole (lfs), Xet xorbs newly stored (xet)",
            uploaded.clone(),
        );
        let db_connections = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Database connections open",
            db_connections.clone(),
        );
        let db_idle = Gauge::default();
        registry.register(
            "db_pool_idle_connections",
            "Database connections open and idle",
            db_idle.clone(),
        );
        let pushes = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "push_validations",
            "Pushes and API commits the validator checked, by outcome (accepted, refused)",
            pushes.clone(),
        );
        let findings = Family::<FindingLabels, Counter>::default();
        registry.register(
            "push_findings",
            "What the validator found in pushes, by rule and severity",
            findings.clone(),
        );
        Metrics {
            pushes,
            findings,
            registry,
            requests,
            latency,
            in_flight,
            bytes_in,
            bytes_out,
            git_active,
            uploaded,
            db_connections,
            db_idle,
        }
    }
}

impl Metrics {
    /// Marks a git process as running until the guard drops.
    pub fn git_running(&self, service: &'static str) -> Running {
        let g = self
            .git_active
            .get_or_create(&ServiceLabel { service })
            .clone();
        g.inc();
        Running(g)
    }

    /// Counts bytes uploaded and stored (`kind`: `lfs` or `xet`).
    pub fn stored(&self, kind: &'static str, bytes: u64) {
        self.uploaded
            .get_or_create(&KindLabel { kind })
            .inc_by(bytes);
    }
}

/// The folder the pre-receive hook leaves each push's outcome in (see [`ingest_reports`]).
pub(crate) fn reports_dir(state: &AppState) -> std::path::PathBuf {
    state.config().data_dir.join("hook-reports")
}

/// A push outcome as the hook writes it.
#[derive(serde::Deserialize)]
struct HookReport {
    refused: bool,
    findings: Vec<(String, String)>,
}

/// Counts the outcomes the hook left (one small JSON file per push, written aside and renamed
/// whole) and removes them. Rule names are the validator's own, anything else is `other`.
fn ingest_reports(state: &AppState) {
    let Ok(entries) = std::fs::read_dir(reports_dir(state)) else {
        return;
    };
    let m = &state.inner.metrics;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let read = std::fs::read(&path);
        let _ = std::fs::remove_file(&path);
        let Some(report) = read
            .ok()
            .and_then(|b| serde_json::from_slice::<HookReport>(&b).ok())
        else {
            continue;
        };
        let outcome = if report.refused {
            "refused"
        } else {
            "accepted"
        };
        m.pushes.get_or_create(&OutcomeLabel { outcome }).inc();
        for (rule, severity) in report.findings.iter().take(10_000) {
            let rule = repo_rules::RULES
                .iter()
                .map(|(name, _, _)| *name)
                .chain(["path", "lock"])
                .find(|name| name == rule)
                .unwrap_or("other");
            let severity = if severity == "error" {
                "error"
            } else {
                "warning"
            };
            m.findings
                .get_or_create(&FindingLabels { rule, severity })
                .inc();
        }
    }
}

/// A git process counted as running.
pub struct Running(Gauge);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Which kind of route a path is, for the labels: a handful of values, never the path.
fn family(path: &str) -> &'static str {
    if path.ends_with("/info/refs")
        || path.ends_with("/git-upload-pack")
        || path.ends_with("/git-receive-pack")
    {
        "git"
    } else if path.contains(".git/info/lfs") {
        "lfs"
    } else if path.starts_with("/xet-cas/") {
        "xet"
    } else if path.starts_with("/api/") {
        "api"
    } else if path.contains("/resolve/") {
        "resolve"
    } else if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        "ops"
    } else {
        "pages"
    }
}

/// The method as a label: the standard ones by name, any other as `other`. A client may send
/// any token as a method; each one kept as a label would be a new series held forever.
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware every request passes.
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let fam = family(req.uri().path());
    let method = method_label(req.method());
    let started = Instant::now();
    let m = &state.inner.metrics;
    let into = m
        .bytes_in
        .get_or_create(&FamilyLabel { family: fam })
        .clone();
    let req = req.map(|b| {
        Body::new(Counted {
            inner: b,
            count: into,
        })
    });
    let running = m
        .in_flight
        .get_or_create(&FamilyLabel { family: fam })
        .clone();
    running.inc();
    // A guard, so a request whose connection is dropped mid-way is not counted for ever.
    let running = Running(running);
    let res = next.run(req).await;
    drop(running);
    let status = res.status().as_u16();
    m.requests
        .get_or_create(&RequestLabels {
            family: fam,
            method,
            status,
        })
        .inc();
    m.latency
        .get_or_create(&FamilyLabel { family: fam })
        .observe(started.elapsed().as_secs_f64());
    let out = m
        .bytes_out
        .get_or_create(&FamilyLabel { family: fam })
        .clone();
    res.map(|b| {
        Body::new(Counted {
            inner: b,
            count: out,
        })
    })
}

/// A body whose data bytes are counted as they pass.
struct Counted {
    inner: Body,
    count: Counter,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.count.inc_by(data.len() as u64);
            }
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

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// 200 when the database and the content store answer within [`READY_WITHIN`], else 503
/// naming what does not (a load balancer gives up sooner than the store client's retries).
async fn readyz(State(state): State<AppState>) -> Response {
    use tokio::time::timeout;
    let mut down = Vec::new();
    match timeout(READY_WITHIN, state.accounts().ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            down.push("database");
        }
        Err(_) => down.push("database"),
    }
    let probe = state.store().backend().size("tmp/readiness-probe");
    match timeout(READY_WITHIN, probe).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the content store does not answer");
            down.push("storage");
        }
        Err(_) => down.push("storage"),
    }
    if down.is_empty() {
        "ready\n".into_response()
    } else {
        let body = format!("not ready: {} unavailable\n", down.join(" and "));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

/// How long each readiness check may take.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// The metrics, to the addresses allowed; to anyone else the route does not exist.
async fn metrics(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
) -> Response {
    let allowed = peer.is_some_and(|p| {
        let ip = canonical(p.0 .0.ip());
        state.config().metrics_allow.iter().any(|n| n.contains(&ip))
    });
    if !allowed {
        return (StatusCode::NOT_FOUND, "Not found\n").into_response();
    }
    let m = &state.inner.metrics;
    {
        let state = state.clone();
        let _ = tokio::task::spawn_blocking(move || ingest_reports(&state)).await;
    }
    let (size, idle) = state.accounts().pool_use();
    m.db_connections.set(i64::from(size));
    m.db_idle.set(idle as i64);
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut text, &m.registry) {
        tracing::error!(error = %e, "encoding the metrics failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// An IPv4 address mapped into IPv6 as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::family;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        let odd = axum::http::Method::from_bytes(b"FROBNICATE1").unwrap();
        assert_eq!(super::method_label(&odd), "other");
        assert_eq!(super::method_label(&axum::http::Method::PUT), "PUT");
    }

    #[test]
    fn families_name_route_kinds_never_paths() {
        assert_eq!(family("/alice/m.git/info/refs"), "git");
        assert_eq!(family("/datasets/a/d.git/git-upload-pack"), "git");
        assert_eq!(family("/alice/m.git/info/lfs/objects/batch"), "lfs");
        assert_eq!(family("/xet-cas/v1/xorbs/default/ab"), "xet");
        assert_eq!(family("/api/models/alice/m"), "api");
        assert_eq!(family("/alice/m/resolve/main/config.json"), "resolve");
        assert_eq!(family("/metrics"), "ops");
        assert_eq!(family("/alice/m"), "pages");
    }
}
