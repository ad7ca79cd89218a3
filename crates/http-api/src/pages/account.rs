//! Signing in with a token, signing out, and a user's or organisation's page.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hub_types::RepoType;
use maud::html;
use serde::Deserialize;

use super::{layout, viewer, PageError, COOKIE};
use crate::AppState;

pub async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let who = viewer(&state, &headers).await;
    form_page(who.as_ref(), None, StatusCode::OK)
}

fn form_page(
    who: Option<&accounts::Principal>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let content = html! {
        h1 { "Sign in" }
        p.muted { "Paste an access token (made with " code { "modelhub token create" } "). It is kept in a cookie that scripts cannot read." }
        @if let Some(e) = error { p.findings { (e) } }
        form method="post" action="/login" {
            input type="password" name="token" placeholder="mh_..." aria-label="Access token" required autocomplete="off" size="50";
            " "
            button type="submit" { "Sign in" }
        }
    };
    let mut res = layout("Sign in", who, content);
    *res.status_mut() = status;
    res
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    let valid = crate::edge::access::principal_from_secret(&state, token)
        .await
        .ok()
        .flatten()
        .is_some();
    if !valid
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return form_page(
            None,
            Some("That token is not valid."),
            StatusCode::UNAUTHORIZED,
        );
    }
    let secure = state
        .config()
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000{}",
        if secure { "; Secure" } else { "" }
    );
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("token characters are checked"),
    );
    res
}

pub async fn logout() -> Response {
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        ))
        .expect("ASCII"),
    );
    res
}

/// Repos of each type a namespace page shows.
const NAMESPACE_REPOS: usize = 1000;

pub async fn namespace(
    State(state): State<AppState>,
    Path(ns): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let who = viewer(&state, &headers).await;
    let kind = if state.accounts().user(&ns).await.is_ok() {
        "User"
    } else if state.accounts().org(&ns).await.is_ok() {
        "Organisation"
    } else {
        return Err(PageError::NotFound);
    };
    let fullname = state
        .accounts()
        .profile(&ns)
        .await?
        .map(|p| p.fullname)
        .filter(|f| !f.is_empty());
    // Its repos the viewer may see, each type sorted by id (from the listing summaries).
    let mut repos = Vec::new();
    for t in RepoType::ALL {
        let query = crate::hf::list::RepoQuery {
            repo_type: t,
            search: "",
            author: Some(&ns),
            filters: &[],
            pipeline: None,
            sort: "id",
            descending: false,
            full: false,
            offset: 0,
            limit: NAMESPACE_REPOS,
            count: false,
            params: None,
            gated: None,
        };
        let listing = crate::hf::list::find_repos(&state, who.as_ref(), &query).await?;
        repos.extend(listing.rows.iter().map(|m| {
            let id = m["id"].as_str().unwrap_or_default().to_owned();
            let private = m["private"].as_bool() == Some(true);
            let downloads = m["downloads"].as_u64().unwrap_or(0);
            (t, id, private, downloads)
        }));
    }
    // What the namespace stores, and its limit: only to the user, the organisation's members
    // and site admins (it counts private repos).
    let own = match &who {
        Some(p) if p.is_admin || p.name.eq_ignore_ascii_case(&ns) => true,
        Some(p) => state.accounts().org_role(p.user_id, &ns).await?.is_some(),
        None => false,
    };
    let storage = match own {
        true => {
            let used = state.inner.hub.namespace_usage(&ns).await?.total();
            Some((used, state.accounts().quota(&ns).await?))
        }
        false => None,
    };
    let collections = super::collections::of_namespace(&state, &headers, who.as_ref(), &ns).await?;
    let content = html! {
        h1 { (ns) " " span.badge { (kind) } }
        @if let Some(f) = &fullname { p.fullname { (f) } }
        @if let Some((used, limit)) = storage {
            p.storage {
                "Storage used: " (super::human_size(used))
                @if let Some(limit) = limit { " of " (super::human_size(limit)) }
            }
        }
        @if repos.is_empty() { p.muted { "No repos to show." } }
        ul.repos {
            @for (t, id, private, downloads) in &repos {
                li {
                    a href={ "/" (t.url_prefix()) (id) } { strong { (id) } }
                    @if *private { " " span.badge { "private" } }
                    div.meta { span { (t) } span { (downloads) " downloads" } }
                }
            }
        }
        @if !collections.is_empty() {
            h2 { a href={ "/collections/" (ns) } { "Collections" } }
            ul.repos.collections { @for c in &collections { (super::collections::summary(c)) } }
        }
    };
    Ok(layout(&ns, who.as_ref(), content))
}
