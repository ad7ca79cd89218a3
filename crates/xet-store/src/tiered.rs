//! One content store, two doors: LFS objects uploaded whole live in the [`LocalStore`];
//! files uploaded through Xet live as chunks in the [`XetStore`]. [`TieredStore`] answers for
//! both by SHA-256, so git-lfs downloads, `resolve` and the validator's ranged reads work on
//! either without knowing which.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use hub_types::LfsOid;
use lfs_store::{ByteRange, ByteStream, LocalStore, ObjectStore, StoreError};

use crate::{FileRecord, XetError, XetStore};

#[derive(Clone)]
pub struct TieredStore {
    local: LocalStore,
    xet: Arc<XetStore>,
    idle: Duration,
}

impl TieredStore {
    pub fn new(local: LocalStore, xet: Arc<XetStore>) -> Self {
        TieredStore {
            local,
            xet,
            idle: Duration::from_secs(600),
        }
    }

    pub fn xet(&self) -> &Arc<XetStore> {
        &self.xet
    }

    pub fn local(&self) -> &LocalStore {
        &self.local
    }

    async fn record(&self, oid: &LfsOid) -> Result<Option<Arc<FileRecord>>, StoreError> {
        let xet = self.xet.clone();
        let oid = oid.as_str().to_owned();
        tokio::task::spawn_blocking(move || xet.file_by_sha256(&oid))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
            .map_err(to_store_error)
    }
}

fn to_store_error(e: XetError) -> StoreError {
    match e {
        XetError::Io(e) => StoreError::Io(e),
        other => StoreError::Io(std::io::Error::other(other.to_string())),
    }
}

impl ObjectStore for TieredStore {
    fn put<'a>(
        &'a self,
        oid: &'a LfsOid,
        size: u64,
        body: ByteStream,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.local.put(oid, size, body)
    }

    fn get<'a>(
        &'a self,
        oid: &'a LfsOid,
        range: Option<ByteRange>,
    ) -> BoxFuture<'a, Result<ByteStream, StoreError>> {
        async move {
            match self.local.get(oid, range).await {
                Err(StoreError::NotFound(_)) => {} // not uploaded whole: try Xet
                other => return other,
            }
            let rec = self
                .record(oid)
                .await?
                .ok_or_else(|| StoreError::NotFound(oid.clone()))?;
            let (start, end) = match range {
                None => (0, rec.size),
                Some(r) if r.start <= r.end && r.end < rec.size => (r.start, r.end + 1),
                Some(r) => {
                    return Err(StoreError::BadRange {
                        oid: oid.clone(),
                        start: r.start,
                        end: r.end,
                        size: rec.size,
                    })
                }
            };
            Ok(self.xet.stream(rec, start, end, self.idle))
        }
        .boxed()
    }

    fn size<'a>(&'a self, oid: &'a LfsOid) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        async move {
            if let Some(n) = self.local.size(oid).await? {
                return Ok(Some(n));
            }
            Ok(self.record(oid).await?.map(|r| r.size))
        }
        .boxed()
    }

    fn delete<'a>(&'a self, oid: &'a LfsOid) -> BoxFuture<'a, Result<(), StoreError>> {
        // Xet chunks are shared between files; reclaiming them is the garbage collector's job.
        self.local.delete(oid)
    }
}
