//! Git LFS objects by SHA-256, whichever way they arrived.
//!
//! An LFS object is either uploaded whole (git-lfs's basic transfer, or a plain upload of the
//! HF API), stored on the content store under `lfs/objects/ab/cd/<sha256>` (the first two
//! bytes of the id fan out the folders), or uploaded through Xet, in which case it exists as a
//! file record of `xet-store` and is rebuilt from its chunks. [`LfsStore`] answers for both:
//! git-lfs downloads, `resolve` and the validator's ranged header reads go through it and
//! never know which. It owns the LFS namespace and nothing else: where bytes live is
//! `content-store`'s business, Xet's formats `xet-store`'s, and which repo may see which object
//! the registry's (it links objects to repos).
//!
//! Every whole upload hashes the bytes as they arrive and is refused unless their SHA-256
//! and length are exactly the object id and size; a partial or wrong object is never visible.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use content_store::Backend;
use hub_types::LfsOid;
use xet_store::{FileRecord, XetError, XetStore};

pub use content_store::{ByteRange, ByteStream, StoreError};

#[derive(Clone)]
pub struct LfsStore {
    blobs: Arc<dyn Backend>,
    xet: Arc<XetStore>,
    idle: Duration,
}

impl LfsStore {
    /// LFS objects on `blobs`, with the Xet-uploaded ones read through `xet` (usually on the
    /// same backend).
    pub fn new(blobs: Arc<dyn Backend>, xet: Arc<XetStore>) -> Self {
        LfsStore {
            blobs,
            xet,
            idle: content_store::DEFAULT_IDLE,
        }
    }

    /// Sets how long a download of a Xet-stored file waits for a client that stopped reading.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The content-store key of an object uploaded whole.
    pub fn key(oid: &LfsOid) -> String {
        let s = oid.as_str();
        format!("lfs/objects/{}/{}/{s}", &s[0..2], &s[2..4])
    }

    pub fn xet(&self) -> &Arc<XetStore> {
        &self.xet
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.blobs
    }

    async fn record(&self, oid: &LfsOid) -> Result<Option<Arc<FileRecord>>, StoreError> {
        let xet = self.xet.clone();
        let oid = oid.as_str().to_owned();
        tokio::task::spawn_blocking(move || xet.file_by_sha256(&oid))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
            .map_err(to_store_error)
    }

    /// Stores `body` as object `oid` of `size` bytes, checking both while it streams. Storing
    /// an object that exists already is allowed (the bytes are still checked) and leaves the
    /// stored copy as it was.
    pub async fn put(&self, oid: &LfsOid, size: u64, body: ByteStream) -> Result<(), StoreError> {
        self.blobs
            .put_verified(&Self::key(oid), size, oid.as_str(), body)
            .await
    }

    /// The object's bytes, or those of `range` (which must lie inside the object).
    pub async fn get(
        &self,
        oid: &LfsOid,
        range: Option<ByteRange>,
    ) -> Result<ByteStream, StoreError> {
        match self.blobs.get(&Self::key(oid), range).await {
            Err(StoreError::NotFound(_)) => {} // not uploaded whole: try Xet
            other => return other,
        }
        let rec = self
            .record(oid)
            .await?
            .ok_or_else(|| StoreError::NotFound(oid.to_string()))?;
        let (start, end) = match range {
            None => (0, rec.size),
            Some(r) if r.start <= r.end && r.end < rec.size => (r.start, r.end + 1),
            Some(r) => {
                return Err(StoreError::BadRange {
                    name: oid.to_string(),
                    start: r.start,
                    end: r.end,
                    size: rec.size,
                })
            }
        };
        Ok(self.xet.stream(rec, start, end, self.idle))
    }

    /// The object's size, or `None` if it is not stored either way.
    pub async fn size(&self, oid: &LfsOid) -> Result<Option<u64>, StoreError> {
        if let Some(n) = self.blobs.size(&Self::key(oid)).await? {
            return Ok(Some(n));
        }
        Ok(self.record(oid).await?.map(|r| r.size))
    }

    /// A short-lived URL for the object's bytes straight from the object store, if it was
    /// uploaded whole and the backend can sign URLs; `None` otherwise (then it is served
    /// through modelhub).
    pub async fn presign(&self, oid: &LfsOid, ttl: Duration) -> Result<Option<String>, StoreError> {
        let key = Self::key(oid);
        if self.blobs.size(&key).await?.is_none() {
            return Ok(None);
        }
        self.blobs.presign(&key, None, ttl).await
    }

    /// Removes an object uploaded whole. Xet chunks are shared between files; reclaiming them
    /// is the garbage collector's job.
    pub async fn delete(&self, oid: &LfsOid) -> Result<(), StoreError> {
        self.blobs.delete(&Self::key(oid)).await
    }
}

fn to_store_error(e: XetError) -> StoreError {
    match e {
        XetError::Io(e) => StoreError::Io(e),
        XetError::Unavailable(m) => StoreError::Unavailable(m),
        other => StoreError::Io(std::io::Error::other(other.to_string())),
    }
}
