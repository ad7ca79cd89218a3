//! The object's bytes as the walk reads them: a small window of ranged reads, so big byte
//! strings are skipped rather than read, and text lines and kept strings have limits.

use super::super::zip::ReadAt;

/// Longest string kept as a possible module or name; longer ones are only "a long string".
const MAX_NAME: usize = 4096;
/// Longest text line (protocol 0 arguments).
const MAX_LINE: usize = 1 << 16;
/// Bytes read from the object at a time.
pub(super) const WINDOW: u64 = 256 << 10;

/// The object's bytes through a window of ranged reads.
pub(super) struct Reader<'a> {
    read: ReadAt<'a>,
    size: u64,
    pub(super) pos: u64,
    buf: Vec<u8>,
    buf_at: u64,
    /// Where the current `FRAME` ends, while the walk is inside one.
    frame_end: Option<u64>,
    /// Whether the walk met a `FRAME` whose length fits the object: only a pickle has one
    /// (random bytes give a plausible 8-byte length about once in 2^24 tries), so what
    /// follows is a pickle even if it does not start with PROTO.
    pub(super) framed: bool,
}

impl<'a> Reader<'a> {
    pub(super) fn new(read: ReadAt<'a>, size: u64) -> Self {
        Reader {
            read,
            size,
            pos: 0,
            buf: Vec::new(),
            buf_at: 0,
            frame_end: None,
            framed: false,
        }
    }

    /// A `FRAME` of `len` bytes starts here. What a read across its end gives depends on the
    /// file object CPython reads from (its C unpickler drops the rest of the frame when a
    /// line or a string runs past it, if the frame is all it has buffered), so such a read is
    /// refused rather than guessed; so is a frame inside a frame, which no pickler writes.
    pub(super) fn frame(&mut self, len: u64) -> Result<(), String> {
        self.framed |= len <= self.size.saturating_sub(self.pos);
        if self.frame_end.is_some_and(|e| self.pos < e) {
            return Err("a FRAME inside a frame".into());
        }
        self.frame_end = Some(self.pos.saturating_add(len));
        Ok(())
    }

    /// Ends the frame the walk has left; refuses a read of `n` bytes that would cross its end.
    fn within_frame(&mut self, n: u64) -> Result<(), String> {
        match self.frame_end {
            Some(e) if self.pos >= e => self.frame_end = None,
            Some(e) if self.pos.saturating_add(n) > e => {
                return Err(format!("a read across the end of the frame at byte {e}"));
            }
            _ => {}
        }
        Ok(())
    }

    /// Makes `[pos, pos + n)` (n ≤ WINDOW) available in the window, as far as the object goes.
    fn fill(&mut self, n: u64) -> Result<(), String> {
        let end = (self.pos + n).min(self.size);
        if self.pos >= self.buf_at && end <= self.buf_at + self.buf.len() as u64 {
            return Ok(());
        }
        let len = WINDOW.max(n).min(self.size - self.pos.min(self.size));
        self.buf = (self.read)(self.pos, len).ok_or("the object could not be read")?;
        self.buf_at = self.pos;
        Ok(())
    }

    pub(super) fn peek2(&mut self) -> Option<(u8, u8)> {
        self.fill(2).ok()?;
        let at = (self.pos - self.buf_at) as usize;
        Some((*self.buf.get(at)?, *self.buf.get(at + 1)?))
    }

    /// The next `n` bytes (n ≤ WINDOW).
    pub(super) fn take(&mut self, n: usize) -> Result<&[u8], String> {
        self.within_frame(n as u64)?;
        self.fill(n as u64)?;
        let at = (self.pos - self.buf_at) as usize;
        let s = self
            .buf
            .get(at..at + n)
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        self.pos += n as u64;
        Ok(s)
    }

    pub(super) fn skip(&mut self, n: u64) -> Result<(), String> {
        self.within_frame(n)?;
        if self.size - self.pos.min(self.size) < n {
            return Err(format!("truncated at byte {}", self.pos));
        }
        self.pos += n;
        Ok(())
    }

    pub(super) fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn uint(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .rev()
            .fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    }

    /// A protocol 0 argument: the bytes up to a newline (which is consumed, not returned).
    /// It may be empty: `UNICODE` and `PERSID` accept that; the opcodes that do not say so.
    /// A line over the limit is an error (memo keys, which CPython refuses past 4300 digits).
    pub(super) fn line(&mut self) -> Result<Vec<u8>, String> {
        let at = self.pos;
        self.name_line()?
            .ok_or_else(|| format!("a line over {MAX_LINE} bytes at byte {at}"))
    }

    /// A line argument CPython reads whatever its length (`GLOBAL` and `INST` names, `UNICODE`,
    /// `STRING`, numbers, `PERSID`): as [`Reader::line`], except that a line over the limit
    /// is read to its end and given as `None`.
    pub(super) fn name_line(&mut self) -> Result<Option<Vec<u8>>, String> {
        let at = self.pos;
        let frame = self.frame_end.filter(|e| at < *e);
        let mut out = Vec::new();
        let mut long = false;
        loop {
            if frame == Some(self.pos) {
                return Err(format!("a line across the end of its frame at byte {at}"));
            }
            let b = self
                .byte()
                .map_err(|_| format!("unterminated line at byte {at}"))?;
            if b == b'\n' {
                break;
            }
            if out.len() == MAX_LINE {
                long = true;
                out = Vec::new();
            }
            if !long {
                out.push(b);
            }
        }
        Ok((!long).then_some(out))
    }

    /// A string argument of `n` bytes: kept if short enough to be a name, else skipped.
    pub(super) fn string(&mut self, n: u64) -> Result<Option<Vec<u8>>, String> {
        if n as usize <= MAX_NAME {
            Ok(Some(self.take(n as usize)?.to_vec()))
        } else {
            self.skip(n)?;
            Ok(None)
        }
    }
}
