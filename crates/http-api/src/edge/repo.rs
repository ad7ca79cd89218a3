//! The one way a request reaches a repo: typed extractors that take the repo type from the
//! route, validate the namespace and name, identify the caller, look the repo up once and
//! authorize once for the role the route declares. A rejection speaks the surface's own
//! protocol ([`Surface::Error`]); a handler gets a [`RepoAccess`] and never checks access
//! itself.
//!
//! ```text
//! async fn refs(State(state): State<AppState>, access: RepoAccess<Hub>) -> ...  // read
//! async fn commit(access: RepoAccess<Hub, Write>, ...) -> ...                   // write
//! async fn settings(access: RepoAccess<Hub, Admin>, ...) -> ...                 // admin
//! ```

use std::marker::PhantomData;
use std::path::PathBuf;

use accounts::{Principal, Repo};
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use hub_types::{RepoRef, RepoType, Revision, Role};

use super::access::{self, Denied};
use crate::AppState;

/// A protocol a repo route speaks, and so how it refuses.
pub trait Surface: Send + Sync + 'static {
    type Error: IntoResponse + From<Denied> + Send;

    /// The caller's secret: a token in `Authorization` (Basic or Bearer).
    fn credentials(parts: &Parts) -> Option<String> {
        crate::auth::token(&parts.headers)
    }

    /// Whether a secret that matches no token counts as no secret (the pages' cookie) rather
    /// than being refused (so that git and API clients drop it and ask again).
    const UNKNOWN_SECRET_IS_ANONYMOUS: bool = false;

    /// A refusal in this surface's words. `anonymous` when the request carried no secret.
    fn refuse(denied: Denied, _need: Role, _anonymous: bool) -> Self::Error {
        denied.into()
    }
}

/// What a route needs of its caller.
pub trait Need: Send + Sync + 'static {
    /// The role needed, which may depend on the request (git's `info/refs?service=`).
    fn role(parts: &Parts) -> Role;
}

/// Reading: cloning, downloading, describing.
pub struct Read;
/// Writing: pushing, committing, uploading, making branches and tags.
pub struct Write;
/// Administering: settings (visibility). See [`access::administer`].
pub struct Admin;

impl Need for Read {
    fn role(_: &Parts) -> Role {
        Role::Read
    }
}

impl Need for Write {
    fn role(_: &Parts) -> Role {
        Role::Write
    }
}

impl Need for Admin {
    fn role(_: &Parts) -> Role {
        Role::Admin
    }
}

/// The repo a route names, validated but not yet looked up, with the caller's credentials:
/// for routes that learn from the request how they are authorized (an LFS transfer, by its
/// signed link or else by a token, for the role its operation needs).
pub struct RepoTarget<S> {
    pub target: RepoRef,
    secret: Option<String>,
    _surface: PhantomData<S>,
}

impl<S: Surface> FromRequestParts<AppState> for RepoTarget<S> {
    type Rejection = S::Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, S::Error> {
        let target = target(parts, state)
            .await
            .map_err(|d| S::refuse(d, Role::Read, true))?;
        Ok(RepoTarget {
            target,
            secret: S::credentials(parts),
            _surface: PhantomData,
        })
    }
}

impl<S: Surface> RepoTarget<S> {
    /// The repo, with no access check: for a request its signature authorizes.
    pub async fn find(&self, state: &AppState) -> Result<Repo, S::Error> {
        access::find_repo(state, &self.target)
            .await
            .map_err(|d| S::refuse(d, Role::Read, self.secret.is_none()))
    }

    /// The repo, if the caller's credentials give `need` on it (as [`RepoAccess`] checks).
    pub async fn authorize(&self, state: &AppState, need: Role) -> Result<Repo, S::Error> {
        let anonymous = self.secret.is_none();
        let refuse = |d| S::refuse(d, need, anonymous);
        let who = caller::<S>(state, self.secret.clone())
            .await
            .map_err(refuse)?;
        let (repo, _) = access::authorize(state, who.as_ref(), &self.target, need)
            .await
            .map_err(refuse)?;
        Ok(repo)
    }
}

/// The repo a route names, found and authorized for `N`, with the caller.
pub struct RepoAccess<S, N = Read> {
    pub repo: Repo,
    /// The caller, if the request carried valid credentials.
    pub who: Option<Principal>,
    /// What the caller may do (at least what `N` needs).
    pub role: Role,
    _marker: PhantomData<(S, N)>,
}

impl<S: Surface, N: Need> FromRequestParts<AppState> for RepoAccess<S, N> {
    type Rejection = S::Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, S::Error> {
        let need = N::role(parts);
        let secret = S::credentials(parts);
        let anonymous = secret.is_none();
        let refuse = |d| S::refuse(d, need, anonymous);
        let target = target(parts, state).await.map_err(refuse)?;
        let who = caller::<S>(state, secret).await.map_err(refuse)?;
        let (repo, role) = if need == Role::Admin {
            let repo = access::administer(state, who.as_ref(), &target)
                .await
                .map_err(refuse)?;
            (repo, Role::Admin)
        } else {
            match access::authorize(state, who.as_ref(), &target, need).await {
                Err(Denied::MovedTo(to)) => {
                    let moved =
                        moved_url(parts, &target, &to).map_or(Denied::NotFound, Denied::Redirect);
                    return Err(refuse(moved));
                }
                other => other.map_err(refuse)?,
            }
        };
        Ok(RepoAccess {
            repo,
            who,
            role,
            _marker: PhantomData,
        })
    }
}

impl<S: Surface, N> RepoAccess<S, N> {
    /// The bare repo on disk.
    pub fn path(&self, state: &AppState) -> PathBuf {
        state.repos().path(&self.repo.repo_ref())
    }

    /// Whether the caller may also do `need` (an LFS batch learns from its body that it
    /// uploads); refused as the extractor would have refused it.
    pub fn require(&self, need: Role) -> Result<(), S::Error> {
        access::check_role(self.who.as_ref(), self.role, need, &self.repo.repo_ref())
            .map_err(|d| S::refuse(d, need, self.who.is_none()))
    }

    /// The signed-in caller, for what only a user can do (a commit, a lock).
    pub fn user(&self) -> Result<&Principal, S::Error> {
        self.who
            .as_ref()
            .ok_or_else(|| S::refuse(Denied::AuthRequired, Role::Write, true))
    }
}

/// The `{rev}` a route names, parsed, and its `{*path}` (empty when the route has none or
/// names the root).
pub struct At<S> {
    pub rev: Revision,
    pub path: String,
    _surface: PhantomData<S>,
}

impl<S: Surface> FromRequestParts<AppState> for At<S> {
    type Rejection = S::Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, S::Error> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                S::refuse(
                    Denied::BadPath(format!("invalid path: {e}")),
                    Role::Read,
                    true,
                )
            })?;
        let (mut rev, mut path) = (None, String::new());
        for (k, v) in &params {
            match k {
                "rev" => rev = Some(v),
                "path" => path = v.to_owned(),
                _ => {}
            }
        }
        let rev = rev.ok_or_else(|| {
            S::refuse(
                Denied::Internal("a route without {rev}".into()),
                Role::Read,
                true,
            )
        })?;
        let rev = Revision::parse(rev)
            .map_err(|e| S::refuse(Denied::BadRevision(e.0), Role::Read, true))?;
        Ok(At {
            rev,
            path,
            _surface: PhantomData,
        })
    }
}

/// The caller a secret names; `None` for no secret.
pub(crate) async fn caller<S: Surface>(
    state: &AppState,
    secret: Option<String>,
) -> Result<Option<Principal>, Denied> {
    let Some(secret) = secret else {
        return Ok(None);
    };
    match access::principal_from_secret(state, &secret).await? {
        Some(p) => Ok(Some(p)),
        None if S::UNKNOWN_SECRET_IS_ANONYMOUS => Ok(None),
        None => Err(Denied::AuthRequired),
    }
}

/// The route's repo: its type from the route (an `Extension<RepoType>` on the routes under a
/// type's URL prefix, or the `{kind}` of `/api/{kind}/...`), and `{ns}`/`{repo}` validated.
async fn target(parts: &mut Parts, state: &AppState) -> Result<RepoRef, Denied> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| Denied::BadPath(format!("invalid path: {e}")))?;
    let (mut kind, mut ns, mut name) = (None, None, None);
    for (k, v) in &params {
        match k {
            "kind" => kind = Some(v),
            "ns" => ns = Some(v),
            "repo" => name = Some(v),
            _ => {}
        }
    }
    let t = match (parts.extensions.get::<RepoType>(), kind) {
        (Some(t), _) => *t,
        (None, Some(kind)) => repo_type(kind)?,
        (None, None) => return Err(Denied::Internal("a repo route without a type".into())),
    };
    let (Some(ns), Some(name)) = (ns, name) else {
        return Err(Denied::Internal("a repo route without {ns}/{repo}".into()));
    };
    access::repo_ref(t, ns, name)
}

/// The request's URL with the repo's old name (`target`) replaced by its new one (`to`): the
/// first `/{ns}/{name}` segment pair of the path (a `.git` after it stays).
fn moved_url(parts: &Parts, target: &RepoRef, to: &RepoRef) -> Option<String> {
    let path = parts.uri.path();
    let old = format!("/{}/{}", target.id.namespace, target.id.name);
    let lower = path.to_ascii_lowercase();
    let at = lower
        .match_indices(&old.to_ascii_lowercase())
        .find_map(|(i, _)| {
            let rest = &path[i + old.len()..];
            (rest.is_empty() || rest.starts_with('/') || rest.starts_with(".git")).then_some(i)
        })?;
    let mut url = format!(
        "{}/{}/{}{}",
        &path[..at],
        to.id.namespace,
        to.id.name,
        &path[at + old.len()..]
    );
    if let Some(q) = parts.uri.query() {
        url.push('?');
        url.push_str(q);
    }
    Some(url)
}

/// The type `/api/{kind}/...` names: `models`, `datasets` or `spaces`.
pub fn repo_type(kind: &str) -> Result<RepoType, Denied> {
    RepoType::from_plural(kind)
        .ok_or_else(|| Denied::UnknownType(format!("unknown repo type {kind:?}")))
}
