//! The webhook management API as huggingface_hub calls it (`create_webhook`, `get_webhook`,
//! `list_webhooks`, `update_webhook`, `enable_webhook`, `disable_webhook`,
//! `delete_webhook`), the replay of a logged delivery, and the log itself. A webhook belongs
//! to the user who made it; anyone else gets 404 for it. Reading needs a token, changing a
//! write token.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use hub_types::{RepoId, RepoRef, RepoType, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use accounts::webhooks::{Webhook, WebhookSpec, MAX_WATCHED, MAX_WEBHOOKS};
use accounts::Principal;

use super::HfError;
use crate::edge::access::principal;
use crate::AppState;

const DOMAINS: [&str; 2] = ["repo", "discussion"];
const MAX_SECRET: usize = 256;

async fn user(state: &AppState, headers: &HeaderMap, write: bool) -> Result<Principal, HfError> {
    let who = principal(state, headers)
        .await?
        .ok_or(HfError::Unauthorized)?;
    if write && who.token_role < Role::Write {
        return Err(HfError::Forbidden("this needs a write token".into()));
    }
    Ok(who)
}

/// Webhook `id` of `who`, or 404.
async fn own(state: &AppState, who: &Principal, id: &str) -> Result<Webhook, HfError> {
    state
        .accounts()
        .webhook(id)
        .await?
        .filter(|w| w.owner_id == who.user_id)
        .ok_or_else(|| HfError::NotFound(format!("Webhook {id} not found")))
}

pub(crate) fn webhook_json(w: &Webhook) -> Value {
    json!({
        "id": w.id,
        "url": w.url,
        "job": null,
        "watched": w.watched.iter().map(|(t, n)| json!({ "type": t, "name": n })).collect::<Vec<_>>(),
        "domains": w.domains,
        "secret": w.secret,
        "disabled": w.disabled,
        "disabledReason": w.note,
        "createdAt": w.created_at,
    })
}

#[derive(Deserialize)]
struct WatchedItem {
    #[serde(rename = "type")]
    kind: String,
    name: String,
}

#[derive(Deserialize)]
struct Body {
    url: Option<String>,
    #[serde(rename = "jobSourceId")]
    job: Option<String>,
    watched: Option<Vec<WatchedItem>>,
    domains: Option<Vec<String>>,
    secret: Option<String>,
}

fn parse(raw: &Bytes) -> Result<Body, HfError> {
    serde_json::from_slice(raw).map_err(|e| HfError::BadRequest(format!("invalid body: {e}")))
}

/// The checked domains (all of them when none are given).
fn domains(given: Option<Vec<String>>) -> Result<Vec<String>, HfError> {
    let given = given.unwrap_or_else(|| DOMAINS.iter().map(|d| d.to_string()).collect());
    if given.is_empty() {
        return Err(HfError::BadRequest(
            "domains must name repo, discussion or both".into(),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for d in given {
        if !DOMAINS.contains(&d.as_str()) {
            return Err(HfError::BadRequest(format!(
                "unknown domain {d:?}: repo or discussion"
            )));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

/// Checks what a webhook watches: users and organisations that exist, repos `who` can see.
async fn watched(
    state: &AppState,
    who: &Principal,
    given: Vec<WatchedItem>,
) -> Result<Vec<(String, String)>, HfError> {
    if given.is_empty() {
        return Err(HfError::BadRequest("a webhook must watch something".into()));
    }
    if given.len() > MAX_WATCHED {
        return Err(HfError::BadRequest(format!(
            "a webhook watches at most {MAX_WATCHED} things"
        )));
    }
    let mut out = Vec::new();
    for item in given {
        let missing = || HfError::BadRequest(format!("{} {} not found", item.kind, item.name));
        let found = match item.kind.as_str() {
            "user" => state.accounts().user(&item.name).await.ok().map(|u| u.name),
            "org" => state.accounts().org(&item.name).await.ok().map(|o| o.name),
            kind => {
                let repo_type = RepoType::from_plural(&format!("{kind}s"))
                    .filter(|t| t.as_str() == kind)
                    .ok_or_else(|| {
                        HfError::BadRequest(format!(
                            "unknown watched type {kind:?}: user, org, model, dataset or space"
                        ))
                    })?;
                let id = RepoId::parse(&item.name).map_err(|_| missing())?;
                let target = RepoRef { repo_type, id };
                match state.accounts().repo(&target).await? {
                    Some(repo) if state.accounts().access(Some(who), &repo).await?.is_some() => {
                        Some(repo.repo_ref().id.to_string())
                    }
                    _ => None,
                }
            }
        };
        let name = found.ok_or_else(missing)?;
        out.push((item.kind, name));
    }
    Ok(out)
}

fn check_secret(secret: Option<&str>) -> Result<(), HfError> {
    match secret {
        Some(s) if s.len() > MAX_SECRET || s.chars().any(char::is_control) => {
            Err(HfError::BadRequest(format!(
                "a secret has at most {MAX_SECRET} bytes and no control characters"
            )))
        }
        _ => Ok(()),
    }
}

fn check_url(state: &AppState, url: Option<&str>) -> Result<String, HfError> {
    let url = url.ok_or_else(|| HfError::BadRequest("a webhook needs a url".into()))?;
    crate::webhooks::check_url(state, url).map_err(HfError::BadRequest)?;
    Ok(url.to_owned())
}

fn no_jobs(job: &Option<String>) -> Result<(), HfError> {
    match job {
        Some(_) => Err(HfError::BadRequest(
            "webhooks here send to a URL: jobs are not supported".into(),
        )),
        None => Ok(()),
    }
}

/// `GET /api/settings/webhooks` → a bare array.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, HfError> {
    let who = user(&state, &headers, false).await?;
    let hooks = state.accounts().webhooks_of(who.user_id).await?;
    Ok(Json(hooks.iter().map(webhook_json).collect::<Vec<_>>()).into_response())
}

/// `POST /api/settings/webhooks {watched, domains?, url, secret?}` → `{webhook}`.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, HfError> {
    let who = user(&state, &headers, true).await?;
    let body = parse(&raw)?;
    no_jobs(&body.job)?;
    let url = check_url(&state, body.url.as_deref())?;
    check_secret(body.secret.as_deref())?;
    let domains = domains(body.domains)?;
    let watched = watched(&state, &who, body.watched.unwrap_or_default()).await?;
    let spec = WebhookSpec {
        url: &url,
        secret: body.secret.as_deref().filter(|s| !s.is_empty()),
        domains: &domains,
        watched: &watched,
    };
    let made = state
        .accounts()
        .create_webhook(who.user_id, &spec)
        .await?
        .ok_or_else(|| {
            HfError::BadRequest(format!("a user has at most {MAX_WEBHOOKS} webhooks"))
        })?;
    Ok(Json(json!({ "webhook": webhook_json(&made) })).into_response())
}

/// `GET /api/settings/webhooks/{id}` → `{webhook}`.
pub async fn get_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HfError> {
    let who = user(&state, &headers, false).await?;
    let w = own(&state, &who, &id).await?;
    Ok(Json(json!({ "webhook": webhook_json(&w) })).into_response())
}

/// `POST /api/settings/webhooks/{id} {watched, url?, domains?, secret?}` → `{webhook}`.
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: Bytes,
) -> Result<Response, HfError> {
    let who = user(&state, &headers, true).await?;
    let w = own(&state, &who, &id).await?;
    let body = parse(&raw)?;
    no_jobs(&body.job)?;
    let url = match body.url.as_deref() {
        Some(u) => check_url(&state, Some(u))?,
        None => w.url.clone(),
    };
    check_secret(body.secret.as_deref())?;
    let domains = match body.domains {
        Some(d) => domains(Some(d))?,
        None => w.domains.clone(),
    };
    let watched = watched(&state, &who, body.watched.unwrap_or_default()).await?;
    let secret = body
        .secret
        .as_deref()
        .map(|s| Some(s).filter(|s| !s.is_empty()));
    state
        .accounts()
        .update_webhook(&id, &url, &domains, &watched, secret)
        .await?;
    let w = own(&state, &who, &id).await?;
    Ok(Json(json!({ "webhook": webhook_json(&w) })).into_response())
}

/// `POST /api/settings/webhooks/{id}/enable` and `.../disable` → `{webhook}`.
pub async fn enable(
    state: State<AppState>,
    headers: HeaderMap,
    id: Path<String>,
) -> Result<Response, HfError> {
    switch(state, headers, id, false).await
}

pub async fn disable(
    state: State<AppState>,
    headers: HeaderMap,
    id: Path<String>,
) -> Result<Response, HfError> {
    switch(state, headers, id, true).await
}

async fn switch(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    disabled: bool,
) -> Result<Response, HfError> {
    let who = user(&state, &headers, true).await?;
    own(&state, &who, &id).await?;
    state
        .accounts()
        .set_webhook_disabled(&id, disabled, None)
        .await?;
    let w = own(&state, &who, &id).await?;
    Ok(Json(json!({ "webhook": webhook_json(&w) })).into_response())
}

/// `DELETE /api/settings/webhooks/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HfError> {
    let who = user(&state, &headers, true).await?;
    own(&state, &who, &id).await?;
    state.accounts().delete_webhook(&id).await?;
    Ok(Json(json!({})).into_response())
}

/// `GET /api/settings/webhooks/{id}/logs` → the newest deliveries, newest first.
pub async fn logs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, HfError> {
    let who = user(&state, &headers, false).await?;
    own(&state, &who, &id).await?;
    let logs = state
        .accounts()
        .webhook_logs(&id, accounts::webhooks::MAX_LOGS)
        .await?;
    let out: Vec<Value> = logs
        .iter()
        .map(|l| {
            json!({
                "id": l.id.to_string(),
                "eventId": l.event_uid,
                "scope": l.scope,
                "status": l.status,
                "latencyMs": l.latency_ms,
                "response": l.response,
                "replay": l.replay,
                "replayable": l.replayable,
                "createdAt": l.created_at,
            })
        })
        .collect();
    Ok(Json(out).into_response())
}

/// `POST /api/settings/webhooks/{id}/replay/{logId}`: sends that delivery's event again.
pub async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, log)): Path<(String, String)>,
) -> Result<Response, HfError> {
    let who = user(&state, &headers, true).await?;
    own(&state, &who, &id).await?;
    let queued = match log.parse::<i64>() {
        Ok(log) => state.accounts().replay_delivery(&id, log).await?,
        Err(_) => false,
    };
    if !queued {
        return Err(HfError::NotFound(format!(
            "no delivery {log} of webhook {id} to replay (its event may be too old)"
        )));
    }
    state.inner.webhook_wake.notify_one();
    Ok(Json(json!({})).into_response())
}
