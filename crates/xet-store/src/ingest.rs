//! Accepting xorbs and shards: everything is checked against the bytes before anything is
//! stored, and what is stored becomes visible whole (temp file, fsync, rename).

use std::io::{BufReader, Read, Write};

use sha2::{Digest, Sha256};
use xet_core_structures::error::CoreError;
use xet_core_structures::merklehash::{compute_data_hash, file_hash, xorb_hash, MerkleHash};
use xet_core_structures::metadata_shard::chunk_verification::range_hash_from_chunks;
use xet_core_structures::metadata_shard::file_structs::MDBFileInfoView;
use xet_core_structures::metadata_shard::hash_is_global_dedup_eligible;
use xet_core_structures::metadata_shard::streaming_shard::{
    process_shard_file_info_section, process_shard_xorb_info_section,
};
use xet_core_structures::metadata_shard::xorb_structs::MDBXorbInfoView;
use xet_core_structures::metadata_shard::MDBShardFileHeader;
use xet_core_structures::xorb_object::{parse_chunk_header, XorbObject, XorbObjectInfoV1};

use crate::{
    bad_shard, bad_xorb, over_limit, unproven, FileRecord, Segment, XetError, XetStore,
    MAX_CHUNKS_PER_XORB, MAX_CHUNK_BYTES, MAX_FILE_TERMS, MAX_SHARD_FILES, MAX_SHARD_XORBS,
    MAX_XORB_BYTES,
};

/// A file a shard registered: its record, and whether this shard added it.
#[derive(Debug, Clone)]
pub struct Registered {
    pub record: std::sync::Arc<FileRecord>,
    pub new: bool,
}

impl XetStore {
    /// Reads a xorb from `body`, checks every chunk as it arrives (decompressed and hashed on
    /// this thread while the bytes go to a temp file) and the xorb hash at the end against
    /// `expected`, then stores it durably. Returns false if it was stored already. The body
    /// may end with the client's footer or not; the stored footer is rebuilt from the chunks.
    pub fn put_xorb(&self, expected: &MerkleHash, body: &mut dyn Read) -> Result<bool, XetError> {
        let key = Self::xorb_key(expected);
        self.claim(&[content_store::xorb_claim(&expected.hex())])?;
        if self.has_xorb(expected)? {
            return Ok(false);
        }
        let tmp = self.spool()?;
        // Chunks go to the file as they are (one writev of header and data each, no copy
        // into a buffer); the body is read without a buffer of its own for the same reason.
        let mut w = tmp.as_file().try_clone()?;
        let r = body;
        let mut hashes = Vec::new();
        let mut sizes = Vec::new();
        let mut ends = Vec::new();
        let mut unpacked_ends = Vec::new();
        let (mut pos, mut unpacked) = (0u64, 0u32);
        let mut buf = Vec::new();
        loop {
            let n = hashes.len();
            let mut hdr = [0u8; 8];
            match read_full(r, &mut hdr)? {
                0 => break,
                8 => {}
                _ => {
                    return Err(bad_xorb(format!(
                        "the xorb ends inside the header of chunk {n}"
                    )))
                }
            }
            let header = match parse_chunk_header(hdr) {
                Ok(h) => h,
                // The client's footer starts here; ours replaces it.
                Err(CoreError::ChunkHeaderParse) if n > 0 => {
                    std::io::copy(r, &mut std::io::sink())?;
                    break;
                }
                Err(e) => {
                    return Err(bad_xorb(format!(
                        "chunk {n} of the xorb has a bad header: {e}"
                    )))
                }
            };
            let clen = header.get_compressed_length();
            let ulen = header.get_uncompressed_length();
            if ulen > MAX_CHUNK_BYTES || clen > MAX_CHUNK_BYTES + (64 << 10) {
                return Err(bad_xorb(format!(
                    "chunk {n} of the xorb claims {clen} stored and {ulen} unpacked bytes, more than a chunk may have"
                )));
            }
            buf.resize(clen as usize, 0);
            if read_full(r, &mut buf)? != buf.len() {
                return Err(bad_xorb(format!("the xorb ends inside chunk {n}")));
            }
            let scheme = header
                .get_compression_scheme()
                .map_err(|e| bad_xorb(format!("chunk {n} of the xorb: {e}")))?;
            let data = scheme
                .decompress_from_slice(&buf)
                .map_err(|e| bad_xorb(format!("chunk {n} of the xorb does not decompress: {e}")))?;
            if data.len() != ulen as usize {
                return Err(bad_xorb(format!(
                    "chunk {n} of the xorb unpacks to {} bytes, not the {ulen} its header says",
                    data.len()
                )));
            }
            hashes.push(compute_data_hash(&data));
            sizes.push(u64::from(ulen));
            write_both(&mut w, &hdr, &buf)?;
            pos += 8 + u64::from(clen);
            unpacked = unpacked
                .checked_add(ulen)
                .ok_or_else(|| over_limit("the xorb unpacks to more than 4 GiB"))?;
            if hashes.len() > MAX_CHUNKS_PER_XORB || pos > MAX_XORB_BYTES {
                return Err(over_limit(format!(
                    "the xorb has more than {MAX_CHUNKS_PER_XORB} chunks or {MAX_XORB_BYTES} bytes"
                )));
            }
            ends.push(pos as u32);
            unpacked_ends.push(unpacked);
        }
        if hashes.is_empty() {
            return Err(bad_xorb("the xorb holds no chunks"));
        }
        let pairs: Vec<(MerkleHash, u64)> = hashes.iter().copied().zip(sizes).collect();
        let computed = xorb_hash(&pairs);
        if computed != *expected {
            return Err(bad_xorb(format!(
                "the xorb's chunks hash to {}, not to {}",
                computed.hex(),
                expected.hex()
            )));
        }
        let mut info = XorbObjectInfoV1::default();
        info.xorb_hash = computed;
        info.num_chunks = hashes.len() as u32;
        info.chunk_hashes = hashes;
        info.chunk_boundary_offsets = ends;
        info.unpacked_chunk_offsets = unpacked_ends;
        info.fill_in_boundary_offsets();
        let mut footer = Vec::new();
        XorbObject::serialize_given_info(&mut footer, info)
            .map_err(|e| std::io::Error::other(format!("writing the xorb footer: {e}")))?;
        w.write_all(&footer)?;
        drop(w);
        // Create-only: a racing upload of the same xorb stored the same bytes.
        Ok(self.backend().put_file_blocking(&key, tmp)?)
    }

    /// Verifies the shard spooled in `body` and registers its files. Every xorb it names must
    /// be stored and described truly; every file term must carry the verification hash of the
    /// chunks it names (proof the uploader holds them) and the chunks must hash to the file
    /// hash. A file's SHA-256 is computed from its reconstructed bytes the first time it is
    /// seen; a SHA-256 the client sent must agree. Nothing is registered unless all checks
    /// pass.
    pub fn put_shard(&self, body: tempfile::NamedTempFile) -> Result<Vec<Registered>, XetError> {
        let size = body.as_file().metadata()?.len();
        let mut r = BufReader::new(body.reopen()?);
        let shard = Shard::read(&mut r, size)
            .map_err(|e| bad_shard(format!("the shard is not a valid shard: {e}")))?;

        // Every xorb the shard names is claimed, then looked for in the store itself (a
        // collector may have deleted one since it was last read into memory).
        let mut named: Vec<MerkleHash> = shard.xorbs.iter().map(|x| x.xorb_hash()).collect();
        for f in &shard.files {
            named.extend((0..f.num_entries()).map(|j| f.entry(j).xorb_hash));
        }
        named.sort_unstable();
        named.dedup();
        if named.len() > MAX_SHARD_XORBS {
            return Err(over_limit(format!(
                "the shard names {} xorbs; at most {MAX_SHARD_XORBS} are allowed",
                named.len()
            )));
        }
        self.claim(
            &named
                .iter()
                .map(|h| content_store::xorb_claim(&h.hex()))
                .collect::<Vec<_>>(),
        )?;
        let mut footers = std::collections::HashMap::with_capacity(named.len());
        for h in named {
            footers.insert(h, self.stored_footer(&h)?);
        }
        let footer_of = |h: &MerkleHash| footers.get(h).cloned().flatten();

        for i in 0..shard.num_xorb() {
            let Some(x) = shard.xorb(i) else { break };
            let name = x.xorb_hash().hex();
            let footer = footer_of(&x.xorb_hash()).ok_or_else(|| {
                unproven(format!(
                    "the shard lists xorb {name}, which was never uploaded"
                ))
            })?;
            let n = x.num_entries();
            let same = n == footer.hashes.len()
                && (0..n).all(|c| {
                    let e = x.chunk(c);
                    e.chunk_hash == footer.hashes[c]
                        && e.unpacked_segment_bytes == footer.unpacked_len(c as u32, c as u32 + 1)
                });
            if !same {
                return Err(bad_shard(format!(
                    "the shard's chunk list for xorb {name} does not match the stored xorb"
                )));
            }
        }

        if shard.num_files() > MAX_SHARD_FILES {
            return Err(over_limit(format!(
                "the shard registers {} files; at most {MAX_SHARD_FILES} are allowed",
                shard.num_files()
            )));
        }
        // What registering costs: every new file is rebuilt and hashed, so the bytes they
        // add up to are bounded before any of it is done.
        let mut to_hash = 0u64;
        let mut checked = Vec::new();
        for i in 0..shard.num_files() {
            let Some(f) = shard.file(i) else { break };
            let name = f.file_hash().hex();
            let n = f.num_entries();
            if n > MAX_FILE_TERMS {
                return Err(over_limit(format!(
                    "file {name} has {n} terms; at most {MAX_FILE_TERMS} are allowed"
                )));
            }
            if n > 0 && !f.contains_verification() {
                return Err(unproven(format!(
                    "file {name} has no verification entries, so the upload does not prove it holds the data"
                )));
            }
            let mut chunks = Vec::new();
            let mut segments = Vec::with_capacity(n);
            let mut size = 0u64;
            for j in 0..n {
                let e = f.entry(j);
                let xorb = e.xorb_hash.hex();
                let footer = footer_of(&e.xorb_hash).ok_or_else(|| {
                    unproven(format!(
                        "file {name} uses xorb {xorb}, which was never uploaded"
                    ))
                })?;
                let (s, t) = (e.chunk_index_start, e.chunk_index_end);
                if s >= t || t > footer.len() {
                    return Err(unproven(format!(
                        "term {j} of file {name} names chunks {s}..{t} of xorb {xorb}, which has {}",
                        footer.len()
                    )));
                }
                let hs = &footer.hashes[s as usize..t as usize];
                if range_hash_from_chunks(hs) != f.verification(j).range_hash {
                    return Err(unproven(format!(
                        "term {j} of file {name}: the verification hash does not match chunks {s}..{t} of xorb {xorb}"
                    )));
                }
                let bytes = footer.unpacked_len(s, t);
                if bytes != e.unpacked_segment_bytes {
                    return Err(unproven(format!(
                        "term {j} of file {name} claims {} bytes, but chunks {s}..{t} of xorb {xorb} hold {bytes}",
                        e.unpacked_segment_bytes
                    )));
                }
                for c in s..t {
                    chunks.push((
                        footer.hashes[c as usize],
                        u64::from(footer.unpacked_len(c, c + 1)),
                    ));
                }
                size += u64::from(bytes);
                if size > self.max_file_size {
                    return Err(over_limit(format!(
                        "file {name} is over {} bytes, the largest file this server accepts",
                        self.max_file_size
                    )));
                }
                segments.push(Segment {
                    xorb,
                    start: s,
                    end: t,
                    bytes,
                });
            }
            if file_hash(&chunks) != f.file_hash() {
                return Err(unproven(format!(
                    "the chunks of file {name} do not hash to its file hash"
                )));
            }
            let claimed = f.metadata_ext().map(|m| m.sha256);
            // Dedup keys: the file's first chunk and the chunks xet-core marks eligible.
            let keys: Vec<MerkleHash> = chunks
                .iter()
                .enumerate()
                .filter(|(i, (h, _))| *i == 0 || hash_is_global_dedup_eligible(h))
                .map(|(_, (h, _))| *h)
                .collect();
            let rec = FileRecord {
                file_hash: name,
                sha256: String::new(),
                size,
                segments,
            };
            to_hash += size;
            if to_hash > self.max_file_size.saturating_mul(2) {
                return Err(over_limit(format!(
                    "the shard's files add up to over {} bytes; send them in several shards",
                    self.max_file_size.saturating_mul(2)
                )));
            }
            checked.push((f.file_hash(), claimed, keys, rec));
        }

        let mut out = Vec::new();
        let mut keys_of = Vec::new();
        for (hash, claimed, keys, mut rec) in checked {
            // A file registered before is claimed, then read from the store itself; a new
            // one is claimed once its SHA-256 is known, before it is written.
            let known = match self.sha256_of_file_hash(&hash)? {
                Some(sha) => {
                    self.claim(&[content_store::lfs_claim(&sha)])?;
                    self.sha256_of_file_hash(&hash)?
                        .map(|sha| self.stored_record(&sha))
                        .transpose()?
                        .flatten()
                }
                None => None,
            };
            let (record, new) = match known {
                Some(known) => (known, false),
                None => {
                    let mut h = Sha256::new();
                    self.read_range(&rec, 0, rec.size, &mut |b| {
                        h.update(b);
                        Ok(())
                    })?;
                    rec.sha256 = hex::encode(h.finalize());
                    self.claim(&[content_store::lfs_claim(&rec.sha256)])?;
                    (std::sync::Arc::new(rec), true)
                }
            };
            if let Some(c) = claimed {
                if hex::encode(c.as_bytes()) != record.sha256 && c.hex() != record.sha256 {
                    return Err(unproven(format!(
                        "the shard gives file {} the SHA-256 {}, but its bytes hash to {}",
                        record.file_hash,
                        hex::encode(c.as_bytes()),
                        record.sha256
                    )));
                }
            }
            keys_of.push(keys);
            out.push(Registered { record, new });
        }

        // All checks passed: register. Records first, then the indexes that point at them.
        for reg in out.iter().filter(|r| r.new) {
            let rec = &reg.record;
            let json = serde_json::to_vec(rec.as_ref()).map_err(std::io::Error::other)?;
            self.write_atomic("files", &rec.sha256, &json)?;
            self.write_atomic("by-xet", &rec.file_hash, rec.sha256.as_bytes())?;
        }
        for (reg, keys) in out.iter().zip(keys_of) {
            for k in keys {
                self.index_chunk(&k, &reg.record.file_hash)?;
            }
        }
        Ok(out)
    }
}

/// A shard's file and xorb sections, read with xet-core's section readers under a byte budget
/// of the shard's own size: a header claiming gigabytes of entries is refused before anything
/// is allocated for it (`MDBMinimalShard::from_reader` passes no budget; found by fuzzing).
struct Shard {
    files: Vec<MDBFileInfoView>,
    xorbs: Vec<MDBXorbInfoView>,
}

impl Shard {
    fn read(r: &mut impl Read, size: u64) -> Result<Shard, CoreError> {
        MDBShardFileHeader::deserialize(r)?;
        let mut files = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let left = process_shard_file_info_section(
            r,
            |f: MDBFileInfoView| {
                if seen.insert(f.file_hash()) {
                    files.push(f);
                }
                Ok(())
            },
            Some(size),
        )?;
        let mut xorbs = Vec::new();
        process_shard_xorb_info_section(
            r,
            |x: MDBXorbInfoView| {
                xorbs.push(x);
                Ok(())
            },
            left,
        )?;
        Ok(Shard { files, xorbs })
    }

    fn num_xorb(&self) -> usize {
        self.xorbs.len()
    }

    fn xorb(&self, i: usize) -> Option<&MDBXorbInfoView> {
        self.xorbs.get(i)
    }

    fn num_files(&self) -> usize {
        self.files.len()
    }

    fn file(&self, i: usize) -> Option<&MDBFileInfoView> {
        self.files.get(i)
    }
}

/// Writes `a` then `b` with as few system calls as the kernel allows (writev).
fn write_both(w: &mut impl Write, a: &[u8], b: &[u8]) -> std::io::Result<()> {
    let mut bufs = [std::io::IoSlice::new(a), std::io::IoSlice::new(b)];
    let mut slices = &mut bufs[..];
    while !slices.is_empty() {
        match w.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends; returns how many bytes it got.
pub(crate) fn read_full(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
