//! Mirrors of another hub's repos: its branches and tags fetched over git smart HTTP into a
//! staging repo beside the repos (resumable: what a fetch brought stays), then landed in the
//! repo all at once through receive-pack with the server's hooks, so imported content is
//! validated as a push is and the repo's refs move only when everything is there.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use hub_types::RepoRef;

use crate::commit::CommitError;
use crate::{git_command, GitRepos, RepoError, ServiceEnv, DEFAULT_BRANCH};

/// One ref a sync changes: its full name, the commit it gets (`None`: deleted), and the
/// commit it must be at now (`None`: it must not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefChange {
    pub name: String,
    pub new: Option<String>,
    pub old: Option<String>,
}

impl GitRepos {
    /// Where an import of `repo` stages what it fetched.
    pub fn import_staging(&self, repo: &RepoRef) -> PathBuf {
        self.root
            .join(".imports")
            .join(repo.repo_type.plural())
            .join(repo.id.namespace.as_str())
            .join(format!("{}.git", repo.id.name))
    }

    /// Fetches every branch and tag of the git repo at `url` into the bare repo `staging`
    /// (made if missing), pruning what the upstream no longer has. `auth` (an
    /// `Authorization` header value) reaches git through its environment, never its command
    /// line or a config file; a transfer slower than a byte a second for `stall_secs` is cut.
    pub async fn fetch_upstream(
        &self,
        staging: &Path,
        url: &str,
        auth: Option<&str>,
        stall_secs: u64,
    ) -> Result<(), RepoError> {
        if !staging.join("HEAD").exists() {
            tokio::fs::create_dir_all(staging).await?;
            init_bare(staging, None).await?;
        }
        let mut env: Vec<(&str, String)> = vec![("GIT_TERMINAL_PROMPT", "0".into())];
        if let Some(auth) = auth {
            env.extend([
                ("GIT_CONFIG_COUNT", "1".into()),
                ("GIT_CONFIG_KEY_0", "http.extraHeader".into()),
                ("GIT_CONFIG_VALUE_0", format!("Authorization: {auth}")),
            ]);
        }
        let stall = format!("http.lowSpeedTime={}", stall_secs.max(1));
        run(
            staging,
            &[
                "-c",
                "http.lowSpeedLimit=1",
                "-c",
                &stall,
                "fetch",
                "--quiet",
                "--prune",
                "--no-tags",
                url,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
            &env,
        )
        .await?;
        Ok(())
    }

    /// The branches and tags of the bare repo at `path`: (full name, object id), sorted.
    pub async fn refs_at(&self, path: &Path) -> Result<Vec<(String, String)>, RepoError> {
        let out = run(
            path,
            &[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/heads/",
                "refs/tags/",
            ],
            &[],
        )
        .await?;
        let mut refs: Vec<(String, String)> = out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, id)| (n.to_owned(), id.to_owned()))
            .collect();
        refs.sort();
        Ok(refs)
    }

    /// An empty bare repo at `repo`'s path, made aside and moved in place (so a half-made one
    /// is never there); its default branch is `main`.
    pub async fn create_empty(&self, repo: &RepoRef) -> Result<(), RepoError> {
        let target = self.path(repo);
        if target.exists() {
            return Err(RepoError::Exists(target));
        }
        let parent = target.parent().expect("a repo path has a parent");
        tokio::fs::create_dir_all(parent).await?;
        let staging = self.root.join(".staging");
        tokio::fs::create_dir_all(&staging).await?;
        let tmp = tempfile::Builder::new()
            .prefix("new-")
            .tempdir_in(&staging)?;
        init_bare(tmp.path(), Some(DEFAULT_BRANCH)).await?;
        run(
            tmp.path(),
            &["config", "core.logAllRefUpdates", "always"],
            &[],
        )
        .await?;
        let dir = tmp.keep();
        if let Err(e) = tokio::fs::rename(&dir, &target).await {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(e.into());
        }
        Ok(())
    }

    /// Lands `changes` from `staging` in `repo`, all or none (`--atomic`), each with a lease
    /// on its current value, through receive-pack with the server's hooks and `env`; returns
    /// what the hook said (its warnings) when it accepted.
    pub async fn land_mirror(
        &self,
        repo: &RepoRef,
        staging: &Path,
        changes: &[RefChange],
        env: &ServiceEnv,
    ) -> Result<String, CommitError> {
        if changes.is_empty() {
            return Ok(String::new());
        }
        let receive_pack = self.receive_pack_command();
        let mut cmd = git_command();
        cmd.current_dir(staging).env("GIT_DIR", staging).args([
            "push",
            "--porcelain",
            "--no-verify",
            "--atomic",
        ]);
        for c in changes {
            cmd.arg(format!(
                "--force-with-lease={}:{}",
                c.name,
                c.old.as_deref().unwrap_or("")
            ));
        }
        cmd.args(["--receive-pack", &receive_pack])
            .arg(self.path(repo))
            .args(changes.iter().map(|c| match &c.new {
                Some(id) => format!("+{id}:{}", c.name),
                None => format!(":{}", c.name),
            }))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &env.vars {
            cmd.env(k, v);
        }
        let out = cmd.output().await.map_err(RepoError::from)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let said: Vec<&str> = std::str::from_utf8(&out.stderr)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("remote: "))
            .map(str::trim_end)
            .collect();
        if out.status.success() {
            self.readers.forget(&self.path(repo));
            return Ok(said.join("\n"));
        }
        if ["stale info", "fetch first", "failed to update ref"]
            .iter()
            .any(|s| stdout.contains(s))
            && said.is_empty()
        {
            return Err(CommitError::Stale);
        }
        Err(CommitError::Rejected(if said.is_empty() {
            String::from_utf8_lossy(&out.stderr).trim().to_owned()
        } else {
            said.join("\n")
        }))
    }
}

/// `git init --bare` in `dir` (which exists), with `branch` as its default branch.
async fn init_bare(dir: &Path, branch: Option<&str>) -> Result<(), RepoError> {
    let mut cmd = git_command();
    cmd.current_dir(dir)
        .args(["init", "--quiet", "--bare", "--template="])
        .args(
            branch
                .map(|b| ["--initial-branch", b])
                .into_iter()
                .flatten(),
        )
        .arg(".")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = cmd.output().await?;
    if !out.status.success() {
        return Err(RepoError::Git {
            args: "init".into(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// Runs git in the bare repo `dir` with `env`; its trimmed stdout.
async fn run(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Result<String, RepoError> {
    let mut cmd = git_command();
    cmd.env("GIT_DIR", dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await?;
    if !out.status.success() {
        return Err(RepoError::Git {
            args: args
                .iter()
                .find(|a| !a.starts_with('-') && !a.contains('='))
                .map_or_else(String::new, |a| (*a).to_owned()),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
