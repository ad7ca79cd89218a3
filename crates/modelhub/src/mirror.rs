//! `modelhub mirror`: repos imported from another Hub-compatible server (huggingface.co,
//! another modelhub, a Hub mirror) and kept in sync with it.
//!
//! An import or sync fetches the upstream's branches and tags over git smart HTTP into a
//! staging repo beside the repos, then every LFS object the fetched history points at through
//! the upstream's LFS batch API (Xet-stored files too: the Hub and modelhub serve them there),
//! each verified against its SHA-256 as it is stored. Only then does the repo appear (an
//! import) and its refs move, all at once, through receive-pack with the server's hooks and
//! the import policy (`[import]` in policy.toml), so imported content is validated like a
//! push. An interrupted run leaves the staging repo and the objects stored so far, and the
//! next run goes on from there; nothing is visible before it completes. A mirror refuses
//! pushes and commits (the hook names its upstream) until `mirror detach`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use accounts::mirrors::Mirror;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use futures_util::TryStreamExt;
use git_repos::{CommitError, RefChange, ServiceEnv};
use http_api::Hub;
use hub_types::{LfsOid, RepoId, RepoRef, RepoType};
use lfs_store::LfsStore;

use crate::admin::DataDir;
use crate::database::SharedArgs;

#[derive(Subcommand)]
pub enum MirrorCmd {
    /// Import a repo from another hub (its whole history and every LFS/Xet file it points
    /// at) as NS/NAME, and keep it mirrored.
    Add {
        /// The local repo, NS/NAME.
        repo: String,
        /// The upstream repo: the hub's URL and the repo's id, e.g.
        /// https://huggingface.co/ORG/MODEL (for datasets, .../datasets/ORG/NAME).
        #[arg(long)]
        from: String,
        /// model, dataset or space.
        #[arg(long = "type", default_value = "model")]
        repo_type: String,
        /// The environment variable holding a token for the upstream (private repos). The
        /// token itself is never stored or logged.
        #[arg(long)]
        token_env: Option<String>,
        /// Make the local repo private.
        #[arg(long)]
        private: bool,
        #[command(flatten)]
        storage: crate::storage::StorageArgs,
    },
    /// Fetch what changed upstream now (new commits, branches, tags and files).
    Sync {
        repo: String,
        #[arg(long = "type", default_value = "model")]
        repo_type: String,
        #[command(flatten)]
        storage: crate::storage::StorageArgs,
    },
    /// Every mirror, with its upstream and last sync.
    List,
    /// One mirror: its upstream, last sync, and what the validator found in it.
    Status {
        repo: String,
        #[arg(long = "type", default_value = "model")]
        repo_type: String,
    },
    /// Make a mirror an ordinary repo: it stops syncing and takes pushes.
    Detach {
        repo: String,
        #[arg(long = "type", default_value = "model")]
        repo_type: String,
    },
}

/// Where a mirror comes from.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The hub's URL, without a trailing slash or credentials.
    pub endpoint: String,
    pub repo: RepoRef,
    /// `Bearer ...`, from the environment variable named.
    token: Option<String>,
}

impl Upstream {
    /// Parses `URL/ORG/NAME` (`URL/datasets/ORG/NAME` for a dataset); `token_env` names the
    /// variable holding the upstream's token, if any.
    pub fn parse(from: &str, repo_type: RepoType, token_env: Option<&str>) -> Result<Upstream> {
        let url = reqwest::Url::parse(from).with_context(|| format!("{from:?} is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            bail!("{from:?} is not an http(s) URL of a hub");
        }
        if !url.username().is_empty() || url.password().is_some() {
            bail!("put the upstream's token in an environment variable and name it with --token-env, not in the URL");
        }
        let path = url.path().trim_end_matches('/').trim_end_matches(".git");
        let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        if parts.len() < 2 {
            bail!("{from:?} names no repo: give URL/ORG/NAME");
        }
        let name = parts.pop().unwrap_or_default();
        let ns = parts.pop().unwrap_or_default();
        if parts.last() == Some(&repo_type.plural()) {
            parts.pop();
        }
        let id = RepoId::parse(&format!("{ns}/{name}"))
            .map_err(|e| anyhow::anyhow!("{ns}/{name} is not a repo id: {e}"))?;
        let mut base = url.clone();
        base.set_path(&parts.join("/"));
        base.set_query(None);
        base.set_fragment(None);
        let token = match token_env {
            Some(var) => Some(format!(
                "Bearer {}",
                std::env::var(var).with_context(|| format!("the environment has no {var}"))?
            )),
            None => None,
        };
        Ok(Upstream {
            endpoint: base.as_str().trim_end_matches('/').to_owned(),
            repo: RepoRef { repo_type, id },
            token,
        })
    }

    /// From a stored mirror record (its token from the environment, if it names one).
    fn of(m: &Mirror, repo_type: RepoType) -> Result<Upstream> {
        Upstream::parse(
            &format!(
                "{}/{}{}",
                m.upstream,
                repo_type.url_prefix(),
                m.upstream_repo
            ),
            repo_type,
            m.token_env.as_deref(),
        )
    }

    fn git_url(&self) -> String {
        format!("{}/{}", self.endpoint, self.repo)
    }

    /// What users see: the hub and the repo, never a token.
    pub fn shown(&self) -> String {
        self.git_url()
    }
}

/// What a sync did.
#[derive(Debug, Default)]
pub struct Synced {
    pub refs: usize,
    pub objects: usize,
    pub bytes: u64,
    /// What the validator said (warnings).
    pub findings: Vec<String>,
}

/// Everything a sync needs of this server.
pub struct Mirrors {
    pub hub: Hub,
    pub store: LfsStore,
    pub data_dir: std::path::PathBuf,
    /// The environment the server gives its hooks (store and database settings).
    pub hook_env: Vec<(String, String)>,
    pub client: reqwest::Client,
    pub progress: bool,
}

impl Mirrors {
    pub fn client() -> Result<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(600))
            .user_agent(concat!("modelhub-mirror/", env!("CARGO_PKG_VERSION")))
            .build()?)
    }

    /// Imports `up` as `local` (which must not exist), or syncs `local` from it when
    /// `create` is false. The repo appears, or its refs move, only once everything they
    /// need is stored and the validator accepted it.
    pub async fn sync(
        &self,
        local: &RepoRef,
        up: &Upstream,
        create: Option<bool>,
    ) -> Result<Synced> {
        let repos = &self.hub.repos;
        let db = &self.hub.accounts;
        let existing = db.repo(local).await?;
        // An import cut off after the repo was registered and before its refs landed: the
        // same `mirror add` goes on with it.
        let mut resumed = false;
        match (&existing, create) {
            (Some(r), Some(_)) => {
                let same = db.mirror(r.id).await?.is_some_and(|m| {
                    m.upstream == up.endpoint && m.upstream_repo == up.repo.id.to_string()
                });
                if !same || !repos.refs_at(&repos.path(local)).await?.is_empty() {
                    bail!("{local} exists already; `mirror sync` updates a mirror");
                }
                resumed = true;
            }
            (None, None) => bail!("no repo {local}"),
            (Some(r), None) if db.mirror(r.id).await?.is_none() => {
                bail!("{local} is not a mirror (or was detached)")
            }
            _ => {}
        }
        let staging = repos.import_staging(local);
        repos
            .fetch_upstream(&staging, &up.git_url(), up.token.as_deref(), 600)
            .await
            .map_err(|e| anyhow::anyhow!("cannot fetch {}: {e}", up.shown()))?;
        let wanted = repos.refs_at(&staging).await?;
        if wanted.is_empty() {
            bail!("{} has no branches or tags", up.shown());
        }
        // Every LFS object the fetched history points at.
        let mut pointers: BTreeMap<String, u64> = BTreeMap::new();
        let mut bad = None;
        repos
            .each_small_blob_at(&staging, &[], 1023, |_, path, bytes| {
                match repo_rules::parse_lfs_pointer(bytes) {
                    Some(Ok(p)) => {
                        pointers.insert(p.oid, p.size);
                    }
                    Some(Err(e)) if bad.is_none() => bad = Some(format!("{path}: {e}")),
                    _ => {}
                }
            })
            .await?;
        if let Some(bad) = bad {
            bail!("{} holds a broken LFS pointer ({bad})", up.shown());
        }
        let mut missing = Vec::new();
        for (oid, size) in &pointers {
            let id = LfsOid::parse(oid).map_err(|e| anyhow::anyhow!("{e}"))?;
            if self.store.size(&id).await?.is_none() {
                missing.push((id, *size));
            }
        }
        let mut done = Synced::default();
        self.fetch_objects(up, &missing, &mut done).await?;

        // Now the repo may appear and its refs move.
        let (repo, made) = match existing {
            Some(r) => (r, resumed),
            None => {
                let private = create.unwrap_or(false);
                let r = db.create_repo(local, private).await?;
                // A mirror from the start, so a run cut off from here is resumed by the next.
                if let Err(e) = repos.create_empty(local).await {
                    let _ = db.delete_repo(r.id).await;
                    return Err(e.into());
                }
                let recorded = db
                    .put_mirror(r.id, &up.endpoint, &up.repo.id.to_string(), None)
                    .await;
                if let Err(e) = recorded {
                    let _ = repos.remove(local).await;
                    let _ = db.delete_repo(r.id).await;
                    return Err(e.into());
                }
                (r, true)
            }
        };
        let undo = |why: anyhow::Error| async move {
            if made {
                let _ = repos.remove(local).await;
                let _ = db.delete_repo(repo.id).await;
            }
            why
        };
        for (oid, size) in &pointers {
            let id = LfsOid::parse(oid).map_err(|e| anyhow::anyhow!("{e}"))?;
            if let Err(e) = db.link_object(repo.id, &id, *size).await {
                return Err(undo(e.into()).await);
            }
        }
        let have: BTreeMap<String, String> = repos
            .refs_at(&repos.path(local))
            .await?
            .into_iter()
            .collect();
        let want: BTreeMap<String, String> = wanted.into_iter().collect();
        let mut changes: Vec<RefChange> = want
            .iter()
            .filter(|(name, id)| have.get(*name) != Some(id))
            .map(|(name, id)| RefChange {
                name: name.clone(),
                new: Some(id.clone()),
                old: have.get(name).cloned(),
            })
            .collect();
        changes.extend(
            have.iter()
                .filter(|(name, _)| !want.contains_key(*name))
                .map(|(name, id)| RefChange {
                    name: name.clone(),
                    new: None,
                    old: Some(id.clone()),
                }),
        );
        let env = self.hook_env(&repo);
        let said = match repos.land_mirror(local, &staging, &changes, &env).await {
            Ok(said) => said,
            Err(CommitError::Rejected(said)) => {
                let why =
                    anyhow::anyhow!("the validator refused what {} holds:\n{said}", up.shown());
                return Err(undo(why).await);
            }
            Err(e) => return Err(undo(e.into()).await),
        };
        done.refs = changes.len();
        // Other nodes drop what they cached of the repo's refs (a server running this sync
        // also drops its own, see `sync_all`).
        let _ = db
            .publish(&format!("revisions {} {}", repo.id, repo.created_at))
            .await;
        done.findings = said
            .lines()
            .filter(|l| l.trim_start().starts_with("warning:"))
            .map(str::to_owned)
            .collect();
        db.mirror_synced(repo.id, None, Some(&serde_json::to_string(&done.findings)?))
            .await?;
        Ok(done)
    }

    /// The environment of the push that lands a sync: the server's hook settings, the repo,
    /// and the import policy.
    fn hook_env(&self, repo: &accounts::Repo) -> ServiceEnv {
        let mut vars = self.hook_env.clone();
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "modelhub".into());
        vars.extend([
            (
                "MODELHUB_DATA_DIR".into(),
                self.data_dir.display().to_string(),
            ),
            ("MODELHUB_BIN".into(), exe),
            ("MODELHUB_REPO".into(), repo.repo_ref().id.to_string()),
            ("MODELHUB_REPO_TYPE".into(), repo.repo_type.to_string()),
            ("MODELHUB_REPO_ID".into(), repo.id.to_string()),
            ("MODELHUB_IMPORT".into(), "1".into()),
            ("GIT_COMMITTER_NAME".into(), "modelhub-mirror".into()),
            (
                "GIT_COMMITTER_EMAIL".into(),
                "mirror@users.noreply.modelhub".into(),
            ),
        ]);
        ServiceEnv {
            git_protocol: None,
            vars,
        }
    }

    /// Downloads `missing` objects through the upstream's LFS batch API, each verified
    /// against its SHA-256 and size as it is stored.
    async fn fetch_objects(
        &self,
        up: &Upstream,
        missing: &[(LfsOid, u64)],
        done: &mut Synced,
    ) -> Result<()> {
        let total: u64 = missing.iter().map(|(_, s)| s).sum();
        let bar = if self.progress && !missing.is_empty() {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_message(format!("fetching {} LFS objects", missing.len()));
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        for batch in missing.chunks(100) {
            let objects: Vec<serde_json::Value> = batch
                .iter()
                .map(|(oid, size)| serde_json::json!({ "oid": oid.as_str(), "size": size }))
                .collect();
            let url = format!("{}.git/info/lfs/objects/batch", up.git_url());
            let mut req = self
                .client
                .post(&url)
                .header("accept", "application/vnd.git-lfs+json")
                .header("content-type", "application/vnd.git-lfs+json")
                .json(&serde_json::json!({
                    "operation": "download",
                    "transfers": ["basic"],
                    "objects": objects,
                }));
            if let Some(t) = &up.token {
                req = req.header("authorization", t);
            }
            let res = req
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{}: LFS batch: {e}", up.shown()))?;
            let status = res.status();
            let text = bounded_text(res, MAX_BATCH_ANSWER)
                .await
                .map_err(|e| anyhow::anyhow!("{}: the LFS batch answer: {e}", up.shown()))?;
            if !status.is_success() {
                bail!(
                    "{}: LFS batch answered {status}: {}",
                    up.shown(),
                    text.chars().take(300).collect::<String>()
                );
            }
            let answer: BatchAnswer = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!("{}: the LFS batch answer is not valid: {e}", up.shown())
            })?;
            for (oid, size) in batch {
                let Some(o) = answer.objects.iter().find(|o| o.oid == oid.as_str()) else {
                    bail!("{}: the LFS batch answer leaves out {oid}", up.shown());
                };
                if let Some(err) = &o.error {
                    bail!(
                        "{} has no LFS object {oid} (a pointer in its history names it): {}",
                        up.shown(),
                        err.message
                    );
                }
                let Some(action) = o.actions.as_ref().and_then(|a| a.download.as_ref()) else {
                    bail!("{}: no download link for {oid}", up.shown());
                };
                let mut get = self.client.get(&action.href);
                for (k, v) in &action.header {
                    get = get.header(k, v);
                }
                let res = get
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| anyhow::anyhow!("{}: downloading {oid}: {e}", up.shown()))?;
                let bar2 = bar.clone();
                let body: lfs_store::ByteStream = Box::pin(
                    res.bytes_stream()
                        .map_ok(move |b| {
                            bar2.inc(b.len() as u64);
                            b
                        })
                        .map_err(std::io::Error::other),
                );
                self.store
                    .put(oid, *size, body)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}: object {oid} refused: {e}", up.shown()))?;
                done.objects += 1;
                done.bytes += size;
            }
        }
        bar.finish_and_clear();
        Ok(())
    }
}

/// The most an upstream's LFS batch answer may hold (100 objects take a few KiB).
const MAX_BATCH_ANSWER: usize = 8 << 20;

/// The body of `res` as text, refused past `max` bytes (an upstream cannot make the importer
/// hold more).
async fn bounded_text(mut res: reqwest::Response, max: usize) -> Result<String> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        if body.len() + chunk.len() > max {
            bail!("longer than {max} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[derive(serde::Deserialize)]
struct BatchAnswer {
    objects: Vec<BatchObject>,
}

#[derive(serde::Deserialize)]
struct BatchObject {
    oid: String,
    actions: Option<BatchActions>,
    error: Option<BatchError>,
}

#[derive(serde::Deserialize)]
struct BatchActions {
    download: Option<BatchAction>,
}

#[derive(serde::Deserialize)]
struct BatchAction {
    href: String,
    #[serde(default)]
    header: BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
struct BatchError {
    message: String,
}

fn local_ref(repo: &str, repo_type: &str) -> Result<RepoRef> {
    let repo_type: RepoType = repo_type
        .parse()
        .map_err(|_| anyhow::anyhow!("--type is model, dataset or space, not {repo_type:?}"))?;
    let id = RepoId::parse(repo).map_err(|e| anyhow::anyhow!("{repo:?} is not NS/NAME: {e}"))?;
    Ok(RepoRef { repo_type, id })
}

async fn mirrors(
    data_dir: &Path,
    db: &SharedArgs,
    storage: &crate::storage::StorageArgs,
) -> Result<Mirrors> {
    let data = DataDir::new(data_dir)?;
    let hub = data.hub(db).await?;
    let blobs = storage.open(data.root(), Duration::from_secs(600)).await?;
    let store = LfsStore::new(blobs.clone(), Arc::new(xet_store::XetStore::new(blobs)));
    let mut hook_env = storage.env();
    hook_env.extend(db.env());
    Ok(Mirrors {
        hub,
        store,
        data_dir: data.root().to_owned(),
        hook_env,
        client: Mirrors::client()?,
        progress: true,
    })
}

pub async fn run(data_dir: &Path, db: &SharedArgs, cmd: MirrorCmd) -> Result<()> {
    match cmd {
        MirrorCmd::Add {
            repo,
            from,
            repo_type,
            token_env,
            private,
            storage,
        } => {
            let local = local_ref(&repo, &repo_type)?;
            let up = Upstream::parse(&from, local.repo_type, token_env.as_deref())?;
            let m = mirrors(data_dir, db, &storage).await?;
            let done = tokio::select! {
                r = m.sync(&local, &up, Some(private)) => r?,
                _ = tokio::signal::ctrl_c() => bail!(
                    "import interrupted; {local} was not created: run the same command again to go on from what was fetched"
                ),
            };
            if let Some(var) = &token_env {
                let r = m
                    .hub
                    .accounts
                    .repo(&local)
                    .await?
                    .context("the import vanished")?;
                let mirror = m
                    .hub
                    .accounts
                    .mirror(r.id)
                    .await?
                    .context("no mirror record")?;
                m.hub
                    .accounts
                    .put_mirror(r.id, &mirror.upstream, &mirror.upstream_repo, Some(var))
                    .await?;
            }
            for f in &done.findings {
                eprintln!("{f}");
            }
            println!(
                "imported {local} from {}: {} refs, {} LFS objects fetched ({} bytes), {} warnings",
                up.shown(),
                done.refs,
                done.objects,
                done.bytes,
                done.findings.len()
            );
        }
        MirrorCmd::Sync {
            repo,
            repo_type,
            storage,
        } => {
            let local = local_ref(&repo, &repo_type)?;
            let m = mirrors(data_dir, db, &storage).await?;
            let done = sync_one(&m, &local).await?;
            println!(
                "synced {local}: {} refs changed, {} LFS objects fetched ({} bytes), {} warnings",
                done.refs,
                done.objects,
                done.bytes,
                done.findings.len()
            );
        }
        MirrorCmd::List => {
            let hub = DataDir::new(data_dir)?.hub(db).await?;
            for m in hub.accounts.mirrors().await? {
                let Some(r) = hub.accounts.repo_by_id(m.repo_id).await? else {
                    continue;
                };
                println!(
                    "{}\t{}/{}{}\t{}\t{}",
                    r.repo_ref(),
                    m.upstream,
                    r.repo_type.url_prefix(),
                    m.upstream_repo,
                    m.last_sync_at.as_deref().unwrap_or("never"),
                    m.last_error.as_deref().map_or("ok", |_| "failing"),
                );
            }
        }
        MirrorCmd::Status { repo, repo_type } => {
            let local = local_ref(&repo, &repo_type)?;
            let hub = DataDir::new(data_dir)?.hub(db).await?;
            let r = hub
                .accounts
                .repo(&local)
                .await?
                .with_context(|| format!("no repo {local}"))?;
            let m = hub
                .accounts
                .mirror(r.id)
                .await?
                .with_context(|| format!("{local} is not a mirror"))?;
            println!("repo: {local}");
            println!(
                "upstream: {}/{}{}",
                m.upstream,
                r.repo_type.url_prefix(),
                m.upstream_repo
            );
            println!(
                "last sync: {}",
                m.last_sync_at.as_deref().unwrap_or("never")
            );
            println!("last error: {}", m.last_error.as_deref().unwrap_or("none"));
            let findings: Vec<String> = serde_json::from_str(&m.findings).unwrap_or_default();
            println!("warnings: {}", findings.len());
            for f in findings {
                println!("  {f}");
            }
        }
        MirrorCmd::Detach { repo, repo_type } => {
            let local = local_ref(&repo, &repo_type)?;
            let hub = DataDir::new(data_dir)?.hub(db).await?;
            let r = hub
                .accounts
                .repo(&local)
                .await?
                .with_context(|| format!("no repo {local}"))?;
            if !hub.accounts.detach_mirror(r.id).await? {
                bail!("{local} is not a mirror");
            }
            let _ = tokio::fs::remove_dir_all(hub.repos.import_staging(&local)).await;
            println!("{local} is an ordinary repo now: it no longer syncs and takes pushes");
        }
    }
    Ok(())
}

/// Syncs one mirror from its upstream, recording a failure on it (what was mirrored stays
/// served as it was).
pub async fn sync_one(m: &Mirrors, local: &RepoRef) -> Result<Synced> {
    let db = &m.hub.accounts;
    let r = db
        .repo(local)
        .await?
        .with_context(|| format!("no repo {local}"))?;
    let rec = db
        .mirror(r.id)
        .await?
        .with_context(|| format!("{local} is not a mirror"))?;
    let result = match Upstream::of(&rec, r.repo_type) {
        Ok(up) => m.sync(local, &up, None).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        let _ = db.mirror_synced(r.id, Some(&format!("{e:#}")), None).await;
    }
    result
}

/// Syncs every mirror (the server's periodic job), telling the server of each whose refs
/// moved; a one-line summary. A mirror whose upstream fails keeps what it has and records
/// why (`mirror status`).
pub async fn sync_all(m: &Mirrors, state: &http_api::AppState) -> Result<String> {
    let (mut synced, mut failed, mut objects) = (0, 0, 0);
    for rec in m.hub.accounts.mirrors().await? {
        let Some(repo) = m.hub.accounts.repo_by_id(rec.repo_id).await? else {
            continue;
        };
        match sync_one(m, &repo.repo_ref()).await {
            Ok(done) => {
                synced += 1;
                objects += done.objects;
                if done.refs > 0 {
                    state.repo_refs_moved(repo.id).await;
                }
            }
            Err(e) => {
                failed += 1;
                tracing::warn!(repo = %repo.repo_ref(), error = %format!("{e:#}"), "mirror sync failed");
            }
        }
    }
    Ok(format!(
        "synced {synced} mirrors ({objects} LFS objects fetched), {failed} failed"
    ))
}

/// The pull-through cache (`serve --upstream URL`): a read of a public repo this hub does not
/// have imports it from `endpoint` first (as `mirror add` does: verified, validated, then
/// visible) and it stays a mirror, synced like the others. Concurrent first reads of one
/// repo wait for the one import. Private upstream repos are not fetched this way: they need
/// `mirror add` with a token.
pub fn pull_through(m: Arc<Mirrors>, endpoint: String) -> http_api::PullThroughFn {
    type Flights = std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>;
    let flights: Arc<Flights> = Arc::default();
    // Names the upstream said it has no public repo for, for a minute: reads of missing
    // repos do not each cost the upstream a request.
    let absent: Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>> =
        Arc::default();
    Arc::new(move |target: RepoRef| {
        let (m, endpoint, flights, absent) =
            (m.clone(), endpoint.clone(), flights.clone(), absent.clone());
        Box::pin(async move {
            let key = target.to_string().to_ascii_lowercase();
            {
                let mut absent = absent.lock().expect("the absent lock is never poisoned");
                absent.retain(|_, at| at.elapsed() < ABSENT_FOR);
                if absent.contains_key(&key) {
                    return http_api::PullThrough::Absent;
                }
            }
            let flight = flights
                .lock()
                .expect("the flights lock is never poisoned")
                .entry(key.clone())
                .or_default()
                .clone();
            let held = flight.lock().await;
            let result = fetch_through(&m, &endpoint, &target).await;
            if result == http_api::PullThrough::Absent {
                let mut absent = absent.lock().expect("the absent lock is never poisoned");
                if absent.len() < 100_000 {
                    absent.insert(key.clone(), std::time::Instant::now());
                }
            }
            drop(held);
            flights
                .lock()
                .expect("the flights lock is never poisoned")
                .remove(&key);
            result
        })
    })
}

/// How long an upstream's "no such public repo" is believed.
const ABSENT_FOR: Duration = Duration::from_secs(60);

async fn fetch_through(m: &Mirrors, endpoint: &str, target: &RepoRef) -> http_api::PullThrough {
    use http_api::PullThrough;
    // Another request may have fetched it while this one waited.
    if let Ok(Some(_)) = m.hub.accounts.repo(target).await {
        return PullThrough::Fetched;
    }
    let from = format!("{endpoint}/{}{}", target.repo_type.url_prefix(), target.id);
    let up = match Upstream::parse(&from, target.repo_type, None) {
        Ok(up) => up,
        Err(e) => return PullThrough::Unreachable(format!("{e:#}")),
    };
    if let Err(e) = m.hub.accounts.ensure_namespace(&target.id.namespace).await {
        return PullThrough::Unreachable(format!("{e}"));
    }
    match m.sync(target, &up, Some(false)).await {
        Ok(done) => {
            tracing::info!(repo = %target, upstream = %up.shown(), objects = done.objects, bytes = done.bytes, "fetched through from the upstream");
            PullThrough::Fetched
        }
        Err(e) => {
            let said = format!("{e:#}");
            if said.contains("validator refused") {
                PullThrough::Refused(said)
            } else if [
                "not found",
                "Authentication failed",
                "could not read Username",
                "terminal prompts disabled",
                "returned error: 40",
            ]
            .iter()
            .any(|s| said.contains(s))
            {
                PullThrough::Absent
            } else {
                tracing::warn!(repo = %target, error = %said, "the upstream could not be reached");
                PullThrough::Unreachable(format!(
                    "{target} is not here and the upstream {endpoint} could not be reached; try again later"
                ))
            }
        }
    }
}
