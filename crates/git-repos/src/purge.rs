//! Rewriting a repo's history without the files whose LFS pointers name given objects
//! (`permanently_delete_lfs_files` with `rewriteHistory`): git's own `fast-export` of every
//! ref, without blob contents, streamed through a filter that drops the changes adding those
//! pointer blobs, into `fast-import` in a scratch repo that borrows the repo's objects; the
//! refs that changed are then pushed back at once (`--atomic`, each with a lease on the tip it
//! was read at), through receive-pack and the server's hooks like any push. Commits that did
//! not hold such a file keep their ids (signatures aside, which fast-export drops). Memory:
//! the ids of the pointer blobs, and one line of the stream at a time.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Stdio;

use hub_types::RepoRef;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::manage::RefUpdateError;
use crate::{git_command, CommitError, GitRepos, RepoError, ServiceEnv};

impl GitRepos {
    /// Removes, from every commit of every ref (branches, tags, pull requests), the files
    /// whose LFS pointers name one of `oids`; returns the refs that changed. A ref moved
    /// meanwhile fails it all with [`RefUpdateError::Moved`] (nothing is changed).
    pub async fn purge_lfs_pointers(
        &self,
        repo: &RepoRef,
        oids: &HashSet<String>,
        env: &ServiceEnv,
    ) -> Result<Vec<String>, RefUpdateError> {
        let mut pointers = HashSet::new();
        self.each_small_blob_from(repo, &[], 1023, |id, _, bytes| {
            if hub_types::lfs_pointer_oids(bytes).any(|o| oids.contains(o)) {
                pointers.insert(id.to_owned());
            }
        })
        .await?;
        if pointers.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.path(repo);
        let before = refs(&path).await?;
        let tmp = self.scratch(repo).await?;
        let scratch = tmp.path();

        let mut export = git_command();
        export
            .env("GIT_DIR", &path)
            .args([
                "fast-export",
                "--all",
                "--no-data",
                "--signed-tags=strip",
                "--use-done-feature",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut export = export.spawn().map_err(RepoError::from)?;
        let mut import = git_command();
        import
            .env("GIT_DIR", scratch)
            .args(["fast-import", "--quiet", "--done"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut import = import.spawn().map_err(RepoError::from)?;
        let from = export.stdout.take().expect("piped");
        let to = import.stdin.take().expect("piped");
        filter(from, to, &pointers).await?;
        for (child, what) in [(&mut export, "fast-export"), (&mut import, "fast-import")] {
            let out = child.wait().await.map_err(RepoError::from)?;
            if !out.success() {
                let mut said = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut said).await;
                }
                return Err(RepoError::Git {
                    args: what.into(),
                    stderr: said,
                }
                .into());
            }
        }

        let after = refs(scratch).await?;
        let changed: Vec<(String, String, String)> = before
            .iter()
            .filter_map(|(name, old)| {
                let new = after.get(name)?;
                (new != old).then(|| (format!("{new}:{name}"), name.clone(), old.clone()))
            })
            .collect();
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        let push: Vec<(&str, &str, Option<&str>)> = changed
            .iter()
            .map(|(spec, name, old)| (spec.as_str(), name.as_str(), Some(old.as_str())))
            .collect();
        match self.push_refs(repo, scratch, &push, env).await {
            Ok(()) => Ok(changed.into_iter().map(|(_, name, _)| name).collect()),
            Err(CommitError::Stale) => Err(RefUpdateError::Moved("a ref of the repo".to_owned())),
            Err(CommitError::Rejected(said)) => Err(RefUpdateError::Rejected(said)),
            Err(CommitError::Repo(e)) => Err(e.into()),
            Err(e) => Err(RepoError::Git {
                args: "push".into(),
                stderr: e.to_string(),
            }
            .into()),
        }
    }
}

/// Every ref of the repo at `dir` with what it points at.
async fn refs(dir: &Path) -> Result<BTreeMap<String, String>, RepoError> {
    let out = git_command()
        .env("GIT_DIR", dir)
        .args(["for-each-ref", "--format=%(objectname) %(refname)"])
        .stdin(Stdio::null())
        .output()
        .await?;
    if !out.status.success() {
        return Err(RepoError::Git {
            args: "for-each-ref".into(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, name)| (name.to_owned(), id.to_owned()))
        .collect())
}

/// Copies a fast-export stream, dropping every `M <mode> <id> <path>` whose blob is one of
/// `drop`. `data <n>` blocks (messages) are copied as they are, never read as commands.
async fn filter(
    from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    drop: &HashSet<String>,
) -> Result<(), RepoError> {
    let mut from = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        if from.read_until(b'\n', &mut line).await? == 0 {
            break;
        }
        if let Some(n) = line.strip_prefix(b"data ") {
            let n: u64 = std::str::from_utf8(n)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| RepoError::Git {
                    args: "fast-export".into(),
                    stderr: "an unreadable data length".into(),
                })?;
            to.write_all(&line).await?;
            let copied = tokio::io::copy(&mut (&mut from).take(n), &mut to).await?;
            if copied != n {
                return Err(RepoError::Git {
                    args: "fast-export".into(),
                    stderr: "the stream ended inside a data block".into(),
                });
            }
            continue;
        }
        if line.starts_with(b"M ") {
            let id = line.split(|&b| b == b' ').nth(2).unwrap_or_default();
            if drop.contains(std::str::from_utf8(id).unwrap_or_default()) {
                continue;
            }
        }
        to.write_all(&line).await?;
    }
    to.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_filter_drops_only_the_named_blobs_and_leaves_messages_alone() {
        let bad = "a".repeat(40);
        let good = "b".repeat(40);
        let msg = format!("M 100644 {bad} looks/like/a/command\n");
        let stream = format!(
            "commit refs/heads/main\nmark :1\ncommitter A <a@x> 1 +0000\ndata {}\n{msg}\
             M 100644 {bad} weights/w.bin\nM 100644 {good} \"odd path\"\n\ndone\n",
            msg.len()
        );
        let mut out = Vec::new();
        filter(stream.as_bytes(), &mut out, &HashSet::from([bad.clone()]))
            .await
            .unwrap();
        let want = format!(
            "commit refs/heads/main\nmark :1\ncommitter A <a@x> 1 +0000\ndata {}\n{msg}\
             M 100644 {good} \"odd path\"\n\ndone\n",
            msg.len()
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
