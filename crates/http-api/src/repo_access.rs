//! Finding the repo a URL names and deciding whether the caller may use it: one answer for
//! every surface (git, LFS), each of which turns a [`Denied`] into its own protocol's error.

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
    Internal(String),
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
    if let Some(hit) = state.inner.caches.tokens.get(&key) {
        return Ok(hit);
    }
    let p = state
        .accounts()
        .authenticate(secret)
        .await
        .map_err(|e| Denied::Internal(e.to_string()))?;
    state.inner.caches.tokens.put(key, p.clone());
    Ok(p)
}

/// The registered repo, with no access check (for requests authorised by a signature).
pub async fn find_repo(state: &AppState, target: &RepoRef) -> Result<Repo, Denied> {
    let key = format!("{}/{}", target.repo_type, target.id).to_ascii_lowercase();
    let found = match state.inner.caches.repos.get(&key) {
        Some(hit) => hit,
        None => {
            let epoch = state.inner.caches.repos.epoch();
            let r = state
                .accounts()
                .repo(target)
                .await
                .map_err(|e| Denied::Internal(e.to_string()))?;
            state.inner.caches.repos.put_since(epoch, key, r.clone());
            r
        }
    };
    found.ok_or(Denied::NotFound)
}

/// Who is asking (if anyone), their role, and whether it allows `need`.
///
/// A repo the caller may not see answers exactly as a missing one: `AuthRequired` to an
/// anonymous caller (so clients ask for credentials), `NotFound` to an authenticated one.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    target: &RepoRef,
    need: Role,
) -> Result<(Repo, Option<Principal>, Role), Denied> {
    let who = principal(state, headers).await?;
    let hidden = || {
        if who.is_none() {
            Denied::AuthRequired
        } else {
            Denied::NotFound
        }
    };
    let repo = match find_repo(state, target).await {
        Err(Denied::NotFound) => return Err(hidden()),
        other => other?,
    };
    let role = state
        .accounts()
        .access(who.as_ref(), &repo)
        .await
        .map_err(|e| Denied::Internal(e.to_string()))?
        .ok_or_else(hidden)?;
    if role < need {
        return Err(match who {
            None => Denied::AuthRequired,
            Some(_) => Denied::Forbidden(format!(
                "your token gives {role} access to {target}; this needs {need} access"
            )),
        });
    }
    Ok((repo, who, role))
}
