//! The text arguments of protocol 0 opcodes, read exactly as CPython's `_pickle` reads them:
//! memo keys through `PyLong_FromString` (whitespace, a sign and `_` between digits allowed,
//! a NUL ends the number), `STRING` through Python's bytes escapes, `UNICODE` through
//! `raw-unicode-escape`. A reader that disagrees with CPython here can be fed a memo key or a
//! module name that means one thing to it and another to `pickle.load`.

/// Python's whitespace for `PyLong_FromString` (`Py_ISSPACE`).
fn is_py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// A base-10 integer as `PyLong_FromString(s, NULL, 10)` reads the C string `s` (it stops at
/// a NUL); `None` where CPython raises.
pub fn py_int(line: &[u8]) -> Option<i128> {
    let s = match line.iter().position(|b| *b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let start = s.iter().position(|b| !is_py_space(*b))?;
    let end = s.iter().rposition(|b| !is_py_space(*b))? + 1;
    let mut s = &s[start..end];
    let negative = match s.first() {
        Some(b'-') => {
            s = &s[1..];
            true
        }
        Some(b'+') => {
            s = &s[1..];
            false
        }
        _ => false,
    };
    if s.is_empty() || !s[0].is_ascii_digit() || !s[s.len() - 1].is_ascii_digit() {
        return None;
    }
    let mut v: i128 = 0;
    let mut prev_underscore = false;
    for &b in s {
        match b {
            b'_' if !prev_underscore => prev_underscore = true,
            b'0'..=b'9' => {
                prev_underscore = false;
                v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
            }
            _ => return None,
        }
    }
    Some(if negative { -v } else { v })
}

/// The argument of `STRING` (`'...'` or `"..."`, quotes required) decoded with Python's bytes
/// escapes; `None` where CPython raises.
pub fn py_string(line: &[u8]) -> Option<Vec<u8>> {
    let q = *line.first()?;
    if line.len() < 2 || (q != b'\'' && q != b'"') || line[line.len() - 1] != q {
        return None;
    }
    let s = &line[1..line.len() - 1];
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            out.push(s[i]);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&c) = s.get(i) else {
            return None; // a trailing backslash: "\ at end of string"
        };
        i += 1;
        match c {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(c),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match s.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8); // Python keeps the low byte of \777
            }
            b'x' => {
                let hex = s.get(i..i + 2)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(v);
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

/// The argument of `UNICODE` decoded as `raw-unicode-escape`: bytes are Latin-1 code points,
/// and `\uXXXX` / `\UXXXXXXXX` are escapes when an odd number of backslashes leads them.
/// `None` where CPython raises (a short or invalid escape, a code point past U+10FFFF).
pub fn py_raw_unicode(line: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] != b'\\' {
            out.push(char::from(line[i]));
            i += 1;
            continue;
        }
        let run = line[i..].iter().take_while(|b| **b == b'\\').count();
        let after = line.get(i + run).copied();
        let escape = run % 2 == 1 && matches!(after, Some(b'u' | b'U'));
        let literal = if escape { run - 1 } else { run };
        out.extend(std::iter::repeat_n('\\', literal));
        i += run;
        if !escape {
            continue;
        }
        let digits = if after == Some(b'u') { 4 } else { 8 };
        let hex = line.get(i + 1..i + 1 + digits)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let v = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        // Surrogates decode in CPython but cannot be a Rust char: such a name is not an
        // importable module anyway, so keep a stand-in that never matches a real one.
        out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
        if v > 0x10FFFF {
            return None;
        }
        i += 1 + digits;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_keys_as_cpython_reads_them() {
        assert_eq!(py_int(b"10\n"), Some(10));
        assert_eq!(py_int(b"1_0\n"), Some(10));
        assert_eq!(py_int(b" +7 \n"), Some(7));
        assert_eq!(py_int(b"007"), Some(7));
        assert_eq!(py_int(b"1\0garbage"), Some(1));
        assert_eq!(py_int(b"-3"), Some(-3));
        for bad in [&b""[..], b"_1", b"1_", b"1__0", b"0x10", b"1 2", b"\n"] {
            assert_eq!(py_int(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn strings_as_cpython_decodes_them() {
        assert_eq!(py_string(b"'o\\x73'").unwrap(), b"os");
        assert_eq!(py_string(b"\"s\\171s\"").unwrap(), b"sys");
        assert_eq!(py_string(b"'a\\qb'").unwrap(), b"a\\qb");
        assert_eq!(py_string(b"'it\\'s'").unwrap(), b"it's");
        assert_eq!(py_string(b"'unquoted"), None);
        assert_eq!(py_string(b"'bad\\x4'"), None);
        assert_eq!(py_raw_unicode(b"\\u006fs").unwrap(), "os");
        assert_eq!(py_raw_unicode(b"\\\\u0041").unwrap(), "\\\\u0041");
        assert_eq!(py_raw_unicode(b"\\\\\\u0041").unwrap(), "\\\\A");
        assert_eq!(py_raw_unicode(b"\\U0001F600").unwrap(), "\u{1F600}");
        assert_eq!(py_raw_unicode(b"caf\xe9").unwrap(), "caf\u{e9}");
        assert_eq!(py_raw_unicode(b"\\u00"), None);
    }
}
