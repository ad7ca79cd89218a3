//! `GET /api/{type}s/{id}/tree/{rev}[/{path}]` (`list_repo_tree`, `list_repo_files`,
//! `snapshot_download`) and `POST /api/{type}s/{id}/paths-info/{rev}`.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use git_repos::{EntryKind, ReadError, Reader, TreeEntry};
use repo_rules::parse_lfs_pointer;
use serde_json::{json, Value};

use super::{with_reader, HfError, Hub};
use crate::edge::http::{iso_time, percent_encode, public_base};
use crate::edge::{At, RepoAccess};
use crate::AppState;

const PAGE_EXPANDED: usize = 50;
/// How far back `expand=true` looks for the commit that last changed an entry.
const MAX_HISTORY: usize = 10_000;

/// The JSON of one tree entry; LFS files get their object's size and an `lfs` block.
fn entry_json(r: &Reader, e: &TreeEntry) -> Result<Value, ReadError> {
    if e.kind == EntryKind::Dir {
        return Ok(json!({ "type": "directory", "oid": e.oid, "size": 0, "path": e.path }));
    }
    let pointer = if e.size < 1024 {
        parse_lfs_pointer(&r.blob(&e.oid)?).and_then(Result::ok)
    } else {
        None
    };
    let mut v = json!({ "type": "file", "oid": e.oid, "size": e.size, "path": e.path });
    if let Some(p) = pointer {
        v["size"] = json!(p.size);
        v["lfs"] = json!({ "oid": p.oid, "size": p.size, "pointerSize": e.size });
    }
    Ok(v)
}

/// `.../tree/{rev}` and `.../tree/{rev}/{*path}`.
pub async fn tree(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    at: At<Hub>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    let (repo, path) = (&access.repo, access.path(&state));
    let (rev, dir) = (at.rev.to_string(), at.path);
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let on = |k: &str| matches!(get(k), Some("true" | "1"));
    let recursive = on("recursive");
    let expand = on("expand");
    let full_page = state.config().api_page_size.max(1);
    let page = if expand {
        PAGE_EXPANDED.min(full_page)
    } else {
        full_page
    };
    let cursor: usize = get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let (rev2, dir2) = (rev.clone(), dir.clone());
    let (entries, more) = with_reader(&state, path, move |r| {
        let commit = r.resolve(&rev2)?;
        let Some(all) = r.list(&commit, &dir2, recursive)? else {
            return Ok(Err(commit.id));
        };
        let more = all.len() > cursor + page;
        let shown: Vec<&TreeEntry> = all.iter().skip(cursor).take(page).collect();
        let last = if expand {
            let paths: Vec<String> = shown.iter().map(|e| e.path.clone()).collect();
            r.last_commits(&commit, &paths, MAX_HISTORY)?
        } else {
            Default::default()
        };
        let mut out = Vec::new();
        for e in shown {
            let mut v = entry_json(r, e)?;
            if let Some(c) = last.get(&e.path) {
                v["lastCommit"] = json!({ "id": c.id, "title": c.title, "date": iso_time(c.time) });
            }
            out.push(v);
        }
        Ok(Ok((out, more)))
    })
    .await?
    .map_err(|commit| HfError::EntryNotFound {
        path: dir.clone(),
        commit,
    })?;

    let mut entries = entries;
    add_blob_facts(&state, repo, &mut entries, expand).await?;
    let mut res = Json(Value::Array(entries)).into_response();
    if more {
        let enc = |s: &str| percent_encode(s);
        let sub = if dir.is_empty() {
            String::new()
        } else {
            format!("/{}", enc(&dir))
        };
        let next = format!(
            "{}/api/{}/{}/tree/{}{sub}?recursive={recursive}&expand={}&cursor={}",
            public_base(&state, &headers),
            repo.repo_type.plural(),
            repo.repo_ref().id,
            enc(&rev),
            on("expand"),
            cursor + page
        );
        if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(res)
}

/// `POST .../paths-info/{rev}` with a form of `paths=...` (and `expand`): the entries that exist.
pub async fn paths_info(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    at: At<Hub>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, HfError> {
    let (path, rev) = (access.path(&state), at.rev.to_string());
    let expand = form
        .iter()
        .any(|(k, v)| k == "expand" && matches!(v.as_str(), "true" | "True" | "1"));
    let paths: Vec<String> = form
        .into_iter()
        .filter(|(k, _)| k == "paths" || k == "paths[]")
        .map(|(_, v)| v)
        .take(10_000)
        .collect();
    let entries = with_reader(&state, path, move |r| {
        let commit = r.resolve(&rev)?;
        let mut found = Vec::new();
        for p in &paths {
            if let Some(e) = r.entry(&commit, p)? {
                if !e.path.is_empty() {
                    found.push(e);
                }
            }
        }
        let last = if expand {
            let paths: Vec<String> = found.iter().map(|e| e.path.clone()).collect();
            r.last_commits(&commit, &paths, MAX_HISTORY)?
        } else {
            Default::default()
        };
        let mut out = Vec::new();
        for e in &found {
            let mut v = entry_json(r, e)?;
            if let Some(c) = last.get(&e.path) {
                v["lastCommit"] = json!({ "id": c.id, "title": c.title, "date": iso_time(c.time) });
            }
            out.push(v);
        }
        Ok(out)
    })
    .await?;
    let mut entries = entries;
    add_blob_facts(&state, &access.repo, &mut entries, expand).await?;
    Ok(Json(Value::Array(entries)).into_response())
}

/// Gives each LFS entry whose object the repo holds as a Xet file its `xetHash`, as the Hub
/// does: hf_xet then needs no HEAD to find it, and cross-repo copies (`lfs-files/duplicate`)
/// name it. With `expand`, every file entry also gets its `securityFileStatus`.
pub(super) async fn add_blob_facts(
    state: &AppState,
    repo: &accounts::Repo,
    entries: &mut [Value],
    expand: bool,
) -> Result<(), HfError> {
    let lfs: Vec<(usize, String)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let oid = hub_types::LfsOid::parse(v["lfs"]["oid"].as_str()?).ok()?;
            Some((i, oid.as_str().to_owned()))
        })
        .collect();
    let held = if lfs.is_empty() {
        Default::default()
    } else {
        let oids: Vec<String> = lfs.iter().map(|(_, o)| o.clone()).collect();
        state.accounts().linked_among(repo.id, &oids).await?
    };
    if expand {
        add_security(state, entries, &held).await?;
    }
    let wanted: Vec<(usize, String)> = lfs.into_iter().filter(|(_, o)| held.contains(o)).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let xet = state.store().xet().clone();
    let found = tokio::task::spawn_blocking(move || {
        wanted
            .into_iter()
            .filter_map(|(i, oid)| match xet.file_by_sha256(&oid) {
                Ok(Some(rec)) => Some(Ok((i, rec.file_hash.clone()))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(HfError::internal)?
    .map_err(HfError::internal)?;
    for (i, hash) in found {
        entries[i]["xetHash"] = json!(hash);
    }
    Ok(())
}

/// The Hub's `securityFileStatus` of each file entry, from what the validator recorded when
/// the file was pushed: an LFS file by its object (only one the repo holds), a file kept in
/// git by its blob. modelhub runs no antivirus, so `avScan` is null. A file the validator
/// never read is `unscanned`; one kept in git without a record is `safe` unless its name says
/// it is a pickle, since the validator reads every such blob for pickles.
async fn add_security(
    state: &AppState,
    entries: &mut [Value],
    held: &std::collections::HashSet<String>,
) -> Result<(), HfError> {
    let object = |v: &Value| -> Option<String> {
        if v["type"] != "file" {
            return None;
        }
        match v["lfs"]["oid"].as_str() {
            Some(oid) => held.contains(oid).then(|| oid.to_owned()),
            None => v["oid"].as_str().map(str::to_owned),
        }
    };
    let objects: Vec<String> = entries.iter().filter_map(object).collect();
    let scans = state.accounts().scans_among(&objects).await?;
    for v in entries.iter_mut().filter(|v| v["type"] == "file") {
        let recorded = object(v)
            .and_then(|o| scans.get(&o))
            .and_then(|s| serde_json::from_str::<Value>(s).ok());
        let (status, pickle) = match recorded {
            Some(s) => (s["status"].clone(), s["pickleImportScan"].clone()),
            None => {
                let path = v["path"].as_str().unwrap_or_default();
                let ext = path
                    .rsplit_once('.')
                    .map(|(_, e)| e.to_ascii_lowercase())
                    .unwrap_or_default();
                let pickle_named = repo_rules::PICKLE_EXTS.contains(&ext.as_str()) || ext == "bin";
                let status = if v["lfs"].is_object() || pickle_named {
                    "unscanned"
                } else {
                    "safe"
                };
                (json!(status), Value::Null)
            }
        };
        v["securityFileStatus"] = json!({
            "status": status,
            "avScan": null,
            "pickleImportScan": pickle,
        });
    }
    Ok(())
}
