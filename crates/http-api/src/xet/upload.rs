//! The CAS upload routes: xorbs (checked while they stream in) and shards (files registered
//! and linked to the token's repo as LFS objects).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
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
                    break Some(CasError::TooLarge(format!(
                        "the xorb is larger than the limit of {limit} bytes"
                    )));
                }
                if tx.send(Ok(chunk)).await.is_err() {
                    break None; // the check stopped early; its error says why
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(CasError::BadRequest(e.to_string())),
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
    let inserted = ingest
        .await
        .map_err(CasError::internal)?
        .map_err(CasError::from)?;
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
pub(super) async fn upload_shard(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, CasError> {
    let g = grant(&state, &headers, Role::Write).await?;
    let tmp = spool(&state, body, xet_store::MAX_SHARD_BYTES).await?;
    let store = xet(&state).clone();
    let files = blocking(move || store.put_shard(tmp)).await?;
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
