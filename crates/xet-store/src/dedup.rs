//! Global dedup: which stored xorbs a client may dedup against, given a chunk it has.
//!
//! The index maps a file's first chunk, and the chunks xet-core marks as dedup keys, to the
//! files that contain them (newest last). An answer is a shard listing every xorb those files
//! use, built from the footers this store wrote (not from what clients claimed), so a new
//! revision of a file dedups against all of the previous one. The chunk hashes in it are
//! keyed with a fresh random HMAC key: the client can recognise chunks it holds, but learns no
//! hash it could use to claim chunks it does not hold (the verification hashes a shard upload
//! must carry are made from the real chunk hashes). Xorbs of a single chunk are left out: the
//! hash of such a xorb is the raw hash of its chunk, which is exactly what the answer must not
//! reveal. An answer thus holds no raw chunk hash and no file hash, only xorb hashes of two or
//! more chunks (merkle roots, from which no chunk hash can be derived) and keyed chunk hashes.

use std::io::Cursor;
use std::time::Duration;

use xet_core_structures::merklehash::{HMACKey, MerkleHash};
use xet_core_structures::metadata_shard::shard_in_memory::MDBInMemoryShard;
use xet_core_structures::metadata_shard::xorb_structs::{
    MDBXorbInfo, XorbChunkSequenceEntry, XorbChunkSequenceHeader,
};
use xet_core_structures::metadata_shard::MDBShardInfo;

use crate::{parse_hash, XetError, XetStore};

/// Files remembered per dedup key.
const FILES_PER_KEY: usize = 8;
/// Files whose xorbs an answer lists (the newest).
const FILES_PER_ANSWER: usize = 4;
/// Xorbs an answer lists at most (about 8 GiB of content, a few MB of shard).
const XORBS_PER_ANSWER: usize = 128;
/// How long a client may keep using an answer's key.
const KEY_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

fn shard_error(e: impl std::fmt::Display) -> XetError {
    XetError::Io(std::io::Error::other(format!(
        "building a dedup shard: {e}"
    )))
}

impl XetStore {
    /// Records that file `file` (a Xet file hash) contains chunk `chunk`. The index is a hint
    /// (answers are rebuilt from stored files and footers), so two registrations racing on one
    /// key may keep only one of the two files without harm beyond a missed dedup.
    pub(crate) fn index_chunk(&self, chunk: &MerkleHash, file: &str) -> Result<(), XetError> {
        let key = chunk.hex();
        let mut files: Vec<String> = match self.read_index(&key)? {
            Some(s) => s.lines().map(str::to_owned).collect(),
            None => Vec::new(),
        };
        if files.last().map(String::as_str) == Some(file) {
            return Ok(());
        }
        files.retain(|f| f != file);
        files.push(file.to_owned());
        let skip = files.len().saturating_sub(FILES_PER_KEY);
        let body = files[skip..].join("\n");
        self.write_atomic("chunks", &key, body.as_bytes())
    }

    /// The files (Xet file hashes, one a line) recorded for dedup key `key`.
    pub(crate) fn read_index(&self, key: &str) -> Result<Option<String>, XetError> {
        // FILES_PER_KEY lines of 64 hex digits, with room to spare.
        let raw = self
            .backend()
            .read_blocking(&Self::key("chunks", key), 4096)?;
        Ok(raw.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Adds to `xorbs` (at most `max` in all, each once) the xorbs the newest `files` files
    /// indexed under dedup key `key` use; whether the key is indexed at all.
    pub(crate) fn indexed_xorbs(
        &self,
        key: &MerkleHash,
        files: usize,
        max: usize,
        xorbs: &mut Vec<MerkleHash>,
    ) -> Result<bool, XetError> {
        let Some(listed) = self.read_index(&key.hex())? else {
            return Ok(false);
        };
        for file in listed.lines().rev().take(files) {
            let Some(rec) = parse_hash(file)
                .map(|h| self.file_by_xet_hash(&h))
                .transpose()?
                .flatten()
            else {
                continue;
            };
            for seg in &rec.segments {
                let Some(h) = parse_hash(&seg.xorb) else {
                    continue;
                };
                if xorbs.len() < max && !xorbs.contains(&h) {
                    xorbs.push(h);
                }
            }
        }
        Ok(true)
    }

    /// The answer to a global dedup query for `chunk`: a keyed shard, or `None` if no stored
    /// file has the chunk as a dedup key.
    pub fn dedup_shard(&self, chunk: &MerkleHash) -> Result<Option<Vec<u8>>, XetError> {
        let mut xorbs: Vec<MerkleHash> = Vec::new();
        if !self.indexed_xorbs(chunk, FILES_PER_ANSWER, XORBS_PER_ANSWER, &mut xorbs)? {
            return Ok(None);
        }
        let mut shard = MDBInMemoryShard::default();
        for x in &xorbs {
            let Some(f) = self.footer(x)? else { continue };
            // The hash of a one-chunk xorb *is* its chunk's raw hash, and a raw chunk hash is
            // all a shard needs to claim the chunk (it yields the verification and file
            // hashes). Listing such a xorb would hand out a read capability for data the
            // asker never proved to hold, so it is never listed; only its uploader (whose
            // client knows the hash already) can dedup against it.
            if f.len() < 2 {
                continue;
            }
            let chunks: Vec<XorbChunkSequenceEntry> = (0..f.len())
                .map(|c| {
                    let start = if c == 0 {
                        0
                    } else {
                        f.unpacked_ends[c as usize - 1]
                    };
                    XorbChunkSequenceEntry::new(
                        f.hashes[c as usize],
                        f.unpacked_len(c, c + 1),
                        start,
                    )
                })
                .collect();
            let total = f.unpacked_ends.last().copied().unwrap_or(0);
            shard
                .add_xorb_block(MDBXorbInfo {
                    metadata: XorbChunkSequenceHeader::new(*x, chunks.len(), total),
                    chunks,
                })
                .map_err(shard_error)?;
        }
        if shard.is_empty() {
            return Ok(None);
        }
        let plain = shard.to_bytes().map_err(shard_error)?;
        let info = MDBShardInfo::load_from_reader(&mut Cursor::new(&plain)).map_err(shard_error)?;
        let key = HMACKey::from(rand::random::<[u8; 32]>());
        let mut out = Vec::new();
        info.export_as_keyed_shard(
            &mut Cursor::new(&plain),
            &mut out,
            key,
            KEY_LIFETIME,
            false,
            false,
            true,
        )
        .map_err(shard_error)?;
        Ok(Some(out))
    }
}
