//! Collections over the Hub API, as huggingface_hub 2.4.0 calls it (`list_collections`,
//! `get_collection`, `create_collection`, `update_collection_metadata`, `delete_collection`,
//! `add_collection_item`, `update_collection_item`, `delete_collection_item`, and the `hf
//! collections` commands). A private collection answers exactly as a missing one to whoever
//! may not see it; an item naming a repo or collection the caller may not read is left out.

use accounts::collections::{
    self, Collection, CollectionSort, ItemChange, NewItem, Target, Viewer, MAX_DESCRIPTION,
    MAX_NOTE, MAX_TITLE, THEMES,
};
use accounts::Principal;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hub_types::{RepoType, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use super::HfError;
use crate::edge::access::{self, principal};
use crate::edge::http::{percent_encode, public_base};
use crate::AppState;

/// Collections per page of a listing, and items each shows (the Hub shows four).
const PAGE: i64 = 100;
const LISTED_ITEMS: usize = 4;
/// Items read from the database at a time.
const ITEMS_PAGE: i64 = 100;

fn not_found() -> HfError {
    HfError::NotFound("Collection not found".into())
}

/// What `who` may do with collection `c`, if they may see it at all.
pub(crate) async fn role_on(
    state: &AppState,
    who: Option<&Principal>,
    c: &Collection,
) -> Result<Option<Role>, HfError> {
    let org_role = match who {
        Some(p) if c.namespace_kind == "org" && !p.is_admin => {
            access::org_role(state, p.user_id, &c.namespace).await?
        }
        _ => None,
    };
    Ok(accounts::access_to(who, org_role, &c.namespace, c.private))
}

/// The collection a slug names, if `who` may see it (else as missing), with their role.
pub(crate) async fn find(
    state: &AppState,
    who: Option<&Principal>,
    ns: &str,
    slug: &str,
) -> Result<(Collection, Role), HfError> {
    let id = collections::slug_id(slug).ok_or_else(not_found)?;
    let c = state
        .accounts()
        .collection(id)
        .await?
        .filter(|c| c.namespace.eq_ignore_ascii_case(ns))
        .ok_or_else(not_found)?;
    let role = role_on(state, who, &c).await?.ok_or_else(not_found)?;
    Ok((c, role))
}

/// As [`find`], for a change: a write token of someone who may write to the namespace.
async fn find_to_change(
    state: &AppState,
    headers: &HeaderMap,
    ns: &str,
    slug: &str,
) -> Result<Collection, HfError> {
    let who = principal(state, headers)
        .await?
        .ok_or(HfError::Unauthorized)?;
    let (c, role) = find(state, Some(&who), ns, slug).await?;
    if role < Role::Write {
        return Err(HfError::Forbidden(format!(
            "you may read {} but not change it: this needs a write token of someone who may \
             write to {}",
            c.slug(),
            c.namespace
        )));
    }
    Ok(c)
}

/// A text field within `max` characters and without control characters.
fn text(field: &str, v: &str, max: usize) -> Result<(), HfError> {
    if v.chars().count() > max {
        return Err(HfError::BadRequest(format!(
            "the {field} has at most {max} characters"
        )));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(HfError::BadRequest(format!(
            "the {field} may not hold control characters"
        )));
    }
    Ok(())
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The JSON of a collection as `who` sees it: `items` at most `max_items` of those they may
/// read; `position` only in a single answer (a listing's client numbers them itself).
pub(crate) async fn collection_json(
    state: &AppState,
    headers: &HeaderMap,
    who: Option<&Principal>,
    c: &Collection,
    max_items: usize,
    single: bool,
) -> Result<Value, HfError> {
    let base = public_base(state, headers);
    let mut items = Vec::new();
    // Pages of items until enough are visible to this caller (a listing shows four).
    let mut offset = 0;
    let mut page = Vec::new();
    loop {
        if items.len() >= max_items {
            break;
        }
        if page.is_empty() {
            page = state
                .accounts()
                .collection_items(c.id, offset, ITEMS_PAGE)
                .await?;
            if page.is_empty() {
                break;
            }
            offset += ITEMS_PAGE;
            page.reverse();
        }
        let Some(item) = page.pop() else { break };
        let mut v = match &item.target {
            Target::Repo(r) => {
                if access::role_in(state, who, r).await?.is_none() {
                    continue;
                }
                json!({
                    "type": r.repo_type.as_str(),
                    "repoType": r.repo_type.as_str(),
                    "id": r.repo_ref().id.to_string(),
                    "author": r.namespace.as_str(),
                    "private": r.private,
                    "downloads": r.downloads,
                    "likes": 0,
                    "isLikedByUser": false,
                })
            }
            Target::Collection(t) => {
                if role_on(state, who, t).await?.is_none() {
                    continue;
                }
                json!({
                    "type": "collection",
                    "id": t.public_id,
                    "slug": t.slug(),
                    "title": t.title,
                    "description": t.description,
                    "private": t.private,
                    "theme": t.theme,
                    "lastUpdated": t.updated_at,
                })
            }
            Target::Paper(p) => json!({ "type": "paper", "id": p, "title": format!("arXiv:{p}") }),
        };
        v["_id"] = json!(item.public_id);
        v["position"] = json!(item.position);
        if !item.note.is_empty() {
            v["note"] = json!({ "text": item.note, "html": html_escape(&item.note) });
        }
        items.push(v);
    }
    let fullname = state
        .accounts()
        .profile(&c.namespace)
        .await?
        .map(|p| p.fullname)
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| c.namespace.clone());
    let mut out = json!({
        "id": c.public_id,
        "slug": c.slug(),
        "title": c.title,
        "description": c.description,
        "owner": { "name": c.namespace, "type": c.namespace_kind, "fullname": fullname, "avatarUrl": "" },
        "items": items,
        "lastUpdated": c.updated_at,
        "private": c.private,
        "theme": c.theme,
        "upvotes": 0,
        "isUpvotedByUser": false,
        "gating": false,
        "shareUrl": format!("{base}/collections/{}", c.slug()),
    });
    if single {
        out["position"] = json!(c.position);
    }
    Ok(out)
}

/// The item key an `item` filter names (`models/ns/name`, `datasets/x/y`, `spaces/x/y`,
/// `papers/ID`, `collections/ns/slug`), if it names something `who` may see.
async fn item_filter(
    state: &AppState,
    who: Option<&Principal>,
    item: &str,
) -> Result<Option<String>, HfError> {
    let Some((kind, rest)) = item.split_once('/') else {
        return Ok(None);
    };
    if kind == "papers" {
        return Ok(Some(format!("paper:{rest}")));
    }
    if kind == "collections" {
        let Some((ns, slug)) = rest.split_once('/') else {
            return Ok(None);
        };
        return Ok(match find(state, who, ns, slug).await {
            Ok((c, _)) => Some(format!("collection:{}", c.id)),
            Err(_) => None,
        });
    }
    let Ok(t) = kind.parse::<RepoType>() else {
        return Ok(None);
    };
    let Some((ns, name)) = rest.split_once('/') else {
        return Ok(None);
    };
    let Ok(target) = access::repo_ref(t, ns, name) else {
        return Ok(None);
    };
    Ok(
        match access::authorize(state, who, &target, Role::Read).await {
            Ok((r, _)) => Some(format!("repo:{}", r.id)),
            Err(_) => None,
        },
    )
}

/// `GET /api/collections?owner=&item=&sort=&limit=`: pages of [`PAGE`], linked by `Link`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, HfError> {
    let who = principal(&state, &headers).await?;
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let item = match get("item") {
        Some(i) => match item_filter(&state, who.as_ref(), i).await? {
            Some(key) => Some(key),
            None => return Ok(Json(json!([])).into_response()),
        },
        None => None,
    };
    let sort = match get("sort") {
        None | Some("lastModified" | "trending" | "upvotes") => CollectionSort::LastModified,
        Some(other) => {
            return Err(HfError::BadRequest(format!(
                "sort must be lastModified, trending or upvotes, not {other:?}"
            )))
        }
    };
    let limit = get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .map_or(PAGE, |l| l.clamp(1, PAGE));
    let cursor = get("cursor")
        .and_then(|c| c.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    let viewer = who.as_ref().map(|p| Viewer {
        user_id: p.user_id,
        is_admin: p.is_admin,
    });
    let page = state
        .accounts()
        .list_collections(
            viewer,
            get("owner"),
            item.as_deref(),
            sort,
            cursor,
            limit + 1,
        )
        .await?;
    let more = page.len() as i64 > limit;
    let mut out = Vec::new();
    for c in page.iter().take(limit as usize) {
        out.push(collection_json(&state, &headers, who.as_ref(), c, LISTED_ITEMS, false).await?);
    }
    let mut res = Json(Value::Array(out)).into_response();
    if more {
        let mut next: Vec<(String, String)> =
            q.iter().filter(|(k, _)| k != "cursor").cloned().collect();
        next.push(("cursor".into(), (cursor + limit).to_string()));
        let query: Vec<String> = next
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        let query = query.join("&");
        let url = format!("{}/api/collections?{query}", public_base(&state, &headers));
        if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(res)
}

/// `GET /api/collections/{ns}/{slug}`.
pub async fn get_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ns, slug)): Path<(String, String)>,
) -> Result<Response, HfError> {
    let who = principal(&state, &headers).await?;
    let (c, _) = find(&state, who.as_ref(), &ns, &slug).await?;
    let body = collection_json(&state, &headers, who.as_ref(), &c, usize::MAX, true).await?;
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
pub struct CreateRequest {
    title: String,
    namespace: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    private: bool,
}

/// `POST /api/collections` `{title, namespace, description, private}`: 409 with the
/// existing collection's `slug` when the namespace has one of that title.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<CreateRequest>,
) -> Result<Response, HfError> {
    let who = principal(&state, &headers)
        .await?
        .ok_or(HfError::Unauthorized)?;
    if who.token_role < Role::Write {
        return Err(HfError::Forbidden(
            "creating a collection needs a write token".into(),
        ));
    }
    let ns = req.namespace.unwrap_or_else(|| who.name.clone());
    let title = req.title.trim();
    if title.is_empty() {
        return Err(HfError::BadRequest("a collection needs a title".into()));
    }
    text("title", title, MAX_TITLE)?;
    let description = req.description.unwrap_or_default();
    text("description", &description, MAX_DESCRIPTION)?;
    let allowed = who.is_admin
        || who.name.eq_ignore_ascii_case(&ns)
        || access::org_role(&state, who.user_id, &ns)
            .await?
            .is_some_and(|r| r >= Role::Write);
    if !allowed {
        return Err(HfError::Forbidden(format!(
            "you may not create collections in {ns}: it is neither you nor an organisation \
             you may write to"
        )));
    }
    if let Some(c) = state.accounts().collection_titled(&ns, title).await? {
        let body = json!({
            "error": format!("You already have a collection named {title:?}"),
            "slug": c.slug(),
        });
        return Ok((StatusCode::CONFLICT, Json(body)).into_response());
    }
    let created = match state
        .accounts()
        .create_collection(&ns, title, &description, req.private)
        .await
    {
        Err(accounts::AccountsError::NoSuchNamespace(_)) => {
            return Err(HfError::NotFound(format!(
                "no user or organisation named {ns}"
            )))
        }
        other => other?,
    };
    let c = created.ok_or_else(|| {
        HfError::BadRequest(format!(
            "{ns} has {} collections, the most one namespace may have",
            collections::MAX_COLLECTIONS
        ))
    })?;
    let body = collection_json(&state, &headers, Some(&who), &c, usize::MAX, true).await?;
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
pub struct UpdateRequest {
    title: Option<String>,
    description: Option<String>,
    private: Option<bool>,
    theme: Option<String>,
    position: Option<i64>,
}

/// `PATCH /api/collections/{ns}/{slug}`: answers `{data: collection}`; a new title gives a
/// new slug, and the old one keeps working (the id that ends both is the same).
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ns, slug)): Path<(String, String)>,
    Json(req): Json<UpdateRequest>,
) -> Result<Response, HfError> {
    let c = find_to_change(&state, &headers, &ns, &slug).await?;
    let title = req.title.as_deref().map(str::trim);
    if let Some(t) = title {
        if t.is_empty() {
            return Err(HfError::BadRequest("a collection needs a title".into()));
        }
        text("title", t, MAX_TITLE)?;
    }
    if let Some(d) = &req.description {
        text("description", d, MAX_DESCRIPTION)?;
    }
    if let Some(t) = &req.theme {
        if !THEMES.contains(&t.as_str()) {
            return Err(HfError::BadRequest(format!(
                "theme must be one of {}",
                THEMES.join(", ")
            )));
        }
    }
    state
        .accounts()
        .update_collection(
            &c,
            title,
            req.description.as_deref(),
            req.private,
            req.theme.as_deref(),
            req.position,
        )
        .await?;
    let c = state
        .accounts()
        .collection(&c.public_id)
        .await?
        .ok_or_else(not_found)?;
    let who = principal(&state, &headers).await?;
    let data = collection_json(&state, &headers, who.as_ref(), &c, usize::MAX, true).await?;
    Ok(Json(json!({ "success": true, "data": data })).into_response())
}

/// `DELETE /api/collections/{ns}/{slug}`.
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ns, slug)): Path<(String, String)>,
) -> Result<Response, HfError> {
    let c = find_to_change(&state, &headers, &ns, &slug).await?;
    state.accounts().delete_collection(c.id).await?;
    Ok(Json(json!({ "success": true })).into_response())
}

#[derive(Deserialize)]
pub struct ItemRef {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
pub struct AddRequest {
    item: ItemRef,
    note: Option<String>,
}

/// Whether `id` is an arXiv identifier (`2311.12983`, with an optional version).
fn is_arxiv_id(id: &str) -> bool {
    let (base, version) = id.split_once('v').unwrap_or((id, "1"));
    let Some((yymm, n)) = base.split_once('.') else {
        return false;
    };
    yymm.len() == 4
        && (4..=5).contains(&n.len())
        && yymm.bytes().chain(n.bytes()).all(|b| b.is_ascii_digit())
        && !version.is_empty()
        && version.len() <= 3
        && version.bytes().all(|b| b.is_ascii_digit())
}

/// `POST /api/collections/{ns}/{slug}/items` `{item: {id, type}, note}`: 404 for an item
/// the caller cannot see, 409 for one already there.
pub async fn add_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ns, slug)): Path<(String, String)>,
    Json(req): Json<AddRequest>,
) -> Result<Response, HfError> {
    let c = find_to_change(&state, &headers, &ns, &slug).await?;
    let who = principal(&state, &headers).await?;
    let note = req.note.unwrap_or_default();
    text("note", &note, MAX_NOTE)?;
    let (kind, id) = (req.item.kind.as_str(), req.item.id.as_str());
    let item = match kind {
        "model" | "dataset" | "space" => {
            let t: RepoType = kind.parse().map_err(|_| HfError::RepoNotFound)?;
            let (ns, name) = id.split_once('/').ok_or(HfError::RepoNotFound)?;
            let target = access::repo_ref(t, ns, name).map_err(|_| HfError::RepoNotFound)?;
            match access::authorize(&state, who.as_ref(), &target, Role::Read).await {
                Ok((r, _)) => NewItem::Repo(r.id),
                Err(_) => return Err(HfError::RepoNotFound),
            }
        }
        "collection" => {
            let (ns, slug) = id.split_once('/').ok_or_else(not_found)?;
            let (t, _) = find(&state, who.as_ref(), ns, slug).await?;
            if t.id == c.id {
                return Err(HfError::BadRequest(
                    "a collection cannot hold itself".into(),
                ));
            }
            NewItem::Collection(t.id)
        }
        "paper" if is_arxiv_id(id) => NewItem::Paper(id.to_owned()),
        "paper" => {
            return Err(HfError::BadRequest(format!(
                "{id:?} is not an arXiv id like 2311.12983"
            )))
        }
        other => {
            return Err(HfError::BadRequest(format!(
                "an item's type is model, dataset, space, paper or collection, not {other:?}"
            )))
        }
    };
    match state
        .accounts()
        .add_collection_item(c.id, &item, &note)
        .await?
    {
        ItemChange::Exists => Err(HfError::Conflict(format!(
            "{id} is already in the collection"
        ))),
        ItemChange::Full => Err(HfError::BadRequest(format!(
            "a collection holds at most {} items",
            collections::MAX_ITEMS
        ))),
        _ => {
            let c = state
                .accounts()
                .collection(&c.public_id)
                .await?
                .ok_or_else(not_found)?;
            let body =
                collection_json(&state, &headers, who.as_ref(), &c, usize::MAX, true).await?;
            Ok(Json(body).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct ItemUpdate {
    note: Option<String>,
    position: Option<i64>,
}

/// `PATCH /api/collections/{ns}/{slug}/items/{item}` `{note, position}`.
pub async fn update_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ns, slug, item)): Path<(String, String, String)>,
    Json(req): Json<ItemUpdate>,
) -> Result<Response, HfError> {
    let c = find_to_change(&state, &headers, &ns, &slug).await?;
    if let Some(n) = &req.note {
        text("note", n, MAX_NOTE)?;
    }
    match state
        .accounts()
        .update_collection_item(c.id, &item, req.note.as_deref(), req.position)
        .await?
    {
        ItemChange::Missing => Err(HfError::NotFound(format!(
            "no item {item} in this collection"
        ))),
        _ => Ok(Json(json!({ "success": true })).into_response()),
    }
}

/// `DELETE /api/collections/{ns}/{slug}/items/{item}`.
pub async fn delete_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((ns, slug, item)): Path<(String, String, String)>,
) -> Result<Response, HfError> {
    let c = find_to_change(&state, &headers, &ns, &slug).await?;
    match state.accounts().delete_collection_item(c.id, &item).await? {
        ItemChange::Missing => Err(HfError::NotFound(format!(
            "no item {item} in this collection"
        ))),
        _ => Ok(Json(json!({ "success": true })).into_response()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn arxiv_ids() {
        for ok in ["2311.12983", "1706.03762v7", "0704.0001"] {
            assert!(super::is_arxiv_id(ok), "{ok}");
        }
        for bad in [
            "",
            "2311",
            "2311.1",
            "abcd.12345",
            "2311.12983v",
            "../x",
            "2311.12983v1234",
        ] {
            assert!(!super::is_arxiv_id(bad), "{bad}");
        }
    }
}
