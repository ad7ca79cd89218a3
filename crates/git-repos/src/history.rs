//! Walking a repo's whole history for its small files (LFS pointers are under a kilobyte),
//! with git's own object walk: `rev-list --objects --all` piped into `cat-file`, streamed.

use std::process::Stdio;

use hub_types::RepoRef;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::{git_command, GitRepos, RepoError};

impl GitRepos {
    /// Calls `each(path, bytes)` for every blob of at most `max` bytes that the history of
    /// any ref (branches, tags, pull requests) holds, with the path git first saw it at.
    /// Memory: the ids and paths of those small blobs, and one blob at a time.
    pub async fn each_small_blob(
        &self,
        repo: &RepoRef,
        max: u64,
        mut each: impl FnMut(&str, &[u8]),
    ) -> Result<(), RepoError> {
        self.each_small_blob_from(repo, &[], max, |_, path, bytes| each(path, bytes))
            .await
    }

    /// [`GitRepos::each_small_blob`], walking from `roots` (commit ids, such as reflog
    /// entries; ids git no longer has are skipped) as well as from every ref, and calling
    /// `each(blob id, path, bytes)`.
    pub async fn each_small_blob_from(
        &self,
        repo: &RepoRef,
        roots: &[String],
        max: u64,
        each: impl FnMut(&str, &str, &[u8]),
    ) -> Result<(), RepoError> {
        self.each_small_blob_at(&self.path(repo), roots, max, each)
            .await
    }

    /// [`GitRepos::each_small_blob_from`] for the bare repo at `path` (an import's staging
    /// repo too).
    pub async fn each_small_blob_at(
        &self,
        path: &std::path::Path,
        roots: &[String],
        max: u64,
        mut each: impl FnMut(&str, &str, &[u8]),
    ) -> Result<(), RepoError> {
        let path = path.to_owned();
        let git = |args: &[&str]| {
            let mut cmd = git_command();
            cmd.env("GIT_DIR", &path)
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true);
            cmd
        };
        let mut walk = git(&[
            "rev-list",
            "--objects",
            "--all",
            "--ignore-missing",
            "--stdin",
        ])
        .stdin(Stdio::piped())
        .spawn()?;
        let mut stdin = walk.stdin.take().expect("piped");
        let roots: String = roots.iter().map(|r| format!("{r}\n")).collect();
        let feed_roots = tokio::spawn(async move {
            let _ = stdin.write_all(roots.as_bytes()).await;
        });
        let listed: Stdio = walk
            .stdout
            .take()
            .expect("piped")
            .try_into()
            .map_err(RepoError::Io)?;
        let mut check = git(&[
            "cat-file",
            "--batch-check=%(objecttype) %(objectsize) %(objectname) %(rest)",
        ])
        .stdin(listed)
        .spawn()?;
        let mut small = Vec::new();
        let mut lines = BufReader::new(check.stdout.take().expect("piped")).lines();
        while let Some(line) = lines.next_line().await? {
            let mut parts = line.splitn(4, ' ');
            if let (Some("blob"), Some(size), Some(oid), Some(p)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            {
                if size.parse::<u64>().is_ok_and(|s| s <= max) && !p.is_empty() {
                    small.push((oid.to_owned(), p.to_owned()));
                }
            }
        }
        let _ = feed_roots.await;
        for (child, what) in [
            (&mut walk, "rev-list"),
            (&mut check, "cat-file --batch-check"),
        ] {
            if !child.wait().await?.success() {
                return Err(RepoError::Git {
                    args: what.into(),
                    stderr: "failed".into(),
                });
            }
        }
        if small.is_empty() {
            return Ok(());
        }
        let mut read = git(&["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .spawn()?;
        let mut stdin = read.stdin.take().expect("piped");
        let ids: String = small.iter().map(|(oid, _)| format!("{oid}\n")).collect();
        let feed = tokio::spawn(async move { stdin.write_all(ids.as_bytes()).await });
        let mut out = BufReader::new(read.stdout.take().expect("piped"));
        let mut header = String::new();
        let mut body = Vec::new();
        for (id, p) in &small {
            header.clear();
            out.read_line(&mut header).await?;
            let size: usize = header
                .split(' ')
                .nth(2)
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| RepoError::Git {
                    args: "cat-file --batch".into(),
                    stderr: format!("unexpected header {header:?}"),
                })?;
            body.resize(size + 1, 0);
            out.read_exact(&mut body).await?;
            each(id, p, &body[..size]);
        }
        feed.await.map_err(std::io::Error::other)??;
        read.wait().await?;
        Ok(())
    }
}
