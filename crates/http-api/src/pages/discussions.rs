//! A repo's Community tab: its discussions and pull requests, one page per discussion with
//! its events (comments as sanitized Markdown), a pull request's diff and conflicts, and
//! forms to open, comment, close, reopen and merge. Every form carries the session's form
//! token (and the sign-in cookie is SameSite=Strict), and the same rules as the API apply:
//! they call the same code.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use git_repos::DEFAULT_BRANCH;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use serde_json::Value;

use super::repo::{heading, tabs};
use super::{form_token, form_user, layout, Page, PageError};
use crate::edge::RepoAccess;
use crate::hf::{discussions as core, HfError};
use crate::AppState;

/// What a refused form answers: the reason, with the status the API would give.
fn refused(e: HfError) -> PageError {
    let status = match &e {
        HfError::Forbidden(_) => StatusCode::FORBIDDEN,
        HfError::Conflict(_) => StatusCode::CONFLICT,
        HfError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        HfError::BadRequest(_) | HfError::Unprocessable(_) => StatusCode::BAD_REQUEST,
        _ => return e.into(),
    };
    PageError::Refused(status, e.to_string())
}

fn community_url(repo: &accounts::Repo) -> String {
    format!("{}/discussions", super::repo_url(&repo.repo_ref()))
}

fn badge(status: &str) -> Markup {
    html! { span class={ "badge status-" (status) } { (status) } }
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

/// `{repo}/discussions?status=open|closed|all`.
pub async fn list(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let repo = &access.repo;
    let status = match q.status.as_deref() {
        Some("closed") => Some("closed"),
        Some("all") => None,
        _ => Some("open"),
    };
    let filter = accounts::discussions::DiscussionFilter {
        pull_requests: None,
        status,
        author: None,
    };
    let (found, count) = state
        .accounts()
        .list_discussions(repo.id, &filter, 0, 100)
        .await?;
    let disabled = state.accounts().discussions_disabled(repo.id).await?;
    let url = community_url(repo);
    let token = form_token(&headers);
    let content = html! {
        (heading(repo))
        (tabs(repo, DEFAULT_BRANCH, "community"))
        nav.filters {
            a.on[status == Some("open")] href={ (url) "?status=open" } { "Open" }
            a.on[status == Some("closed")] href={ (url) "?status=closed" } { "Closed" }
            a.on[status.is_none()] href={ (url) "?status=all" } { "All" }
        }
        p.muted { (count) " shown" }
        @if found.is_empty() { p.muted { "Nothing here yet." } }
        ul.repos.discussions {
            @for d in &found {
                li {
                    a href={ (url) "/" (d.num) } { strong { (d.title) } }
                    " " (badge(&d.status))
                    div.meta {
                        span { "#" (d.num) }
                        span { @if d.is_pr { "pull request" } @else { "discussion" } }
                        span { "by " (d.author.as_deref().unwrap_or("deleted")) }
                        span { (d.created_at.get(..16).unwrap_or_default().replace('T', " ")) }
                    }
                }
            }
        }
        @if disabled {
            p.muted { "Discussions are disabled for this repo." }
        } @else if let (Some(_), Some(t)) = (&access.who, &token) {
            h2 { "New discussion" }
            form.discussion method="post" action=(url) {
                input type="hidden" name="form_token" value=(t);
                input type="text" name="title" placeholder="Title" maxlength="200" required aria-label="Title";
                textarea name="description" rows="6" placeholder="What is it about? (Markdown)" aria-label="Description" {}
                button type="submit" { "Open discussion" }
            }
        } @else {
            p.muted { a href="/login" { "Sign in" } " to open a discussion." }
        }
    };
    Ok(layout(
        &format!("{} community", repo.repo_ref().id),
        access.who.as_ref(),
        content,
    ))
}

#[derive(Deserialize)]
pub struct NewForm {
    form_token: String,
    title: String,
    #[serde(default)]
    description: String,
}

/// `POST {repo}/discussions`: opens a discussion, then shows it.
pub async fn create(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
    Form(f): Form<NewForm>,
) -> Result<Response, PageError> {
    let who = form_user(access.who.as_ref(), &headers, Some(&f.form_token))?;
    let num = core::open(&state, &access.repo, who, &f.title, &f.description, false)
        .await
        .map_err(refused)?;
    Ok(Redirect::to(&format!("{}/{num}", community_url(&access.repo))).into_response())
}

/// One event of a discussion's JSON (`core::view`), as HTML.
fn event_html(e: &Value) -> Markup {
    let who = e["author"]["name"].as_str().unwrap_or("deleted");
    let at = e["createdAt"]
        .as_str()
        .unwrap_or_default()
        .get(..16)
        .unwrap_or_default()
        .replace('T', " ");
    let data = &e["data"];
    html! {
        @match e["type"].as_str().unwrap_or_default() {
            "comment" => {
                article.comment {
                    div.meta { strong { (who) } " · " (at) @if data["edited"].as_bool() == Some(true) { " · edited" } }
                    @if data["hidden"].as_bool() == Some(true) {
                        p.muted { "This comment has been hidden." }
                    } @else {
                        // Rendered by pulldown-cmark and sanitized by ammonia.
                        div.markdown { (PreEscaped(data["latest"]["html"].as_str().unwrap_or_default())) }
                    }
                }
            }
            "commit" => {
                p.event { (who) " added commit " code { (data["oid"].as_str().unwrap_or_default().get(..10).unwrap_or_default()) } " " (data["subject"].as_str().unwrap_or_default()) " · " (at) }
            }
            "status-change" => {
                p.event { (who) " changed the status to " (badge(data["status"].as_str().unwrap_or_default())) " · " (at) }
            }
            "title-change" => {
                p.event { (who) " renamed it from “" (data["from"].as_str().unwrap_or_default()) "” to “" (data["to"].as_str().unwrap_or_default()) "” · " (at) }
            }
            _ => {}
        }
    }
}

/// `{repo}/discussions/{num}`.
pub async fn page(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
    Path((_, _, num)): Path<(String, String, i64)>,
) -> Result<Response, PageError> {
    let repo = &access.repo;
    let url = community_url(repo);
    // A gated repo's diffs are its files' contents: only for those its gate lets through.
    let files_open = crate::gate::blocked(&state, repo, access.who.as_ref(), access.role, "")
        .await?
        .is_none();
    let v = core::view(
        &state,
        repo,
        num,
        files_open,
        &super::repo_url(&repo.repo_ref()),
    )
    .await?;
    let status = v["status"].as_str().unwrap_or_default().to_owned();
    let is_pr = v["isPullRequest"].as_bool() == Some(true);
    let writer = access.role >= hub_types::Role::Write;
    let locked = v["locked"].as_bool() == Some(true);
    // Closing and reopening is for its author and the repo's writers.
    let may_close = writer
        || access.who.as_ref().is_some_and(|p| {
            v["author"]["name"]
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case(&p.name))
        });
    let token = form_token(&headers);
    let conflicts: Vec<String> = v["filesWithConflicts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    let diff = v["diff"].as_str().unwrap_or_default().to_owned();
    let content = html! {
        (heading(repo))
        (tabs(repo, DEFAULT_BRANCH, "community"))
        h2 { (v["title"].as_str().unwrap_or_default()) " " (badge(&status)) }
        p.muted {
            "#" (num) " · " @if is_pr { "pull request into " code { (v["changes"]["base"].as_str().unwrap_or_default()) } " from " code { "refs/pr/" (num) } } @else { "discussion" }
            " · opened by " (v["author"]["name"].as_str().unwrap_or("deleted"))
        }
        section.events {
            @for e in v["events"].as_array().into_iter().flatten() { (event_html(e)) }
        }
        @if is_pr {
            p.checks {
                "Checks: every commit of this pull request passed the validator when it was pushed; "
                "a merge runs it again, with today's policy, on what the base branch would become."
            }
            h3 { "Files changed" }
            @if !conflicts.is_empty() {
                p.findings { "Conflicts with the base branch in: " (conflicts.join(", ")) }
            }
            @if diff.is_empty() { p.muted { "No changes." } }
            @else {
                pre.diff {
                    @for line in diff.lines() {
                        @let class = if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff ") || line.starts_with("index ") || line.starts_with("@@") { "hunk" } else if line.starts_with('+') { "add" } else if line.starts_with('-') { "del" } else { "" };
                        span class=(class) { (line) } "\n"
                    }
                }
            }
        }
        @if locked { p.muted { "This discussion is locked: only writers of the repo can comment." } }
        @if let (Some(_), Some(t)) = (&access.who, &token) {
            @if !locked || writer {
                form.comment method="post" action={ (url) "/" (num) "/comment" } {
                    input type="hidden" name="form_token" value=(t);
                    textarea name="comment" rows="5" placeholder="Leave a comment (Markdown)" aria-label="Comment" required {}
                    button type="submit" { "Comment" }
                }
            }
            div.actions {
                @if writer {
                    form method="post" action={ (url) "/" (num) "/lock" } {
                        input type="hidden" name="form_token" value=(t);
                        input type="hidden" name="locked" value=(if locked { "false" } else { "true" });
                        button type="submit" { @if locked { "Unlock" } @else { "Lock" } }
                    }
                }
                @if is_pr && writer && (status == "open" || status == "draft") {
                    form method="post" action={ (url) "/" (num) "/merge" } {
                        input type="hidden" name="form_token" value=(t);
                        button type="submit" { "Merge" }
                    }
                }
                @if !may_close {
                } @else if status == "open" || status == "draft" {
                    form method="post" action={ (url) "/" (num) "/status" } {
                        input type="hidden" name="form_token" value=(t);
                        input type="hidden" name="status" value="closed";
                        button type="submit" { "Close" }
                    }
                } @else if status == "closed" {
                    form method="post" action={ (url) "/" (num) "/status" } {
                        input type="hidden" name="form_token" value=(t);
                        input type="hidden" name="status" value="open";
                        button type="submit" { "Reopen" }
                    }
                }
            }
        } @else {
            p.muted { a href="/login" { "Sign in" } " to comment." }
        }
    };
    Ok(layout(
        v["title"].as_str().unwrap_or("Discussion"),
        access.who.as_ref(),
        content,
    ))
}

#[derive(Deserialize)]
pub struct CommentForm {
    form_token: String,
    comment: String,
}

/// `POST {repo}/discussions/{num}/comment`.
pub async fn comment(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
    Path((_, _, num)): Path<(String, String, i64)>,
    Form(f): Form<CommentForm>,
) -> Result<Response, PageError> {
    let who = form_user(access.who.as_ref(), &headers, Some(&f.form_token))?;
    core::post_comment(&state, &access.repo, access.role, who, num, &f.comment)
        .await
        .map_err(refused)?;
    Ok(Redirect::to(&format!("{}/{num}", community_url(&access.repo))).into_response())
}

#[derive(Deserialize)]
pub struct StatusForm {
    form_token: String,
    status: String,
}

/// `POST {repo}/discussions/{num}/status`.
pub async fn status(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
    Path((_, _, num)): Path<(String, String, i64)>,
    Form(f): Form<StatusForm>,
) -> Result<Response, PageError> {
    let who = form_user(access.who.as_ref(), &headers, Some(&f.form_token))?;
    core::set_status(&state, &access.repo, access.role, who, num, &f.status, "")
        .await
        .map_err(refused)?;
    Ok(Redirect::to(&format!("{}/{num}", community_url(&access.repo))).into_response())
}

#[derive(Deserialize)]
pub struct LockForm {
    form_token: String,
    locked: bool,
}

/// `POST {repo}/discussions/{num}/lock`: writers only.
pub async fn lock(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
    Path((_, _, num)): Path<(String, String, i64)>,
    Form(f): Form<LockForm>,
) -> Result<Response, PageError> {
    let who = form_user(access.who.as_ref(), &headers, Some(&f.form_token))?;
    core::set_locked(&state, &access.repo, access.role, who, num, f.locked)
        .await
        .map_err(refused)?;
    Ok(Redirect::to(&format!("{}/{num}", community_url(&access.repo))).into_response())
}

#[derive(Deserialize)]
pub struct MergeForm {
    form_token: String,
}

/// `POST {repo}/discussions/{num}/merge`: writers only; a refusal (conflicts, the
/// validator) shows its reason.
pub async fn merge(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
    Path((_, _, num)): Path<(String, String, i64)>,
    Form(f): Form<MergeForm>,
) -> Result<Response, PageError> {
    let who = form_user(access.who.as_ref(), &headers, Some(&f.form_token))?;
    core::merge_pull(&state, &access.repo, access.role, who, num, "")
        .await
        .map_err(refused)?;
    Ok(Redirect::to(&format!("{}/{num}", community_url(&access.repo))).into_response())
}
