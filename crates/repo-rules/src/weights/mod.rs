//! Rules on the weights themselves, read from the LFS store a header at a time: safetensors
//! headers, shard indexes, GGUF headers, config.json against the tensors it describes, and
//! the imports of everything that unpickles on load (raw pickles by content, zip checkpoints,
//! `.npz`, object `.npy`, compressed joblib). Also what they teach: parameter counts.

pub mod formats;
pub mod pickle;
mod unpickle;
pub use unpickle::PICKLE_EXTS;
pub mod zip;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::{file_name, finding, parse_lfs_pointer, ChangedFile, Context, Finding};
use formats::Summary;

/// What the weights of one LFS object are: recorded by object id for the API and pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeightsInfo {
    pub oid: String,
    pub path: String,
    pub format: &'static str,
    pub parameters: BTreeMap<String, u64>,
    pub total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
}

/// What validation found about code in one file: recorded by object id and shown as the
/// Hub's `securityFileStatus` (`tree` and `paths-info` with `expand`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileScan {
    #[serde(skip)]
    pub path: String,
    /// `safe`, `suspicious` (imports off the known-safe list), `unsafe` (blocked imports) or
    /// `error` (a pickle-bearing file that could not be read to its end).
    pub status: &'static str,
    /// Every import the file's pickles make, for pickle-bearing files only.
    #[serde(rename = "pickleImportScan")]
    pub pickle: Option<PickleImportScan>,
}

/// The Hub's `pickleImportScan`: each distinct import with its safety level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PickleImportScan {
    #[serde(rename = "highestSafetyLevel")]
    pub highest: &'static str,
    pub imports: Vec<ScannedImport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScannedImport {
    pub module: String,
    pub name: String,
    /// `innocuous`, `suspicious` or `dangerous`.
    pub safety: &'static str,
}

impl FileScan {
    /// A file read without finding anything that unpickles.
    pub fn clean(path: &str) -> FileScan {
        FileScan {
            path: path.to_owned(),
            status: "safe",
            pickle: None,
        }
    }
}

/// The parameters of a whole commit, as the Hub shows them: the sum over its weight files.
pub fn commit_total(files: &[WeightsInfo]) -> (BTreeMap<String, u64>, u64) {
    let mut parameters: BTreeMap<String, u64> = BTreeMap::new();
    for f in files {
        for (dtype, n) in &f.parameters {
            *parameters.entry(dtype.clone()).or_default() += n;
        }
    }
    let total = parameters.values().sum();
    (parameters, total)
}

fn extension(path: &str) -> String {
    file_name(path)
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The pointer of `path` after the change: from the changed files, else from the tree.
fn pointer_of(path: &str, changed: &[ChangedFile], ctx: &dyn Context) -> Option<crate::LfsPointer> {
    let content = match changed.iter().find(|f| f.path == path) {
        Some(f) => f.content.clone(),
        None => ctx.read(path)?,
    };
    parse_lfs_pointer(&content)?.ok()
}

fn summarize(
    path: &str,
    p: &crate::LfsPointer,
    ctx: &dyn Context,
) -> Option<Result<Summary, String>> {
    let read = |off: u64, len: u64| ctx.lfs_read(&p.oid, off, len);
    // Without a store (a plain git server) there is nothing to read: skip.
    ctx.lfs_read(&p.oid, 0, 0)?;
    match extension(path).as_str() {
        "safetensors" => Some(formats::safetensors(&read, p.size)),
        "gguf" => Some(formats::gguf(&read, p.size)),
        _ => None,
    }
}

pub fn check(
    changed: &[ChangedFile],
    ctx: &dyn Context,
    out: &mut Vec<Finding>,
    info: &mut Vec<WeightsInfo>,
    scans: &mut Vec<FileScan>,
) {
    let mut summaries: HashMap<String, Summary> = HashMap::new();
    for f in changed {
        let Some(Ok(p)) = parse_lfs_pointer(&f.content) else {
            // A small pickle committed as a plain blob unpickles just the same.
            let ext = extension(&f.path);
            if unpickle::worth_a_look(&f.content, &ext) {
                let read = unpickle::slice_reader(&f.content);
                let len = f.content.len() as u64;
                scans.extend(unpickle::check(
                    f,
                    &read,
                    len,
                    &ext,
                    ctx.inflation_left(),
                    out,
                ));
            }
            continue;
        };
        let ext = extension(&f.path);
        if ext != "safetensors" && ext != "gguf" {
            // Without a store (a plain git server) there is nothing to read.
            if ctx.lfs_read(&p.oid, 0, 0).is_some() {
                let read = |off: u64, len: u64| ctx.lfs_read(&p.oid, off, len);
                scans.extend(unpickle::check(
                    f,
                    &read,
                    p.size,
                    &ext,
                    ctx.inflation_left(),
                    out,
                ));
            }
            continue;
        }
        match summarize(&f.path, &p, ctx) {
            None => {}
            Some(Err(why)) => {
                let (rule, kind) = if ext == "gguf" {
                    ("gguf-invalid", "GGUF")
                } else {
                    ("safetensors-invalid", "safetensors")
                };
                out.push(finding(
                    rule,
                    &f.path,
                    format!("{} is not a valid {kind} file: {why}", f.path),
                    "re-export the file with its library's save function, then re-add it",
                ));
            }
            Some(Ok(s)) => {
                scans.push(FileScan::clean(&f.path));
                info.push(WeightsInfo {
                    oid: p.oid.clone(),
                    path: f.path.clone(),
                    format: if ext == "gguf" { "gguf" } else { "safetensors" },
                    parameters: s.parameters.clone(),
                    total: s.total,
                    architecture: s.architecture.clone(),
                    quantization: s.quantization.clone(),
                });
                summaries.insert(f.path.clone(), s);
            }
        }
    }
    for f in changed
        .iter()
        .filter(|f| f.path.ends_with(".safetensors.index.json"))
    {
        shard_index(f, changed, ctx, &mut summaries, out);
    }
    config_against_weights(changed, ctx, &mut summaries, out);
}

/// `*.safetensors.index.json`: every shard exists, every tensor is in its shard, no tensor in
/// two shards, safe shard names, and `total_size` is the tensors' bytes.
fn shard_index(
    f: &ChangedFile,
    changed: &[ChangedFile],
    ctx: &dyn Context,
    summaries: &mut HashMap<String, Summary>,
    out: &mut Vec<Finding>,
) {
    let Ok(index) = serde_json::from_slice::<Value>(&f.content) else {
        return;
    };
    let mut bad = |msg: String| {
        out.push(finding(
            "shard-index",
            &f.path,
            msg,
            "regenerate the index with save_pretrained, or fix its weight_map",
        ))
    };
    let Some(map) = index.get("weight_map").and_then(Value::as_object) else {
        bad(format!("{} has no weight_map object", f.path));
        return;
    };
    let dir = f
        .path
        .rsplit_once('/')
        .map(|(d, _)| format!("{d}/"))
        .unwrap_or_default();
    let mut shards: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (tensor, shard) in map {
        let Some(shard) = shard.as_str() else {
            bad(format!("weight_map[{tensor:?}] must be a file name"));
            return;
        };
        if shard.contains("..") || shard.starts_with('/') || shard.contains("://") {
            bad(format!("weight_map[{tensor:?}] names {shard:?}; shard names may not contain '..', '://' or start with '/'"));
            return;
        }
        shards.entry(shard).or_default().push(tensor);
    }
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut total: u64 = 0;
    let mut all_read = true;
    for (shard, tensors) in &shards {
        let path = format!("{dir}{shard}");
        let exists = changed.iter().any(|c| c.path == path) || ctx.exists(&path);
        if !exists {
            bad(format!(
                "the shard {path} named in {} is not in the repo",
                f.path
            ));
            continue;
        }
        if !summaries.contains_key(&path) {
            match pointer_of(&path, changed, ctx).and_then(|p| summarize(&path, &p, ctx)) {
                Some(Ok(s)) => {
                    summaries.insert(path.clone(), s);
                }
                _ => {
                    all_read = false;
                    continue;
                }
            }
        }
        let s = &summaries[&path];
        for t in tensors {
            if !s.tensors.iter().any(|x| x.name == *t) {
                bad(format!(
                    "weight_map puts {t:?} in {shard}, but that shard has no such tensor"
                ));
            }
        }
        for t in &s.tensors {
            if let Some(other) = owner.insert(t.name.clone(), shard.to_string()) {
                bad(format!(
                    "the tensor {:?} is in two shards: {other} and {shard}",
                    t.name
                ));
            }
            total += t.bytes;
        }
    }
    if all_read {
        if let Some(declared) = index
            .pointer("/metadata/total_size")
            .and_then(Value::as_u64)
        {
            if declared != total {
                bad(format!(
                    "metadata.total_size is {declared}, but the shards' tensors hold {total} bytes"
                ));
            }
        }
    }
}

/// `config.json` against the tensors of the root weights: vocabulary and hidden sizes against
/// the embedding matrix, the layer count against layer indexes, `tie_word_embeddings` against
/// an `lm_head` tensor.
fn config_against_weights(
    changed: &[ChangedFile],
    ctx: &dyn Context,
    summaries: &mut HashMap<String, Summary>,
    out: &mut Vec<Finding>,
) {
    let config_changed = changed.iter().any(|f| f.path == "config.json");
    let root_weights: Vec<String> = summaries
        .keys()
        .filter(|p| !p.contains('/') && p.ends_with(".safetensors"))
        .cloned()
        .collect();
    if !config_changed && root_weights.is_empty() {
        return;
    }
    let config = match changed.iter().find(|f| f.path == "config.json") {
        Some(f) => f.content.clone(),
        None => match ctx.read("config.json") {
            Some(c) => c,
            None => return,
        },
    };
    let Ok(Value::Object(config)) = serde_json::from_slice::<Value>(&config) else {
        return;
    };
    let mut weights = root_weights;
    if weights.is_empty() && ctx.exists("model.safetensors") {
        if let Some(Ok(s)) = pointer_of("model.safetensors", changed, ctx)
            .and_then(|p| summarize("model.safetensors", &p, ctx))
        {
            summaries.insert("model.safetensors".into(), s);
            weights.push("model.safetensors".into());
        }
    }
    weights.sort();
    let tensors: Vec<(&str, &formats::Tensor)> = weights
        .iter()
        .flat_map(|w| summaries[w].tensors.iter().map(move |t| (w.as_str(), t)))
        .collect();
    if tensors.is_empty() {
        return;
    }
    let mut warn = |msg: String| {
        out.push(finding(
            "config-weights",
            "config.json",
            msg,
            "make config.json describe the weights (or re-export both with save_pretrained)",
        ))
    };
    let num = |k: &str| config.get(k).and_then(Value::as_u64);
    let embedding = tensors.iter().find(|(_, t)| {
        t.shape.len() == 2
            && [
                "embed_tokens.weight",
                "wte.weight",
                "word_embeddings.weight",
                "tok_embeddings.weight",
            ]
            .iter()
            .any(|s| t.name.ends_with(s))
    });
    if let Some((file, t)) = embedding {
        if let Some(v) = num("vocab_size").filter(|v| *v != t.shape[0]) {
            warn(format!(
                "config.json says vocab_size {v}, but {file} has {} rows in {}",
                t.shape[0], t.name
            ));
        }
        if let Some(h) = num("hidden_size").filter(|h| *h != t.shape[1]) {
            warn(format!(
                "config.json says hidden_size {h}, but {file} has {} columns in {}",
                t.shape[1], t.name
            ));
        }
    }
    let layer_index = |name: &str| {
        let parts: Vec<&str> = name.split('.').collect();
        parts.windows(2).find_map(|w| {
            (["layers", "h", "layer", "blocks"].contains(&w[0]))
                .then(|| w[1].parse::<u64>().ok())
                .flatten()
        })
    };
    if let Some(max) = tensors
        .iter()
        .filter_map(|(_, t)| layer_index(&t.name))
        .max()
    {
        if let Some(n) = num("num_hidden_layers").filter(|n| *n != max + 1) {
            warn(format!("config.json says num_hidden_layers {n}, but the weights ({}) have layers 0 to {max}", weights.join(", ")));
        }
    }
    let lm_head = tensors
        .iter()
        .any(|(_, t)| t.name.starts_with("lm_head.") || t.name.contains(".lm_head."));
    match config.get("tie_word_embeddings").and_then(Value::as_bool) {
        Some(true) if lm_head => warn(format!("config.json sets tie_word_embeddings, but the weights ({}) have their own lm_head", weights.join(", "))),
        Some(false) if !lm_head && embedding.is_some() => warn(format!("config.json sets tie_word_embeddings false, but the weights ({}) have no lm_head tensor", weights.join(", "))),
        _ => {}
    }
}
