//! `POST .../info/lfs/objects/batch`: which objects to transfer, and signed links to do it.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hub_types::{LfsOid, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use super::sign::Op;
use super::{base_url, json, now, read_json, Lfs, LfsError, LINK_TTL_SECS};
use crate::edge::{Read, RepoAccess};
use crate::AppState;

/// The most objects one batch may name (git-lfs sends 100 at a time).
const MAX_OBJECTS: usize = 1000;
const MAX_BODY: usize = 10 << 20;

#[derive(Deserialize)]
pub(crate) struct BatchRequest {
    operation: String,
    #[serde(default)]
    transfers: Vec<String>,
    #[serde(default)]
    objects: Vec<Value>,
    hash_algo: Option<String>,
}

/// Reading is checked on the way in; an upload also needs write, which the body tells.
pub async fn batch(
    State(state): State<AppState>,
    access: RepoAccess<Lfs, Read>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, LfsError> {
    let req: BatchRequest = read_json(&state, body, MAX_BODY).await?;
    let upload = match req.operation.as_str() {
        "upload" => true,
        "download" => false,
        other => {
            return Err(LfsError::Unprocessable(format!(
                "unknown operation {other:?}: expected upload or download"
            )))
        }
    };
    if req.objects.len() > MAX_OBJECTS {
        return Err(LfsError::TooLarge(format!(
            "{} objects in one batch; at most {MAX_OBJECTS} are allowed",
            req.objects.len()
        )));
    }
    if upload && !crate::edge::access::may_contribute(access.who.as_ref(), access.role) {
        access.require(Role::Write)?;
    }
    if !upload {
        let base = base_url(&state, &headers);
        match crate::gate::blocked(
            &state,
            &access.repo,
            access.who.as_ref(),
            access.role,
            &base,
        )
        .await
        .map_err(|e| LfsError::Internal(e.to_string()))?
        {
            None => {}
            Some(r) if r.anonymous => return Err(LfsError::AuthRequired),
            Some(r) => return Err(LfsError::Forbidden(r.message)),
        }
    }
    let repo = &access.repo;
    // Only `basic` is spoken; the client always offers it (or offers nothing, meaning basic).
    let _ = &req.transfers;
    let hash_ok = req.hash_algo.as_deref().is_none_or(|h| h == "sha256");

    let lfs_url = format!(
        "{}/{}.git/info/lfs",
        base_url(&state, &headers),
        repo.repo_ref()
    );
    let exp = now() + LINK_TTL_SECS;
    let signer = state.signer();
    let link = |op: Op, oid: &LfsOid, size: u64, path: &str| {
        let sig = signer.sign(op, repo.id, oid.as_str(), size, exp);
        json!({
            "href": format!("{lfs_url}/objects/{path}?size={size}&exp={exp}&sig={sig}"),
            "header": { "Authorization": format!("Signed exp={exp},sig={sig}") },
            "expires_in": LINK_TTL_SECS,
        })
    };

    // A namespace with a storage limit: objects that do not fit are refused one by one.
    let mut room = match upload {
        true => crate::quota::room(&state, repo).await?,
        false => None,
    };
    // Uploads claim every object first (one statement for the batch), before looking whether
    // it is here: a garbage collector running now leaves them alone from here on.
    if upload {
        let names: Vec<String> = req
            .objects
            .iter()
            .filter_map(|o| o.get("oid").and_then(Value::as_str))
            .filter_map(|o| LfsOid::parse(o).ok())
            .map(|o| content_store::lfs_claim(o.as_str()))
            .collect();
        state.accounts().claim(&names).await?;
    }
    let mut out = Vec::with_capacity(req.objects.len());
    for obj in &req.objects {
        let raw_oid = obj.get("oid").and_then(Value::as_str).unwrap_or_default();
        let size = obj.get("size").and_then(Value::as_i64);
        let error = |code: u16, message: String| json!({ "oid": raw_oid, "size": size, "error": { "code": code, "message": message } });
        let oid = match LfsOid::parse(raw_oid) {
            Ok(o) => o,
            Err(e) => {
                out.push(error(422, e.to_string()));
                continue;
            }
        };
        let Some(size) = size.and_then(|s| u64::try_from(s).ok()) else {
            out.push(error(422, "size must be a non-negative integer".into()));
            continue;
        };
        if !hash_ok {
            let algo = req.hash_algo.as_deref().unwrap_or_default();
            out.push(error(
                409,
                format!("hash algorithm {algo:?} is not supported; use sha256"),
            ));
            continue;
        }
        let linked = state.accounts().linked_object(repo.id, &oid).await?;
        let stored = match linked {
            Some(_) => state.store().size(&oid).await?,
            None => None,
        };
        if upload {
            let max = state.config().max_lfs_object_size;
            if size > max {
                out.push(error(
                    413,
                    format!("object is {size} bytes; the limit is {max} bytes"),
                ));
            } else if stored == Some(size) && linked == Some(size) {
                // Already here: no actions means nothing to upload.
                out.push(json!({ "oid": oid, "size": size, "authenticated": true }));
            } else {
                if let Some(room) = &mut room {
                    if let Err(message) = room.take(&state, oid.as_str(), size).await? {
                        out.push(error(507, message));
                        continue;
                    }
                }
                let actions = json!({
                    "upload": link(Op::Upload, &oid, size, oid.as_str()),
                    "verify": link(Op::Verify, &oid, size, "verify"),
                });
                out.push(
                    json!({ "oid": oid, "size": size, "authenticated": true, "actions": actions }),
                );
            }
        } else {
            match stored {
                Some(actual) => {
                    // Straight from the object store when it signs URLs (access was checked
                    // above); through this server otherwise.
                    let download = match state.direct_url(&oid).await? {
                        Some(href) => json!({
                            "href": href,
                            "expires_in": state.config().direct_url_ttl.as_secs(),
                        }),
                        None => link(Op::Download, &oid, actual, oid.as_str()),
                    };
                    let actions = json!({ "download": download });
                    out.push(json!({ "oid": oid, "size": actual, "authenticated": true, "actions": actions }));
                }
                None => out.push(error(
                    404,
                    format!("object {oid} not found in {}", repo.repo_ref()),
                )),
            }
        }
    }
    Ok(json(
        StatusCode::OK,
        &json!({ "transfer": "basic", "objects": out, "hash_algo": "sha256" }),
    ))
}
