//! The card's fields, one rule each: license (and `license_name`/`license_link` for
//! `other`), tags, languages, pipeline tag, library, base models and their relation,
//! datasets, `model-index` results, and the fields of dataset cards.

use hub_types::{Name, RepoId, RepoType};
use serde_json::Value;

use super::CARD;
use crate::lists::{closest, is_language, LIBRARIES, LICENSES, PIPELINE_TAGS};
use crate::{finding, Context, Finding};

const RELATIONS: &[&str] = &["adapter", "merge", "quantized", "finetune"];

/// Every field rule over a card's front matter.
pub(super) fn fields(
    meta: &serde_json::Map<String, Value>,
    ctx: &dyn Context,
    out: &mut Vec<Finding>,
) {
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
    // A single string is a list of one, as the Hub and huggingface_hub's card data take it
    // (`datasets: glue`).
    for key in ["tags", "datasets", "metrics"] {
        if let Some(v) = meta.get(key) {
            let ok = v.is_string() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
            if !ok {
                push(
                    "card-field-type",
                    format!("\"{key}\" must be a string or a list of strings"),
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
            for (i, item) in as_list(v).iter().enumerate().take(32) {
                match item.as_str().filter(|s| is_repo_id(s)) {
                    None => push(
                        "card-repo-id",
                        format!("\"{key}[{i}]\" with value {item} is not a valid model id"),
                        "use an id like org/model-name",
                    ),
                    Some(id) if key == "base_model" && ctx.model_visible(id) == Some(false) => push(
                        "card-base-model-unknown",
                        format!("base_model {id:?} is not a model on this hub; the model tree links it only once it is"),
                        "import the base model here, or leave it if it lives on another hub",
                    ),
                    Some(_) => {}
                }
            }
        }
    }
    if let Some(ds) = meta.get("datasets") {
        for (i, item) in as_list(ds).into_iter().enumerate() {
            if let Some(s) = item.as_str().filter(|s| !is_repo_id(s)) {
                push("card-dataset-id", format!("\"datasets[{i}]\" with value {s:?} is not valid. If possible, use a dataset id like org/name"), "use a dataset id from the hub, so the card links to it");
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
    // A single string is a list of one here too (`size_categories: 1K<n<10K`).
    let strings = |v: &Value| as_list(v).iter().all(|v| v.is_string());
    if let Some(tasks) = meta.get("task_categories") {
        if !strings(tasks) {
            push(
                "card-field-type",
                "\"task_categories\" must be a string or a list of strings".into(),
                "list task ids, one per line starting with -",
            );
        }
        for t in as_list(tasks).into_iter().filter_map(Value::as_str) {
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
        if !strings(sizes) {
            push(
                "card-field-type",
                "\"size_categories\" must be a string or a list of strings".into(),
                "pick the bucket your row count falls in",
            );
        }
        for size in as_list(sizes).into_iter().filter_map(Value::as_str) {
            if !SIZE_CATEGORIES.contains(&size) {
                push(
                    "card-size-category",
                    format!(
                        "size category {size:?} is not one of {}",
                        SIZE_CATEGORIES.join(", ")
                    ),
                    "pick the bucket your row count falls in",
                );
            }
        }
    }
    // A name YAML reads as a number or a date still shows; only a list or mapping does not.
    if meta
        .get("pretty_name")
        .is_some_and(|v| v.is_array() || v.is_object())
    {
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

pub(super) fn as_list(v: &Value) -> Vec<&Value> {
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
