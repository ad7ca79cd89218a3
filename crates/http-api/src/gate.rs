//! The gate of gated repos (`gated`: `auto` or `manual`), on every way to a repo's bytes:
//! `resolve` (GET and HEAD, so `hf_hub_download` and `snapshot_download`), git fetches, LFS
//! batch downloads, Xet read tokens and the file pages. Owners, writers and admins always
//! pass; others with an accepted access request. The card, the file list and model info stay
//! visible, as on the Hub. A repo's gate is cached like its record (dropped on every node
//! before a change of it returns); a request's status is read on every request to a gated
//! repo, so an accepted or rejected request counts at once on every node.

use accounts::{Principal, Repo};
use hub_types::Role;

use crate::AppState;

/// A repo's gate (`false`, `auto`, `manual`), through the cache: an open repo's downloads
/// ask the database nothing more. A change of gate drops it on every node before it returns
/// (`Accounts::set_gated`).
pub(crate) async fn mode(state: &AppState, repo: &Repo) -> Result<String, accounts::AccountsError> {
    let gates = &state.inner.caches.gates;
    let key = crate::repo_key(repo);
    if let Some(hit) = gates.get(&key) {
        return Ok(hit);
    }
    let epoch = gates.epoch();
    let gate = state.accounts().gated(repo.id).await?;
    gates.put_since(epoch, key, gate.clone());
    Ok(gate)
}

/// Why the caller may not have the bytes, if they may not: the words every surface shows.
pub(crate) async fn blocked(
    state: &AppState,
    repo: &Repo,
    who: Option<&Principal>,
    role: Role,
    base: &str,
) -> Result<Option<Refusal>, accounts::AccountsError> {
    if role >= Role::Write || mode(state, repo).await? == "false" {
        return Ok(None);
    }
    let status = match who {
        Some(p) => state.accounts().access_status(repo.id, p.user_id).await?,
        None => None,
    };
    if status.as_deref() == Some("accepted") {
        return Ok(None);
    }
    let kind = repo.repo_type.as_str();
    let id = repo.repo_ref().id;
    let page = format!("{base}/{}{id}", repo.repo_type.url_prefix());
    let message = match (who, status.as_deref()) {
        (None, _) => format!(
            "Access to {kind} {id} is restricted. You must have access to it and be \
             authenticated to access it. Please log in."
        ),
        (Some(_), Some("pending")) => format!(
            "Your request to access {kind} {id} is awaiting a review from the repo authors ({page})."
        ),
        (Some(_), _) => format!(
            "Access to {kind} {id} is restricted and you are not in the authorized list. \
             Visit {page} to ask for access."
        ),
    };
    Ok(Some(Refusal {
        message,
        anonymous: who.is_none(),
    }))
}

/// A gate's refusal.
pub(crate) struct Refusal {
    pub message: String,
    pub anonymous: bool,
}
