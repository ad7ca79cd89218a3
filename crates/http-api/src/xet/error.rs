//! Errors of the Xet CAS routes, as hf_xet reads them: a status and a JSON `{"error": ...}`
//! (a 416 also says the size in `Content-Range`). The Hub API's error codes mean nothing here.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use xet_store::XetError;

#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// A malformed hash, xorb, shard or request.
    #[error("{0}")]
    BadRequest(String),
    /// No token, or one that is expired, forged or for another scope.
    #[error("Invalid credentials in Authorization header")]
    Unauthorized,
    /// A valid token that does not reach this (another repo's file, a link's range).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("Requested range not satisfiable")]
    RangeNotSatisfiable(u64),
    /// The detail is logged, never sent.
    #[error("Internal server error")]
    Internal(String),
    /// The object store is down (hf_xet retries a 503).
    #[error("Storage is temporarily unavailable; try again later")]
    Unavailable(String),
}

impl CasError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        CasError::Internal(e.to_string())
    }

    fn status(&self) -> StatusCode {
        match self {
            CasError::BadRequest(_) => StatusCode::BAD_REQUEST,
            CasError::Unauthorized => StatusCode::UNAUTHORIZED,
            CasError::Forbidden(_) => StatusCode::FORBIDDEN,
            CasError::NotFound(_) => StatusCode::NOT_FOUND,
            CasError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            CasError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            CasError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            CasError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<XetError> for CasError {
    fn from(e: XetError) -> Self {
        match e {
            XetError::BadXorb(m)
            | XetError::BadShard(m)
            | XetError::Unproven(m)
            | XetError::OverLimit(m) => CasError::BadRequest(m),
            XetError::NotFound(m) => CasError::NotFound(format!("{m} not found")),
            XetError::Range { size } => CasError::RangeNotSatisfiable(size),
            XetError::Io(e) => CasError::internal(e),
            XetError::Unavailable(m) => CasError::Unavailable(m),
        }
    }
}

impl From<lfs_store::StoreError> for CasError {
    fn from(e: lfs_store::StoreError) -> Self {
        use lfs_store::StoreError;
        match e {
            StoreError::NotFound(m) => CasError::NotFound(format!("{m} not found")),
            StoreError::BadRange { size, .. } => CasError::RangeNotSatisfiable(size),
            StoreError::Unavailable(m) => CasError::Unavailable(m),
            other => CasError::internal(other),
        }
    }
}

impl From<crate::edge::http::Unsatisfiable> for CasError {
    fn from(u: crate::edge::http::Unsatisfiable) -> Self {
        CasError::RangeNotSatisfiable(u.0)
    }
}

impl IntoResponse for CasError {
    fn into_response(self) -> Response {
        match &self {
            CasError::Internal(d) => tracing::error!(error = %d, "Xet CAS request failed"),
            CasError::Unavailable(d) => {
                tracing::error!(error = %d, "Xet CAS request failed: object storage unavailable")
            }
            _ => {}
        }
        let status = self.status();
        let mut res = (
            status,
            axum::Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if let CasError::RangeNotSatisfiable(size) = self {
            let v = HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII");
            res.headers_mut().insert("content-range", v);
        }
        res
    }
}
