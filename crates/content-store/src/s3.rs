//! Objects on S3-compatible storage (AWS S3, SeaweedFS, Ceph RGW, MinIO, Garage) through
//! object_store: key `a/b/c` is the object `PREFIX/a/b/c` of the bucket.
//!
//! A verified put of more than one part is a multipart upload: the body is spooled to a local
//! temp file a part at a time, and each full part is read back and sent while the next one
//! arrives (a few in flight per upload, all uploads' parts in memory within one shared budget,
//! so a slow or stalled client costs disk, not memory); SHA-256 and length are checked at the
//! end, and only then is the upload completed; on any error, or when the request is dropped,
//! it is aborted. Until completion S3 shows nothing
//! under the key. A process killed mid-upload leaves an incomplete multipart upload, which S3
//! never shows as an object and which the bucket lifecycle rule given in the README
//! (`AbortIncompleteMultipartUpload`) removes. A body of one part is spooled, checked and
//! sent in one PUT.
//!
//! Credentials and defaults come from the standard AWS environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL`, `AWS_REGION`), as every S3
//! tool reads them; the endpoint and region given on the command line win.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as Key;
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, MultipartUpload, ObjectStore,
    ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions, PutPayload, RetryConfig,
};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::runtime::Handle;

use crate::{name_of, Backend, ByteRange, ByteStream, Listed, StoreError};

/// S3 allows at most this many parts in one multipart upload.
const MAX_PARTS: u64 = 10_000;
/// ... and no part but the last may be smaller than this.
const MIN_PART: usize = 5 << 20;
/// Pieces of a download queued ahead of the socket.
const DOWNLOAD_QUEUE: usize = 2;
/// Largest piece queued, for a client that keeps up: copied out of the HTTP client's buffers,
/// which are larger.
const PIECE: usize = 128 << 10;
/// Piece queued for a client that lags.
const SLOW_PIECE: usize = 16 << 10;
/// A download whose client has taken nothing for this long lets go of its store connection.
const STALL: Duration = Duration::from_secs(1);

/// Where and how to reach the bucket.
#[derive(Debug, Clone)]
pub struct S3Config {
    pub bucket: String,
    /// Folder in the bucket everything goes under (no leading or trailing `/`; may be empty).
    pub prefix: String,
    /// `http(s)://host:port` of an S3-compatible server; AWS when unset (or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Bytes per part of a multipart upload (at least 5 MiB; grown for objects that would
    /// need more than 10,000 parts).
    pub part_size: usize,
    /// Parts of one upload sent at once.
    pub parts_in_flight: usize,
    /// Access key id and secret; default: the AWS environment (and its other sources).
    pub credentials: Option<(String, String)>,
    /// Bytes of parts held in memory by all uploads together (parts are spooled to disk as
    /// they arrive, and read back into this many bytes' worth of shared part buffers).
    pub upload_memory: usize,
}

impl S3Config {
    /// Parses `s3://BUCKET[/PREFIX]`; `None` if it is not such a URL.
    pub fn from_url(url: &str) -> Option<S3Config> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let ok = |c: char| c.is_ascii_alphanumeric() || "-._".contains(c);
        if bucket.is_empty() || !bucket.chars().all(ok) {
            return None;
        }
        let prefix = prefix.trim_matches('/');
        if !prefix
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && p.chars().all(ok))
            && !prefix.is_empty()
        {
            return None;
        }
        Some(S3Config {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            region: None,
            part_size: 16 << 20,
            parts_in_flight: 2,
            credentials: None,
            upload_memory: 48 << 20,
        })
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

#[derive(Debug, Clone)]
pub struct S3Backend {
    store: Arc<AmazonS3>,
    cfg: S3Config,
    spool: PathBuf,
    /// The runtime the blocking methods hand their requests to.
    rt: Handle,
    idle: Duration,
    /// The part buffers all uploads share.
    buffers: Arc<Buffers>,
}

impl S3Backend {
    /// A client of the bucket `cfg` names; uploads are spooled (where they must be) under
    /// `spool`. Must be called inside the tokio runtime. Reaches nothing yet: see
    /// [`Backend::check`].
    pub fn new(cfg: S3Config, spool: &Path) -> Result<S3Backend, StoreError> {
        if cfg.part_size < MIN_PART {
            return Err(StoreError::Unavailable(format!(
                "the part size must be at least {} MiB",
                MIN_PART >> 20
            )));
        }
        let endpoint = cfg
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|e| !e.is_empty());
        // No total timeout: a download to a slow client may take hours. A server that stops
        // sending for a minute, or cannot be reached in five seconds, is an error.
        let client = ClientOptions::new()
            .with_timeout_disabled()
            .with_connect_timeout(Duration::from_secs(5))
            .with_read_timeout(Duration::from_secs(60))
            .with_allow_http(
                endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://")),
            );
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&cfg.bucket)
            .with_client_options(client)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(15),
            });
        if let Some(e) = &endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &cfg.region {
            b = b.with_region(r);
        }
        if let Some((id, secret)) = &cfg.credentials {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        let store = b
            .build()
            .map_err(|e| StoreError::Unavailable(one_line(&e)))?;
        std::fs::create_dir_all(spool)?;
        crate::remove_stale_temp_files(spool)?;
        // At least one part fits, however small the budget.
        let count = (cfg.upload_memory / cfg.part_size).max(1);
        Ok(S3Backend {
            buffers: Arc::new(Buffers {
                permits: Arc::new(tokio::sync::Semaphore::new(count)),
                free: std::sync::Mutex::new(Vec::new()),
            }),
            store: Arc::new(store),
            cfg,
            spool: spool.to_owned(),
            rt: Handle::current(),
            idle: crate::DEFAULT_IDLE,
        })
    }

    /// Sets how long a download waits for a client that stopped reading before giving up.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    fn key(&self, key: &str) -> Key {
        if self.cfg.prefix.is_empty() {
            Key::from(key)
        } else {
            Key::from(format!("{}/{key}", self.cfg.prefix))
        }
    }

    /// The part size for an object of `size` bytes: the configured one, grown (in whole MiB)
    /// so that no upload needs more than S3's 10,000 parts.
    fn part_size(&self, size: u64) -> usize {
        part_size_for(self.cfg.part_size, size)
    }

    async fn put_impl(
        &self,
        key: &str,
        size: u64,
        sha256: &str,
        mut body: ByteStream,
    ) -> Result<(), StoreError> {
        let path = self.key(key);
        let mut check = Check::new(key, size, sha256);
        if self.size(key).await?.is_some() {
            // Stored already: the bytes are still checked, and nothing is sent.
            while let Some(chunk) = body.next().await {
                check.add(&chunk.map_err(StoreError::Body)?)?;
            }
            return check.finish();
        }
        // The body goes to a local temp file a part at a time: a client that sends slowly
        // or stalls costs disk, never memory. Full parts are read back and sent under the
        // shared upload budget while the next part arrives.
        let part_size = self.part_size(size);
        let single = size <= part_size as u64;
        let mut part = Part::new(self.spool()?);
        let mut upload: Option<AbortOnDrop> = None;
        let mut parts = tokio::task::JoinSet::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StoreError::Body)?;
            check.add(&chunk)?;
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let n = rest.len().min(part_size - part.len);
                part.push(&rest[..n]).await?;
                rest = &rest[n..];
                if part.len == part_size && !single {
                    let full = std::mem::replace(&mut part, Part::new(self.spool()?));
                    if upload.is_none() {
                        let up = self
                            .store
                            .put_multipart_opts(&path, PutMultipartOptions::default())
                            .await
                            .map_err(|e| s3_error(key, e))?;
                        upload = Some(AbortOnDrop(Some(up)));
                    }
                    while parts.len() >= self.cfg.parts_in_flight.max(1) {
                        joined(key, parts.join_next().await)?;
                    }
                    let held = self.load(full.finish().await?).await?;
                    let up = upload.as_mut().expect("opened above");
                    parts.spawn(up.send(held));
                }
            }
        }
        // Nothing is sent whole, or completed, unless every byte checked out; the guard
        // aborts the multipart upload otherwise.
        check.finish()?;
        let last = part.finish().await?;
        let Some(mut upload) = upload else {
            let held = self.load(last).await?;
            self.store
                .put_opts(&path, held.payload(), PutOptions::default())
                .await
                .map_err(|e| s3_error(key, e))?;
            return Ok(());
        };
        if last.as_file().metadata()?.len() > 0 {
            let held = self.load(last).await?;
            parts.spawn(upload.send(held));
        }
        while let Some(r) = parts.join_next().await {
            joined(key, Some(r))?;
        }
        let mut done = upload.0.take().expect("the upload is still open");
        if let Err(e) = done.complete().await {
            let _ = done.abort().await;
            return Err(s3_error(key, e));
        }
        Ok(())
    }

    /// Reads a spooled part into one of the shared part buffers, once one is free; the temp
    /// file is deleted. The buffer stays taken until the part has been sent.
    async fn load(&self, file: NamedTempFile) -> Result<Held, StoreError> {
        self.buffers
            .fill(move |buf| {
                // A reader of its own: the writer's position is at the end.
                let mut r = file.reopen()?;
                let len = r.metadata()?.len() as usize;
                buf.resize(len, 0);
                r.read_exact(&mut buf[..])
            })
            .await
    }

    async fn get_impl(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<ByteStream, StoreError> {
        let opts = GetOptions {
            range: range.map(|r| GetRange::Bounded(r.start..r.end.saturating_add(1))),
            ..GetOptions::default()
        };
        let res = match self.store.get_opts(&self.key(key), opts).await {
            Ok(res) => res,
            Err(e) => {
                // A range past the end is the caller's mistake, not the store's.
                if let (Some(r), Ok(Some(size))) = (range, self.size(key).await) {
                    r.check(key, size)?;
                }
                return Err(s3_error(key, e));
            }
        };
        if let Some(r) = range {
            r.check(key, res.meta.size)?;
        }
        let (start, end) = match range {
            Some(r) => (r.start, r.end + 1),
            None => (0, res.meta.size),
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(DOWNLOAD_QUEUE);
        tokio::spawn(pump(
            self.clone(),
            key.to_owned(),
            res.into_stream(),
            start,
            end,
            tx,
        ));
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Box::pin(stream))
    }

    async fn put_file_impl(&self, key: &str, file: NamedTempFile) -> Result<bool, StoreError> {
        if self.size(key).await?.is_some() {
            return Ok(false);
        }
        let len = file.as_file().metadata()?.len();
        let part_size = self.part_size(len);
        let path = self.key(key);
        if len <= part_size as u64 {
            let held = self.load(file).await?;
            let opts = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            return match self.store.put_opts(&path, held.payload(), opts).await {
                Ok(_) => Ok(true),
                // Another upload of the same content won the race: the bytes are the same.
                Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                Err(object_store::Error::Precondition { .. }) => Ok(false),
                Err(e) => Err(s3_error(key, e)),
            };
        }
        // Larger than a part: a multipart upload, a part at a time from the file (the key is
        // content-addressed, so a racing upload of it stores the same bytes).
        let up = self
            .store
            .put_multipart_opts(&path, PutMultipartOptions::default())
            .await
            .map_err(|e| s3_error(key, e))?;
        let mut upload = AbortOnDrop(Some(up));
        let mut parts = tokio::task::JoinSet::new();
        let mut offset = 0u64;
        while offset < len {
            let n = (len - offset).min(part_size as u64);
            while parts.len() >= self.cfg.parts_in_flight.max(1) {
                joined(key, parts.join_next().await)?;
            }
            let mut f = file.reopen()?;
            let held = self
                .buffers
                .fill(move |buf| {
                    use std::io::{Seek, SeekFrom};
                    f.seek(SeekFrom::Start(offset))?;
                    buf.resize(n as usize, 0);
                    f.read_exact(&mut buf[..])
                })
                .await?;
            parts.spawn(upload.send(held));
            offset += n;
        }
        while let Some(r) = parts.join_next().await {
            joined(key, Some(r))?;
        }
        let mut done = upload.0.take().expect("the upload is still open");
        done.complete().await.map_err(|e| s3_error(key, e))?;
        Ok(true)
    }
}

/// The part of an upload being spooled: its temp file and how many bytes it has.
struct Part {
    writer: crate::spool::Writer,
    len: usize,
}

impl Part {
    fn new(file: NamedTempFile) -> Part {
        Part {
            writer: crate::spool::Writer::new(file),
            len: 0,
        }
    }

    async fn push(&mut self, b: &[u8]) -> io::Result<()> {
        self.len += b.len();
        self.writer.push(b).await
    }

    async fn finish(self) -> io::Result<NamedTempFile> {
        self.writer.finish().await
    }
}

/// Length and SHA-256 of a body, checked as it streams.
struct Check<'a> {
    key: &'a str,
    size: u64,
    sha256: &'a str,
    got: u64,
    hasher: Sha256,
}

impl<'a> Check<'a> {
    fn new(key: &'a str, size: u64, sha256: &'a str) -> Self {
        Check {
            key,
            size,
            sha256,
            got: 0,
            hasher: Sha256::new(),
        }
    }

    fn add(&mut self, b: &[u8]) -> Result<(), StoreError> {
        self.got += b.len() as u64;
        if self.got > self.size {
            return Err(self.mismatch());
        }
        self.hasher.update(b);
        Ok(())
    }

    fn mismatch(&self) -> StoreError {
        StoreError::SizeMismatch {
            name: name_of(self.key),
            expected: self.size,
            got: self.got,
        }
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        if self.got != self.size {
            return Err(self.mismatch());
        }
        let digest = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if digest != self.sha256 {
            return Err(StoreError::HashMismatch {
                name: name_of(self.key),
                got: digest,
            });
        }
        Ok(())
    }
}

/// A multipart upload that is aborted unless it was completed: on an error, and when the
/// request that drives it is dropped (the client went away).
struct AbortOnDrop(Option<Box<dyn MultipartUpload>>);

impl AbortOnDrop {
    /// Starts sending the next part; the future holds the part's buffer until it is sent.
    fn send(
        &mut self,
        held: Held,
    ) -> impl std::future::Future<Output = object_store::Result<()>> + Send + 'static {
        let sent = self
            .0
            .as_mut()
            .expect("the upload is still open")
            .put_part(held.payload());
        async move {
            let r = sent.await;
            drop(held);
            r
        }
    }
}

/// The memory all uploads' parts share: a fixed number of part buffers, taken to send a part
/// and given back (reused, not freed) once it is sent. What uploads hold in memory is these
/// buffers however many uploads run, and the allocator never sees part-sized churn.
#[derive(Debug)]
struct Buffers {
    permits: Arc<tokio::sync::Semaphore>,
    free: std::sync::Mutex<Vec<BytesMut>>,
}

/// A part in one of the shared buffers.
struct Held {
    pool: Arc<Buffers>,
    bytes: Bytes,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Buffers {
    /// Waits for a free buffer and fills it with `read` on the blocking pool.
    async fn fill(
        self: &Arc<Self>,
        read: impl FnOnce(&mut BytesMut) -> io::Result<()> + Send + 'static,
    ) -> Result<Held, StoreError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(io::Error::other)?;
        let mut buf = self
            .free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        buf.clear();
        let buf = tokio::task::spawn_blocking(move || read(&mut buf).map(|()| buf))
            .await
            .map_err(io::Error::other)??;
        Ok(Held {
            pool: self.clone(),
            bytes: buf.freeze(),
            _permit: permit,
        })
    }
}

impl Held {
    fn payload(&self) -> PutPayload {
        PutPayload::from(self.bytes.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Back to the pool if nothing else holds the bytes any more (the request is done).
        if let Ok(buf) = std::mem::take(&mut self.bytes).try_into_mut() {
            self.pool
                .free
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(buf);
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(mut up) = self.0.take() {
            if let Ok(rt) = Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = up.abort().await {
                        tracing::warn!(error = %one_line(&e), "aborting a multipart upload failed; the bucket's lifecycle rule will remove it");
                    }
                });
            }
        }
    }
}

fn joined(
    key: &str,
    r: Option<Result<object_store::Result<()>, tokio::task::JoinError>>,
) -> Result<(), StoreError> {
    match r {
        None | Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(e))) => Err(s3_error(key, e)),
        Some(Err(e)) => Err(StoreError::Io(io::Error::other(e))),
    }
}

/// An object_store error as ours: missing is missing, anything else is the store failing.
fn s3_error(key: &str, e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound(name_of(key)),
        e => {
            let msg = one_line(&e);
            tracing::warn!(object = %name_of(key), error = %msg, "object storage request failed");
            StoreError::Unavailable(msg)
        }
    }
}

/// An error on one line, S3's own code and message first when it sent an XML error body.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !text.contains(&t) {
            text = format!("{text}: {t}");
        }
        src = s.source();
    }
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{t}>"))? + start;
        Some(text[start..end].to_owned())
    };
    if let Some(code) = tag("Code") {
        let msg = tag("Message").unwrap_or_default();
        return format!("{code}: {msg}").trim_end_matches(": ").to_owned();
    }
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(300).collect()
}

/// Moves bytes `start..end` of an object from the store's response into a short queue, in
/// pieces of at most [`PIECE`] bytes copied out of the HTTP client's buffers. While the client
/// keeps up the one response streams on; when the queue has been full for [`STALL`] the
/// response is dropped (its connection and buffers with it) and a new ranged GET resumes at
/// the first byte not queued once the client reads again. So a stalled download holds two
/// small pieces, and a client that takes nothing for `idle` is given up on.
async fn pump(
    store: S3Backend,
    key: String,
    first: BoxStream<'static, object_store::Result<Bytes>>,
    mut offset: u64,
    end: u64,
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
) {
    use tokio::sync::mpsc::error::TrySendError;
    let mut stream = Some(first);
    let mut pending = Bytes::new();
    let mut piece_size = SLOW_PIECE;
    let fail = |e: &dyn std::error::Error| {
        let msg = one_line(e);
        tracing::warn!(object = %name_of(&key), error = %msg, "object storage read failed");
        io::Error::other(format!("object storage read failed: {msg}"))
    };
    while offset < end {
        let permit = match tx.try_reserve() {
            Ok(p) => p,
            Err(TrySendError::Closed(())) => return,
            Err(TrySendError::Full(())) => match tokio::time::timeout(STALL, tx.reserve()).await {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return,
                Err(_) => {
                    // The client stalled: let go of the store until it reads again.
                    stream = None;
                    pending = Bytes::new();
                    match tokio::time::timeout(store.idle, tx.reserve()).await {
                        Ok(Ok(p)) => p,
                        _ => return, // gone, or silent for too long
                    }
                }
            },
        };
        if pending.is_empty() {
            let s = match &mut stream {
                Some(s) => s,
                None => {
                    let opts = GetOptions {
                        range: Some(GetRange::Bounded(offset..end)),
                        ..GetOptions::default()
                    };
                    match store.store.get_opts(&store.key(&key), opts).await {
                        Ok(res) => stream.insert(res.into_stream()),
                        Err(e) => return permit.send(Err(fail(&e))),
                    }
                }
            };
            match s.next().await {
                Some(Ok(b)) => pending = b,
                Some(Err(e)) => return permit.send(Err(fail(&e))),
                None => {
                    let e = io::Error::other("the object ended early");
                    return permit.send(Err(fail(&e)));
                }
            }
        }
        // A full queue means the client is behind: larger pieces would only wait, and its
        // socket's and the server's write buffers fill with them.
        piece_size = match tx.capacity() {
            0 => SLOW_PIECE,
            c if c == tx.max_capacity() - 1 => (piece_size * 2).min(PIECE),
            _ => piece_size,
        };
        let n = pending.len().min(piece_size);
        let piece = Bytes::copy_from_slice(&pending.split_to(n));
        offset += n as u64;
        permit.send(Ok(piece));
    }
}

/// `configured`, grown in whole MiB until an object of `size` bytes fits in S3's 10,000 parts.
fn part_size_for(configured: usize, size: u64) -> usize {
    let need = size.div_ceil(MAX_PARTS).div_ceil(1 << 20) << 20;
    configured.max(need as usize)
}

/// Reads a stream from a blocking thread, one piece at a time.
struct BlockingReader {
    rt: Handle,
    stream: ByteStream,
    cur: Bytes,
    /// The stream has ended: reads after the end answer 0 (as `Read` allows) without polling
    /// it again.
    done: bool,
}

impl Read for BlockingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rt.block_on(self.stream.next()) {
                Some(b) => self.cur = b?,
                None => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

impl Backend for S3Backend {
    fn describe(&self) -> String {
        self.cfg.url()
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        async move {
            let key = format!("tmp/probe-{:016x}", rand::random::<u64>());
            let path = self.key(&key);
            let fail = |what: &str, e: object_store::Error| {
                StoreError::Unavailable(format!("a test {what} failed: {}", one_line(&e)))
            };
            self.store
                .put(&path, PutPayload::from_static(b"modelhub"))
                .await
                .map_err(|e| fail("write", e))?;
            let back = self
                .store
                .get(&path)
                .await
                .map_err(|e| fail("read", e))?
                .bytes()
                .await
                .map_err(|e| fail("read", e))?;
            self.store
                .delete(&path)
                .await
                .map_err(|e| fail("delete", e))?;
            if &back[..] != b"modelhub" {
                return Err(StoreError::Unavailable(format!(
                    "{} gave back other bytes than were written",
                    self.cfg.url()
                )));
            }
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
        self.put_file_impl(key, file).boxed()
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
            match self.store.head(&self.key(key)).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(s3_error(key, e)),
            }
        }
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            match self.store.delete(&self.key(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(s3_error(key, e)),
            }
        }
        .boxed()
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<Listed, StoreError>> {
        let base = self.key(prefix.trim_end_matches('/'));
        let strip = if self.cfg.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.cfg.prefix)
        };
        self.store
            .list(Some(&base))
            .map_err(|e| s3_error("listing", e))
            .map_ok(move |m| Listed {
                key: m
                    .location
                    .as_ref()
                    .strip_prefix(&strip)
                    .unwrap_or(m.location.as_ref())
                    .to_owned(),
                size: m.size,
            })
            .boxed()
    }

    fn presign<'a>(
        &'a self,
        key: &'a str,
        range: Option<ByteRange>,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        async move {
            let mut opts = SignedUrlOptions::new();
            if let Some(r) = range {
                let v = format!("bytes={}-{}", r.start, r.end);
                let v =
                    object_store::signer::HeaderValue::from_str(&v).map_err(io::Error::other)?;
                opts = opts
                    .with_signed_header(object_store::signer::HeaderName::from_static("range"), v);
            }
            let url = self
                .store
                .signed_url_opts(Method::GET, &self.key(key), ttl, &opts)
                .await
                .map_err(|e| s3_error(key, e))?;
            Ok(Some(url.to_string()))
        }
        .boxed()
    }

    fn spool(&self) -> io::Result<NamedTempFile> {
        tempfile::Builder::new()
            .prefix("up-")
            .tempfile_in(&self.spool)
    }

    fn tmp_dir(&self) -> &Path {
        &self.spool
    }

    fn open_blocking(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        let stream = self.rt.block_on(self.get(key, range))?;
        Ok(Box::new(BlockingReader {
            rt: self.rt.clone(),
            stream,
            cur: Bytes::new(),
            done: false,
        }))
    }

    fn read_blocking(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.rt.block_on(async {
            match self.get(key, None).await {
                Ok(s) => crate::collect(s, key, max).await.map(Some),
                Err(StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn size_blocking(&self, key: &str) -> Result<Option<u64>, StoreError> {
        self.rt.block_on(self.size(key))
    }

    fn put_file_blocking(&self, key: &str, file: NamedTempFile) -> Result<bool, StoreError> {
        self.rt.block_on(self.put_file(key, file))
    }

    fn write_blocking(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let payload = PutPayload::from(bytes.to_vec());
        self.rt
            .block_on(self.store.put(&self.key(key), payload))
            .map_err(|e| s3_error(key, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_urls_parse_or_are_refused() {
        let c = S3Config::from_url("s3://models").unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("models", ""));
        let c = S3Config::from_url("s3://models/team-a/hub/").unwrap();
        assert_eq!(
            (c.bucket.as_str(), c.prefix.as_str()),
            ("models", "team-a/hub")
        );
        assert_eq!(c.url(), "s3://models/team-a/hub");
        for bad in [
            "models",
            "s3://",
            "s3:///x",
            "s3://b/../x",
            "s3://b/a//c",
            "s3://b c/x",
            "http://b/x",
        ] {
            assert!(S3Config::from_url(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn parts_grow_so_that_no_upload_needs_more_than_ten_thousand() {
        let mib = 1u64 << 20;
        assert_eq!(part_size_for(16 << 20, 1 << 30), 16 << 20);
        assert_eq!(part_size_for(16 << 20, 160_000 * mib), 16 << 20);
        let big = 500_000_000_000u64;
        let part = part_size_for(16 << 20, big) as u64;
        assert!(big.div_ceil(part) <= MAX_PARTS, "{part}");
        assert_eq!(part % mib, 0);
    }
}
