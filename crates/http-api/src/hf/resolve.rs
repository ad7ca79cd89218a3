//! `HEAD` and `GET /{[type]s/}{id}/resolve/{rev}/{path}`: the call behind `hf_hub_download`,
//! `snapshot_download`, `file_exists` and every `from_pretrained`. LFS files stream from the
//! store (ranged, never whole in memory); plain files come from git, read only for a `GET`
//! (a `HEAD` needs only their size) and under the server's budget for plain blobs.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use git_repos::EntryKind;
use hub_types::{LfsOid, RepoType};
use repo_rules::parse_lfs_pointer;

use super::{full_sha, with_reader, HfError, Hub};
use crate::edge::http::{parse_range, percent_encode, public_base};
use crate::edge::{At, RepoAccess};
use crate::AppState;

/// What a path at a revision resolved to. At a given commit it never changes, so small
/// answers are cached by (repo, commit, path).
pub(crate) enum Found {
    Missing(String),
    Lfs {
        commit: String,
        oid: String,
        size: u64,
        /// The Xet file hash when the object is stored through Xet (looked up once, with the
        /// path, rather than on every request).
        xet_hash: Option<String>,
    },
    Plain {
        commit: String,
        oid: String,
        size: u64,
        /// The bytes of a small file (up to `CACHED_BYTES`); larger ones are read per `GET`.
        data: Option<Bytes>,
    },
}

impl Found {
    fn commit(&self) -> &str {
        match self {
            Found::Missing(c) | Found::Lfs { commit: c, .. } | Found::Plain { commit: c, .. } => c,
        }
    }
}

/// Plain files up to this size are kept in the cache with their bytes.
const CACHED_BYTES: u64 = 16 << 10;

async fn lookup(
    state: &AppState,
    repo: &accounts::Repo,
    path: &std::path::Path,
    rev: &str,
    file: &str,
) -> Result<Arc<Found>, HfError> {
    let caches = &state.inner.caches;
    let key = crate::repo_key(repo);
    let commit = match full_sha(rev) {
        true => Some(rev.to_owned()),
        false => caches.revisions.get(&(key.clone(), rev.to_owned())),
    };
    if let Some(c) = commit {
        if let Some(hit) = caches.files.get(&(key.clone(), c, file.to_owned())) {
            return Ok(hit);
        }
    }
    let epoch = caches.revisions.epoch();
    let (rev2, file2) = (rev.to_owned(), file.to_owned());
    let found = with_reader(state, path.to_owned(), move |r| {
        let commit = r.resolve(&rev2)?;
        let Some(e) = r
            .entry(&commit, &file2)?
            .filter(|e| e.kind == EntryKind::File && !e.path.is_empty())
        else {
            return Ok(Found::Missing(commit.id));
        };
        // LFS pointers are far smaller than CACHED_BYTES: a larger file is plain.
        if e.size > CACHED_BYTES {
            return Ok(Found::Plain {
                commit: commit.id,
                oid: e.oid,
                size: e.size,
                data: None,
            });
        }
        let data = r.blob(&e.oid)?;
        if let Some(Ok(p)) = parse_lfs_pointer(&data) {
            return Ok(Found::Lfs {
                commit: commit.id,
                oid: p.oid,
                size: p.size,
                xet_hash: None,
            });
        }
        Ok(Found::Plain {
            commit: commit.id,
            oid: e.oid,
            size: e.size,
            data: Some(Bytes::from(data)),
        })
    })
    .await?;
    let found = match found {
        Found::Lfs {
            commit, oid, size, ..
        } => {
            let xet_hash = crate::xet::xet_hash_of(state, &oid).await;
            Found::Lfs {
                commit,
                oid,
                size,
                xet_hash,
            }
        }
        other => other,
    };
    let found = Arc::new(found);
    if !full_sha(rev) {
        caches.revisions.put_since(
            epoch,
            (key.clone(), rev.to_owned()),
            found.commit().to_owned(),
        );
    }
    // Every answer is small now: large plain files are kept without their bytes.
    caches.files.put(
        (key, found.commit().to_owned(), file.to_owned()),
        found.clone(),
    );
    Ok(found)
}

pub async fn resolve(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    at: At<Hub>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    let (repo, path) = (&access.repo, access.path(&state));
    let base = public_base(&state, &headers);
    if let Some(refusal) =
        crate::gate::blocked(&state, repo, access.who.as_ref(), access.role, &base).await?
    {
        return Err(refusal.into());
    }
    let (t, rev, file) = (repo.repo_type, at.rev.to_string(), at.path);
    let found = lookup(&state, repo, &path, &rev, &file).await?;

    let (commit, etag, size) = match &*found {
        Found::Missing(commit) => {
            return Err(HfError::EntryNotFound {
                path: file,
                commit: commit.clone(),
            })
        }
        Found::Lfs {
            commit, oid, size, ..
        } => (commit.clone(), oid.clone(), *size),
        Found::Plain {
            commit, oid, size, ..
        } => (commit.clone(), oid.clone(), *size),
    };
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = parse_range(range_header, size)?;
    let head = method == Method::HEAD;
    // Downloads are counted as the Hub counts them: one per fetch of a model's config.json
    // (every from_pretrained reads it), not one per file.
    if !head && t == RepoType::Model && file == "config.json" {
        state.inner.downloads.count(repo.id);
    }
    let body = match &*found {
        Found::Missing(_) => unreachable!("answered above"),
        Found::Lfs { oid, .. } => {
            let oid = LfsOid::parse(oid).map_err(HfError::internal)?;
            // The pointer is in the repo, so the object was linked when it was pushed; if the
            // repo no longer holds it, its owner purged it (`permanently_delete_lfs_files`)
            // and the file has no content here any more.
            if state
                .accounts()
                .linked_object(repo.id, &oid)
                .await?
                .is_none()
            {
                tracing::info!(repo = %repo.repo_ref(), %file, %oid, "a file whose LFS object the repo no longer holds");
                return Err(HfError::EntryNotFound {
                    path: file,
                    commit: commit.clone(),
                });
            }
            // Straight from the object store, as the Hub redirects to its CDN: the answer
            // carries the metadata clients read (huggingface_hub takes it from this very
            // response and sends no token to the store).
            if let Some(url) = state.direct_url(&oid).await? {
                let v = |s: &str| HeaderValue::from_str(s).map_err(HfError::internal);
                let mut res = StatusCode::FOUND.into_response();
                let h = res.headers_mut();
                h.insert(header::LOCATION, v(&url)?);
                h.insert(header::ETAG, v(&format!("\"{etag}\""))?);
                h.insert("x-linked-etag", v(&format!("\"{etag}\""))?);
                h.insert("x-linked-size", v(&size.to_string())?);
                h.insert("x-repo-commit", v(&commit)?);
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return Ok(res);
            }
            if head {
                Body::empty()
            } else {
                Body::from_stream(state.store().get(&oid, range).await?)
            }
        }
        Found::Plain { .. } if head => Body::empty(),
        Found::Plain {
            data: Some(data), ..
        } => match range {
            Some(r) => Body::from(data.slice(r.start as usize..=r.end as usize)),
            None => Body::from(data.clone()),
        },
        Found::Plain {
            oid,
            size,
            data: None,
            ..
        } => {
            let share = state.inner.blobs.take(*size).await;
            let oid = oid.clone();
            let data = Bytes::from(with_reader(&state, path.clone(), move |r| r.blob(&oid)).await?);
            let share = share.keep(*size);
            if data.len() as u64 != *size {
                return Err(HfError::Internal(format!(
                    "{file}: git's blob is not the size its header gave"
                )));
            }
            let data = match range {
                Some(r) => data.slice(r.start as usize..=r.end as usize),
                None => data,
            };
            crate::blob_budget::body(data, share)
        }
    };
    let lfs = etag.len() == 64;
    let xet_hash = match &*found {
        Found::Lfs { xet_hash, .. } => xet_hash.clone(),
        _ => None,
    };
    let (status, len) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.len()),
        None => (StatusCode::OK, size),
    };
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    let v = |s: &str| HeaderValue::from_str(s).expect("ASCII header value");
    h.insert(header::CONTENT_LENGTH, v(&len.to_string()));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, v(&format!("\"{etag}\"")));
    h.insert("x-repo-commit", v(&commit));
    if lfs {
        h.insert("x-linked-etag", v(&format!("\"{etag}\"")));
        h.insert("x-linked-size", v(&size.to_string()));
    }
    // A Xet-stored file: hf_xet clients fetch it chunk-wise through the CAS (reusing chunks
    // they already have) with a read token from the linked route; others read the body.
    if let Some(x) = xet_hash {
        let base = public_base(&state, &headers);
        let route =
            super::xet_token::read_token_route(&base, t, &repo.repo_ref().id.to_string(), &commit);
        h.insert("x-xet-hash", v(&x));
        h.insert(header::LINK, v(&format!("<{route}>; rel=\"xet-auth\"")));
    }
    let base = file.rsplit('/').next().unwrap_or(&file);
    let ascii: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    h.insert(
        header::CONTENT_DISPOSITION,
        v(&format!(
            "inline; filename*=UTF-8''{}; filename=\"{ascii}\"",
            percent_encode(base)
        )),
    );
    if let Some(r) = range {
        h.insert(
            header::CONTENT_RANGE,
            v(&format!("bytes {}-{}/{size}", r.start, r.end)),
        );
    }
    Ok(res)
}
