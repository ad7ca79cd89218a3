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
//!   object like any other: [`TieredStore`] answers lfs-store's `ObjectStore` over both stores,
//!   which is the one reason this crate depends on lfs-store;
//! - the global dedup index: chunk hash -> the files that hold it, answered with a shard of
//!   the xorbs those files use, its chunk hashes keyed with a fresh HMAC key per answer (as
//!   xet-core's server does), so a client can match only chunks it already has and cannot
//!   learn enough to claim data it does not hold;
//! - reconstruction plans (which chunk ranges of which xorbs make up a byte range of a file)
//!   and the reconstructed bytes themselves, streamed with flat memory.
//!
//! The formats (chunk headers, compression, xorb footers, shards, merkle hashes, verification
//! range hashes) come from xet-core's own `xet-core-structures` crate, so they are
//! byte-compatible with the client. Everything is written through `tmp/` and renamed into
//! place after an fsync: no partial object is ever visible.
//!
//! Layout under the root (`xx` is the first two hex digits of the name):
//! `xorbs/xx/<xorb hash>`, `files/xx/<sha256>` (JSON file record), `by-xet/xx/<file hash>`
//! (its SHA-256), `chunks/xx/<chunk hash>` (file hashes, newest last), `tmp/`.
//! The file records list the xorbs every file references: the reference tracking from which a
//! garbage collector, marking from the LFS objects commits point at, finds what is unused.
//!
//! This crate sits on top of `lfs-store`: [`TieredStore`] implements its `ObjectStore` seam by
//! putting the two stores behind one door. It knows nothing of HTTP, repos or accounts (which
//! repo may see which file is the registry's business, as for LFS objects).
#![forbid(unsafe_code)]

mod dedup;
mod ingest;
mod read;
mod tiered;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
pub use xet_core_structures::merklehash::MerkleHash;
use xet_core_structures::xorb_object::XorbObject;

pub use read::{Plan, Term};
pub use tiered::TieredStore;

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
/// Most chunks in one xorb (xet-core's limit).
const MAX_CHUNKS_PER_XORB: usize = 8192;
/// Largest chunk, uncompressed (xet-core's chunker stops at 128 KiB; some slack for others).
const MAX_CHUNK_BYTES: u32 = 1 << 20;
/// Parsed xorb footers kept in memory (about 40 KB each for 1,024 chunks).
const FOOTER_CACHE: usize = 1024;
/// File records kept in memory (a record is about 100 bytes per term).
const RECORD_CACHE: usize = 1024;

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
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
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

    fn put(&self, k: String, v: Arc<T>) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= self.cap {
            m.clear();
        }
        m.insert(k, v);
    }
}

pub struct XetStore {
    root: PathBuf,
    tmp: PathBuf,
    /// Largest file a shard may register (the server's LFS object limit): what it costs to
    /// rebuild and hash a file is bounded by this, however often its terms repeat a range.
    max_file_size: u64,
    footers: Memo<Footer>,
    records: Memo<FileRecord>,
}

/// Parses a hash as the CAS API writes it (64 hex digits, xet-core's byte order).
pub fn parse_hash(s: &str) -> Option<MerkleHash> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    MerkleHash::from_hex(s).ok()
}

impl XetStore {
    /// Opens (creating) a store under `root`, clearing temp files a crash left behind.
    pub fn open(root: &Path) -> io::Result<Self> {
        for d in ["xorbs", "files", "by-xet", "chunks", "tmp"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        let tmp = root.join("tmp");
        lfs_store::remove_stale_temp_files(&tmp)?;
        Ok(XetStore {
            root: root.to_owned(),
            tmp,
            footers: Memo::new(FOOTER_CACHE),
            records: Memo::new(RECORD_CACHE),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        })
    }

    /// Sets the largest file a shard may register (default 500 GB, the Hub's limit).
    pub fn with_max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
    }

    /// Where uploads are spooled before they are verified.
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// A new temp file for an upload; deleted on drop unless it was stored.
    pub fn spool(&self) -> io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix("up-")
            .tempfile_in(&self.tmp)
    }

    fn path(&self, kind: &str, name: &str) -> PathBuf {
        self.root.join(kind).join(&name[..2]).join(name)
    }

    pub fn xorb_path(&self, hash: &MerkleHash) -> PathBuf {
        self.path("xorbs", &hash.hex())
    }

    pub fn has_xorb(&self, hash: &MerkleHash) -> bool {
        self.xorb_path(hash).exists()
    }

    /// Bytes on disk under the xorbs folder: what the stored content costs.
    pub fn xorb_bytes(&self) -> io::Result<u64> {
        let mut total = 0;
        for fan in std::fs::read_dir(self.root.join("xorbs"))? {
            for f in std::fs::read_dir(fan?.path())? {
                total += f?.metadata()?.len();
            }
        }
        Ok(total)
    }

    /// The chunk table of a stored xorb, or `None` if it is not stored.
    pub fn footer(&self, hash: &MerkleHash) -> Result<Option<Arc<Footer>>, XetError> {
        let key = hash.hex();
        if let Some(f) = self.footers.get(&key) {
            return Ok(Some(f));
        }
        let file = match File::open(self.path("xorbs", &key)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let xorb = XorbObject::deserialize(&mut BufReader::new(file))
            .map_err(|e| io::Error::other(format!("stored xorb {key} is unreadable: {e}")))?;
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
        let raw = match std::fs::read(self.path("files", sha256)) {
            Ok(raw) => raw,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
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
        match std::fs::read_to_string(self.path("by-xet", &file_hash.hex())) {
            Ok(sha) => self.file_by_sha256(sha.trim()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `bytes` to `kind/xx/name` durably and atomically (temp file, fsync, rename,
    /// fsync of the folder).
    fn write_atomic(&self, kind: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
        let target = self.path(kind, name);
        let mut tmp = self.spool()?;
        tmp.write_all(bytes)?;
        self.persist(tmp, &target)
    }

    fn persist(&self, tmp: tempfile::NamedTempFile, target: &Path) -> io::Result<()> {
        tmp.as_file().sync_all()?;
        let dir = target.parent().expect("store paths have a parent");
        std::fs::create_dir_all(dir)?;
        tmp.persist(target).map_err(|e| e.error)?;
        File::open(dir)?.sync_all()
    }
}
