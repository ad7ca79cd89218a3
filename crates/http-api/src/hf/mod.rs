//! The Hugging Face Hub HTTP API: what `huggingface_hub` calls to find, describe and download
//! repos (`/api/{models,datasets,spaces}/...`, `/{repo}/resolve/...`, `/api/whoami-v2`), to
//! upload (`preupload`, `commit`), to manage repos, branches and tags (and squash a branch's
//! history, and list the LFS files a repo stores), to get Xet tokens, to curate
//! collections, and for discussions and pull requests.
//! Answers follow the shapes the client parses; errors carry the `X-Error-Code` header the
//! client maps to its exceptions. Repo routes take an `edge::RepoAccess<Hub, _>`.

pub(crate) mod collections;
mod commit;
pub(crate) mod discussions;
mod error;
pub(crate) mod gated;
pub(crate) mod info;
mod lfs_files;
mod likes;
pub(crate) mod list;
mod manage;
pub(crate) mod ndjson;
pub(crate) mod refs;
mod resolve;
pub(crate) mod tree;
pub(crate) mod webhooks;
mod xet_token;

use std::path::PathBuf;

use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use git_repos::{ReadError, Reader};

use crate::AppState;
pub use error::{HfError, Hub};
pub(crate) use resolve::Found;
pub use xet_token::routes as xet_token_routes;

/// `/api/...` routes (the repo type is in the path: `models`, `datasets`, `spaces`).
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/api/whoami-v2", get(refs::whoami))
        .route("/api/users/{name}/overview", get(refs::user_overview))
        .route("/api/users/{name}/likes", get(likes::liked))
        .route(
            "/api/organizations/{name}/overview",
            get(refs::org_overview),
        )
        .route("/api/validate-yaml", post(list::validate_yaml))
        .route("/api/settings/repositories", get(info::storage_of_mine))
        .route(
            "/api/settings/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/settings/webhooks/{id}",
            get(webhooks::get_one)
                .post(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/api/settings/webhooks/{id}/enable", post(webhooks::enable))
        .route(
            "/api/settings/webhooks/{id}/disable",
            post(webhooks::disable),
        )
        .route("/api/settings/webhooks/{id}/logs", get(webhooks::logs))
        .route(
            "/api/settings/webhooks/{id}/replay/{log}",
            post(webhooks::replay),
        )
        .route(
            "/api/organizations/{name}/settings/repositories",
            get(info::storage_of_org),
        )
        .route(
            "/api/collections",
            get(collections::list).post(collections::create),
        )
        .route(
            "/api/collections/{ns}/{slug}",
            get(collections::get_one)
                .patch(collections::update)
                .delete(collections::delete),
        )
        .route(
            "/api/collections/{ns}/{slug}/items",
            post(collections::add_item),
        )
        .route(
            "/api/collections/{ns}/{slug}/items/{item}",
            patch(collections::update_item).delete(collections::delete_item),
        )
        .route("/api/repos/create", post(manage::create))
        .route("/api/repos/delete", delete(manage::delete))
        .route("/api/repos/move", post(manage::move_repo))
        .route("/api/{kind}", get(list::list))
        .route(
            "/api/{kind}/{ns}/{repo}/preupload/{rev}",
            post(commit::preupload),
        )
        .route("/api/{kind}/{ns}/{repo}/commit/{rev}", post(commit::commit))
        .route("/api/{kind}/{ns}/{repo}/settings", put(manage::settings))
        .route(
            "/api/{kind}/{ns}/{repo}/branch/{branch}",
            post(manage::create_branch).delete(manage::delete_branch),
        )
        .route("/api/{kind}/{ns}/{repo}/lfs-files", get(lfs_files::list))
        .route("/api/{kind}/{ns}/{repo}/auth-check", get(refs::auth_check))
        .route(
            "/api/{kind}/{ns}/{repo}/auth-check/write",
            get(refs::auth_check_write),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/lfs-files/batch",
            post(lfs_files::purge),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/lfs-files/duplicate",
            post(lfs_files::duplicate),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/super-squash/{branch}",
            post(manage::super_squash),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/tag/{rev}",
            post(manage::create_tag).delete(manage::delete_tag),
        )
        .route("/api/{kind}/{ns}/{repo}", get(info::info))
        .route("/api/{kind}/{ns}/{repo}/revision/{rev}", get(info::info_at))
        .route("/api/{kind}/{ns}/{repo}/tree/{rev}", get(tree::tree))
        .route(
            "/api/{kind}/{ns}/{repo}/tree/{rev}/{*path}",
            get(tree::tree),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/paths-info/{rev}",
            post(tree::paths_info),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/discussions",
            get(discussions::list).post(discussions::create),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/discussions/{num}",
            get(discussions::details),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/discussions/{num}/comment",
            post(discussions::comment),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/discussions/{num}/title",
            post(discussions::title),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/discussions/{num}/status",
            post(discussions::status),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/discussions/{num}/merge",
            post(discussions::merge),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/discussions/{num}/lock",
            post(discussions::lock),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/discussions/{num}/comment/{id}/edit",
            post(discussions::edit_comment),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/discussions/{num}/comment/{id}/hide",
            post(discussions::hide_comment),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/like",
            post(likes::like).delete(likes::unlike),
        )
        .route("/api/{kind}/{ns}/{repo}/likers", get(likes::likers))
        .route("/api/{kind}/{ns}/{repo}/mirror", get(info::mirror))
        .route(
            "/api/{kind}/{ns}/{repo}/ask-access",
            post(gated::ask_access),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/user-access-request/handle",
            post(gated::handle),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/user-access-request/grant",
            post(gated::grant),
        )
        .route(
            "/api/{kind}/{ns}/{repo}/user-access-request/{status}",
            get(gated::list),
        )
        .route("/api/{kind}/{ns}/{repo}/refs", get(refs::refs))
        .route("/api/{kind}/{ns}/{repo}/commits/{rev}", get(refs::commits))
}

/// `/{repo}/resolve/...`, relative to a repo type's URL prefix (as the git routes).
pub fn resolve_routes() -> Router<AppState> {
    Router::new().route("/{ns}/{repo}/resolve/{rev}/{*path}", get(resolve::resolve))
}

/// Runs `f` on a gix reader of the repo, on a blocking thread.
pub(crate) async fn with_reader<T: Send + 'static>(
    state: &AppState,
    path: PathBuf,
    f: impl FnOnce(&Reader) -> Result<T, ReadError> + Send + 'static,
) -> Result<T, HfError> {
    let repos = state.repos().clone();
    tokio::task::spawn_blocking(move || {
        let reader = repos.reader(&path)?;
        f(&reader)
    })
    .await
    .map_err(HfError::internal)?
    .map_err(HfError::from)
}

/// Whether `rev` is a full commit id (which names the same commit forever).
pub(crate) fn full_sha(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The commit `rev` names in `repo`, through the revision cache.
async fn commit_of(state: &AppState, repo: &accounts::Repo, rev: &str) -> Result<String, HfError> {
    if full_sha(rev) {
        return Ok(rev.to_owned());
    }
    let path = state.repos().path(&repo.repo_ref());
    let key = (crate::repo_key(repo), rev.to_owned());
    if let Some(hit) = state.inner.caches.revisions.get(&key) {
        return Ok(hit);
    }
    let epoch = state.inner.caches.revisions.epoch();
    let rev2 = rev.to_owned();
    let commit = with_reader(state, path, move |r| Ok(r.resolve(&rev2)?.id)).await?;
    state
        .inner
        .caches
        .revisions
        .put_since(epoch, key, commit.clone());
    Ok(commit)
}
