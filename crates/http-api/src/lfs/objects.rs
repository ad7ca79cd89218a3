//! Basic transfers: `PUT` and ranged `GET` of `.../info/lfs/objects/{oid}`, and `verify`.
//! Each is authorised by the signed link the batch API handed out, or by a token.

use accounts::Repo;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hub_types::{LfsOid, Role};
use serde::Deserialize;

use super::sign::Op;
use super::{json, now, read_json, Lfs, LfsError};
use crate::body::BodyReader;
use crate::edge::{Denied, RepoTarget};
use crate::AppState;

/// What a signed link carries in its query.
#[derive(Deserialize, Default)]
pub struct LinkQuery {
    size: Option<u64>,
    exp: Option<u64>,
    sig: Option<String>,
}

/// The signature of a request: from the link's query, else from an
/// `Authorization: Signed exp=E,sig=S` header (the batch response's `header`).
fn signature(q: &LinkQuery, headers: &HeaderMap) -> Option<(u64, String)> {
    if let (Some(exp), Some(sig)) = (q.exp, &q.sig) {
        return Some((exp, sig.clone()));
    }
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let rest = v.strip_prefix("Signed ")?;
    let mut exp = None;
    let mut sig = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("exp", e)) => exp = e.parse().ok(),
            Some(("sig", s)) => sig = Some(s.to_owned()),
            _ => {}
        }
    }
    Some((exp?, sig?))
}

/// The repo, if the request may do `op` on object `oid` of `size` bytes: by a valid, unexpired
/// signature for exactly that, or by a token with the access `op` needs (read to download,
/// write to upload or verify).
async fn access(
    state: &AppState,
    headers: &HeaderMap,
    q: &LinkQuery,
    target: &RepoTarget<Lfs>,
    op: Op,
    oid: &LfsOid,
    size: Option<u64>,
) -> Result<Repo, LfsError> {
    let need = match op {
        Op::Download => Role::Read,
        Op::Upload | Op::Verify => Role::Write,
    };
    if let Some((exp, sig)) = signature(q, headers) {
        let size = size.ok_or_else(|| LfsError::BadRequest("the link has no size".into()))?;
        let repo = target.find(state).await?;
        if exp < now()
            || !state
                .signer()
                .verify(op, repo.id, oid.as_str(), size, exp, &sig)
        {
            // A bad link to a private repo answers exactly as a link to a missing one: the
            // status may not tell an outsider that the repo exists.
            if repo.private {
                return Err(Denied::NotFound.into());
            }
            return Err(LfsError::Forbidden(
                "this transfer link is invalid or has expired; ask the batch API for a new one"
                    .into(),
            ));
        }
        return Ok(repo);
    }
    target.authorize(state, need).await
}

/// The `{oid}` of an object route.
#[derive(Deserialize)]
pub struct ObjectPath {
    oid: String,
}

fn parse_oid(s: &str) -> Result<LfsOid, LfsError> {
    LfsOid::parse(s).map_err(|e| LfsError::Unprocessable(e.to_string()))
}

pub async fn download(
    State(state): State<AppState>,
    target: RepoTarget<Lfs>,
    Path(ObjectPath { oid }): Path<ObjectPath>,
    Query(q): Query<LinkQuery>,
    headers: HeaderMap,
) -> Result<Response, LfsError> {
    let oid = parse_oid(&oid)?;
    let repo = access(&state, &headers, &q, &target, Op::Download, &oid, q.size).await?;
    let missing = || LfsError::NotFound(format!("object {oid} not found in {}", repo.repo_ref()));
    state
        .accounts()
        .linked_object(repo.id, &oid)
        .await?
        .ok_or_else(missing)?;
    let size = state.store().size(&oid).await?.ok_or_else(missing)?;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = crate::edge::http::parse_range(range_header, size)?;
    let stream = state.store().get(&oid, range).await?;

    let (status, len) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.len()),
        None => (StatusCode::OK, size),
    };
    let mut res = (status, Body::from_stream(stream)).into_response();
    let h = res.headers_mut();
    let value = |s: String| HeaderValue::from_str(&s).expect("ASCII header");
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, value(len.to_string()));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, value(format!("\"{oid}\"")));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    if let Some(r) = range {
        h.insert(
            header::CONTENT_RANGE,
            value(format!("bytes {}-{}/{size}", r.start, r.end)),
        );
    }
    Ok(res)
}

pub async fn upload(
    State(state): State<AppState>,
    target: RepoTarget<Lfs>,
    Path(ObjectPath { oid }): Path<ObjectPath>,
    Query(q): Query<LinkQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, LfsError> {
    let oid = parse_oid(&oid)?;
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let size = q
        .size
        .or(content_length)
        .ok_or_else(|| LfsError::BadRequest("unknown object size: send Content-Length".into()))?;
    let repo = access(&state, &headers, &q, &target, Op::Upload, &oid, Some(size)).await?;
    let max = state.config().max_lfs_object_size;
    if size > max {
        return Err(LfsError::TooLarge(format!(
            "object is {size} bytes; the limit is {max} bytes"
        )));
    }
    if let Some(cl) = content_length.filter(|cl| *cl != size) {
        return Err(LfsError::Unprocessable(format!(
            "Content-Length is {cl} but object {oid} has {size} bytes"
        )));
    }
    // Claimed first: a garbage collector running now leaves the object alone from here on.
    state
        .accounts()
        .claim(&[content_store::lfs_claim(oid.as_str())])
        .await?;
    let reader = BodyReader::new(body, false, state.config().io_timeout, None);
    state.store().put(&oid, size, body_stream(reader)).await?;
    state.inner.metrics.stored("lfs", size);
    state.accounts().link_object(repo.id, &oid, size).await?;
    tracing::info!(repo = %repo.repo_ref(), %oid, size, "LFS object stored");
    Ok(StatusCode::OK.into_response())
}

/// A request body as the store's byte stream.
fn body_stream(reader: BodyReader) -> lfs_store::ByteStream {
    Box::pin(reader.into_stream())
}

#[derive(Deserialize)]
pub struct VerifyRequest {
    oid: String,
    size: u64,
}

pub async fn verify(
    State(state): State<AppState>,
    target: RepoTarget<Lfs>,
    Query(q): Query<LinkQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, LfsError> {
    let req: VerifyRequest = read_json(&state, body, 64 << 10).await?;
    let oid = parse_oid(&req.oid)?;
    let repo = access(
        &state,
        &headers,
        &q,
        &target,
        Op::Verify,
        &oid,
        Some(req.size),
    )
    .await?;
    let linked = state.accounts().linked_object(repo.id, &oid).await?;
    let stored = state.store().size(&oid).await?;
    match (linked, stored) {
        (Some(_), Some(s)) if s == req.size => Ok(json(StatusCode::OK, &serde_json::json!({}))),
        (Some(_), Some(s)) => Err(LfsError::Unprocessable(format!(
            "object {oid} has {s} bytes, not {}",
            req.size
        ))),
        _ => Err(LfsError::NotFound(format!(
            "object {oid} not found in {}",
            repo.repo_ref()
        ))),
    }
}
