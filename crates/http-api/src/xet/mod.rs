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

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hub_types::{RepoType, Role};
use serde_json::json;
use xet_store::{parse_hash, MerkleHash, XetError, XetStore};

use accounts::Repo;

use crate::edge::{Read, RepoAccess, Write};
use crate::hf::{HfError, Hub};
use crate::AppState;

mod download;
mod upload;

use download::{dedup, reconstruction_v1, reconstruction_v2, xorb_range};
use upload::{upload_shard, upload_xorb};

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
            get(write_token),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/xet-read-token/{*rev}",
            get(read_token),
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
        .route(
            "/v1/telemetry",
            post(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
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

/// `GET /api/{type}s/{id}/xet-read-token/{rev}`.
async fn read_token(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Read>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    token(&state, &access.repo, Role::Read, &headers)
}

/// `GET /api/{type}s/{id}/xet-write-token/{rev}`.
async fn write_token(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Write>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    token(&state, &access.repo, Role::Write, &headers)
}

/// A token for `need` on `repo`, which the caller was authorized for.
fn token(
    state: &AppState,
    repo: &Repo,
    need: Role,
    headers: &HeaderMap,
) -> Result<Response, HfError> {
    let exp = now() + TOKEN_TTL;
    let token = make_token(state, need, repo, exp);
    let url = cas_url(state, headers);
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

fn hash_param(s: &str, what: &str) -> Result<MerkleHash, HfError> {
    parse_hash(s).ok_or_else(|| HfError::BadRequest(format!("{what} must be 64 hex digits")))
}
