//! `GET /api/{type}s/{id}` and `/api/{type}s/{id}/revision/{rev}`: a repo described as the Hub
//! describes it (`model_info`, `dataset_info`, `space_info`, `repo_exists`, `revision_exists`,
//! and the first call of `snapshot_download`), and what each repo of a namespace stores
//! (`GET /api/settings/repositories`, `hf repos ls`).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use git_repos::{EntryKind, DEFAULT_BRANCH};
use hub_types::{LfsOid, RepoType};
use repo_rules::{parse_lfs_pointer, LfsPointer};
use serde_json::{json, Map, Value};

use super::{with_reader, HfError, Hub};
use crate::edge::http::iso_time;
use crate::edge::{At, RepoAccess};
use crate::AppState;

/// Text files read whole to describe the repo (the card, config.json).
const MAX_DESCRIBE: u64 = 1 << 20;

pub async fn info(
    state: State<AppState>,
    access: RepoAccess<Hub>,
    q: Query<Vec<(String, String)>>,
) -> Result<Response, HfError> {
    describe(state, access, DEFAULT_BRANCH.to_owned(), q).await
}

pub async fn info_at(
    state: State<AppState>,
    access: RepoAccess<Hub>,
    at: At<Hub>,
    q: Query<Vec<(String, String)>>,
) -> Result<Response, HfError> {
    describe(state, access, at.rev.to_string(), q).await
}

/// A file of the tree, with its LFS pointer if it is one.
pub struct File {
    pub path: String,
    pub oid: String,
    pub size: u64,
    pub lfs: Option<LfsPointer>,
}

impl File {
    /// The size of the content (the LFS object's, for an LFS file).
    pub fn real_size(&self) -> u64 {
        self.lfs.as_ref().map_or(self.size, |p| p.size)
    }

    /// A `siblings` entry; with `blobs`, sizes and ids as the Hub sends them.
    fn sibling(&self, blobs: bool) -> Value {
        let mut v = json!({ "rfilename": self.path });
        if blobs {
            v["size"] = json!(self.real_size());
            v["blobId"] = json!(self.oid);
            if let Some(p) = &self.lfs {
                v["lfs"] = json!({ "sha256": p.oid, "size": p.size, "pointerSize": self.size });
            }
        }
        v
    }
}

async fn describe(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    rev: String,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, HfError> {
    let (repo, path) = (&access.repo, access.path(&state));
    let flag = |k: &str| {
        q.iter()
            .any(|(key, v)| key == k && (v == "true" || v == "1"))
    };
    let expand: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "expand" || k == "expand[]")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut out = summary(&state, repo, path, rev, flag("blobs"), true).await?;
    // The summary's `usedStorage` is the size of the files at that commit (what listings and
    // the pages show); model_info's is what the repo takes, its whole history and git data
    // included, reckoned only when asked for.
    out.remove("usedStorage");
    if expand.contains(&"usedStorage") {
        out.insert(
            "usedStorage".into(),
            json!(used_storage(&state, repo).await?),
        );
    }
    if expand.contains(&"childrenModelCount") && repo.repo_type == RepoType::Model {
        let id = repo.repo_ref().id.to_string();
        let n = children_count(&state, access.who.as_ref(), &id, None).await?;
        out.insert("childrenModelCount".into(), json!(n));
    }
    if !expand.is_empty() {
        out.retain(|k, _| k == "id" || k == "_id" || expand.contains(&k.as_str()));
    }
    Ok(Json(Value::Object(out)).into_response())
}

/// How many models the caller may see name `id` as a base (with `relation`, if given).
pub(crate) async fn children_count(
    state: &AppState,
    who: Option<&accounts::Principal>,
    id: &str,
    relation: Option<&str>,
) -> Result<u64, HfError> {
    let tag = match relation {
        Some(r) => format!("base_model:{r}:{id}"),
        None => format!("base_model:{id}"),
    };
    let tags = [tag.as_str()];
    let q = accounts::ListQuery {
        repo_type: RepoType::Model,
        viewer: who,
        search: "",
        author: None,
        tags: &tags,
        pipeline_tag: None,
        sort: accounts::ListSort::Id,
        descending: false,
        offset: 0,
        limit: 1,
        params: None,
        gated: None,
    };
    Ok(state
        .accounts()
        .count_summaries(&q, super::list::COUNT_CAP)
        .await?)
}

/// The bytes `repo` takes (`usedStorage`): its distinct LFS objects, stored whole or through
/// Xet, and its git data on disk.
/// Kept for half a minute (`Caches::used`).
pub async fn used_storage(state: &AppState, repo: &accounts::Repo) -> Result<u64, HfError> {
    let key = crate::repo_key(repo);
    if let Some(n) = state.inner.caches.used.get(&key) {
        return Ok(n);
    }
    let lfs = state.accounts().linked_bytes(repo.id).await?;
    let path = state.repos().path(&repo.repo_ref());
    let git = tokio::task::spawn_blocking(move || git_repos::disk_usage(&path))
        .await
        .map_err(HfError::internal)?
        .map_err(HfError::internal)?;
    state.inner.caches.used.put(key, lfs + git);
    Ok(lfs + git)
}

/// `GET /api/settings/repositories` (the caller's own repos) and
/// `GET /api/organizations/{name}/settings/repositories` (an organisation's, for its members):
/// each repo with what it stores, as `list_user_repos` and `hf repos ls` read it.
pub async fn storage_of_mine(
    state: State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, HfError> {
    let who = crate::edge::access::principal(&state, &headers)
        .await?
        .ok_or(HfError::Unauthorized)?;
    storage_listing(&state, &who.name.clone()).await
}

pub async fn storage_of_org(
    state: State<AppState>,
    headers: axum::http::HeaderMap,
    axum::extract::Path(org): axum::extract::Path<String>,
) -> Result<Response, HfError> {
    let who = crate::edge::access::principal(&state, &headers)
        .await?
        .ok_or(HfError::Unauthorized)?;
    let member = state
        .accounts()
        .org_role(who.user_id, &org)
        .await?
        .is_some();
    if !member && !who.is_admin {
        return Err(HfError::Forbidden(format!(
            "only members of {org} can list its repositories' storage"
        )));
    }
    storage_listing(&state, &org).await
}

async fn storage_listing(state: &AppState, ns: &str) -> Result<Response, HfError> {
    let repos = state.accounts().namespace_repos(ns).await?;
    let modified = state.accounts().namespace_last_modified(ns).await?;
    let mut sizes = Vec::with_capacity(repos.len());
    for r in &repos {
        sizes.push(used_storage(state, r).await?);
    }
    let total: u64 = sizes.iter().sum();
    let items: Vec<Value> = repos
        .iter()
        .zip(&sizes)
        .map(|(r, &size)| {
            json!({
                "id": r.repo_ref().id.to_string(),
                "type": r.repo_type.as_str(),
                "updatedAt": modified.get(&r.id).unwrap_or(&r.created_at),
                "visibility": if r.private { "private" } else { "public" },
                "storage": size,
                "storagePercent": if total == 0 { 0.0 } else { size as f64 * 100.0 / total as f64 },
            })
        })
        .collect();
    Ok(Json(Value::Array(items)).into_response())
}

/// A repo's `gated` as the Hub shows it: `false`, `"auto"` or `"manual"`.
pub(crate) fn gated_json(g: &str) -> Value {
    match g {
        "auto" | "manual" => json!(g),
        _ => json!(false),
    }
}

/// The Hub's description of `repo` at `rev`, as `model_info` and the listings show it.
pub async fn summary(
    state: &AppState,
    repo: &accounts::Repo,
    path: std::path::PathBuf,
    rev: String,
    blobs: bool,
    with_siblings: bool,
) -> Result<Map<String, Value>, HfError> {
    // What a commit holds never changes: describe it once, then only refresh what lives in
    // the registry (visibility, downloads).
    let commit_id = super::commit_of(state, repo, &rev).await?;
    let key = (
        crate::repo_key(repo),
        commit_id.clone(),
        blobs,
        with_siblings,
    );
    let mut out = match state.inner.caches.summaries.get(&key) {
        Some(hit) => (*hit).clone(),
        None => {
            let described =
                describe_commit(state, repo, path, commit_id, blobs, with_siblings).await?;
            state
                .inner
                .caches
                .summaries
                .put(key, std::sync::Arc::new(described.clone()));
            described
        }
    };
    out.insert("_id".into(), json!(repo.id.to_string()));
    out.insert("private".into(), json!(repo.private));
    out.insert("downloads".into(), json!(repo.downloads));
    let likes = state.accounts().likes_among(&[repo.id]).await?;
    out.insert(
        "likes".into(),
        json!(likes.get(&repo.id).copied().unwrap_or(0)),
    );
    out.insert(
        "gated".into(),
        gated_json(&crate::gate::mode(state, repo).await?),
    );
    out.insert("createdAt".into(), json!(repo.created_at));
    Ok(out)
}

async fn describe_commit(
    state: &AppState,
    repo: &accounts::Repo,
    path: std::path::PathBuf,
    rev: String,
    blobs: bool,
    with_siblings: bool,
) -> Result<Map<String, Value>, HfError> {
    let (commit, files, readme, config) = with_reader(state, path, move |r| {
        let commit = r.resolve(&rev)?;
        let mut files = Vec::new();
        let (mut readme, mut config) = (None, None);
        for e in r.list(&commit, "", true)?.unwrap_or_default() {
            if e.kind != EntryKind::File {
                continue;
            }
            let small = e.size < 1024;
            let wanted =
                (e.path == "README.md" || e.path == "config.json") && e.size <= MAX_DESCRIBE;
            let data = if small || wanted {
                Some(r.blob(&e.oid)?)
            } else {
                None
            };
            let lfs = data
                .as_deref()
                .filter(|_| small)
                .and_then(parse_lfs_pointer)
                .and_then(Result::ok);
            if lfs.is_none() {
                match e.path.as_str() {
                    "README.md" => readme = data,
                    "config.json" => config = data,
                    _ => {}
                }
            }
            files.push(File {
                path: e.path,
                oid: e.oid,
                size: e.size,
                lfs,
            });
        }
        Ok((commit, files, readme, config))
    })
    .await?;

    let card = readme.as_deref().and_then(repo_rules::card_metadata);
    let id = repo.repo_ref().id.to_string();
    let mut out = Map::new();
    out.insert("_id".into(), json!(repo.id.to_string()));
    out.insert("id".into(), json!(id));
    if repo.repo_type == RepoType::Model {
        out.insert("modelId".into(), json!(id));
    }
    out.insert("author".into(), json!(repo.namespace.as_str()));
    out.insert("sha".into(), json!(commit.id));
    out.insert("lastModified".into(), json!(iso_time(commit.time)));
    out.insert("createdAt".into(), json!(repo.created_at));
    out.insert("private".into(), json!(repo.private));
    out.insert("gated".into(), json!(false));
    out.insert("disabled".into(), json!(false));
    out.insert("downloads".into(), json!(repo.downloads));
    out.insert("likes".into(), json!(0));
    out.insert("tags".into(), json!(tags(card.as_ref(), &files)));
    if repo.repo_type == RepoType::Model {
        if let Some((relation, bases)) = base_models(card.as_ref(), &files) {
            let models: Vec<Value> = bases.iter().map(|b| json!({ "id": b })).collect();
            out.insert(
                "baseModels".into(),
                json!({ "relation": relation, "models": models }),
            );
        }
    }
    if let Some(card) = &card {
        for key in ["pipeline_tag", "library_name"] {
            if let Some(v) = card.get(key).filter(|v| v.is_string()) {
                out.insert(key.into(), v.clone());
            }
        }
        out.insert("cardData".into(), Value::Object(card.clone()));
        // The evaluation results, as the Hub returns them beside the card (`model_index`).
        if let Some(mi) = card.get("model-index").filter(|v| v.is_array()) {
            out.insert("model-index".into(), mi.clone());
        }
    }
    if with_siblings {
        out.insert(
            "siblings".into(),
            json!(files.iter().map(|f| f.sibling(blobs)).collect::<Vec<_>>()),
        );
    }
    out.insert(
        "usedStorage".into(),
        json!(files.iter().map(File::real_size).sum::<u64>()),
    );
    if let Some(st) = safetensors(state, repo.id, &files).await? {
        out.insert("safetensors".into(), st);
    }
    if let Some(Value::Object(c)) = config
        .as_deref()
        .and_then(|c| serde_json::from_slice(c).ok())
    {
        let subset: Map<String, Value> = c
            .into_iter()
            .filter(|(k, _)| k == "architectures" || k == "model_type")
            .collect();
        out.insert("config".into(), Value::Object(subset));
    }
    Ok(out)
}

/// The card's tags plus the ones the Hub derives: library, formats, task, languages, license,
/// base models and datasets.
fn tags(card: Option<&Map<String, Value>>, files: &[File]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |t: String| {
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    };
    let list = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let card = card.cloned().unwrap_or_default();
    for t in list(card.get("library_name")) {
        add(t);
    }
    for (ext, tag) in [
        (".safetensors", "safetensors"),
        (".gguf", "gguf"),
        (".onnx", "onnx"),
    ] {
        if files.iter().any(|f| f.path.ends_with(ext)) {
            add(tag.into());
        }
    }
    for t in list(card.get("pipeline_tag")) {
        add(t);
    }
    for t in list(card.get("tags")) {
        add(t);
    }
    for t in list(card.get("language")) {
        add(t);
    }
    for t in list(card.get("license")) {
        add(format!("license:{t}"));
    }
    // The model tree, as the Hub tags it: each base, and each base with the relation.
    if let Some((relation, bases)) = base_models(Some(&card), files) {
        for b in &bases {
            add(format!("base_model:{b}"));
            add(format!("base_model:{relation}:{b}"));
        }
    }
    for t in list(card.get("datasets")) {
        add(format!("dataset:{t}"));
    }
    out
}

/// How a model relates to its bases (`base_model` in its card), as the Hub infers it when the
/// card does not say (`base_model_relation`): an adapter config makes an adapter, GGUF weights
/// alone a quantization, several bases a merge, else a fine-tune. `None` without a base.
pub(crate) fn base_models(
    card: Option<&Map<String, Value>>,
    files: &[File],
) -> Option<(&'static str, Vec<String>)> {
    let card = card?;
    let bases: Vec<String> = match card.get("base_model")? {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let bases: Vec<String> = bases
        .into_iter()
        .filter(|b| hub_types::RepoId::parse(b).is_ok() || hub_types::Name::parse(b).is_ok())
        .take(32)
        .collect();
    if bases.is_empty() {
        return None;
    }
    const RELATIONS: [&str; 4] = ["adapter", "merge", "quantized", "finetune"];
    let stated = card
        .get("base_model_relation")
        .and_then(Value::as_str)
        .and_then(|r| RELATIONS.iter().find(|x| **x == r).copied());
    let has = |ext: &str| files.iter().any(|f| f.path.ends_with(ext));
    let relation = stated.unwrap_or(
        if files
            .iter()
            .any(|f| f.path.ends_with("adapter_config.json"))
        {
            "adapter"
        } else if has(".gguf") && !has(".safetensors") && !has(".bin") {
            "quantized"
        } else if bases.len() > 1 {
            "merge"
        } else {
            "finetune"
        },
    );
    Some((relation, bases))
}

/// `{parameters: {dtype: n}, total}` over the safetensors files whose headers validation read.
async fn safetensors(
    state: &AppState,
    repo_id: i64,
    files: &[File],
) -> Result<Option<Value>, HfError> {
    let mut infos = Vec::new();
    for f in files.iter().filter(|f| f.path.ends_with(".safetensors")) {
        let Some(p) = &f.lfs else { continue };
        let Ok(oid) = LfsOid::parse(&p.oid) else {
            continue;
        };
        if let Some(json) = state.accounts().weights(repo_id, &oid).await? {
            if let Ok(w) = serde_json::from_str::<Value>(&json) {
                infos.push(w);
            }
        }
    }
    if infos.is_empty() {
        return Ok(None);
    }
    let mut parameters: BTreeMap<String, u64> = BTreeMap::new();
    for w in &infos {
        for (dtype, n) in w["parameters"].as_object().into_iter().flatten() {
            *parameters.entry(dtype.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
    }
    let total: u64 = parameters.values().sum();
    Ok(Some(json!({ "parameters": parameters, "total": total })))
}

/// `GET /api/{T}/{id}/mirror`: where a mirror comes from, its last sync and what the
/// validator found in what it imported (404 for a repo that is not a mirror).
pub async fn mirror(
    State(state): State<AppState>,
    access: crate::edge::RepoAccess<super::Hub>,
) -> Result<axum::response::Response, HfError> {
    use axum::response::IntoResponse;
    let repo = &access.repo;
    let m = state
        .accounts()
        .mirror(repo.id)
        .await?
        .ok_or_else(|| HfError::NotFound(format!("{} is not a mirror", repo.repo_ref().id)))?;
    let warnings: Vec<String> = serde_json::from_str(&m.findings).unwrap_or_default();
    Ok(axum::Json(json!({
        "upstream": format!("{}/{}{}", m.upstream, repo.repo_type.url_prefix(), m.upstream_repo),
        "lastSyncAt": m.last_sync_at,
        "lastError": m.last_error,
        "warnings": warnings,
    }))
    .into_response())
}
