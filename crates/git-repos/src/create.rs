//! Creating a repo: a bare repo with one initial commit, built aside and renamed into place so
//! that a half-made repo is never visible.

use std::path::Path;
use std::process::Stdio;

use hub_types::RepoRef;
use tokio::io::AsyncWriteExt;

use crate::{git_command, GitRepos, RepoError, DEFAULT_BRANCH};

/// The Hub's default `.gitattributes`: weights, archives and other large binary formats go to
/// LFS. Every new repo starts with it, so it is clonable and has a commit from the start.
pub const DEFAULT_GITATTRIBUTES: &str = "\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.ftz filter=lfs diff=lfs merge=lfs -text
*.gguf filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.joblib filter=lfs diff=lfs merge=lfs -text
*.lfs.* filter=lfs diff=lfs merge=lfs -text
*.mlmodel filter=lfs diff=lfs merge=lfs -text
*.model filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.ot filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pb filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.rar filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
saved_model/**/* filter=lfs diff=lfs merge=lfs -text
*.tar.* filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.tgz filter=lfs diff=lfs merge=lfs -text
*.wasm filter=lfs diff=lfs merge=lfs -text
*.xz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
";

impl GitRepos {
    /// Creates the bare repo for `repo` with an initial commit by `author` on `main`, and
    /// returns that commit's id.
    pub async fn create(&self, repo: &RepoRef, author: &str) -> Result<String, RepoError> {
        let target = self.path(repo);
        if target.exists() {
            return Err(RepoError::Exists(target));
        }
        let parent = target.parent().expect("a repo path has a parent");
        tokio::fs::create_dir_all(parent).await?;
        let staging = self.root.join(".staging");
        tokio::fs::create_dir_all(&staging).await?;
        // Removed on drop, so a failure anywhere below leaves nothing behind.
        let tmp = tempfile::Builder::new()
            .prefix("new-")
            .tempdir_in(&staging)?;
        let dir = tmp.path();

        git(
            dir,
            &[
                "init",
                "--quiet",
                "--bare",
                "--template=",
                "--initial-branch",
                DEFAULT_BRANCH,
                ".",
            ],
            None,
        )
        .await?;
        git(dir, &["config", "core.logAllRefUpdates", "always"], None).await?;
        let blob = git(
            dir,
            &["hash-object", "-w", "--stdin"],
            Some(DEFAULT_GITATTRIBUTES),
        )
        .await?;
        let tree = git(
            dir,
            &["mktree"],
            Some(&format!("100644 blob {blob}\t.gitattributes\n")),
        )
        .await?;
        let commit = commit_tree(dir, &tree, author).await?;
        let branch = format!("refs/heads/{DEFAULT_BRANCH}");
        git(
            dir,
            &["update-ref", "-m", "repo created", &branch, &commit],
            None,
        )
        .await?;

        let dir = tmp.keep();
        if let Err(e) = std::fs::rename(&dir, &target) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(if target.exists() {
                RepoError::Exists(target)
            } else {
                e.into()
            });
        }
        Ok(commit)
    }

    /// Removes a repo from disk (used to undo a creation whose registration failed).
    pub async fn remove(&self, repo: &RepoRef) -> Result<(), RepoError> {
        self.readers.forget(&self.path(repo));
        match tokio::fs::remove_dir_all(self.path(repo)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

async fn commit_tree(dir: &Path, tree: &str, author: &str) -> Result<String, RepoError> {
    let mut cmd = git_command();
    let email = format!("{author}@users.noreply.modelhub");
    cmd.current_dir(dir)
        .env("GIT_AUTHOR_NAME", author)
        .env("GIT_AUTHOR_EMAIL", &email)
        .env("GIT_COMMITTER_NAME", author)
        .env("GIT_COMMITTER_EMAIL", &email)
        .args(["commit-tree", tree, "-m", "initial commit"]);
    run(cmd, "commit-tree", None).await
}

/// Runs `git ARGS` in `dir` with optional stdin and returns its trimmed stdout.
async fn git(dir: &Path, args: &[&str], input: Option<&str>) -> Result<String, RepoError> {
    let mut cmd = git_command();
    cmd.current_dir(dir).args(args);
    run(cmd, &args.join(" "), input).await
}

async fn run(
    mut cmd: tokio::process::Command,
    what: &str,
    input: Option<&str>,
) -> Result<String, RepoError> {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin was piped");
        stdin.write_all(input.as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        return Err(RepoError::Git {
            args: what.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_types::{RepoId, RepoType};

    #[tokio::test]
    async fn creates_a_clonable_repo_once() {
        let dir = tempfile::tempdir().unwrap();
        let repos = GitRepos::new(dir.path().join("repos"), dir.path().join("hooks"));
        let r = RepoRef {
            repo_type: RepoType::Dataset,
            id: RepoId::parse("acme/data").unwrap(),
        };
        let commit = repos.create(&r, "alice").await.unwrap();
        assert_eq!(commit.len(), 40);
        let path = repos.path(&r);
        assert!(path.ends_with("datasets/acme/data.git"));
        let attrs = git(&path, &["show", "main:.gitattributes"], None)
            .await
            .unwrap();
        assert!(attrs.contains("*.safetensors filter=lfs"));
        assert!(matches!(
            repos.create(&r, "alice").await,
            Err(RepoError::Exists(_))
        ));
        let staging: Vec<_> = std::fs::read_dir(dir.path().join("repos/.staging"))
            .unwrap()
            .collect();
        assert!(staging.is_empty(), "no staging leftovers");
    }
}
