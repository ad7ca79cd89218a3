//! Errors of the LFS surface: `{"message": ...}` with the LFS media type, and on a 401 the
//! `LFS-Authenticate` header git-lfs reads to pick its credentials.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lfs_store::StoreError;
use serde_json::json;

use crate::body::BodyError;
use crate::edge::access::Denied;

#[derive(Debug, thiserror::Error)]
pub enum LfsError {
    #[error("Authentication required: use a modelhub token as the password")]
    AuthRequired,
    /// The repo moved: a redirect to its new URL.
    #[error("moved to {0}")]
    Redirect(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Timeout(String),
    #[error("requested range not satisfiable")]
    RangeNotSatisfiable(u64),
    /// The detail is logged, never sent.
    #[error("internal server error")]
    Internal(String),
    /// The object store is down; git-lfs retries a 503 after `Retry-After`.
    #[error("storage is temporarily unavailable; try again later")]
    Unavailable(String),
}

impl LfsError {
    fn status(&self) -> StatusCode {
        match self {
            LfsError::Redirect(_) => StatusCode::TEMPORARY_REDIRECT,
            LfsError::AuthRequired => StatusCode::UNAUTHORIZED,
            LfsError::NotFound(_) => StatusCode::NOT_FOUND,
            LfsError::Forbidden(_) => StatusCode::FORBIDDEN,
            LfsError::BadRequest(_) => StatusCode::BAD_REQUEST,
            LfsError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            LfsError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            LfsError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            LfsError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            LfsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            LfsError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<Denied> for LfsError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::AuthRequired => LfsError::AuthRequired,
            Denied::NotFound => LfsError::NotFound("Repository not found".into()),
            Denied::Forbidden(m) => LfsError::Forbidden(m),
            Denied::BadPath(m) => LfsError::BadRequest(m),
            Denied::UnknownType(m) => LfsError::NotFound(m),
            Denied::BadRevision(r) => LfsError::NotFound(format!("no revision {r:?}")),
            Denied::Unavailable(m) | Denied::UpstreamDown(m) => LfsError::Unavailable(m),
            Denied::Internal(m) => LfsError::Internal(m),
            Denied::MovedTo(_) => LfsError::NotFound("Repository not found".into()),
            Denied::Redirect(l) => LfsError::Redirect(l),
        }
    }
}

/// The Git LFS surface: refusals as `application/vnd.git-lfs+json` with a message.
pub struct Lfs;

impl crate::edge::Surface for Lfs {
    type Error = LfsError;
}

impl From<crate::edge::http::Unsatisfiable> for LfsError {
    fn from(u: crate::edge::http::Unsatisfiable) -> Self {
        LfsError::RangeNotSatisfiable(u.0)
    }
}

impl From<BodyError> for LfsError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(_) => LfsError::TooLarge(e.to_string()),
            BodyError::Timeout(_) => LfsError::Timeout(e.to_string()),
            BodyError::Gzip(_) | BodyError::Read(_) => LfsError::BadRequest(e.to_string()),
        }
    }
}

impl From<StoreError> for LfsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => LfsError::NotFound(e.to_string()),
            StoreError::SizeMismatch { .. } | StoreError::HashMismatch { .. } => {
                LfsError::Unprocessable(e.to_string())
            }
            StoreError::BadRange { size, .. } => LfsError::RangeNotSatisfiable(size),
            StoreError::Body(ref io) if io.kind() == std::io::ErrorKind::TimedOut => {
                LfsError::Timeout(e.to_string())
            }
            StoreError::Body(_) => LfsError::BadRequest(e.to_string()),
            StoreError::Io(_) => LfsError::Internal(e.to_string()),
            StoreError::Unavailable(m) => LfsError::Unavailable(m),
        }
    }
}

impl From<accounts::AccountsError> for LfsError {
    fn from(e: accounts::AccountsError) -> Self {
        if e.is_unavailable() {
            LfsError::Unavailable(e.to_string())
        } else {
            LfsError::Internal(e.to_string())
        }
    }
}

impl IntoResponse for LfsError {
    fn into_response(self) -> Response {
        if let LfsError::Redirect(location) = &self {
            return crate::edge::access::redirect(location);
        }
        match &self {
            LfsError::Internal(detail) => tracing::error!(error = %detail, "LFS request failed"),
            LfsError::Unavailable(detail) => {
                tracing::error!(error = %detail, "LFS request failed: a store is unavailable")
            }
            _ => {}
        }
        let mut res = super::json(self.status(), &json!({ "message": self.to_string() }));
        let h = res.headers_mut();
        match self {
            LfsError::AuthRequired => {
                let realm = HeaderValue::from_static("Basic realm=\"modelhub\"");
                h.insert("lfs-authenticate", realm.clone());
                h.insert(header::WWW_AUTHENTICATE, realm);
            }
            LfsError::RangeNotSatisfiable(size) => {
                let v = HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII");
                h.insert(header::CONTENT_RANGE, v);
            }
            LfsError::Unavailable(_) => {
                h.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            _ => {}
        }
        res
    }
}
