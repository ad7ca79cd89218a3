//! Git smart HTTP: ref discovery (`info/refs`) and the two RPCs, for models
//! (`/{ns}/{name}[.git]/...`), datasets (`/datasets/...`) and spaces (`/spaces/...`).
//!
//! Git does the protocol work: each request spawns `git upload-pack` or `git receive-pack`
//! with `--stateless-rpc`, and bytes stream through in both directions.

mod error;
mod rpc;

use std::collections::HashMap;

use accounts::{Principal, Repo};
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use git_repos::{Service, ServiceEnv};
use hub_types::Role;

use crate::edge::repo::Need;
use crate::edge::{Read, RepoAccess};
use crate::AppState;
pub use error::{Git, GitError};

/// The routes of one repo type, relative to its URL prefix; the caller adds the type as an
/// `Extension<RepoType>`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{ns}/{repo}/info/refs", get(info_refs))
        .route("/{ns}/{repo}/git-upload-pack", post(upload_pack))
        .route("/{ns}/{repo}/git-receive-pack", post(receive_pack))
}

/// What `info/refs?service=` needs: read to fetch; to push, see [`may_push`].
pub struct ByService;

impl Need for ByService {
    fn role(parts: &Parts) -> Role {
        let push = parts
            .uri
            .query()
            .unwrap_or_default()
            .split('&')
            .any(|kv| kv == "service=git-receive-pack");
        // A push needs read access here; the handler then asks for write access, or for a
        // contributor's (see `may_contribute`), whose push the hook keeps to their own open
        // pull requests.
        let _ = push;
        Role::Read
    }
}

/// The `Git-Protocol` header, if it has the only shape git sends (`key=value[:key=value]`,
/// letters, digits, `-`, `_`, `.`): anything else is dropped rather than handed to git.
fn git_protocol(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("git-protocol")?.to_str().ok()?;
    let well_formed = v.len() <= 256
        && v.split(':').all(|kv| {
            kv.split_once('=').is_some_and(|(k, v)| {
                let ok = |s: &str| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                };
                ok(k) && ok(v)
            })
        });
    well_formed.then(|| v.to_owned())
}

/// What the spawned git and its hooks are told about the request.
fn service_env(
    state: &AppState,
    repo: &Repo,
    who: Option<&Principal>,
    headers: &HeaderMap,
) -> ServiceEnv {
    let mut env = match who {
        Some(p) => push_env(state, repo, p),
        None => ServiceEnv {
            git_protocol: None,
            vars: repo_vars(state, repo),
        },
    };
    env.git_protocol = git_protocol(headers);
    env
}

fn repo_vars(state: &AppState, repo: &Repo) -> Vec<(String, String)> {
    let cfg = state.config();
    let mut vars = vec![
        (
            "MODELHUB_DATA_DIR".into(),
            cfg.data_dir.display().to_string(),
        ),
        ("MODELHUB_BIN".into(), cfg.hook_binary.display().to_string()),
        ("MODELHUB_REPO".into(), repo.repo_ref().id.to_string()),
        ("MODELHUB_REPO_TYPE".into(), repo.repo_type.to_string()),
        ("MODELHUB_REPO_ID".into(), repo.id.to_string()),
    ];
    vars.push((
        "MODELHUB_HOOK_REPORTS".into(),
        crate::ops::reports_dir(state).display().to_string(),
    ));
    vars.extend(cfg.hook_env.iter().cloned());
    vars
}

/// The environment of a push by `who`: the repo, the pusher, and the reflog identity (as git
/// http-backend's REMOTE_USER). Also used by the commit API, which lands commits as pushes.
pub(crate) fn push_env(state: &AppState, repo: &Repo, who: &Principal) -> ServiceEnv {
    let mut vars = repo_vars(state, repo);
    vars.push(("MODELHUB_PUSHER".into(), who.name.clone()));
    vars.push(("MODELHUB_PUSHER_ID".into(), who.user_id.to_string()));
    vars.push(("GIT_COMMITTER_NAME".into(), who.name.clone()));
    vars.push((
        "GIT_COMMITTER_EMAIL".into(),
        format!("{}@users.noreply.modelhub", who.name),
    ));
    ServiceEnv {
        git_protocol: None,
        vars,
    }
}

/// Headers that keep proxies and clients from caching anything git says.
fn no_cache(headers: &mut HeaderMap) {
    // In the past, as git http-backend sends it.
    let expires = crate::edge::http::http_date(315_532_800);
    headers.insert(
        header::EXPIRES,
        HeaderValue::from_str(&expires).expect("an HTTP date is ASCII"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, max-age=0, must-revalidate"),
    );
}

fn git_response(content_type: String, body: axum::body::Body) -> Response {
    let mut res = body.into_response();
    let ct = HeaderValue::from_str(&content_type).expect("content types are ASCII");
    res.headers_mut().insert(header::CONTENT_TYPE, ct);
    no_cache(res.headers_mut());
    res
}

async fn info_refs(
    State(state): State<AppState>,
    access: RepoAccess<Git, ByService>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, GitError> {
    let service = query
        .get("service")
        .and_then(|s| Service::parse(s))
        .ok_or_else(|| {
            GitError::Forbidden(
                "modelhub speaks git's smart HTTP protocol only: \
                 service must be git-upload-pack or git-receive-pack"
                    .into(),
            )
        })?;
    if service == Service::ReceivePack {
        may_push(&access)?;
    } else {
        gated(&state, &access, &headers).await?;
    }
    let (repo, who) = (&access.repo, access.who.as_ref());
    let env = service_env(&state, repo, who, &headers);
    // http-backend leaves out the `# service=` preamble for v2; the client accepts both.
    let v2 = service == Service::UploadPack
        && env
            .git_protocol
            .as_deref()
            .is_some_and(|p| p.contains("version=2"));
    let preamble = (!v2).then(|| {
        let mut p = crate::pktline::encode(format!("# service={}\n", service.name()).as_bytes());
        p.extend_from_slice(b"0000");
        Bytes::from(p)
    });
    let path = state.repos().path(&repo.repo_ref());
    let body = rpc::run(
        &state,
        repo,
        service,
        &path,
        &env,
        rpc::Input::Advertise,
        preamble,
    )
    .await?;
    Ok(git_response(
        format!("application/x-{}-advertisement", service.name()),
        body,
    ))
}

/// A gated repo's history only for those it lets through (see `crate::gate`).
async fn gated<N>(
    state: &AppState,
    access: &RepoAccess<Git, N>,
    headers: &HeaderMap,
) -> Result<(), GitError> {
    let base = crate::edge::http::public_base(state, headers);
    match crate::gate::blocked(state, &access.repo, access.who.as_ref(), access.role, &base)
        .await
        .map_err(|e| GitError::Internal(e.to_string()))?
    {
        None => Ok(()),
        Some(r) if r.anonymous => Err(GitError::AuthRequired),
        Some(r) => Err(GitError::Forbidden(r.message)),
    }
}

async fn upload_pack(
    state: State<AppState>,
    access: RepoAccess<Git, Read>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, GitError> {
    gated(&state, &access, &headers).await?;
    rpc::handle(
        state,
        access.repo,
        access.who,
        headers,
        body,
        Service::UploadPack,
        false,
    )
    .await
}

/// Whether the caller may push: a writer, or a contributor (a write token and read access),
/// whose push the hook accepts only onto open pull requests they opened. Returns whether the
/// push is a contributor's.
fn may_push<N>(access: &RepoAccess<Git, N>) -> Result<bool, GitError> {
    if access.role >= Role::Write {
        return Ok(false);
    }
    if crate::edge::access::may_contribute(access.who.as_ref(), access.role) {
        return Ok(true);
    }
    access.require(Role::Write).map(|_| false)
}

async fn receive_pack(
    state: State<AppState>,
    access: RepoAccess<Git, Read>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, GitError> {
    let contributor = may_push(&access)?;
    rpc::handle(
        state,
        access.repo,
        access.who,
        headers,
        body,
        Service::ReceivePack,
        contributor,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_protocol_header_is_checked() {
        let mut h = HeaderMap::new();
        h.insert("git-protocol", HeaderValue::from_static("version=2"));
        assert_eq!(git_protocol(&h).as_deref(), Some("version=2"));
        h.insert(
            "git-protocol",
            HeaderValue::from_static("version=2:object-format=sha1"),
        );
        assert!(git_protocol(&h).is_some());
        h.insert(
            "git-protocol",
            HeaderValue::from_static("version=2 GIT_DIR=/x"),
        );
        assert!(git_protocol(&h).is_none());
    }
}
