//! The CAS upload routes: xorbs (checked while they stream in) and shards (files registered
//! and linked to the token's repo as LFS objects).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hub_types::{LfsOid, Role};
use serde_json::json;

use super::CasError;
use super::{blocking, grant, hash_param, xet};
use crate::body::BodyReader;
use crate::AppState;

/// Writes the request body to a temp file, refusing more than `limit` bytes.
async fn spool(
    state: &AppState,
    body: Body,
    limit: u64,
) -> Result<tempfile::NamedTempFile, CasError> {
    use tokio::io::AsyncWriteExt;
    let store = xet(state).clone();
    let tmp = blocking(move || Ok(store.spool()?)).await?;
    let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(CasError::internal)?);
    let mut reader = BodyReader::new(body, false, state.config().io_timeout, None);
    let mut total = 0u64;
    loop {
        let chunk = match reader.next().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(CasError::BadRequest(e.to_string())),
        };
        total += chunk.len() as u64;
        if total > limit {
            return Err(CasError::TooLarge(format!(
                "the upload is larger than the limit of {limit} bytes"
            )));
        }
        file.write_all(&chunk).await.map_err(CasError::internal)?;
    }
    file.flush().await.map_err(CasError::internal)?;
    Ok(tmp)
}

/// `POST /xet-cas/v1/xorbs/default/{hash}`.
pub(super) async fn upload_xorb(
    State(state): State<AppState>,
    Path((prefix, hash)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, CasError> {
    grant(&state, &headers, Role::Write).await?;
    if prefix != "default" {
        return Err(CasError::BadRequest(
            "the xorb prefix must be \"default\"".into(),
        ));
    }
    let hash = hash_param(&hash, "the xorb hash")?;
    let store = xet(&state).clone();
    // Claimed before it is looked for, so a garbage collector leaves it alone from here on.
    if blocking(move || store.claim_xorb(&hash).and_then(|()| store.has_xorb(&hash))).await? {
        return Ok(Json(json!({ "was_inserted": false })).into_response());
    }
    // The body is spooled to a temp file first (async writes: a slow client holds a task,
    // never one of the blocking pool's threads), then checked chunk by chunk and stored in
    // one pass on the pool, at disk speed.
    let body = spool(&state, body, xet_store::MAX_XORB_BYTES).await?;
    let len = body.as_file().metadata().map_or(0, |m| m.len());
    let store = xet(&state).clone();
    let inserted = blocking(move || {
        let mut r = std::io::BufReader::with_capacity(1 << 20, body.reopen()?);
        store.put_xorb(&hash, &mut r)
    })
    .await?;
    if inserted {
        state.inner.metrics.stored("xet", len);
    }
    Ok(Json(json!({ "was_inserted": inserted })).into_response())
}

/// `POST /xet-cas/v1/shards`: verify, register the files, and link them to the token's repo
/// as LFS objects.
pub(super) async fn upload_shard(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, CasError> {
    let g = grant(&state, &headers, Role::Write).await?;
    let tmp = spool(&state, body, xet_store::MAX_SHARD_BYTES).await?;
    let store = xet(&state).clone();
    let files = blocking(move || store.put_shard(tmp)).await?;
    // Over the namespace's storage limit: the files are registered (their xorbs are stored
    // already) but not linked, so no repo may use them.
    let repo = state
        .accounts()
        .repo_by_id(g.repo_id)
        .await
        .map_err(CasError::internal)?;
    if let Some(repo) = repo {
        if let Some(mut room) = crate::quota::room(&state, &repo)
            .await
            .map_err(CasError::internal)?
        {
            for f in &files {
                if let Err(message) = room
                    .take(&state, &f.record.sha256, f.record.size)
                    .await
                    .map_err(CasError::internal)?
                {
                    return Err(CasError::Forbidden(message));
                }
            }
        }
    }
    let mut any_new = files.is_empty();
    for f in &files {
        let oid = LfsOid::parse(&f.record.sha256).map_err(CasError::internal)?;
        state
            .accounts()
            .link_object(g.repo_id, &oid, f.record.size)
            .await
            .map_err(CasError::internal)?;
        any_new |= f.new;
    }
    Ok(Json(json!({ "result": u8::from(any_new) })).into_response())
}
