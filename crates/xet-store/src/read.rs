//! Reading files back: reconstruction plans for Xet clients (which chunks of which xorbs, at
//! which stored byte offsets) and the reconstructed bytes for everyone else.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use xet_core_structures::xorb_object::parse_chunk_header;

use crate::{FileRecord, MerkleHash, XetError, XetStore};

/// Bytes handed to the socket at a time when streaming a reconstructed file to a client that
/// keeps up.
const OUT_CHUNK: usize = 256 << 10;
/// ... and to one slower than the disk (the queue was full): larger pieces would only wait.
const SLOW_CHUNK: usize = 64 << 10;
/// Chunks in flight between the disk thread and the socket: at most about a megabyte a
/// download, a quarter of that for a slow or stalled client.
const QUEUE: usize = 2;

/// One reconstruction term: chunks `start..end` of `xorb`, `unpacked` bytes once decompressed,
/// stored at bytes `stored.0..stored.1` (end exclusive) of the xorb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub xorb: MerkleHash,
    pub start: u32,
    pub end: u32,
    pub unpacked: u32,
    pub stored: (u32, u32),
}

/// What a client needs to rebuild a byte range of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Bytes to skip in the first term's data.
    pub offset_into_first_range: u64,
    pub terms: Vec<Term>,
}

fn stored_xorb_missing(xorb: &str) -> XetError {
    XetError::Io(io::Error::other(format!("stored xorb {xorb} is missing")))
}

impl XetStore {
    /// The terms covering bytes `start..end` (end exclusive, clamped to the file) of `rec`.
    pub fn plan(&self, rec: &FileRecord, start: u64, end: u64) -> Result<Plan, XetError> {
        if start >= rec.size && rec.size > 0 {
            return Err(XetError::Range { size: rec.size });
        }
        let end = end.min(rec.size);
        let mut plan = Plan {
            offset_into_first_range: 0,
            terms: Vec::new(),
        };
        let mut off = 0u64;
        for seg in &rec.segments {
            let seg_end = off + u64::from(seg.bytes);
            if seg_end <= start {
                off = seg_end;
                continue;
            }
            if off >= end {
                break;
            }
            let hash =
                crate::parse_hash(&seg.xorb).ok_or_else(|| stored_xorb_missing(&seg.xorb))?;
            let footer = self
                .footer(&hash)?
                .ok_or_else(|| stored_xorb_missing(&seg.xorb))?;
            // Narrow the term to the chunks that hold bytes of the range.
            let (mut first, mut last) = (seg.start, seg.end);
            let mut pos = off;
            let mut skipped = 0u64;
            for c in seg.start..seg.end {
                let len = u64::from(footer.unpacked_len(c, c + 1));
                if pos + len <= start {
                    first = c + 1;
                    pos += len;
                    skipped = pos;
                    continue;
                }
                if pos >= end {
                    last = c;
                    break;
                }
                pos += len;
            }
            if plan.terms.is_empty() {
                plan.offset_into_first_range = start.saturating_sub(skipped.max(off));
            }
            plan.terms.push(Term {
                xorb: hash,
                start: first,
                end: last,
                unpacked: footer.unpacked_len(first, last),
                stored: footer.byte_range(first, last),
            });
            off = seg_end;
        }
        Ok(plan)
    }

    /// Feeds bytes `start..end` (end exclusive) of `rec` to `sink`, decompressing chunk by
    /// chunk: memory stays at one chunk however large the file.
    pub fn read_range(
        &self,
        rec: &FileRecord,
        start: u64,
        end: u64,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), XetError> {
        let plan = self.plan(rec, start, end)?;
        let mut skip = plan.offset_into_first_range;
        let mut left = end.min(rec.size) - start.min(rec.size);
        let mut buf = Vec::new();
        for term in &plan.terms {
            let file = File::open(self.xorb_path(&term.xorb))?;
            let mut r = BufReader::with_capacity(1 << 20, file);
            r.seek_relative(i64::from(term.stored.0))?;
            for _ in term.start..term.end {
                if left == 0 {
                    return Ok(());
                }
                let mut hdr = [0u8; 8];
                r.read_exact(&mut hdr)?;
                let header = parse_chunk_header(hdr).map_err(io::Error::other)?;
                buf.resize(header.get_compressed_length() as usize, 0);
                r.read_exact(&mut buf)?;
                let data = header
                    .get_compression_scheme()
                    .and_then(|s| s.decompress_from_slice(&buf))
                    .map_err(|e| io::Error::other(format!("stored chunk unreadable: {e}")))?;
                let mut data: &[u8] = &data;
                if skip > 0 {
                    let n = skip.min(data.len() as u64);
                    data = &data[n as usize..];
                    skip -= n;
                }
                let n = left.min(data.len() as u64) as usize;
                sink(&data[..n])?;
                left -= n as u64;
            }
        }
        if left > 0 {
            return Err(io::Error::other(format!(
                "file {} reconstructs {left} bytes short",
                rec.file_hash
            ))
            .into());
        }
        Ok(())
    }

    /// Streams bytes `start..end` (end exclusive) of `rec` from a blocking thread through a
    /// short queue. A client that takes nothing for `idle` is given up on.
    pub fn stream(
        self: &Arc<Self>,
        rec: Arc<FileRecord>,
        start: u64,
        end: u64,
        idle: Duration,
    ) -> lfs_store::ByteStream {
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(QUEUE);
        let store = self.clone();
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let mut out = BytesMut::with_capacity(SLOW_CHUNK);
            let mut piece = SLOW_CHUNK;
            let send = |item: io::Result<Bytes>| {
                rt.block_on(tx.send_timeout(item, idle))
                    .map_err(|_| io::Error::other("the client stopped reading"))
            };
            let res = store.read_range(&rec, start, end, &mut |b| {
                out.extend_from_slice(b);
                if out.len() >= piece {
                    send(Ok(out.split().freeze()))?;
                    piece = match tx.capacity() {
                        0 => SLOW_CHUNK,
                        c if c == tx.max_capacity() => (piece * 2).min(OUT_CHUNK),
                        _ => piece,
                    };
                }
                Ok(())
            });
            match res {
                Ok(()) if !out.is_empty() => {
                    let _ = send(Ok(out.split().freeze()));
                }
                Ok(()) => {}
                Err(e) => {
                    tracing::error!(file = %rec.file_hash, error = %e, "reconstructing a Xet file failed");
                    let _ = send(Err(io::Error::other(e.to_string())));
                }
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Box::pin(stream)
    }
}
