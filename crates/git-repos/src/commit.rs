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

/// Where the commit goes, expecting which tip, by whom.
pub struct CommitRequest<'a> {
    pub target_ref: &'a str,
    /// What `target_ref` must point at for the commit to land (`None`: it must not exist).
    pub expected_tip: Option<&'a str>,
    pub author: &'a str,
    pub message: &'a str,
    /// The hook environment of a push by this user.
    pub env: &'a ServiceEnv,
}

/// A commit being built: changes are applied as they arrive (file contents go straight into
/// the scratch repo's object store), so a large request is never held in memory.
pub struct CommitBuilder {
    tmp: tempfile::TempDir,
    index: std::path::PathBuf,
    parent: String,
    index_info: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The hook refused the commit; the text is what it said (without `remote: `).
    #[error("{0}")]
    Rejected(String),
    /// The ref moved since the commit was prepared (a concurrent push or commit).
    #[error("the branch moved while committing; retry on top of the new head")]
    Stale,
    /// An operation names a path no repo may hold (`.git`, traversal, ...).
    #[error("invalid path in repo: {0}")]
    BadPath(#[from] hub_types::PathError),
    /// A copy names a source file the base revision does not have.
    #[error("cannot copy {path}: not in {rev}")]
    CopySourceMissing { path: String, rev: String },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Runs git in the scratch repo with the given index; returns stdout.
pub(crate) async fn git(
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

/// What an API branch or tag creation points the new ref at.
pub enum NewRef<'a> {
    /// `refs/heads/{name}` at a commit.
    Branch { name: &'a str, commit: &'a str },
    /// `refs/tags/{name}` at a commit: annotated with `message` if given, else lightweight.
    Tag {
        name: &'a str,
        commit: &'a str,
        message: Option<&'a str>,
    },
}

fn check_path(p: &str) -> Result<(), CommitError> {
    Ok(hub_types::check_repo_path(p)?)
}

impl GitRepos {
    /// A scratch bare repo under `.staging` that borrows this repo's objects (alternates):
    /// where API commits and tags are written before they are pushed in.
    pub(crate) async fn scratch(&self, repo: &RepoRef) -> Result<tempfile::TempDir, RepoError> {
        let target = self.path(repo);
        let staging = self.root.join(".staging");
        tokio::fs::create_dir_all(&staging).await?;
        let tmp = tempfile::Builder::new()
            .prefix("commit-")
            .tempdir_in(&staging)?;
        let scratch = tmp.path();
        git(
            scratch,
            &scratch.join("index.api"),
            &["init", "--quiet", "--bare", "--template=", "."],
            None,
            None,
        )
        .await?;
        tokio::fs::write(
            scratch.join("objects/info/alternates"),
            format!("{}\n", target.join("objects").display()),
        )
        .await?;
        Ok(tmp)
    }

    /// Starts a commit on top of `parent` in a scratch repo that borrows this repo's objects.
    pub async fn begin_commit(
        &self,
        repo: &RepoRef,
        parent: &str,
    ) -> Result<CommitBuilder, CommitError> {
        let tmp = self.scratch(repo).await?;
        let scratch = tmp.path();
        let index = scratch.join("index.api");
        git(scratch, &index, &["read-tree", parent], None, None).await?;
        Ok(CommitBuilder {
            tmp,
            index,
            parent: parent.to_owned(),
            index_info: String::new(),
        })
    }

    /// Writes the commit and pushes it through receive-pack with the server's hooks and a
    /// lease on the target ref; returns the new commit's id.
    pub async fn finish_commit(
        &self,
        repo: &RepoRef,
        b: CommitBuilder,
        req: &CommitRequest<'_>,
    ) -> Result<String, CommitError> {
        let scratch = b.tmp.path();
        let index = &b.index;
        git(
            scratch,
            index,
            &["update-index", "--index-info"],
            Some(b.index_info.as_bytes()),
            None,
        )
        .await?;
        let tree = git(scratch, index, &["write-tree"], None, None).await?;
        let commit = git(
            scratch,
            index,
            &["commit-tree", &tree, "-p", &b.parent, "-F", "-"],
            Some(req.message.as_bytes()),
            Some(req.author),
        )
        .await?;

        self.push_from(
            repo,
            scratch,
            &format!("{commit}:{}", req.target_ref),
            req.target_ref,
            req.expected_tip,
            req.env,
        )
        .await?;
        Ok(commit)
    }

    /// Pushes `refspec` from the scratch repo into `repo` through receive-pack with the
    /// server's hooks and settings (so it is validated as any push is), with a lease that
    /// `target_ref` is at `expected_tip` (`None`: that it does not exist).
    pub(crate) async fn push_from(
        &self,
        repo: &RepoRef,
        scratch: &Path,
        refspec: &str,
        target_ref: &str,
        expected_tip: Option<&str>,
        env: &ServiceEnv,
    ) -> Result<(), CommitError> {
        self.push_refs(repo, scratch, &[(refspec, target_ref, expected_tip)], env)
            .await
    }

    /// Pushes several refs at once (`--atomic`: all or none), each `(refspec, target ref,
    /// expected tip)` with a lease on its tip, through receive-pack with the server's hooks.
    pub(crate) async fn push_refs(
        &self,
        repo: &RepoRef,
        scratch: &Path,
        refs: &[(&str, &str, Option<&str>)],
        env: &ServiceEnv,
    ) -> Result<(), CommitError> {
        let receive_pack = self.receive_pack_command();
        let mut cmd = git_command();
        cmd.current_dir(scratch).env("GIT_DIR", scratch).args([
            "push",
            "--porcelain",
            "--no-verify",
        ]);
        if refs.len() > 1 {
            cmd.arg("--atomic");
        }
        for (_, target_ref, expected_tip) in refs {
            cmd.arg(format!(
                "--force-with-lease={}:{}",
                target_ref,
                expected_tip.unwrap_or("")
            ));
        }
        cmd.args(["--receive-pack", &receive_pack])
            .arg(self.path(repo))
            .args(refs.iter().map(|(refspec, _, _)| *refspec))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &env.vars {
            cmd.env(k, v);
        }
        let out = cmd.output().await.map_err(RepoError::from)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Ok(());
        }
        if [
            "stale info",
            "fetch first",
            "non-fast-forward",
            "failed to update ref",
        ]
        .iter()
        .any(|s| stdout.contains(s))
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

impl CommitBuilder {
    /// Applies one change (a file's bytes are written to the object store now).
    pub async fn apply(&mut self, op: Op) -> Result<(), CommitError> {
        let scratch = self.tmp.path();
        match op {
            Op::Put { path, content } => {
                check_path(&path)?;
                let oid = git(
                    scratch,
                    &self.index,
                    &["hash-object", "-w", "--stdin"],
                    Some(&content),
                    None,
                )
                .await?;
                self.index_info.push_str(&format!("100644 {oid}\t{path}\n"));
            }
            Op::Delete { path } => {
                check_path(&path)?;
                self.index_info.push_str(&format!("0 {ZERO}\t{path}\n"));
            }
            Op::DeleteFolder { path } => {
                let folder = path.trim_end_matches('/');
                check_path(folder)?;
                let listed = git(
                    scratch,
                    &self.index,
                    &[
                        "ls-tree",
                        "-r",
                        "-z",
                        "--name-only",
                        &self.parent,
                        "--",
                        folder,
                    ],
                    None,
                    None,
                )
                .await?;
                for p in listed.split('\0').filter(|p| !p.is_empty()) {
                    self.index_info.push_str(&format!("0 {ZERO}\t{p}\n"));
                }
            }
            Op::Copy { from, to, revision } => {
                check_path(&from)?;
                check_path(&to)?;
                let rev = revision.unwrap_or_else(|| self.parent.clone());
                let spec = format!("{rev}:{from}");
                let oid = git(
                    scratch,
                    &self.index,
                    &["rev-parse", "--verify", "--quiet", &spec],
                    None,
                    None,
                )
                .await
                .map_err(|_| CommitError::CopySourceMissing {
                    path: from.clone(),
                    rev: rev.clone(),
                })?;
                self.index_info.push_str(&format!("100644 {oid}\t{to}\n"));
            }
        }
        Ok(())
    }
}
