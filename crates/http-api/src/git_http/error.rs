//! Errors of the git smart-HTTP surface, as git clients expect them: plain text, never
//! cached, and a 401 that makes git's credential helper prompt.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::body::BodyError;
use crate::pktline::PktError;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("Authentication required: use a modelhub token as the password")]
    AuthRequired,
    #[error("Repository not found")]
    NotFound,
    #[error("Forbidden: {0}")]
    Forbidden(String),
    #[error("Bad request: {0}")]
    BadRequest(String),
    #[error("Unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("Request too large: {0}")]
    TooLarge(String),
    #[error("Request timeout: {0}")]
    Timeout(String),
    /// The database or the object store does not answer; the detail is logged.
    #[error("Service unavailable: try again shortly")]
    Unavailable(String),
    /// The detail is logged, never sent.
    #[error("Internal server error")]
    Internal(String),
    /// The repo moved: a redirect to its new URL.
    #[error("moved to {0}")]
    Redirect(String),
}

impl GitError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        GitError::Internal(e.to_string())
    }

    fn status(&self) -> StatusCode {
        match self {
            GitError::AuthRequired => StatusCode::UNAUTHORIZED,
            GitError::NotFound => StatusCode::NOT_FOUND,
            GitError::Forbidden(_) => StatusCode::FORBIDDEN,
            GitError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GitError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            GitError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            GitError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            GitError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            GitError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            GitError::Redirect(_) => StatusCode::TEMPORARY_REDIRECT,
        }
    }
}

impl From<BodyError> for GitError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(_) => GitError::TooLarge(e.to_string()),
            BodyError::Timeout(_) => GitError::Timeout(e.to_string()),
            BodyError::Gzip(_) | BodyError::Read(_) => GitError::BadRequest(e.to_string()),
        }
    }
}

impl From<crate::edge::access::Denied> for GitError {
    fn from(d: crate::edge::access::Denied) -> Self {
        use crate::edge::access::Denied;
        match d {
            Denied::AuthRequired => GitError::AuthRequired,
            Denied::NotFound => GitError::NotFound,
            Denied::Forbidden(m) => GitError::Forbidden(m),
            Denied::BadPath(m) => GitError::BadRequest(m),
            Denied::UnknownType(_) => GitError::NotFound,
            Denied::BadRevision(r) => GitError::BadRequest(format!("invalid revision {r:?}")),
            Denied::Unavailable(m) | Denied::UpstreamDown(m) => GitError::Unavailable(m),
            Denied::Internal(m) => GitError::Internal(m),
            Denied::MovedTo(_) => GitError::NotFound,
            Denied::Redirect(l) => GitError::Redirect(l),
        }
    }
}

/// The git surface: a refusal is a 401 that makes git ask for credentials, or the plain-text
/// 404 or 403 git shows.
pub struct Git;

impl crate::edge::Surface for Git {
    type Error = GitError;
}

impl From<PktError> for GitError {
    fn from(e: PktError) -> Self {
        GitError::BadRequest(e.to_string())
    }
}

impl IntoResponse for GitError {
    fn into_response(self) -> Response {
        if let GitError::Redirect(location) = &self {
            return crate::edge::access::redirect(location);
        }
        match &self {
            GitError::Internal(detail) => tracing::error!(error = %detail, "git request failed"),
            GitError::Unavailable(detail) => {
                tracing::error!(error = %detail, "git request failed: a store is unavailable")
            }
            _ => {}
        }
        let mut res = (self.status(), format!("{self}\n")).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if matches!(self, GitError::AuthRequired) {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"modelhub\""),
            );
        }
        res
    }
}
