//! The LFS-lock rule of the pre-receive hook: a push may not change a file that someone else
//! has locked. git-lfs checks this on the client only when `lfs.locksverify` is on; the server
//! checks it always, as GitLab does.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

use accounts::{Accounts, LockQuery};
use anyhow::{Context, Result};
use git_repos::DEFAULT_BRANCH;

use crate::hook::Update;

/// Who pushes to which repo, from the environment the modelhub server gives its hooks.
struct PushEnv {
    data_dir: PathBuf,
    repo_id: i64,
    pusher_id: i64,
}

impl PushEnv {
    /// `None` when the hook runs outside a modelhub server (a plain git server has no locks).
    fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok();
        Some(PushEnv {
            data_dir: var("MODELHUB_DATA_DIR")?.into(),
            repo_id: var("MODELHUB_REPO_ID")?.parse().ok()?,
            pusher_id: var("MODELHUB_PUSHER_ID")?.parse().ok()?,
        })
    }
}

/// One error per locked file the push changes, naming the lock's owner.
pub fn check(updates: &[Update]) -> Result<Vec<String>> {
    let Some(env) = PushEnv::from_env() else {
        return Ok(Vec::new());
    };
    let branches: Vec<&Update> = updates
        .iter()
        .filter(|u| u.name.starts_with("refs/heads/") && !u.is_delete())
        .collect();
    if branches.is_empty() {
        return Ok(Vec::new());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime for the lock check")?;
    let locks = runtime.block_on(async {
        let db = Accounts::open(&env.data_dir.join("modelhub.db")).await?;
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let q = LockQuery {
                cursor,
                limit: 1000,
                ..LockQuery::default()
            };
            let (page, next) = db.list_locks(env.repo_id, &q).await?;
            all.extend(page);
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        anyhow::Ok(all)
    })?;
    let theirs: Vec<_> = locks
        .iter()
        .filter(|l| l.owner_id != env.pusher_id)
        .collect();
    if theirs.is_empty() {
        return Ok(Vec::new());
    }
    let mut errors = Vec::new();
    for u in branches {
        let changed = changed_paths(u)?;
        for lock in &theirs {
            let applies = lock.ref_name.as_deref().is_none_or(|r| r == u.name);
            if applies && changed.contains(&lock.path) {
                errors.push(format!(
                    "{}: locked by {} (lock {}); only they can push changes to it. Ask them to \
                     run `git lfs unlock {}`, or a repo admin to force-unlock it",
                    lock.path, lock.owner_name, lock.id, lock.path
                ));
            }
        }
    }
    Ok(errors)
}

/// The paths a ref update changes: against the old tip, or for a new branch against the
/// default branch (everything, if there is none). Git reads the pushed objects from the
/// quarantine through the environment it gave this hook.
fn changed_paths(u: &Update) -> Result<HashSet<String>> {
    let base = if u.is_create() {
        let out = Command::new("git")
            .args([
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{DEFAULT_BRANCH}"),
            ])
            .output()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Some(u.old.clone())
    };
    let out = match &base {
        Some(base) => Command::new("git")
            .args(["diff", "--name-only", "-z", "--no-renames", base, &u.new])
            .output()?,
        None => Command::new("git")
            .args(["ls-tree", "-r", "--name-only", "-z", &u.new])
            .output()?,
    };
    anyhow::ensure!(
        out.status.success(),
        "git could not list the changes of {}: {}",
        u.name,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}
