//! Re-storing a file that arrived whole (git-lfs, or the HF API's LFS path) as a Xet file, so
//! it dedups against every other revision whatever client sent it.
//!
//! The file is cut with xet-core's own chunker (the one hf_xet runs, so boundaries match a
//! Xet upload of the same bytes) and read twice, streamed: the first pass hashes the chunks
//! and the whole (its SHA-256 must be its name) and learns, from the dedup index, the stored
//! xorbs that hold chunks like these (those of the files that share its first chunk or any
//! of its dedup keys, as a Xet client's global dedup query would); the second pass packs the
//! chunks no stored xorb holds into new xorbs, stored through [`XetStore::put_xorb`] like an
//! upload (verified, claimed). The file record then names stored and new xorbs alike.
//! Memory: the chunk list (about 40 bytes a 64 KiB chunk), the learnt xorbs' chunk tables (at
//! most [`MAX_LEARNT_XORBS`]), and one xorb being packed (at most 64 MiB).

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use xet_core_structures::merklehash::{file_hash, MerkleHash};
use xet_core_structures::metadata_shard::hash_is_global_dedup_eligible;
use xet_core_structures::xorb_object::{Chunk, RawXorbData, SerializedXorbObject};
use xet_data::deduplication::Chunker;

use crate::{FileRecord, Segment, XetError, XetStore, MAX_CHUNKS_PER_XORB};

/// Xorbs whose chunk tables one conversion learns at most (about 64 GiB of stored content).
pub const MAX_LEARNT_XORBS: usize = 1024;
/// Bytes of chunks packed into one new xorb at most (xet-core's limit).
const XORB_BYTES: usize = 64 << 20;
/// How often the compression scheme is re-chosen within a xorb (as hf_xet's default).
const COMPRESSION_RETEST: usize = 32;
/// Bytes read at a time.
const BLOCK: usize = 1 << 20;

/// What re-storing one file did.
#[derive(Debug, Clone)]
pub struct Converted {
    pub record: Arc<FileRecord>,
    /// Its bytes found in xorbs stored before.
    pub reused: u64,
    /// Bytes of the new xorbs it needed (compressed, as stored).
    pub stored: u64,
    pub new_xorbs: usize,
}

/// Where a chunk of the file will be read from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum From {
    /// Chunk `1` of stored xorb `0`.
    Stored(MerkleHash, u32),
    /// Chunk `1` of the `0`th new xorb.
    New(usize, u32),
}

impl XetStore {
    /// Re-stores the file `sha256`, held whole, as a Xet file; `open` reads it from the start
    /// (it is called twice). `None` if a Xet file of that SHA-256 exists already. Refused if
    /// the bytes do not hash to `sha256` (nothing is written).
    pub fn convert(
        &self,
        sha256: &str,
        open: &dyn Fn() -> Result<Box<dyn Read + Send>, XetError>,
    ) -> Result<Option<Converted>, XetError> {
        self.claim(&[content_store::lfs_claim(sha256)])?;
        if self.stored_record(sha256)?.is_some() {
            return Ok(None);
        }

        // Pass 1: the chunks, the whole's SHA-256, and what stored xorbs hold.
        let mut chunks: Vec<(MerkleHash, u32)> = Vec::new();
        let mut keys: Vec<MerkleHash> = Vec::new();
        let mut sha = Sha256::new();
        let mut chunker = Chunker::default();
        let mut r = open()?;
        let mut buf = vec![0u8; BLOCK];
        let mut note = |c: Chunk| {
            if chunks.is_empty() || hash_is_global_dedup_eligible(&c.hash) {
                keys.push(c.hash);
            }
            chunks.push((c.hash, c.data.len() as u32));
        };
        loop {
            let n = crate::ingest::read_full(&mut r, &mut buf)?;
            if n == 0 {
                if let Some(c) = chunker.finish() {
                    note(c);
                }
                break;
            }
            sha.update(&buf[..n]);
            chunker
                .next_block(&buf[..n], false)
                .into_iter()
                .for_each(&mut note);
        }
        drop(r);
        let got = hex::encode(sha.finalize());
        if got != sha256 {
            return Err(XetError::Unproven(format!(
                "the stored object {sha256} hashes to {got}"
            )));
        }
        let size: u64 = chunks.iter().map(|c| u64::from(c.1)).sum();
        if size > self.max_file_size() {
            return Err(crate::over_limit(format!(
                "file {sha256} is over {} bytes",
                self.max_file_size()
            )));
        }
        let known = self.learn(&keys)?;

        // The plan: each chunk from a stored xorb that holds it, or into a new one.
        let mut plan = Vec::with_capacity(chunks.len());
        let (mut new_xorb, mut new_len, mut new_bytes) = (0usize, 0u32, 0usize);
        let mut used: Vec<MerkleHash> = Vec::new();
        for (hash, len) in &chunks {
            match known.get(hash) {
                Some(&(x, i)) => {
                    if used.last() != Some(&x) && !used.contains(&x) {
                        used.push(x);
                    }
                    plan.push(From::Stored(x, i));
                }
                None => {
                    if new_len as usize == MAX_CHUNKS_PER_XORB
                        || (new_len > 0 && new_bytes + *len as usize > XORB_BYTES)
                    {
                        (new_xorb, new_len, new_bytes) = (new_xorb + 1, 0, 0);
                    }
                    plan.push(From::New(new_xorb, new_len));
                    new_len += 1;
                    new_bytes += *len as usize;
                }
            }
        }
        // The stored xorbs it will name are claimed, so a collector leaves them alone; one
        // deleted meanwhile would fail the record's check below, so it is looked for again.
        self.claim(
            &used
                .iter()
                .map(|x| content_store::xorb_claim(&x.hex()))
                .collect::<Vec<_>>(),
        )?;
        for x in &used {
            if self.stored_footer(x)?.is_none() {
                return Err(XetError::NotFound(format!(
                    "xorb {} (deleted while file {sha256} was being re-stored; run again)",
                    x.hex()
                )));
            }
        }

        // Pass 2: pack the new chunks into xorbs.
        let mut new_hashes: Vec<MerkleHash> = Vec::new();
        let mut stored = 0u64;
        if plan.iter().any(|p| matches!(p, From::New(..))) {
            let mut r = open()?;
            let mut pending: Vec<Chunk> = Vec::new();
            for ((hash, len), p) in chunks.iter().zip(&plan) {
                let mut data = vec![0u8; *len as usize];
                r.read_exact(&mut data)?;
                let From::New(x, _) = *p else { continue };
                if x != new_hashes.len() && !pending.is_empty() {
                    stored += self.store_new_xorb(&mut pending, &mut new_hashes)?;
                }
                pending.push(Chunk {
                    hash: *hash,
                    data: data.into(),
                });
            }
            if !pending.is_empty() {
                stored += self.store_new_xorb(&mut pending, &mut new_hashes)?;
            }
        }

        // The record: runs of consecutive chunks of one xorb are one term.
        let mut segments: Vec<Segment> = Vec::new();
        let mut last: Option<(MerkleHash, u32)> = None;
        let mut reused = 0u64;
        for ((_, len), p) in chunks.iter().zip(&plan) {
            let (x, i) = match *p {
                From::Stored(x, i) => {
                    reused += u64::from(*len);
                    (x, i)
                }
                From::New(n, i) => (new_hashes[n], i),
            };
            match (last, segments.last_mut()) {
                (Some((lx, li)), Some(seg)) if lx == x && li + 1 == i => {
                    seg.end = i + 1;
                    seg.bytes += len;
                }
                _ => segments.push(Segment {
                    xorb: x.hex(),
                    start: i,
                    end: i + 1,
                    bytes: *len,
                }),
            }
            last = Some((x, i));
        }
        let hashes: Vec<(MerkleHash, u64)> =
            chunks.iter().map(|(h, l)| (*h, u64::from(*l))).collect();
        let record = Arc::new(FileRecord {
            file_hash: file_hash(&hashes).hex(),
            sha256: sha256.to_owned(),
            size,
            segments,
        });
        let json = serde_json::to_vec(record.as_ref()).map_err(std::io::Error::other)?;
        self.write_atomic("files", sha256, &json)?;
        self.write_atomic("by-xet", &record.file_hash, sha256.as_bytes())?;
        for k in &keys {
            self.index_chunk(k, &record.file_hash)?;
        }
        Ok(Some(Converted {
            record,
            reused,
            stored,
            new_xorbs: new_hashes.len(),
        }))
    }

    /// Packs `pending` into a xorb, stores it, notes its hash; returns its stored size.
    fn store_new_xorb(
        &self,
        pending: &mut Vec<Chunk>,
        hashes: &mut Vec<MerkleHash>,
    ) -> Result<u64, XetError> {
        let raw = RawXorbData::from_chunks(pending, vec![0]);
        let hash = raw.hash();
        let xorb = SerializedXorbObject::from_xorb(raw, false, "auto", COMPRESSION_RETEST)
            .map_err(|e| std::io::Error::other(format!("packing a xorb: {e}")))?;
        let len = xorb.serialized_data.len() as u64;
        self.put_xorb(&hash, &mut xorb.serialized_data.as_slice())?;
        pending.clear();
        hashes.push(hash);
        Ok(len)
    }

    /// The stored xorbs' chunks that the files sharing one of `keys` use: chunk hash -> (xorb,
    /// chunk index), from at most [`MAX_LEARNT_XORBS`] xorbs.
    fn learn(
        &self,
        keys: &[MerkleHash],
    ) -> Result<HashMap<MerkleHash, (MerkleHash, u32)>, XetError> {
        let mut xorbs: Vec<MerkleHash> = Vec::new();
        for key in keys {
            self.indexed_xorbs(key, usize::MAX, MAX_LEARNT_XORBS, &mut xorbs)?;
        }
        let mut known = HashMap::new();
        for x in xorbs {
            let Some(footer) = self.footer(&x)? else {
                continue;
            };
            for (i, h) in footer.hashes.iter().enumerate() {
                known.entry(*h).or_insert((x, i as u32));
            }
        }
        Ok(known)
    }
}
