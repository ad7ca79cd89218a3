//! The LFS locking API: create, list (filters and cursors), verify (ours and theirs, which
//! git-lfs calls before every push), unlock and force-unlock.

use accounts::{Lock, LockQuery};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json, read_json, Lfs, LfsError};
use crate::edge::{Read, RepoAccess, Write};
use crate::AppState;

const MAX_BODY: usize = 64 << 10;
const MAX_PATH: usize = 4096;
const DEFAULT_LIMIT: i64 = 100;

fn lock_json(l: &Lock) -> Value {
    json!({
        "id": l.id.to_string(),
        "path": l.path,
        "locked_at": l.locked_at,
        "owner": { "name": l.owner_name },
    })
}

#[derive(Deserialize, Default)]
struct RefName {
    name: Option<String>,
}

#[derive(Deserialize)]
pub struct CreateRequest {
    path: String,
    #[serde(rename = "ref", default)]
    git_ref: Option<RefName>,
}

/// A lock of the caller's (locks always have an owner: a user with write access).
pub async fn create(
    State(state): State<AppState>,
    access: RepoAccess<Lfs, Write>,
    body: Body,
) -> Result<Response, LfsError> {
    let (repo, who) = (&access.repo, access.user()?);
    let req: CreateRequest = read_json(&state, body, MAX_BODY).await?;
    if req.path.is_empty() || req.path.len() > MAX_PATH || req.path.contains('\0') {
        return Err(LfsError::Unprocessable(format!(
            "a lock path must be 1 to {MAX_PATH} bytes with no NUL"
        )));
    }
    let ref_name = req.git_ref.and_then(|r| r.name);
    match state
        .accounts()
        .create_lock(repo.id, &req.path, ref_name.as_deref(), who.user_id)
        .await?
    {
        Ok(lock) => Ok(json(
            StatusCode::CREATED,
            &json!({ "lock": lock_json(&lock) }),
        )),
        Err(existing) => Ok(json(
            StatusCode::CONFLICT,
            &json!({
                "lock": lock_json(&existing),
                "message": format!("{} is already locked by {}", existing.path, existing.owner_name),
            }),
        )),
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    path: Option<String>,
    id: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// A cursor or id the server did not hand out matches nothing, rather than failing.
fn number(s: &Option<String>) -> Result<Option<i64>, ()> {
    match s.as_deref() {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ()),
    }
}

pub async fn list(
    State(state): State<AppState>,
    access: RepoAccess<Lfs, Read>,
    Query(q): Query<ListQuery>,
) -> Result<Response, LfsError> {
    let repo = &access.repo;
    let (Ok(id), Ok(cursor)) = (number(&q.id), number(&q.cursor)) else {
        return Ok(json(StatusCode::OK, &json!({ "locks": [] })));
    };
    let query = LockQuery {
        path: q.path,
        id,
        owner_id: None,
        cursor,
        limit: q.limit.unwrap_or(DEFAULT_LIMIT),
    };
    let (locks, next) = state.accounts().list_locks(repo.id, &query).await?;
    let mut body = json!({ "locks": locks.iter().map(lock_json).collect::<Vec<_>>() });
    if let Some(n) = next {
        body["next_cursor"] = json!(n.to_string());
    }
    Ok(json(StatusCode::OK, &body))
}

#[derive(Deserialize, Default)]
pub struct VerifyRequest {
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn verify(
    State(state): State<AppState>,
    access: RepoAccess<Lfs, Write>,
    body: Body,
) -> Result<Response, LfsError> {
    let (repo, who) = (&access.repo, access.user()?);
    let req: VerifyRequest = read_json(&state, body, MAX_BODY).await?;
    let query = LockQuery {
        cursor: number(&req.cursor).unwrap_or(None),
        limit: req.limit.unwrap_or(DEFAULT_LIMIT),
        ..LockQuery::default()
    };
    let (locks, next) = state.accounts().list_locks(repo.id, &query).await?;
    let (ours, theirs): (Vec<&Lock>, Vec<&Lock>) =
        locks.iter().partition(|l| l.owner_id == who.user_id);
    let mut body = json!({
        "ours": ours.into_iter().map(lock_json).collect::<Vec<_>>(),
        "theirs": theirs.into_iter().map(lock_json).collect::<Vec<_>>(),
    });
    if let Some(n) = next {
        body["next_cursor"] = json!(n.to_string());
    }
    Ok(json(StatusCode::OK, &body))
}

#[derive(Deserialize, Default)]
pub struct UnlockRequest {
    #[serde(default)]
    force: bool,
}

/// The `{id}` of a lock route.
#[derive(Deserialize)]
pub struct LockId {
    id: String,
}

pub async fn unlock(
    State(state): State<AppState>,
    access: RepoAccess<Lfs, Write>,
    Path(LockId { id }): Path<LockId>,
    body: Body,
) -> Result<Response, LfsError> {
    let (repo, who) = (&access.repo, access.user()?);
    let req: UnlockRequest = read_json(&state, body, MAX_BODY).await?;
    let missing = || LfsError::NotFound(format!("no lock {id} in {}", repo.repo_ref()));
    let lock_id: i64 = id.parse().map_err(|_| missing())?;
    let lock = state
        .accounts()
        .lock(repo.id, lock_id)
        .await?
        .ok_or_else(missing)?;
    if lock.owner_id != who.user_id {
        // Only repo admins (the owner, org admins, site admins) may break someone else's
        // lock. Their token's role caps them at write, so ask for the underlying right.
        let admin = state.accounts().owns(who, repo).await?;
        if !(req.force && admin) {
            let how = if admin {
                "add --force"
            } else {
                "ask its owner or a repo admin"
            };
            return Err(LfsError::Forbidden(format!(
                "{} is locked by {}; to remove the lock, {how}",
                lock.path, lock.owner_name
            )));
        }
    }
    state.accounts().delete_lock(repo.id, lock.id).await?;
    Ok(json(StatusCode::OK, &json!({ "lock": lock_json(&lock) })))
}
