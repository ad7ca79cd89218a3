//! Content-addressed storage of Git LFS objects.
//!
//! [`ObjectStore`] is the seam: a streaming put of an object whose id and size are known in
//! advance, a ranged get, size (exists) and delete. [`LocalStore`], on local disk, is the only
//! backend today; an object-storage one would implement the same trait without the HTTP layer
//! noticing. Which repo may see which object is not this
//! crate's business: the repo registry links objects to repos.
//!
//! Every put hashes the bytes as they arrive and is refused unless their SHA-256 and length
//! are exactly the object id and size; a partial or wrong object is never visible.
#![forbid(unsafe_code)]

mod local;

use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::Stream;
use hub_types::LfsOid;

pub use local::{remove_stale_temp_files, LocalStore};

/// A stream of bytes: a request body on the way in, an object's content on the way out.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Why a store operation failed. The variants name the broken rule, so the HTTP layer can
/// tell the client's faults (4xx) from the server's (5xx).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {0} not found")]
    NotFound(LfsOid),
    #[error("the upload has {got} bytes but object {oid} has {expected}")]
    SizeMismatch {
        oid: LfsOid,
        expected: u64,
        got: u64,
    },
    #[error("the uploaded bytes hash to {got}, not to the object id {oid}")]
    HashMismatch { oid: LfsOid, got: String },
    #[error("range {start}-{end} is outside object {oid} of {size} bytes")]
    BadRange {
        oid: LfsOid,
        start: u64,
        end: u64,
        size: u64,
    },
    /// The body being stored failed (client gone, timeout): the client's fault or the network's.
    #[error("the upload stream failed: {0}")]
    Body(io::Error),
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
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
}

/// The storage seam. Implementations must make `put` all-or-nothing and verified: after an
/// error nothing of the upload is visible, and an object that is visible has exactly the bytes
/// its id names.
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores `body` as object `oid` of `size` bytes, checking both while it streams. Storing
    /// an object that exists already is allowed (the bytes are still checked) and leaves the
    /// stored copy as it was.
    fn put<'a>(
        &'a self,
        oid: &'a LfsOid,
        size: u64,
        body: ByteStream,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The object's bytes, or those of `range` (which must lie inside the object).
    fn get<'a>(
        &'a self,
        oid: &'a LfsOid,
        range: Option<ByteRange>,
    ) -> BoxFuture<'a, Result<ByteStream, StoreError>>;

    /// The object's size, or `None` if it is not stored.
    fn size<'a>(&'a self, oid: &'a LfsOid) -> BoxFuture<'a, Result<Option<u64>, StoreError>>;

    /// Removes the object; removing a missing object is not an error.
    fn delete<'a>(&'a self, oid: &'a LfsOid) -> BoxFuture<'a, Result<(), StoreError>>;
}
