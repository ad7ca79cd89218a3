//! `GET /api/models` (and datasets, spaces): search, author, tag filters, sorting and absolute
//! `Link` pagination (`list_models`), answered by one SQL query over per-repo summaries that
//! [`refresh_summary`] writes on every ref change (the web lists and namespace pages read the
//! same); and `POST /api/validate-yaml` (the card rules behind the Hub's request and response
//! shapes).

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
use super::{with_reader, HfError};
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
    let params = match get("num_parameters") {
        Some(r) => Some(parameter_range(r).ok_or_else(|| {
            HfError::BadRequest(format!(
                "num_parameters must look like min:6B,max:128B (K, M, B, T), not {r:?}"
            ))
        })?),
        None => None,
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
        offset: cursor,
        limit,
        count: false,
        params,
        gated: match get("gated") {
            Some("true" | "True" | "1") => Some(true),
            Some("false" | "False" | "0") => Some(false),
            _ => None,
        },
    };
    let listing = find_repos(&state, who.as_ref(), &query).await?;
    let more = listing.more;
    let page: Vec<Value> = listing
        .rows
        .iter()
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
    if errors.is_empty() {
        return Ok(Json(json!({ "errors": errors, "warnings": warnings })).into_response());
    }
    // One line per error, as the client prints them: the body of a plain-text answer
    // (`RepoCard.validate` asks for one and raises it as is), and the JSON's `error`.
    let lines: Vec<String> = errors
        .iter()
        .map(|e| format!("- {}", e["message"].as_str().unwrap_or_default()))
        .collect();
    let text = lines.join("\n");
    let plain = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with("text/plain"));
    if plain {
        return Ok((StatusCode::BAD_REQUEST, text).into_response());
    }
    Ok((
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": text, "errors": errors, "warnings": warnings })),
    )
        .into_response())
}

/// What a listing asks for (the API's `list_models` and the web list share it).
pub(crate) struct RepoQuery<'a> {
    pub repo_type: hub_types::RepoType,
    /// A substring of the id, any case.
    pub search: &'a str,
    pub author: Option<&'a str>,
    /// Tags every result must carry (the library name counts as a tag).
    pub filters: &'a [&'a str],
    pub pipeline: Option<&'a str>,
    /// id, lastModified, createdAt, downloads, trendingScore, likes.
    pub sort: &'a str,
    pub descending: bool,
    /// With siblings.
    pub full: bool,
    /// Rows skipped, and the most rows returned.
    pub offset: usize,
    pub limit: usize,
    /// Whether to count every match too (the web list shows the total).
    pub count: bool,
    /// Parameter counts from..to, both included (`num_parameters`).
    pub params: Option<(u64, u64)>,
    /// Only gated repos, or only open ones (`gated`).
    pub gated: Option<bool>,
}

/// `min:6B,max:128B` (either side may be left out; K, M, B, T multiply) as an inclusive range.
pub(crate) fn parameter_range(s: &str) -> Option<(u64, u64)> {
    let number = |v: &str| -> Option<u64> {
        let v = v.trim();
        let (digits, mult) = match v.chars().last()?.to_ascii_uppercase() {
            'K' => (&v[..v.len() - 1], 1e3),
            'M' => (&v[..v.len() - 1], 1e6),
            'B' => (&v[..v.len() - 1], 1e9),
            'T' => (&v[..v.len() - 1], 1e12),
            _ => (v, 1.0),
        };
        let n: f64 = digits.parse().ok()?;
        (n.is_finite() && n >= 0.0 && n * mult < 1e18).then(|| (n * mult).round() as u64)
    };
    let (mut min, mut max) = (0, u64::MAX >> 2);
    for part in s.split(',') {
        match part.split_once(':')? {
            ("min", v) => min = number(v)?,
            ("max", v) => max = number(v)?,
            _ => return None,
        }
    }
    (min <= max).then_some((min, max))
}

/// The most repos a listing's total counts exactly (more shows as "over" it).
pub(crate) const COUNT_CAP: u64 = 10_000;
/// The same for a search.
pub(crate) const SEARCH_COUNT_CAP: u64 = 1_000;

/// One page of a listing.
pub(crate) struct Listing {
    pub rows: Vec<Map<String, Value>>,
    /// Whether more rows follow this page.
    pub more: bool,
    /// Every match, when the query asked, counted up to [`COUNT_CAP`] ([`SEARCH_COUNT_CAP`]
    /// for a search); over it, one more than the cap.
    pub total: Option<u64>,
    /// The cap `total` was counted to.
    pub cap: u64,
}

/// Repos described per listing request that finds some not described yet (made by the CLI,
/// or before an upgrade; the server describes the rest in the background at start).
const DESCRIBE_PER_LISTING: i64 = 100;

/// The page of repos `who` may see that match, described and sorted: one SQL query over the
/// summaries kept on every ref change ([`refresh_summary`]), with visibility, filters, sort
/// and page applied by the database.
pub(crate) async fn find_repos(
    state: &AppState,
    who: Option<&accounts::Principal>,
    q: &RepoQuery<'_>,
) -> Result<std::sync::Arc<Listing>, HfError> {
    // The same page for the same viewer is answered from memory for a moment (and dropped by
    // any change on any node).
    let key = format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{:?}|{:?}",
        q.repo_type,
        who.map_or(0, |p| p.user_id),
        q.search,
        q.author.unwrap_or_default(),
        q.filters.join(","),
        q.pipeline.unwrap_or_default(),
        q.sort,
        q.descending,
        q.full,
        q.offset,
        q.limit,
        q.count,
        q.params,
        q.gated
    );
    if let Some(hit) = state.inner.caches.listings.get(&key) {
        return Ok(hit);
    }
    let epoch = state.inner.caches.listings.epoch();
    for repo in state
        .accounts()
        .undescribed(q.repo_type, DESCRIBE_PER_LISTING)
        .await?
    {
        refresh_summary(state, &repo).await?;
    }
    let sort = match q.sort {
        "lastModified" => accounts::ListSort::LastModified,
        "createdAt" => accounts::ListSort::CreatedAt,
        "downloads" | "trendingScore" => accounts::ListSort::Downloads,
        "likes" => accounts::ListSort::Likes,
        _ => accounts::ListSort::Id,
    };
    let query = accounts::ListQuery {
        repo_type: q.repo_type,
        viewer: who,
        search: q.search,
        author: q.author,
        tags: q.filters,
        pipeline_tag: q.pipeline,
        sort,
        descending: q.descending,
        offset: q.offset as u64,
        limit: q.limit as u64 + 1,
        params: q.params,
        gated: q.gated,
    };
    let mut found = state.accounts().list_summaries(&query).await?;
    let more = found.len() > q.limit;
    found.truncate(q.limit);
    // Counted exactly up to a bound (more is "over" it): a lower one for a search, since
    // each match of a search is looked up to be counted.
    let cap = if q.search.is_empty() {
        COUNT_CAP
    } else {
        SEARCH_COUNT_CAP
    };
    let total = if q.count {
        Some(state.accounts().count_summaries(&query, cap).await?)
    } else {
        None
    };
    let ids: Vec<i64> = found.iter().map(|(r, _)| r.id).collect();
    let likes = state.accounts().likes_among(&ids).await?;
    let gated = state.accounts().gated_among(&ids).await?;
    let mut rows = Vec::with_capacity(found.len());
    for (repo, json) in found {
        let mut m = if q.full {
            let path = state.repos().path(&repo.repo_ref());
            match summary(state, &repo, path, DEFAULT_BRANCH.to_owned(), false, true).await {
                Ok(m) => m,
                Err(_) => continue,
            }
        } else {
            match serde_json::from_str::<Value>(&json) {
                Ok(Value::Object(m)) => m,
                _ => continue,
            }
        };
        // What the registry says now wins over what was described with the commit.
        let id = repo.repo_ref().id.to_string();
        m.insert("_id".into(), json!(repo.id.to_string()));
        if repo.repo_type == RepoType::Model {
            m.insert("modelId".into(), json!(id));
        }
        m.insert("id".into(), json!(id));
        m.insert("author".into(), json!(repo.namespace.as_str()));
        m.insert("private".into(), json!(repo.private));
        m.insert("downloads".into(), json!(repo.downloads));
        m.insert(
            "likes".into(),
            json!(likes.get(&repo.id).copied().unwrap_or(0)),
        );
        m.insert(
            "gated".into(),
            super::info::gated_json(gated.get(&repo.id).map_or("false", String::as_str)),
        );
        m.insert("createdAt".into(), json!(repo.created_at));
        rows.push(m);
    }
    let listing = std::sync::Arc::new(Listing {
        rows,
        more,
        total,
        cap,
    });
    state
        .inner
        .caches
        .listings
        .put_since(epoch, key, listing.clone());
    Ok(listing)
}

/// Describes, in the background, every repo not described yet for listings (those made
/// before summaries existed, after an upgrade), and logs how many it did.
pub(crate) fn spawn_describe_all(state: AppState) {
    tokio::spawn(async move {
        let mut done = 0u64;
        for t in RepoType::ALL {
            loop {
                let pending = match state.accounts().undescribed(t, 500).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot list the repos to describe for listings");
                        return;
                    }
                };
                if pending.is_empty() {
                    break;
                }
                for repo in &pending {
                    if let Err(e) = refresh_summary(&state, repo).await {
                        tracing::warn!(error = %e, "stopped describing repos for listings");
                        return;
                    }
                    done += 1;
                }
            }
        }
        if done > 0 {
            tracing::info!(repos = done, "described repos for listings");
            state.inner.caches.listings.clear();
        }
    });
}

/// Most tags kept per repo for listing filters (a card may list any number).
const MAX_TAGS: usize = 256;

/// Describes `repo`'s main branch into its summary row, which listings and search read:
/// called after every change of its refs (a push, an API commit, a branch or tag change) and
/// for repos not described yet. A repo that cannot be described is left out of listings
/// until its refs next move.
pub(crate) async fn refresh_summary(
    state: &AppState,
    repo: &accounts::Repo,
) -> Result<(), HfError> {
    let path = state.repos().path(&repo.repo_ref());
    // Two nodes may describe one repo at once (two pushes in a row through different nodes);
    // the one that writes last checks that what it stored is still main, and describes again
    // if not, so the row never stays on an older commit.
    for _ in 0..3 {
        let described = summary(
            state,
            repo,
            path.clone(),
            DEFAULT_BRANCH.to_owned(),
            false,
            false,
        )
        .await;
        let m = match described {
            Ok(m) => m,
            Err(HfError::Unavailable(e)) => return Err(HfError::Unavailable(e)),
            Err(e) => {
                tracing::warn!(repo = %repo.repo_ref(), error = %e, "cannot describe the repo for listings");
                state.accounts().put_summary_failed(repo.id).await?;
                return Ok(());
            }
        };
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
        let mut tags: Vec<String> = m
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .take(MAX_TAGS)
            .collect();
        tags.extend(text("library_name"));
        let stored = accounts::RepoSummary {
            sha: text("sha").unwrap_or_default(),
            last_modified: text("lastModified").unwrap_or_default(),
            pipeline_tag: text("pipeline_tag"),
            tags,
            params: m
                .get("safetensors")
                .and_then(|st| st["total"].as_u64())
                .unwrap_or(0),
            json: Value::Object(m).to_string(),
        };
        state.accounts().put_summary(repo.id, &stored).await?;
        let main = with_reader(state, path.clone(), |r| Ok(r.resolve(DEFAULT_BRANCH)?.id)).await?;
        if main == stored.sha {
            return Ok(());
        }
        state.drop_revisions(&crate::repo_key(repo));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameter_ranges() {
        use super::parameter_range as r;
        assert_eq!(r("min:6B,max:128B"), Some((6_000_000_000, 128_000_000_000)));
        assert_eq!(r("min:1.5K"), Some((1500, u64::MAX >> 2)));
        assert_eq!(r("max:100"), Some((0, 100)));
        for bad in [
            "",
            "lots",
            "min:",
            "min:-1",
            "min:5,max:4",
            "avg:3",
            "min:1e30",
        ] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }
}
