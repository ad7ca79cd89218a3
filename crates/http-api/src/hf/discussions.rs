//! Discussions and pull requests over the Hub API, as huggingface_hub 2.4.0 calls them
//! (`get_repo_discussions`, `get_discussion_details`, `create_discussion`,
//! `create_pull_request`, `comment_discussion`, `edit_discussion_comment`,
//! `hide_discussion_comment`, `rename_discussion`, `change_discussion_status`,
//! `merge_pull_request`). Numbers are per repo and shared by both kinds; a pull request is
//! the ref `refs/pr/N`, its commits are what that ref holds, and its merge is landed as a
//! push, so the validator judges what the base branch would become.

use accounts::discussions::{
    Discussion, DiscussionFilter, Event, NewEvent, MAX_COMMENT, MAX_TITLE,
};
use accounts::Principal;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use git_repos::{MergeError, DEFAULT_BRANCH};
use hub_types::Role;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{with_reader, HfError, Hub};
use crate::edge::http::{iso_time, public_base};
use crate::edge::RepoAccess;
use crate::AppState;

/// Discussions per page of a listing.
const PAGE: i64 = 50;
/// A pull request's diff is shown up to this many bytes.
const MAX_DIFF: usize = 1 << 20;
/// A pull request's commits listed as events, at most.
const MAX_COMMITS: usize = 250;

fn author_json(name: Option<&str>) -> Value {
    match name {
        Some(n) => json!({ "name": n, "type": "user", "avatarUrl": "", "fullname": n }),
        None => {
            json!({ "name": "deleted", "type": "user", "avatarUrl": "", "fullname": "deleted" })
        }
    }
}

pub(crate) fn summary_json(repo: &accounts::Repo, d: &Discussion) -> Value {
    json!({
        "num": d.num,
        "title": d.title,
        "status": d.status,
        "createdAt": d.created_at,
        "author": author_json(d.author.as_deref()),
        "isPullRequest": d.is_pr,
        "pinned": false,
        "repo": { "name": repo.repo_ref().id.to_string(), "type": repo.repo_type.as_str() },
    })
}

/// A comment by `who`, as a new event.
fn new_comment(who: &Principal, text: &str) -> NewEvent<'static> {
    NewEvent {
        kind: "comment",
        author_id: who.user_id,
        data: comment_data(text, &who.name),
    }
}

/// A comment's stored data: its text now, whether it was edited or hidden, and each earlier
/// version.
fn comment_data(raw: &str, editor: &str) -> String {
    json!({ "raw": raw, "edited": false, "hidden": false, "updatedAt": now(), "editor": editor, "history": [] })
        .to_string()
}

fn now() -> String {
    iso_time(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    )
}

/// An event as the client reads it (`deserialize_event`); comments rendered as sanitized
/// HTML.
fn event_json(e: &Event, repo_url: &str) -> Value {
    let data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
    let body = match e.kind.as_str() {
        "comment" => {
            let raw = data["raw"].as_str().unwrap_or_default();
            let editor = data["editor"].as_str();
            let history: Vec<Value> = data["history"].as_array().cloned().unwrap_or_default();
            json!({
                "edited": data["edited"].as_bool().unwrap_or(false),
                "hidden": data["hidden"].as_bool().unwrap_or(false),
                "numEdits": history.len(),
                "editors": [],
                "reactions": [],
                "isReport": false,
                "latest": {
                    "raw": raw,
                    "html": crate::pages::markdown::render(raw, repo_url, DEFAULT_BRANCH),
                    "updatedAt": data["updatedAt"].as_str().unwrap_or(&e.created_at),
                    "author": author_json(editor.or(e.author.as_deref())),
                },
                "history": history,
            })
        }
        _ => data,
    };
    json!({
        "id": e.public_id,
        "type": e.kind,
        "createdAt": e.created_at,
        "author": author_json(e.author.as_deref()),
        "data": body,
    })
}

fn repo_url(state: &AppState, headers: &HeaderMap, repo: &accounts::Repo) -> String {
    format!(
        "{}/{}{}",
        public_base(state, headers),
        repo.repo_type.url_prefix(),
        repo.repo_ref().id
    )
}

/// What a webhook event says of `d` after a change (`title`, `status`, `merge`: the new
/// values, where they change).
fn facts<'a>(
    d: &'a Discussion,
    title: Option<&'a str>,
    status: Option<&'a str>,
    merge: Option<&'a str>,
) -> crate::webhooks::DiscussionFacts<'a> {
    crate::webhooks::DiscussionFacts {
        num: d.num,
        title: title.unwrap_or(&d.title),
        is_pr: d.is_pr,
        status: status.unwrap_or(&d.status),
        author: d.author.as_deref(),
        base: d.base_ref.as_deref(),
        merge_commit: merge.or(d.merge_commit.as_deref()),
    }
}

/// The webhook event of comment `e` of `d` edited (its new `content`) or hidden.
fn comment_changed(
    state: &AppState,
    repo: &accounts::Repo,
    d: &Discussion,
    e: &Event,
    content: &str,
    hidden: bool,
) -> accounts::webhooks::Outgoing {
    crate::webhooks::discussion_event(
        state,
        repo,
        "update",
        "discussion.comment",
        &facts(d, None, None, None),
        Some(&crate::webhooks::CommentFacts {
            id: Some(&e.public_id),
            author: e.author.as_deref().unwrap_or("deleted"),
            content,
            hidden,
        }),
    )
}

fn not_found(num: i64) -> HfError {
    HfError::NotFound(format!("Discussion #{num} not found"))
}

async fn find(state: &AppState, repo: &accounts::Repo, num: i64) -> Result<Discussion, HfError> {
    state
        .accounts()
        .discussion(repo.id, num)
        .await?
        .ok_or_else(|| not_found(num))
}

/// Whether the caller wrote this discussion, or may write to the repo.
fn author_or_writer(who: &Principal, role: Role, d: &Discussion) -> bool {
    role >= Role::Write || d.author_id == Some(who.user_id)
}

async fn disabled(state: &AppState, repo: &accounts::Repo) -> Result<(), HfError> {
    if state.accounts().discussions_disabled(repo.id).await? {
        return Err(HfError::Forbidden(
            "Discussions are disabled for this repo".into(),
        ));
    }
    Ok(())
}

fn check_title(title: &str) -> Result<(), HfError> {
    if title.is_empty() {
        return Err(HfError::BadRequest("a title is needed".into()));
    }
    if title.chars().count() > MAX_TITLE || title.chars().any(char::is_control) {
        return Err(HfError::BadRequest(format!(
            "a title has at most {MAX_TITLE} characters and no control characters"
        )));
    }
    Ok(())
}

fn check_comment(text: &str) -> Result<(), HfError> {
    if text.len() > MAX_COMMENT {
        return Err(HfError::BadRequest(format!(
            "a comment has at most {} KiB ({} bytes here)",
            MAX_COMMENT / 1024,
            text.len()
        )));
    }
    if text.contains('\0') {
        return Err(HfError::BadRequest("a comment may not hold NUL".into()));
    }
    Ok(())
}

/// The next number of a repo: above every discussion's and every `refs/pr/N` (pull
/// requests opened before discussions were recorded). The caller holds the repo's lock.
pub(crate) async fn next_num(state: &AppState, repo: &accounts::Repo) -> Result<i64, HfError> {
    let path = state.repos().path(&repo.repo_ref());
    let refs: i64 = with_reader(state, path, |r| {
        Ok(r.refs("refs/pr/")?
            .iter()
            .filter_map(|p| p.name.trim_start_matches("refs/pr/").parse::<i64>().ok())
            .max()
            .unwrap_or(0))
    })
    .await?;
    let db = state.accounts().last_discussion_num(repo.id).await?;
    Ok(refs.max(db) + 1)
}

/// Records the pull request a commit with `create_pr` opened (its ref exists now).
pub(crate) async fn record_pull_request(
    state: &AppState,
    repo: &accounts::Repo,
    who: &Principal,
    num: i64,
    title: &str,
    description: &str,
    base: (&str, &str),
) -> Result<(), HfError> {
    let mut events = Vec::new();
    if !description.trim().is_empty() {
        events.push(new_comment(who, description));
    }
    let title: String = title
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TITLE)
        .collect();
    let told = crate::webhooks::discussion_event(
        state,
        repo,
        "create",
        "discussion",
        &crate::webhooks::DiscussionFacts {
            num,
            title: &title,
            is_pr: true,
            status: "open",
            author: Some(&who.name),
            base: Some(base.0),
            merge_commit: None,
        },
        None,
    );
    state
        .accounts()
        .telling(told)
        .open_discussion(repo.id, num, true, &title, who.user_id, Some(base), &events)
        .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct ListQuery {
    p: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
    author: Option<String>,
}

/// `GET /api/{T}/{id}/discussions?p=&type=&status=&author=` → `{discussions, count, start}`.
pub async fn list(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    Query(q): Query<ListQuery>,
) -> Result<Response, HfError> {
    let pull_requests = match q.kind.as_deref() {
        None | Some("all") => None,
        Some("discussion") => Some(false),
        Some("pull_request") => Some(true),
        Some(other) => {
            return Err(HfError::BadRequest(format!(
                "type must be all, discussion or pull_request, not {other:?}"
            )))
        }
    };
    let status = match q.status.as_deref() {
        None | Some("all") => None,
        Some(s @ ("open" | "closed")) => Some(s),
        Some(other) => {
            return Err(HfError::BadRequest(format!(
                "status must be all, open or closed, not {other:?}"
            )))
        }
    };
    let filter = DiscussionFilter {
        pull_requests,
        status,
        author: q.author.as_deref(),
    };
    let start = q.p.unwrap_or(0).max(0).saturating_mul(PAGE);
    let (found, count) = state
        .accounts()
        .list_discussions(access.repo.id, &filter, start, PAGE)
        .await?;
    let discussions: Vec<Value> = found
        .iter()
        .map(|d| summary_json(&access.repo, d))
        .collect();
    Ok(Json(json!({ "discussions": discussions, "count": count, "start": start })).into_response())
}

#[derive(Deserialize)]
pub struct CreateRequest {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "pullRequest")]
    pull_request: bool,
}

/// `POST /api/{T}/{id}/discussions` `{title, description, pullRequest}` → `{num, url,
/// pullRequest}`. Anyone signed in who may read the repo may open one; a pull request's ref
/// starts at the default branch's head.
pub async fn create(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    headers: HeaderMap,
    Json(req): Json<CreateRequest>,
) -> Result<Response, HfError> {
    let who = access.user()?.clone();
    let repo = &access.repo;
    let description = req.description.unwrap_or_default();
    let num = open(
        &state,
        repo,
        &who,
        &req.title,
        &description,
        req.pull_request,
    )
    .await?;
    let url = format!("{}/discussions/{num}", repo_url(&state, &headers, repo));
    Ok(Json(json!({ "num": num, "url": url, "pullRequest": req.pull_request })).into_response())
}

/// Opens a discussion, or a pull request whose ref starts at the default branch's head, by
/// `who` (anyone signed in who may read the repo); returns its number.
pub(crate) async fn open(
    state: &AppState,
    repo: &accounts::Repo,
    who: &Principal,
    title: &str,
    description: &str,
    pull_request: bool,
) -> Result<i64, HfError> {
    disabled(state, repo).await?;
    let title = title.trim();
    check_title(title)?;
    check_comment(description)?;
    let _lock = state
        .accounts()
        .lock_repo(repo.id, state.config().pack_queue_wait)
        .await?;
    let num = next_num(state, repo).await?;
    let mut events = Vec::new();
    if !description.trim().is_empty() {
        events.push(new_comment(who, description));
    }
    let base = if pull_request {
        let path = state.repos().path(&repo.repo_ref());
        let tip = with_reader(state, path, |r| Ok(r.resolve(DEFAULT_BRANCH)?.id)).await?;
        let mut env = crate::git_http::push_env(state, repo, who);
        env.vars.push(("MODELHUB_VIA_API".into(), "1".into()));
        env.vars.push(("MODELHUB_API_PR".into(), "1".into()));
        state
            .repos()
            .open_pull_ref(&repo.repo_ref(), num as u64, &tip, &env)
            .await
            .map_err(|e| HfError::BadRequest(e.to_string()))?;
        state.refs_moved(repo).await;
        Some(tip)
    } else {
        None
    };
    let base_ref = format!("refs/heads/{DEFAULT_BRANCH}");
    let told = crate::webhooks::discussion_event(
        state,
        repo,
        "create",
        "discussion",
        &crate::webhooks::DiscussionFacts {
            num,
            title,
            is_pr: pull_request,
            status: "open",
            author: Some(&who.name),
            base: base.is_some().then_some(base_ref.as_str()),
            merge_commit: None,
        },
        None,
    );
    state
        .accounts()
        .telling(told)
        .open_discussion(
            repo.id,
            num,
            pull_request,
            title,
            who.user_id,
            base.as_deref().map(|b| (base_ref.as_str(), b)),
            &events,
        )
        .await?;
    Ok(num)
}

/// The commits of a pull request since it started, oldest first, as events.
async fn commit_events(
    state: &AppState,
    repo: &accounts::Repo,
    d: &Discussion,
) -> Result<Vec<(String, Value)>, HfError> {
    let path = state.repos().path(&repo.repo_ref());
    let (head, base) = (format!("refs/pr/{}", d.num), d.base_commit.clone());
    let commits = with_reader(state, path, move |r| {
        let Ok(tip) = r.resolve(&head) else {
            return Ok(Vec::new());
        };
        let (log, _) = r.log(&tip, 0, MAX_COMMITS)?;
        Ok(log
            .into_iter()
            .take_while(|c| Some(&c.id) != base.as_ref())
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(commits
        .into_iter()
        .rev()
        .map(|c| {
            let at = iso_time(c.time);
            let v = json!({
                "id": c.id,
                "type": "commit",
                "createdAt": at,
                "author": author_json(Some(&c.author_name)),
                "data": { "subject": c.title, "oid": c.id },
            });
            (at, v)
        })
        .collect())
}

/// `GET /api/{T}/{id}/discussions/{num}[?diff=1]`.
pub async fn details(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    headers: HeaderMap,
    Path((_, _, _, num)): Path<(String, String, String, i64)>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, HfError> {
    let want_diff = q
        .iter()
        .any(|(k, v)| k == "diff" && (v == "1" || v == "true"));
    let url = repo_url(&state, &headers, &access.repo);
    // A gated repo's diffs are its files' contents: only for those its gate lets through.
    let want_diff = want_diff
        && crate::gate::blocked(&state, &access.repo, access.who.as_ref(), access.role, &url)
            .await?
            .is_none();
    Ok(Json(view(&state, &access.repo, num, want_diff, &url).await?).into_response())
}

/// A discussion as `get_discussion_details` reads it: its events in time order (a pull
/// request's commits among them), and for a pull request its base, merge commit,
/// conflicting files and, if asked, its diff.
pub(crate) async fn view(
    state: &AppState,
    repo: &accounts::Repo,
    num: i64,
    want_diff: bool,
    url: &str,
) -> Result<Value, HfError> {
    let d = find(state, repo, num).await?;
    let mut events: Vec<(String, Value)> = state
        .accounts()
        .discussion_events(d.id)
        .await?
        .iter()
        .map(|e| (e.created_at.clone(), event_json(e, url)))
        .collect();
    let mut out = summary_json(repo, &d);
    if d.is_pr {
        // In time order; commits carry whole seconds, so within one second what was written
        // here comes first. The pull request's opening words (written with it) come first of
        // all, even when the commit that opened it was made a moment before they were stored.
        let stored = events.len();
        let opened: String = d.created_at.chars().take(19).collect();
        events.extend(commit_events(state, repo, &d).await?);
        let mut keyed: Vec<(String, usize, Value)> = events
            .into_iter()
            .enumerate()
            .map(|(i, (at, v))| {
                let at: String = at.chars().take(19).collect();
                let key = if i < stored && at <= opened {
                    String::new()
                } else {
                    at
                };
                (key, usize::from(i >= stored), v)
            })
            .collect();
        keyed.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        events = keyed.into_iter().map(|(at, _, v)| (at, v)).collect();
        let base_ref = d
            .base_ref
            .clone()
            .unwrap_or_else(|| format!("refs/heads/{DEFAULT_BRANCH}"));
        let mut changes = json!({ "base": base_ref });
        if let Some(m) = &d.merge_commit {
            changes["mergeCommitId"] = json!(m);
        }
        out["changes"] = changes;
        let head = format!("refs/pr/{}", d.num);
        let repo_ref = repo.repo_ref();
        let path = state.repos().path(&repo_ref);
        let (b, h) = (base_ref.clone(), head.clone());
        // Commit ids: the merge is tried in a scratch repo, which has the objects, not the refs.
        let tips = with_reader(state, path, move |r| {
            Ok(match (r.resolve(&b), r.resolve(&h)) {
                (Ok(b), Ok(h)) => Some((b.id, h.id)),
                _ => None,
            })
        })
        .await?;
        let (conflicts, diff) = match &tips {
            Some((b, h)) if d.status == "open" || d.status == "draft" => {
                let conflicts = state
                    .repos()
                    .conflicts(&repo_ref, b, h)
                    .await
                    .map_err(HfError::internal)?;
                (conflicts, base_ref.clone())
            }
            _ => (
                Vec::new(),
                d.base_commit.clone().unwrap_or(base_ref.clone()),
            ),
        };
        out["filesWithConflicts"] = json!(conflicts);
        if want_diff {
            match state.repos().diff(&repo_ref, &diff, &head, MAX_DIFF).await {
                Ok(diff) => out["diff"] = json!(diff.text),
                Err(e) => tracing::warn!(error = %e, "pull request diff"),
            }
        }
    }
    out["events"] = Value::Array(events.into_iter().map(|(_, v)| v).collect());
    out["isReport"] = json!(false);
    out["locked"] = json!(d.locked);
    Ok(out)
}

fn body<T: for<'de> Deserialize<'de> + Default>(bytes: &Bytes) -> Result<T, HfError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| HfError::BadRequest(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize, Default)]
pub struct CommentRequest {
    comment: Option<String>,
}

/// `POST .../discussions/{num}/comment {comment}` → `{newMessage}`.
pub async fn comment(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    headers: HeaderMap,
    Path((_, _, _, num)): Path<(String, String, String, i64)>,
    raw: Bytes,
) -> Result<Response, HfError> {
    let who = access.user()?.clone();
    let req: CommentRequest = body(&raw)?;
    let text = req.comment.unwrap_or_default();
    let e = post_comment(&state, &access.repo, access.role, &who, num, &text).await?;
    let url = repo_url(&state, &headers, &access.repo);
    Ok(Json(json!({ "newMessage": event_json(&e, &url) })).into_response())
}

/// Adds `who`'s comment to discussion `num`; a locked one takes writers' comments only.
pub(crate) async fn post_comment(
    state: &AppState,
    repo: &accounts::Repo,
    role: Role,
    who: &Principal,
    num: i64,
    text: &str,
) -> Result<Event, HfError> {
    disabled(state, repo).await?;
    if text.trim().is_empty() {
        return Err(HfError::BadRequest("the comment is empty".into()));
    }
    check_comment(text)?;
    let d = find(state, repo, num).await?;
    if state.accounts().discussion_event_count(d.id).await? >= accounts::discussions::MAX_EVENTS {
        return Err(HfError::BadRequest(format!(
            "Discussion #{num} has reached {} events; open a new one to go on",
            accounts::discussions::MAX_EVENTS
        )));
    }
    if d.locked && role < Role::Write {
        return Err(HfError::Forbidden(format!(
            "Discussion #{num} is locked: only writers of the repo can comment"
        )));
    }
    let told = crate::webhooks::discussion_event(
        state,
        repo,
        "create",
        "discussion.comment",
        &facts(&d, None, None, None),
        Some(&crate::webhooks::CommentFacts {
            id: None,
            author: &who.name,
            content: text,
            hidden: false,
        }),
    );
    let events = state
        .accounts()
        .telling(told)
        .change_discussion(d.id, None, None, None, &[new_comment(who, text)])
        .await?;
    events
        .into_iter()
        .next()
        .ok_or_else(|| HfError::internal("comment not stored"))
}

#[derive(Deserialize, Default)]
pub struct TitleRequest {
    title: Option<String>,
}

/// `POST .../discussions/{num}/title {title}` → `{newTitle}`: its author or a writer.
pub async fn title(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    headers: HeaderMap,
    Path((_, _, _, num)): Path<(String, String, String, i64)>,
    raw: Bytes,
) -> Result<Response, HfError> {
    let who = access.user()?.clone();
    let repo = &access.repo;
    let req: TitleRequest = body(&raw)?;
    let new = req.title.unwrap_or_default();
    let new = new.trim();
    check_title(new)?;
    let d = find(&state, repo, num).await?;
    if !author_or_writer(&who, access.role, &d) {
        return Err(HfError::Forbidden(
            "only its author or a writer of the repo can rename a discussion".into(),
        ));
    }
    let told = crate::webhooks::discussion_event(
        &state,
        repo,
        "update",
        "discussion",
        &facts(&d, Some(new), None, None),
        None,
    );
    let events = state
        .accounts()
        .telling(told)
        .change_discussion(
            d.id,
            Some(new),
            None,
            None,
            &[NewEvent {
                kind: "title-change",
                author_id: who.user_id,
                data: json!({ "from": d.title, "to": new }).to_string(),
            }],
        )
        .await?;
    let url = repo_url(&state, &headers, repo);
    let e = events
        .first()
        .ok_or_else(|| HfError::internal("title not stored"))?;
    Ok(Json(json!({ "newTitle": event_json(e, &url) })).into_response())
}

#[derive(Deserialize, Default)]
pub struct StatusRequest {
    status: Option<String>,
    comment: Option<String>,
}

/// `POST .../discussions/{num}/status {status: open|closed, comment?}` → `{newStatus}`.
pub async fn status(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    headers: HeaderMap,
    Path((_, _, _, num)): Path<(String, String, String, i64)>,
    raw: Bytes,
) -> Result<Response, HfError> {
    let who = access.user()?.clone();
    let req: StatusRequest = body(&raw)?;
    let comment = req.comment.unwrap_or_default();
    let e = set_status(
        &state,
        &access.repo,
        access.role,
        &who,
        num,
        req.status.as_deref().unwrap_or_default(),
        &comment,
    )
    .await?;
    let url = repo_url(&state, &headers, &access.repo);
    Ok(Json(json!({ "newStatus": event_json(&e, &url) })).into_response())
}

/// Closes or reopens discussion `num`: its author or a writer; a merged pull request stays
/// merged. An optional comment lands with the change.
pub(crate) async fn set_status(
    state: &AppState,
    repo: &accounts::Repo,
    role: Role,
    who: &Principal,
    num: i64,
    new: &str,
    comment: &str,
) -> Result<Event, HfError> {
    if new != "open" && new != "closed" {
        return Err(HfError::BadRequest(format!(
            "status must be open or closed, not {new:?}"
        )));
    }
    check_comment(comment)?;
    let d = find(state, repo, num).await?;
    if !author_or_writer(who, role, &d) {
        return Err(HfError::Forbidden(
            "only its author or a writer of the repo can close or reopen a discussion".into(),
        ));
    }
    if d.status == "merged" {
        return Err(HfError::BadRequest(format!(
            "#{num} is merged; its status cannot change"
        )));
    }
    let mut new_events = vec![NewEvent {
        kind: "status-change",
        author_id: who.user_id,
        data: json!({ "status": new }).to_string(),
    }];
    if !comment.trim().is_empty() {
        new_events.push(new_comment(who, comment));
    }
    let told = crate::webhooks::discussion_event(
        state,
        repo,
        "update",
        "discussion",
        &facts(&d, None, Some(new), None),
        None,
    );
    let events = state
        .accounts()
        .telling(told)
        .change_discussion(d.id, None, Some(new), None, &new_events)
        .await?;
    events
        .into_iter()
        .next()
        .ok_or_else(|| HfError::internal("status not stored"))
}

/// `POST .../discussions/{num}/merge {comment?}`.
pub async fn merge(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    headers: HeaderMap,
    Path((_, _, _, num)): Path<(String, String, String, i64)>,
    raw: Bytes,
) -> Result<Response, HfError> {
    let who = access.user()?.clone();
    let req: CommentRequest = body(&raw)?;
    let comment = req.comment.unwrap_or_default();
    let (tip, e) = merge_pull(&state, &access.repo, access.role, &who, num, &comment).await?;
    let url = repo_url(&state, &headers, &access.repo);
    Ok(Json(json!({ "newStatus": event_json(&e, &url), "mergeCommitId": tip })).into_response())
}

/// Merges pull request `num`: writers only, open pull requests only. The merge lands as a
/// push to the base branch (validated; a moved branch is never overwritten); conflicts
/// refuse it with the files named. Returns the base's new tip and the status event.
pub(crate) async fn merge_pull(
    state: &AppState,
    repo: &accounts::Repo,
    role: Role,
    who: &Principal,
    num: i64,
    comment: &str,
) -> Result<(String, Event), HfError> {
    check_comment(comment)?;
    if role < Role::Write {
        return Err(HfError::Forbidden(format!(
            "only writers of {} can merge a pull request",
            repo.repo_ref().id
        )));
    }
    let d = find(state, repo, num).await?;
    if !d.is_pr {
        return Err(HfError::BadRequest(format!(
            "#{num} is a discussion, not a pull request"
        )));
    }
    if d.status != "open" && d.status != "draft" {
        return Err(HfError::BadRequest(format!(
            "#{num} is {}; only an open pull request can be merged",
            d.status
        )));
    }
    let base_ref = d
        .base_ref
        .clone()
        .unwrap_or_else(|| format!("refs/heads/{DEFAULT_BRANCH}"));
    let _lock = state
        .accounts()
        .lock_repo(repo.id, state.config().pack_queue_wait)
        .await?;
    let path = state.repos().path(&repo.repo_ref());
    let (b, h) = (base_ref.clone(), format!("refs/pr/{num}"));
    let (base_tip, head) = with_reader(state, path, move |r| {
        Ok((r.resolve(&b)?.id, r.resolve(&h)?.id))
    })
    .await?;
    let message = format!("Merge pull request #{num}: {}\n", d.title);
    let mut env = crate::git_http::push_env(state, repo, who);
    env.vars.push(("MODELHUB_VIA_API".into(), "1".into()));
    let merged = state
        .repos()
        .merge(
            &repo.repo_ref(),
            &base_ref,
            &base_tip,
            &head,
            &message,
            &who.name,
            &env,
        )
        .await;
    let new_tip = match merged {
        Ok(tip) => tip,
        Err(MergeError::Conflict(files)) => {
            return Err(HfError::Conflict(format!(
                "This pull request has conflicts with {base_ref} in: {}",
                files.join(", ")
            )))
        }
        Err(MergeError::Commit(git_repos::CommitError::Stale)) => {
            return Err(HfError::PreconditionFailed(format!(
                "{base_ref} moved while merging; try again"
            )))
        }
        Err(MergeError::Commit(git_repos::CommitError::Rejected(said))) => {
            return Err(HfError::BadRequest(said))
        }
        Err(MergeError::Commit(e)) => return Err(HfError::internal(e)),
    };
    state.refs_moved(repo).await;
    let mut new_events = vec![NewEvent {
        kind: "status-change",
        author_id: who.user_id,
        data: json!({ "status": "merged" }).to_string(),
    }];
    if !comment.trim().is_empty() {
        new_events.push(new_comment(who, comment));
    }
    let told = crate::webhooks::discussion_event(
        state,
        repo,
        "update",
        "discussion",
        &facts(&d, None, Some("merged"), Some(&new_tip)),
        None,
    );
    let events = state
        .accounts()
        .telling(told)
        .change_discussion(d.id, None, Some("merged"), Some(&new_tip), &new_events)
        .await?;
    let e = events
        .into_iter()
        .next()
        .ok_or_else(|| HfError::internal("status not stored"))?;
    Ok((new_tip, e))
}

#[derive(Deserialize, Default)]
pub struct LockRequest {
    locked: Option<bool>,
}

/// `POST .../discussions/{num}/lock {locked}` (default true): writers only. A locked
/// discussion takes comments from the repo's writers only.
pub async fn lock(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    Path((_, _, _, num)): Path<(String, String, String, i64)>,
    raw: Bytes,
) -> Result<Response, HfError> {
    let who = access.user()?.clone();
    let req: LockRequest = body(&raw)?;
    let locked = req.locked.unwrap_or(true);
    set_locked(&state, &access.repo, access.role, &who, num, locked).await?;
    Ok(Json(json!({ "locked": locked })).into_response())
}

/// Locks or unlocks discussion `num`: writers only.
pub(crate) async fn set_locked(
    state: &AppState,
    repo: &accounts::Repo,
    role: Role,
    _who: &Principal,
    num: i64,
    locked: bool,
) -> Result<(), HfError> {
    if role < Role::Write {
        return Err(HfError::Forbidden(
            "only writers of the repo can lock or unlock a discussion".into(),
        ));
    }
    let d = find(state, repo, num).await?;
    state.accounts().set_discussion_locked(d.id, locked).await?;
    Ok(())
}

#[derive(Deserialize, Default)]
pub struct EditRequest {
    content: Option<String>,
}

/// `POST .../discussions/{num}/comment/{id}/edit {content}` → `{updatedComment}`: its
/// author only; the earlier text goes into the history.
pub async fn edit_comment(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    headers: HeaderMap,
    Path((_, _, _, num, id)): Path<(String, String, String, i64, String)>,
    raw: Bytes,
) -> Result<Response, HfError> {
    let who = access.user()?.clone();
    let repo = &access.repo;
    let req: EditRequest = body(&raw)?;
    let text = req.content.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(HfError::BadRequest("the comment is empty".into()));
    }
    check_comment(&text)?;
    let d = find(&state, repo, num).await?;
    let e = comment_event(&state, &d, &id).await?;
    if e.author_id != Some(who.user_id) {
        return Err(HfError::Forbidden(
            "only its author can edit a comment".into(),
        ));
    }
    let mut data: Value = serde_json::from_str(&e.data).unwrap_or_else(|_| json!({}));
    if data["hidden"].as_bool() == Some(true) {
        return Err(HfError::BadRequest(
            "a hidden comment cannot be edited".into(),
        ));
    }
    let old = json!({
        "raw": data["raw"],
        "updatedAt": data["updatedAt"],
        "author": author_json(data["editor"].as_str()),
    });
    if let Some(h) = data["history"].as_array_mut() {
        h.insert(0, old);
        // The history is kept to a bounded size: the last 100 versions.
        h.truncate(100);
    } else {
        data["history"] = json!([old]);
    }
    data["raw"] = json!(text);
    data["edited"] = json!(true);
    data["updatedAt"] = json!(now());
    data["editor"] = json!(who.name);
    let told = comment_changed(&state, repo, &d, &e, &text, false);
    state
        .accounts()
        .telling(told)
        .set_event_data(e.id, &data.to_string())
        .await?;
    let e = comment_event(&state, &d, &id).await?;
    let url = repo_url(&state, &headers, repo);
    Ok(Json(json!({ "updatedComment": event_json(&e, &url) })).into_response())
}

/// `POST .../discussions/{num}/comment/{id}/hide` → `{updatedComment}`: its author or a
/// writer; the text and its history are gone for good.
pub async fn hide_comment(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    headers: HeaderMap,
    Path((_, _, _, num, id)): Path<(String, String, String, i64, String)>,
) -> Result<Response, HfError> {
    let who = access.user()?.clone();
    let repo = &access.repo;
    let d = find(&state, repo, num).await?;
    let e = comment_event(&state, &d, &id).await?;
    if access.role < Role::Write && e.author_id != Some(who.user_id) {
        return Err(HfError::Forbidden(
            "only its author or a writer of the repo can hide a comment".into(),
        ));
    }
    let data = json!({
        "raw": "This comment has been hidden",
        "edited": false,
        "hidden": true,
        "updatedAt": now(),
        "editor": who.name,
        "history": [],
    });
    let told = comment_changed(&state, repo, &d, &e, "", true);
    state
        .accounts()
        .telling(told)
        .set_event_data(e.id, &data.to_string())
        .await?;
    let e = comment_event(&state, &d, &id).await?;
    let url = repo_url(&state, &headers, repo);
    Ok(Json(json!({ "updatedComment": event_json(&e, &url) })).into_response())
}

async fn comment_event(state: &AppState, d: &Discussion, id: &str) -> Result<Event, HfError> {
    state
        .accounts()
        .discussion_event(d.id, &id.to_ascii_lowercase())
        .await?
        .filter(|e| e.kind == "comment")
        .ok_or_else(|| HfError::NotFound(format!("no comment {id} in #{}", d.num)))
}
