//! `GET /api/{type}s/{id}/refs` (`list_repo_refs`), `GET /api/{type}s/{id}/commits/{rev}`
//! (`list_repo_commits`, paginated), and `GET /api/whoami-v2`.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{with_reader, HfError, Hub};
use crate::edge::http::{iso_time, page_param, percent_encode, public_base};
use crate::edge::{access, At, RepoAccess};
use crate::AppState;

/// Commits per page, in the API and on the pages.
pub(crate) const COMMITS_PAGE: usize = 50;

pub async fn refs(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, HfError> {
    let path = access.path(&state);
    let prs = q
        .iter()
        .any(|(k, v)| k == "include_prs" && (v == "1" || v == "true"));
    let (branches, tags, pulls) = with_reader(&state, path, |r| {
        Ok((
            r.refs("refs/heads/")?,
            r.refs("refs/tags/")?,
            r.refs("refs/pr/")?,
        ))
    })
    .await?;
    let items = |v: &[git_repos::RefInfo]| -> Vec<Value> {
        v.iter()
            .map(|r| json!({ "name": r.name, "ref": r.full, "targetCommit": r.target }))
            .collect()
    };
    let mut body = json!({ "branches": items(&branches), "converts": [], "tags": items(&tags) });
    if prs {
        body["pullRequests"] = json!(items(&pulls));
    }
    Ok(Json(body).into_response())
}

pub async fn commits(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    at: At<Hub>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    let (repo, path, rev) = (&access.repo, access.path(&state), at.rev.to_string());
    let page = page_param(&q);
    let rev2 = rev.clone();
    let (list, more) = with_reader(&state, path, move |r| {
        let c = r.resolve(&rev2)?;
        r.log(&c, page.saturating_mul(COMMITS_PAGE), COMMITS_PAGE)
    })
    .await?;
    // `expand[]=formatted` (`list_repo_commits(formatted=True)`): title and message as HTML.
    let formatted = q
        .iter()
        .any(|(k, v)| (k == "expand[]" || k == "expand") && v == "formatted");
    let body: Vec<Value> = list
        .iter()
        .map(|c| {
            let mut entry = json!({
                "id": c.id,
                "authors": [{ "user": c.author_name, "email": c.author_email }],
                "date": iso_time(c.time),
                "title": c.title,
                "message": c.message,
            });
            if formatted {
                entry["formatted"] = json!({
                    "title": maud::html! { (c.title) }.into_string(),
                    // The description: what follows the title.
                    "message": formatted_message(
                        c.message.strip_prefix(c.title.as_str()).unwrap_or(&c.message)
                    ),
                });
            }
            entry
        })
        .collect();
    let mut res = Json(Value::Array(body)).into_response();
    if more {
        let next = format!(
            "{}/api/{}/{}/commits/{}?p={}",
            public_base(&state, &headers),
            repo.repo_type.plural(),
            repo.repo_ref().id,
            percent_encode(&rev),
            page + 1
        );
        if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(res)
}

/// A commit message as HTML: escaped, a paragraph per blank-line-separated block, its lines
/// broken where they were.
fn formatted_message(message: &str) -> String {
    let blocks: Vec<&str> = message
        .split("\n\n")
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .collect();
    maud::html! {
        @for b in blocks {
            p {
                @for (i, line) in b.lines().enumerate() {
                    @if i > 0 { br; }
                    (line)
                }
            }
        }
    }
    .into_string()
}

/// `GET /api/{type}s/{id}/auth-check[/write]` (`auth_check`): 200 if the caller may read (or
/// write) the repo; otherwise the answer a repo they cannot see gets (RepoNotFound), or 403
/// for a reader asking to write.
pub async fn auth_check(_access: RepoAccess<Hub>) -> Result<Response, HfError> {
    Ok(Json(json!({})).into_response())
}

pub async fn auth_check_write(
    _access: RepoAccess<Hub, crate::edge::Write>,
) -> Result<Response, HfError> {
    Ok(Json(json!({})).into_response())
}

pub async fn whoami(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, HfError> {
    let who = access::principal(&state, &headers)
        .await?
        .ok_or(HfError::Unauthorized)?;
    // A full name, or the name itself where none was given (the Hub always has one).
    let fullname = |name: &str, p: Option<accounts::Profile>| {
        p.map(|p| p.fullname)
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| name.to_owned())
    };
    let mut orgs = Vec::new();
    for (name, role) in state.accounts().orgs_of(who.user_id).await? {
        let full = fullname(&name, state.accounts().profile(&name).await?);
        orgs.push(
            json!({ "type": "org", "name": name, "fullname": full, "roleInOrg": role.as_str() }),
        );
    }
    let own = fullname(&who.name, state.accounts().profile(&who.name).await?);
    Ok(Json(json!({
        "type": "user",
        "id": who.user_id.to_string(),
        "name": who.name,
        "fullname": own,
        "isPro": false,
        "orgs": orgs,
        "auth": {
            "type": "access_token",
            "accessToken": { "displayName": "modelhub token", "role": who.token_role.as_str() }
        }
    }))
    .into_response())
}

/// `GET /api/users/{name}/overview` (`get_user_overview`) and
/// `GET /api/organizations/{name}/overview` (`get_organization_overview`): public facts and
/// counts of public repos; a name of the other kind, or of nobody, is 404.
pub async fn user_overview(
    State(state): State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Response, HfError> {
    overview(&state, &name, "user").await
}

pub async fn org_overview(
    State(state): State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Response, HfError> {
    overview(&state, &name, "org").await
}

async fn overview(state: &AppState, name: &str, kind: &str) -> Result<Response, HfError> {
    let Some(p) = state
        .accounts()
        .profile(name)
        .await?
        .filter(|p| p.kind == kind)
    else {
        return Err(HfError::NotFound(format!(
            "no {} named {name}",
            if kind == "user" {
                "user"
            } else {
                "organization"
            }
        )));
    };
    let fullname = if p.fullname.is_empty() {
        p.name.clone()
    } else {
        p.fullname.clone()
    };
    let mut body = json!({
        "_id": p.id.to_string(),
        "type": p.kind,
        "fullname": fullname,
        "avatarUrl": "",
        "createdAt": p.created_at,
        "numModels": p.models,
        "numDatasets": p.datasets,
        "numSpaces": p.spaces,
    });
    if kind == "user" {
        body["user"] = json!(p.name);
        body["isPro"] = json!(false);
    } else {
        body["name"] = json!(p.name);
        body["numUsers"] = json!(p.members);
    }
    Ok(Json(body).into_response())
}
