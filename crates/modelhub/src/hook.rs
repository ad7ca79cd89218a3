//! `modelhub hook pre-receive`: run by git (through the server's `core.hooksPath`, or the shim
//! in hooks/ on any git server) before it accepts a push. A non-zero exit makes git refuse
//! every ref of the push and discard its objects; what is printed reaches the pusher as
//! `remote:` lines.
//!
//! It checks the ref rules of a model hub, then for each pushed ref (branches, tags, and the
//! pull-request refs the commit API writes) only what changed (new tip against old tip; a new
//! ref against the default branch, unless its commit is on a branch or tag already): LFS
//! locks, and the content rules of `repo-rules` with the server's policy.

use std::collections::HashMap;
use std::io::BufRead;

use anyhow::{Context, Result};
use clap::Subcommand;
use git_repos::DEFAULT_BRANCH;
use hub_types::{pushable_ref, RepoType};
use repo_rules::report::{push_report, RefFindings};
use repo_rules::{parse_lfs_pointer, Finding, LfsState, Policy, Severity};

use crate::hook_git::{self, TreeLookup, Update};
use crate::hook_server::Server;

#[derive(Subcommand)]
pub enum HookCmd {
    /// Check a push: reads `OLD NEW REF` lines on stdin, as git's pre-receive hook does.
    PreReceive,
}

const ZERO_OID: &str = "0000000000000000000000000000000000000000";

pub fn run(cmd: HookCmd) -> Result<()> {
    let HookCmd::PreReceive = cmd;
    let started = std::time::Instant::now();
    // Set by the server for commits made through its Hub API (never by a client's push).
    let via_api = std::env::var("MODELHUB_VIA_API").is_ok_and(|v| v == "1");
    let updates = read_updates()?;
    let repo = std::env::var("MODELHUB_REPO").unwrap_or_else(|_| "this repo".into());
    let server = Server::from_env()?;
    // A push may move the ref of an open pull request (adding commits to it): the server
    // knows which are open; a plain git server has none.
    let mut open = std::collections::HashMap::new();
    for u in &updates {
        if let Some(n) = u
            .name
            .strip_prefix("refs/pr/")
            .and_then(|n| n.parse::<u64>().ok())
        {
            if let Some(s) = &server {
                if let Some(author) = s.open_pull_request(n)? {
                    open.insert(n, author);
                }
            }
        }
    }
    let mut errors = check_refs(&updates, &|n| open.contains_key(&n));
    // Set by the server when it lands what it imported from another hub (never by a
    // client): the import policy applies, and a mirror takes only such pushes.
    let importing = std::env::var("MODELHUB_IMPORT").is_ok_and(|v| v == "1");
    if let (Some(s), false) = (&server, importing) {
        if let Some(upstream) = s.mirror_of()? {
            errors.push(format!(
                "{repo} is a read-only mirror of {upstream}: change it there (it syncs from \
                 there), or make it an ordinary repo with `modelhub mirror detach {repo}`"
            ));
        }
    }
    // Someone who may only read the repo (set by the server, never by a client) pushes only to
    // the open pull requests they opened.
    if std::env::var("MODELHUB_PUSH_CONTRIBUTOR").is_ok_and(|v| v == "1") {
        let pusher: Option<i64> = std::env::var("MODELHUB_PUSHER_ID")
            .ok()
            .and_then(|v| v.parse().ok());
        for u in &updates {
            let own = u
                .name
                .strip_prefix("refs/pr/")
                .and_then(|n| n.parse::<u64>().ok())
                .and_then(|n| open.get(&n))
                .is_some_and(|author| author.is_some() && *author == pusher);
            if !own {
                errors.push(format!(
                    "{}: you may push only to open pull requests you opened (refs/pr/N); \
                     ask a writer of {repo} for write access to push elsewhere",
                    u.name
                ));
            }
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("error: {e}");
        }
        reject(&repo, errors.len());
    }

    if let Some(s) = &server {
        if let Some(refusal) = s.quota_refusal()? {
            eprintln!("error: {refusal}");
            report_outcome(true, &[("quota", "error")]);
            reject(&repo, 1);
        }
    }
    let policy = match &server {
        Some(s) => Policy::load(&s.data_dir.join("policy.toml"))?,
        None => match std::env::var_os("MODELHUB_POLICY") {
            Some(p) => Policy::load(std::path::Path::new(&p))?,
            None => Policy::default(),
        },
    };
    let severities = if importing {
        policy.for_import()
    } else {
        policy.for_repo(std::env::var("MODELHUB_REPO").ok().as_deref())
    };
    let repo_type: RepoType = std::env::var("MODELHUB_REPO_TYPE")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(RepoType::Model);

    let mut per_ref: Vec<(String, Vec<Finding>)> = Vec::new();
    let mut lock_errors = Vec::new();
    let mut path_errors = Vec::new();
    // Every ref that survived the ref rules is checked, pull-request refs included: content
    // refused on a branch is refused on `refs/pr/N` too, so no ref can hold it.
    let bases = hook_git::Bases::new(&updates)?;
    // What the pickle checks may inflate, over every ref and file of the push.
    let inflation = std::cell::Cell::new(repo_rules::MAX_PUSH_INFLATED);
    for u in updates.iter().filter(|u| !u.is_delete()) {
        let Some(base) = bases.of(u)? else {
            continue;
        };
        let entries = hook_git::diff(&base, &u.new)?;
        // A tree entry that a checkout would write into `.git` (in any spelling a file system
        // folds to it) is refused outright: no policy turns this off.
        for e in entries.iter().filter(|e| !e.deleted) {
            if let Err(err) = hub_types::check_repo_path(&e.path) {
                path_errors.push(format!("{}: {err}", u.name));
            }
        }
        if let Some(s) = &server {
            if u.name.starts_with("refs/heads/") {
                lock_errors.extend(s.lock_conflicts(&u.name, &entries)?);
            }
        }
        let files = hook_git::changed_files(&entries)?;
        let oids: Vec<String> = files
            .iter()
            .filter_map(|f| parse_lfs_pointer(&f.content).and_then(Result::ok))
            .map(|p| p.oid)
            .collect();
        let lfs = match &server {
            Some(s) => Some(s.lfs_states(&oids)?),
            None => None,
        };
        let ctx = HookContext {
            server: server.as_ref(),
            repo_type,
            tree: TreeLookup::new(&u.new),
            lfs,
            inflation: &inflation,
        };
        let mut outcome = repo_rules::check_all(&files, &ctx, &severities);
        if let Some(s) = &server {
            s.record_weights(&outcome.weights)?;
            s.record_scans(&outcome.scans, &files, &entries)?;
        }
        if via_api {
            for f in &mut outcome.findings {
                api_hint(f);
            }
        }
        per_ref.push((u.name.clone(), outcome.findings));
    }
    if !path_errors.is_empty() {
        for e in &path_errors {
            eprintln!("error: {e}");
        }
        report_outcome(true, &[("path", "error")]);
        reject(&repo, path_errors.len());
    }
    if !lock_errors.is_empty() {
        for e in &lock_errors {
            eprintln!("error: {e}");
        }
        report_outcome(true, &[("lock", "error")]);
        reject(&repo, lock_errors.len());
    }
    if std::env::var_os("MODELHUB_HOOK_STATS").is_some() {
        // For benchmarks: what the check cost.
        let files: usize = per_ref.len();
        let read = server.as_ref().map_or(0, |s| s.bytes_read.get());
        eprintln!(
            "modelhub: checked {files} ref(s) in {} ms, reading {read} bytes of LFS objects",
            started.elapsed().as_millis()
        );
    }
    let refs: Vec<RefFindings> = per_ref
        .iter()
        .filter(|(_, f)| !f.is_empty())
        .map(|(name, findings)| RefFindings {
            ref_name: name,
            findings,
        })
        .collect();
    if refs.is_empty() {
        report_outcome(false, &[]);
        return accepted(server.as_ref(), &updates, &repo);
    }
    eprint!("{}", push_report(&repo, &refs));
    let failed = refs
        .iter()
        .any(|r| r.findings.iter().any(|f| f.severity == Severity::Error));
    let found: Vec<(&str, &str)> = refs
        .iter()
        .flat_map(|r| r.findings.iter())
        .map(|f| {
            let severity = if f.severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            (f.rule, severity)
        })
        .collect();
    report_outcome(failed, &found);
    if failed {
        std::process::exit(1);
    }
    accepted(server.as_ref(), &updates, &repo)
}

/// The push passed: under the server, its webhook event is written before git moves the
/// refs (tentative until the server sees them moved), so no crash after this loses it. A
/// push whose event cannot be written is refused: it would land untold.
fn accepted(server: Option<&Server>, updates: &[Update], repo: &str) -> Result<()> {
    if let Some(s) = server {
        if let Err(e) = s.record_push(updates) {
            eprintln!("error: the push could not be recorded for webhooks ({e:#}); try again");
            reject(repo, 1);
        }
    }
    Ok(())
}

/// Leaves the push's outcome for the server's metrics: one small JSON file in the folder
/// `MODELHUB_HOOK_REPORTS` names (the server reads and removes them when it is scraped).
/// Advice that fits a commit made through the Hub API, where git and git-lfs commands mean
/// nothing to the person reading it.
fn api_hint(f: &mut repo_rules::Finding) {
    if matches!(f.rule, "large-file" | "weights-not-in-lfs" | "binary-file") {
        f.hint = "upload it with huggingface_hub's upload_file/upload_folder/create_commit, \
                  which send it through LFS when the repo's .gitattributes tracks its pattern \
                  (add the pattern to .gitattributes in the same commit if it does not)"
            .into();
    }
}

/// Best effort: a report that cannot be written changes nothing about the push.
fn report_outcome(refused: bool, findings: &[(&str, &str)]) {
    /// Reports left unread before more are dropped (a server nobody scrapes).
    const MAX_PENDING: usize = 10_000;
    let Some(dir) = std::env::var_os("MODELHUB_HOOK_REPORTS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    if std::fs::create_dir_all(&dir).is_err()
        || std::fs::read_dir(&dir).map_or(true, |d| d.count() >= MAX_PENDING)
    {
        return;
    }
    let body = serde_json::json!({ "refused": refused, "findings": findings });
    let name = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    // Written aside, then renamed: the server never reads half a report.
    let tmp = dir.join(format!(".{name}"));
    if std::fs::write(&tmp, body.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join(format!("{name}.json")));
    }
}

fn read_updates() -> Result<Vec<Update>> {
    let mut updates = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading the ref updates from git")?;
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(old), Some(new), Some(name), None) => updates.push(Update {
                old: old.to_owned(),
                new: new.to_owned(),
                name: name.to_owned(),
            }),
            _ => anyhow::bail!("unexpected pre-receive input line: {line:?}"),
        }
    }
    Ok(updates)
}

fn reject(repo: &str, errors: usize) -> ! {
    let s = if errors == 1 { "" } else { "s" };
    eprintln!("modelhub rejected the push to {repo}: {errors} error{s}");
    std::process::exit(1);
}

/// What the content rules may ask about the pushed ref.
struct HookContext<'a> {
    server: Option<&'a Server>,
    repo_type: RepoType,
    tree: TreeLookup,
    lfs: Option<HashMap<String, LfsState>>,
    inflation: &'a std::cell::Cell<u64>,
}

impl repo_rules::Context for HookContext<'_> {
    fn repo_type(&self) -> RepoType {
        self.repo_type
    }

    fn exists(&self, path: &str) -> bool {
        self.tree.exists(path)
    }

    fn lfs_object(&self, oid: &str) -> Option<LfsState> {
        let lfs = self.lfs.as_ref()?;
        Some(lfs.get(oid).copied().unwrap_or(LfsState::Missing))
    }

    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.tree.read(path)
    }

    fn model_visible(&self, id: &str) -> Option<bool> {
        self.server?.model_visible(id).ok()
    }

    fn lfs_read(&self, oid: &str, offset: u64, len: u64) -> Option<Vec<u8>> {
        let server = self.server?;
        // Objects of unchanged files (a shard, the weights a new config describes) were not
        // looked up with the push's pointers: only read what this repo holds.
        let state = match self.lfs.as_ref().and_then(|m| m.get(oid)) {
            Some(s) => *s,
            None => *server.lfs_states(&[oid.to_owned()]).ok()?.get(oid)?,
        };
        match state {
            LfsState::Present(_) => server.lfs_read(oid, offset, len),
            LfsState::Missing => None,
        }
    }

    fn inflation_left(&self) -> Option<&std::cell::Cell<u64>> {
        Some(self.inflation)
    }
}

/// The ref rules; `open_pr(N)`: whether pull request N is open (its ref may then be moved
/// forward by a push, never created or deleted).
fn check_refs(updates: &[Update], open_pr: &dyn Fn(u64) -> bool) -> Vec<String> {
    // Pull-request refs are written by the server's commit API, which says so; a client can
    // never set this variable for its own push.
    let api_pr = std::env::var("MODELHUB_API_PR").is_ok_and(|v| v == "1");
    let mut errors = Vec::new();
    for u in updates {
        let deleting = u.is_delete();
        if api_pr && u.name.starts_with("refs/pr/") {
            continue;
        }
        if let Some(n) = u.name.strip_prefix("refs/pr/").and_then(|n| n.parse().ok()) {
            if u.old != ZERO_OID && !deleting && open_pr(n) {
                continue;
            }
            if !open_pr(n) && !deleting {
                errors.push(format!(
                    "{}: pull request #{n} is not open; open one with the Hub API (create_pull_request) and push to its ref",
                    u.name
                ));
                continue;
            }
        }
        if let Err(e) = pushable_ref(&u.name) {
            // Deleting a stray ref is how one cleans up; creating or moving one is refused.
            if !deleting {
                errors.push(e.to_string());
            }
            continue;
        }
        if deleting && u.name == format!("refs/heads/{DEFAULT_BRANCH}") {
            errors.push(format!(
                "{}: the default branch cannot be deleted (old tip {})",
                u.name,
                if u.old == ZERO_OID { "none" } else { &u.old }
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(new: &str, name: &str) -> Update {
        Update {
            old: "1".repeat(40),
            new: new.to_owned(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn ref_rules() {
        let sha = "a".repeat(40);
        let none = |_| false;
        assert!(check_refs(
            &[up(&sha, "refs/heads/dev"), up(&sha, "refs/tags/v1")],
            &none
        )
        .is_empty());
        assert_eq!(check_refs(&[up(&sha, "refs/notes/x")], &none).len(), 1);
        assert_eq!(
            check_refs(&[up(ZERO_OID, "refs/heads/main")], &none).len(),
            1
        );
        assert!(check_refs(&[up(ZERO_OID, "refs/heads/dev")], &none).is_empty());
        assert!(check_refs(&[up(ZERO_OID, "refs/notes/x")], &none).is_empty());
        // An open pull request's ref moves forward by a push; a closed one's does not.
        let two = |n| n == 2;
        assert!(check_refs(&[up(&sha, "refs/pr/2")], &two).is_empty());
        assert_eq!(check_refs(&[up(&sha, "refs/pr/3")], &two).len(), 1);
    }
}
