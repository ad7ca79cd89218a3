//! Objects on local disk at `objects/ab/cd/abcd…` (the first two bytes of the id fan out the
//! folders), written through `tmp/` and renamed into place.
//!
//! A put hashes on the request's task while a blocking thread writes, so hashing and disk
//! writes overlap; the object becomes visible only after its bytes and size checked out, the
//! data reached the disk (fsync) and the rename did too (fsync of the folder). The temp file is
//! removed on every error path because it is a `NamedTempFile`, deleted on drop.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use hub_types::LfsOid;
use sha2::{Digest, Sha256};

use crate::{ByteRange, ByteStream, ObjectStore, StoreError};

/// Read size for downloads whose client keeps up: large enough for sequential reads at the
/// disk's speed (the kernel reads ahead).
const READ_CHUNK: usize = 256 << 10;
/// Read size for downloads whose client is slower than the disk (the queue is full when a
/// chunk is ready): what such a download holds in memory is then about a quarter.
const SLOW_CHUNK: usize = 64 << 10;
/// Chunks in flight between the disk thread and the socket, per upload.
const QUEUE: usize = 4;
/// Chunks read ahead of the socket, per download: memory per download is bounded by about
/// (this + 2) * READ_CHUNK however many run at once, and by (this + 2) * SLOW_CHUNK for the
/// slow or stalled clients that make up most of a crowd.
const DOWNLOAD_QUEUE: usize = 2;
/// Temp files older than this at start-up were left by a crash and are removed.
const STALE_TMP: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
pub struct LocalStore {
    objects: PathBuf,
    tmp: PathBuf,
    /// How long a download may wait for its client to take the next chunk.
    idle: Duration,
}

enum Msg {
    Chunk(Bytes),
    /// The bytes checked out: make them durable and visible.
    Commit,
}

impl LocalStore {
    /// Opens (creating) a store under `root`, and clears temp files a crash left behind.
    pub fn open(root: &Path) -> io::Result<Self> {
        let objects = root.join("objects");
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&objects)?;
        std::fs::create_dir_all(&tmp)?;
        remove_stale_temp_files(&tmp)?;
        Ok(LocalStore {
            objects,
            tmp,
            idle: Duration::from_secs(600),
        })
    }

    /// Sets how long a download waits for a client that stopped reading before giving up.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    pub fn path(&self, oid: &LfsOid) -> PathBuf {
        let s = oid.as_str();
        self.objects.join(&s[0..2]).join(&s[2..4]).join(s)
    }

    /// The temp folder (uploads in progress); exposed so tests can check it is left empty.
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    async fn put_impl(
        &self,
        oid: &LfsOid,
        size: u64,
        mut body: ByteStream,
    ) -> Result<(), StoreError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(QUEUE);
        let tmp_dir = self.tmp.clone();
        let target = self.path(oid);
        let writer = tokio::task::spawn_blocking(move || write_object(&tmp_dir, &target, rx));

        let mut hasher = Sha256::new();
        let mut got: u64 = 0;
        let outcome = loop {
            match body.next().await {
                None => break Ok(()),
                Some(Err(e)) => break Err(StoreError::Body(e)),
                Some(Ok(chunk)) => {
                    got += chunk.len() as u64;
                    if got > size {
                        break Err(StoreError::SizeMismatch {
                            oid: oid.clone(),
                            expected: size,
                            got,
                        });
                    }
                    hasher.update(&chunk);
                    // The queue is short: a full one means the disk is behind; wait for it.
                    if tx.send(Msg::Chunk(chunk)).await.is_err() {
                        break Ok(()); // the writer failed; its error is reported below
                    }
                }
            }
        };
        let outcome = outcome.and_then(|()| {
            if got != size {
                return Err(StoreError::SizeMismatch {
                    oid: oid.clone(),
                    expected: size,
                    got,
                });
            }
            let digest = hex::encode(hasher.finalize());
            if digest != oid.as_str() {
                return Err(StoreError::HashMismatch {
                    oid: oid.clone(),
                    got: digest,
                });
            }
            Ok(())
        });
        if outcome.is_ok() {
            let _ = tx.send(Msg::Commit).await;
        }
        drop(tx); // without a Commit, the writer drops (deletes) its temp file
        let written = writer.await.map_err(|e| io::Error::other(e.to_string()))?;
        outcome?;
        written?;
        Ok(())
    }

    async fn get_impl(
        &self,
        oid: &LfsOid,
        range: Option<ByteRange>,
    ) -> Result<ByteStream, StoreError> {
        let path = self.path(oid);
        let oid = oid.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(DOWNLOAD_QUEUE);
        let opened = tokio::task::spawn_blocking(move || -> Result<(File, u64), StoreError> {
            let mut file = File::open(&path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StoreError::NotFound(oid.clone()),
                _ => e.into(),
            })?;
            let size = file.metadata()?.len();
            let (start, len) = match range {
                None => (0, size),
                Some(r) if r.start <= r.end && r.end < size => (r.start, r.len()),
                Some(r) => {
                    return Err(StoreError::BadRange {
                        oid,
                        start: r.start,
                        end: r.end,
                        size,
                    })
                }
            };
            file.seek(SeekFrom::Start(start))?;
            Ok((file, len))
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))??;
        let (file, len) = opened;
        let idle = self.idle;
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || read_object(file, len, tx, idle, rt));
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Box::pin(stream))
    }
}

/// Removes the files in `dir` older than a day: uploads a crash cut off (a live upload
/// writes to its temp file all the time). Shared with the Xet store's temp folder.
pub fn remove_stale_temp_files(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        if age.is_some_and(|a| a > STALE_TMP) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// The disk side of a put: write chunks to a temp file; on Commit make it durable and rename
/// it into place. A closed channel without Commit drops (deletes) the temp file.
fn write_object(
    tmp_dir: &Path,
    target: &Path,
    mut rx: tokio::sync::mpsc::Receiver<Msg>,
) -> Result<(), StoreError> {
    let mut tmp = tempfile::Builder::new()
        .prefix("put-")
        .tempfile_in(tmp_dir)?;
    loop {
        match rx.blocking_recv() {
            Some(Msg::Chunk(chunk)) => tmp.write_all(&chunk)?,
            Some(Msg::Commit) => break,
            None => return Ok(()), // aborted: the caller reports why
        }
    }
    tmp.as_file().sync_all()?;
    let dir = target.parent().expect("object paths have a parent");
    std::fs::create_dir_all(dir)?;
    // Renaming over an existing copy is safe: both have the bytes the id names.
    tmp.persist(target).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// The disk side of a get: read `len` bytes into a short queue, in large chunks while the
/// client keeps up and small ones while it lags. A client that takes nothing for `idle` is
/// given up on, so a stalled download does not hold a thread.
fn read_object(
    mut file: File,
    mut len: u64,
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    idle: Duration,
    rt: tokio::runtime::Handle,
) {
    let mut chunk = SLOW_CHUNK;
    while len > 0 {
        // A full queue means the client is behind: larger reads would only sit in memory.
        chunk = match tx.capacity() {
            0 => SLOW_CHUNK,
            c if c == tx.max_capacity() => (chunk * 2).min(READ_CHUNK),
            _ => chunk,
        };
        let want = len.min(chunk as u64) as usize;
        let mut buf = BytesMut::zeroed(want);
        let item = match file.read_exact(&mut buf) {
            Ok(()) => {
                len -= want as u64;
                Ok(buf.freeze())
            }
            Err(e) => {
                len = 0;
                Err(e)
            }
        };
        if rt.block_on(tx.send_timeout(item, idle)).is_err() {
            return; // the client went away, or stopped reading
        }
    }
}

impl ObjectStore for LocalStore {
    fn put<'a>(
        &'a self,
        oid: &'a LfsOid,
        size: u64,
        body: ByteStream,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.put_impl(oid, size, body).boxed()
    }

    fn get<'a>(
        &'a self,
        oid: &'a LfsOid,
        range: Option<ByteRange>,
    ) -> BoxFuture<'a, Result<ByteStream, StoreError>> {
        self.get_impl(oid, range).boxed()
    }

    fn size<'a>(&'a self, oid: &'a LfsOid) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        async move {
            match tokio::fs::metadata(self.path(oid)).await {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn delete<'a>(&'a self, oid: &'a LfsOid) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            match tokio::fs::remove_file(self.path(oid)).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid_of(data: &[u8]) -> LfsOid {
        LfsOid::parse(&hex::encode(Sha256::digest(data))).unwrap()
    }

    fn body(chunks: Vec<io::Result<Bytes>>) -> ByteStream {
        Box::pin(futures_util::stream::iter(chunks))
    }

    async fn read_all(s: ByteStream) -> Vec<u8> {
        let chunks: Vec<_> = s.collect().await;
        chunks
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect()
    }

    fn leftovers(store: &LocalStore) -> usize {
        std::fs::read_dir(store.tmp_dir()).unwrap().count()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn put_checks_hash_and_size_and_leaves_nothing_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let data = b"hello weights".repeat(1000);
        let oid = oid_of(&data);
        let n = data.len() as u64;
        let half = Bytes::copy_from_slice(&data[..100]);

        let short = store.put(&oid, n, body(vec![Ok(half.clone())])).await;
        assert!(matches!(
            short,
            Err(StoreError::SizeMismatch { got: 100, .. })
        ));
        let mut wrong = data.clone();
        wrong[5] ^= 1;
        let bad = store.put(&oid, n, body(vec![Ok(Bytes::from(wrong))])).await;
        assert!(matches!(bad, Err(StoreError::HashMismatch { .. })));
        let long = store
            .put(&oid, 10, body(vec![Ok(Bytes::from(data.clone()))]))
            .await;
        assert!(matches!(long, Err(StoreError::SizeMismatch { .. })));
        let broken = store
            .put(
                &oid,
                n,
                body(vec![Ok(half), Err(io::Error::other("reset"))]),
            )
            .await;
        assert!(matches!(broken, Err(StoreError::Body(_))));
        assert_eq!(store.size(&oid).await.unwrap(), None);
        assert_eq!(leftovers(&store), 0);

        let chunks = data
            .chunks(777)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        store.put(&oid, n, body(chunks)).await.unwrap();
        assert_eq!(store.size(&oid).await.unwrap(), Some(n));
        assert_eq!(read_all(store.get(&oid, None).await.unwrap()).await, data);
        let r = ByteRange { start: 10, end: 19 };
        assert_eq!(
            read_all(store.get(&oid, Some(r)).await.unwrap()).await,
            &data[10..20]
        );
        let past = ByteRange { start: 0, end: n };
        assert!(matches!(
            store.get(&oid, Some(past)).await,
            Err(StoreError::BadRange { .. })
        ));
        assert_eq!(leftovers(&store), 0);
        store.delete(&oid).await.unwrap();
        assert!(matches!(
            store.get(&oid, None).await,
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_puts_of_one_object_agree() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_be_bytes()).collect();
        let oid = oid_of(&data);
        let puts = (0..10).map(|_| {
            let chunks = data
                .chunks(4096)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            store.put(&oid, data.len() as u64, body(chunks))
        });
        for r in futures_util::future::join_all(puts).await {
            r.unwrap();
        }
        assert_eq!(read_all(store.get(&oid, None).await.unwrap()).await, data);
        assert_eq!(leftovers(&store), 0);
    }
}
