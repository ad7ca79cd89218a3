//! HTTP pieces every surface uses: the server's URL as a client reaches it, the one `Range`
//! parser (RFC 9110 semantics) for LFS, `resolve`, Xet and any later download, URL
//! percent-encoding, HTTP and ISO 8601 dates, the clock, and `?p=N` pagination.

use std::time::{Duration, SystemTime};

use axum::http::{header, HeaderMap};
use lfs_store::ByteRange;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::AppState;

/// The server's URL as this client reaches it: `--public-url`, else `http://` + `Host` (a
/// `Host` with anything but a host name, an address and a port is replaced by `localhost`).
pub fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.config().public_url {
        return u.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// A `Range` that starts past the end of the representation (416, with its size).
#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable(pub u64);

/// The single byte range a `Range` header asks of `size` bytes, as RFC 9110 (14.1-14.2) reads
/// it: `bytes=a-b`, `bytes=a-`, `bytes=-n`, with the last position clamped to the end. What a
/// server may ignore is ignored, so the whole representation is sent: other units, several
/// ranges, invalid syntax, `b < a`. A range whose first position is past the end, or a suffix
/// of zero bytes, is unsatisfiable (416).
pub fn parse_range(value: Option<&str>, size: u64) -> Result<Option<ByteRange>, Unsatisfiable> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Some(n) = digits(b).then(|| b.parse::<u64>().ok()).flatten() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(Unsatisfiable(size));
        }
        return Ok(Some(ByteRange {
            start: size.saturating_sub(n),
            end: size - 1,
        }));
    }
    let Some(start) = digits(a).then(|| a.parse::<u64>().ok()).flatten() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match digits(b).then(|| b.parse::<u64>().ok()).flatten() {
            Some(e) if e >= start => e.min(size.saturating_sub(1)),
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(Unsatisfiable(size));
    }
    Ok(Some(ByteRange { start, end }))
}

/// Everything but unreserved characters, percent-encoded (Python's `quote(s, safe="")`, as
/// huggingface_hub builds its URLs).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `s` as one URL path segment or query value.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// `2026-01-02T03:04:05.000Z` for a Unix time: the only date form huggingface_hub parses.
pub fn iso_time(secs: i64) -> String {
    const FORMAT: &[time::format_description::FormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
}

/// An HTTP date (`Fri, 01 Jan 1980 00:00:00 GMT`) for a Unix time.
pub fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The page a `?p=N` query asks for (0 when absent or not a number).
pub fn page_param(q: &[(String, String)]) -> usize {
    q.iter()
        .find(|(k, _)| k == "p")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: u64, e: u64) -> Option<ByteRange> {
        Some(ByteRange { start: s, end: e })
    }

    #[test]
    fn ranges() {
        let p = |v: &str| parse_range(Some(v), 1000).ok().flatten();
        assert_eq!(p("bytes=0-99"), r(0, 99));
        assert_eq!(p("bytes=500-"), r(500, 999));
        assert_eq!(p("bytes=-100"), r(900, 999));
        assert_eq!(p("bytes=-5000"), r(0, 999));
        assert_eq!(p("bytes=990-2000"), r(990, 999));
        assert_eq!(p("bytes=0-1,5-6"), None);
        assert_eq!(p("items=0-1"), None);
        assert_eq!(p("bytes=9-1"), None);
        assert_eq!(p("bytes=x-1"), None);
        assert_eq!(p("bytes=+1-2"), None, "only digits are positions");
        assert_eq!(
            parse_range(Some("bytes=1000-"), 1000),
            Err(Unsatisfiable(1000))
        );
        assert_eq!(
            parse_range(Some("bytes=-0"), 1000),
            Err(Unsatisfiable(1000))
        );
        assert_eq!(parse_range(Some("bytes=0-"), 0), Err(Unsatisfiable(0)));
        assert_eq!(parse_range(None, 10), Ok(None));
    }

    #[test]
    fn encodings_and_dates() {
        assert_eq!(percent_encode("a b/c~d_e.f-g"), "a%20b%2Fc~d_e.f-g");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(1_767_323_045), "2026-01-02T03:04:05.000Z");
        assert_eq!(http_date(315_532_800), "Tue, 01 Jan 1980 00:00:00 GMT");
    }
}
