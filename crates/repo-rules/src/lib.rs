//! Pure checks of repo content: what a push, an upload or a local folder adds or changes,
//! judged by the rules of a model hub. Paths and bytes in, findings out: no git, no HTTP, no
//! async, so the pre-receive hook, the HTTP commit API and `modelhub validate` run exactly the
//! same checks.
//!
//! The caller describes the change as [`ChangedFile`]s and answers two questions through
//! [`Context`]: does a path exist in the new tree, and is an LFS object present for this repo.
#![forbid(unsafe_code)]

mod card;
mod files;
mod gitattributes;
mod json_files;
mod license_file;
pub mod lists;
mod policy;
pub mod report;
pub mod weights;

use std::fmt;

use hub_types::RepoType;
use serde::Serialize;

pub use card::metadata as card_metadata;
pub use files::{parse_lfs_pointer, LfsPointer};
pub use gitattributes::LfsPatterns;
pub use policy::{Policy, PolicyError};
pub use weights::{FileScan, PickleImportScan, ScannedImport, WeightsInfo, PICKLE_EXTS};

/// Non-LFS files above this size are refused, as on the Hub.
pub const MAX_REGULAR_FILE: u64 = 10 << 20;
/// Non-LFS binary files above this size are refused, as on the Hub.
pub const MAX_REGULAR_BINARY: u64 = 1 << 20;
/// The most of a text file (card, JSON) read for checking; larger ones get a finding.
pub const MAX_TEXT: usize = 10 << 20;
/// Bytes the pickle checks may inflate (compressed zip members, compressed joblib files) over
/// a whole push, all its refs and files together; each file may inflate at most 256 MiB.
pub const MAX_PUSH_INFLATED: u64 = 2 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Off,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Severity::Off => "off",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem found: which rule, how bad, where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub path: String,
    pub message: String,
    pub hint: String,
}

/// Every rule, with its default severity and what it checks (for `modelhub policy show`).
pub const RULES: &[(&str, Severity, &str)] = &[
    (
        "large-file",
        Severity::Error,
        "a file over 10 MiB not stored with Git LFS",
    ),
    (
        "binary-file",
        Severity::Error,
        "a binary file over 1 MiB not stored with Git LFS",
    ),
    (
        "weights-not-in-lfs",
        Severity::Error,
        "a weight or archive file committed as a plain git blob",
    ),
    (
        "lfs-pointer",
        Severity::Error,
        "a malformed Git LFS pointer",
    ),
    (
        "lfs-missing",
        Severity::Error,
        "an LFS pointer to an object this repo's store does not hold at that size",
    ),
    (
        "card-missing",
        Severity::Warning,
        "a model repo without README.md",
    ),
    (
        "card-yaml",
        Severity::Error,
        "README.md front matter that is not valid, safe YAML mapping",
    ),
    (
        "card-license-missing",
        Severity::Warning,
        "a card without a license",
    ),
    (
        "card-license",
        Severity::Error,
        "a license that is not one of the Hub's license ids",
    ),
    (
        "card-license-other",
        Severity::Warning,
        "license: other without license_name and license_link",
    ),
    (
        "card-license-link",
        Severity::Warning,
        "license_link naming a repo file that does not exist",
    ),
    (
        "card-language",
        Severity::Warning,
        "a language that is not an ISO 639-1/2/3 code",
    ),
    (
        "card-pipeline-tag",
        Severity::Warning,
        "a pipeline_tag that is not a known task id",
    ),
    (
        "card-library",
        Severity::Warning,
        "a library_name that is not a known library id",
    ),
    (
        "card-field-type",
        Severity::Error,
        "tags, datasets, metrics or other fields of the wrong type",
    ),
    (
        "card-repo-id",
        Severity::Error,
        "base_model or new_version entries that are not model ids",
    ),
    (
        "card-dataset-id",
        Severity::Warning,
        "datasets entries that are not dataset ids (the Hub links only ids)",
    ),
    (
        "card-size-category",
        Severity::Warning,
        "a dataset's size_categories value outside the Hub's buckets",
    ),
    (
        "card-base-model-unknown",
        Severity::Warning,
        "a base_model that is not a model on this hub (it may live elsewhere)",
    ),
    (
        "card-base-model-relation",
        Severity::Error,
        "base_model_relation outside adapter, merge, quantized, finetune",
    ),
    (
        "card-model-index",
        Severity::Error,
        "model-index not matching its schema",
    ),
    (
        "license-file-mismatch",
        Severity::Warning,
        "a LICENSE file whose text is another license than the card declares",
    ),
    (
        "safetensors-invalid",
        Severity::Error,
        "a safetensors file whose header the safetensors rules refuse",
    ),
    (
        "shard-index",
        Severity::Error,
        "a *.safetensors.index.json that does not match its shards",
    ),
    (
        "pickle-blocked",
        Severity::Error,
        "a pickle (or PyTorch checkpoint) importing code on picklescan's block list",
    ),
    (
        "pickle-unknown",
        Severity::Warning,
        "a pickle importing something not on the known-safe list",
    ),
    (
        "pickle-unreadable",
        Severity::Error,
        "a pickle, checkpoint or archive of pickles that could not be analysed to its end",
    ),
    (
        "gguf-invalid",
        Severity::Error,
        "a GGUF file with a corrupt header",
    ),
    (
        "config-weights",
        Severity::Warning,
        "config.json disagreeing with the weights' tensors",
    ),
    (
        "config-invalid",
        Severity::Error,
        "config.json that transformers could not load",
    ),
    (
        "config-model-type",
        Severity::Warning,
        "config.json without model_type",
    ),
    (
        "json-invalid",
        Severity::Error,
        "a JSON file the runtime loads that does not parse",
    ),
];

/// The default severity of a rule id.
pub fn default_severity(rule: &str) -> Option<Severity> {
    RULES
        .iter()
        .find(|(id, ..)| *id == rule)
        .map(|(_, s, _)| *s)
}

/// A file the change adds or modifies.
#[derive(Debug, Clone)]
pub struct ChangedFile {
    pub path: String,
    /// Its size in git (for an LFS file, the pointer's size).
    pub size: u64,
    /// Its bytes, or the first [`MAX_TEXT`] of them (`size` tells if some are missing).
    pub content: Vec<u8>,
}

impl ChangedFile {
    fn complete(&self) -> bool {
        self.content.len() as u64 == self.size
    }
}

/// What an LFS object looks like from this repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LfsState {
    /// Stored and linked to this repo, with this size.
    Present(u64),
    Missing,
}

/// What the rules may ask about the repo beyond the changed files.
pub trait Context {
    fn repo_type(&self) -> RepoType;
    /// Whether `path` is a file in the tree after the change.
    fn exists(&self, path: &str) -> bool;
    /// The LFS store's view of an object; `None` when no store is known (a plain git server),
    /// which skips the existence rule.
    fn lfs_object(&self, oid: &str) -> Option<LfsState>;
    /// The bytes of an unchanged file of the new tree (up to [`MAX_TEXT`]), for rules that
    /// compare a changed file with another one; `None` if absent.
    fn read(&self, path: &str) -> Option<Vec<u8>>;
    /// `len` bytes at `offset` of an LFS object (a ranged read from the store); `None` when
    /// there is no store or no such object, which skips the rules on weights' contents.
    fn lfs_read(&self, oid: &str, offset: u64, len: u64) -> Option<Vec<u8>>;
    /// What is left of the bytes the pickle checks may inflate, shared by every file and ref
    /// of one push (start it at [`MAX_PUSH_INFLATED`]); `None`: only each file's own limit.
    fn inflation_left(&self) -> Option<&std::cell::Cell<u64>> {
        None
    }
    /// Whether model `id` is on this hub and the pusher may see it; `None` when unknown (a
    /// plain git server, a card checked alone), which skips the rule.
    fn model_visible(&self, _id: &str) -> Option<bool> {
        None
    }
}

/// The context of a card checked alone (a listing's or a page's view of one README): every
/// other file is taken to exist, and there is no LFS store.
pub struct CardOnly(pub RepoType);

impl Context for CardOnly {
    fn repo_type(&self) -> RepoType {
        self.0
    }
    fn exists(&self, _: &str) -> bool {
        true
    }
    fn lfs_object(&self, _: &str) -> Option<LfsState> {
        None
    }
    fn read(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn lfs_read(&self, _: &str, _: u64, _: u64) -> Option<Vec<u8>> {
        None
    }
}

/// Everything a check finds: the findings, and what it learnt about the weights.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub weights: Vec<WeightsInfo>,
    /// What the weights rules learnt about code in each file they read.
    pub scans: Vec<FileScan>,
}

/// Runs every rule on a change and returns the findings, errors first, with severities from
/// `policy` (rules it turns off are dropped).
pub fn check(changed: &[ChangedFile], ctx: &dyn Context, policy: &Severities) -> Vec<Finding> {
    check_all(changed, ctx, policy).findings
}

/// [`check`], plus the parameter counts and formats of the weights it read.
pub fn check_all(changed: &[ChangedFile], ctx: &dyn Context, policy: &Severities) -> Outcome {
    let mut out = Vec::new();
    let mut weights = Vec::new();
    let mut scans = Vec::new();
    for f in changed {
        files::check(f, ctx, &mut out);
        json_files::check(f, ctx, &mut out);
    }
    card::check(changed, ctx, &mut out);
    license_file::check(changed, ctx, &mut out);
    weights::check(changed, ctx, &mut out, &mut weights, &mut scans);
    for f in &mut out {
        f.severity = policy.severity(f.rule);
    }
    out.retain(|f| f.severity != Severity::Off);
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.path.cmp(&b.path))
            .then(a.rule.cmp(b.rule))
    });
    Outcome {
        findings: out,
        weights,
        scans,
    }
}

/// The effective severity of each rule for one repo (see [`Policy::for_repo`]).
#[derive(Debug, Clone, Default)]
pub struct Severities {
    overrides: Vec<(String, Severity)>,
}

impl Severities {
    pub fn severity(&self, rule: &str) -> Severity {
        self.overrides
            .iter()
            .rev()
            .find(|(r, _)| r == rule)
            .map(|(_, s)| *s)
            .or_else(|| default_severity(rule))
            .unwrap_or(Severity::Error)
    }
}

/// Helper for rules: a finding with the rule's default severity (the policy applies later).
fn finding(rule: &'static str, path: &str, message: String, hint: impl Into<String>) -> Finding {
    Finding {
        rule,
        severity: default_severity(rule).unwrap_or(Severity::Error),
        path: path.to_owned(),
        message: printable(&message),
        hint: hint.into(),
    }
}

/// The longest finding message shown, in bytes.
const MAX_MESSAGE: usize = 600;

/// A message as it may be shown on a terminal (`remote:` lines), in an HTTP header or a page:
/// what it quotes from a file (a pickle's import names, a card's values) can hold control
/// characters, which are escaped (an ANSI escape could repaint the pusher's terminal), and it
/// is cut at [`MAX_MESSAGE`] bytes.
fn printable(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE + 4));
    for c in message.chars() {
        if out.len() >= MAX_MESSAGE {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The final path component.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod printable_tests {
    #[test]
    fn control_characters_are_escaped_and_long_messages_cut() {
        assert_eq!(super::printable("a\x1b[2Jb\nc"), "a\\u{1b}[2Jb\\nc");
        let long = "x".repeat(5000);
        let cut = super::printable(&long);
        assert!(cut.len() <= super::MAX_MESSAGE + 4 && cut.ends_with('…'));
        assert_eq!(super::printable("plain, ünïcode"), "plain, ünïcode");
    }
}
