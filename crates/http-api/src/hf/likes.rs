//! Likes over the Hub API: `POST`/`DELETE /api/{T}/{id}/like` (`unlike`), who liked a repo
//! (`list_repo_likers`), and what a user liked (`list_liked_repos`), showing only repos the
//! asker may read. One like per user per repo; a private repo one cannot read answers as
//! missing.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{HfError, Hub};
use crate::edge::access::{principal, role_in};
use crate::edge::http::public_base;
use crate::edge::RepoAccess;
use crate::AppState;

/// Likers per page.
const PAGE: i64 = 1000;
/// The most likes `list_liked_repos` answers.
const MAX_LIKED: i64 = 10_000;

/// `POST /api/{T}/{id}/like`.
pub async fn like(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
) -> Result<Response, HfError> {
    let who = access.user()?;
    state.accounts().like(access.repo.id, who.user_id).await?;
    state.inner.caches.listings.clear();
    Ok(Json(json!({})).into_response())
}

/// `DELETE /api/{T}/{id}/like`.
pub async fn unlike(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
) -> Result<Response, HfError> {
    let who = access.user()?;
    state.accounts().unlike(access.repo.id, who.user_id).await?;
    state.inner.caches.listings.clear();
    Ok(Json(json!({})).into_response())
}

/// `GET /api/{T}/{id}/likers`: pages of users, linked by `Link`.
pub async fn likers(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, HfError> {
    let cursor: i64 = q
        .iter()
        .find(|(k, _)| k == "cursor")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .max(0);
    let found = state
        .accounts()
        .likers(access.repo.id, cursor, PAGE + 1)
        .await?;
    let more = found.len() as i64 > PAGE;
    let users: Vec<Value> = found
        .iter()
        .take(PAGE as usize)
        .map(|l| {
            let full = if l.fullname.is_empty() { &l.name } else { &l.fullname };
            json!({ "user": l.name, "fullname": full, "avatarUrl": "", "type": "user", "isPro": false })
        })
        .collect();
    let mut res = Json(Value::Array(users)).into_response();
    if more {
        let next = format!(
            "{}/api/{}/{}/likers?cursor={}",
            public_base(&state, &headers),
            access.repo.repo_type.plural(),
            access.repo.repo_ref().id,
            cursor + PAGE
        );
        if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(res)
}

/// `GET /api/users/{name}/likes`: `[{createdAt, repo: {name, type}}]`, the repos the asker
/// may read.
pub async fn liked(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, HfError> {
    let who = principal(&state, &headers).await?;
    if state
        .accounts()
        .profile(&name)
        .await?
        .filter(|p| p.kind == "user")
        .is_none()
    {
        return Err(HfError::NotFound(format!("no user named {name}")));
    }
    let mut out = Vec::new();
    for (repo, at) in state.accounts().liked_by(&name, MAX_LIKED).await? {
        if role_in(&state, who.as_ref(), &repo).await?.is_some() {
            out.push(json!({
                "createdAt": at,
                "repo": { "name": repo.repo_ref().id.to_string(), "type": repo.repo_type.as_str() },
            }));
        }
    }
    Ok(Json(Value::Array(out)).into_response())
}
