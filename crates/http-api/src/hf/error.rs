//! Errors of the Hub API: JSON `{"error": ...}` plus `X-Error-Code` and `X-Error-Message`
//! headers, which are all a HEAD response can carry and what huggingface_hub maps to
//! `RepositoryNotFoundError`, `RevisionNotFoundError` and `RemoteEntryNotFoundError`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::edge::access::Denied;

#[derive(Debug, thiserror::Error)]
pub enum HfError {
    #[error("Repository not found")]
    RepoNotFound,
    #[error("Revision not found: {0}")]
    RevisionNotFound(String),
    /// The commit is known: the client caches the file's absence under it.
    #[error("Entry not found: {path}")]
    EntryNotFound { path: String, commit: String },
    #[error("{0}")]
    NotFound(String),
    #[error("Invalid credentials in Authorization header")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    /// A ref to delete that does not exist (the Hub's wording; the client's
    /// `RevisionNotFoundError`).
    #[error("Invalid rev id: {0}")]
    InvalidRev(String),
    /// The repo moved: a redirect to its new URL.
    #[error("moved to {0}")]
    Redirect(String),
    /// What the request would create exists already: 409.
    #[error("{0}")]
    Conflict(String),
    /// Well-formed, but naming something the Hub refuses (a file path no repo may hold): 422.
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    PreconditionFailed(String),
    /// A gated repo the caller has no accepted request for (`GatedRepoError`): 401 to an
    /// anonymous caller, else 403.
    #[error("{message}")]
    Gated { message: String, anonymous: bool },
    #[error("Requested range not satisfiable")]
    RangeNotSatisfiable(u64),
    /// The detail is logged, never sent.
    #[error("Internal server error")]
    Internal(String),
    /// The object store is down: the detail is logged, the client told to try again.
    #[error("Storage is temporarily unavailable; try again later")]
    Unavailable(String),
    /// A pull-through cache's upstream is down (the message names it).
    #[error("{0}")]
    UpstreamDown(String),
}

impl HfError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        HfError::Internal(e.to_string())
    }

    fn parts(&self) -> (StatusCode, Option<&'static str>) {
        match self {
            HfError::RepoNotFound => (StatusCode::NOT_FOUND, Some("RepoNotFound")),
            HfError::RevisionNotFound(_) => (StatusCode::NOT_FOUND, Some("RevisionNotFound")),
            HfError::EntryNotFound { .. } => (StatusCode::NOT_FOUND, Some("EntryNotFound")),
            HfError::NotFound(_) => (StatusCode::NOT_FOUND, None),
            HfError::Unauthorized => (StatusCode::UNAUTHORIZED, None),
            HfError::Forbidden(_) => (StatusCode::FORBIDDEN, None),
            HfError::BadRequest(_) => (StatusCode::BAD_REQUEST, None),
            HfError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, None),
            HfError::InvalidRev(_) => (StatusCode::NOT_FOUND, Some("RevisionNotFound")),
            HfError::Conflict(_) => (StatusCode::CONFLICT, None),
            HfError::Redirect(_) => (StatusCode::TEMPORARY_REDIRECT, None),
            HfError::RangeNotSatisfiable(_) => (StatusCode::RANGE_NOT_SATISFIABLE, None),
            HfError::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, None),
            HfError::Gated {
                anonymous: true, ..
            } => (StatusCode::UNAUTHORIZED, Some("GatedRepo")),
            HfError::Gated { .. } => (StatusCode::FORBIDDEN, Some("GatedRepo")),
            HfError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
            HfError::Unavailable(_) | HfError::UpstreamDown(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, None)
            }
        }
    }
}

impl From<crate::gate::Refusal> for HfError {
    fn from(r: crate::gate::Refusal) -> Self {
        HfError::Gated {
            message: r.message,
            anonymous: r.anonymous,
        }
    }
}

impl From<Denied> for HfError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::AuthRequired => HfError::Unauthorized,
            Denied::NotFound => HfError::RepoNotFound,
            Denied::Forbidden(m) => HfError::Forbidden(m),
            Denied::BadPath(m) => HfError::BadRequest(m),
            Denied::UnknownType(m) => HfError::NotFound(m),
            Denied::BadRevision(r) => HfError::RevisionNotFound(r),
            Denied::Unavailable(m) => HfError::Unavailable(m),
            Denied::UpstreamDown(m) => HfError::UpstreamDown(m),
            Denied::Internal(m) => HfError::Internal(m),
            Denied::MovedTo(_) => HfError::RepoNotFound,
            Denied::Redirect(l) => HfError::Redirect(l),
        }
    }
}

/// The Hub API surface: status, JSON and `X-Error-Code`. Reading a repo one may not see,
/// without credentials, answers as a missing repo (404 `RepoNotFound`), which is what
/// huggingface_hub turns into `RepositoryNotFoundError`; writing asks for credentials (401).
pub struct Hub;

impl crate::edge::Surface for Hub {
    type Error = HfError;

    fn refuse(denied: Denied, need: hub_types::Role, anonymous: bool) -> HfError {
        match denied {
            Denied::AuthRequired if anonymous && need == hub_types::Role::Read => {
                HfError::RepoNotFound
            }
            d => d.into(),
        }
    }
}

impl From<crate::edge::http::Unsatisfiable> for HfError {
    fn from(u: crate::edge::http::Unsatisfiable) -> Self {
        HfError::RangeNotSatisfiable(u.0)
    }
}

impl From<git_repos::ReadError> for HfError {
    fn from(e: git_repos::ReadError) -> Self {
        match e {
            git_repos::ReadError::RevisionNotFound(r) | git_repos::ReadError::BadRevision(r) => {
                HfError::RevisionNotFound(r)
            }
            git_repos::ReadError::Unreadable(m) => HfError::Internal(m),
        }
    }
}

impl From<accounts::AccountsError> for HfError {
    fn from(e: accounts::AccountsError) -> Self {
        if e.is_unavailable() {
            HfError::Unavailable(e.to_string())
        } else {
            HfError::Internal(e.to_string())
        }
    }
}

impl From<lfs_store::StoreError> for HfError {
    fn from(e: lfs_store::StoreError) -> Self {
        match e {
            lfs_store::StoreError::BadRange { size, .. } => HfError::RangeNotSatisfiable(size),
            lfs_store::StoreError::Unavailable(m) => HfError::Unavailable(m),
            other => HfError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for HfError {
    fn into_response(self) -> Response {
        if let HfError::Redirect(location) = &self {
            return crate::edge::access::redirect(location);
        }
        match &self {
            HfError::Internal(detail) => tracing::error!(error = %detail, "Hub API request failed"),
            HfError::Unavailable(detail) => {
                tracing::error!(error = %detail, "Hub API request failed: a store is unavailable")
            }
            _ => {}
        }
        let (status, code) = self.parts();
        let message = self.to_string();
        let mut res = (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
        let h = res.headers_mut();
        if let Some(code) = code {
            h.insert("x-error-code", HeaderValue::from_static(code));
        }
        // Header values must be visible ASCII: anything else in a path becomes '?'.
        let printable: String = message
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&printable) {
            h.insert("x-error-message", v);
        }
        if let HfError::EntryNotFound { commit, .. } = &self {
            if let Ok(v) = HeaderValue::from_str(commit) {
                h.insert("x-repo-commit", v);
            }
        }
        if let HfError::RangeNotSatisfiable(size) = self {
            h.insert(
                "content-range",
                HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII"),
            );
        }
        res
    }
}
