//! `GET /api/{type}s/{id}/lfs-files` (`list_lfs_files`): the LFS objects a repo stores, each
//! with a file name its history gives it, for writers deciding what to purge. Paged by object
//! id, 1,000 a page, with a `Link: rel="next"` the client follows.
//!
//! `POST /api/{type}s/{id}/lfs-files/batch` (`permanently_delete_lfs_files`): the repo lets go
//! of the objects (it no longer serves them), and with `rewriteHistory` (the client's default)
//! every commit of every ref is rewritten without the files whose pointers name them. The
//! bytes go at the next `modelhub gc` that finds no other repo reaching them (the rewritten
//! refs' reflogs keep the old commits for the grace period).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use repo_rules::parse_lfs_pointer;
use serde_json::{json, Value};

use super::{HfError, Hub};
use crate::edge::http::public_base;
use crate::edge::{RepoAccess, Write};
use crate::AppState;

/// Objects per page.
const PAGE: i64 = 1000;
/// LFS pointers are smaller than this; the history's larger blobs are not read.
const MAX_POINTER: u64 = 1024;

pub async fn list(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Write>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    let repo = &access.repo;
    let after = q
        .iter()
        .find(|(k, _)| k == "cursor")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if !after.is_empty() && hub_types::LfsOid::parse(after).is_err() {
        return Err(HfError::BadRequest(format!("invalid cursor {after:?}")));
    }
    let objects = state.accounts().repo_objects(repo.id, after, PAGE).await?;
    // A name for each: the path its pointer was first seen at in the history of any ref
    // (none for an object uploaded but never committed, or only in history since removed).
    let mut names = std::collections::HashMap::new();
    if !objects.is_empty() {
        let wanted: std::collections::HashSet<&str> =
            objects.iter().map(|(o, _, _)| o.as_str()).collect();
        state
            .repos()
            .each_small_blob(&repo.repo_ref(), MAX_POINTER, |path, bytes| {
                if let Some(Ok(p)) = parse_lfs_pointer(bytes) {
                    if wanted.contains(p.oid.as_str()) {
                        names.entry(p.oid).or_insert_with(|| path.to_owned());
                    }
                }
            })
            .await
            .map_err(HfError::internal)?;
    }
    let items: Vec<Value> = objects
        .iter()
        .map(|(oid, size, linked_at)| {
            json!({
                "fileOid": oid,
                "oid": oid,
                "size": size,
                "pushedAt": linked_at,
                "filename": names.get(oid).cloned().unwrap_or_default(),
                "ref": Value::Null,
            })
        })
        .collect();
    let mut res = Json(Value::Array(items)).into_response();
    if objects.len() as i64 == PAGE {
        let last = &objects[objects.len() - 1].0;
        let next = format!(
            "{}/api/{}/{}/lfs-files?cursor={last}",
            public_base(&state, &headers),
            repo.repo_type.plural(),
            repo.repo_ref().id,
        );
        if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(res)
}

/// Objects one purge request may name (huggingface_hub sends batches of 1,000).
const MAX_PURGE: usize = 1000;

#[derive(serde::Deserialize)]
pub struct PurgeRequest {
    deletions: Deletions,
}

#[derive(serde::Deserialize)]
pub struct Deletions {
    sha: Vec<String>,
    #[serde(rename = "rewriteHistory", default = "yes")]
    rewrite_history: bool,
}

fn yes() -> bool {
    true
}

pub async fn purge(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Write>,
    Json(req): Json<PurgeRequest>,
) -> Result<Response, HfError> {
    let (repo, who) = (&access.repo, access.user()?);
    let shas = req.deletions.sha;
    if shas.len() > MAX_PURGE {
        return Err(HfError::BadRequest(format!(
            "{} objects in one request; at most {MAX_PURGE}",
            shas.len()
        )));
    }
    let mut oids = std::collections::HashSet::new();
    for s in &shas {
        let oid =
            hub_types::LfsOid::parse(s).map_err(|e| HfError::BadRequest(format!("{s:?}: {e}")))?;
        oids.insert(oid.as_str().to_owned());
    }
    if oids.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let _lock = super::manage::lock_refs(&state, repo).await?;
    if req.deletions.rewrite_history {
        let rewritten = state
            .repos()
            .purge_lfs_pointers(
                &repo.repo_ref(),
                &oids,
                &crate::git_http::push_env(&state, repo, who),
            )
            .await;
        match rewritten {
            Ok(refs) => {
                tracing::info!(repo = %repo.repo_ref(), refs = refs.len(), objects = oids.len(), "history rewritten without purged LFS files");
            }
            Err(e) => return Ok(super::manage::ref_error(e)),
        }
    }
    let oids: Vec<String> = oids.into_iter().collect();
    state.accounts().unlink_objects(repo.id, &oids).await?;
    // The refs moved, and what the repo stores (usedStorage) changed.
    state.refs_moved(repo).await;
    tracing::info!(repo = %repo.repo_ref(), by = %who.name, objects = oids.len(), "LFS objects purged from the repo");
    Ok(StatusCode::NO_CONTENT.into_response())
}
