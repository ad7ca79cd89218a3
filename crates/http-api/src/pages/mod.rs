//! Web pages to find and read repos: server-rendered HTML (maud: templates checked at compile
//! time, escaping by default), one small stylesheet, no scripts, no external resources.
//! Signing in stores the token in an HttpOnly, SameSite=Strict cookie read by pages only (the
//! API and git never accept it, so it cannot be used for cross-site writes).

mod account;
mod collections;
mod discussions;
mod gated;
mod highlight;
mod list;
pub(crate) mod markdown;
mod repo;
mod webhooks;

use accounts::Principal;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hub_types::RepoRef;
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
        .route("/settings/webhooks", get(webhooks::page))
        .route("/settings/webhooks/replay", post(webhooks::replay))
        .route("/collections/{ns}", get(collections::namespace))
        .route("/collections/{ns}/{slug}", get(collections::page))
        .route("/{ns}", get(account::namespace))
}

/// Repo pages, relative to a repo type's URL prefix (as the git routes).
pub fn repo_routes() -> Router<AppState> {
    Router::new()
        .route("/{ns}/{repo}", get(repo::card))
        .route("/{ns}/{repo}/tree/{rev}", get(repo::tree))
        .route("/{ns}/{repo}/tree/{rev}/{*path}", get(repo::tree))
        .route("/{ns}/{repo}/blob/{rev}/{*path}", get(repo::blob))
        .route("/{ns}/{repo}/commits/{rev}", get(repo::commits))
        .route("/{ns}/{repo}/commit/{sha}", get(repo::commit))
        .route("/{ns}/{repo}/like", post(repo::like))
        .route("/{ns}/{repo}/ask-access", post(gated::ask))
        .route(
            "/{ns}/{repo}/access-requests",
            get(gated::requests).post(gated::handle),
        )
        .route("/{ns}/{repo}/access-requests/gate", post(gated::set_gate))
        .route(
            "/{ns}/{repo}/discussions",
            get(discussions::list).post(discussions::create),
        )
        .route("/{ns}/{repo}/discussions/{num}", get(discussions::page))
        .route(
            "/{ns}/{repo}/discussions/{num}/comment",
            post(discussions::comment),
        )
        .route(
            "/{ns}/{repo}/discussions/{num}/status",
            post(discussions::status),
        )
        .route(
            "/{ns}/{repo}/discussions/{num}/merge",
            post(discussions::merge),
        )
        .route(
            "/{ns}/{repo}/discussions/{num}/lock",
            post(discussions::lock),
        )
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

/// The token in the page cookie, if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .find_map(|c| c.trim().strip_prefix(&format!("{COOKIE}=")))
        .map(str::to_owned)
}

/// The token a page's forms carry against cross-site requests: derived from the sign-in
/// cookie (which scripts cannot read), so only pages this server rendered for that session
/// know it. Domain-separated, so it is never the token's stored hash.
pub(crate) fn form_token(headers: &HeaderMap) -> Option<String> {
    use sha2::Digest;
    let secret = cookie_token(headers)?;
    let mut h = sha2::Sha256::new();
    h.update(b"modelhub form token\0");
    h.update(secret.as_bytes());
    Some(hex::encode(h.finalize()))
}

/// The signed-in user a form was posted by, if it carries this session's [`form_token`]:
/// every form a page posts asks this first.
pub(crate) fn form_user<'a>(
    who: Option<&'a Principal>,
    headers: &HeaderMap,
    sent: Option<&str>,
) -> Result<&'a Principal, PageError> {
    let who =
        who.ok_or_else(|| PageError::Refused(StatusCode::UNAUTHORIZED, "Sign in first.".into()))?;
    if !sent.is_some_and(|t| form_token_ok(headers, t)) {
        return Err(PageError::Refused(
            StatusCode::FORBIDDEN,
            "This form is stale or was not sent from this site; reload the page and try again."
                .into(),
        ));
    }
    Ok(who)
}

/// Whether a form carries this session's [`form_token`].
fn form_token_ok(headers: &HeaderMap, sent: &str) -> bool {
    form_token(headers).is_some_and(|t| {
        t.len() == sent.len()
            && t.bytes()
                .zip(sent.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

/// The signed-in user, from the page cookie (for pages that name no repo).
async fn viewer(state: &AppState, headers: &HeaderMap) -> Option<Principal> {
    crate::edge::repo::caller::<Page>(state, cookie_token(headers))
        .await
        .ok()
        .flatten()
}

/// A page, or an HTML error page with the right status.
pub enum PageError {
    NotFound,
    /// A form's request refused, with the reason to show (a 4xx status).
    Refused(StatusCode, String),
    /// The repo moved: a redirect to its new URL.
    Redirect(String),
    /// The database or the object store does not answer (503).
    Unavailable(String),
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
            crate::hf::HfError::Unavailable(m) => PageError::Unavailable(m),
            _ => PageError::NotFound,
        }
    }
}

/// The pages: the caller is the page cookie's (an unknown one is no one), and every refusal
/// is the HTML 404 page, so a private repo looks exactly like a missing one.
pub struct Page;

impl crate::edge::Surface for Page {
    type Error = PageError;
    const UNKNOWN_SECRET_IS_ANONYMOUS: bool = true;

    fn credentials(parts: &axum::http::request::Parts) -> Option<String> {
        cookie_token(&parts.headers)
    }
}

impl From<crate::edge::Denied> for PageError {
    fn from(d: crate::edge::Denied) -> Self {
        match d {
            crate::edge::Denied::Internal(m) => PageError::Internal(m),
            crate::edge::Denied::Unavailable(m) | crate::edge::Denied::UpstreamDown(m) => {
                PageError::Unavailable(m)
            }
            crate::edge::Denied::Redirect(l) => PageError::Redirect(l),
            _ => PageError::NotFound,
        }
    }
}

impl From<accounts::AccountsError> for PageError {
    fn from(e: accounts::AccountsError) -> Self {
        if e.is_unavailable() {
            PageError::Unavailable(e.to_string())
        } else {
            PageError::Internal(e.to_string())
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let PageError::Redirect(location) = &self {
            return crate::edge::access::redirect(location);
        }
        if let PageError::Refused(status, message) = &self {
            let body = layout(
                "Refused",
                None,
                html! { section.error { h1 { (status.as_u16()) " Refused" } p.findings { (message) } p { "Go back to change what you sent." } } },
            );
            return (*status, body).into_response();
        }
        let (status, title, text) = match &self {
            PageError::Refused(..) => unreachable!("answered above"),
            PageError::Redirect(_) => (
                StatusCode::TEMPORARY_REDIRECT,
                "Moved",
                "This repo has a new name.",
            ),
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or you may not see it. Sign in if it is private.",
            ),
            PageError::Unavailable(detail) => {
                tracing::error!(error = %detail, "page failed: a store is unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "The hub cannot reach its storage right now. Try again in a moment.",
                )
            }
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

pub(crate) fn human_size(n: u64) -> String {
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
