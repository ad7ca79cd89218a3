//! Reading files back: reconstruction plans for Xet clients (which chunks of which xorbs, at
//! which stored byte offsets) and the reconstructed bytes for everyone else.

use std::io::{self, BufReader, Read};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use xet_core_structures::merklehash::{compute_data_hash, xorb_hash};
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
    /// Re-reads a stored xorb and checks that its chunks still decompress and hash to its
    /// name and to its footer (what `storage migrate` checks before it copies one).
    pub fn check_xorb(&self, hash: &MerkleHash) -> Result<(), XetError> {
        let name = hash.hex();
        let footer = self
            .footer(hash)?
            .ok_or_else(|| XetError::NotFound(format!("xorb {name}")))?;
        let damaged =
            |why: String| XetError::BadXorb(format!("stored xorb {name} is damaged: {why}"));
        let end = footer.ends.last().copied().unwrap_or(0);
        if end == 0 {
            return Err(damaged("it holds no chunks".into()));
        }
        let range = content_store::ByteRange {
            start: 0,
            end: u64::from(end) - 1,
        };
        let mut r = BufReader::with_capacity(
            256 << 10,
            self.backend()
                .open_blocking(&Self::xorb_key(hash), Some(range))?,
        );
        let mut pairs = Vec::with_capacity(footer.hashes.len());
        let mut buf = Vec::new();
        for c in 0..footer.hashes.len() {
            let mut hdr = [0u8; 8];
            r.read_exact(&mut hdr)?;
            let header = parse_chunk_header(hdr).map_err(|e| damaged(e.to_string()))?;
            buf.resize(header.get_compressed_length() as usize, 0);
            r.read_exact(&mut buf)?;
            let data = header
                .get_compression_scheme()
                .and_then(|s| s.decompress_from_slice(&buf))
                .map_err(|e| damaged(e.to_string()))?;
            let h = compute_data_hash(&data);
            if h != footer.hashes[c] {
                return Err(damaged(format!(
                    "chunk {c} does not hash to its footer entry"
                )));
            }
            pairs.push((h, data.len() as u64));
        }
        if xorb_hash(&pairs) != *hash {
            return Err(damaged("its chunks do not hash to its name".into()));
        }
        Ok(())
    }

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
        let mut pieces = Pieces::new(self, rec, start, end)?;
        while pieces.next(self, u64::MAX, sink)? {}
        Ok(())
    }

    /// Streams bytes `start..end` (end exclusive) of `rec` through a short queue, a piece at a
    /// time: each piece is read and decompressed on the blocking pool and the thread handed
    /// back, so a download waiting for its client holds a task, never a thread. A client that
    /// takes nothing for `idle` is given up on.
    pub fn stream(
        self: &Arc<Self>,
        rec: Arc<FileRecord>,
        start: u64,
        end: u64,
        idle: Duration,
    ) -> content_store::ByteStream {
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(QUEUE);
        let store = self.clone();
        tokio::spawn(async move {
            let opened = {
                let (store, rec) = (store.clone(), rec.clone());
                tokio::task::spawn_blocking(move || Pieces::new(&store, &rec, start, end)).await
            };
            let mut pieces = match opened {
                Ok(Ok(p)) => Some(p),
                Ok(Err(e)) => return fail(&tx, &rec, e.to_string()).await,
                Err(e) => return fail(&tx, &rec, e.to_string()).await,
            };
            let mut piece = SLOW_CHUNK;
            while let Some(mut p) = pieces.take() {
                // A full queue means the client is behind: larger pieces would only wait.
                piece = match tx.capacity() {
                    0 => SLOW_CHUNK,
                    c if c == tx.max_capacity() => (piece * 2).min(OUT_CHUNK),
                    _ => piece,
                };
                let store = store.clone();
                let read = tokio::task::spawn_blocking(move || {
                    let mut out = BytesMut::with_capacity(piece);
                    let more = p.next(&store, piece as u64, &mut |b| {
                        out.extend_from_slice(b);
                        Ok(())
                    });
                    (p, more, out)
                })
                .await;
                let (p, more, out) = match read {
                    Ok(x) => x,
                    Err(e) => return fail(&tx, &rec, e.to_string()).await,
                };
                let more = match more {
                    Ok(more) => more,
                    Err(e) => return fail(&tx, &rec, e.to_string()).await,
                };
                if !out.is_empty() && tx.send_timeout(Ok(out.freeze()), idle).await.is_err() {
                    return; // the client went away, or stopped reading
                }
                if more {
                    pieces = Some(p);
                }
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Box::pin(stream)
    }
}

/// Ends a stream with an error, logged (the client sees the body cut short).
async fn fail(tx: &tokio::sync::mpsc::Sender<io::Result<Bytes>>, rec: &FileRecord, e: String) {
    tracing::error!(file = %rec.file_hash, error = %e, "reconstructing a Xet file failed");
    let _ = tx.send(Err(io::Error::other(e))).await;
}

/// A reconstruction under way: its plan and the next chunk to read, so it can be read a piece
/// at a time (each piece on whatever thread is free).
struct Pieces {
    terms: std::vec::IntoIter<Term>,
    /// The open term: its xorb, positioned at its next chunk, and how many chunks are left.
    open: Option<(BufReader<Box<dyn Read + Send>>, u32)>,
    skip: u64,
    left: u64,
    buf: Vec<u8>,
    file_hash: String,
}

impl Pieces {
    fn new(store: &XetStore, rec: &FileRecord, start: u64, end: u64) -> Result<Pieces, XetError> {
        let plan = store.plan(rec, start, end)?;
        Ok(Pieces {
            terms: plan.terms.into_iter(),
            open: None,
            skip: plan.offset_into_first_range,
            left: end.min(rec.size) - start.min(rec.size),
            buf: Vec::new(),
            file_hash: rec.file_hash.clone(),
        })
    }

    /// Feeds decompressed bytes to `sink` until at least `max` went out or the range ended;
    /// whether bytes are left.
    fn next(
        &mut self,
        store: &XetStore,
        max: u64,
        sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<bool, XetError> {
        let mut sent = 0u64;
        while self.left > 0 && sent < max {
            let (r, chunks) = match &mut self.open {
                Some((r, n)) if *n > 0 => (r, n),
                _ => {
                    let Some(term) = self.terms.next() else {
                        return Err(io::Error::other(format!(
                            "file {} reconstructs {} bytes short",
                            self.file_hash, self.left
                        ))
                        .into());
                    };
                    if term.end <= term.start {
                        self.open = None;
                        continue;
                    }
                    // Just the term's stored bytes: one ranged read of the xorb.
                    let range = content_store::ByteRange {
                        start: u64::from(term.stored.0),
                        end: u64::from(term.stored.1) - 1,
                    };
                    let xorb = store
                        .backend()
                        .open_blocking(&XetStore::xorb_key(&term.xorb), Some(range))?;
                    let r = BufReader::with_capacity(256 << 10, xorb);
                    let (r, n) = self.open.insert((r, term.end - term.start));
                    (r, n)
                }
            };
            *chunks -= 1;
            let mut hdr = [0u8; 8];
            r.read_exact(&mut hdr)?;
            let header = parse_chunk_header(hdr).map_err(io::Error::other)?;
            self.buf.resize(header.get_compressed_length() as usize, 0);
            r.read_exact(&mut self.buf)?;
            let data = header
                .get_compression_scheme()
                .and_then(|s| s.decompress_from_slice(&self.buf))
                .map_err(|e| io::Error::other(format!("stored chunk unreadable: {e}")))?;
            let mut data: &[u8] = &data;
            if self.skip > 0 {
                let n = self.skip.min(data.len() as u64);
                data = &data[n as usize..];
                self.skip -= n;
            }
            let n = self.left.min(data.len() as u64) as usize;
            sink(&data[..n])?;
            self.left -= n as u64;
            sent += n as u64;
        }
        Ok(self.left > 0)
    }
}
