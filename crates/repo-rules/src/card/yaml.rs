//! A card's front matter: found with huggingface_hub's pattern, parsed as YAML only in its
//! safe subset (no language-specific tags) and within limits on size and nesting depth.

use serde_json::Value;

use super::CARD;
use crate::{finding, ChangedFile, Finding};

/// The largest front matter parsed; real cards are a few KiB.
const MAX_FRONT_MATTER: usize = 1 << 20;
/// The deepest nesting accepted in front matter.
const MAX_DEPTH: usize = 64;

/// The front matter as JSON: `Ok(None)` when the card has none.
pub(super) fn front_matter(
    card: &ChangedFile,
) -> Result<Option<serde_json::Map<String, Value>>, Finding> {
    let bad = |msg: String, hint: &str| finding("card-yaml", CARD, msg, hint.to_owned());
    if !card.complete() {
        return Err(bad(
            format!("README.md is {} bytes, too large to check", card.size),
            "keep the card under 10 MiB",
        ));
    }
    let text = std::str::from_utf8(&card.content).map_err(|e| {
        bad(
            format!("README.md is not valid UTF-8 ({e})"),
            "save the file as UTF-8",
        )
    })?;
    let Some((yaml, first_line)) = split_front_matter(text)? else {
        return Ok(None);
    };
    if yaml.len() > MAX_FRONT_MATTER {
        return Err(bad(
            format!(
                "the front matter is {} bytes; at most {MAX_FRONT_MATTER} are accepted",
                yaml.len()
            ),
            "move long content out of the YAML block into the card's body",
        ));
    }
    if let Some((tag, line, col)) = find_tag(yaml) {
        return Err(bad(
            format!(
                "Invalid YAML in README.md: unknown tag {tag} ({}:{col})",
                line + first_line
            ),
            "use plain YAML: mappings, lists, strings, numbers",
        ));
    }
    let value: serde_norway::Value = serde_norway::from_str(yaml).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" ({}:{})", l.line() + first_line, l.column()))
            .unwrap_or_default();
        bad(
            format!(
                "Invalid YAML in README.md: {}{at}",
                first_line_of(&e.to_string())
            ),
            "fix the YAML between the --- lines",
        )
    })?;
    check_yaml(&value, 0).map_err(|m| {
        bad(
            format!("Invalid YAML in README.md: {m}"),
            "use plain YAML: mappings, lists, strings, numbers",
        )
    })?;
    match serde_json::to_value(&value) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(Value::Null) => Ok(Some(serde_json::Map::new())),
        Ok(_) => Err(bad(
            "the front matter must be a mapping of keys to values".into(),
            "write `key: value` lines",
        )),
        Err(e) => Err(bad(
            format!("Invalid YAML in README.md: {e}"),
            "use string keys",
        )),
    }
}

fn first_line_of(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The YAML between the opening and closing `---`, and the README line it starts on; the
/// same shape as huggingface_hub's pattern `^\s*---\n([\S\s]*?)\n---[ \t]*(\n|$)`.
fn split_front_matter(text: &str) -> Result<Option<(&str, usize)>, Finding> {
    let trimmed = text.trim_start();
    let lead = &text[..text.len() - trimmed.len()];
    let Some(rest) = trimmed.strip_prefix("---") else {
        return Ok(None);
    };
    let body = if let Some(b) = rest.strip_prefix("\r\n") {
        b
    } else if let Some(b) = rest.strip_prefix('\n').or_else(|| rest.strip_prefix('\r')) {
        b
    } else {
        return Ok(None);
    };
    let first_line = lead.matches('\n').count() + 2;
    let mut search = 0;
    while let Some(pos) = body[search..].find("---") {
        let at = search + pos;
        let after = body[at + 3..].trim_start_matches([' ', '\t']);
        let closes_line = after.is_empty() || after.starts_with('\n') || after.starts_with("\r\n");
        let starts_line = at == 0 || body[..at].ends_with('\n') || body[..at].ends_with('\r');
        if closes_line && starts_line {
            let yaml = body[..at].trim_end_matches(['\n', '\r']);
            return Ok(Some((if at == 0 { "" } else { yaml }, first_line)));
        }
        search = at + 3;
    }
    Err(finding(
        "card-yaml",
        CARD,
        "the front matter starts with --- but has no closing --- line".into(),
        "end the YAML block with a line containing only ---",
    ))
}

/// YAML's core tags, which a safe loader accepts; any other tag (`!!python/tuple`,
/// `!custom`) asks a loader to build a language-specific object.
const SAFE_TAGS: &[&str] = &[
    "!!str",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!map",
    "!!seq",
    "!!binary",
    "!!timestamp",
];

/// The first tag that is not a core one, with its 0-based line and 1-based column. A tag is a
/// `!` that starts a node: at the start of a line or after `:`, `-`, `?`, `[`, `{` or `,`,
/// outside quotes, comments and block scalars (the YAML parser drops `!!` tags, so they are
/// found here, in the text).
pub(super) fn find_tag(yaml: &str) -> Option<(String, usize, usize)> {
    let mut block_indent: Option<usize> = None;
    for (n, line) in yaml.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(b) = block_indent {
            if line.trim().is_empty() || indent > b {
                continue;
            }
            block_indent = None;
        }
        let (mut quote, mut prev) = (None::<char>, ' ');
        let mut prev_sig = None::<char>;
        for (i, c) in line.char_indices() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '#' && prev.is_whitespace() => break,
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '!'
                    && matches!(prev_sig, None | Some(':' | '-' | '?' | '[' | '{' | ',')) =>
                {
                    let tag: String = line[i..]
                        .chars()
                        .take_while(|c| !c.is_whitespace() && !",]}".contains(*c))
                        .collect();
                    if !SAFE_TAGS.contains(&tag.as_str()) {
                        return Some((tag, n, i + 1));
                    }
                }
                None => {}
            }
            if !c.is_whitespace() {
                prev_sig = Some(c);
            }
            prev = c;
        }
        let t = line.trim_end();
        let last = t.rsplit(' ').next().unwrap_or_default();
        if t.len() > last.len() && (last.starts_with('|') || last.starts_with('>')) {
            block_indent = Some(indent);
        }
    }
    None
}

/// Rejects tags (`!!python/tuple` and other language-specific types) and excessive nesting.
fn check_yaml(v: &serde_norway::Value, depth: usize) -> Result<(), String> {
    use serde_norway::Value as Y;
    if depth > MAX_DEPTH {
        return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
    }
    match v {
        Y::Tagged(t) => Err(format!("unknown tag {}", t.tag)),
        Y::Sequence(s) => s.iter().try_for_each(|x| check_yaml(x, depth + 1)),
        Y::Mapping(m) => m.iter().try_for_each(|(k, x)| {
            check_yaml(k, depth + 1)?;
            check_yaml(x, depth + 1)
        }),
        _ => Ok(()),
    }
}
