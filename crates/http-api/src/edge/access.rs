//! Finding the repo a URL names and deciding whether the caller may use it: one answer for
//! every surface, each of which turns a [`Denied`] into its own protocol's error. Handlers do
//! not call this: the extractors of [`super::repo`] do, once per request.

use accounts::{Principal, Repo};
use axum::http::HeaderMap;
use hub_types::{RepoId, RepoRef, RepoType, Role};

use crate::AppState;

/// Why a request may not touch a repo.
#[derive(Debug)]
pub enum Denied {
    /// No credentials (or a token that does not exist): ask for them.
    AuthRequired,
    /// Missing, or invisible to this caller: the two look the same.
    NotFound,
    /// Visible, but the caller's role is not enough.
    Forbidden(String),
    /// The URL does not name a valid repo.
    BadPath(String),
    /// The URL's repo type (`/api/{kind}/...`) is none of models, datasets, spaces.
    UnknownType(String),
    /// The URL's revision is not one (see [`hub_types::Revision`]).
    BadRevision(String),
    /// The database gave no answer in time (down, or every connection busy): try again.
    Unavailable(String),
    /// A pull-through cache's upstream could not be reached (the message, which names it,
    /// is shown to the client).
    UpstreamDown(String),
    Internal(String),
    /// The repo was moved to this name, and the caller may see it (turned into a
    /// [`Denied::Redirect`] by the extractor, which knows the request's URL).
    MovedTo(RepoRef),
    /// Answer with a redirect to this URL (path and query).
    Redirect(String),
}

/// A 307 to `location` (a repo's new name after a move), as every surface answers it.
pub(crate) fn redirect(location: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut res = axum::http::StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(location) {
        res.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    res
}

impl From<accounts::AccountsError> for Denied {
    fn from(e: accounts::AccountsError) -> Self {
        if e.is_unavailable() {
            Denied::Unavailable(e.to_string())
        } else {
            Denied::Internal(e.to_string())
        }
    }
}

/// The repo a URL names: `NAME` or `NAME.git`, both percent-decoded and validated.
pub fn repo_ref(t: RepoType, ns: &str, repo: &str) -> Result<RepoRef, Denied> {
    let name = repo.strip_suffix(".git").unwrap_or(repo);
    let id = RepoId::from_parts(ns, name)
        .map_err(|e| Denied::BadPath(format!("invalid repo path: {e}")))?;
    Ok(RepoRef { repo_type: t, id })
}

/// The caller's identity, from a token in `Authorization` (Basic or Bearer). A token that does
/// not exist is an error, so clients drop it and ask for a new one.
pub async fn principal(state: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, Denied> {
    let Some(secret) = crate::auth::token(headers) else {
        return Ok(None);
    };
    principal_from_secret(state, &secret)
        .await?
        .map(Some)
        .ok_or(Denied::AuthRequired)
}

/// The user a token belongs to (through the token cache); `None` for an unknown token.
pub async fn principal_from_secret(
    state: &AppState,
    secret: &str,
) -> Result<Option<Principal>, Denied> {
    // Keyed by the token's hash: the cache never holds a secret.
    let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(secret.as_bytes()));
    let tokens = &state.inner.caches.tokens;
    if let Some(hit) = tokens.get(&key) {
        return Ok(hit);
    }
    let epoch = tokens.epoch();
    let p = state.accounts().authenticate(secret).await?;
    tokens.put_since(epoch, key, p.clone());
    Ok(p)
}

/// The registered repo, with no access check (for requests authorised by a signature).
pub async fn find_repo(state: &AppState, target: &RepoRef) -> Result<Repo, Denied> {
    let key = format!("{}/{}", target.repo_type, target.id).to_ascii_lowercase();
    let found = match state.inner.caches.repos.get(&key) {
        Some(hit) => hit,
        None => {
            let epoch = state.inner.caches.repos.epoch();
            let r = state.accounts().repo(target).await?;
            state.inner.caches.repos.put_since(epoch, key, r.clone());
            r
        }
    };
    found.ok_or(Denied::NotFound)
}

/// What `who` may do with `repo` ([`accounts::access`]), their role in the organisation that
/// owns it read through the cache.
pub(crate) async fn role_in(
    state: &AppState,
    who: Option<&Principal>,
    repo: &Repo,
) -> Result<Option<Role>, Denied> {
    let org_role = match who {
        Some(p) if accounts::needs_org_role(p, repo) => {
            org_role(state, p.user_id, repo.namespace.as_str()).await?
        }
        _ => None,
    };
    Ok(accounts::access(who, org_role, repo))
}

/// User `user_id`'s role in organisation `org`, if a member (through the cache).
pub(crate) async fn org_role(
    state: &AppState,
    user_id: i64,
    org: &str,
) -> Result<Option<Role>, Denied> {
    let roles = &state.inner.caches.org_roles;
    let key = (user_id, org.to_ascii_lowercase());
    if let Some(hit) = roles.get(&key) {
        return Ok(hit);
    }
    let epoch = roles.epoch();
    let role = state.accounts().org_role(user_id, org).await?;
    roles.put_since(epoch, key, role);
    Ok(role)
}

/// Whether `who` (if anyone) may do `need` on the repo `target` names: the repo and the
/// caller's role in it.
///
/// A repo the caller may not see answers exactly as a missing one: `AuthRequired` to an
/// anonymous caller (so clients ask for credentials), `NotFound` to an authenticated one.
pub async fn authorize(
    state: &AppState,
    who: Option<&Principal>,
    target: &RepoRef,
    need: Role,
) -> Result<(Repo, Role), Denied> {
    let hidden = || {
        if who.is_none() {
            Denied::AuthRequired
        } else {
            Denied::NotFound
        }
    };
    let repo = match find_repo(state, target).await {
        Err(Denied::NotFound) => {
            // A repo that had this name before it moved, to a caller who may see it: sent on.
            if let Some(moved) = state.accounts().redirect(target).await? {
                if role_in(state, who, &moved).await?.is_some() {
                    return Err(Denied::MovedTo(moved.repo_ref()));
                }
            }
            // A pull-through cache fetches a public repo it does not have, for reading.
            match (state.inner.pull_through.get(), need) {
                (Some(fetch), Role::Read) => match fetch(target.clone()).await {
                    crate::PullThrough::Fetched => {
                        state.forget_repos();
                        find_repo(state, target).await?
                    }
                    crate::PullThrough::Absent => return Err(hidden()),
                    crate::PullThrough::Unreachable(why) => return Err(Denied::UpstreamDown(why)),
                    crate::PullThrough::Refused(why) => return Err(Denied::Forbidden(why)),
                },
                _ => return Err(hidden()),
            }
        }
        other => other?,
    };
    let role = role_in(state, who, &repo).await?.ok_or_else(hidden)?;
    check_role(who, role, need, target)?;
    Ok((repo, role))
}

/// Whether `role` (what `who` has on `target`) is enough for `need`.
pub fn check_role(
    who: Option<&Principal>,
    role: Role,
    need: Role,
    target: &RepoRef,
) -> Result<(), Denied> {
    if role >= need {
        return Ok(());
    }
    Err(match who {
        None => Denied::AuthRequired,
        Some(_) => Denied::Forbidden(format!(
            "your token gives {role} access to {target}; this needs {need} access"
        )),
    })
}

/// Whether `who` administers the repo `target` names (the namespace's owner, an admin of its
/// organisation, a site admin), with a token that may write: settings, moves and deletes.
pub async fn administer(
    state: &AppState,
    who: Option<&Principal>,
    target: &RepoRef,
) -> Result<Repo, Denied> {
    let who = who.ok_or(Denied::AuthRequired)?;
    if who.token_role < Role::Write {
        return Err(Denied::Forbidden("this needs a write token".into()));
    }
    let repo = find_repo(state, target).await?;
    if role_in(state, Some(who), &repo).await?.is_none() {
        return Err(Denied::NotFound);
    }
    let org = match accounts::needs_org_role(who, &repo) {
        true => org_role(state, who.user_id, repo.namespace.as_str()).await?,
        false => None,
    };
    if !accounts::owns(who, org, &repo) {
        return Err(Denied::Forbidden(format!(
            "only admins of {target} can do this"
        )));
    }
    Ok(repo)
}

/// Whether `who`, with `role` on a repo, may upload content for a pull request: a writer, or
/// anyone who may read the repo and signed in with a write token (as on the Hub, pull
/// requests are how others propose changes). What they upload lands only on a pull
/// request's ref, after validation; anything no ref comes to use is collected by `gc`.
pub fn may_contribute(who: Option<&Principal>, role: Role) -> bool {
    role >= Role::Write || (role >= Role::Read && who.is_some_and(|p| p.token_role >= Role::Write))
}
