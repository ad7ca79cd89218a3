//! The commit API's request body: NDJSON, one operation a line, framed with tokio-util's line
//! codec (each byte looked at once; a line may not pass [`MAX_LINE`]) and parsed into typed
//! [`Line`]s before anything touches a repo.

use base64::Engine;
use hub_types::LfsOid;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::codec::LinesCodec;

/// The longest NDJSON line accepted (a 10 MB regular file is about 14 MB of base64).
pub const MAX_LINE: usize = 32 << 20;
/// Most lines (a header and one operation each) in one commit request.
pub const MAX_LINES: usize = 100_000;

/// The line codec every commit body is read with.
pub fn codec() -> LinesCodec {
    LinesCodec::new_with_max_length(MAX_LINE)
}

#[derive(Debug, Deserialize)]
pub struct Header {
    pub summary: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "parentCommit")]
    pub parent_commit: Option<String>,
}

/// One operation of a commit, as its line says it.
#[derive(Debug)]
pub enum Line {
    Header(Header),
    File {
        path: String,
        content: Vec<u8>,
    },
    /// An LFS file; its size is checked against the object the repo holds.
    LfsFile {
        path: String,
        oid: LfsOid,
        size: Option<u64>,
    },
    Deleted(String),
    DeletedFolder(String),
    Copy {
        from: String,
        to: String,
        revision: Option<String>,
    },
}

/// Parses line `n` (1-based) of a commit body; the error says what is wrong with it.
pub fn parse_line(line: &[u8], n: usize) -> Result<Line, String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("line {n}: {e}"))?;
    let key = v["key"].as_str().unwrap_or_default();
    let value = &v["value"];
    let path = || {
        value["path"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("line {n}: {key} needs a path"))
    };
    Ok(match key {
        "header" => {
            Line::Header(serde_json::from_value(value.clone()).map_err(|e| format!("header: {e}"))?)
        }
        "file" => Line::File {
            content: base64::engine::general_purpose::STANDARD
                .decode(value["content"].as_str().unwrap_or_default())
                .map_err(|e| format!("line {n}: content is not base64: {e}"))?,
            path: path()?,
        },
        "lfsFile" => Line::LfsFile {
            oid: LfsOid::parse(value["oid"].as_str().unwrap_or_default())
                .map_err(|e| e.to_string())?,
            size: value["size"].as_u64(),
            path: path()?,
        },
        "deletedFile" => Line::Deleted(path()?),
        "deletedFolder" => Line::DeletedFolder(path()?),
        "copyFile" => Line::Copy {
            from: value["srcPath"].as_str().unwrap_or_default().to_owned(),
            to: value["destPath"]
                .as_str()
                .or(value["path"].as_str())
                .unwrap_or_default()
                .to_owned(),
            revision: value["srcRevision"].as_str().map(str::to_owned),
        },
        other => return Err(format!("line {n}: unknown operation {other:?}")),
    })
}
