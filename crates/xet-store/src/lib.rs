//! Xet storage: the content store behind the Xet protocol that hf_xet speaks.
//!
//! A Xet client cuts files into content-defined chunks, packs new chunks into *xorbs* and
//! describes each file as a list of terms (a xorb and a range of its chunks) in a *shard*. This
//! crate keeps what arrives and answers what the CAS API asks:
//!
//! - xorbs, verified on arrival (every chunk decompressed and hashed, the chunk hashes folded
//!   into the xorb hash the client claimed) and stored once under that hash with a footer of
//!   our own making, so chunk boundaries are known without trusting the client;
//! - file records, registered from shards only after every term's verification hash matched
//!   the stored chunks (the client proves it holds the data), the file hash matched the chunk
//!   hashes, and the SHA-256 was computed from the reconstructed bytes, so a Xet file is an LFS
//!   object like any other (lfs-store, above this crate, reads it back by that SHA-256);
//! - the global dedup index: chunk hash -> the files that hold it, answered with a shard of
//!   the xorbs those files use, its chunk hashes keyed with a fresh HMAC key per answer (as
//!   xet-core's server does), so a client can match only chunks it already has and cannot
//!   learn enough to claim data it does not hold;
//! - reconstruction plans (which chunk ranges of which xorbs make up a byte range of a file)
//!   and the reconstructed bytes themselves, streamed with flat memory.
//!
//! The formats (chunk headers, compression, xorb footers, shards, merkle hashes, verification
//! range hashes) come from xet-core's own `xet-core-structures` crate, so they are
//! byte-compatible with the client. Everything is kept on a `content-store` backend (local
//! disk or S3-compatible object storage), which makes each write visible whole or not at all.
//!
//! Keys (`xx` is the first two hex digits of the name): `xet/xorbs/xx/<xorb hash>`,
//! `xet/files/xx/<sha256>` (JSON file record), `xet/by-xet/xx/<file hash>` (its SHA-256),
//! `xet/chunks/xx/<chunk hash>` (file hashes, newest last). Records and the index are small
//! objects behind four methods (`file_by_sha256`, `file_by_xet_hash`, `index_chunk`,
//! `dedup_shard`), so they can move to the metadata database without touching the rest.
//! The file records list the xorbs every file references: what `modelhub gc` marks from, given
//! the LFS objects commits point at. With [`XetStore::with_claims`], every upload claims the
//! xorbs and files it looks for or stores before it does (see `content_store::Claims`), and
//! answers from the store itself rather than from memory, so a collection running meanwhile
//! never deletes what it relies on.
//!
//! The store's methods block (they verify and rebuild on the calling thread): call them on
//! the blocking pool. It knows nothing of HTTP, repos or accounts (which repo may see which
//! file is the registry's business, as for LFS objects).
#![forbid(unsafe_code)]

mod convert;
mod dedup;
mod ingest;
mod read;

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use content_store::{Backend, ByteRange, LocalBackend, StoreError};

use serde::{Deserialize, Serialize};
pub use xet_core_structures::merklehash::MerkleHash;
use xet_core_structures::xorb_object::XorbObject;

pub use convert::{Converted, MAX_LEARNT_XORBS};
pub use read::{Plan, Term};

/// Largest xorb body accepted (xet-core caps serialized xorbs at 64 MiB; the footer the client
/// may add comes on top).
pub const MAX_XORB_BYTES: u64 = (64 << 20) + (1 << 20);
/// Largest shard body accepted.
pub const MAX_SHARD_BYTES: u64 = 64 << 20;
/// The largest file a shard may register unless told otherwise.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 500_000_000_000;
/// Most files one shard may register, and most terms one file may have.
const MAX_SHARD_FILES: usize = 1 << 16;
const MAX_FILE_TERMS: usize = 1 << 20;
/// Distinct xorbs one shard may name (a 500 GB file fills about 8,000).
const MAX_SHARD_XORBS: usize = 1 << 16;
/// Most chunks in one xorb (xet-core's limit).
const MAX_CHUNKS_PER_XORB: usize = 8192;
/// Largest chunk, uncompressed (xet-core's chunker stops at 128 KiB; some slack for others).
const MAX_CHUNK_BYTES: u32 = 1 << 20;
/// Parsed xorb footers kept in memory (about 40 KB each for 1,024 chunks).
const FOOTER_CACHE: usize = 1024;
/// File records kept in memory (a record is about 100 bytes per term).
const RECORD_CACHE: usize = 1024;
/// Largest file record read back (a file of the most terms allowed, at about 120 bytes each).
const MAX_RECORD_BYTES: u64 = 256 << 20;

/// Why a Xet operation failed; the variants tell the client's faults from the server's.
#[derive(Debug, thiserror::Error)]
pub enum XetError {
    /// A xorb that is not well-formed: chunk headers, compression, sizes, or chunks that do
    /// not hash to the xorb's name.
    #[error("{0}")]
    BadXorb(String),
    /// A shard that does not parse, or whose chunk lists do not match the stored xorbs.
    #[error("{0}")]
    BadShard(String),
    /// A file the upload does not prove it holds: terms naming xorbs or chunks that are not
    /// there, verification hashes, sizes or hashes that do not match the data.
    #[error("{0}")]
    Unproven(String),
    /// Past a limit on chunks, terms, files or bytes.
    #[error("{0}")]
    OverLimit(String),
    /// No such file or xorb (HTTP 404).
    #[error("{0} not found")]
    NotFound(String),
    /// The requested range starts at or past the end of the file (HTTP 416).
    #[error("the range starts past the end of the file ({size} bytes)")]
    Range { size: u64 },
    /// The object store did not answer (HTTP 503).
    #[error("object storage is unavailable: {0}")]
    Unavailable(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
}

impl From<StoreError> for XetError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => XetError::Unavailable(m),
            StoreError::Io(e) => XetError::Io(e),
            other => XetError::Io(other.into_io()),
        }
    }
}

fn bad_xorb(msg: impl Into<String>) -> XetError {
    XetError::BadXorb(msg.into())
}

fn bad_shard(msg: impl Into<String>) -> XetError {
    XetError::BadShard(msg.into())
}

fn unproven(msg: impl Into<String>) -> XetError {
    XetError::Unproven(msg.into())
}

fn over_limit(msg: impl Into<String>) -> XetError {
    XetError::OverLimit(msg.into())
}

/// One term of a file: chunks `start..end` of a xorb, `bytes` long once decompressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub xorb: String,
    pub start: u32,
    pub end: u32,
    pub bytes: u32,
}

/// A file stored through Xet: its Xet file hash, its SHA-256 (the LFS object id) and size,
/// and the terms that rebuild it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub file_hash: String,
    pub sha256: String,
    pub size: u64,
    pub segments: Vec<Segment>,
}

/// A xorb's chunk table, from the footer this store wrote.
#[derive(Debug)]
pub struct Footer {
    pub hashes: Vec<MerkleHash>,
    /// End offset of each chunk in the xorb (compressed, header included).
    pub ends: Vec<u32>,
    /// End offset of each chunk in the xorb's decompressed content.
    pub unpacked_ends: Vec<u32>,
}

impl Footer {
    pub fn len(&self) -> u32 {
        self.hashes.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Stored bytes of chunks `start..end`: `[first byte, end)` in the xorb file.
    pub fn byte_range(&self, start: u32, end: u32) -> (u32, u32) {
        let from = if start == 0 {
            0
        } else {
            self.ends[start as usize - 1]
        };
        (from, self.ends[end as usize - 1])
    }

    /// Decompressed length of chunks `start..end`.
    pub fn unpacked_len(&self, start: u32, end: u32) -> u32 {
        let from = if start == 0 {
            0
        } else {
            self.unpacked_ends[start as usize - 1]
        };
        self.unpacked_ends[end as usize - 1] - from
    }
}

/// A small map that forgets everything when full: enough to keep hot footers and records.
struct Memo<T> {
    cap: usize,
    map: Mutex<HashMap<String, Arc<T>>>,
}

impl<T> Memo<T> {
    fn new(cap: usize) -> Self {
        Memo {
            cap,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, k: &str) -> Option<Arc<T>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(k)
            .cloned()
    }

    fn forget(&self, k: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(k);
    }

    fn put(&self, k: String, v: Arc<T>) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= self.cap {
            m.clear();
        }
        m.insert(k, v);
    }
}

pub struct XetStore {
    /// Where everything is kept: local disk or object storage, under `xet/`.
    blobs: Arc<dyn Backend>,
    /// Largest file a shard may register (the server's LFS object limit): what it costs to
    /// rebuild and hash a file is bounded by this, however often its terms repeat a range.
    max_file_size: u64,
    footers: Memo<Footer>,
    records: Memo<FileRecord>,
    /// Told before an upload looks for or stores a xorb or a file (the garbage collector's
    /// side of the bargain); none in tools that only read.
    claims: Option<Arc<dyn content_store::Claims>>,
}

/// Parses a hash as the CAS API writes it (64 hex digits, xet-core's byte order).
pub fn parse_hash(s: &str) -> Option<MerkleHash> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    MerkleHash::from_hex(s).ok()
}

impl XetStore {
    /// A store on `blobs` (its keys under `xet/`).
    pub fn new(blobs: Arc<dyn Backend>) -> Self {
        XetStore {
            blobs,
            footers: Memo::new(FOOTER_CACHE),
            records: Memo::new(RECORD_CACHE),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            claims: None,
        }
    }

    /// Claims every xorb and file an upload looks for or stores through `claims` first, so a
    /// garbage collector running meanwhile never deletes what the upload relies on.
    pub fn with_claims(mut self, claims: Arc<dyn content_store::Claims>) -> Self {
        self.claims = Some(claims);
        self
    }

    /// Claims `names` (see [`XetStore::with_claims`]).
    pub(crate) fn claim(&self, names: &[String]) -> Result<(), XetError> {
        match &self.claims {
            Some(c) if !names.is_empty() => Ok(c.claim_blocking(names)?),
            _ => Ok(()),
        }
    }

    /// Claims xorb `hash` (see [`XetStore::with_claims`]): before looking whether it is stored.
    pub fn claim_xorb(&self, hash: &MerkleHash) -> Result<(), XetError> {
        self.claim(&[content_store::xorb_claim(&hash.hex())])
    }

    /// The stored file record of `sha256`, read from the store (not from memory: a collector
    /// in another process may have deleted it), or `None`.
    pub(crate) fn stored_record(&self, sha256: &str) -> Result<Option<Arc<FileRecord>>, XetError> {
        self.records.forget(sha256);
        self.file_by_sha256(sha256)
    }

    /// The footer of `hash` if the xorb is stored now (asked of the store, not of memory).
    pub(crate) fn stored_footer(&self, hash: &MerkleHash) -> Result<Option<Arc<Footer>>, XetError> {
        if !self.has_xorb(hash)? {
            self.footers.forget(&hash.hex());
            return Ok(None);
        }
        self.footer(hash)
    }

    /// The content-store keys of a Xet file: its record and its entry by Xet file hash.
    pub fn file_keys(rec: &FileRecord) -> [String; 2] {
        [
            Self::key("files", &rec.sha256),
            Self::key("by-xet", &rec.file_hash),
        ]
    }

    /// The file record stored under content-store key `key` (`xet/files/..`), read from the
    /// store, or `None` if it is gone.
    pub fn record_at(&self, key: &str) -> Result<Option<FileRecord>, XetError> {
        let Some(raw) = self.blobs.read_blocking(key, MAX_RECORD_BYTES)? else {
            return Ok(None);
        };
        let rec = serde_json::from_slice(&raw)
            .map_err(|e| io::Error::other(format!("file record {key} is unreadable: {e}")))?;
        Ok(Some(rec))
    }

    /// The Xet file hashes (hex) a dedup index entry (`xet/chunks/..`) lists.
    pub fn index_files_at(&self, key: &str) -> Result<Vec<String>, XetError> {
        let raw = self.blobs.read_blocking(key, 4096)?.unwrap_or_default();
        Ok(String::from_utf8_lossy(&raw)
            .lines()
            .map(str::to_owned)
            .collect())
    }

    /// Whether a file with Xet file hash `file_hash` (hex) is registered.
    pub fn has_file_hash(&self, file_hash: &str) -> Result<bool, XetError> {
        if file_hash.len() < 2 {
            return Ok(false);
        }
        Ok(self
            .blobs
            .size_blocking(&Self::key("by-xet", file_hash))?
            .is_some())
    }

    /// A store on local disk under `root` (`root/xet/...`, temp files in `root/tmp`).
    pub fn open(root: &Path) -> io::Result<Self> {
        Ok(Self::new(Arc::new(LocalBackend::open(root)?)))
    }

    /// Sets the largest file a shard may register (default 500 GB, the Hub's limit).
    pub fn with_max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    /// The content store underneath.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.blobs
    }

    /// Where uploads are spooled before they are verified.
    pub fn tmp_dir(&self) -> &Path {
        self.blobs.tmp_dir()
    }

    /// A new temp file for an upload; deleted on drop unless it was stored.
    pub fn spool(&self) -> io::Result<tempfile::NamedTempFile> {
        self.blobs.spool()
    }

    /// The content-store key of `name` in folder `kind` (`xet/kind/xx/name`).
    fn key(kind: &str, name: &str) -> String {
        format!("xet/{kind}/{}/{name}", &name[..2])
    }

    /// The content-store key of a xorb.
    pub fn xorb_key(hash: &MerkleHash) -> String {
        Self::key("xorbs", &hash.hex())
    }

    /// Whether the xorb is stored (blocking: call it on the blocking pool).
    pub fn has_xorb(&self, hash: &MerkleHash) -> Result<bool, XetError> {
        Ok(self.blobs.size_blocking(&Self::xorb_key(hash))?.is_some())
    }

    /// The chunk table of a stored xorb, or `None` if it is not stored.
    pub fn footer(&self, hash: &MerkleHash) -> Result<Option<Arc<Footer>>, XetError> {
        let key = hash.hex();
        if let Some(f) = self.footers.get(&key) {
            return Ok(Some(f));
        }
        let Some(xorb) = self.read_footer(&Self::key("xorbs", &key))? else {
            return Ok(None);
        };
        let footer = Arc::new(Footer {
            hashes: xorb.info.chunk_hashes,
            ends: xorb.info.chunk_boundary_offsets,
            unpacked_ends: xorb.info.unpacked_chunk_offsets,
        });
        self.footers.put(key, footer.clone());
        Ok(Some(footer))
    }

    /// The file stored through Xet whose SHA-256 is `sha256`, if any.
    pub fn file_by_sha256(&self, sha256: &str) -> Result<Option<Arc<FileRecord>>, XetError> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        if let Some(r) = self.records.get(sha256) {
            return Ok(Some(r));
        }
        let Some(raw) = self
            .blobs
            .read_blocking(&Self::key("files", sha256), MAX_RECORD_BYTES)?
        else {
            return Ok(None);
        };
        let rec: FileRecord = serde_json::from_slice(&raw)
            .map_err(|e| io::Error::other(format!("file record {sha256} is unreadable: {e}")))?;
        let rec = Arc::new(rec);
        self.records.put(sha256.to_owned(), rec.clone());
        Ok(Some(rec))
    }

    /// The file whose Xet file hash is `file_hash`, if any.
    pub fn file_by_xet_hash(
        &self,
        file_hash: &MerkleHash,
    ) -> Result<Option<Arc<FileRecord>>, XetError> {
        match self
            .blobs
            .read_blocking(&Self::key("by-xet", &file_hash.hex()), 256)?
        {
            Some(sha) => self.file_by_sha256(String::from_utf8_lossy(&sha).trim()),
            None => Ok(None),
        }
    }

    /// The SHA-256 of the file whose Xet file hash is `file_hash`, read from the store.
    pub(crate) fn sha256_of_file_hash(
        &self,
        file_hash: &MerkleHash,
    ) -> Result<Option<String>, XetError> {
        Ok(self
            .blobs
            .read_blocking(&Self::key("by-xet", &file_hash.hex()), 256)?
            .map(|sha| String::from_utf8_lossy(&sha).trim().to_owned()))
    }

    /// Writes `bytes` to `kind/xx/name` whole (durably and atomically on either backend).
    fn write_atomic(&self, kind: &str, name: &str, bytes: &[u8]) -> Result<(), XetError> {
        Ok(self.blobs.write_blocking(&Self::key(kind, name), bytes)?)
    }

    /// The footer of the stored xorb at `key`: its last four bytes give the footer's length,
    /// so two ranged reads fetch just the footer, wherever the xorb is stored.
    fn read_footer(&self, key: &str) -> Result<Option<XorbObject>, XetError> {
        let Some(size) = self.blobs.size_blocking(key)? else {
            return Ok(None);
        };
        let unreadable =
            |e: String| io::Error::other(format!("stored xorb {key} is unreadable: {e}"));
        if size < 4 {
            return Err(unreadable("it is too short".into()).into());
        }
        let tail = self.read_at(key, size - 4, 4)?;
        let len = u64::from(u32::from_le_bytes(
            tail[..4].try_into().expect("four bytes"),
        ));
        if len + 4 > size {
            return Err(unreadable("its footer length is past its start".into()).into());
        }
        let footer = self.read_at(key, size - 4 - len, len + 4)?;
        let xorb = XorbObject::deserialize(&mut io::Cursor::new(footer))
            .map_err(|e| unreadable(e.to_string()))?;
        Ok(Some(xorb))
    }

    /// `len` bytes of `key` from `start`.
    fn read_at(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>, XetError> {
        let range = ByteRange {
            start,
            end: start + len - 1,
        };
        let mut out = Vec::with_capacity(len as usize);
        self.blobs
            .open_blocking(key, Some(range))?
            .read_to_end(&mut out)?;
        if out.len() as u64 != len {
            return Err(io::Error::other(format!("stored object {key} was cut short")).into());
        }
        Ok(out)
    }
}
