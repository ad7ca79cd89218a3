//! `GET /api/models` (and datasets, spaces): search, author, tag filters, sorting and absolute
//! `Link` pagination (`list_models`); and `POST /api/validate-yaml` (the card rules behind the
//! Hub's request and response shapes).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use git_repos::DEFAULT_BRANCH;
use hub_types::RepoType;
use repo_rules::{ChangedFile, Severity};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::info::summary;
use super::HfError;
use crate::edge::access::principal;
use crate::edge::http::{percent_encode, public_base};
use crate::AppState;

pub async fn list(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    let t = crate::edge::repo::repo_type(&kind)?;
    let who = principal(&state, &headers).await?;
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let on = |k: &str| matches!(get(k), Some("true" | "1"));
    let search = get("search").unwrap_or_default().to_ascii_lowercase();
    let author = get("author").map(str::to_ascii_lowercase);
    let filters: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| v.as_str())
        .collect();
    let pipeline = get("pipeline_tag");
    let max = state.config().api_page_size.max(1);
    let limit = get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(max)
        .clamp(1, max);
    let cursor: usize = get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let full = on("full");
    let expand: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "expand" || k == "expand[]")
        .map(|(_, v)| v.as_str())
        .collect();

    let sort = get("sort").unwrap_or("id");
    let descending = match get("direction") {
        Some("1") | Some("asc") => false,
        Some(_) => true,
        None => sort != "id",
    };
    let query = RepoQuery {
        repo_type: t,
        search: &search,
        author: author.as_deref(),
        filters: &filters,
        pipeline,
        sort,
        descending,
        full,
    };
    let rows = find_repos(&state, who.as_ref(), &query).await?;
    let more = rows.len() > cursor + limit;
    let page: Vec<Value> = rows
        .iter()
        .skip(cursor)
        .take(limit)
        .cloned()
        .map(|mut m| {
            if !on("cardData") && !full {
                m.remove("cardData");
            }
            if !expand.is_empty() {
                m.retain(|k, _| k == "id" || k == "_id" || expand.contains(&k.as_str()));
            }
            Value::Object(m)
        })
        .collect();
    let mut res = Json(Value::Array(page)).into_response();
    if more {
        let kept: String = q
            .iter()
            .filter(|(k, _)| k != "cursor")
            .map(|(k, v)| format!("{}={}&", percent_encode(k), percent_encode(v)))
            .collect();
        let next = format!(
            "{}/api/{kind}?{kept}cursor={}",
            public_base(&state, &headers),
            cursor + limit
        );
        if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(res)
}

#[derive(Deserialize)]
pub struct YamlRequest {
    content: String,
    #[serde(rename = "repoType")]
    repo_type: Option<String>,
}

pub async fn validate_yaml(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<YamlRequest>,
) -> Result<Response, HfError> {
    let t: RepoType = req
        .repo_type
        .as_deref()
        .unwrap_or("model")
        .parse()
        .unwrap_or(RepoType::Model);
    if req.content.len() > repo_rules::MAX_TEXT {
        return Err(HfError::BadRequest("README.md is too large".into()));
    }
    let card = ChangedFile {
        path: "README.md".into(),
        size: req.content.len() as u64,
        content: req.content.into_bytes(),
    };
    let policy =
        repo_rules::Policy::load(&state.config().data_dir.join("policy.toml")).unwrap_or_default();
    let _ = headers;
    let findings = repo_rules::check(&[card], &repo_rules::CardOnly(t), &policy.for_repo(None));
    let msg = |f: &repo_rules::Finding| json!({ "message": f.message });
    let errors: Vec<Value> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(msg)
        .collect();
    let warnings: Vec<Value> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(msg)
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((
        status,
        Json(json!({ "errors": errors, "warnings": warnings })),
    )
        .into_response())
}

/// What a listing asks for (the API's `list_models` and the web list share it).
pub(crate) struct RepoQuery<'a> {
    pub repo_type: hub_types::RepoType,
    /// Lowercase substring of the id.
    pub search: &'a str,
    pub author: Option<&'a str>,
    /// Tags every result must carry (the library name counts as a tag).
    pub filters: &'a [&'a str],
    pub pipeline: Option<&'a str>,
    /// id, lastModified, createdAt, downloads, likes.
    pub sort: &'a str,
    pub descending: bool,
    /// With siblings.
    pub full: bool,
}

/// The repos `who` may see that match, described and sorted.
pub(crate) async fn find_repos(
    state: &AppState,
    who: Option<&accounts::Principal>,
    q: &RepoQuery<'_>,
) -> Result<std::sync::Arc<Vec<Map<String, Value>>>, HfError> {
    // The same listing for the same viewer is answered from memory for a moment (and dropped
    // by any change this server makes): a busy list page then costs a lookup, not a walk over
    // every repo.
    let key = format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}",
        q.repo_type,
        who.map_or(0, |p| p.user_id),
        q.search,
        q.author.unwrap_or_default(),
        q.filters.join(","),
        q.pipeline.unwrap_or_default(),
        q.sort,
        q.descending,
        q.full
    );
    if let Some(hit) = state.inner.caches.listings.get(&key) {
        return Ok(hit);
    }
    let epoch = state.inner.caches.listings.epoch();
    let rows = std::sync::Arc::new(walk_repos(state, who, q).await?);
    state
        .inner
        .caches
        .listings
        .put_since(epoch, key, rows.clone());
    Ok(rows)
}

async fn walk_repos(
    state: &AppState,
    who: Option<&accounts::Principal>,
    q: &RepoQuery<'_>,
) -> Result<Vec<Map<String, Value>>, HfError> {
    let mut rows: Vec<Map<String, Value>> = Vec::new();
    for repo in state.accounts().list_repos(q.repo_type).await? {
        if state.accounts().access(who, &repo).await?.is_none() {
            continue; // private repos appear only to those who may read them
        }
        let id = repo.repo_ref().id.to_string();
        if !id.to_ascii_lowercase().contains(q.search) {
            continue;
        }
        if q.author
            .is_some_and(|a| a != repo.namespace.as_str().to_ascii_lowercase())
        {
            continue;
        }
        let path = state.repos().path(&repo.repo_ref());
        let Ok(s) = summary(state, &repo, path, DEFAULT_BRANCH.to_owned(), false, q.full).await
        else {
            continue;
        };
        let tags: Vec<&str> = s["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !q
            .filters
            .iter()
            .all(|f| tags.contains(f) || s.get("library_name").and_then(Value::as_str) == Some(*f))
        {
            continue;
        }
        if q.pipeline
            .is_some_and(|p| s.get("pipeline_tag").and_then(Value::as_str) != Some(p))
        {
            continue;
        }
        rows.push(s);
    }
    let sort = q.sort;
    let key = |m: &Map<String, Value>| -> (i64, String) {
        let s = |k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match sort {
            "downloads" | "likes" | "trendingScore" => (
                m.get(if sort == "likes" {
                    "likes"
                } else {
                    "downloads"
                })
                .and_then(Value::as_i64)
                .unwrap_or(0),
                s("id"),
            ),
            "lastModified" => (0, s("lastModified")),
            "createdAt" => (0, s("createdAt")),
            _ => (0, s("id")),
        }
    };
    rows.sort_by_key(key);
    if q.descending {
        rows.reverse();
    }
    Ok(rows)
}
