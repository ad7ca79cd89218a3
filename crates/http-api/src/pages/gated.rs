//! A gated repo on the pages: the card's form to ask for access (built from
//! `extra_gated_heading`, `extra_gated_prompt`, `extra_gated_fields` and
//! `extra_gated_button_content`, checked server-side like the API's), and the list of
//! requests for the repo's writers with accept and reject buttons.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use git_repos::DEFAULT_BRANCH;
use maud::{html, Markup, PreEscaped};
use serde_json::{Map, Value};

use super::repo::{heading, tabs};
use super::{form_token, form_user, layout, markdown, Page, PageError};
use crate::edge::RepoAccess;
use crate::hf::{gated as core, HfError};
use crate::AppState;

fn refused(e: HfError) -> PageError {
    match e {
        HfError::BadRequest(m) | HfError::Forbidden(m) => {
            PageError::Refused(StatusCode::BAD_REQUEST, m)
        }
        HfError::NotFound(m) => PageError::Refused(StatusCode::NOT_FOUND, m),
        other => other.into(),
    }
}

/// The gate box a card page shows to whoever the gate stops: the card's words and form, or
/// the state of their request.
pub(crate) fn gate_box(
    card: &Value,
    repo_url: &str,
    signed_in: bool,
    status: Option<&str>,
    token: Option<&str>,
) -> Markup {
    let heading = card["extra_gated_heading"]
        .as_str()
        .unwrap_or("You need to agree to share your contact information to access this model");
    let button = card["extra_gated_button_content"]
        .as_str()
        .unwrap_or("Agree and access repository");
    let prompt = card["extra_gated_prompt"].as_str().unwrap_or_default();
    let fields: Vec<(String, Value)> = card["extra_gated_fields"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    html! {
        section.gate {
            h3 { (heading) }
            @if !prompt.is_empty() {
                // Rendered by pulldown-cmark and sanitized by ammonia.
                div.markdown { (PreEscaped(markdown::render(prompt, repo_url, DEFAULT_BRANCH))) }
            }
            @match (signed_in, status, token) {
                (false, _, _) => p { a href="/login" { "Sign in" } " to ask for access." },
                (true, Some("pending"), _) => p.muted { "Your request is awaiting a review from the repo's authors." },
                (true, Some("rejected"), _) => p.findings { "Your request was rejected." },
                (true, _, Some(t)) => {
                    form.gate method="post" action={ (repo_url) "/ask-access" } {
                        input type="hidden" name="form_token" value=(t);
                        @for (label, kind) in &fields {
                            @let ty = kind.as_str().or(kind["type"].as_str()).unwrap_or("text");
                            label {
                                @match ty {
                                    "checkbox" => { input type="checkbox" name=(label) required; " " (label) }
                                    "date_picker" => { (label) " " input type="date" name=(label) required; }
                                    "select" => {
                                        (label) " "
                                        select name=(label) required {
                                            @for o in kind["options"].as_array().into_iter().flatten() {
                                                @let v = o.as_str().or(o["value"].as_str()).unwrap_or_default();
                                                @let l = o.as_str().or(o["label"].as_str()).unwrap_or(v);
                                                option value=(v) { (l) }
                                            }
                                        }
                                    }
                                    _ => { (label) " " input type="text" name=(label) maxlength="1000" required; }
                                }
                            }
                        }
                        button type="submit" { (button) }
                    }
                }
                _ => {}
            }
        }
    }
}

/// `POST {repo}/ask-access`: the form's answers, checked against the card's fields.
pub async fn ask(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let sent = form
        .iter()
        .find(|(k, _)| k == "form_token")
        .map(|(_, v)| v.as_str());
    let who = form_user(access.who.as_ref(), &headers, sent)?;
    let answers: Map<String, Value> = form
        .iter()
        .filter(|(k, _)| k != "form_token")
        .take(100)
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    core::ask(&state, &access.repo, who, &answers)
        .await
        .map_err(refused)?;
    Ok(Redirect::to(&super::repo_url(&access.repo.repo_ref())).into_response())
}

/// `{repo}/access-requests`: the requests, for the repo's writers.
pub async fn requests(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if access.role < hub_types::Role::Write {
        return Err(PageError::NotFound);
    }
    let repo = &access.repo;
    let token = form_token(&headers).unwrap_or_default();
    let url = format!("{}/access-requests", super::repo_url(&repo.repo_ref()));
    let mut sections = Vec::new();
    for status in ["pending", "accepted", "rejected"] {
        sections.push((
            status,
            state.accounts().access_requests(repo.id, status).await?,
        ));
    }
    let gate = state.accounts().gated(repo.id).await?;
    let admin = crate::edge::access::administer(&state, access.who.as_ref(), &repo.repo_ref())
        .await
        .is_ok();
    let content = html! {
        (heading(repo))
        (tabs(repo, DEFAULT_BRANCH, "access"))
        p.muted { "Gate: " strong { (gate) } }
        @if admin {
            form.gate-mode method="post" action={ (url) "/gate" } {
                input type="hidden" name="form_token" value=(token);
                select name="gated" aria-label="Gate" {
                    @for (v, label) in [("false", "Open to all readers"), ("auto", "Gated, requests accepted at once"), ("manual", "Gated, requests reviewed")] {
                        option value=(v) selected[gate == v] { (label) }
                    }
                }
                " "
                button type="submit" { "Set" }
            }
        }
        @for (status, list) in &sections {
            h3 { (status) " (" (list.len()) ")" }
            table.requests {
                tbody {
                    @for r in list {
                        tr {
                            td { (r.user) }
                            td { (r.created_at.get(..16).unwrap_or_default().replace('T', " ")) }
                            td { code { (r.fields) } }
                            td {
                                @for (to, label) in [("accepted", "Accept"), ("rejected", "Reject")] {
                                    @if *status != to {
                                        form method="post" action=(url) {
                                            input type="hidden" name="form_token" value=(token);
                                            input type="hidden" name="user" value=(r.user);
                                            input type="hidden" name="status" value=(to);
                                            button type="submit" { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(
        &format!("{} access requests", repo.repo_ref().id),
        access.who.as_ref(),
        content,
    ))
}

#[derive(serde::Deserialize)]
pub struct HandleForm {
    form_token: String,
    user: String,
    status: String,
}

/// `POST {repo}/access-requests`: a writer accepts or rejects one.
pub async fn handle(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
    Form(f): Form<HandleForm>,
) -> Result<Response, PageError> {
    form_user(access.who.as_ref(), &headers, Some(&f.form_token))?;
    if access.role < hub_types::Role::Write {
        return Err(PageError::Refused(
            StatusCode::FORBIDDEN,
            "only the repo's writers manage its access requests".into(),
        ));
    }
    core::set_status(&state, &access.repo, Some(&f.user), None, &f.status, None)
        .await
        .map_err(refused)?;
    Ok(Redirect::to(&format!(
        "{}/access-requests",
        super::repo_url(&access.repo.repo_ref())
    ))
    .into_response())
}

#[derive(serde::Deserialize)]
pub struct GateForm {
    form_token: String,
    gated: String,
}

/// `POST {repo}/access-requests/gate`: its admins open or gate the repo.
pub async fn set_gate(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
    Form(f): Form<GateForm>,
) -> Result<Response, PageError> {
    form_user(access.who.as_ref(), &headers, Some(&f.form_token))?;
    let admin =
        crate::edge::access::administer(&state, access.who.as_ref(), &access.repo.repo_ref())
            .await
            .is_ok();
    if !admin {
        return Err(PageError::Refused(
            StatusCode::FORBIDDEN,
            "only the repo's admins open or gate it".into(),
        ));
    }
    if !matches!(f.gated.as_str(), "false" | "auto" | "manual") {
        return Err(PageError::Refused(
            StatusCode::BAD_REQUEST,
            "the gate is false, auto or manual".into(),
        ));
    }
    let value = if f.gated == "false" {
        serde_json::json!(false)
    } else {
        serde_json::json!(f.gated)
    };
    let told =
        crate::webhooks::config_event(&state, &access.repo, serde_json::json!({ "gated": value }))
            .await;
    state
        .accounts()
        .telling(told)
        .set_gated(access.repo.id, &f.gated)
        .await?;
    state.forget_repos();
    Ok(Redirect::to(&format!(
        "{}/access-requests",
        super::repo_url(&access.repo.repo_ref())
    ))
    .into_response())
}
