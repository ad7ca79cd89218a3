//! JSON the runtime loads: `config.json` checked as transformers would load it, and the other
//! configuration files (tokenizer, generation, adapter, shard indexes) must at least parse.

use hub_types::RepoType;
use serde_json::{Map, Value};

use crate::lists::DTYPES;
use crate::{file_name, finding, ChangedFile, Context, Finding};

const LOADED: &[&str] = &[
    "config.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "generation_config.json",
    "special_tokens_map.json",
    "preprocessor_config.json",
    "processor_config.json",
    "adapter_config.json",
];

const SIZE_FIELDS: &[&str] = &[
    "hidden_size",
    "num_attention_heads",
    "num_hidden_layers",
    "vocab_size",
    "intermediate_size",
    "num_key_value_heads",
    "max_position_embeddings",
];

pub fn check(f: &ChangedFile, ctx: &dyn Context, out: &mut Vec<Finding>) {
    let name = file_name(&f.path);
    if !(LOADED.contains(&name) || name.ends_with(".index.json")) {
        return;
    }
    // An LFS pointer is checked by the file rules; its content is not JSON.
    if crate::parse_lfs_pointer(&f.content).is_some() || !f.complete() {
        return;
    }
    let parsed: Result<Value, String> = std::str::from_utf8(&f.content)
        .map_err(|e| format!("not UTF-8: {e}"))
        .and_then(|s| serde_json::from_str(s).map_err(|e| e.to_string()));
    let value = match parsed {
        Ok(v) => v,
        Err(e) => {
            out.push(finding(
                "json-invalid",
                &f.path,
                format!("{} does not parse as JSON: {e}", f.path),
                "fix the JSON syntax",
            ));
            return;
        }
    };
    if f.path == "config.json" && ctx.repo_type() == RepoType::Model {
        config(&value, out);
    }
}

fn config(v: &Value, out: &mut Vec<Finding>) {
    let mut errors = Vec::new();
    config_errors(v, out, &mut errors);
    for msg in errors {
        out.push(finding(
            "config-invalid",
            "config.json",
            msg,
            "fix config.json so transformers can load it",
        ));
    }
}

fn config_errors(v: &Value, out: &mut Vec<Finding>, errors: &mut Vec<String>) {
    let mut bad = |msg: String| errors.push(msg);
    let Some(c) = v.as_object() else {
        bad("config.json must be a JSON object".into());
        return;
    };
    match c.get("model_type") {
        None => out.push(finding(
            "config-model-type",
            "config.json",
            "config.json has no model_type, so transformers' AutoConfig cannot tell which model this is".into(),
            "add \"model_type\", e.g. \"llama\"",
        )),
        Some(Value::String(_)) => {}
        Some(other) => bad(format!("\"model_type\" must be a string, not {other}")),
    }
    if let Some(a) = c.get("architectures") {
        if !a.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
            bad(format!(
                "\"architectures\" must be a list of strings, not {a}"
            ));
        }
    }
    for key in SIZE_FIELDS {
        if let Some(v) = c.get(*key) {
            if v.as_u64().is_none_or(|n| n == 0) {
                bad(format!("\"{key}\" must be a positive integer, not {v}"));
            }
        }
    }
    let size = |k: &str| c.get(k).and_then(Value::as_u64).filter(|n| *n > 0);
    if let (Some(hidden), Some(heads)) = (size("hidden_size"), size("num_attention_heads")) {
        if hidden % heads != 0 && !c.contains_key("head_dim") {
            bad(format!("hidden_size {hidden} is not divisible by num_attention_heads {heads}, and there is no head_dim"));
        }
        if let Some(kv) = size("num_key_value_heads") {
            if heads % kv != 0 {
                bad(format!(
                    "num_attention_heads {heads} is not divisible by num_key_value_heads {kv}"
                ));
            }
        }
    }
    dtype(c, &mut bad);
}

fn dtype(c: &Map<String, Value>, bad: &mut impl FnMut(String)) {
    for key in ["torch_dtype", "dtype"] {
        match c.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(d)) if DTYPES.contains(&d.trim_start_matches("torch.")) => {}
            Some(other) => bad(format!("\"{key}\" {other} is not a dtype transformers knows (e.g. \"bfloat16\", \"float16\", \"float32\")")),
        }
    }
}
