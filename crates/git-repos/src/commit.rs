//! Commits made through the HTTP API, landed as a push.
//!
//! The commit is built in a scratch repo that borrows the real repo's objects (alternates),
//! then pushed into the real repo through `git receive-pack` with the server's hooks and
//! settings. So an API commit passes exactly the checks of a `git push` (same hook, same
//! policy, same quarantine: a refused commit leaves nothing), and the ref moves with a
//! compare-and-swap: a concurrent push or a stale parent is refused, never merged over.

use std::path::Path;
use std::process::Stdio;

use hub_types::RepoRef;
use tokio::io::AsyncWriteExt;

use crate::{git_command, GitRepos, RepoError, ServiceEnv};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// One change of a commit.
#[derive(Debug, Clone)]
pub enum Op {
    /// Add or replace a file (for LFS files, `content` is the pointer).
    Put {
        path: String,
        content: Vec<u8>,
    },
    Delete {
        path: String,
    },
    /// Delete everything under a folder.
    DeleteFolder {
        path: String,
    },
    /// Copy a file of the base commit (or of `revision`) to another path.
    Copy {
        from: String,
        to: String,
        revision: Option<String>,
    },
}

/// What to commit, on which ref, expecting which tip.
pub struct CommitRequest<'a> {
    pub target_ref: &'a str,
    /// The commit the new one is made on.
    pub parent: &'a str,
    /// What `target_ref` must point at for the commit to land (`None`: it must not exist).
    pub expected_tip: Option<&'a str>,
    pub ops: &'a [Op],
    pub author: &'a str,
    pub message: &'a str,
    /// The hook environment of a push by this user.
    pub env: &'a ServiceEnv,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The hook refused the commit; the text is what it said (without `remote: `).
    #[error("{0}")]
    Rejected(String),
    /// The ref moved since the commit was prepared (a concurrent push or commit).
    #[error("the branch moved while committing; retry on top of the new head")]
    Stale,
    #[error("{0}")]
    BadOp(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Runs git in the scratch repo with the given index; returns stdout.
async fn git(
    scratch: &Path,
    index: &Path,
    args: &[&str],
    input: Option<&[u8]>,
    author: Option<&str>,
) -> Result<String, RepoError> {
    let mut cmd = git_command();
    cmd.current_dir(scratch)
        .env("GIT_DIR", scratch)
        .env("GIT_INDEX_FILE", index)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(a) = author {
        let email = format!("{a}@users.noreply.modelhub");
        cmd.env("GIT_AUTHOR_NAME", a)
            .env("GIT_AUTHOR_EMAIL", &email)
            .env("GIT_COMMITTER_NAME", a)
            .env("GIT_COMMITTER_EMAIL", &email);
    }
    let mut child = cmd.spawn()?;
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(input).await?;
    }
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        return Err(RepoError::Git {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn check_path(p: &str) -> Result<(), CommitError> {
    let bad = p.is_empty()
        || p.starts_with('/')
        || p.len() > 4096
        || p.split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c == ".git")
        || p.bytes().any(|b| b == 0 || b == b'\n' || b == b'\r');
    if bad {
        Err(CommitError::BadOp(format!("invalid path in repo: {p:?}")))
    } else {
        Ok(())
    }
}

impl GitRepos {
    /// Builds the commit and pushes it; returns the new commit's id.
    pub async fn commit(
        &self,
        repo: &RepoRef,
        req: &CommitRequest<'_>,
    ) -> Result<String, CommitError> {
        let target = self.path(repo);
        let staging = self.root.join(".staging");
        tokio::fs::create_dir_all(&staging)
            .await
            .map_err(RepoError::from)?;
        let tmp = tempfile::Builder::new()
            .prefix("commit-")
            .tempdir_in(&staging)
            .map_err(RepoError::from)?;
        let scratch = tmp.path();
        let index = scratch.join("index.api");
        git(
            scratch,
            &index,
            &["init", "--quiet", "--bare", "--template=", "."],
            None,
            None,
        )
        .await?;
        // Read the real repo's objects without copying them.
        let alternates = scratch.join("objects/info/alternates");
        tokio::fs::write(
            &alternates,
            format!("{}\n", target.join("objects").display()),
        )
        .await
        .map_err(RepoError::from)?;

        git(scratch, &index, &["read-tree", req.parent], None, None).await?;
        let mut index_info = String::new();
        for op in req.ops {
            match op {
                Op::Put { path, content } => {
                    check_path(path)?;
                    let oid = git(
                        scratch,
                        &index,
                        &["hash-object", "-w", "--stdin"],
                        Some(content),
                        None,
                    )
                    .await?;
                    index_info.push_str(&format!("100644 {oid}\t{path}\n"));
                }
                Op::Delete { path } => {
                    check_path(path)?;
                    index_info.push_str(&format!("0 {ZERO}\t{path}\n"));
                }
                Op::DeleteFolder { path } => {
                    let folder = path.trim_end_matches('/');
                    check_path(folder)?;
                    let listed = git(
                        scratch,
                        &index,
                        &[
                            "ls-tree",
                            "-r",
                            "-z",
                            "--name-only",
                            req.parent,
                            "--",
                            folder,
                        ],
                        None,
                        None,
                    )
                    .await?;
                    for p in listed.split('\0').filter(|p| !p.is_empty()) {
                        index_info.push_str(&format!("0 {ZERO}\t{p}\n"));
                    }
                }
                Op::Copy { from, to, revision } => {
                    check_path(from)?;
                    check_path(to)?;
                    let rev = revision.as_deref().unwrap_or(req.parent);
                    let spec = format!("{rev}:{from}");
                    let oid = git(
                        scratch,
                        &index,
                        &["rev-parse", "--verify", "--quiet", &spec],
                        None,
                        None,
                    )
                    .await
                    .map_err(|_| CommitError::BadOp(format!("cannot copy {from}: not in {rev}")))?;
                    index_info.push_str(&format!("100644 {oid}\t{to}\n"));
                }
            }
        }
        git(
            scratch,
            &index,
            &["update-index", "--index-info"],
            Some(index_info.as_bytes()),
            None,
        )
        .await?;
        let tree = git(scratch, &index, &["write-tree"], None, None).await?;
        let commit = git(
            scratch,
            &index,
            &["commit-tree", &tree, "-p", req.parent, "-F", "-"],
            Some(req.message.as_bytes()),
            Some(req.author),
        )
        .await?;

        // Push it as the user would, through receive-pack with the server's hooks.
        let mut receive_pack = String::from("git");
        for setting in self.service_config() {
            receive_pack.push_str(&format!(
                " -c '{}'",
                setting.to_string_lossy().replace('\'', "'\\''")
            ));
        }
        receive_pack.push_str(" receive-pack");
        let lease = format!(
            "--force-with-lease={}:{}",
            req.target_ref,
            req.expected_tip.unwrap_or("")
        );
        let refspec = format!("{commit}:{}", req.target_ref);
        let mut cmd = git_command();
        cmd.current_dir(scratch)
            .env("GIT_DIR", scratch)
            .args([
                "push",
                "--porcelain",
                "--no-verify",
                &lease,
                "--receive-pack",
                &receive_pack,
            ])
            .arg(&target)
            .arg(&refspec)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &req.env.vars {
            cmd.env(k, v);
        }
        let out = cmd.output().await.map_err(RepoError::from)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Ok(commit);
        }
        if stdout.contains("stale info")
            || stdout.contains("fetch first")
            || stdout.contains("non-fast-forward")
            || stdout.contains("failed to update ref")
        {
            return Err(CommitError::Stale);
        }
        let said: Vec<&str> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("remote: "))
            .map(str::trim_end)
            .collect();
        if said.is_empty() {
            return Err(RepoError::Git {
                args: "push".into(),
                stderr: format!("{stdout}{stderr}"),
            }
            .into());
        }
        Err(CommitError::Rejected(said.join("\n")))
    }
}
