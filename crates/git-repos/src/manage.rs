//! Changing repos outside a push: branches and tags made through the API, moving and deleting
//! whole repos. Ref updates go through `git update-ref` / `git tag`, so they take git's own
//! ref locks and cannot race a concurrent push into an inconsistent state.

use std::path::Path;
use std::process::Stdio;

use hub_types::RepoRef;

use crate::{git_command, GitRepos, RepoError};

const ZERO: &str = "0000000000000000000000000000000000000000";

#[derive(Debug, thiserror::Error)]
pub enum RefUpdateError {
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0} does not exist")]
    Missing(String),
    #[error("invalid ref name {0:?}")]
    BadName(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Whether `name` is a valid branch or tag name (what `git check-ref-format` accepts, minus
/// the oddities nobody needs).
pub fn valid_ref_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name
            .bytes()
            .any(|b| b < 0x20 || b == 0x7f || b"~^:?*[\\ ".contains(&b))
}

async fn run(repo: &Path, args: &[&str], who: Option<&str>) -> Result<(bool, String), RepoError> {
    let mut cmd = git_command();
    cmd.current_dir(repo)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(who) = who {
        let email = format!("{who}@users.noreply.modelhub");
        cmd.env("GIT_COMMITTER_NAME", who)
            .env("GIT_COMMITTER_EMAIL", &email);
    }
    let out = cmd.output().await?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    ))
}

impl GitRepos {
    /// Creates `refs/heads/{branch}` at `commit`; refuses if it exists.
    pub async fn create_branch(
        &self,
        repo: &RepoRef,
        branch: &str,
        commit: &str,
        who: &str,
    ) -> Result<(), RefUpdateError> {
        if !valid_ref_name(branch) {
            return Err(RefUpdateError::BadName(branch.to_owned()));
        }
        let full = format!("refs/heads/{branch}");
        let msg = format!("branch created by {who} through the API");
        let (ok, _) = run(
            &self.path(repo),
            &[
                "update-ref",
                "--create-reflog",
                "-m",
                &msg,
                &full,
                commit,
                ZERO,
            ],
            Some(who),
        )
        .await?;
        if ok {
            Ok(())
        } else {
            Err(RefUpdateError::Exists(full))
        }
    }

    /// Deletes a branch or tag ref (`refs/heads/x`, `refs/tags/x`).
    pub async fn delete_ref(&self, repo: &RepoRef, full: &str) -> Result<(), RefUpdateError> {
        let path = self.path(repo);
        let (exists, _) = run(&path, &["show-ref", "--verify", "--quiet", full], None).await?;
        if !exists {
            return Err(RefUpdateError::Missing(full.to_owned()));
        }
        let (ok, err) = run(&path, &["update-ref", "-d", full], None).await?;
        if ok {
            Ok(())
        } else {
            Err(RepoError::Git {
                args: format!("update-ref -d {full}"),
                stderr: err,
            }
            .into())
        }
    }

    /// Creates tag `tag` at `commit`: annotated with `message` if given, else lightweight.
    pub async fn create_tag(
        &self,
        repo: &RepoRef,
        tag: &str,
        commit: &str,
        message: Option<&str>,
        who: &str,
    ) -> Result<(), RefUpdateError> {
        if !valid_ref_name(tag) {
            return Err(RefUpdateError::BadName(tag.to_owned()));
        }
        let full = format!("refs/tags/{tag}");
        let path = self.path(repo);
        let (ok, _) = match message {
            Some(m) => run(&path, &["tag", "-a", "-m", m, tag, commit], Some(who)).await?,
            None => run(&path, &["update-ref", &full, commit, ZERO], Some(who)).await?,
        };
        if ok {
            Ok(())
        } else {
            Err(RefUpdateError::Exists(full))
        }
    }

    /// Moves a repo on disk (after its registration moved).
    pub async fn rename(&self, from: &RepoRef, to: &RepoRef) -> Result<(), RepoError> {
        let target = self.path(to);
        if target.exists() {
            return Err(RepoError::Exists(target));
        }
        tokio::fs::create_dir_all(target.parent().expect("a repo path has a parent")).await?;
        self.readers.forget(&self.path(from));
        tokio::fs::rename(self.path(from), &target).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ref_names() {
        for ok in ["main", "dev", "feature/x", "v1.0", "release-2"] {
            assert!(super::valid_ref_name(ok), "{ok}");
        }
        for bad in [
            "", "-x", "a..b", "a b", "x.lock", "a~1", "/x", "x/", "a@{1}", "a:b",
        ] {
            assert!(!super::valid_ref_name(bad), "{bad}");
        }
    }
}
