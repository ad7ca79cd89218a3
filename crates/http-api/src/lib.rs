//! Every HTTP route of modelhub, the connection loop that serves them, and the only crate that
//! names axum or hyper.
//!
//! Git smart HTTP (`info/refs`, `git-upload-pack`, `git-receive-pack`), the Git LFS API
//! (batch, basic transfer, verify, locks), the Xet token endpoints and CAS, the Hugging Face
//! Hub API (read, commit, manage, Xet tokens, collections, discussions, likes, gated access,
//! webhooks)
//! and the web pages, for models, datasets and
//! spaces. A request enters through `edge`: one typed extractor finds and authorizes the repo
//! a route names, and the HTTP pieces every surface needs (base URL, `Range`, encodings,
//! dates) live there, so no surface imports another for them. Each protocol surface has its
//! own error type that speaks that protocol's error conventions (the Xet CAS too). `ops`
//! answers the load balancer and Prometheus (`/healthz`, `/readyz`, `/metrics`) and counts
//! every request on its way through; `gate` keeps a gated repo's bytes to those it lets
//! through; `webhooks` builds the events every change writes and delivers them; `quota`
//! holds uploads to their namespace's storage limit
//! before their bytes are accepted. [`serve`] bounds what a connection may cost (header and body timeouts, a connection cap,
//! a bounded stop); `fuzz` exposes the parsers of client bytes to `crates/fuzz`.
#![forbid(unsafe_code)]

mod auth;
mod blob_budget;
mod body;
mod cache;
mod claims;
mod downloads;
mod edge;
#[doc(hidden)]
pub mod fuzz;
mod gate;
mod git_http;
mod hf;
mod hub;
mod lfs;
mod limiter;
mod ops;
mod pages;
mod pktline;
mod quota;
mod server;
mod webhooks;
mod xet;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use accounts::Accounts;
use axum::Router;
use git_repos::GitRepos;
use lfs_store::LfsStore;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use claims::StoreClaims;
pub use hub::{Hub, HubError, Usage};
pub use server::{default_max_connections, serve, Limits};
pub use webhooks::{sweep as sweep_webhooks, DEFAULT_DENY as DEFAULT_WEBHOOK_DENY};

/// What the server is told at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data directory; hooks are told where it is.
    pub data_dir: PathBuf,
    /// The URL clients reach the server at, for absolute links (no trailing slash). Without
    /// one, links are built from the request's `Host` header.
    pub public_url: Option<String>,
    /// The binary that hooks run (`modelhub hook ...`).
    pub hook_binary: PathBuf,
    /// Concurrent upload-pack/receive-pack runs allowed per repo.
    pub max_pack_ops_per_repo: usize,
    /// How long a pack operation waits for a free slot before it is turned away.
    pub pack_queue_wait: Duration,
    /// Longest silence tolerated from a client or from git before a transfer is aborted.
    pub io_timeout: Duration,
    /// Largest upload-pack request (after gzip decoding) read into memory, as git's
    /// `http.maxRequestBuffer`.
    pub max_request_buffer: usize,
    /// Entries per page of API listings (repos, tree entries); the Hub pages at 1000.
    pub api_page_size: usize,
    /// Bytes of plain files held in memory by the downloads and pages serving them.
    pub plain_file_memory: u64,
    /// Largest LFS object accepted (the Hub's hard limit is 500 GB).
    pub max_lfs_object_size: u64,
    /// Key for the signatures on LFS transfer links.
    pub signing_key: Vec<u8>,
    /// Hand clients presigned object-store URLs for downloads (LFS batch downloads, `resolve`
    /// of LFS files, Xet xorb ranges) instead of streaming the bytes through this server.
    /// Ignored on a backend that cannot sign URLs (local disk).
    pub direct_downloads: bool,
    /// How long a presigned download URL stays valid.
    pub direct_url_ttl: Duration,
    /// Environment the git hooks get beside the repo's (where the content store is).
    pub hook_env: Vec<(String, String)>,
    /// Addresses `GET /metrics` answers (to others it is missing); loopback by default.
    pub metrics_allow: Vec<ipnet::IpNet>,
    /// The address the server listens on, for links in webhook payloads when there is no
    /// public URL.
    pub listen_url: Option<String>,
    /// Networks webhooks may not reach (checked on every address a host resolves to).
    pub webhook_deny: Vec<ipnet::IpNet>,
    /// The first retry's wait after a failed delivery (doubled per attempt, at most an hour).
    pub webhook_retry_base: Duration,
    /// How long a delivery is retried, and how long a webhook may fail before it is disabled.
    pub webhook_retry_for: Duration,
}

impl Config {
    pub fn new(data_dir: PathBuf, hook_binary: PathBuf, signing_key: Vec<u8>) -> Self {
        Config {
            data_dir,
            public_url: None,
            hook_binary,
            max_pack_ops_per_repo: 8,
            pack_queue_wait: Duration::from_secs(30),
            io_timeout: Duration::from_secs(600),
            max_request_buffer: 10 << 20,
            api_page_size: 1000,
            max_lfs_object_size: 500_000_000_000,
            plain_file_memory: 128 << 20,
            signing_key,
            direct_downloads: false,
            direct_url_ttl: Duration::from_secs(600),
            hook_env: Vec::new(),
            metrics_allow: vec![
                "127.0.0.0/8".parse().expect("a network"),
                "::1/128".parse().expect("a network"),
            ],
            listen_url: None,
            webhook_deny: webhooks::DEFAULT_DENY
                .split(',')
                .map(|n| n.parse().expect("a network"))
                .collect(),
            webhook_retry_base: Duration::from_secs(10),
            webhook_retry_for: Duration::from_secs(24 * 3600),
        }
    }
}

/// Short-lived copies of what the hot read paths look up on every request. Anything this
/// server changes is dropped at once. On SQLite changes from outside (the admin CLI) show
/// within the TTL; on PostgreSQL a change of who may do what, made by any node or the CLI,
/// returns only once every node dropped what it cached about it, and a node that lost touch
/// trusts none of it (`accounts::Lease`; see the accounts crate's `coherence`).
struct Caches {
    /// `type/ns/name` (lowercase) -> the registered repo, or none.
    repos: cache::TtlCache<String, Option<accounts::Repo>>,
    /// SHA-256 of a token -> its user, or none.
    tokens: cache::TtlCache<String, Option<accounts::Principal>>,
    /// (user id, organisation, lowercase) -> the user's role in it, if a member.
    org_roles: cache::TtlCache<(i64, String), Option<hub_types::Role>>,
    /// (repo, revision) -> commit id.
    revisions: cache::TtlCache<(RepoKey, String), String>,
    /// (repo, commit, file) -> what resolve found there (immutable).
    files: cache::TtlCache<(RepoKey, String, String), Arc<hf::Found>>,
    /// A listing query, page and viewer -> that page (kept briefly).
    listings: cache::TtlCache<String, Arc<hf::list::Listing>>,
    /// (repo, commit, blobs, siblings) -> the repo's description at that commit.
    summaries: cache::TtlCache<SummaryKey, Arc<serde_json::Map<String, serde_json::Value>>>,
    /// repo -> the bytes it stores (`usedStorage`: a walk of its folder, kept a while so a
    /// page anyone may load does not walk it on every view).
    used: cache::TtlCache<RepoKey, u64>,
    /// repo -> its gate (`false`, `auto`, `manual`): what every download asks, dropped with
    /// the repo records on every node when a gate changes.
    gates: cache::TtlCache<RepoKey, String>,
}

/// (repo, commit, with blob details, with siblings).
type SummaryKey = (RepoKey, String, bool, bool);

/// A repo's identity in cache keys: its id and creation time. Never its path or name: a repo
/// moved away or deleted and created again under the same name is another repo, and ids of
/// deleted repos are given again, so a cache entry of one can never answer for the other.
type RepoKey = (i64, String);

fn repo_key(repo: &accounts::Repo) -> RepoKey {
    (repo.id, repo.created_at.clone())
}

const CACHE_TTL: Duration = Duration::from_secs(2);
/// How long a repo's `usedStorage` is kept.
const USED_TTL: Duration = Duration::from_secs(30);
/// The event a node publishes when a repo's refs moved: `revisions ID CREATED_AT`.
const REVISIONS_EVENT: &str = "revisions";
const REVISION_TTL: Duration = Duration::from_secs(60);

impl Caches {
    /// `lease`: whether this node may trust what it cached of who may do what (always, on
    /// SQLite; on PostgreSQL while it hears the other nodes, see [`AppState::follow`]).
    /// The rest is dropped on every node when any node changes it.
    /// On SQLite organisation roles are not cached: the admin CLI changes them in its own
    /// process, and a member added there can use the repos at once (a query of the file is
    /// cheap); on PostgreSQL the change waits for every node.
    fn new(lease: Arc<accounts::Lease>, shared: bool) -> Self {
        let roles_ttl = if shared { CACHE_TTL } else { Duration::ZERO };
        Caches {
            repos: cache::TtlCache::gated(CACHE_TTL, 10_000, lease.clone()),
            tokens: cache::TtlCache::gated(CACHE_TTL, 10_000, lease.clone()),
            org_roles: cache::TtlCache::gated(roles_ttl, 10_000, lease.clone()),
            // Refs move only through the servers of this database (pushes and the API drop
            // the cache, on every node), so a longer life is safe; it spares listings
            // re-resolving every repo.
            revisions: cache::TtlCache::new(Some(REVISION_TTL), 100_000),
            files: cache::TtlCache::new(None, 4096),
            summaries: cache::TtlCache::new(None, 100_000),
            used: cache::TtlCache::new(Some(USED_TTL), 10_000),
            gates: cache::TtlCache::gated(CACHE_TTL, 10_000, lease.clone()),
            // Listings are per viewer, with visibility applied.
            listings: cache::TtlCache::gated(CACHE_TTL, 1000, lease),
        }
    }
}

/// What a pull-through cache's fetch of a repo this hub does not have came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullThrough {
    /// Fetched and stored: the repo is here now.
    Fetched,
    /// The upstream has no such public repo.
    Absent,
    /// The upstream could not be reached (the message names it).
    Unreachable(String),
    /// The validator refused what the upstream holds (its words).
    Refused(String),
}

/// Fetches a public repo from the upstream into this hub (`serve --upstream`).
pub type PullThroughFn = Arc<
    dyn Fn(
            hub_types::RepoRef,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = PullThrough> + Send>>
        + Send
        + Sync,
>;

/// Shared by every request handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    store: LfsStore,
    signer: lfs::Signer,
    downloads: downloads::DownloadCounter,
    caches: Caches,
    config: Config,
    limiter: limiter::PackLimiter,
    /// Memory for plain files served whole from git.
    blobs: blob_budget::BlobBudget,
    metrics: ops::Metrics,
    /// Whether the authorization caches may be trusted (see [`Caches::new`]).
    lease: Arc<accounts::Lease>,
    /// Wakes this node's webhook worker when an event was written here.
    webhook_wake: tokio::sync::Notify,
    /// Where repos this hub does not have are fetched from, if anywhere.
    pull_through: std::sync::OnceLock<PullThroughFn>,
}

impl AppState {
    /// `store` answers for every LFS object; the Xet store behind it serves the CAS routes.
    pub fn new(hub: Hub, store: LfsStore, config: Config) -> Self {
        let shared = hub.accounts.is_shared();
        let lease = if shared {
            accounts::Lease::none()
        } else {
            accounts::Lease::always()
        };
        let limiter =
            limiter::PackLimiter::new(config.max_pack_ops_per_repo, config.pack_queue_wait);
        AppState {
            inner: Arc::new(Inner {
                hub,
                store,
                signer: lfs::Signer::new(&config.signing_key),
                downloads: downloads::DownloadCounter::default(),
                caches: Caches::new(lease.clone(), shared),
                lease,
                blobs: blob_budget::BlobBudget::new(config.plain_file_memory),
                metrics: ops::Metrics::default(),
                config,
                limiter,
                webhook_wake: tokio::sync::Notify::new(),
                pull_through: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Makes this hub a pull-through cache: a read of a public repo it does not have calls
    /// `fetch` first (once per repo at a time).
    pub fn set_pull_through(&self, fetch: PullThroughFn) {
        let _ = self.inner.pull_through.set(fetch);
    }

    fn accounts(&self) -> &Accounts {
        &self.inner.hub.accounts
    }

    fn repos(&self) -> &GitRepos {
        &self.inner.hub.repos
    }

    fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Drops cached repo records (after a repo is created, moved, deleted or changed).
    fn forget_repos(&self) {
        self.inner.caches.repos.clear();
        self.inner.caches.gates.clear();
        self.inner.caches.listings.clear();
    }

    /// After `repo`'s refs moved (a push, a commit, a branch or tag made by the API): drops
    /// its cached revisions here and on every other node, and describes its main branch anew
    /// for listings and search (in the database, so every node lists the change).
    async fn refs_moved(&self, repo: &accounts::Repo) {
        let key = repo_key(repo);
        self.drop_revisions(&key);
        if let Err(e) = hf::list::refresh_summary(self, repo).await {
            // Listed as it was until its refs next move.
            tracing::warn!(repo = %repo.repo_ref(), error = %e, "could not describe the repo for listings");
        }
        self.inner.caches.listings.clear();
        // Only now the other nodes are told: a listing they make once they hear it reads
        // the new summary.
        self.publish_revisions(&key);
        webhooks::settle_pushes(self, repo).await;
    }

    /// After something outside the request paths moved the refs of repo `repo_id` (a mirror's
    /// sync): what every node cached of it is dropped, and its listing described anew.
    pub async fn repo_refs_moved(&self, repo_id: i64) {
        match self.accounts().repo_by_id(repo_id).await {
            Ok(Some(repo)) => {
                self.forget_repos();
                self.refs_moved(&repo).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(repo_id, error = %e, "cannot find a repo whose refs moved"),
        }
    }

    /// Tells every other node of the database that `key`'s refs moved.
    fn publish_revisions(&self, key: &RepoKey) {
        if self.accounts().is_shared() {
            let accounts = self.accounts().clone();
            let event = format!("{REVISIONS_EVENT} {} {}", key.0, key.1);
            tokio::spawn(async move {
                if let Err(e) = accounts.publish(&event).await {
                    // The other nodes' entries expire within REVISION_TTL regardless.
                    tracing::warn!(error = %e, "could not tell the other nodes that refs moved");
                }
            });
        }
    }

    fn drop_revisions(&self, key: &RepoKey) {
        self.inner.caches.revisions.retain(|(k, _)| k != key);
        self.inner.caches.used.retain(|k| k != key);
        self.inner.caches.listings.clear();
    }

    /// Drops what other nodes say is stale, for as long as the server runs (PostgreSQL;
    /// nothing to follow on SQLite), as a member of the nodes whose caches changes of
    /// authorization wait for. While it is not one (not yet, or its connection was lost) its
    /// lease does not hold and it answers from the database alone; a lost connection drops
    /// everything, since events may have been missed.
    pub(crate) fn follow(&self) {
        let state = self.clone();
        tokio::spawn(async move {
            loop {
                match state.accounts().join(state.inner.lease.clone()).await {
                    Ok(None) => return,
                    Ok(Some(mut member)) => {
                        let ran = member
                            .run(|event| match event {
                                Some(event) => state.apply(event),
                                None => state.drop_all(),
                            })
                            .await;
                        if let Err(e) = ran {
                            tracing::warn!(error = %e, "lost the other nodes' changes; joining again");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot follow the other nodes' changes yet");
                    }
                }
                state.drop_all();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// Applies one event another node published.
    fn apply(&self, event: &str) {
        let mut words = event.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some(accounts::REPOS_CHANGED), None, None) => self.forget_repos(),
            (Some(accounts::TOKENS_CHANGED), None, None) => self.inner.caches.tokens.clear(),
            (Some(accounts::MEMBERS_CHANGED), None, None) => {
                self.inner.caches.org_roles.clear();
                self.inner.caches.listings.clear();
            }
            (Some(REVISIONS_EVENT), Some(id), Some(created)) => match id.parse() {
                Ok(id) => self.drop_revisions(&(id, created.to_owned())),
                Err(_) => self.drop_all(),
            },
            _ => self.drop_all(),
        }
    }

    fn drop_all(&self) {
        let c = &self.inner.caches;
        c.revisions.clear();
        c.listings.clear();
        c.tokens.clear();
        c.org_roles.clear();
        self.forget_repos();
    }

    /// Drops everything cached about `repo` (after it was deleted, moved or made private or
    /// public), with the repo records.
    fn forget_repo(&self, repo: &accounts::Repo) {
        let key = repo_key(repo);
        let c = &self.inner.caches;
        c.revisions.retain(|(k, _)| *k != key);
        c.files.retain(|(k, _, _)| *k != key);
        c.summaries.retain(|(k, _, _, _)| *k != key);
        c.used.retain(|k| *k != key);
        self.forget_repos();
    }

    fn signer(&self) -> &lfs::Signer {
        &self.inner.signer
    }

    fn store(&self) -> &LfsStore {
        &self.inner.store
    }

    /// A presigned URL for the LFS object, if direct downloads are on and the object store
    /// can sign one (the object was uploaded whole); `None` to serve it through here.
    /// Access must have been checked before.
    async fn direct_url(
        &self,
        oid: &hub_types::LfsOid,
    ) -> Result<Option<String>, lfs_store::StoreError> {
        if !self.config().direct_downloads {
            return Ok(None);
        }
        self.store()
            .presign(oid, self.config().direct_url_ttl)
            .await
    }
}

/// The whole HTTP surface, with one log line per request (method, path, status, latency;
/// never headers or query strings, which can carry credentials).
pub fn router(state: AppState) -> Router {
    let per_type = |t: hub_types::RepoType| {
        git_http::routes()
            .merge(lfs::routes())
            .merge(hf::resolve_routes())
            .merge(pages::repo_routes())
            .layer(axum::Extension(t))
    };
    let track = axum::middleware::from_fn_with_state(state.clone(), ops::track);
    Router::new()
        .merge(ops::routes())
        .merge(hf::api_routes())
        .merge(hf::xet_token_routes())
        .merge(xet::cas_routes())
        .merge(pages::routes())
        .merge(per_type(hub_types::RepoType::Model))
        .nest("/datasets", per_type(hub_types::RepoType::Dataset))
        .nest("/spaces", per_type(hub_types::RepoType::Space))
        .fallback(not_found)
        .with_state(state)
        .layer(track)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(axum::middleware::from_fn(server::close_if_body_unread))
        .layer(axum::middleware::from_fn(request_id))
}

/// The header naming a request, in its answer and in the server's log line for it.
const REQUEST_ID: &str = "x-request-id";

/// Gives every request a fresh id (whatever the client sent), logged with the request and
/// returned in `X-Request-Id`, which huggingface_hub quotes in its error messages, so an admin
/// can find the log line from what a user pasted.
async fn request_id(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let id = format!("{:032x}", rand::random::<u128>());
    let value = axum::http::HeaderValue::from_str(&id).expect("hex is a header value");
    req.headers_mut().insert(REQUEST_ID, value.clone());
    let mut res = next.run(req).await;
    res.headers_mut().insert(REQUEST_ID, value);
    res
}

/// What no route answers: under `/api/`, a Hub API error (JSON with `X-Error-Code`), a repo id
/// without a namespace being a repo that does not exist (so `repo_exists("name")` is False);
/// elsewhere, plain text.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path();
    let Some(rest) = path.strip_prefix("/api/") else {
        return (axum::http::StatusCode::NOT_FOUND, "Not found\n").into_response();
    };
    let mut parts = rest.split('/');
    let kind = parts.next().unwrap_or_default();
    if hub_types::RepoType::from_plural(kind).is_some() && parts.next().is_some() {
        return hf::HfError::RepoNotFound.into_response();
    }
    hf::HfError::NotFound("Sorry, we can't find the page you are looking for.".into())
        .into_response()
}
