//! Entry points for the fuzz targets (`crates/fuzz`): each parser this crate runs on client
//! bytes before any I/O, with the invariants a target checks. Not an API for anything else.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::hf::ndjson;
use crate::pktline::{self, CommandList};

/// A whole upload-pack request's framing.
pub fn pkt_request(data: &[u8]) {
    let _ = pktline::check_request(data);
}

/// Receive-pack's command list, fed in pieces of `step` bytes: the same answer as all at once.
pub fn command_list(data: &[u8], step: usize) {
    let whole = CommandList::default().end(data);
    let mut list = CommandList::default();
    let mut got = Ok(None);
    for n in (0..=data.len()).step_by(step.max(1)).chain([data.len()]) {
        got = list.end(&data[..n]);
        if !matches!(got, Ok(None)) {
            break;
        }
    }
    assert_eq!(got, whole, "fed in pieces, the command list ends elsewhere");
}

/// A `Range` header against an object of `size` bytes: any range it grants lies inside.
pub fn range(header: &str, size: u64) {
    if let Ok(Some(r)) = crate::edge::http::parse_range(Some(header), size) {
        assert!(
            r.start <= r.end && r.end < size,
            "{header:?} on {size}: {r:?}"
        );
    }
}

/// An LFS batch request body.
pub fn lfs_batch(data: &[u8]) {
    let _ = serde_json::from_slice::<crate::lfs::BatchRequest>(data);
}

/// A commit body: framed as the server frames it (fed `step` bytes at a time), each line
/// parsed; no line handed on is longer than the limit.
pub fn commit_body(data: &[u8], step: usize) {
    let mut codec = ndjson::codec();
    let mut buf = BytesMut::new();
    let mut n = 0;
    let mut parse = |line: String| {
        assert!(line.len() <= ndjson::MAX_LINE);
        n += 1;
        let _ = ndjson::parse_line(line.as_bytes(), n);
    };
    for piece in data.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(line)) => parse(line),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    while let Ok(Some(line)) = codec.decode_eof(&mut buf) {
        parse(line);
    }
}
