//! Changing repos outside a push: branches and tags made through the API and squashed
//! histories (landed as pushes, so the hook validates them), ref deletions, moving and
//! deleting whole repos. Ref updates go
//! through receive-pack or `git update-ref`, so they take git's own ref locks and cannot race
//! a concurrent push into an inconsistent state.

use std::path::Path;
use std::process::Stdio;

use hub_types::RepoRef;

use crate::commit::{git, CommitError, NewRef};
use crate::{git_command, GitRepos, RepoError, ServiceEnv};

#[derive(Debug, thiserror::Error)]
pub enum RefUpdateError {
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0} does not exist")]
    Missing(String),
    #[error("{0} is a tag; only a branch's history can be squashed")]
    NotABranch(String),
    #[error("{0} moved meanwhile; retry on its new head")]
    Moved(String),
    #[error("invalid ref name {0:?}")]
    BadName(String),
    #[error("the tag message contains a NUL or control character")]
    BadMessage,
    /// The pre-receive hook refused the new ref; the text is what it said.
    #[error("{0}")]
    Rejected(String),
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

/// Whether a commit or tag message may be written: text, with no NUL or control character
/// other than line breaks and tabs (git refuses NUL; the rest would reach terminals).
pub fn valid_message(m: &str) -> bool {
    !m.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
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
    /// Creates a branch or tag through the API. It is landed as a push into the repo (from a
    /// scratch repo that borrows its objects), so the pre-receive hook validates it like any
    /// other door that writes a ref: a commit that never passed validation for this repo
    /// (one only a pull request or nothing points at) is checked before a branch or tag
    /// may name it. Refuses if the ref exists.
    pub async fn create_ref(
        &self,
        repo: &RepoRef,
        new: NewRef<'_>,
        who: &str,
        env: &ServiceEnv,
    ) -> Result<(), RefUpdateError> {
        let (name, full) = match new {
            NewRef::Branch { name, .. } => (name, format!("refs/heads/{name}")),
            NewRef::Tag { name, .. } => (name, format!("refs/tags/{name}")),
        };
        if !valid_ref_name(name) {
            return Err(RefUpdateError::BadName(name.to_owned()));
        }
        if let NewRef::Tag {
            message: Some(m), ..
        } = new
        {
            if !valid_message(m) {
                return Err(RefUpdateError::BadMessage);
            }
        }
        // A ref that exists is refused even if it points where the new one would (the
        // push below would then be "up to date" and succeed).
        let (exists, _) = run(
            &self.path(repo),
            &["show-ref", "--verify", "--quiet", &full],
            None,
        )
        .await?;
        if exists {
            return Err(RefUpdateError::Exists(full));
        }
        let tmp = self.scratch(repo).await?;
        let scratch = tmp.path();
        let refspec = match new {
            NewRef::Branch { commit, .. }
            | NewRef::Tag {
                commit,
                message: None,
                ..
            } => format!("{commit}:{full}"),
            NewRef::Tag {
                commit,
                message: Some(m),
                ..
            } => {
                let (ok, err) = run(
                    scratch,
                    &["--git-dir=.", "tag", "-a", "-m", m, name, commit],
                    Some(who),
                )
                .await?;
                if !ok {
                    return Err(RepoError::Git {
                        args: "tag -a".into(),
                        stderr: err,
                    }
                    .into());
                }
                format!("{full}:{full}")
            }
        };
        match self
            .push_from(repo, scratch, &refspec, &full, None, env)
            .await
        {
            Ok(()) => Ok(()),
            Err(CommitError::Stale) => Err(RefUpdateError::Exists(full)),
            Err(e) => Err(pushed_ref_error(e)),
        }
    }

    /// Replaces branch `name`'s history with one commit, by `who` with `message`, that holds
    /// the branch's current tree (`super_squash_history`); returns that commit. Landed as a
    /// push with a lease on the tip it read, so the hook sees it (the tree is the one it
    /// validated: nothing to check) and a change made meanwhile is not lost (`Moved`). What
    /// only the old history used stays stored until garbage collection.
    pub async fn squash(
        &self,
        repo: &RepoRef,
        name: &str,
        message: &str,
        who: &str,
        env: &ServiceEnv,
    ) -> Result<String, RefUpdateError> {
        if !valid_ref_name(name) {
            return Err(RefUpdateError::BadName(name.to_owned()));
        }
        if !valid_message(message) {
            return Err(RefUpdateError::BadMessage);
        }
        let full = format!("refs/heads/{name}");
        let path = self.path(repo);
        let tmp = self.scratch(repo).await?;
        let (scratch, index) = (tmp.path(), tmp.path().join("index.api"));
        let Ok(tip) = git(
            &path,
            &index,
            &["rev-parse", "--verify", "-q", &format!("{full}^{{commit}}")],
            None,
            None,
        )
        .await
        else {
            let tag = format!("refs/tags/{name}");
            let (is_tag, _) = run(&path, &["show-ref", "--verify", "--quiet", &tag], None).await?;
            return Err(if is_tag {
                RefUpdateError::NotABranch(tag)
            } else {
                RefUpdateError::Missing(full)
            });
        };
        let commit = git(
            scratch,
            &index,
            &["commit-tree", &format!("{tip}^{{tree}}"), "-F", "-"],
            Some(message.as_bytes()),
            Some(who),
        )
        .await?;
        let refspec = format!("{commit}:{full}");
        match self
            .push_from(repo, scratch, &refspec, &full, Some(&tip), env)
            .await
        {
            Ok(()) => Ok(commit),
            Err(CommitError::Stale) => Err(RefUpdateError::Moved(full)),
            Err(e) => Err(pushed_ref_error(e)),
        }
    }

    /// Deletes a branch or tag ref (`refs/heads/x`, `refs/tags/x`).
    pub async fn delete_ref(&self, repo: &RepoRef, full: &str) -> Result<(), RefUpdateError> {
        let short = full
            .strip_prefix("refs/heads/")
            .or_else(|| full.strip_prefix("refs/tags/"))
            .unwrap_or("");
        if !valid_ref_name(short) {
            return Err(RefUpdateError::BadName(short.to_owned()));
        }
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

/// What a refused push of an API ref change (other than a moved ref) means.
fn pushed_ref_error(e: CommitError) -> RefUpdateError {
    match e {
        CommitError::Rejected(said) => RefUpdateError::Rejected(said),
        CommitError::Repo(e) => e.into(),
        e => RepoError::Git {
            args: "push".into(),
            stderr: e.to_string(),
        }
        .into(),
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
