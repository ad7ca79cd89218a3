//! Pull requests in git: `refs/pr/N` refs opened at a base commit, what a pull request
//! changes (a unified diff against the merge base), which files would conflict, and merging
//! into the base branch without a work tree (`git merge-tree --write-tree`), landed as a push
//! so the pre-receive hook validates the result and the ref moves by compare-and-swap.

use std::process::Stdio;

use hub_types::RepoRef;
use tokio::io::AsyncReadExt;

use crate::commit::{git, CommitError};
use crate::{git_command, GitRepos, RepoError, ServiceEnv};

/// Why a merge did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// These files changed on both sides in ways git cannot reconcile.
    #[error("merge conflict in {}", .0.join(", "))]
    Conflict(Vec<String>),
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl From<RepoError> for MergeError {
    fn from(e: RepoError) -> Self {
        MergeError::Commit(e.into())
    }
}

/// A diff as far as it was read: `truncated` if it went on past the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub text: String,
    pub truncated: bool,
}

/// What `git merge-tree` made of two commits.
enum Merged {
    Tree(String),
    Conflicts(Vec<String>),
}

impl GitRepos {
    /// Opens `refs/pr/{num}` at `commit` (already in the repo), as a push through the hook.
    /// Refuses if the ref exists.
    pub async fn open_pull_ref(
        &self,
        repo: &RepoRef,
        num: u64,
        commit: &str,
        env: &ServiceEnv,
    ) -> Result<(), CommitError> {
        let full = format!("refs/pr/{num}");
        let tmp = self.scratch(repo).await?;
        self.push_from(
            repo,
            tmp.path(),
            &format!("{commit}:{full}"),
            &full,
            None,
            env,
        )
        .await
    }

    async fn merge_tree(
        &self,
        scratch: &std::path::Path,
        base: &str,
        head: &str,
    ) -> Result<Merged, RepoError> {
        let out = git_command()
            .current_dir(scratch)
            .env("GIT_DIR", scratch)
            .args([
                "merge-tree",
                "--write-tree",
                "--name-only",
                "--no-messages",
                base,
                head,
            ])
            .stdin(Stdio::null())
            .output()
            .await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines = stdout.lines();
        let tree = lines.next().unwrap_or_default().trim().to_owned();
        match out.status.code() {
            Some(0) => Ok(Merged::Tree(tree)),
            Some(1) => Ok(Merged::Conflicts(
                lines
                    .take_while(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
            _ => Err(RepoError::Git {
                args: "merge-tree".into(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            }),
        }
    }

    /// The files that would conflict if `head` were merged into `base` (empty: none).
    pub async fn conflicts(
        &self,
        repo: &RepoRef,
        base: &str,
        head: &str,
    ) -> Result<Vec<String>, RepoError> {
        let tmp = self.scratch(repo).await?;
        Ok(match self.merge_tree(tmp.path(), base, head).await? {
            Merged::Tree(_) => Vec::new(),
            Merged::Conflicts(files) => files,
        })
    }

    /// Merges `head` into `base_ref` (at `base_tip`): a fast-forward when `base_tip` is an
    /// ancestor of `head`, else a merge commit by `author` with `message`. Landed as a push
    /// with a lease on `base_tip`, so the hook validates what the base branch would become
    /// and a branch that moved meanwhile is never overwritten. Returns the new tip.
    #[allow(clippy::too_many_arguments)]
    pub async fn merge(
        &self,
        repo: &RepoRef,
        base_ref: &str,
        base_tip: &str,
        head: &str,
        message: &str,
        author: &str,
        env: &ServiceEnv,
    ) -> Result<String, MergeError> {
        let tmp = self.scratch(repo).await?;
        let scratch = tmp.path();
        let index = scratch.join("index.api");
        let ancestor = git_command()
            .current_dir(scratch)
            .env("GIT_DIR", scratch)
            .args(["merge-base", "--is-ancestor", base_tip, head])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .map_err(RepoError::from)?
            .success();
        let new = if ancestor {
            head.to_owned()
        } else {
            match self.merge_tree(scratch, base_tip, head).await? {
                Merged::Conflicts(files) => return Err(MergeError::Conflict(files)),
                Merged::Tree(tree) => {
                    git(
                        scratch,
                        &index,
                        &["commit-tree", &tree, "-p", base_tip, "-p", head, "-F", "-"],
                        Some(message.as_bytes()),
                        Some(author),
                    )
                    .await?
                }
            }
        };
        self.push_from(
            repo,
            scratch,
            &format!("{new}:{base_ref}"),
            base_ref,
            Some(base_tip),
            env,
        )
        .await?;
        Ok(new)
    }

    /// What `head` changes against its merge base with `base`, as a unified diff (renames
    /// found), read up to `cap` bytes.
    pub async fn diff(
        &self,
        repo: &RepoRef,
        base: &str,
        head: &str,
        cap: usize,
    ) -> Result<Diff, RepoError> {
        let range = format!("{base}...{head}");
        let mut child = git_command()
            .current_dir(self.path(repo))
            .args([
                "diff",
                "--no-color",
                "--no-ext-diff",
                "--no-textconv",
                "-M",
                &range,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let mut out = child.stdout.take().expect("piped");
        let mut buf = Vec::new();
        (&mut out)
            .take(cap as u64 + 1)
            .read_to_end(&mut buf)
            .await?;
        let truncated = buf.len() > cap;
        if truncated {
            buf.truncate(cap);
            let _ = child.kill().await;
        } else {
            let status = child.wait().await?;
            if !status.success() {
                return Err(RepoError::Git {
                    args: "diff".into(),
                    stderr: format!("exit {status}"),
                });
            }
        }
        Ok(Diff {
            text: String::from_utf8_lossy(&buf).into_owned(),
            truncated,
        })
    }
}
