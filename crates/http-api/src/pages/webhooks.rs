//! `/settings/webhooks`: the signed-in user's webhooks, each with what it watches, whether
//! it is on (and why the server turned it off), and its recent deliveries with their status,
//! latency and answer, and a button to send one again.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::{form_token, form_user, layout, viewer, PageError};
use crate::AppState;

/// Deliveries shown per webhook.
const SHOWN: i64 = 20;

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(who) = viewer(&state, &headers).await else {
        return Ok(Redirect::to("/login").into_response());
    };
    let token = form_token(&headers).unwrap_or_default();
    let hooks = state.accounts().webhooks_of(who.user_id).await?;
    let mut logs = Vec::with_capacity(hooks.len());
    for w in &hooks {
        logs.push(state.accounts().webhook_logs(&w.id, SHOWN).await?);
    }
    let content = html! {
        h1 { "Webhooks" }
        @if hooks.is_empty() {
            p.muted {
                "No webhooks yet. Create one with huggingface_hub's "
                code { "create_webhook" } " or " code { "hf" } "'s API."
            }
        }
        @for (w, log) in hooks.iter().zip(&logs) {
            section.webhook id=(w.id) {
                h3 { code { (w.url) } }
                p.muted {
                    "Watches "
                    @for (i, (kind, name)) in w.watched.iter().enumerate() {
                        @if i > 0 { ", " }
                        (kind) " " strong { (name) }
                    }
                    " for " (w.domains.join(" and ")) " events. "
                    @if w.disabled {
                        strong { "Disabled" }
                        @if let Some(note) = &w.note { " (" (note) ")" }
                        "."
                    } @else {
                        "Enabled."
                    }
                }
                @if log.is_empty() {
                    p.muted { "No deliveries yet." }
                } @else {
                    table.deliveries {
                        thead { tr { th { "When" } th { "Event" } th { "Status" } th { "Latency" } th { "Answer" } th {} } }
                        tbody {
                            @for l in log {
                                tr {
                                    td { (l.created_at.get(..19).unwrap_or_default().replace('T', " ")) }
                                    td { (l.scope) @if l.replay { " (replay)" } }
                                    td {
                                        @match l.status {
                                            Some(s) => (s),
                                            None => "no answer",
                                        }
                                    }
                                    td { (l.latency_ms) " ms" }
                                    td { code { (l.response.chars().take(200).collect::<String>()) } }
                                    td {
                                        @if l.replayable {
                                            form method="post" action="/settings/webhooks/replay" {
                                                input type="hidden" name="form_token" value=(token);
                                                input type="hidden" name="webhook" value=(w.id);
                                                input type="hidden" name="log" value=(l.id);
                                                button type="submit" { "Replay" }
                                            }
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
    Ok(layout("Webhooks", Some(&who), content))
}

#[derive(Deserialize)]
pub struct ReplayForm {
    form_token: Option<String>,
    webhook: String,
    log: i64,
}

/// The replay button: the delivery's event is sent again.
pub async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<ReplayForm>,
) -> Result<Response, PageError> {
    let who = viewer(&state, &headers).await;
    let who = form_user(who.as_ref(), &headers, f.form_token.as_deref())?;
    let own = state
        .accounts()
        .webhook(&f.webhook)
        .await?
        .is_some_and(|w| w.owner_id == who.user_id);
    if !own || !state.accounts().replay_delivery(&f.webhook, f.log).await? {
        return Err(PageError::Refused(
            StatusCode::NOT_FOUND,
            "No such delivery to replay (its event may be too old).".into(),
        ));
    }
    state.inner.webhook_wake.notify_one();
    Ok(Redirect::to(&format!("/settings/webhooks#{}", f.webhook)).into_response())
}
