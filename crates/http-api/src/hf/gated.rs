//! Gated repos over the Hub API: access requests (made with the card's form fields, on the
//! page or here), and their management as huggingface_hub 2.4.0 calls it
//! (`list_pending_access_requests` and its accepted and rejected siblings,
//! `accept_access_request`, `reject_access_request`, `cancel_access_request`,
//! `grant_access`), for the repo's writers. The gate itself is `crate::gate`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hub_types::Role;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{HfError, Hub};
use crate::edge::RepoAccess;
use crate::AppState;

/// Most fields a card's gate form may have, and the longest answer to one.
const MAX_FIELDS: usize = 50;
const MAX_ANSWER: usize = 1000;

fn writers_only(access: &RepoAccess<Hub>) -> Result<(), HfError> {
    if access.role < Role::Write {
        return Err(HfError::Forbidden(format!(
            "only writers of {} can manage its access requests",
            access.repo.repo_ref().id
        )));
    }
    Ok(())
}

/// Checks answers against the card's `extra_gated_fields` (label: `text`, `checkbox`,
/// `date_picker`, `country`, or `{type: select, options: [...]}`): every field answered, a
/// checkbox ticked, a date a date, a select one of its options, no unknown field.
pub(crate) fn check_fields(
    form: &Value,
    answers: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let fields = form.as_object().cloned().unwrap_or_default();
    if answers.len() > MAX_FIELDS {
        return Err(format!("at most {MAX_FIELDS} fields"));
    }
    for k in answers.keys() {
        if !fields.contains_key(k) {
            return Err(format!("{k:?} is not a field of this form"));
        }
    }
    let mut out = Map::new();
    for (label, kind) in fields.iter().take(MAX_FIELDS) {
        let answer = answers.get(label);
        let text = match answer {
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        if text.chars().count() > MAX_ANSWER || text.chars().any(|c| c.is_control()) {
            return Err(format!(
                "{label:?}: at most {MAX_ANSWER} characters, no control characters"
            ));
        }
        let (ty, options) = match kind {
            Value::String(t) => (t.as_str(), Vec::new()),
            Value::Object(o) => (
                o.get("type").and_then(Value::as_str).unwrap_or("text"),
                o.get("options")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| match v {
                                Value::String(s) => Some(s.clone()),
                                Value::Object(o) => {
                                    o.get("value").and_then(Value::as_str).map(str::to_owned)
                                }
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => ("text", Vec::new()),
        };
        match ty {
            "checkbox" => {
                if !matches!(text.as_str(), "true" | "on" | "yes" | "1") {
                    return Err(format!("{label:?} must be ticked"));
                }
                out.insert(label.clone(), json!(true));
                continue;
            }
            "date_picker" => {
                let b = text.as_bytes();
                let ok = b.len() == 10
                    && b[4] == b'-'
                    && b[7] == b'-'
                    && b.iter()
                        .enumerate()
                        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
                if !ok {
                    return Err(format!("{label:?} must be a date (YYYY-MM-DD)"));
                }
            }
            "select" => {
                if !options.contains(&text) {
                    return Err(format!("{label:?} must be one of {}", options.join(", ")));
                }
            }
            _ => {
                if text.is_empty() {
                    return Err(format!("{label:?} is required"));
                }
            }
        }
        out.insert(label.clone(), json!(text));
    }
    Ok(out)
}

/// The card's gate form (`extra_gated_fields`) of a repo's main branch.
pub(crate) async fn form_of(
    state: &AppState,
    repo: &accounts::Repo,
) -> Result<Map<String, Value>, HfError> {
    let path = state.repos().path(&repo.repo_ref());
    let info = super::info::summary(
        state,
        repo,
        path,
        git_repos::DEFAULT_BRANCH.to_owned(),
        false,
        false,
    )
    .await?;
    Ok(info
        .get("cardData")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default())
}

/// Records `who`'s request with their answers: accepted at once by an `auto` gate.
pub(crate) async fn ask(
    state: &AppState,
    repo: &accounts::Repo,
    who: &accounts::Principal,
    answers: &Map<String, Value>,
) -> Result<String, HfError> {
    let gate = state.accounts().gated(repo.id).await?;
    if gate == "false" {
        return Err(HfError::BadRequest(format!(
            "{} is not gated: no request is needed",
            repo.repo_ref().id
        )));
    }
    let card = form_of(state, repo).await?;
    let fields = check_fields(
        card.get("extra_gated_fields").unwrap_or(&Value::Null),
        answers,
    )
    .map_err(HfError::BadRequest)?;
    Ok(state
        .accounts()
        .request_access(repo.id, who.user_id, &Value::Object(fields).to_string())
        .await?)
}

#[derive(Deserialize)]
pub struct AskRequest {
    #[serde(default)]
    fields: Map<String, Value>,
}

/// `POST /api/{T}/{id}/ask-access {fields}` → `{status}`: anyone signed in who can see the
/// repo.
pub async fn ask_access(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    Json(req): Json<AskRequest>,
) -> Result<Response, HfError> {
    let who = access.user()?.clone();
    let status = ask(&state, &access.repo, &who, &req.fields).await?;
    Ok(Json(json!({ "status": status })).into_response())
}

/// `GET /api/{T}/{id}/user-access-request/{pending|accepted|rejected}`.
pub async fn list(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    Path((_, _, _, status)): Path<(String, String, String, String)>,
) -> Result<Response, HfError> {
    writers_only(&access)?;
    if !matches!(status.as_str(), "pending" | "accepted" | "rejected") {
        return Err(HfError::BadRequest(format!(
            "status must be pending, accepted or rejected, not {status:?}"
        )));
    }
    let found = state
        .accounts()
        .access_requests(access.repo.id, &status)
        .await?;
    let out: Vec<Value> = found
        .iter()
        .map(|r| {
            let fields: Value = serde_json::from_str(&r.fields).unwrap_or(json!({}));
            let full = if r.fullname.is_empty() {
                &r.user
            } else {
                &r.fullname
            };
            json!({
                "user": { "user": r.user, "fullname": full, "type": "user", "avatarUrl": "" },
                "requestId": r.user_id.to_string(),
                "status": r.status,
                "timestamp": r.created_at,
                "fields": fields,
            })
        })
        .collect();
    Ok(Json(Value::Array(out)).into_response())
}

#[derive(Deserialize)]
pub struct HandleRequest {
    user: Option<String>,
    #[serde(rename = "requestId")]
    request_id: Option<String>,
    status: String,
    #[serde(rename = "rejectionReason")]
    rejection_reason: Option<String>,
}

/// The user a request names, by name or by request id (the user's id).
async fn requester(
    state: &AppState,
    user: Option<&str>,
    request_id: Option<&str>,
) -> Result<String, HfError> {
    if let Some(u) = user {
        return Ok(u.to_owned());
    }
    let id: i64 = request_id
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| HfError::BadRequest("name a user or a requestId".into()))?;
    state
        .accounts()
        .user_name(id)
        .await?
        .ok_or_else(|| HfError::NotFound(format!("no access request {id}")))
}

/// `POST .../user-access-request/handle {user|requestId, status, rejectionReason}`.
pub async fn handle(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    Json(req): Json<HandleRequest>,
) -> Result<Response, HfError> {
    writers_only(&access)?;
    set_status(
        &state,
        &access.repo,
        req.user.as_deref(),
        req.request_id.as_deref(),
        &req.status,
        req.rejection_reason.as_deref(),
    )
    .await?;
    Ok(Json(json!({})).into_response())
}

/// Accepts, rejects or returns to pending an existing request (the caller is a writer).
pub(crate) async fn set_status(
    state: &AppState,
    repo: &accounts::Repo,
    user: Option<&str>,
    request_id: Option<&str>,
    status: &str,
    reason: Option<&str>,
) -> Result<(), HfError> {
    if !matches!(status, "pending" | "accepted" | "rejected") {
        return Err(HfError::BadRequest(format!(
            "status must be pending, accepted or rejected, not {status:?}"
        )));
    }
    if reason.is_some_and(|r| r.chars().count() > MAX_ANSWER) {
        return Err(HfError::BadRequest(format!(
            "a rejection reason has at most {MAX_ANSWER} characters"
        )));
    }
    let user = requester(state, user, request_id).await?;
    if !state
        .accounts()
        .handle_access(repo.id, &user, status, reason, false)
        .await?
    {
        return Err(HfError::NotFound(format!(
            "{user} has no access request to {}",
            repo.repo_ref().id
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct GrantRequest {
    user: String,
}

/// `POST .../user-access-request/grant {user}`: accepted without a request.
pub async fn grant(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    Json(req): Json<GrantRequest>,
) -> Result<Response, HfError> {
    writers_only(&access)?;
    if !state
        .accounts()
        .handle_access(access.repo.id, &req.user, "accepted", None, true)
        .await?
    {
        return Err(HfError::NotFound(format!("no user named {}", req.user)));
    }
    Ok(Json(json!({})).into_response())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn gate_forms_are_checked_field_by_field() {
        let form = json!({
            "Company": "text",
            "I agree": "checkbox",
            "Born": "date_picker",
            "Use": { "type": "select", "options": ["research", { "label": "Business", "value": "business" }] },
        });
        let ok =
            json!({ "Company": "Acme", "I agree": "on", "Born": "1990-01-02", "Use": "business" });
        let got = super::check_fields(&form, ok.as_object().unwrap()).unwrap();
        assert_eq!(got["I agree"], json!(true));
        for bad in [
            json!({ "Company": "", "I agree": "on", "Born": "1990-01-02", "Use": "research" }),
            json!({ "Company": "A", "Born": "1990-01-02", "Use": "research" }),
            json!({ "Company": "A", "I agree": "on", "Born": "yesterday", "Use": "research" }),
            json!({ "Company": "A", "I agree": "on", "Born": "1990-01-02", "Use": "war" }),
            json!({ "Company": "A", "I agree": "on", "Born": "1990-01-02", "Use": "research", "Extra": "x" }),
            json!({ "Company": "x".repeat(2000), "I agree": "on", "Born": "1990-01-02", "Use": "research" }),
        ] {
            assert!(
                super::check_fields(&form, bad.as_object().unwrap()).is_err(),
                "{bad}"
            );
        }
    }
}
