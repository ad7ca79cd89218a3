//! Web pages to find and read repos: server-rendered HTML (maud: templates checked at compile
//! time, escaping by default), one small stylesheet, no scripts, no external resources.
//! Signing in stores the token in an HttpOnly, SameSite=Strict cookie read by pages only (the
//! API and git never accept it, so it cannot be used for cross-site writes).

mod account;
mod highlight;
mod list;
mod markdown;
mod repo;

use accounts::{Principal, Repo};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hub_types::{RepoRef, RepoType};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::AppState;

const STYLE: &str = include_str!("style.css");
pub const COOKIE: &str = "mh_token";

/// Top-level pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list::models))
        .route("/models", get(list::models))
        .route("/datasets", get(list::datasets))
        .route("/spaces", get(list::spaces))
        .route("/assets/style.css", get(style))
        .route("/assets/code.css", get(code_style))
        .route("/login", get(account::login_form).post(account::login))
        .route("/logout", post(account::logout))
        .route("/{ns}", get(account::namespace))
}

/// Repo pages, relative to a repo type's URL prefix (as the git routes).
pub fn repo_routes() -> Router<AppState> {
    Router::new()
        .route("/{ns}/{repo}", get(repo::card))
        .route("/{ns}/{repo}/tree/{rev}", get(repo::tree_root))
        .route("/{ns}/{repo}/tree/{rev}/{*path}", get(repo::tree))
        .route("/{ns}/{repo}/blob/{rev}/{*path}", get(repo::blob))
        .route("/{ns}/{repo}/commits/{rev}", get(repo::commits))
        .route("/{ns}/{repo}/commit/{sha}", get(repo::commit))
}

async fn style() -> Response {
    stylesheet(STYLE)
}

async fn code_style() -> Response {
    stylesheet(highlight::css())
}

/// A stylesheet answer: CSS, cached by the browser for an hour.
fn stylesheet(css: &'static str) -> Response {
    let mut res = css.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

/// The signed-in user, from the page cookie.
async fn viewer(state: &AppState, headers: &HeaderMap) -> Option<Principal> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    let token = cookies
        .split(';')
        .find_map(|c| c.trim().strip_prefix(&format!("{COOKIE}=")))?;
    crate::repo_access::principal_from_secret(state, token)
        .await
        .ok()
        .flatten()
}

/// A page, or an HTML error page with the right status.
pub enum PageError {
    NotFound,
    Internal(String),
}

/// Runs CPU-bound page work (Markdown, sanitizing, highlighting, card checks) on the blocking
/// pool, so a heavy page never stalls the async workers that serve everyone else.
pub(crate) async fn cpu<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PageError::Internal(format!("page rendering failed: {e}")))
}

impl From<crate::hf::HfError> for PageError {
    fn from(e: crate::hf::HfError) -> Self {
        match e {
            crate::hf::HfError::Internal(m) => PageError::Internal(m),
            _ => PageError::NotFound,
        }
    }
}

impl From<accounts::AccountsError> for PageError {
    fn from(e: accounts::AccountsError) -> Self {
        PageError::Internal(e.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text) = match &self {
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or you may not see it. Sign in if it is private.",
            ),
            PageError::Internal(detail) => {
                tracing::error!(error = %detail, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Server error",
                    "Something went wrong on our side. It has been logged.",
                )
            }
        };
        let body = layout(
            title,
            None,
            html! { section.error { h1 { (status.as_u16()) " " (title) } p { (text) } p { a href="/" { "All models" } } } },
        );
        (status, body).into_response()
    }
}

/// Every page: the header with search and sign-in state, then the content.
pub fn layout(title: &str, who: Option<&Principal>, content: Markup) -> Response {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · modelhub" }
                link rel="stylesheet" href="/assets/style.css";
                link rel="stylesheet" href="/assets/code.css";
            }
            body {
                header.top {
                    a.brand href="/" { "modelhub" }
                    nav { a href="/models" { "Models" } a href="/datasets" { "Datasets" } a href="/spaces" { "Spaces" } }
                    form.search action="/models" method="get" { input type="search" name="search" placeholder="Search models" aria-label="Search models"; }
                    div.who {
                        @if let Some(p) = who {
                            a href={ "/" (p.name) } { (p.name) }
                            form action="/logout" method="post" { button type="submit" { "Sign out" } }
                        } @else {
                            a href="/login" { "Sign in" }
                        }
                    }
                }
                main { (content) }
            }
        }
    };
    let mut res = axum::response::Html(page.into_string()).into_response();
    // Nothing on these pages may run script or load from elsewhere.
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    );
    res.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// `/models/...` style URL of a repo's page.
pub fn repo_url(r: &RepoRef) -> String {
    format!("/{r}")
}

/// A repo visible to `who`, or a 404.
async fn visible(
    state: &AppState,
    who: Option<&Principal>,
    t: RepoType,
    ns: &str,
    name: &str,
) -> Result<Repo, PageError> {
    let target = crate::repo_access::repo_ref(t, ns, name).map_err(|_| PageError::NotFound)?;
    let repo = crate::repo_access::find_repo(state, &target)
        .await
        .map_err(|_| PageError::NotFound)?;
    match state.accounts().access(who, &repo).await? {
        Some(_) => Ok(repo),
        None => Err(PageError::NotFound),
    }
}

fn human_size(n: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn human_count(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}K", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}B", n as f64 / 1e9),
    }
}

/// Raw HTML that is known safe (sanitized card HTML).
fn trusted(html: String) -> PreEscaped<String> {
    PreEscaped(html)
}
