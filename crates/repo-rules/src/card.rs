//! The model card: `README.md` front matter, parsed as the Hub does (the front-matter pattern
//! of huggingface_hub, safe YAML with no language-specific tags, a mapping at the top) within
//! limits on size and depth, then checked field by field.

use hub_types::{Name, RepoId, RepoType};
use serde_json::Value;

use crate::lists::{closest, is_language, LIBRARIES, LICENSES, PIPELINE_TAGS};
use crate::{finding, ChangedFile, Context, Finding};

const CARD: &str = "README.md";
/// The largest front matter parsed; real cards are a few KiB.
const MAX_FRONT_MATTER: usize = 1 << 20;
/// The deepest nesting accepted in front matter.
const MAX_DEPTH: usize = 64;
const RELATIONS: &[&str] = &["adapter", "merge", "quantized", "finetune"];

pub fn check(changed: &[ChangedFile], ctx: &dyn Context, out: &mut Vec<Finding>) {
    let card = changed.iter().find(|f| f.path == CARD);
    let Some(card) = card else {
        if ctx.repo_type() == RepoType::Model && !ctx.exists(CARD) {
            out.push(finding(
                "card-missing",
                CARD,
                "this model repo has no README.md (model card)".into(),
                "add a README.md with YAML front matter (license, pipeline_tag, ...) and a description",
            ));
        }
        return;
    };
    match front_matter(card) {
        Err(f) => out.push(f),
        Ok(None) => out.push(finding(
            "card-license-missing",
            CARD,
            "README.md has no YAML front matter, so no license".into(),
            "start README.md with a block between --- lines, e.g. `license: apache-2.0`",
        )),
        Ok(Some(meta)) => fields(&meta, ctx, out),
    }
}

/// A card's front matter as JSON, as the API shows it (`cardData`); `None` when the card has
/// none or it does not parse.
pub fn metadata(readme: &[u8]) -> Option<serde_json::Map<String, Value>> {
    let card = ChangedFile {
        path: CARD.into(),
        size: readme.len() as u64,
        content: readme.to_vec(),
    };
    front_matter(&card).ok().flatten()
}

/// The license ids a card declares (empty when it declares none or cannot be parsed).
pub fn declared_licenses(card: &ChangedFile) -> Vec<String> {
    let Ok(Some(meta)) = front_matter(card) else {
        return Vec::new();
    };
    meta.get("license")
        .map(as_list)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The front matter as JSON: `Ok(None)` when the card has none.
fn front_matter(card: &ChangedFile) -> Result<Option<serde_json::Map<String, Value>>, Finding> {
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
fn find_tag(yaml: &str) -> Option<(String, usize, usize)> {
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

fn fields(meta: &serde_json::Map<String, Value>, ctx: &dyn Context, out: &mut Vec<Finding>) {
    let mut push =
        |rule, msg: String, hint: &str| out.push(finding(rule, CARD, msg, hint.to_owned()));
    license(meta, ctx, &mut push);
    if let Some(lang) = meta.get("language") {
        for (i, v) in as_list(lang).iter().enumerate() {
            match v.as_str() {
                Some(code) if is_language(code) => {}
                Some(code) => push(
                    "card-language",
                    format!("\"language[{i}]\" {code:?} is not an ISO 639-1, 639-2 or 639-3 code"),
                    "use codes like en, fr, zh or deu",
                ),
                None => push(
                    "card-field-type",
                    format!("\"language[{i}]\" must be a string"),
                    "list language codes as strings",
                ),
            }
        }
    }
    for key in ["tags", "datasets", "metrics"] {
        if let Some(v) = meta.get(key) {
            let ok = v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
            if !ok {
                push(
                    "card-field-type",
                    format!("\"{key}\" must be a list of strings"),
                    "write it as a YAML list, one string per line starting with -",
                );
            }
        }
    }
    if ctx.repo_type() == RepoType::Dataset {
        dataset_fields(meta, &mut push);
    }
    if ctx.repo_type() != RepoType::Model {
        return;
    }
    if let Some(tag) = meta.get("pipeline_tag") {
        match tag.as_str() {
            Some(t) if PIPELINE_TAGS.contains(&t) => {}
            Some(t) => push(
                "card-pipeline-tag",
                format!(
                    "pipeline_tag {t:?} is not a known task; did you mean {:?}?",
                    closest(t, PIPELINE_TAGS)
                ),
                "use one of the Hub's task ids",
            ),
            None => push(
                "card-field-type",
                "\"pipeline_tag\" must be a string".into(),
                "use one of the Hub's task ids",
            ),
        }
    }
    if let Some(lib) = meta.get("library_name") {
        match lib.as_str() {
            Some(l) if LIBRARIES.contains(&l) => {}
            Some(l) => push(
                "card-library",
                format!(
                    "library_name {l:?} is not a known library; did you mean {:?}?",
                    closest(l, LIBRARIES)
                ),
                "use one of the Hub's library ids",
            ),
            None => push(
                "card-field-type",
                "\"library_name\" must be a string".into(),
                "use one of the Hub's library ids",
            ),
        }
    }
    for key in ["base_model", "new_version"] {
        if let Some(v) = meta.get(key) {
            for (i, item) in as_list(v).iter().enumerate() {
                if !item.as_str().is_some_and(is_repo_id) {
                    push(
                        "card-repo-id",
                        format!("\"{key}[{i}]\" with value {item} is not a valid model id"),
                        "use an id like org/model-name",
                    );
                }
            }
        }
    }
    if let Some(ds) = meta.get("datasets").and_then(Value::as_array) {
        for (i, item) in ds.iter().enumerate() {
            if let Some(s) = item.as_str().filter(|s| !is_repo_id(s)) {
                push("card-repo-id", format!("\"datasets[{i}]\" with value {s:?} is not valid. Use a dataset id like org/name"), "use a dataset id from the hub");
            }
        }
    }
    if let Some(rel) = meta.get("base_model_relation") {
        if !rel.as_str().is_some_and(|r| RELATIONS.contains(&r)) {
            push("card-base-model-relation", format!("\"base_model_relation\" {rel} must be one of adapter, merge, quantized, finetune"), "pick one, or leave it out to let it be inferred");
        }
    }
    if let Some(mi) = meta.get("model-index") {
        let mut errors = Vec::new();
        model_index(mi, &mut errors);
        for e in errors {
            push(
                "card-model-index",
                e,
                "see the model-index schema in the Hub's model card docs",
            );
        }
    }
}

/// `size_categories` values the Hub knows.
const SIZE_CATEGORIES: &[&str] = &[
    "n<1K",
    "1K<n<10K",
    "10K<n<100K",
    "100K<n<1M",
    "1M<n<10M",
    "10M<n<100M",
    "100M<n<1B",
    "1B<n<10B",
    "10B<n<100B",
    "100B<n<1T",
    "n>1T",
];

/// The fields of a dataset card: tasks, size categories, a pretty name, configs.
fn dataset_fields(
    meta: &serde_json::Map<String, Value>,
    push: &mut impl FnMut(&'static str, String, &str),
) {
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    if let Some(tasks) = meta.get("task_categories") {
        if !strings(tasks) {
            push(
                "card-field-type",
                "\"task_categories\" must be a list of strings".into(),
                "list task ids, one per line starting with -",
            );
        }
        for t in tasks
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !PIPELINE_TAGS.contains(&t) {
                push(
                    "card-pipeline-tag",
                    format!(
                        "task category {t:?} is not a known task; did you mean {:?}?",
                        closest(t, PIPELINE_TAGS)
                    ),
                    "use one of the Hub's task ids",
                );
            }
        }
    }
    if let Some(sizes) = meta.get("size_categories") {
        let ok = sizes.as_array().is_some_and(|a| {
            a.iter()
                .all(|v| v.as_str().is_some_and(|s| SIZE_CATEGORIES.contains(&s)))
        });
        if !ok {
            push(
                "card-field-type",
                format!(
                    "\"size_categories\" must be a list of {}",
                    SIZE_CATEGORIES.join(", ")
                ),
                "pick the bucket your row count falls in",
            );
        }
    }
    if meta.get("pretty_name").is_some_and(|v| !v.is_string()) {
        push(
            "card-field-type",
            "\"pretty_name\" must be a string".into(),
            "quote it",
        );
    }
    if let Some(configs) = meta.get("configs") {
        let ok = configs.as_array().is_some_and(|a| {
            a.iter()
                .all(|c| c.get("config_name").is_some_and(Value::is_string))
        });
        if !ok {
            push(
                "card-field-type",
                "\"configs\" must be a list of mappings, each with a config_name".into(),
                "see the dataset card docs on configs",
            );
        }
    }
}

fn license(
    meta: &serde_json::Map<String, Value>,
    ctx: &dyn Context,
    push: &mut impl FnMut(&'static str, String, &str),
) {
    let Some(lic) = meta.get("license") else {
        push(
            "card-license-missing",
            "the card has no license".into(),
            "add e.g. `license: apache-2.0` to the front matter",
        );
        return;
    };
    let ids: Vec<&Value> = as_list(lic);
    for v in &ids {
        match v.as_str() {
            Some(id) if LICENSES.contains(&id) => {}
            Some(id) => push(
                "card-license",
                format!(
                    "\"license\" {id:?} is not a Hub license id; the closest is {:?}",
                    closest(id, LICENSES)
                ),
                "use a Hub license id, or `other` with license_name and license_link",
            ),
            None => push(
                "card-license",
                format!("\"license\" must be a license id or a list of them, not {v}"),
                "use a Hub license id",
            ),
        }
    }
    if ids.iter().any(|v| v.as_str() == Some("other")) {
        let name = meta.get("license_name").and_then(Value::as_str);
        let link = meta.get("license_link").and_then(Value::as_str);
        if name.is_none() || link.is_none() {
            push(
                "card-license-other",
                "license: other needs both license_name and license_link".into(),
                "add license_name (e.g. my-license-1.0) and license_link (LICENSE or a URL)",
            );
        }
    }
    if let Some(link) = meta.get("license_link").and_then(Value::as_str) {
        if !link.contains("://") {
            let path = link.trim_start_matches("./");
            if !ctx.exists(path) {
                push(
                    "card-license-link",
                    format!("license_link points to {link:?}, which is not a file in the repo"),
                    "add the file, or link to a URL",
                );
            }
        }
    }
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

/// `org/name`, or a canonical name without a namespace (as `gpt2` or `squad`).
fn is_repo_id(s: &str) -> bool {
    if s.contains('/') {
        RepoId::parse(s).is_ok()
    } else {
        Name::parse(s).is_ok()
    }
}

/// Checks `model-index` against its schema, with JSON paths in the messages.
fn model_index(v: &Value, errors: &mut Vec<String>) {
    let Some(entries) = v.as_array() else {
        errors.push("\"model-index\" must be a list".into());
        return;
    };
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("model-index[{i}]");
        let Some(obj) = entry.as_object() else {
            errors.push(format!("\"{at}\" must be a mapping"));
            continue;
        };
        string(obj.get("name"), &format!("{at}.name"), true, errors);
        let Some(results) = obj.get("results").and_then(Value::as_array) else {
            errors.push(format!("\"{at}.results\" must be a list"));
            continue;
        };
        for (j, r) in results.iter().enumerate() {
            let at = format!("{at}.results[{j}]");
            let Some(r) = r.as_object() else {
                errors.push(format!("\"{at}\" must be a mapping"));
                continue;
            };
            match r.get("task").and_then(Value::as_object) {
                Some(t) => {
                    string(t.get("type"), &format!("{at}.task.type"), true, errors);
                    string(t.get("name"), &format!("{at}.task.name"), false, errors);
                }
                None => errors.push(format!("\"{at}.task\" is required and must be a mapping")),
            }
            match r.get("dataset").and_then(Value::as_object) {
                Some(d) => {
                    string(d.get("type"), &format!("{at}.dataset.type"), true, errors);
                    string(d.get("name"), &format!("{at}.dataset.name"), true, errors);
                    for k in ["config", "split", "revision"] {
                        string(d.get(k), &format!("{at}.dataset.{k}"), false, errors);
                    }
                }
                None => errors.push(format!(
                    "\"{at}.dataset\" is required and must be a mapping"
                )),
            }
            match r.get("metrics").and_then(Value::as_array) {
                Some(ms) => {
                    for (k, m) in ms.iter().enumerate() {
                        let at = format!("{at}.metrics[{k}]");
                        let Some(m) = m.as_object() else {
                            errors.push(format!("\"{at}\" must be a mapping"));
                            continue;
                        };
                        string(m.get("type"), &format!("{at}.type"), true, errors);
                        match m.get("value") {
                            None | Some(Value::Null) => {
                                errors.push(format!("\"{at}.value\" is required"))
                            }
                            Some(Value::Array(_) | Value::Object(_)) => {
                                errors.push(format!("\"{at}.value\" must be a number or a string"))
                            }
                            _ => {}
                        }
                        for k in ["name", "config", "verifyToken"] {
                            string(m.get(k), &format!("{at}.{k}"), false, errors);
                        }
                    }
                }
                None => errors.push(format!("\"{at}.metrics\" is required and must be a list")),
            }
            if let Some(src) = r.get("source") {
                match src.as_object() {
                    Some(s) => {
                        string(s.get("url"), &format!("{at}.source.url"), true, errors);
                        string(s.get("name"), &format!("{at}.source.name"), false, errors);
                    }
                    None => errors.push(format!("\"{at}.source\" must be a mapping")),
                }
            }
        }
    }
}

fn string(v: Option<&Value>, path: &str, required: bool, errors: &mut Vec<String>) {
    match v {
        Some(Value::String(_)) => {}
        None if !required => {}
        None => errors.push(format!("\"{path}\" is required")),
        Some(_) => errors.push(format!("\"{path}\" must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::find_tag;
    use crate::{CardOnly, ChangedFile};
    use hub_types::RepoType;

    #[test]
    fn dataset_cards_get_dataset_rules() {
        let run = |card: &str| {
            let f = ChangedFile {
                path: "README.md".into(),
                size: card.len() as u64,
                content: card.as_bytes().to_vec(),
            };
            let mut out = Vec::new();
            super::check(&[f], &CardOnly(RepoType::Dataset), &mut out);
            out.iter().map(|f| f.rule).collect::<Vec<_>>()
        };
        let good = "---\nlicense: cc-by-4.0\ntask_categories:\n- text-classification\nsize_categories:\n- 1K<n<10K\npretty_name: Reviews\nconfigs:\n- config_name: default\n  data_files: data/*.parquet\n---\n";
        assert!(run(good).is_empty(), "{:?}", run(good));
        // Model-only fields are not judged on a dataset.
        assert!(run("---\nlicense: mit\nlibrary_name: nope\nbase_model: /x\n---\n").is_empty());
        assert_eq!(
            run("---\nlicense: mit\nsize_categories: lots\n---\n"),
            ["card-field-type"]
        );
        assert_eq!(
            run("---\nlicense: mit\ntask_categories: [text-clasification]\n---\n"),
            ["card-pipeline-tag"]
        );
        assert_eq!(
            run("---\nlicense: mit\nconfigs: [{data_files: x}]\n---\n"),
            ["card-field-type"]
        );
        // And a dataset without a card gets no card-missing warning.
        let mut out = Vec::new();
        super::check(&[], &CardOnly(RepoType::Dataset), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn tags_are_found_where_nodes_start() {
        assert_eq!(
            find_tag("a: !!python/tuple [1, 2]").map(|t| t.0),
            Some("!!python/tuple".into())
        );
        assert_eq!(find_tag("- !custom x").map(|t| (t.1, t.2)), Some((0, 3)));
        assert_eq!(
            find_tag("a: [1, !!python/name:os.system x]").map(|t| t.0),
            Some("!!python/name:os.system".into())
        );
        assert_eq!(
            find_tag("a: !!str 1\nb: hello!\nc: \"!x\"\nd: x # !y"),
            None
        );
        assert_eq!(find_tag("a: |\n  !not a tag\nb: 1"), None);
        assert!(find_tag("a: |\n  text\nb: !bad 1").is_some());
    }
}
