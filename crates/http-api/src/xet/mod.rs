//! Xet: the CAS service, served by this same server under `/xet-cas`, and the tokens that
//! open it (made here, handed out by the Hub API's `xet-{read,write}-token` routes in
//! `hf::xet_token`: short-lived, signed by the server, bound to one repo and access level).
//!
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

use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::Router;
use hub_types::Role;
use xet_store::{parse_hash, MerkleHash, XetError, XetStore};

use crate::edge::http::unix_now;
use crate::AppState;

mod download;
mod error;
mod upload;

pub use error::CasError;

use download::{dedup, reconstruction_v1, reconstruction_v2, xorb_range};
use upload::{upload_shard, upload_xorb};

/// How long a Xet access token lives. hf_xet refreshes it through the same endpoint.
pub(crate) const TOKEN_TTL: u64 = 3600;
/// How long a signed xorb range URL works.
const URL_TTL: u64 = 3600;
/// Where the CAS routes live.
const CAS_PREFIX: &str = "/xet-cas";

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
    state.inner.store.xet()
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
pub(crate) fn make_token(state: &AppState, role: Role, repo: &accounts::Repo, exp: u64) -> String {
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

async fn grant(state: &AppState, headers: &HeaderMap, need: Role) -> Result<Grant, CasError> {
    let raw = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(CasError::Unauthorized)?;
    let parts: Vec<&str> = raw.trim().split('.').collect();
    let [ver, scope, repo, exp, sig] = parts[..] else {
        return Err(CasError::Unauthorized);
    };
    let (Ok(repo_id), Ok(exp)) = (repo.parse::<i64>(), exp.parse::<u64>()) else {
        return Err(CasError::Unauthorized);
    };
    if ver != "xet1" || !matches!(scope, "read" | "write") || exp <= unix_now() {
        return Err(CasError::Unauthorized);
    }
    // A deleted repo's token dies with it, even if its id is given to a new repo.
    let created_at = state
        .accounts()
        .repo_created_at(repo_id)
        .await
        .map_err(CasError::internal)?
        .ok_or(CasError::Unauthorized)?;
    let message = token_message(scope, repo_id, &created_at, exp);
    if !state.signer().verify_message(&message, sig) {
        return Err(CasError::Unauthorized);
    }
    if need >= Role::Write && scope != "write" {
        return Err(CasError::Forbidden(
            "this Xet token is read-only; ask for a xet-write-token".into(),
        ));
    }
    Ok(Grant { repo_id })
}

pub(crate) fn cas_url(state: &AppState, headers: &HeaderMap) -> String {
    format!(
        "{}{CAS_PREFIX}",
        crate::edge::http::public_base(state, headers)
    )
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, XetError> + Send + 'static,
) -> Result<T, CasError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(CasError::internal)?
        .map_err(CasError::from)
}

fn hash_param(s: &str, what: &str) -> Result<MerkleHash, CasError> {
    parse_hash(s).ok_or_else(|| CasError::BadRequest(format!("{what} must be 64 hex digits")))
}
