//! Repo management through the Hub API: create, delete, settings (visibility), move, branches,
//! tags and squashed histories (`create_repo`, `delete_repo`, `update_repo_settings`,
//! `move_repo`, `create_branch`, `delete_branch`, `create_tag`, `delete_tag`,
//! `super_squash_history`).

use accounts::{AccountsError, Principal, Repo};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use git_repos::{NewRef, RefUpdateError};
use hub_types::{RepoId, RepoRef, RepoType, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{HfError, Hub};
use crate::edge::access::{self, principal};
use crate::edge::{Admin, At, RepoAccess, Write};
use crate::git_http::push_env;
use crate::{AppState, HubError};

/// The caller, who must be authenticated with a write token.
async fn writer(state: &AppState, headers: &HeaderMap) -> Result<Principal, HfError> {
    let who = principal(state, headers)
        .await?
        .ok_or(HfError::Unauthorized)?;
    if who.token_role < Role::Write {
        return Err(HfError::Forbidden("this needs a write token".into()));
    }
    Ok(who)
}

/// Whether `who` may create repos in namespace `ns`: their own, or an organisation where they
/// are a write or admin member (site admins anywhere).
async fn may_create_in(state: &AppState, who: &Principal, ns: &str) -> Result<bool, HfError> {
    if who.is_admin || who.name.eq_ignore_ascii_case(ns) {
        return Ok(true);
    }
    Ok(state
        .accounts()
        .orgs_of(who.user_id)
        .await?
        .iter()
        .any(|(o, r)| o.eq_ignore_ascii_case(ns) && *r >= Role::Write))
}

/// The `type` of a request body (models when absent).
fn body_type(t: Option<&str>) -> Result<RepoType, HfError> {
    t.unwrap_or("model")
        .parse()
        .map_err(|e: hub_types::UnknownRepoType| HfError::BadRequest(e.to_string()))
}

fn repo_url(state: &AppState, headers: &HeaderMap, r: &RepoRef) -> String {
    format!("{}/{r}", crate::edge::http::public_base(state, headers))
}

/// The repo a create or delete body names: `name`, the `organization` (else the caller's own
/// namespace) and the `type` (else model).
#[derive(Deserialize)]
pub struct RepoInBody {
    name: String,
    organization: Option<String>,
    #[serde(rename = "type")]
    repo_type: Option<String>,
}

impl RepoInBody {
    fn target(&self, caller: &str) -> Result<RepoRef, HfError> {
        let ns = self.organization.as_deref().unwrap_or(caller);
        Ok(RepoRef {
            repo_type: body_type(self.repo_type.as_deref())?,
            id: RepoId::from_parts(ns, &self.name)
                .map_err(|e| HfError::BadRequest(format!("invalid repo id: {e}")))?,
        })
    }
}

#[derive(Deserialize)]
pub struct CreateRequest {
    #[serde(flatten)]
    repo: RepoInBody,
    private: Option<bool>,
    visibility: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<CreateRequest>,
) -> Result<Response, HfError> {
    let who = writer(&state, &headers).await?;
    let target = req.repo.target(&who.name)?;
    let (t, ns) = (target.repo_type, target.id.namespace.as_str());
    if !may_create_in(&state, &who, ns).await? {
        return Err(HfError::Forbidden(format!(
            "you cannot create repos in {ns}"
        )));
    }
    // Said by the request, else the organisation's default (public unless it says private).
    let private = match (req.private, req.visibility.as_deref()) {
        (Some(p), _) => p,
        (None, Some(v)) => v == "private",
        (None, None) => state.accounts().private_by_default(ns).await?,
    };
    // The events of its creation (and of its undoing, should the repo fail on disk).
    let pending = Repo {
        id: 0,
        repo_type: t,
        namespace: target.id.namespace.clone(),
        name: target.id.name.clone(),
        private,
        created_at: String::new(),
        downloads: 0,
    };
    let tell = (
        crate::webhooks::repo_event(&state, &pending, "create", "repo", json!({})).await,
        crate::webhooks::repo_event(&state, &pending, "delete", "repo", json!({})).await,
    );
    match state
        .inner
        .hub
        .create_repo(&target, private, &who.name, Some(tell))
        .await
    {
        Ok((repo, _)) => {
            state.forget_repos();
            // Described at once, so every node lists it with its initial commit.
            if let Err(e) = super::list::refresh_summary(&state, &repo).await {
                tracing::warn!(repo = %repo.repo_ref(), error = %e, "could not describe the new repo for listings");
            }
            let r = repo.repo_ref();
            Ok(Json(json!({ "url": repo_url(&state, &headers, &r), "name": r.id.to_string(), "id": repo.id.to_string() })).into_response())
        }
        Err(HubError::Accounts(AccountsError::RepoExists(..))) => {
            let url = repo_url(&state, &headers, &target);
            Ok((
                StatusCode::CONFLICT,
                Json(json!({ "error": format!("You already created this {t} repo"), "url": url })),
            )
                .into_response())
        }
        Err(HubError::Accounts(AccountsError::NoSuchNamespace(n))) => Err(HfError::NotFound(
            format!("no user or organisation named {n}"),
        )),
        Err(e) => Err(HfError::internal(e)),
    }
}

/// A repo named in a request's body that `who` administers (owner, organisation admin, site
/// admin): the same rule as the `Admin` routes' extractor.
async fn administered(
    state: &AppState,
    who: &Principal,
    target: &RepoRef,
) -> Result<Repo, HfError> {
    Ok(access::administer(state, Some(who), target).await?)
}

pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<RepoInBody>,
) -> Result<Response, HfError> {
    let who = writer(&state, &headers).await?;
    body_type(req.repo_type.as_deref())?;
    // With a known type, the only failure left is a name that cannot exist: no such repo.
    let target = req.target(&who.name).map_err(|_| HfError::RepoNotFound)?;
    let repo = administered(&state, &who, &target).await?;
    let told = crate::webhooks::repo_event(&state, &repo, "delete", "repo", json!({})).await;
    state.accounts().telling(told).delete_repo(repo.id).await?;
    state.forget_repo(&repo);
    state
        .repos()
        .remove(&repo.repo_ref())
        .await
        .map_err(HfError::internal)?;
    tracing::info!(repo = %repo.repo_ref(), "repo deleted through the API");
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
pub struct SettingsRequest {
    private: Option<bool>,
    visibility: Option<String>,
    gated: Option<Value>,
    #[serde(rename = "discussionsDisabled")]
    discussions_disabled: Option<bool>,
}

pub async fn settings(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Admin>,
    Json(req): Json<SettingsRequest>,
) -> Result<Response, HfError> {
    let repo = access.repo;
    let gated = match &req.gated {
        None => None,
        Some(Value::Bool(false)) => Some("false"),
        Some(Value::String(g)) if g == "auto" || g == "manual" => Some(g.as_str()),
        Some(other) => {
            return Err(HfError::BadRequest(format!(
                "gated must be false, \"auto\" or \"manual\", not {other}"
            )))
        }
    };
    let private = match (req.private, req.visibility.as_deref()) {
        (Some(p), _) => Some(p),
        (None, Some("private")) => Some(true),
        (None, Some("public")) => Some(false),
        (None, Some(other)) => {
            return Err(HfError::BadRequest(format!("unknown visibility {other:?}")))
        }
        (None, None) => None,
    };
    // Each change writes its `repo.config` event with it (the repo as it is after).
    let mut now = repo.clone();
    if let Some(p) = private {
        now.private = p;
        let told = crate::webhooks::config_event(&state, &now, json!({ "private": p })).await;
        state
            .accounts()
            .telling(told)
            .set_private(repo.id, p)
            .await?;
        state.forget_repo(&repo);
    }
    if let Some(d) = req.discussions_disabled {
        let told =
            crate::webhooks::config_event(&state, &now, json!({ "discussionsDisabled": d })).await;
        state
            .accounts()
            .telling(told)
            .set_discussions_disabled(repo.id, d)
            .await?;
    }
    if let Some(g) = gated {
        let value = if g == "false" { json!(false) } else { json!(g) };
        let told = crate::webhooks::config_event(&state, &now, json!({ "gated": value })).await;
        state.accounts().telling(told).set_gated(repo.id, g).await?;
        state.forget_repos();
    }
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
pub struct MoveRequest {
    #[serde(rename = "fromRepo")]
    from: String,
    #[serde(rename = "toRepo")]
    to: String,
    #[serde(rename = "type")]
    repo_type: Option<String>,
}

pub async fn move_repo(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<MoveRequest>,
) -> Result<Response, HfError> {
    let t: RepoType = body_type(req.repo_type.as_deref())?;
    let from = RepoRef {
        repo_type: t,
        id: RepoId::parse(&req.from).map_err(|_| HfError::RepoNotFound)?,
    };
    let to = RepoRef {
        repo_type: t,
        id: RepoId::parse(&req.to)
            .map_err(|e| HfError::BadRequest(format!("invalid target: {e}")))?,
    };
    let who = writer(&state, &headers).await?;
    let repo = administered(&state, &who, &from).await?;
    if !may_create_in(&state, &who, to.id.namespace.as_str()).await? {
        return Err(HfError::Forbidden(format!(
            "you cannot create repos in {}",
            to.id.namespace
        )));
    }
    let old = repo.repo_ref();
    let moved_to = |r: &RepoRef| json!({ "movedTo": { "name": r.id.to_string(), "owner": { "id": r.id.namespace.as_str() } } });
    let told = crate::webhooks::repo_event(&state, &repo, "move", "repo", moved_to(&to)).await;
    let moved = match state.accounts().telling(told).move_repo(repo.id, &to).await {
        Err(AccountsError::RepoExists(..)) => {
            return Err(HfError::Conflict(format!(
                "A {} repository called {} already exists",
                to.repo_type.as_str(),
                to.id
            )))
        }
        Err(AccountsError::NoSuchNamespace(n)) => {
            return Err(HfError::NotFound(format!(
                "no user or organisation named {n}"
            )))
        }
        other => other?,
    };
    let renamed = state.repos().rename(&old, &moved.repo_ref()).await;
    if let Err(e) = renamed {
        // Put the registration back, so the repo stays reachable where it is.
        let mut there = repo.clone();
        there.namespace = to.id.namespace.clone();
        there.name = to.id.name.clone();
        let back =
            crate::webhooks::repo_event(&state, &there, "move", "repo", moved_to(&old)).await;
        let _ = state
            .accounts()
            .telling(back)
            .move_repo(repo.id, &old)
            .await;
        state.forget_repos();
        return Err(HfError::internal(e));
    }
    state.forget_repo(&repo);
    Ok(Json(json!({ "url": repo_url(&state, &headers, &moved.repo_ref()) })).into_response())
}

/// The answer to a ref change: `{}` (and cached revisions dropped), or the error.
async fn ref_answer(state: &AppState, repo: &Repo, result: Result<(), RefUpdateError>) -> Response {
    match result {
        Ok(()) => {
            state.refs_moved(repo).await;
            Json(json!({})).into_response()
        }
        Err(e) => ref_error(e),
    }
}

pub(super) fn ref_error(e: RefUpdateError) -> Response {
    match e {
        RefUpdateError::Exists(r) => {
            HfError::Conflict(format!("Reference {r} already exists")).into_response()
        }
        RefUpdateError::Missing(r) => HfError::RevisionNotFound(r).into_response(),
        RefUpdateError::NotABranch(_) => HfError::BadRequest(e.to_string()).into_response(),
        RefUpdateError::Moved(_) => (
            StatusCode::PRECONDITION_FAILED,
            Json(json!({ "error": e.to_string() })),
        )
            .into_response(),
        RefUpdateError::BadName(n) => {
            HfError::BadRequest(format!("invalid ref name {n:?}")).into_response()
        }
        RefUpdateError::BadMessage => HfError::BadRequest(e.to_string()).into_response(),
        RefUpdateError::Rejected(said) => HfError::BadRequest(said).into_response(),
        RefUpdateError::Repo(e) => HfError::internal(e).into_response(),
    }
}

/// Deletes a branch or tag (`full`: its whole name) of the repo the caller may write to.
async fn delete_named_ref(state: &AppState, repo: &Repo, full: &str) -> Result<Response, HfError> {
    let _lock = lock_refs(state, repo).await?;
    // Not a push, so no hook writes its webhook event: written here, before the ref goes,
    // and kept once it is gone (as a push's).
    let path = state.repos().path(&repo.repo_ref());
    let name = full.to_owned();
    // A name git cannot read is refused by the deletion below (400).
    let old = super::with_reader(state, path, move |r| r.ref_target(&name))
        .await
        .ok()
        .flatten();
    if let Some(old) = old {
        let refs = json!([{ "ref": full, "oldSha": old, "newSha": "0".repeat(40) }]);
        state
            .accounts()
            .record_push(repo.id, &refs.to_string())
            .await?;
    }
    let deleted = state.repos().delete_ref(&repo.repo_ref(), full).await;
    if let Err(RefUpdateError::Missing(_)) = &deleted {
        let short = full
            .strip_prefix("refs/heads/")
            .or_else(|| full.strip_prefix("refs/tags/"))
            .unwrap_or(full);
        return Err(HfError::InvalidRev(short.to_owned()));
    }
    Ok(ref_answer(state, repo, deleted).await)
}

/// The repo's ref lock, across every node of the database (see [`accounts::Accounts::lock_repo`]).
pub(super) async fn lock_refs(
    state: &AppState,
    repo: &Repo,
) -> Result<accounts::RepoLock, HfError> {
    Ok(state
        .accounts()
        .lock_repo(repo.id, state.config().pack_queue_wait)
        .await?)
}

/// The `{branch}` or `{rev}` of a branch or tag route, as the name of a ref to make or delete
/// (checked by `git_repos` as a ref name, which answers 400 for a bad one).
#[derive(Deserialize)]
pub struct RefName {
    #[serde(alias = "branch", alias = "rev")]
    name: String,
}

#[derive(Deserialize, Default)]
pub struct BranchRequest {
    #[serde(rename = "startingPoint")]
    starting_point: Option<String>,
}

pub async fn create_branch(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Write>,
    Path(branch): Path<RefName>,
    body: Option<Json<BranchRequest>>,
) -> Result<Response, HfError> {
    let from = body
        .and_then(|b| b.0.starting_point)
        .unwrap_or_else(|| git_repos::DEFAULT_BRANCH.to_owned());
    let (repo, who) = (&access.repo, access.user()?);
    let _lock = lock_refs(&state, repo).await?;
    let commit = super::commit_of(&state, repo, &from).await?;
    Ok(ref_answer(
        &state,
        repo,
        state
            .repos()
            .create_ref(
                &repo.repo_ref(),
                NewRef::Branch {
                    name: &branch.name,
                    commit: &commit,
                },
                &who.name,
                &push_env(&state, repo, who),
            )
            .await,
    )
    .await)
}

pub async fn delete_branch(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Write>,
    Path(branch): Path<RefName>,
) -> Result<Response, HfError> {
    if branch.name == git_repos::DEFAULT_BRANCH {
        return Err(HfError::Forbidden(format!(
            "Cannot delete refs/heads/{}",
            branch.name
        )));
    }
    let full = format!("refs/heads/{}", branch.name);
    delete_named_ref(&state, &access.repo, &full).await
}

#[derive(Deserialize, Default)]
pub struct SquashRequest {
    message: Option<String>,
}

/// `POST /api/{type}s/{id}/super-squash/{branch}` (`super_squash_history`): the branch's
/// history becomes one commit holding its current tree.
pub async fn super_squash(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Write>,
    Path(branch): Path<RefName>,
    body: Option<Json<SquashRequest>>,
) -> Result<Response, HfError> {
    let (repo, who) = (&access.repo, access.user()?);
    let message = body
        .and_then(|b| b.0.message)
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| format!("Super-squash branch '{}'", branch.name));
    let _lock = lock_refs(&state, repo).await?;
    let squashed = state
        .repos()
        .squash(
            &repo.repo_ref(),
            &branch.name,
            &message,
            &who.name,
            &push_env(&state, repo, who),
        )
        .await;
    Ok(match squashed {
        Ok(commit) => {
            state.refs_moved(repo).await;
            Json(json!({ "commitId": commit })).into_response()
        }
        Err(e) => ref_error(e),
    })
}

#[derive(Deserialize)]
pub struct TagRequest {
    tag: String,
    message: Option<String>,
}

pub async fn create_tag(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Write>,
    at: At<Hub>,
    Json(req): Json<TagRequest>,
) -> Result<Response, HfError> {
    let (repo, who) = (&access.repo, access.user()?);
    let _lock = lock_refs(&state, repo).await?;
    let commit = super::commit_of(&state, repo, at.rev.as_str()).await?;
    let message = req.message.filter(|m| !m.is_empty());
    Ok(ref_answer(
        &state,
        repo,
        state
            .repos()
            .create_ref(
                &repo.repo_ref(),
                NewRef::Tag {
                    name: &req.tag,
                    commit: &commit,
                    message: message.as_deref(),
                },
                &who.name,
                &push_env(&state, repo, who),
            )
            .await,
    )
    .await)
}

pub async fn delete_tag(
    State(state): State<AppState>,
    access: RepoAccess<Hub, Write>,
    Path(tag): Path<RefName>,
) -> Result<Response, HfError> {
    let full = format!("refs/tags/{}", tag.name);
    delete_named_ref(&state, &access.repo, &full).await
}
