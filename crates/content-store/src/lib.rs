//! Where modelhub's content-addressed bytes live: local disk (the embedded default) or any
//! S3-compatible object store. This crate owns *storage* only: named, immutable blobs under
//! keys such as `lfs/objects/ab/cd/<sha256>` or `xet/xorbs/ab/<hash>`. What a key means (an LFS
//! object, a xorb, a file record) belongs to `lfs-store` and `xet-store`, which sit on top;
//! which repo may read what belongs to the registry. Nothing here knows HTTP, git or accounts.
//!
//! [`Backend`] is the seam. Both backends keep the same promises:
//!
//! - [`Backend::put_verified`] streams a body whose length and SHA-256 are known in advance and
//!   makes it visible under its key only if both match: on local disk through a temp file,
//!   fsync and rename; on S3 as a multipart upload completed only after the hash checked out
//!   (aborted otherwise), or one PUT of bytes already checked for a body of one part. No
//!   partial or unverified object is ever visible under its final key.
//! - [`Backend::put_file`] stores a spooled, already-verified file create-only (xorbs).
//! - reads are ranged and streamed: memory per download stays at a few pieces.
//! - [`Backend::presign`] hands out a short-lived URL for one object (and one range) where the
//!   backend can sign one (S3), so bytes need not pass through modelhub.
//!
//! [`Claims`] is the other seam: what an upload tells the garbage collector before it looks
//! for content or stores it (the registry implements it).
//!
//! The blocking methods (`*_blocking`) serve callers that run on the blocking pool (the Xet
//! store's verification and reconstruction); they must not be called on a runtime worker.
#![forbid(unsafe_code)]

mod local;
mod s3;
mod spool;

use std::io::{self, Read};
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::Stream;

pub use local::{remove_stale_temp_files, LocalBackend};
pub use s3::{S3Backend, S3Config};

/// A stream of bytes: a request body on the way in, an object's content on the way out.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Why a store operation failed. The variants name the broken rule, so the HTTP layer can
/// tell the client's faults (4xx) from the server's (5xx) and from an object store that is
/// down (503). `name` is the last part of the key (an object id or a hash), never a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("the upload has {got} bytes but object {name} has {expected}")]
    SizeMismatch {
        name: String,
        expected: u64,
        got: u64,
    },
    #[error("the uploaded bytes hash to {got}, not to the object id {name}")]
    HashMismatch { name: String, got: String },
    #[error("range {start}-{end} is outside object {name} of {size} bytes")]
    BadRange {
        name: String,
        start: u64,
        end: u64,
        size: u64,
    },
    /// The body being stored failed (client gone, timeout): the client's fault or the network's.
    #[error("the upload stream failed: {0}")]
    Body(io::Error),
    /// The object store did not answer, or answered with an error: try again later.
    #[error("object storage is unavailable: {0}")]
    Unavailable(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
}

impl StoreError {
    /// As an `io::Error`, for callers that speak `std::io` (the Xet store's readers).
    pub fn into_io(self) -> io::Error {
        match self {
            StoreError::Io(e) | StoreError::Body(e) => e,
            StoreError::NotFound(_) => io::Error::new(io::ErrorKind::NotFound, self.to_string()),
            other => io::Error::other(other.to_string()),
        }
    }
}

/// The last part of a key: what error messages name.
pub(crate) fn name_of(key: &str) -> String {
    key.rsplit('/').next().unwrap_or(key).to_owned()
}

/// An inclusive byte range `start..=end` of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Checks the range against an object of `size` bytes.
    pub(crate) fn check(self, key: &str, size: u64) -> Result<ByteRange, StoreError> {
        if self.start <= self.end && self.end < size {
            Ok(self)
        } else {
            Err(StoreError::BadRange {
                name: name_of(key),
                start: self.start,
                end: self.end,
                size,
            })
        }
    }
}

/// One stored object, as a listing names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
}

/// The storage seam. Keys are `/`-separated names of lowercase letters, digits, `-`, `_`
/// and `.`, made by this project's crates (never by a client).
pub trait Backend: Send + Sync + 'static {
    /// `local /path` or `s3://bucket/prefix`: for logs and summaries.
    fn describe(&self) -> String;

    /// Checks at start that the store can be written and read back: a one-line reason if not.
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Stores `body` under `key`, checking while it streams that it has `size` bytes whose
    /// SHA-256 is `sha256` (lowercase hex). All or nothing. Storing an object that exists
    /// already is allowed (the bytes are still checked) and leaves the stored copy as it was.
    fn put_verified<'a>(
        &'a self,
        key: &'a str,
        size: u64,
        sha256: &'a str,
        body: ByteStream,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Stores a spooled file (verified by the caller) under `key` unless something is stored
    /// there already; whether it stored it. The temp file is consumed either way.
    fn put_file<'a>(
        &'a self,
        key: &'a str,
        file: tempfile::NamedTempFile,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// The object's bytes, or those of `range` (which must lie inside the object).
    fn get<'a>(
        &'a self,
        key: &'a str,
        range: Option<ByteRange>,
    ) -> BoxFuture<'a, Result<ByteStream, StoreError>>;

    /// The object's size, or `None` if it is not stored.
    fn size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<u64>, StoreError>>;

    /// Removes the object; removing a missing object is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Every object whose key starts with `prefix` (a folder, ending in `/`), in no set order.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<Listed, StoreError>>;

    /// A URL that lets anyone holding it GET this one object (and only `range` of it, when
    /// given: the signature covers the `Range` header) for `ttl`; `None` if this backend
    /// cannot sign URLs (local disk).
    fn presign<'a>(
        &'a self,
        key: &'a str,
        range: Option<ByteRange>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>>;

    /// A new local temp file for spooling an upload; deleted on drop unless stored.
    fn spool(&self) -> io::Result<tempfile::NamedTempFile>;

    /// The local folder spooled uploads go to (tests check it is left empty).
    fn tmp_dir(&self) -> &Path;

    /// Blocking [`Backend::get`]: a reader of the object or of `range` of it.
    fn open_blocking(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<Box<dyn Read + Send>, StoreError>;

    /// The whole of a small object (metadata), refused if it is over `max` bytes; `None` if it
    /// is not stored.
    fn read_blocking(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// Blocking [`Backend::size`].
    fn size_blocking(&self, key: &str) -> Result<Option<u64>, StoreError>;

    /// Blocking [`Backend::put_file`].
    fn put_file_blocking(
        &self,
        key: &str,
        file: tempfile::NamedTempFile,
    ) -> Result<bool, StoreError>;

    /// Writes a small object (metadata) whole, replacing what is there.
    fn write_blocking(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError>;
}

/// Reads a short stream (a small object) into memory, refusing more than `max` bytes.
pub(crate) async fn collect(mut s: ByteStream, key: &str, max: u64) -> Result<Vec<u8>, StoreError> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    while let Some(b) = s.next().await {
        let b = b?;
        if (out.len() + b.len()) as u64 > max {
            return Err(StoreError::Io(io::Error::other(format!(
                "stored object {} is over {max} bytes",
                name_of(key)
            ))));
        }
        out.extend_from_slice(&b);
    }
    Ok(out)
}

/// What a door that accepts content tells the garbage collector before it looks for that
/// content or stores it: "this is in use from now on" (the registry's `store_claims`; see
/// `accounts::claims`). Names are [`lfs_claim`] and [`xorb_claim`]. A claim waits while the
/// collector is deleting the thing, and fails with [`StoreError::Unavailable`] if that takes
/// too long.
pub trait Claims: Send + Sync {
    /// Claims `names`; called on the blocking pool.
    fn claim_blocking(&self, names: &[String]) -> Result<(), StoreError>;
}

/// The claim name of an LFS object (stored whole or as a Xet file).
pub fn lfs_claim(sha256: &str) -> String {
    format!("lfs:{sha256}")
}

/// The claim name of a xorb.
pub fn xorb_claim(hash: &str) -> String {
    format!("xorb:{hash}")
}

/// How long a download may wait for its client to take the next piece.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(600);
