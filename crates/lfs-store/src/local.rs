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
use tempfile::NamedTempFile;

use crate::{ByteRange, ByteStream, ObjectStore, StoreError};

/// Read size for downloads whose client keeps up: large enough for sequential reads at the
/// disk's speed (the kernel reads ahead).
const READ_CHUNK: usize = 256 << 10;
/// Read size for downloads whose client is slower than the disk (the queue is full when a
/// chunk is ready): what such a download holds in memory is then about a quarter.
const SLOW_CHUNK: usize = 64 << 10;
/// Bytes gathered from an upload's body before each write.
const WRITE_BATCH: usize = 1 << 20;
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
        let tmp_dir = self.tmp.clone();
        let mut writer = Writer::new(
            tokio::task::spawn_blocking(move || {
                tempfile::Builder::new().prefix("put-").tempfile_in(tmp_dir)
            })
            .await
            .map_err(io::Error::other)??,
        );
        let mut hasher = Sha256::new();
        let mut got: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StoreError::Body)?;
            got += chunk.len() as u64;
            if got > size {
                return Err(StoreError::SizeMismatch {
                    oid: oid.clone(),
                    expected: size,
                    got,
                });
            }
            hasher.update(&chunk);
            writer.push(&chunk).await?;
        }
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
        // The bytes checked out: make them durable and visible.
        let mut tmp = writer.finish().await?;
        let target = self.path(oid);
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            tmp.as_file_mut().sync_all()?;
            let dir = target.parent().expect("object paths have a parent");
            std::fs::create_dir_all(dir)?;
            // Renaming over an existing copy is safe: both have the bytes the id names.
            tmp.persist(&target).map_err(|e| e.error)?;
            File::open(dir)?.sync_all()
        })
        .await
        .map_err(io::Error::other)??;
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
        tokio::spawn(read_object(file, len, tx, self.idle));
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
/// The disk side of a put: the body's bytes gathered into large writes, each made on the
/// blocking pool while the next one is gathered. An upload waiting for its client holds a
/// task and at most two batches, never a thread: slow uploads cannot starve the pool. A
/// dropped writer drops (deletes) its temp file.
struct Writer {
    /// The temp file, when no write is under way.
    file: Option<NamedTempFile>,
    /// The write under way, which hands the file back.
    pending: Option<tokio::task::JoinHandle<io::Result<NamedTempFile>>>,
    batch: BytesMut,
}

impl Writer {
    fn new(file: NamedTempFile) -> Self {
        Writer {
            file: Some(file),
            pending: None,
            batch: BytesMut::with_capacity(WRITE_BATCH),
        }
    }

    async fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.batch.extend_from_slice(bytes);
        if self.batch.len() >= WRITE_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Starts writing the gathered bytes, once the write before has finished.
    async fn flush(&mut self) -> io::Result<()> {
        if let Some(p) = self.pending.take() {
            self.file = Some(p.await.map_err(io::Error::other)??);
        }
        let data = self.batch.split().freeze();
        let mut file = self.file.take().expect("the file is back");
        self.pending = Some(tokio::task::spawn_blocking(move || {
            file.write_all(&data)?;
            Ok(file)
        }));
        Ok(())
    }

    /// Writes what is left and hands back the file.
    async fn finish(mut self) -> io::Result<NamedTempFile> {
        if !self.batch.is_empty() {
            self.flush().await?;
        }
        if let Some(p) = self.pending.take() {
            self.file = Some(p.await.map_err(io::Error::other)??);
        }
        Ok(self.file.take().expect("the file is back"))
    }
}

/// The disk side of a get: read `len` bytes into a short queue, in large chunks while the
/// client keeps up and small ones while it lags. Each chunk is read on the blocking pool and
/// the thread handed back: a download waiting for its client holds a task, never a thread,
/// so however many clients stall, the pool stays free for everyone else. A client that takes
/// nothing for `idle` is given up on.
async fn read_object(
    file: File,
    mut len: u64,
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    idle: Duration,
) {
    let mut file = Some(file);
    let mut chunk = SLOW_CHUNK;
    while len > 0 {
        // A full queue means the client is behind: larger reads would only sit in memory.
        chunk = match tx.capacity() {
            0 => SLOW_CHUNK,
            c if c == tx.max_capacity() => (chunk * 2).min(READ_CHUNK),
            _ => chunk,
        };
        let want = len.min(chunk as u64) as usize;
        let Some(mut f) = file.take() else { return };
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = BytesMut::zeroed(want);
            let item = f.read_exact(&mut buf).map(|()| buf.freeze());
            (f, item)
        })
        .await;
        let item = match read {
            Ok((f, item)) => {
                file = Some(f);
                item
            }
            Err(e) => Err(io::Error::other(format!("reading the object failed: {e}"))),
        };
        match &item {
            Ok(_) => len -= want as u64,
            Err(_) => len = 0,
        }
        if tx.send_timeout(item, idle).await.is_err() {
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
