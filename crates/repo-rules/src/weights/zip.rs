//! Just enough of the zip format to look inside PyTorch checkpoints and `.npz` archives with
//! ranged reads: the end-of-central-directory record (zip64 too), the central directory, each
//! member's local header, and a member's bytes or first bytes. Sizes are capped and members
//! may not overlap, so a zip bomb or a lying directory costs at most the caps.

use std::io::Read;

/// A ranged read of the object: `(offset, len)` to bytes, `None` if it cannot be read.
pub type ReadAt<'a> = &'a dyn Fn(u64, u64) -> Option<Vec<u8>>;

const MAX_DIRECTORY: u64 = 64 << 20;
pub const MAX_MEMBER: u64 = 64 << 20;
const MAX_ENTRIES: usize = 100_000;

pub fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

fn u16le(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}
fn u32le(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(
        b[at..at + 4].try_into().expect("4 bytes"),
    ))
}
fn u64le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// One member of a zip, as its central directory and local header place it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    /// 0: stored; 8: deflated.
    pub method: u64,
    pub compressed: u64,
    pub uncompressed: u64,
    local_offset: u64,
    /// Where the member's bytes start (after its local header).
    pub data_at: u64,
}

/// Every member of the zip, as its directory describes them (see [`refuse_overlaps`]).
pub fn entries(read: ReadAt<'_>, size: u64) -> Result<Vec<Entry>, String> {
    let tail_len = size.min(65_535 + 22);
    let tail = read(size - tail_len, tail_len).ok_or("cannot read the end of the zip")?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..].starts_with(b"PK\x05\x06"))
        .ok_or("no end-of-central-directory record: not a valid zip")?;
    let mut entries = u16le(&tail, eocd + 10);
    let mut dir_size = u32le(&tail, eocd + 12);
    let mut dir_offset = u32le(&tail, eocd + 16);
    // zip64: the locator sits just before the EOCD and points at the zip64 EOCD record.
    if eocd >= 20 && tail[eocd - 20..].starts_with(b"PK\x06\x07") {
        let z64_at = u64le(&tail, eocd - 20 + 8);
        let rec = read(z64_at, 56).ok_or("cannot read the zip64 directory record")?;
        if !rec.starts_with(b"PK\x06\x06") {
            return Err("bad zip64 directory record".into());
        }
        entries = u64le(&rec, 32);
        dir_size = u64le(&rec, 40);
        dir_offset = u64le(&rec, 48);
    }
    if dir_size > MAX_DIRECTORY
        || entries as usize > MAX_ENTRIES
        || dir_offset.saturating_add(dir_size) > size
    {
        return Err(format!(
            "the zip directory ({entries} entries, {dir_size} bytes) is out of bounds"
        ));
    }
    let dir = read(dir_offset, dir_size).ok_or("cannot read the zip directory")?;
    let mut wanted = Vec::new();
    let mut at = 0usize;
    for _ in 0..entries {
        if dir.len() < at + 46 || !dir[at..].starts_with(b"PK\x01\x02") {
            return Err("corrupt zip central directory".into());
        }
        let (name_len, extra_len, comment_len) = (
            u16le(&dir, at + 28) as usize,
            u16le(&dir, at + 30) as usize,
            u16le(&dir, at + 32) as usize,
        );
        let name = String::from_utf8_lossy(
            dir.get(at + 46..at + 46 + name_len)
                .ok_or("corrupt zip entry name")?,
        )
        .into_owned();
        let mut m = Entry {
            name,
            method: u16le(&dir, at + 10),
            compressed: u32le(&dir, at + 20),
            uncompressed: u32le(&dir, at + 24),
            local_offset: u32le(&dir, at + 42),
            data_at: 0,
        };
        // zip64 extra field (0x0001) replaces 0xFFFFFFFF values, in this order.
        let extra = dir
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .unwrap_or(&[]);
        let mut e = 0;
        while e + 4 <= extra.len() {
            let (id, len) = (u16le(extra, e), u16le(extra, e + 2) as usize);
            if id == 1 {
                let mut f = e + 4;
                for v in [&mut m.uncompressed, &mut m.compressed, &mut m.local_offset] {
                    if *v == 0xFFFF_FFFF && f + 8 <= extra.len() {
                        *v = u64le(extra, f);
                        f += 8;
                    }
                }
            }
            e += 4 + len;
        }
        at += 46 + name_len + extra_len + comment_len;
        wanted.push(m);
    }
    for m in &mut wanted {
        let head = read(m.local_offset, 30).ok_or("cannot read a zip local header")?;
        if head.len() < 30 || !head.starts_with(b"PK\x03\x04") {
            return Err(format!("{}: corrupt local header", m.name));
        }
        m.data_at = m.local_offset + 30 + u16le(&head, 26) + u16le(&head, 28);
        if m.data_at.saturating_add(m.compressed) > size {
            return Err(format!("{}: member runs past the end of the file", m.name));
        }
    }
    Ok(wanted)
}

/// Refuses members whose bytes overlap another's: one deflate stream named by forty entries
/// would otherwise be inflated forty times.
pub fn refuse_overlaps(entries: &[Entry]) -> Result<(), String> {
    let mut spans: Vec<(u64, u64, &str)> = entries
        .iter()
        .map(|m| (m.local_offset, m.data_at + m.compressed, m.name.as_str()))
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(format!(
                "the zip members {} and {} overlap: a zip whose entries share bytes is refused",
                w[0].2, w[1].2
            ));
        }
    }
    Ok(())
}

/// A member's bytes, decompressed, at most `cap` of them (more is an error).
pub fn member_bytes(read: ReadAt<'_>, m: &Entry, cap: u64) -> Result<Vec<u8>, String> {
    if m.compressed > MAX_MEMBER.max(cap) || m.uncompressed > cap {
        return Err(format!(
            "{} is {} bytes, over the {cap}-byte limit for a member read whole",
            m.name,
            m.uncompressed.max(m.compressed)
        ));
    }
    let raw = read(m.data_at, m.compressed).ok_or("cannot read a zip member")?;
    match m.method {
        0 => Ok(raw),
        8 => {
            let mut d = Vec::new();
            flate2::read::DeflateDecoder::new(&raw[..])
                .take(cap + 1)
                .read_to_end(&mut d)
                .map_err(|e| format!("{}: {e}", m.name))?;
            if d.len() as u64 > cap {
                return Err(format!("{} inflates past the {cap}-byte limit", m.name));
            }
            Ok(d)
        }
        other => Err(format!(
            "{}: unsupported compression method {other}",
            m.name
        )),
    }
}

/// The first bytes of a member (up to `n`), decompressed: enough to tell what it holds.
pub fn member_head(read: ReadAt<'_>, m: &Entry, n: usize) -> Result<Vec<u8>, String> {
    match m.method {
        0 => read(m.data_at, m.compressed.min(n as u64))
            .ok_or_else(|| "cannot read a zip member".into()),
        8 => {
            let raw =
                read(m.data_at, m.compressed.min(64 << 10)).ok_or("cannot read a zip member")?;
            let mut d = Vec::new();
            let _ = flate2::read::DeflateDecoder::new(&raw[..])
                .take(n as u64)
                .read_to_end(&mut d);
            Ok(d)
        }
        other => Err(format!(
            "{}: unsupported compression method {other}",
            m.name
        )),
    }
}
