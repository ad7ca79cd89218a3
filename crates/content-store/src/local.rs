//! Objects on local disk: key `a/b/c` is the file `ROOT/a/b/c`, written through `ROOT/tmp/`
//! and renamed into place.
//!
//! A verified put hashes on the request's task while a blocking thread writes, so hashing and
//! disk writes overlap; the object becomes visible only after its bytes and size checked out,
//! the data reached the disk (fsync) and the rename did too (fsync of the folder). The temp
//! file is removed on every error path because it is a `NamedTempFile`, deleted on drop.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::spool::Writer;
use crate::{name_of, Backend, ByteRange, ByteStream, Listed, StoreError};

/// Read size for downloads whose client keeps up: large enough for sequential reads at the
/// disk's speed (the kernel reads ahead).
const READ_CHUNK: usize = 256 << 10;
/// Read size for downloads whose client is slower than the disk (the queue is full when a
/// chunk is ready): what such a download holds in memory is then about a quarter.
const SLOW_CHUNK: usize = 64 << 10;
/// Chunks read ahead of the socket, per download: memory per download is bounded by about
/// (this + 2) * READ_CHUNK however many run at once, and by (this + 2) * SLOW_CHUNK for the
/// slow or stalled clients that make up most of a crowd.
const DOWNLOAD_QUEUE: usize = 2;
/// Temp files older than this at start-up were left by a crash and are removed.
const STALE_TMP: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: PathBuf,
    tmp: PathBuf,
    /// How long a download may wait for its client to take the next chunk.
    idle: Duration,
}

impl LocalBackend {
    /// Opens (creating) a store under `root`, and clears temp files a crash left behind.
    pub fn open(root: &Path) -> io::Result<Self> {
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        remove_stale_temp_files(&tmp)?;
        Ok(LocalBackend {
            root: root.to_owned(),
            tmp,
            idle: crate::DEFAULT_IDLE,
        })
    }

    /// Sets how long a download waits for a client that stopped reading before giving up.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The file that holds `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    async fn put_impl(
        &self,
        key: &str,
        size: u64,
        sha256: &str,
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
                return Err(size_mismatch(key, size, got));
            }
            hasher.update(&chunk);
            writer.push(&chunk).await?;
        }
        if got != size {
            return Err(size_mismatch(key, size, got));
        }
        let digest = hex::encode(hasher.finalize());
        if digest != sha256 {
            return Err(StoreError::HashMismatch {
                name: name_of(key),
                got: digest,
            });
        }
        // The bytes checked out: make them durable and visible.
        let tmp = writer.finish().await?;
        let target = self.path(key);
        tokio::task::spawn_blocking(move || persist(tmp, &target))
            .await
            .map_err(io::Error::other)??;
        Ok(())
    }

    async fn get_impl(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<ByteStream, StoreError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(DOWNLOAD_QUEUE);
        let this = self.clone();
        let k = key.to_owned();
        let (file, len) = tokio::task::spawn_blocking(move || this.open_range(&k, range))
            .await
            .map_err(|e| io::Error::other(e.to_string()))??;
        tokio::spawn(read_object(file, len, tx, self.idle));
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Box::pin(stream))
    }

    /// The file of `key`, positioned at the range's start, and how many bytes to read.
    fn open_range(&self, key: &str, range: Option<ByteRange>) -> Result<(File, u64), StoreError> {
        let mut file = File::open(self.path(key)).map_err(|e| not_found(key, e))?;
        let size = file.metadata()?.len();
        let (start, len) = match range {
            None => (0, size),
            Some(r) => {
                let r = r.check(key, size)?;
                (r.start, r.len())
            }
        };
        file.seek(SeekFrom::Start(start))?;
        Ok((file, len))
    }

    fn list_sync(&self, prefix: &str) -> Vec<Result<Listed, StoreError>> {
        let mut out = Vec::new();
        let mut dirs = vec![self.root.join(prefix)];
        while let Some(dir) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    out.push(Err(e.into()));
                    continue;
                }
            };
            for entry in entries {
                let item = entry.and_then(|e| Ok((e.path(), e.metadata()?)));
                match item {
                    Ok((path, meta)) if meta.is_dir() => dirs.push(path),
                    Ok((path, meta)) => {
                        let key = path
                            .strip_prefix(&self.root)
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        out.push(Ok(Listed {
                            key,
                            size: meta.len(),
                        }));
                    }
                    Err(e) => out.push(Err(e.into())),
                }
            }
        }
        out
    }
}

fn size_mismatch(key: &str, expected: u64, got: u64) -> StoreError {
    StoreError::SizeMismatch {
        name: name_of(key),
        expected,
        got,
    }
}

fn not_found(key: &str, e: io::Error) -> StoreError {
    match e.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound(name_of(key)),
        _ => e.into(),
    }
}

/// Makes a temp file durable and visible at `target`: fsync, rename, fsync of the folder.
/// Renaming over an existing copy is safe: both have the bytes the key names.
fn persist(tmp: NamedTempFile, target: &Path) -> io::Result<()> {
    tmp.as_file().sync_all()?;
    let dir = target.parent().expect("object paths have a parent");
    std::fs::create_dir_all(dir)?;
    tmp.persist(target).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()
}

/// Removes the files in `dir` older than a day: uploads a crash cut off (a live upload
/// writes to its temp file all the time).
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

impl Backend for LocalBackend {
    fn describe(&self) -> String {
        format!("local {}", self.root.display())
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        async move {
            let tmp = self.tmp.clone();
            tokio::task::spawn_blocking(move || {
                let mut probe = tempfile::Builder::new().prefix("probe-").tempfile_in(tmp)?;
                probe.write_all(b"modelhub")?;
                probe.as_file().sync_all()
            })
            .await
            .map_err(io::Error::other)??;
            Ok(())
        }
        .boxed()
    }

    fn put_verified<'a>(
        &'a self,
        key: &'a str,
        size: u64,
        sha256: &'a str,
        body: ByteStream,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.put_impl(key, size, sha256, body).boxed()
    }

    fn put_file<'a>(
        &'a self,
        key: &'a str,
        file: NamedTempFile,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        async move {
            let this = self.clone();
            let key = key.to_owned();
            tokio::task::spawn_blocking(move || this.put_file_blocking(&key, file))
                .await
                .map_err(io::Error::other)?
        }
        .boxed()
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
        range: Option<ByteRange>,
    ) -> BoxFuture<'a, Result<ByteStream, StoreError>> {
        self.get_impl(key, range).boxed()
    }

    fn size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        async move {
            match tokio::fs::metadata(self.path(key)).await {
                Ok(m) => Ok(Some(m.len())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            match tokio::fs::remove_file(self.path(key)).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        }
        .boxed()
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<Listed, StoreError>> {
        let this = self.clone();
        let prefix = prefix.to_owned();
        futures_util::stream::once(async move {
            match tokio::task::spawn_blocking(move || this.list_sync(&prefix)).await {
                Ok(items) => futures_util::stream::iter(items).left_stream(),
                Err(e) => {
                    futures_util::stream::iter(vec![Err(StoreError::Io(io::Error::other(e)))])
                        .right_stream()
                }
            }
        })
        .flatten()
        .boxed()
    }

    fn presign<'a>(
        &'a self,
        _key: &'a str,
        _range: Option<ByteRange>,
        _ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        async { Ok(None) }.boxed()
    }

    fn spool(&self) -> io::Result<NamedTempFile> {
        tempfile::Builder::new()
            .prefix("up-")
            .tempfile_in(&self.tmp)
    }

    fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    fn open_blocking(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        let (file, len) = self.open_range(key, range)?;
        Ok(Box::new(file.take(len)))
    }

    fn read_blocking(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let file = match File::open(self.path(key)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        file.take(max + 1).read_to_end(&mut out)?;
        if out.len() as u64 > max {
            return Err(StoreError::Io(io::Error::other(format!(
                "stored object {} is over {max} bytes",
                name_of(key)
            ))));
        }
        Ok(Some(out))
    }

    fn size_blocking(&self, key: &str) -> Result<Option<u64>, StoreError> {
        match std::fs::metadata(self.path(key)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn put_file_blocking(&self, key: &str, file: NamedTempFile) -> Result<bool, StoreError> {
        let target = self.path(key);
        if target.exists() {
            return Ok(false);
        }
        persist(file, &target)?;
        Ok(true)
    }

    fn write_blocking(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let mut tmp = self.spool()?;
        tmp.write_all(bytes)?;
        persist(tmp, &self.path(key))?;
        Ok(())
    }
}
