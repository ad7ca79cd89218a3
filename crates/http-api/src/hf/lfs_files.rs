//! `GET /api/{type}s/{id}/lfs-files` (`list_lfs_files`): the LFS objects a repo stores, each
//! with a file name its history gives it, for writers deciding what to purge. Paged by object
//! id, 1,000 a page, with a `Link: rel="next"` the client follows.
//!
//! `POST /api/{type}s/{id}/lfs-files/duplicate` (cross-repo `CommitOperationCopy`): the
//! target repo is given the source repo's LFS objects without their bytes moving, for a
//! caller who may read the source and write the target, each object checked to be the source
//! repo's (by SHA-256 and Xet hash) and held to the target namespace's storage limit.
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

/// Objects one duplicate request may name.
const MAX_DUPLICATE: usize = 1000;

#[derive(serde::Deserialize)]
pub struct DuplicateRequest {
    target: DuplicateTarget,
    files: Vec<DuplicateFile>,
}

#[derive(serde::Deserialize)]
pub struct DuplicateTarget {
    #[serde(rename = "type")]
    kind: String,
    name: String,
}

#[derive(serde::Deserialize)]
pub struct DuplicateFile {
    sha256: String,
    #[serde(rename = "xetHash")]
    xet_hash: Option<String>,
}

pub async fn duplicate(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    headers: HeaderMap,
    Json(req): Json<DuplicateRequest>,
) -> Result<Response, HfError> {
    let source = &access.repo;
    if req.files.len() > MAX_DUPLICATE {
        return Err(HfError::BadRequest(format!(
            "{} files in one request; at most {MAX_DUPLICATE}",
            req.files.len()
        )));
    }
    let kind: hub_types::RepoType = req
        .target
        .kind
        .parse()
        .map_err(|e: hub_types::UnknownRepoType| HfError::BadRequest(e.to_string()))?;
    let id = hub_types::RepoId::parse(&req.target.name)
        .map_err(|e| HfError::BadRequest(format!("target {:?}: {e}", req.target.name)))?;
    let target_ref = hub_types::RepoRef {
        repo_type: kind,
        id,
    };
    let who = crate::edge::access::principal(&state, &headers).await?;
    let (target, _) =
        crate::edge::access::authorize(&state, who.as_ref(), &target_ref, hub_types::Role::Write)
            .await?;
    let mut room = crate::quota::room(&state, &target).await?;
    let mut failed = Vec::new();
    for f in &req.files {
        let fail = |error: String| json!({ "sha256": f.sha256, "error": error });
        let Ok(oid) = hub_types::LfsOid::parse(&f.sha256) else {
            failed.push(fail("not a SHA-256".into()));
            continue;
        };
        // Claimed first: a garbage collector leaves it alone from here on.
        state
            .accounts()
            .claim(&[content_store::lfs_claim(oid.as_str())])
            .await?;
        let Some(size) = state.accounts().linked_object(source.id, &oid).await? else {
            failed.push(fail(format!(
                "{} does not hold this object",
                source.repo_ref()
            )));
            continue;
        };
        if let Some(want) = &f.xet_hash {
            let (xet, o) = (state.store().xet().clone(), oid.as_str().to_owned());
            let rec = tokio::task::spawn_blocking(move || xet.file_by_sha256(&o))
                .await
                .map_err(HfError::internal)?
                .map_err(HfError::internal)?;
            if rec.is_some_and(|r| !r.file_hash.eq_ignore_ascii_case(want)) {
                failed.push(fail("the Xet hash does not match the object".into()));
                continue;
            }
        }
        if state.store().size(&oid).await?.is_none() {
            failed.push(fail("the object is not stored".into()));
            continue;
        }
        if let Some(room) = &mut room {
            if let Err(message) = room.take(&state, oid.as_str(), size).await? {
                failed.push(fail(message));
                continue;
            }
        }
        state.accounts().link_object(target.id, &oid, size).await?;
    }
    tracing::info!(from = %source.repo_ref(), to = %target.repo_ref(), files = req.files.len(), failed = failed.len(), "LFS objects duplicated");
    Ok(Json(json!({ "failed": failed })).into_response())
}
