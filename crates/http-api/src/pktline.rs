//! Just enough of git's pkt-line framing to refuse a malformed request with a clear 400 before
//! git is spawned, and to frame the few messages the server writes itself (busy, errors).
//! Git parses the content; this only checks the framing.

/// The largest pkt-line git allows (LARGE_PACKET_MAX), header included.
const MAX_PKT_LEN: usize = 65520;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PktError {
    #[error("malformed pkt-line: length header {0:?} is not four hex digits")]
    BadLength(String),
    #[error("malformed pkt-line: length {0} is invalid")]
    InvalidLength(usize),
    #[error("truncated pkt-line: the request ends inside a packet")]
    Truncated,
    #[error("the request is empty")]
    Empty,
    #[error("the request does not end with a flush packet")]
    Unterminated,
}

/// One packet's kind and the offset right after it.
#[derive(Debug, PartialEq, Eq)]
enum Pkt {
    /// `0000`, `0001` or `0002`: flush, delimiter, response end.
    Special(u8),
    Data,
}

/// Reads the packet at `buf[at..]`: `Ok(None)` when more bytes are needed.
fn next(buf: &[u8], at: usize) -> Result<Option<(Pkt, usize)>, PktError> {
    let Some(head) = buf.get(at..at + 4) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(head)
        .ok()
        .filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| PktError::BadLength(String::from_utf8_lossy(head).into_owned()))?;
    let len = usize::from_str_radix(text, 16).expect("four hex digits parse");
    match len {
        0..=2 => Ok(Some((Pkt::Special(len as u8), at + 4))),
        3 => Err(PktError::InvalidLength(len)),
        _ if len > MAX_PKT_LEN => Err(PktError::InvalidLength(len)),
        _ if buf.len() < at + len => Ok(None),
        _ => Ok(Some((Pkt::Data, at + len))),
    }
}

/// Checks that a complete upload-pack request is a sequence of well-formed packets whose last
/// section is closed (by a flush, or by `done` as git's v0 negotiation ends).
pub fn check_request(buf: &[u8]) -> Result<(), PktError> {
    if buf.is_empty() {
        return Err(PktError::Empty);
    }
    let mut at = 0;
    let mut last_special = false;
    let mut last_data_start = 0;
    while at < buf.len() {
        match next(buf, at)? {
            None => return Err(PktError::Truncated),
            Some((Pkt::Special(_), end)) => {
                last_special = true;
                at = end;
            }
            Some((Pkt::Data, end)) => {
                last_special = false;
                last_data_start = at;
                at = end;
            }
        }
    }
    let ends_with_done = !last_special && buf[last_data_start + 4..].starts_with(b"done");
    if last_special || ends_with_done {
        Ok(())
    } else {
        Err(PktError::Unterminated)
    }
}

/// Receive-pack's command list (the ref updates, up to the first flush packet), scanned as it
/// arrives: each call resumes after the last whole packet, so a list that comes in many small
/// pieces costs linear time.
#[derive(Debug, Default)]
pub struct CommandList {
    at: usize,
    commands: usize,
}

impl CommandList {
    /// The end of the list in the bytes read so far (`buf` only ever grows between calls):
    /// `Ok(Some(offset after the flush))`, or `Ok(None)` when more bytes are needed.
    pub fn end(&mut self, buf: &[u8]) -> Result<Option<usize>, PktError> {
        while let Some((pkt, end)) = next(buf, self.at)? {
            self.at = end;
            if pkt == Pkt::Special(0) {
                return Ok(Some(end));
            }
            self.commands += 1;
        }
        Ok(None)
    }

    /// Commands (ref updates) seen so far.
    pub fn commands(&self) -> usize {
        self.commands
    }
}

/// Frames `payload` as one pkt-line.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing() {
        assert_eq!(check_request(b"0000"), Ok(()));
        assert_eq!(check_request(b"0009done\n"), Ok(()));
        assert_eq!(check_request(b"000ecommand=ls00010009args\n0000"), Ok(()));
        assert_eq!(check_request(b""), Err(PktError::Empty));
        assert_eq!(
            check_request(b"00zz"),
            Err(PktError::BadLength("00zz".into()))
        );
        assert_eq!(check_request(b"0003"), Err(PktError::InvalidLength(3)));
        assert_eq!(check_request(b"0010abc"), Err(PktError::Truncated));
        assert_eq!(check_request(b"000"), Err(PktError::Truncated));
        assert_eq!(check_request(b"0008abcd"), Err(PktError::Unterminated));
        assert_eq!(check_request(b"fff1"), Err(PktError::InvalidLength(0xfff1)));
    }

    #[test]
    fn command_list() {
        let end = |b: &[u8]| CommandList::default().end(b);
        assert_eq!(end(b"0000PACK"), Ok(Some(4)));
        assert_eq!(end(b"0008abcd0000rest"), Ok(Some(12)));
        assert_eq!(end(b"0008ab"), Ok(None));
        assert!(end(b"xxxx").is_err());
        // Fed piece by piece, it resumes where it stopped and counts the commands.
        let all = b"0008abcd0009efghi0000PACK";
        let mut list = CommandList::default();
        for n in 0..all.len() - 4 {
            assert_eq!(list.end(&all[..n]), Ok(None), "{n}");
        }
        assert_eq!(list.end(&all[..]), Ok(Some(21)));
        assert_eq!(list.commands(), 2);
        assert_eq!(encode(b"ERR busy\n"), b"000dERR busy\n".to_vec());
    }
}
