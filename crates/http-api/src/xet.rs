//! Xet: the token endpoints of the Hub API and the CAS service they point at, served by this
//! same server under `/xet-cas`.
//!
//! - `GET /api/{type}s/{id}/xet-{read,write}-token/{rev}` checks the caller's role on the repo
//!   and answers a short-lived token signed by the server, bound to that repo and access level
//!   (JSON `{accessToken, exp, casUrl}` and the `X-Xet-*` headers huggingface_hub reads).
//! - `POST /xet-cas/v1/xorbs/default/{hash}` and `POST /xet-cas/v1/shards` (write tokens)
//!   store verified xorbs and register files; a registered file becomes an LFS object of the
//!   token's repo, so the commit API's `lfsFile` finds it.
//! - `GET /xet-cas/v{1,2}/reconstructions/{file}` (read tokens) answers only for files of the
//!   token's repo, with xorb URLs signed for exactly the byte range they may fetch;
//!   `GET /xet-cas/xorb/{hash}` serves those ranges.
//! - `GET /xet-cas/v1/chunks/default-merkledb/{hash}` (or `.../default/...`, as hf_xet asks)
//!   answers global dedup queries.
//!
//! Unknown CAS routes (`/v2/shards`, upload grants) answer 404, on which hf_xet falls back to
//! the routes above. The revision in a token URL is not checked: access in modelhub is per
//! repo, and Xet content is addressed by hash, so a ref-bound token would allow nothing less.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use hub_types::{LfsOid, RepoType, Role};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use xet_store::{parse_hash, FileRecord, MerkleHash, Plan, XetError, XetStore};

use crate::body::BodyReader;
use crate::hf::HfError;
use crate::repo_access;
use crate::AppState;

/// How long a Xet access token lives. hf_xet refreshes it through the same endpoint.
const TOKEN_TTL: u64 = 3600;
/// How long a signed xorb range URL works.
const URL_TTL: u64 = 3600;
/// Where the CAS routes live.
const CAS_PREFIX: &str = "/xet-cas";

/// The Hub API's token routes.
pub fn token_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/{kind}/{ns}/{repo}/xet-write-token/{*rev}",
            get(token).layer(Extension(Role::Write)),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/xet-read-token/{*rev}",
            get(token).layer(Extension(Role::Read)),
        )
}

/// The CAS service.
pub fn cas_routes() -> Router<AppState> {
    Router::new()
        .route("/xet-cas/v1/xorbs/{prefix}/{hash}", post(upload_xorb))
        .route("/xet-cas/v1/shards", post(upload_shard))
        .route("/xet-cas/v1/reconstructions/{file}", get(reconstruction_v1))
        .route("/xet-cas/v2/reconstructions/{file}", get(reconstruction_v2))
        .route("/xet-cas/v1/chunks/{prefix}/{hash}", get(dedup))
        .route("/xet-cas/xorb/{hash}", get(xorb_range))
        // hf_xet reports transfer statistics to the Hub endpoint; modelhub keeps none.
        .route("/v1/telemetry", post(|| async { StatusCode::NO_CONTENT }))
}

fn xet(state: &AppState) -> &Arc<XetStore> {
    &state.inner.xet
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn scope_name(role: Role) -> &'static str {
    if role >= Role::Write {
        "write"
    } else {
        "read"
    }
}

/// What a token's signature covers: its scope, its repo (the id and the repo's creation time,
/// since ids of deleted repos are given again) and its expiry.
fn token_message(scope: &str, repo_id: i64, created_at: &str, exp: u64) -> String {
    format!("xet-token\n{scope}\n{repo_id}\n{created_at}\n{exp}")
}

/// `xet1.{read|write}.{repo id}.{expiry}.{signature}`.
fn make_token(state: &AppState, role: Role, repo: &accounts::Repo, exp: u64) -> String {
    let scope = scope_name(role);
    let sig = state
        .signer()
        .sign_message(&token_message(scope, repo.id, &repo.created_at, exp));
    format!("xet1.{scope}.{}.{exp}.{sig}", repo.id)
}

/// What a valid CAS token allows.
struct Grant {
    repo_id: i64,
}

async fn grant(state: &AppState, headers: &HeaderMap, need: Role) -> Result<Grant, HfError> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(HfError::Unauthorized)?;
    let parts: Vec<&str> = raw.trim().split('.').collect();
    let [ver, scope, repo, exp, sig] = parts[..] else {
        return Err(HfError::Unauthorized);
    };
    let (Ok(repo_id), Ok(exp)) = (repo.parse::<i64>(), exp.parse::<u64>()) else {
        return Err(HfError::Unauthorized);
    };
    if ver != "xet1" || !matches!(scope, "read" | "write") || exp <= now() {
        return Err(HfError::Unauthorized);
    }
    // A deleted repo's token dies with it, even if its id is given to a new repo.
    let created_at = state
        .accounts()
        .repo_created_at(repo_id)
        .await
        .map_err(HfError::internal)?
        .ok_or(HfError::Unauthorized)?;
    let message = token_message(scope, repo_id, &created_at, exp);
    if !state.signer().verify_message(&message, sig) {
        return Err(HfError::Unauthorized);
    }
    if need >= Role::Write && scope != "write" {
        return Err(HfError::Forbidden(
            "this Xet token is read-only; ask for a xet-write-token".into(),
        ));
    }
    Ok(Grant { repo_id })
}

fn cas_url(state: &AppState, headers: &HeaderMap) -> String {
    format!("{}{CAS_PREFIX}", crate::lfs::public_base(state, headers))
}

/// `GET /api/{type}s/{id}/xet-{read,write}-token/{rev}`.
async fn token(
    State(state): State<AppState>,
    Extension(need): Extension<Role>,
    Path((kind, ns, name, _rev)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    let t = crate::hf::repo_type(&kind)?;
    let target = repo_access::repo_ref(t, &ns, &name)?;
    let (repo, _, _) = repo_access::authorize(&state, &headers, &target, need).await?;
    let exp = now() + TOKEN_TTL;
    let token = make_token(&state, need, &repo, exp);
    let url = cas_url(&state, &headers);
    let mut res = Json(json!({ "accessToken": token, "exp": exp, "casUrl": url })).into_response();
    let h = res.headers_mut();
    for (k, v) in [
        ("x-xet-cas-url", url.as_str()),
        ("x-xet-access-token", token.as_str()),
        ("x-xet-token-expiration", &exp.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// The refresh route a `resolve` answer points hf_xet at (the `xet-auth` link).
pub(crate) fn read_token_route(base: &str, t: RepoType, repo: &str, rev: &str) -> String {
    let kind = match t {
        RepoType::Model => "models",
        RepoType::Dataset => "datasets",
        RepoType::Space => "spaces",
    };
    format!("{base}/api/{kind}/{repo}/xet-read-token/{rev}")
}

/// The Xet file hash of LFS object `oid`, if it is stored through Xet.
pub(crate) async fn xet_hash_of(state: &AppState, oid: &str) -> Option<String> {
    let store = xet(state).clone();
    let oid = oid.to_owned();
    match tokio::task::spawn_blocking(move || store.file_by_sha256(&oid)).await {
        Ok(Ok(rec)) => rec.map(|r| r.file_hash.clone()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reading a Xet file record failed");
            None
        }
        Err(_) => None,
    }
}

fn from_xet(e: XetError) -> HfError {
    match e {
        XetError::Invalid(m) => HfError::BadRequest(m),
        XetError::NotFound(m) => HfError::NotFound(format!("{m} not found")),
        XetError::Range { size } => HfError::RangeNotSatisfiable(size),
        XetError::Io(e) => HfError::internal(e),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, XetError> + Send + 'static,
) -> Result<T, HfError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(HfError::internal)?
        .map_err(from_xet)
}

/// Writes the request body to a temp file, refusing more than `limit` bytes.
async fn spool(
    state: &AppState,
    body: Body,
    limit: u64,
) -> Result<tempfile::NamedTempFile, HfError> {
    use tokio::io::AsyncWriteExt;
    let store = xet(state).clone();
    let tmp = blocking(move || Ok(store.spool()?)).await?;
    let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(HfError::internal)?);
    let mut reader = BodyReader::new(body, false, state.config().io_timeout, None);
    let mut total = 0u64;
    loop {
        let chunk = match reader.next().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(HfError::BadRequest(e.to_string())),
        };
        total += chunk.len() as u64;
        if total > limit {
            return Err(HfError::PayloadTooLarge(format!(
                "the upload is larger than the limit of {limit} bytes"
            )));
        }
        file.write_all(&chunk).await.map_err(HfError::internal)?;
    }
    file.flush().await.map_err(HfError::internal)?;
    Ok(tmp)
}

fn hash_param(s: &str, what: &str) -> Result<MerkleHash, HfError> {
    parse_hash(s).ok_or_else(|| HfError::BadRequest(format!("{what} must be 64 hex digits")))
}

/// `POST /xet-cas/v1/xorbs/default/{hash}`.
async fn upload_xorb(
    State(state): State<AppState>,
    Path((prefix, hash)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HfError> {
    grant(&state, &headers, Role::Write).await?;
    if prefix != "default" {
        return Err(HfError::BadRequest(
            "the xorb prefix must be \"default\"".into(),
        ));
    }
    let hash = hash_param(&hash, "the xorb hash")?;
    if xet(&state).has_xorb(&hash) {
        return Ok(Json(json!({ "was_inserted": false })).into_response());
    }
    // The body streams to a blocking thread that checks each chunk as it arrives and writes
    // it out, so receiving, verifying and writing overlap.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    let store = xet(&state).clone();
    let ingest = tokio::task::spawn_blocking(move || {
        store.put_xorb(
            &hash,
            &mut ChannelReader {
                rx,
                cur: Bytes::new(),
            },
        )
    });
    let limit = xet_store::MAX_XORB_BYTES;
    let mut reader = BodyReader::new(body, false, state.config().io_timeout, None);
    let mut total = 0u64;
    let failed = loop {
        match reader.next().await {
            Ok(Some(chunk)) => {
                total += chunk.len() as u64;
                if total > limit {
                    break Some(HfError::PayloadTooLarge(format!(
                        "the xorb is larger than the limit of {limit} bytes"
                    )));
                }
                if tx.send(Ok(chunk)).await.is_err() {
                    break None; // the check stopped early; its error says why
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(HfError::BadRequest(e.to_string())),
        }
    };
    if let Some(e) = failed {
        let _ = tx
            .send(Err(std::io::Error::other("the upload was cut off")))
            .await;
        drop(tx);
        let _ = ingest.await;
        return Err(e);
    }
    drop(tx);
    let inserted = ingest.await.map_err(HfError::internal)?.map_err(from_xet)?;
    Ok(Json(json!({ "was_inserted": inserted })).into_response())
}

/// A blocking `Read` over body chunks sent from the request's task.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    cur: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

/// `POST /xet-cas/v1/shards`: verify, register the files, and link them to the token's repo
/// as LFS objects.
async fn upload_shard(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HfError> {
    let g = grant(&state, &headers, Role::Write).await?;
    let tmp = spool(&state, body, xet_store::MAX_SHARD_BYTES).await?;
    let store = xet(&state).clone();
    let files = blocking(move || store.put_shard(tmp)).await?;
    let mut any_new = files.is_empty();
    for f in &files {
        let oid = LfsOid::parse(&f.record.sha256).map_err(HfError::internal)?;
        state
            .accounts()
            .link_object(g.repo_id, &oid, f.record.size)
            .await
            .map_err(HfError::internal)?;
        any_new |= f.new;
    }
    Ok(Json(json!({ "result": u8::from(any_new) })).into_response())
}

/// The file `file` names, if the token's repo holds it. Other repos' files look missing.
async fn visible_file(state: &AppState, g: &Grant, file: &str) -> Result<Arc<FileRecord>, HfError> {
    let hash = hash_param(file, "the file id")?;
    let store = xet(state).clone();
    let missing = || HfError::NotFound(format!("file {file} not found"));
    let rec = blocking(move || store.file_by_xet_hash(&hash))
        .await?
        .ok_or_else(missing)?;
    let oid = LfsOid::parse(&rec.sha256).map_err(HfError::internal)?;
    let linked = state
        .accounts()
        .linked_object(g.repo_id, &oid)
        .await
        .map_err(HfError::internal)?;
    linked.map(|_| rec).ok_or_else(missing)
}

/// The `Range: bytes=a-b` of a reconstruction request as `[a, b+1)`, clamped to `size`.
fn file_range(headers: &HeaderMap, size: u64) -> Result<(u64, u64), HfError> {
    let spec = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="));
    let Some(spec) = spec else {
        return Ok((0, size));
    };
    let bad = || HfError::BadRequest(format!("unsupported Range {spec:?}"));
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let start: u64 = a.trim().parse().map_err(|_| bad())?;
    let end = match b.trim() {
        "" => size,
        b => b
            .parse::<u64>()
            .map_err(|_| bad())?
            .saturating_add(1)
            .min(size),
    };
    if start >= size || start >= end {
        return Err(HfError::RangeNotSatisfiable(size));
    }
    Ok((start, end))
}

async fn plan_for(
    state: &AppState,
    headers: &HeaderMap,
    file: &str,
) -> Result<(Plan, u64), HfError> {
    let g = grant(state, headers, Role::Read).await?;
    let rec = visible_file(state, &g, file).await?;
    let (start, end) = file_range(headers, rec.size)?;
    let store = xet(state).clone();
    let plan = blocking(move || store.plan(&rec, start, end)).await?;
    Ok((plan, now() + URL_TTL))
}

fn xorb_url(state: &AppState, base: &str, hash: &str, range: (u32, u32), exp: u64) -> String {
    let (a, b) = (range.0, range.1 - 1);
    let sig = state
        .signer()
        .sign_message(&format!("xet-xorb\n{hash}\n{a}\n{b}\n{exp}"));
    format!("{base}/xorb/{hash}?r={a}-{b}&x={exp}&s={sig}")
}

fn terms_json(plan: &Plan) -> Vec<Value> {
    plan.terms
        .iter()
        .map(|t| {
            json!({
                "hash": t.xorb.hex(),
                "unpacked_length": t.unpacked,
                "range": { "start": t.start, "end": t.end },
            })
        })
        .collect()
}

/// The distinct chunk ranges to fetch per xorb: (chunk start, chunk end, first stored byte,
/// end of stored bytes). Terms often repeat a range; each is listed once.
fn fetches(plan: &Plan) -> BTreeMap<String, BTreeSet<(u32, u32, u32, u32)>> {
    let mut out: BTreeMap<String, BTreeSet<_>> = BTreeMap::new();
    for t in &plan.terms {
        out.entry(t.xorb.hex())
            .or_default()
            .insert((t.start, t.end, t.stored.0, t.stored.1));
    }
    out
}

/// `GET /xet-cas/v1/reconstructions/{file}`.
async fn reconstruction_v1(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    reconstruction(&state, &file, &headers, false).await
}

/// `GET /xet-cas/v2/reconstructions/{file}`: the same terms, fetches keyed under `xorbs`.
async fn reconstruction_v2(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    reconstruction(&state, &file, &headers, true).await
}

async fn reconstruction(
    state: &AppState,
    file: &str,
    headers: &HeaderMap,
    v2: bool,
) -> Result<Response, HfError> {
    let (plan, exp) = plan_for(state, headers, file).await?;
    let base = cas_url(state, headers);
    let mut by_xorb = Map::new();
    for (hash, ranges) in fetches(&plan) {
        // One signed URL per range: a link allows exactly the bytes it names.
        let list = ranges
            .iter()
            .map(|&(s, e, a, b)| {
                let url = xorb_url(state, &base, &hash, (a, b), exp);
                let chunks = json!({ "start": s, "end": e });
                let bytes = json!({ "start": a, "end": b - 1 });
                if v2 {
                    json!({ "url": url, "ranges": [{ "chunks": chunks, "bytes": bytes }] })
                } else {
                    json!({ "range": chunks, "url": url, "url_range": bytes })
                }
            })
            .collect();
        by_xorb.insert(hash, Value::Array(list));
    }
    let mut out = Map::new();
    out.insert(
        "offset_into_first_range".into(),
        plan.offset_into_first_range.into(),
    );
    out.insert("terms".into(), Value::Array(terms_json(&plan)));
    let key = if v2 { "xorbs" } else { "fetch_info" };
    out.insert(key.into(), Value::Object(by_xorb));
    Ok(Json(Value::Object(out)).into_response())
}

/// `GET /xet-cas/v1/chunks/default-merkledb/{hash}`: a shard listing xorbs that hold the
/// chunk, or 404.
async fn dedup(
    State(state): State<AppState>,
    Path((prefix, hash)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    grant(&state, &headers, Role::Read).await?;
    // The spec names `default-merkledb`; hf_xet 1.8 asks under `default`.
    if prefix != "default-merkledb" && prefix != "default" {
        return Err(HfError::BadRequest(
            "the dedup prefix must be \"default-merkledb\"".into(),
        ));
    }
    let hash = hash_param(&hash, "the chunk hash")?;
    let store = xet(&state).clone();
    match blocking(move || store.dedup_shard(&hash)).await? {
        Some(bytes) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
        None => Err(HfError::NotFound("chunk not found".into())),
    }
}

#[derive(Deserialize)]
struct XorbLink {
    r: String,
    x: u64,
    s: String,
}

/// `GET /xet-cas/xorb/{hash}?r=a-b&x=exp&s=sig`: stored bytes of a xorb, within the range the
/// link was signed for.
async fn xorb_range(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    Query(q): Query<XorbLink>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    let xorb = hash_param(&hash, "the xorb hash")?;
    let forbidden = || HfError::Forbidden("the xorb link is invalid or expired".into());
    let (a, b) = q.r.split_once('-').ok_or_else(forbidden)?;
    let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) else {
        return Err(forbidden());
    };
    let msg = format!("xet-xorb\n{}\n{a}\n{b}\n{}", xorb.hex(), q.x);
    if q.x <= now() || a > b || !state.signer().verify_message(&msg, &q.s) {
        return Err(forbidden());
    }
    // The client sends the signed range as its Range header; a narrower one is fine too.
    let (start, end) = match headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
    {
        Some((s, e)) => {
            let (Ok(s), Ok(e)) = (s.trim().parse::<u64>(), e.trim().parse::<u64>()) else {
                return Err(HfError::BadRequest("unsupported Range".into()));
            };
            if s < a || e > b || s > e {
                return Err(forbidden());
            }
            (s, e)
        }
        None => (a, b),
    };
    let path = xet(&state).xorb_path(&xorb);
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| HfError::NotFound("xorb not found".into()))?;
    let len = file.metadata().await.map_err(HfError::internal)?.len();
    if end >= len {
        return Err(HfError::RangeNotSatisfiable(len));
    }
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(HfError::internal)?;
    let n = end - start + 1;
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(n), 1 << 20);
    Ok((
        StatusCode::PARTIAL_CONTENT,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, n.to_string()),
            (header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
