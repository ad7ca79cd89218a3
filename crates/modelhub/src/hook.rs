//! `modelhub hook pre-receive`: run by git (through the server's `core.hooksPath`, or the shim
//! in hooks/ on any git server) before it accepts a push. A non-zero exit makes git refuse
//! every ref of the push and discard its objects; what is printed reaches the pusher as
//! `remote:` lines.
//!
//! Today it enforces the ref rules of a model hub and LFS locks; the content validator plugs
//! in here.

use std::io::BufRead;

use anyhow::{Context, Result};
use clap::Subcommand;
use git_repos::DEFAULT_BRANCH;
use hub_types::pushable_ref;

#[derive(Subcommand)]
pub enum HookCmd {
    /// Check a push: reads `OLD NEW REF` lines on stdin, as git's pre-receive hook does.
    PreReceive,
}

const ZERO_OID: &str = "0000000000000000000000000000000000000000";

/// One ref update of a push.
pub struct Update {
    pub old: String,
    pub new: String,
    pub name: String,
}

impl Update {
    pub fn is_delete(&self) -> bool {
        self.new.bytes().all(|b| b == b'0')
    }

    pub fn is_create(&self) -> bool {
        self.old.bytes().all(|b| b == b'0')
    }
}

pub fn run(cmd: HookCmd) -> Result<()> {
    let HookCmd::PreReceive = cmd;
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
    let mut errors = check_refs(&updates);
    if errors.is_empty() {
        errors.extend(crate::hook_locks::check(&updates)?);
    }
    if errors.is_empty() {
        return Ok(());
    }
    let repo = std::env::var("MODELHUB_REPO").unwrap_or_default();
    for e in &errors {
        eprintln!("error: {e}");
    }
    let s = if errors.len() == 1 { "" } else { "s" };
    eprintln!(
        "modelhub rejected the push to {repo}: {} error{s}",
        errors.len()
    );
    std::process::exit(1);
}

fn check_refs(updates: &[Update]) -> Vec<String> {
    let mut errors = Vec::new();
    for u in updates {
        let deleting = u.is_delete();
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
        assert!(check_refs(&[up(&sha, "refs/heads/dev"), up(&sha, "refs/tags/v1")]).is_empty());
        assert_eq!(check_refs(&[up(&sha, "refs/notes/x")]).len(), 1);
        assert_eq!(check_refs(&[up(ZERO_OID, "refs/heads/main")]).len(), 1);
        assert!(check_refs(&[up(ZERO_OID, "refs/heads/dev")]).is_empty());
        assert!(check_refs(&[up(ZERO_OID, "refs/notes/x")]).is_empty());
    }
}
