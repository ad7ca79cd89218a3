//! `/models`, `/datasets`, `/spaces`: search, filters (task, library, license, language, tag),
//! sort and pages; each row shows name, task, parameters, last update and downloads.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use hub_types::RepoType;
use maud::html;
use serde_json::Value;

use super::{human_count, layout, viewer, PageError};
use crate::hf::list::{find_repos, RepoQuery};
use crate::AppState;

const PER_PAGE: usize = 30;

pub async fn models(
    state: State<AppState>,
    q: Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    list(state, RepoType::Model, q, headers).await
}

pub async fn datasets(
    state: State<AppState>,
    q: Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    list(state, RepoType::Dataset, q, headers).await
}

pub async fn spaces(
    state: State<AppState>,
    q: Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    list(state, RepoType::Space, q, headers).await
}

async fn list(
    State(state): State<AppState>,
    t: RepoType,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let who = viewer(&state, &headers).await;
    let get = |k: &str| {
        q.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let search = get("search").unwrap_or_default().to_ascii_lowercase();
    let mut filters: Vec<String> = Vec::new();
    for (key, prefix) in [
        ("library", ""),
        ("license", "license:"),
        ("language", ""),
        ("tag", ""),
        ("dataset", "dataset:"),
    ] {
        if let Some(v) = get(key) {
            filters.push(format!("{prefix}{v}"));
        }
    }
    let filter_refs: Vec<&str> = filters.iter().map(String::as_str).collect();
    let sort = match get("sort") {
        Some("downloads") => "downloads",
        Some("likes") => "likes",
        _ => "lastModified",
    };
    let page: usize = get("p").and_then(|p| p.parse().ok()).unwrap_or(0);
    let query = RepoQuery {
        repo_type: t,
        search: &search,
        author: None,
        filters: &filter_refs,
        pipeline: get("task"),
        sort,
        descending: true,
        full: false,
        offset: page.saturating_mul(PER_PAGE),
        limit: PER_PAGE,
        count: true,
        params: get("num_parameters").and_then(crate::hf::list::parameter_range),
        gated: None,
    };
    let listing = find_repos(&state, who.as_ref(), &query).await?;
    let total = match listing.total.unwrap_or(0) {
        n if n > listing.cap => format!("over {}", human_thousands(listing.cap)),
        n => human_thousands(n),
    };
    let shown: Vec<_> = listing.rows.iter().collect();
    let title = match t {
        RepoType::Model => "Models",
        RepoType::Dataset => "Datasets",
        RepoType::Space => "Spaces",
    };
    let keep = |p: usize| {
        let mut parts: Vec<String> = q
            .iter()
            .filter(|(k, _)| k != "p")
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        parts.push(format!("p={p}"));
        format!("?{}", parts.join("&"))
    };
    let value = |k: &str| get(k).unwrap_or_default().to_owned();
    let content = html! {
        h1 { (title) " " span.muted { (total) } }
        form.filters method="get" {
            input type="search" name="search" value=(value("search")) placeholder="Filter by name" aria-label="Filter by name";
            input name="task" value=(value("task")) placeholder="Task" aria-label="Task" size="14";
            input name="library" value=(value("library")) placeholder="Library" aria-label="Library" size="12";
            input name="license" value=(value("license")) placeholder="License" aria-label="License" size="10";
            input name="language" value=(value("language")) placeholder="Language" aria-label="Language" size="8";
            input name="tag" value=(value("tag")) placeholder="Tag" aria-label="Tag" size="10";
            input name="dataset" value=(value("dataset")) placeholder="Dataset" aria-label="Dataset" size="10";
            input name="num_parameters" value=(value("num_parameters")) placeholder="min:1B,max:8B" aria-label="Parameters" size="12";
            select name="sort" aria-label="Sort" {
                option value="lastModified" selected[sort == "lastModified"] { "Recently updated" }
                option value="downloads" selected[sort == "downloads"] { "Most downloads" }
                option value="likes" selected[sort == "likes"] { "Most likes" }
            }
            button type="submit" { "Apply" }
        }
        @if shown.is_empty() {
            p.muted { "No repos match." }
        }
        ul.repos {
            @for m in &shown {
                @let id = m["id"].as_str().unwrap_or_default();
                @let prefix = t.url_prefix();
                li {
                    a.repo href={ "/" (prefix) (id) } { strong { (id) } }
                    @if m["private"].as_bool() == Some(true) { " " span.badge { "private" } }
                    div.meta {
                        @if let Some(task) = m.get("pipeline_tag").and_then(Value::as_str) { span.task { (task) } }
                        @if let Some(total) = m.get("safetensors").and_then(|s| s["total"].as_u64()) { span.params { (human_count(total)) " params" } }
                        span { "Updated " (m["lastModified"].as_str().unwrap_or_default().get(..10).unwrap_or_default()) }
                        span { (m["downloads"].as_u64().unwrap_or(0)) " downloads" }
                    }
                }
            }
        }
        div.pager {
            @if page > 0 { a rel="prev" href=(keep(page - 1)) { "← Previous" } }
            @if listing.more { a rel="next" href=(keep(page + 1)) { "Next →" } }
        }
    };
    Ok(layout(title, who.as_ref(), content))
}

/// 12345 as "12,345".
fn human_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn enc(s: &str) -> String {
    crate::edge::http::percent_encode(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_grouped_by_thousands() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (10_000, "10,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(super::human_thousands(n), s);
        }
    }
}
