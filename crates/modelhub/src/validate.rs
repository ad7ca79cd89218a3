//! `modelhub validate DIR` (the push rules on a local folder, before a push) and
//! `modelhub policy show [REPO]`.
//!
//! A folder is judged as its first push would be: every file is new. Files that
//! `.gitattributes` sends to LFS are judged as the pointers git would store (an LFS pointer
//! already in the folder stays one); the LFS store rule is skipped, as no store is asked.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use hub_types::RepoType;
use repo_rules::report::{counts, lint_report};
use repo_rules::{parse_lfs_pointer, ChangedFile, LfsPatterns, LfsState, Policy, MAX_TEXT};
use sha2::{Digest, Sha256};

#[derive(Args)]
pub struct ValidateArgs {
    /// The folder to check (a working copy of the repo).
    dir: PathBuf,
    #[arg(long = "type", default_value = "model", value_parser = ["model", "dataset", "space"])]
    repo_type: String,
    /// Output: text (like a linter) or json (for CI).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// A policy file (TOML) with rule severities, as the server's.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The repo id the policy's namespace and repo sections are matched against.
    #[arg(long)]
    repo: Option<String>,
}

/// Runs the rules; returns whether there were errors (the caller exits 1).
pub fn run(args: ValidateArgs) -> Result<bool> {
    let repo_type: RepoType = args.repo_type.parse()?;
    let policy = match &args.policy {
        Some(p) => Policy::load(p)?,
        None => Policy::default(),
    };
    let lfs = lfs_patterns(&args.dir)?;
    let mut files = Vec::new();
    // LFS-tracked files by the oid of the pointer they stand for, so weight rules can read them.
    let mut objects = std::collections::HashMap::new();
    for entry in walkdir::WalkDir::new(&args.dir).sort_by_file_name() {
        let entry = entry?;
        let rel = entry
            .path()
            .strip_prefix(&args.dir)
            .expect("walkdir stays inside the folder");
        if rel
            .components()
            .next()
            .is_some_and(|c| c.as_os_str() == ".git")
            || !entry.file_type().is_file()
        {
            continue;
        }
        let path = rel.to_string_lossy().replace('\\', "/");
        let (file, oid) = read_file(entry.path(), &path, lfs.is_lfs(&path))?;
        if let Some(oid) = oid {
            objects.insert(oid, entry.path().to_owned());
        }
        files.push(file);
    }
    let ctx = Folder {
        repo_type,
        root: args.dir.clone(),
        objects,
        paths: files.iter().map(|f| f.path.clone()).collect(),
    };
    let findings = repo_rules::check(&files, &ctx, &policy.for_repo(args.repo.as_deref()));
    let (errors, warnings) = counts(&findings);
    if args.format == "json" {
        let out = serde_json::json!({ "findings": findings, "errors": errors, "warnings": warnings, "files": files.len() });
        emit(&format!("{}\n", serde_json::to_string_pretty(&out)?));
    } else {
        emit(&lint_report(&findings));
    }
    Ok(errors > 0)
}

/// A file as git would store it: LFS-tracked files become pointers (and the pointer's oid is
/// returned with them).
fn read_file(full: &Path, path: &str, lfs_tracked: bool) -> Result<(ChangedFile, Option<String>)> {
    let size = std::fs::metadata(full)?.len();
    let mut head = Vec::new();
    File::open(full)?
        .take(MAX_TEXT as u64)
        .read_to_end(&mut head)?;
    let is_pointer = parse_lfs_pointer(&head).is_some_and(|p| p.is_ok());
    if !lfs_tracked || is_pointer {
        let content = if size as usize <= MAX_TEXT {
            head
        } else {
            head[..8000.min(head.len())].to_vec()
        };
        let file = ChangedFile {
            path: path.to_owned(),
            size,
            content,
        };
        return Ok((file, None));
    }
    let mut hasher = Sha256::new();
    std::io::copy(&mut File::open(full)?, &mut hasher)
        .with_context(|| format!("reading {path}"))?;
    let oid = hex::encode(hasher.finalize());
    let pointer =
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n");
    let file = ChangedFile {
        path: path.to_owned(),
        size: pointer.len() as u64,
        content: pointer.into_bytes(),
    };
    Ok((file, Some(oid)))
}

/// The `filter=lfs` patterns of the folder's `.gitattributes`.
fn lfs_patterns(dir: &Path) -> Result<LfsPatterns> {
    Ok(LfsPatterns::parse(
        &std::fs::read_to_string(dir.join(".gitattributes")).unwrap_or_default(),
    ))
}

struct Folder {
    repo_type: RepoType,
    root: PathBuf,
    objects: std::collections::HashMap<String, PathBuf>,
    paths: std::collections::HashSet<String>,
}

impl repo_rules::Context for Folder {
    fn repo_type(&self) -> RepoType {
        self.repo_type
    }
    fn exists(&self, path: &str) -> bool {
        self.paths.contains(path)
    }
    fn lfs_object(&self, _oid: &str) -> Option<LfsState> {
        None
    }
    fn lfs_read(&self, oid: &str, offset: u64, len: u64) -> Option<Vec<u8>> {
        use std::io::{Seek, SeekFrom};
        let mut f = File::open(self.objects.get(oid)?).ok()?;
        f.seek(SeekFrom::Start(offset)).ok()?;
        let mut data = Vec::new();
        f.take(len).read_to_end(&mut data).ok()?;
        Some(data)
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        if !self.paths.contains(path) {
            return None;
        }
        let mut data = Vec::new();
        File::open(self.root.join(path))
            .ok()?
            .take(MAX_TEXT as u64)
            .read_to_end(&mut data)
            .ok()?;
        Some(data)
    }
}

#[derive(clap::Subcommand)]
pub enum PolicyCmd {
    /// Print every rule's effective severity, globally or for one repo (NS/NAME).
    Show { repo: Option<String> },
}

pub fn policy(data_dir: &Path, cmd: PolicyCmd) -> Result<()> {
    let PolicyCmd::Show { repo } = cmd;
    let path = data_dir.join("policy.toml");
    let policy = Policy::load(&path)?;
    let source = if path.exists() {
        path.display().to_string()
    } else {
        "defaults (no policy.toml)".into()
    };
    let mut out = format!(
        "policy for {} from {source}\n",
        repo.as_deref().unwrap_or("all repos")
    );
    for (rule, severity, what) in policy.table(repo.as_deref()) {
        out.push_str(&format!("{rule:<26} {severity:<8} {what}\n"));
    }
    emit(&out);
    Ok(())
}

/// Writes to stdout; a reader that went away (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
