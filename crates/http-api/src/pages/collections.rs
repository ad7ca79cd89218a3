//! Collections on the web: one collection's page (`/collections/{ns}/{slug}`) and a
//! namespace's list (`/collections/{ns}`), each showing only what the viewer may read.

use accounts::collections::{CollectionSort, Viewer};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{html, Markup};
use serde_json::Value;

use super::{layout, viewer, PageError};
use crate::hf::collections::{collection_json, find};
use crate::AppState;

/// The collections a namespace page lists, at most.
pub const LISTED: i64 = 100;

/// The link of an item of a collection's JSON.
fn item_link(item: &Value) -> String {
    let id = item["id"].as_str().unwrap_or_default();
    match item["type"].as_str().unwrap_or_default() {
        "model" => format!("/{id}"),
        "dataset" => format!("/datasets/{id}"),
        "space" => format!("/spaces/{id}"),
        "collection" => format!("/collections/{}", item["slug"].as_str().unwrap_or_default()),
        _ => format!("https://arxiv.org/abs/{id}"),
    }
}

fn item_name(item: &Value) -> String {
    match item["type"].as_str() {
        Some("collection") => item["title"].as_str().unwrap_or_default().to_owned(),
        Some("paper") => item["title"].as_str().unwrap_or_default().to_owned(),
        _ => item["id"].as_str().unwrap_or_default().to_owned(),
    }
}

/// One collection as a list entry (title, description, its first items).
pub fn summary(c: &Value) -> Markup {
    html! {
        li.collection {
            a href={ "/collections/" (c["slug"].as_str().unwrap_or_default()) } {
                strong { (c["title"].as_str().unwrap_or_default()) }
            }
            @if c["private"].as_bool() == Some(true) { " " span.badge { "private" } }
            @if let Some(d) = c["description"].as_str().filter(|d| !d.is_empty()) {
                div.muted { (d) }
            }
            div.meta {
                @for item in c["items"].as_array().into_iter().flatten() {
                    span { (item["type"].as_str().unwrap_or_default()) ": " (item_name(item)) }
                }
            }
        }
    }
}

/// `/collections/{ns}/{slug}`.
pub async fn page(
    State(state): State<AppState>,
    Path((ns, slug)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let who = viewer(&state, &headers).await;
    let (c, _) = find(&state, who.as_ref(), &ns, &slug).await?;
    let v = collection_json(&state, &headers, who.as_ref(), &c, usize::MAX, true).await?;
    let items: Vec<Value> = v["items"].as_array().cloned().unwrap_or_default();
    let content = html! {
        h1 { (c.title) @if c.private { " " span.badge { "private" } } }
        p.muted { "A collection by " a href={ "/" (c.namespace) } { (c.namespace) } }
        @if !c.description.is_empty() { p.description { (c.description) } }
        @if items.is_empty() { p.muted { "Nothing to show in this collection." } }
        ol.repos.items {
            @for item in &items {
                li {
                    a href=(item_link(item)) { strong { (item_name(item)) } }
                    @if item["private"].as_bool() == Some(true) { " " span.badge { "private" } }
                    div.meta { span { (item["type"].as_str().unwrap_or_default()) } }
                    @if let Some(note) = item["note"]["text"].as_str() { p.note { (note) } }
                }
            }
        }
    };
    Ok(layout(&c.title, who.as_ref(), content))
}

/// The collections of `ns` that the viewer may see, as JSON (for its pages).
pub async fn of_namespace(
    state: &AppState,
    headers: &HeaderMap,
    who: Option<&accounts::Principal>,
    ns: &str,
) -> Result<Vec<Value>, PageError> {
    let viewer = who.map(|p| Viewer {
        user_id: p.user_id,
        is_admin: p.is_admin,
    });
    let found = state
        .accounts()
        .list_collections(viewer, Some(ns), None, CollectionSort::Position, 0, LISTED)
        .await?;
    let mut out = Vec::new();
    for c in &found {
        out.push(collection_json(state, headers, who, c, 4, false).await?);
    }
    Ok(out)
}

/// `/collections/{ns}`.
pub async fn namespace(
    State(state): State<AppState>,
    Path(ns): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let who = viewer(&state, &headers).await;
    if state.accounts().profile(&ns).await?.is_none() {
        return Err(PageError::NotFound);
    }
    let all = of_namespace(&state, &headers, who.as_ref(), &ns).await?;
    let content = html! {
        h1 { "Collections of " a href={ "/" (ns) } { (ns) } }
        @if all.is_empty() { p.muted { "No collections to show." } }
        ul.repos { @for c in &all { (summary(c)) } }
    };
    Ok(layout(
        &format!("Collections of {ns}"),
        who.as_ref(),
        content,
    ))
}
