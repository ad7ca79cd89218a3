//! `GET /api/{type}s/{id}/xet-{read,write}-token/{rev}`: the caller's role on the repo, checked
//! by the extractor, turned into a short-lived Xet CAS token (JSON `{accessToken, exp,
//! casUrl}` and the `X-Xet-*` headers huggingface_hub reads). The revision is not checked:
//! access is per repo, and Xet content is addressed by hash.

use accounts::Repo;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hub_types::{RepoType, Role};
use serde_json::json;

use super::{HfError, Hub};
use crate::edge::http::unix_now;
use crate::edge::{Read, RepoAccess};
use crate::xet::{cas_url, make_token, TOKEN_TTL};
use crate::AppState;

/// How long a read token of a gated repo lives.
const GATED_TOKEN_TTL: u64 = 60;

pub fn routes() -> Router<AppState> {
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

/// `GET /api/{type}s/{id}/xet-read-token/{rev}`.
async fn read_token(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Read>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    let base = crate::edge::http::public_base(&state, &headers);
    if let Some(refusal) = crate::gate::blocked(
        &state,
        &access.repo,
        access.who.as_ref(),
        access.role,
        &base,
    )
    .await?
    {
        return Err(refusal.into());
    }
    // A token outlives the check that minted it: on a gated repo it lives a minute (hf_xet
    // asks for a new one through this route, which checks the gate again), so a request
    // rejected or a gate closed stops reconstructions within that minute.
    let ttl = if crate::gate::mode(&state, &access.repo).await? != "false" {
        GATED_TOKEN_TTL
    } else {
        TOKEN_TTL
    };
    token(&state, &access.repo, Role::Read, &headers, ttl)
}

/// `GET /api/{type}s/{id}/xet-write-token/{rev}`.
async fn write_token(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Read>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    // Writers, and others uploading for a pull request (the commit decides where it lands).
    if !crate::edge::access::may_contribute(access.who.as_ref(), access.role) {
        access.require(Role::Write)?;
    }
    // A namespace at its storage limit gets no token to upload with.
    if let Some(room) = crate::quota::room(&state, &access.repo).await? {
        if let Some(message) = room.full() {
            return Err(HfError::Forbidden(message));
        }
    }
    token(&state, &access.repo, Role::Write, &headers, TOKEN_TTL)
}

/// A token for `need` on `repo`, which the caller was authorized for.
fn token(
    state: &AppState,
    repo: &Repo,
    need: Role,
    headers: &HeaderMap,
    ttl: u64,
) -> Result<Response, HfError> {
    let exp = unix_now() + ttl;
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
    format!("{base}/api/{}/{repo}/xet-read-token/{rev}", t.plural())
}
