//! The CAS download routes: reconstructions (v1 and v2, with `Range`), global dedup answers,
//! and the signed xorb byte ranges reconstructions point at.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hub_types::{LfsOid, Role};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use xet_store::{FileRecord, Plan};

use super::CasError;
use super::{blocking, cas_url, grant, hash_param, xet, Grant, URL_TTL};
use crate::edge::http::{parse_range, unix_now};
use crate::AppState;
use lfs_store::ByteRange;

/// The file `file` names, if the token's repo holds it. Other repos' files look missing.
async fn visible_file(
    state: &AppState,
    g: &Grant,
    file: &str,
) -> Result<Arc<FileRecord>, CasError> {
    let hash = hash_param(file, "the file id")?;
    let store = xet(state).clone();
    let missing = || CasError::NotFound(format!("file {file} not found"));
    let rec = blocking(move || store.file_by_xet_hash(&hash))
        .await?
        .ok_or_else(missing)?;
    let oid = LfsOid::parse(&rec.sha256).map_err(CasError::internal)?;
    let linked = state
        .accounts()
        .linked_object(g.repo_id, &oid)
        .await
        .map_err(CasError::internal)?;
    linked.map(|_| rec).ok_or_else(missing)
}

/// The `Range` of a reconstruction request as `[a, b+1)` of the file's `size` bytes (the
/// whole file when there is none, or none the shared parser understands).
fn file_range(headers: &HeaderMap, size: u64) -> Result<(u64, u64), CasError> {
    let value = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    Ok(match parse_range(value, size)? {
        Some(r) => (r.start, r.end + 1),
        None => (0, size),
    })
}

async fn plan_for(
    state: &AppState,
    headers: &HeaderMap,
    file: &str,
) -> Result<(Plan, u64), CasError> {
    let g = grant(state, headers, Role::Read).await?;
    let rec = visible_file(state, &g, file).await?;
    let (start, end) = file_range(headers, rec.size)?;
    let store = xet(state).clone();
    let plan = blocking(move || store.plan(&rec, start, end)).await?;
    Ok((plan, unix_now() + URL_TTL))
}

fn xorb_url(state: &AppState, base: &str, hash: &str, range: (u32, u32), exp: u64) -> String {
    let (a, b) = (range.0, range.1 - 1);
    let sig = state
        .signer()
        .sign_message(&format!("xet-xorb\n{hash}\n{a}\n{b}\n{exp}"));
    format!("{base}/xorb/{hash}?r={a}-{b}&x={exp}&s={sig}")
}

/// A presigned object-store URL for stored bytes `range.0..range.1` of a xorb, when direct
/// downloads are on and the store signs URLs.
async fn direct_xorb_url(
    state: &AppState,
    hash: &str,
    range: (u32, u32),
) -> Result<Option<String>, CasError> {
    let cfg = state.config();
    if !cfg.direct_downloads {
        return Ok(None);
    }
    let Some(xorb) = xet_store::parse_hash(hash) else {
        return Ok(None);
    };
    let r = ByteRange {
        start: u64::from(range.0),
        end: u64::from(range.1) - 1,
    };
    let key = xet_store::XetStore::xorb_key(&xorb);
    Ok(state
        .store()
        .backend()
        .presign(&key, Some(r), cfg.direct_url_ttl)
        .await?)
}

fn terms_json(plan: &Plan) -> Vec<Value> {
    plan.terms
        .iter()
        .map(|t| {
            json!({
                "hash": t.xorb.hex(),
                "unpacked_length": t.unpacked,
                "range": { "start": t.start, "end": t.end },
            })
        })
        .collect()
}

/// The distinct chunk ranges to fetch per xorb: (chunk start, chunk end, first stored byte,
/// end of stored bytes). Terms often repeat a range; each is listed once.
fn fetches(plan: &Plan) -> BTreeMap<String, BTreeSet<(u32, u32, u32, u32)>> {
    let mut out: BTreeMap<String, BTreeSet<_>> = BTreeMap::new();
    for t in &plan.terms {
        out.entry(t.xorb.hex())
            .or_default()
            .insert((t.start, t.end, t.stored.0, t.stored.1));
    }
    out
}

/// `GET /xet-cas/v1/reconstructions/{file}`.
pub(super) async fn reconstruction_v1(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, CasError> {
    reconstruction(&state, &file, &headers, false).await
}

/// `GET /xet-cas/v2/reconstructions/{file}`: the same terms, fetches keyed under `xorbs`.
pub(super) async fn reconstruction_v2(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, CasError> {
    reconstruction(&state, &file, &headers, true).await
}

async fn reconstruction(
    state: &AppState,
    file: &str,
    headers: &HeaderMap,
    v2: bool,
) -> Result<Response, CasError> {
    let (plan, exp) = plan_for(state, headers, file).await?;
    let base = cas_url(state, headers);
    let mut by_xorb = Map::new();
    for (hash, ranges) in fetches(&plan) {
        // One signed URL per range: a link allows exactly the bytes it names. With direct
        // downloads it is the object store's own presigned URL, whose signature covers the
        // Range header: a xorb can hold chunks of other files, so a link to all of it would
        // give away more than this file.
        let mut list = Vec::with_capacity(ranges.len());
        for &(s, e, a, b) in &ranges {
            let url = match direct_xorb_url(state, &hash, (a, b)).await? {
                Some(url) => url,
                None => xorb_url(state, &base, &hash, (a, b), exp),
            };
            let chunks = json!({ "start": s, "end": e });
            let bytes = json!({ "start": a, "end": b - 1 });
            list.push(if v2 {
                json!({ "url": url, "ranges": [{ "chunks": chunks, "bytes": bytes }] })
            } else {
                json!({ "range": chunks, "url": url, "url_range": bytes })
            });
        }
        by_xorb.insert(hash, Value::Array(list));
    }
    let mut out = Map::new();
    out.insert(
        "offset_into_first_range".into(),
        plan.offset_into_first_range.into(),
    );
    out.insert("terms".into(), Value::Array(terms_json(&plan)));
    let key = if v2 { "xorbs" } else { "fetch_info" };
    out.insert(key.into(), Value::Object(by_xorb));
    Ok(Json(Value::Object(out)).into_response())
}

/// `GET /xet-cas/v1/chunks/default-merkledb/{hash}`: a shard listing xorbs that hold the
/// chunk, or 404.
pub(super) async fn dedup(
    State(state): State<AppState>,
    Path((prefix, hash)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, CasError> {
    grant(&state, &headers, Role::Read).await?;
    // The spec names `default-merkledb`; hf_xet 1.8 asks under `default`.
    if prefix != "default-merkledb" && prefix != "default" {
        return Err(CasError::BadRequest(
            "the dedup prefix must be \"default-merkledb\"".into(),
        ));
    }
    let hash = hash_param(&hash, "the chunk hash")?;
    let store = xet(&state).clone();
    match blocking(move || store.dedup_shard(&hash)).await? {
        Some(bytes) => {
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
        None => Err(CasError::NotFound("chunk not found".into())),
    }
}

#[derive(Deserialize)]
pub(super) struct XorbLink {
    r: String,
    x: u64,
    s: String,
}

/// `GET /xet-cas/xorb/{hash}?r=a-b&x=exp&s=sig`: stored bytes of a xorb, within the range the
/// link was signed for.
pub(super) async fn xorb_range(
    State(state): State<AppState>,
    Path(hash): Path<String>,
    Query(q): Query<XorbLink>,
    headers: HeaderMap,
) -> Result<Response, CasError> {
    let xorb = hash_param(&hash, "the xorb hash")?;
    let forbidden = || CasError::Forbidden("the xorb link is invalid or expired".into());
    let (a, b) = q.r.split_once('-').ok_or_else(forbidden)?;
    let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) else {
        return Err(forbidden());
    };
    let msg = format!("xet-xorb\n{}\n{a}\n{b}\n{}", xorb.hex(), q.x);
    if q.x <= unix_now() || a > b || !state.signer().verify_message(&msg, &q.s) {
        return Err(forbidden());
    }
    let key = xet_store::XetStore::xorb_key(&xorb);
    let blobs = state.store().backend();
    let len = blobs
        .size(&key)
        .await?
        .ok_or_else(|| CasError::NotFound("xorb not found".into()))?;
    if b >= len {
        return Err(CasError::RangeNotSatisfiable(len));
    }
    // The client sends the signed range as its Range header; a narrower one is fine too.
    // Read against no size, so the range asked is judged as asked, not clamped to the xorb.
    let value = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (start, end) = match parse_range(value, u64::MAX)? {
        Some(r) if r.start < a || r.end > b => return Err(forbidden()),
        Some(r) => (r.start, r.end),
        None => (a, b),
    };
    let n = end - start + 1;
    let stream = blobs.get(&key, Some(ByteRange { start, end })).await?;
    Ok((
        StatusCode::PARTIAL_CONTENT,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, n.to_string()),
            (header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
