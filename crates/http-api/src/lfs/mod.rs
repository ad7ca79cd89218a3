//! The Git LFS API under `{repo}[.git]/info/lfs/`: the batch API, basic transfers (PUT and
//! ranged GET of objects), verify, and file locks.
//!
//! Transfer links carry their own short-lived signature (huggingface_hub PUTs with no
//! `Authorization` header); the batch call and the locks use the same tokens as git.

mod batch;
pub(crate) use batch::BatchRequest;
mod error;
mod locks;
mod objects;
mod sign;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;

use crate::AppState;
pub use error::{Lfs, LfsError};
pub use sign::Signer;

pub const LFS_JSON: &str = "application/vnd.git-lfs+json";
/// Lifetime of a signed transfer link.
const LINK_TTL_SECS: u64 = 3600;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{ns}/{repo}/info/lfs/objects/batch", post(batch::batch))
        .route(
            "/{ns}/{repo}/info/lfs/objects/verify",
            post(objects::verify),
        )
        .route(
            "/{ns}/{repo}/info/lfs/objects/{oid}",
            get(objects::download).put(objects::upload),
        )
        .route(
            "/{ns}/{repo}/info/lfs/locks",
            get(locks::list).post(locks::create),
        )
        .route("/{ns}/{repo}/info/lfs/locks/verify", post(locks::verify))
        .route(
            "/{ns}/{repo}/info/lfs/locks/{id}/unlock",
            post(locks::unlock),
        )
}

/// A JSON answer with the LFS media type.
fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).expect("LFS responses serialise");
    let mut res = (status, bytes).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(LFS_JSON));
    res
}

use crate::edge::http::{public_base as base_url, unix_now as now};

/// Reads a small JSON request body (batch, verify, locks) with a size cap.
async fn read_json<T: serde::de::DeserializeOwned>(
    state: &AppState,
    body: axum::body::Body,
    limit: usize,
) -> Result<T, LfsError> {
    let mut reader =
        crate::body::BodyReader::new(body, false, state.config().io_timeout, Some(limit));
    let bytes = reader.read_all().await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| LfsError::Unprocessable(format!("invalid request body: {e}")))
}
