//! What the hook asks the modelhub server's data when it runs under the server: LFS locks,
//! which LFS objects this repo holds, and whether its namespace's storage limit lets the push's
//! objects in. Under a plain git server none of this exists, and the rules that need it are
//! skipped.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use accounts::{Accounts, Lock, LockQuery};
use anyhow::{Context, Result};
use hub_types::LfsOid;
use lfs_store::LfsStore;
use repo_rules::LfsState;
use tokio::runtime::Runtime;
use xet_store::XetStore;

use crate::hook_git::Entry;

pub struct Server {
    pub data_dir: PathBuf,
    repo_id: i64,
    pusher_id: Option<i64>,
    runtime: Runtime,
    db: Accounts,
    /// LFS objects whether uploaded whole or through Xet.
    store: LfsStore,
    /// Bytes of LFS objects read so far (for `MODELHUB_HOOK_STATS`).
    pub bytes_read: std::cell::Cell<u64>,
}

impl Server {
    /// Connects to the server's data when the environment names it (`MODELHUB_DATA_DIR` and
    /// `MODELHUB_REPO_ID`, as the server sets them).
    pub fn from_env() -> Result<Option<Self>> {
        let var = |k: &str| std::env::var(k).ok();
        let (Some(dir), Some(repo_id)) = (var("MODELHUB_DATA_DIR"), var("MODELHUB_REPO_ID")) else {
            return Ok(None);
        };
        let data_dir = PathBuf::from(dir);
        let repo_id = repo_id
            .parse()
            .context("MODELHUB_REPO_ID is not a number")?;
        let pusher_id = var("MODELHUB_PUSHER_ID").and_then(|p| p.parse().ok());
        // One worker: the Xet store's blocking reads hand their requests to it.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the hook's runtime")?;
        let db = runtime.block_on(crate::database::SharedArgs::from_env().open(&data_dir))?;
        // The server checked the store at start; the hook only opens it.
        let blobs = {
            let _rt = runtime.enter();
            crate::storage::StorageArgs::from_env()
                .open_unchecked(&data_dir, std::time::Duration::from_secs(600))?
        };
        let store = LfsStore::new(blobs.clone(), std::sync::Arc::new(XetStore::new(blobs)));
        Ok(Some(Server {
            data_dir,
            repo_id,
            pusher_id,
            runtime,
            db,
            store,
            bytes_read: std::cell::Cell::new(0),
        }))
    }

    /// Why this push is refused by its namespace's storage limit, if it is: it brings objects
    /// (its quarantine holds some) while the namespace, those objects counted, stores more
    /// than it may. LFS objects were held to the limit when they were uploaded.
    pub fn quota_refusal(&self) -> Result<Option<String>> {
        let Some(incoming) = std::env::var_os("GIT_QUARANTINE_PATH") else {
            return Ok(None);
        };
        if git_repos::disk_usage(std::path::Path::new(&incoming)).unwrap_or(0) == 0 {
            return Ok(None);
        }
        self.runtime.block_on(async {
            let Some(repo) = self.db.repo_by_id(self.repo_id).await? else {
                return Ok(None);
            };
            let ns = repo.namespace.to_string();
            let Some(limit) = self.db.quota(&ns).await? else {
                return Ok(None);
            };
            let hub = http_api::Hub {
                accounts: self.db.clone(),
                repos: git_repos::GitRepos::new(
                    crate::database::SharedArgs::from_env().repos(&self.data_dir),
                    self.data_dir.join("hooks"),
                ),
            };
            let used = hub.namespace_usage(&ns).await?.total();
            Ok((used > limit).then(|| http_api::Hub::quota_refusal(&ns, limit, used, 0)))
        })
    }

    /// For each oid: present (linked to this repo and stored, with its size) or missing.
    pub fn lfs_states(&self, oids: &[String]) -> Result<HashMap<String, LfsState>> {
        self.runtime.block_on(async {
            // Claimed before they are looked for: a garbage collector running now leaves them
            // alone from here on (and one deleting them is waited for).
            let names: Vec<String> = oids
                .iter()
                .filter_map(|o| LfsOid::parse(o).ok())
                .map(|o| content_store::lfs_claim(o.as_str()))
                .collect();
            self.db.claim(&names).await?;
            let mut out = HashMap::new();
            for raw in oids {
                let Ok(oid) = LfsOid::parse(raw) else {
                    continue;
                };
                let linked = self.db.linked_object(self.repo_id, &oid).await?;
                let stored = match linked {
                    Some(_) => self.store.size(&oid).await?,
                    None => None,
                };
                out.insert(
                    raw.clone(),
                    stored.map_or(LfsState::Missing, LfsState::Present),
                );
            }
            anyhow::Ok(out)
        })
    }

    /// `len` bytes at `offset` of a stored object (a ranged read; the object's size bounds it).
    pub fn lfs_read(&self, oid: &str, offset: u64, len: u64) -> Option<Vec<u8>> {
        use futures_util::StreamExt;
        let oid = LfsOid::parse(oid).ok()?;
        if len == 0 {
            return self
                .runtime
                .block_on(self.store.size(&oid))
                .ok()?
                .map(|_| Vec::new());
        }
        let range = lfs_store::ByteRange {
            start: offset,
            end: offset + len - 1,
        };
        self.runtime.block_on(async {
            let mut stream = self.store.get(&oid, Some(range)).await.ok()?;
            let mut out = Vec::with_capacity(len as usize);
            while let Some(chunk) = stream.next().await {
                out.extend_from_slice(&chunk.ok()?);
            }
            self.bytes_read
                .set(self.bytes_read.get() + out.len() as u64);
            Some(out)
        })
    }

    /// Whether model `id` is registered here and the pusher may see it: a private one counts
    /// only for its namespace's user and organisation members, so no push can learn that a
    /// private repo exists.
    pub fn model_visible(&self, id: &str) -> Result<bool> {
        let Ok(id) = hub_types::RepoId::parse(id) else {
            return Ok(false);
        };
        let target = hub_types::RepoRef {
            repo_type: hub_types::RepoType::Model,
            id,
        };
        let pusher = std::env::var("MODELHUB_PUSHER").ok();
        let pusher_id: Option<i64> = std::env::var("MODELHUB_PUSHER_ID")
            .ok()
            .and_then(|v| v.parse().ok());
        self.runtime.block_on(async {
            let Some(repo) = self.db.repo(&target).await? else {
                return anyhow::Ok(false);
            };
            if !repo.private {
                return Ok(true);
            }
            let ns = repo.namespace.as_str();
            if pusher
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(ns))
            {
                return Ok(true);
            }
            Ok(match pusher_id {
                Some(uid) => self.db.org_role(uid, ns).await?.is_some(),
                None => false,
            })
        })
    }

    /// Pull request `num` of this repo, if it is one and open (or a draft): its author's id.
    pub fn open_pull_request(&self, num: u64) -> Result<Option<Option<i64>>> {
        let d = self.runtime.block_on(
            self.db
                .discussion(self.repo_id, i64::try_from(num).unwrap_or(i64::MAX)),
        )?;
        Ok(
            d.filter(|d| d.is_pr && (d.status == "open" || d.status == "draft"))
                .map(|d| d.author_id),
        )
    }

    /// Where this repo mirrors from (`URL/ORG/NAME`), if it is a mirror.
    pub fn mirror_of(&self) -> Result<Option<String>> {
        let m = self.runtime.block_on(self.db.mirror(self.repo_id))?;
        Ok(m.map(|m| format!("{}/{}", m.upstream, m.upstream_repo)))
    }

    /// Writes the push's tentative webhook event: its ref updates (see
    /// `accounts::webhooks`).
    pub fn record_push(&self, updates: &[crate::hook_git::Update]) -> Result<()> {
        let refs: Vec<serde_json::Value> = updates
            .iter()
            .map(|u| serde_json::json!({"ref": u.name, "oldSha": u.old, "newSha": u.new}))
            .collect();
        let refs = serde_json::to_string(&refs)?;
        self.runtime
            .block_on(self.db.record_push(self.repo_id, &refs))?;
        Ok(())
    }

    /// Records what the push's weights are (parameter counts, formats) by object id.
    pub fn record_weights(&self, weights: &[repo_rules::WeightsInfo]) -> Result<()> {
        self.runtime.block_on(async {
            for w in weights {
                let oid = LfsOid::parse(&w.oid)?;
                self.db
                    .record_weights(&oid, &serde_json::to_string(w)?)
                    .await?;
            }
            anyhow::Ok(())
        })
    }

    /// Records what the push's files hold in the way of code, by object: the LFS object of a
    /// pointer, else the git blob (`entries` name each path's blob).
    pub fn record_scans(
        &self,
        scans: &[repo_rules::FileScan],
        files: &[repo_rules::ChangedFile],
        entries: &[Entry],
    ) -> Result<()> {
        use std::collections::HashMap;
        let files: HashMap<&str, &repo_rules::ChangedFile> =
            files.iter().map(|f| (f.path.as_str(), f)).collect();
        let blobs: HashMap<&str, &str> = entries
            .iter()
            .filter(|e| !e.deleted)
            .map(|e| (e.path.as_str(), e.oid.as_str()))
            .collect();
        self.runtime.block_on(async {
            for scan in scans {
                let pointer = files
                    .get(scan.path.as_str())
                    .and_then(|f| repo_rules::parse_lfs_pointer(&f.content))
                    .and_then(Result::ok);
                let object = match pointer {
                    Some(p) => p.oid,
                    None => match blobs.get(scan.path.as_str()) {
                        Some(oid) => (*oid).to_owned(),
                        None => continue,
                    },
                };
                self.db
                    .record_scan(&object, &serde_json::to_string(scan)?)
                    .await?;
            }
            anyhow::Ok(())
        })
    }

    /// One error per file the push changes that someone else holds a lock on. git-lfs checks
    /// this on the client only when `lfs.locksverify` is on; the server checks it always.
    pub fn lock_conflicts(&self, ref_name: &str, entries: &[Entry]) -> Result<Vec<String>> {
        let locks = self.runtime.block_on(async {
            let mut all: Vec<Lock> = Vec::new();
            let mut cursor = None;
            loop {
                let q = LockQuery {
                    cursor,
                    limit: 1000,
                    ..LockQuery::default()
                };
                let (page, next) = self.db.list_locks(self.repo_id, &q).await?;
                all.extend(page);
                match next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
            anyhow::Ok(all)
        })?;
        let changed: HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        Ok(locks
            .iter()
            .filter(|l| Some(l.owner_id) != self.pusher_id)
            .filter(|l| l.ref_name.as_deref().is_none_or(|r| r == ref_name))
            .filter(|l| changed.contains(l.path.as_str()))
            .map(|l| {
                format!(
                    "{}: locked by {} (lock {}); only they can push changes to it. Ask them to \
                     run `git lfs unlock {}`, or a repo admin to force-unlock it",
                    l.path, l.owner_name, l.id, l.path
                )
            })
            .collect())
    }
}
