//! Reading repos for the HTTP API: revisions, trees, blobs, refs and history, with gix
//! (in-process, no git child per request). Everything here is synchronous: callers run it on
//! a blocking thread.

use std::path::Path;

use gix::bstr::ByteSlice;
use gix::ObjectId;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("revision {0:?} not found")]
    RevisionNotFound(String),
    #[error("invalid revision {0:?}")]
    BadRevision(String),
    /// The repository on disk could not be read (I/O, a missing or corrupt object): the
    /// server's fault, never the request's.
    #[error("the repository could not be read: {0}")]
    Unreadable(String),
}

fn git(e: impl std::fmt::Display) -> ReadError {
    ReadError::Unreadable(e.to_string())
}

/// A commit, decoded.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub id: String,
    /// Committer time, seconds since the epoch.
    pub time: i64,
    pub author_name: String,
    pub author_email: String,
    pub title: String,
    pub message: String,
    tree: ObjectId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
}

#[derive(Debug, Clone)]
pub struct TreeEntry {
    pub path: String,
    pub kind: EntryKind,
    /// The git object id (blob or tree).
    pub oid: String,
    /// For files, the blob's size in git.
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct RefInfo {
    /// `main`, `v1.0`, `refs/pr/1`.
    pub name: String,
    /// `refs/heads/main`.
    pub full: String,
    /// The commit it points at (tags peeled).
    pub target: String,
}

pub struct Reader {
    repo: gix::Repository,
}

/// Opened repos, shared across requests: opening a repo (config, refs, object database) costs
/// more than most reads. gix re-reads refs and finds new packs on its own, so a cached handle
/// sees pushes; a moved or deleted repo is dropped from the cache by its owner.
#[derive(Default, Clone)]
pub struct ReaderCache {
    repos: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<std::path::PathBuf, gix::ThreadSafeRepository>>,
    >,
}

/// Repos kept open at most; past it the cache starts over.
const MAX_OPEN: usize = 512;

impl ReaderCache {
    pub fn reader(&self, path: &Path) -> Result<Reader, ReadError> {
        let mut repos = self
            .repos
            .lock()
            .expect("reader cache lock is never poisoned");
        if let Some(r) = repos.get(path) {
            return Ok(Reader {
                repo: r.to_thread_local(),
            });
        }
        let opened = gix::open_opts(path, gix::open::Options::isolated()).map_err(git)?;
        if repos.len() >= MAX_OPEN {
            repos.clear();
        }
        repos.insert(path.to_owned(), opened.clone().into_sync());
        Ok(Reader { repo: opened })
    }

    pub fn forget(&self, path: &Path) {
        self.repos
            .lock()
            .expect("reader cache lock is never poisoned")
            .remove(path);
    }
}

/// A revision as the Hub accepts it: a branch, a tag, `refs/pr/N`, or a full or short sha.
/// Anything with revision syntax (`~`, `^`, `:`, `@{`, `..`) or control characters is refused.
pub fn check_revision(rev: &str) -> Result<(), ReadError> {
    hub_types::Revision::parse(rev)
        .map(drop)
        .map_err(|e| ReadError::BadRevision(e.0))
}

impl Reader {
    /// The commit a revision names.
    pub fn resolve(&self, rev: &str) -> Result<CommitInfo, ReadError> {
        check_revision(rev)?;
        let not_found = || ReadError::RevisionNotFound(rev.to_owned());
        let is_hex = rev.bytes().all(|b| b.is_ascii_hexdigit());
        if rev.len() == 40 && is_hex {
            let id = ObjectId::from_hex(rev.as_bytes()).map_err(|_| not_found())?;
            return self.commit(id).map_err(|_| not_found());
        }
        let mut candidates = vec![format!("refs/heads/{rev}"), format!("refs/tags/{rev}")];
        if rev.starts_with("refs/") {
            candidates.insert(0, rev.to_owned());
        }
        for name in candidates {
            if let Ok(Some(mut r)) = self.repo.try_find_reference(name.as_str()) {
                let id = r.peel_to_id().map_err(git)?.detach();
                return self.commit(id).map_err(|_| not_found());
            }
        }
        if is_hex && rev.len() >= 5 {
            if let Ok(id) = self.repo.rev_parse_single(rev) {
                return self.commit(id.detach()).map_err(|_| not_found());
            }
        }
        Err(not_found())
    }

    /// The object ref `full` (`refs/heads/main`) points at, not peeled; `None` if it does not
    /// exist.
    pub fn ref_target(&self, full: &str) -> Result<Option<String>, ReadError> {
        let found = self.repo.try_find_reference(full).map_err(git)?;
        Ok(found.and_then(|r| r.try_id().map(|id| id.to_string())))
    }

    /// Whether `ancestor` is `tip` or one of its ancestors, looking at most `limit` commits
    /// back from `tip` (false beyond).
    pub fn reaches(&self, tip: &str, ancestor: &str, limit: usize) -> Result<bool, ReadError> {
        if tip == ancestor {
            return Ok(true);
        }
        let (Ok(tip), Ok(ancestor)) = (
            ObjectId::from_hex(tip.as_bytes()),
            ObjectId::from_hex(ancestor.as_bytes()),
        ) else {
            return Ok(false);
        };
        let Ok(commit) = self.repo.find_commit(tip) else {
            return Ok(false);
        };
        for info in commit.ancestors().all().map_err(git)?.take(limit) {
            if info.map_err(git)?.id == ancestor {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn commit(&self, id: ObjectId) -> Result<CommitInfo, ReadError> {
        let c = self.repo.find_commit(id).map_err(git)?;
        let author = c.author().map_err(git)?;
        let message = c.message_raw().map_err(git)?.to_str_lossy().into_owned();
        let title = message.lines().next().unwrap_or_default().to_owned();
        Ok(CommitInfo {
            id: id.to_string(),
            time: c.time().map_err(git)?.seconds,
            author_name: author.name.to_str_lossy().into_owned(),
            author_email: author.email.to_str_lossy().into_owned(),
            title,
            message,
            tree: c.tree_id().map_err(git)?.detach(),
        })
    }

    /// The entry at `path` in the commit's tree (`""` is the root directory).
    pub fn entry(&self, commit: &CommitInfo, path: &str) -> Result<Option<TreeEntry>, ReadError> {
        let path = path.trim_matches('/');
        if path.is_empty() {
            return Ok(Some(TreeEntry {
                path: String::new(),
                kind: EntryKind::Dir,
                oid: commit.tree.to_string(),
                size: 0,
            }));
        }
        let tree = self.repo.find_tree(commit.tree).map_err(git)?;
        let Some(e) = tree.lookup_entry_by_path(path).map_err(git)? else {
            return Ok(None);
        };
        let mode = e.mode();
        let oid = e.object_id();
        if mode.is_tree() {
            return Ok(Some(TreeEntry {
                path: path.to_owned(),
                kind: EntryKind::Dir,
                oid: oid.to_string(),
                size: 0,
            }));
        }
        if !mode.is_blob() {
            return Ok(None); // submodules and symlinks are not files to download
        }
        let size = self.repo.find_header(oid).map_err(git)?.size();
        Ok(Some(TreeEntry {
            path: path.to_owned(),
            kind: EntryKind::File,
            oid: oid.to_string(),
            size,
        }))
    }

    /// The entries under directory `dir` (`""` for the root), recursively or not, sorted by
    /// path; `None` if `dir` is not a directory of the commit.
    pub fn list(
        &self,
        commit: &CommitInfo,
        dir: &str,
        recursive: bool,
    ) -> Result<Option<Vec<TreeEntry>>, ReadError> {
        let Some(start) = self.entry(commit, dir)? else {
            return Ok(None);
        };
        if start.kind != EntryKind::Dir {
            return Ok(None);
        }
        let mut out = Vec::new();
        let root = ObjectId::from_hex(start.oid.as_bytes()).map_err(git)?;
        self.walk(root, &start.path, recursive, &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Some(out))
    }

    fn walk(
        &self,
        tree: ObjectId,
        prefix: &str,
        recursive: bool,
        out: &mut Vec<TreeEntry>,
    ) -> Result<(), ReadError> {
        let tree = self.repo.find_tree(tree).map_err(git)?;
        let mut subdirs = Vec::new();
        for e in tree.iter() {
            let e = e.map_err(git)?;
            let name = e.filename().to_str_lossy();
            let path = if prefix.is_empty() {
                name.into_owned()
            } else {
                format!("{prefix}/{name}")
            };
            let oid = e.object_id();
            let mode = e.mode();
            if mode.is_tree() {
                out.push(TreeEntry {
                    path: path.clone(),
                    kind: EntryKind::Dir,
                    oid: oid.to_string(),
                    size: 0,
                });
                if recursive {
                    subdirs.push((oid, path));
                }
            } else if mode.is_blob() {
                let size = self.repo.find_header(oid).map_err(git)?.size();
                out.push(TreeEntry {
                    path,
                    kind: EntryKind::File,
                    oid: oid.to_string(),
                    size,
                });
            }
        }
        for (oid, path) in subdirs {
            self.walk(oid, &path, true, out)?;
        }
        Ok(())
    }

    /// A blob's bytes (for files under the plain-blob size limits).
    pub fn blob(&self, oid: &str) -> Result<Vec<u8>, ReadError> {
        let id = ObjectId::from_hex(oid.as_bytes()).map_err(git)?;
        Ok(self.repo.find_blob(id).map_err(git)?.take_data())
    }

    /// The refs under `prefix` (`refs/heads/`, `refs/tags/`, `refs/pr/`), peeled to commits.
    pub fn refs(&self, prefix: &str) -> Result<Vec<RefInfo>, ReadError> {
        let platform = self.repo.references().map_err(git)?;
        let mut out = Vec::new();
        for r in platform.prefixed(prefix).map_err(git)? {
            let mut r = r.map_err(git)?;
            let full = r.name().as_bstr().to_str_lossy().into_owned();
            let Ok(id) = r.peel_to_id() else { continue };
            let name = if prefix == "refs/pr/" {
                full.clone()
            } else {
                full[prefix.len()..].to_owned()
            };
            out.push(RefInfo {
                name,
                full,
                target: id.to_string(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The first-parent history from `commit`, newest first.
    fn first_parents(&self, commit: &CommitInfo) -> Result<gix::revision::Walk<'_>, ReadError> {
        let id = ObjectId::from_hex(commit.id.as_bytes()).map_err(git)?;
        self.repo
            .find_commit(id)
            .map_err(git)?
            .ancestors()
            .first_parent_only()
            .all()
            .map_err(git)
    }

    /// For each path, the last commit (on the first-parent history of `commit`) that changed
    /// it; the walk stops after `max_commits`, leaving older paths out.
    pub fn last_commits(
        &self,
        commit: &CommitInfo,
        paths: &[String],
        max_commits: usize,
    ) -> Result<std::collections::HashMap<String, CommitInfo>, ReadError> {
        let mut found = std::collections::HashMap::new();
        let mut pending: Vec<&String> = paths.iter().collect();
        let walk = self.first_parents(commit)?;
        let oid_at = |tree: ObjectId, path: &str| -> Result<Option<ObjectId>, ReadError> {
            let t = self.repo.find_tree(tree).map_err(git)?;
            Ok(t.lookup_entry_by_path(path)
                .map_err(git)?
                .map(|e| e.object_id()))
        };
        for info in walk.take(max_commits) {
            if pending.is_empty() {
                break;
            }
            let info = info.map_err(git)?;
            let c = self.repo.find_commit(info.id).map_err(git)?;
            let tree = c.tree_id().map_err(git)?.detach();
            let parent_tree = match c.parent_ids().next() {
                Some(p) => Some(
                    self.repo
                        .find_commit(p.detach())
                        .map_err(git)?
                        .tree_id()
                        .map_err(git)?
                        .detach(),
                ),
                None => None,
            };
            let mut still = Vec::new();
            for p in pending {
                let here = oid_at(tree, p)?;
                let before = match parent_tree {
                    Some(pt) => oid_at(pt, p)?,
                    None => None,
                };
                if here != before {
                    found.insert(p.clone(), self.commit(info.id)?);
                } else {
                    still.push(p);
                }
            }
            pending = still;
        }
        Ok(found)
    }

    /// History from `commit` (first parents), `skip` then at most `limit`, and whether more follow.
    pub fn log(
        &self,
        commit: &CommitInfo,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<CommitInfo>, bool), ReadError> {
        let walk = self.first_parents(commit)?;
        let mut out = Vec::new();
        let mut more = false;
        for info in walk.skip(skip) {
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(self.commit(info.map_err(git)?.id)?);
        }
        Ok((out, more))
    }
}
