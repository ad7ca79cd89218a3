//! `GET /api/{type}s/{id}/lfs-files` (`list_lfs_files`): the LFS objects a repo stores, each
//! with a file name its history gives it, for writers deciding what to purge. Paged by object
//! id, 1,000 a page, with a `Link: rel="next"` the client follows.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
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
