//! Rules on files as git stores them: size limits for plain blobs, weights that belong in LFS,
//! LFS pointers that are well formed and point at objects the store holds.

use crate::{file_name, finding, ChangedFile, Context, Finding, LfsState};
use crate::{MAX_REGULAR_BINARY, MAX_REGULAR_FILE};

/// Extensions of weights and archives: these go to LFS whatever their size.
const LFS_ONLY: &[&str] = &[
    "safetensors",
    "bin",
    "pt",
    "pth",
    "ckpt",
    "gguf",
    "ggml",
    "onnx",
    "h5",
    "msgpack",
    "pkl",
    "pickle",
    "joblib",
    "npz",
    "npy",
    "zip",
    "tar",
    "tgz",
    "gz",
    "7z",
    "rar",
    "xz",
    "zst",
    "bz2",
    "tflite",
    "mlmodel",
    "ot",
];

/// A pointer is under 1024 bytes (git-lfs spec).
const MAX_POINTER: usize = 1024;

/// A parsed Git LFS pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfsPointer {
    pub oid: String,
    pub size: u64,
}

/// `None` if `data` is not meant to be a pointer; otherwise the pointer, or why it is
/// malformed (the spec allows exactly one encoding of each pointer).
pub fn parse_lfs_pointer(data: &[u8]) -> Option<Result<LfsPointer, String>> {
    const V1: &str = "version https://git-lfs.github.com/spec/v1";
    const V1_OLD: &str = "version https://hawser.github.com/spec/v1";
    if data.len() >= MAX_POINTER
        || !(data.starts_with(b"version https://git-lfs")
            || data.starts_with(b"version https://hawser"))
    {
        return None;
    }
    Some(parse_pointer_text(data, V1, V1_OLD))
}

fn parse_pointer_text(data: &[u8], v1: &str, v1_old: &str) -> Result<LfsPointer, String> {
    let text = std::str::from_utf8(data).map_err(|_| "the pointer is not UTF-8".to_owned())?;
    let body = text
        .strip_suffix('\n')
        .ok_or("the pointer does not end with a newline")?;
    let mut lines = body.split('\n');
    let first = lines.next().unwrap_or_default();
    if first != v1 && first != v1_old {
        return Err(format!("unknown pointer version line {first:?}"));
    }
    let (mut oid, mut size, mut last_key) = (None, None, String::new());
    for line in lines {
        let (key, value) = line
            .split_once(' ')
            .ok_or_else(|| format!("line {line:?} is not `key value`"))?;
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-'))
        {
            return Err(format!("invalid key {key:?}"));
        }
        if key <= last_key.as_str() {
            return Err(format!(
                "key {key:?} is out of order or repeated (keys must be sorted)"
            ));
        }
        last_key = key.to_owned();
        match key {
            "oid" => {
                let hex = value
                    .strip_prefix("sha256:")
                    .filter(|h| {
                        h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                    })
                    .ok_or_else(|| {
                        format!("oid {value:?} is not sha256: and 64 lowercase hex characters")
                    })?;
                oid = Some(hex.to_owned());
            }
            "size" => {
                let canonical = value.bytes().all(|b| b.is_ascii_digit())
                    && (value == "0" || !value.starts_with('0'));
                let n = value.parse::<u64>().ok().filter(|_| canonical);
                size = Some(
                    n.ok_or_else(|| format!("size {value:?} is not a whole number of bytes"))?,
                );
            }
            _ => {} // other keys are kept by clients and allowed
        }
    }
    match (oid, size) {
        (Some(oid), Some(size)) => Ok(LfsPointer { oid, size }),
        _ => Err("the pointer needs both an oid and a size line".into()),
    }
}

fn extension(path: &str) -> Option<String> {
    let name = file_name(path);
    name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())
}

pub fn check(f: &ChangedFile, ctx: &dyn Context, out: &mut Vec<Finding>) {
    if let Some(parsed) = parse_lfs_pointer(&f.content).filter(|_| f.complete()) {
        match parsed {
            Err(why) => out.push(finding(
                "lfs-pointer",
                &f.path,
                format!("malformed Git LFS pointer: {why}"),
                "re-add the file with `git lfs track` and `git add`, so git-lfs writes the pointer",
            )),
            Ok(p) => match ctx.lfs_object(&p.oid) {
                Some(LfsState::Missing) => out.push(finding(
                    "lfs-missing",
                    &f.path,
                    format!("unknown Git LFS object {} ({} bytes)", p.oid, p.size),
                    "upload it with `git lfs push --all origin`, then push again",
                )),
                Some(LfsState::Present(size)) if size != p.size => out.push(finding(
                    "lfs-missing",
                    &f.path,
                    format!(
                        "the pointer says {} bytes but LFS object {} has {size}",
                        p.size, p.oid
                    ),
                    "re-add the file so git-lfs writes a correct pointer",
                )),
                _ => {}
            },
        }
        return;
    }
    if f.size == 0 {
        return;
    }
    if f.size > MAX_REGULAR_FILE {
        out.push(finding(
            "large-file",
            &f.path,
            format!(
                "{} is {} and not stored with Git LFS",
                f.path,
                human(f.size)
            ),
            "track it with `git lfs track`, then `git add` it again",
        ));
        return;
    }
    if let Some(ext) = extension(&f.path).filter(|e| LFS_ONLY.contains(&e.as_str())) {
        out.push(finding(
            "weights-not-in-lfs",
            &f.path,
            format!("{} is a .{ext} file committed as a plain git blob; weights and archives must be stored with Git LFS", f.path),
            format!("run `git lfs track \"*.{ext}\"`, then `git rm --cached {0}` and `git add {0}`", f.path),
        ));
        return;
    }
    let binary = f.content.iter().take(8000).any(|b| *b == 0);
    if binary && f.size > MAX_REGULAR_BINARY {
        out.push(finding(
            "binary-file",
            &f.path,
            format!(
                "{} is a {} binary file not stored with Git LFS (the limit is 1 MiB)",
                f.path,
                human(f.size)
            ),
            "track it with `git lfs track`, then `git add` it again",
        ));
    }
}

fn human(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers() {
        let oid = "a".repeat(64);
        let good =
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 12345\n");
        assert_eq!(
            parse_lfs_pointer(good.as_bytes()),
            Some(Ok(LfsPointer {
                oid: oid.clone(),
                size: 12345
            }))
        );
        let ext = format!("version https://git-lfs.github.com/spec/v1\next-0-foo sha256:{oid}\noid sha256:{oid}\nsize 1\n");
        assert!(matches!(parse_lfs_pointer(ext.as_bytes()), Some(Ok(_))));
        assert_eq!(parse_lfs_pointer(b"hello"), None);
        for bad in [
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 12345"),
            format!("version https://git-lfs.github.com/spec/v1\nsize 12345\noid sha256:{oid}\n"),
            format!(
                "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 1\n",
                "A".repeat(64)
            ),
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 012\n"),
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize -1\n"),
            format!("version https://git-lfs.github.com/spec/v2\noid sha256:{oid}\nsize 1\n"),
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\n"),
            format!("version https://git-lfs.github.com/spec/v1\noid  sha256:{oid}\nsize 1\n"),
        ] {
            assert!(
                matches!(parse_lfs_pointer(bad.as_bytes()), Some(Err(_))),
                "{bad:?}"
            );
        }
    }
}
