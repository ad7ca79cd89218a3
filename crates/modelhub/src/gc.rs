//! `modelhub gc`, and the server's periodic run of it (`serve --gc-interval`): deletes the
//! stored content no repo can reach any more, while the server serves.
//!
//! **Mark.** An LFS object is reachable if a pointer to it is in the history of any ref of any
//! registered repo (branches, tags, `refs/pr/*`), or of a reflog entry younger than the grace
//! period (a force-push or a squash can be undone that long). A xorb is reachable if a Xet
//! file record that is kept uses it.
//!
//! **Sweep.** Everything else goes, unless it was used within the grace period: the cut-off
//! is the start of the run minus the grace period. What "used" means, and why an upload
//! running meanwhile is never lost, is the registry's claims (`accounts::claims`): every
//! door that accepts content (LFS batch and upload, Xet xorb and shard upload, the push hook)
//! stamps it *before* it looks for it or stores it, and the sweep deletes a thing only after
//! dooming it, which succeeds only if nobody stamped it since the cut-off. An upload that
//! stamps first is kept; one that comes second waits until the deletion is over, then finds
//! nothing and uploads the bytes again. So with the default grace period (a day) an upload
//! whose commit is not made yet is never collected; with `--grace 0` (tests, a quiet hub),
//! only uploads that started after the run did are sure to be kept.
//!
//! **Faults.** Each thing is deleted in the order doom, bytes, then the registry's record of
//! it: a run killed at any point leaves at most some doomed names, whose deletion the next run
//! finishes first (`Accounts::doomed`); nothing reachable is ever doomed. `--dry-run`
//! changes nothing.
//!
//! It also deletes repo folders no registered repo owns (a deletion cut short; at least an
//! hour old, so a creation in flight is safe), the dedup index entries whose files are all
//! gone, and runs `git gc --auto` in every repo.
//!
//! **Dedup.** Last, the reachable LFS objects that arrived whole (git-lfs, the HF API's LFS path)
//! are re-stored as Xet files (`XetStore::convert`: xet-core's chunker, chunks found in stored
//! xorbs are not stored again), and the whole copy is deleted once the Xet file is written;
//! readers (git-lfs, `resolve` with `Range`, the validator) fall back to it unchanged. An
//! object whose bytes no longer hash to its name is left whole for fsck to report.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use accounts::Doom;
use anyhow::{bail, Context, Result};
use clap::Args;
use content_store::{lfs_claim, xorb_claim, Backend, Listed};
use futures_util::TryStreamExt;
use hub_types::RepoType;
use xet_store::XetStore;

use crate::admin::DataDir;
use crate::database::SharedArgs;
use crate::storage::StorageArgs;

#[derive(Args)]
pub struct GcArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Say what would be deleted, and delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep what was used (uploaded, pushed, committed) within this many hours, and reflog
    /// entries this young.
    #[arg(long, default_value_t = 24.0, value_parser = hours, allow_negative_numbers = true)]
    grace: f64,
    /// Leave LFS objects that arrived whole (git-lfs, the HF API's LFS path) as they are,
    /// instead of re-storing them as Xet files that dedup against every other revision.
    #[arg(long)]
    keep_whole: bool,
    /// Tests: pause at points of the run (after marking: `DIR/marked`; after dooming the
    /// first LFS object, before deleting it: `DIR/doomed`): create the file, and go on once
    /// it is removed.
    #[arg(long, hide = true, value_name = "DIR")]
    pause_in: Option<PathBuf>,
}

/// Parses a grace period in hours: zero or more, at most ten years.
pub fn hours(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(h) if (0.0..=87_600.0).contains(&h) => Ok(h),
        _ => Err(format!("{s:?} is not a number of hours from 0 to 87600")),
    }
}

/// How a run goes.
pub struct Options {
    pub grace: Duration,
    pub dry_run: bool,
    /// Draw progress bars (the command in a terminal; not the server).
    pub progress: bool,
    /// Re-store the kept LFS objects stored whole as Xet files (chunk-level dedup).
    pub dedup: bool,
    /// See `GcArgs::pause_in`.
    pub pause_in: Option<PathBuf>,
}

/// Things of one kind: how many, and their bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub count: u64,
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {} bytes ({})",
            self.count,
            self.bytes,
            indicatif::HumanBytes(self.bytes)
        )
    }
}

/// What a run found and did.
#[derive(Debug, Default)]
pub struct Report {
    pub repos: u64,
    /// Distinct LFS objects the repos reach.
    pub reachable: u64,
    /// LFS objects stored whole, deleted (or that would be, in a dry run).
    pub objects: Tally,
    /// Xet files (their logical size), deleted.
    pub xet_files: Tally,
    /// Xorbs deleted: the bytes a Xet file's deletion actually frees.
    pub xorbs: Tally,
    /// Unreachable, but used within the grace period (or first seen by this run): kept.
    pub kept: Tally,
    /// Dedup index entries deleted (their files are all gone).
    pub index_entries: u64,
    /// Repo folders no registered repo owns, deleted.
    pub orphans: Tally,
    /// What `git gc --auto` freed.
    pub git: Tally,
    /// LFS objects stored whole, re-stored as Xet files (their whole copies deleted).
    pub restored: Tally,
    /// Of those bytes, found in xorbs stored before.
    pub restored_reused: u64,
    /// Bytes of the new xorbs they needed.
    pub restored_new: u64,
    /// Objects that could not be re-stored (left whole; see the log).
    pub restore_failed: u64,
    /// Deletions an earlier, stopped run left unfinished, finished by this one.
    pub finished: u64,
    pub dry_run: bool,
}

impl Report {
    /// Bytes freed (or that would be).
    pub fn freed(&self) -> u64 {
        (self.objects.bytes + self.xorbs.bytes + self.orphans.bytes + self.git.bytes)
            .saturating_add(self.restored.bytes.saturating_sub(self.restored_new))
    }

    /// The lines the command prints: one per kind, then the one-line summary.
    pub fn lines(&self) -> Vec<String> {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        let mut out = vec![
            format!(
                "marked {} LFS objects reachable from {} repos (refs, and reflog entries within \
                 the grace period)",
                self.reachable, self.repos
            ),
            format!("LFS objects stored whole: {verb} {}", self.objects),
            format!(
                "Xet files: {verb} {} (their bytes are in the xorbs)",
                self.xet_files
            ),
            format!("xorbs: {verb} {}", self.xorbs),
            format!(
                "kept, though unreachable, as used within the grace period: {}",
                self.kept
            ),
            format!("dedup index entries: {verb} {}", self.index_entries),
            format!("repo folders without a repo: {verb} {}", self.orphans),
        ];
        if !self.dry_run {
            out.push(format!(
                "LFS objects re-stored through Xet: {} ({} found in stored xorbs, {} of new \
                 xorbs){}",
                self.restored,
                indicatif::HumanBytes(self.restored_reused),
                indicatif::HumanBytes(self.restored_new),
                if self.restore_failed > 0 {
                    format!("; {} left whole (see the log)", self.restore_failed)
                } else {
                    String::new()
                }
            ));
            out.push(format!(
                "git gc --auto: freed {} in {} repos",
                indicatif::HumanBytes(self.git.bytes),
                self.git.count
            ));
        }
        if self.finished > 0 {
            out.push(format!(
                "finished {} deletions a stopped run had begun",
                self.finished
            ));
        }
        out.push(self.summary());
        out
    }

    /// One line: what was freed.
    pub fn summary(&self) -> String {
        format!(
            "gc: {} {} ({} LFS objects, {} Xet files, {} xorbs, {} repo folders, git {}; {} \
             objects re-stored through Xet)",
            if self.dry_run { "would free" } else { "freed" },
            indicatif::HumanBytes(self.freed()),
            self.objects.count,
            self.xet_files.count,
            self.xorbs.count,
            self.orphans.count,
            indicatif::HumanBytes(self.git.bytes),
            self.restored.count,
        )
    }
}

pub async fn run(data_dir: &Path, db: &SharedArgs, args: GcArgs) -> Result<()> {
    let hub = DataDir::new(data_dir)?.hub(db).await?;
    let backend = args
        .storage
        .open(data_dir, Duration::from_secs(600))
        .await?;
    let opts = Options {
        grace: Duration::from_secs_f64(args.grace * 3600.0),
        dry_run: args.dry_run,
        progress: true,
        dedup: !args.keep_whole,
        pause_in: args.pause_in,
    };
    let report = tokio::select! {
        r = collect(&hub, backend, &opts) => r?,
        _ = tokio::signal::ctrl_c() => bail!(
            "gc interrupted; nothing reachable was touched: run it again to finish"
        ),
    };
    for line in report.lines() {
        println!("{line}");
    }
    Ok(())
}

/// One run of the collector over `hub`'s repos and the content store `backend`.
pub async fn collect(
    hub: &http_api::Hub,
    backend: Arc<dyn Backend>,
    opts: &Options,
) -> Result<Report> {
    let db = &hub.accounts;
    let xet = Arc::new(XetStore::new(backend.clone()).with_claims(Arc::new(
        http_api::StoreClaims::new(db.clone(), tokio::runtime::Handle::current()),
    )));
    let start = accounts::now_ms();
    let grace_ms = i64::try_from(opts.grace.as_millis()).unwrap_or(i64::MAX);
    let cutoff = start.saturating_sub(grace_ms);
    let mut report = Report {
        dry_run: opts.dry_run,
        ..Report::default()
    };

    if !opts.dry_run {
        for name in db.doomed().await? {
            delete(&backend, &xet, &name).await?;
            db.forget(&name).await?;
            report.finished += 1;
        }
    }

    // Mark: every LFS object a repo's history points at.
    let marked = mark(hub, cutoff, opts.progress).await?;
    let (live, owned) = (marked.live, marked.owned);
    report.repos = marked.repos;
    report.reachable = live.len() as u64;

    pause(opts, "marked").await?;

    // Sweep LFS objects, whole and Xet files alike (one claim name covers both).
    let whole: Vec<Listed> = backend.list("lfs/objects/").try_collect().await?;
    let records: Vec<Listed> = backend.list("xet/files/").try_collect().await?;
    let mut candidates: Vec<(String, Option<u64>, bool)> = Vec::new();
    for o in &whole {
        let oid = name_of(&o.key);
        if !live.contains(oid) {
            candidates.push((oid.to_owned(), Some(o.size), false));
        }
    }
    for r in &records {
        let oid = name_of(&r.key);
        if !live.contains(oid) {
            candidates.push((oid.to_owned(), None, true));
        }
    }
    candidates.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let bar = progress(
        opts.progress,
        candidates.len() as u64,
        "sweeping LFS objects",
    );
    let mut gone_records: HashSet<String> = HashSet::new();
    let mut i = 0;
    while i < candidates.len() {
        // An object stored both whole and through Xet is one name: doomed once.
        let oid = candidates[i].0.clone();
        let mut size = None;
        let mut is_xet = false;
        while i < candidates.len() && candidates[i].0 == oid {
            size = size.or(candidates[i].1);
            is_xet |= candidates[i].2;
            i += 1;
        }
        bar.inc(1);
        let rec = if is_xet {
            let (x, key) = (xet.clone(), format!("xet/files/{}/{oid}", &oid[..2]));
            tokio::task::spawn_blocking(move || x.record_at(&key)).await??
        } else {
            None
        };
        let logical = rec.as_ref().map_or(0, |r| r.size);
        let bytes = size.unwrap_or(0);
        let name = lfs_claim(&oid);
        let doomed = if opts.dry_run {
            db.untouched_since(&name, cutoff).await?
        } else {
            db.doom(&name, cutoff, accounts::now_ms()).await? == Doom::Doomed
        };
        if !doomed {
            report.kept.add(bytes.max(logical));
            continue;
        }
        if !opts.dry_run {
            if report.objects.count + report.xet_files.count == 0 {
                pause(opts, "doomed").await?;
            }
            delete(&backend, &xet, &name).await?;
            db.forget(&name).await?;
        }
        if size.is_some() {
            report.objects.add(bytes);
        }
        if is_xet {
            report.xet_files.add(logical);
            gone_records.insert(oid);
        }
    }
    bar.finish_and_clear();

    // Sweep xorbs no kept file uses. Files registered after the listing claimed theirs.
    let mut used: HashSet<String> = HashSet::new();
    for r in &records {
        if gone_records.contains(name_of(&r.key)) {
            continue;
        }
        let (x, key) = (xet.clone(), r.key.clone());
        if let Some(rec) = tokio::task::spawn_blocking(move || x.record_at(&key)).await?? {
            used.extend(rec.segments.into_iter().map(|s| s.xorb));
        }
    }
    let xorbs: Vec<Listed> = backend.list("xet/xorbs/").try_collect().await?;
    let bar = progress(opts.progress, xorbs.len() as u64, "sweeping xorbs");
    for x in xorbs {
        bar.inc(1);
        let hash = name_of(&x.key);
        if used.contains(hash) {
            continue;
        }
        let name = xorb_claim(hash);
        let doomed = if opts.dry_run {
            db.untouched_since(&name, cutoff).await?
        } else {
            db.doom(&name, cutoff, accounts::now_ms()).await? == Doom::Doomed
        };
        if !doomed {
            report.kept.add(x.size);
            continue;
        }
        if !opts.dry_run {
            delete(&backend, &xet, &name).await?;
            db.forget(&name).await?;
        }
        report.xorbs.add(x.size);
    }
    bar.finish_and_clear();

    // Dedup index entries whose files are all gone (a hint: a stale one costs a lookup).
    let index: Vec<Listed> = backend.list("xet/chunks/").try_collect().await?;
    for e in index {
        let (x, key) = (xet.clone(), e.key.clone());
        let dead = tokio::task::spawn_blocking(move || -> Result<bool> {
            for f in x.index_files_at(&key)? {
                if x.has_file_hash(&f)? {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await??;
        if dead {
            if !opts.dry_run {
                backend.delete(&e.key).await?;
            }
            report.index_entries += 1;
        }
    }

    // What is kept and stored whole is re-stored through Xet, so it dedups.
    if opts.dedup && !opts.dry_run {
        // Only what a repo reaches: what is kept for its grace period alone may yet go (and
        // re-storing it would claim it afresh).
        let todo: Vec<&Listed> = whole
            .iter()
            .filter(|o| o.size > 0 && live.contains(name_of(&o.key)))
            .collect();
        let bar = progress(opts.progress, todo.len() as u64, "re-storing through Xet");
        for o in todo {
            bar.inc(1);
            restore(&backend, &xet, o, &mut report).await?;
        }
        bar.finish_and_clear();
    }

    // Repo folders nobody owns, and git's own housekeeping.
    let min_age = opts.grace.max(Duration::from_secs(3600));
    for dir in orphan_repo_dirs(hub.repos.root(), &owned, min_age)? {
        let bytes = git_repos::disk_usage(&dir).unwrap_or(0);
        if !opts.dry_run {
            std::fs::remove_dir_all(&dir).with_context(|| format!("deleting {}", dir.display()))?;
            tracing::info!(dir = %dir.display(), bytes, "gc: deleted a repo folder without a repo");
        }
        report.orphans.add(bytes);
    }
    if !opts.dry_run {
        for path in &owned {
            if !path.is_dir() {
                continue;
            }
            let before = git_repos::disk_usage(path).unwrap_or(0);
            let out = git_repos::git_command()
                .env("GIT_DIR", path)
                .args(["gc", "--auto", "--quiet"])
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .context("git gc --auto")?;
            if !out.status.success() {
                tracing::warn!(repo = %path.display(), stderr = %String::from_utf8_lossy(&out.stderr).trim(), "gc: git gc --auto failed");
                continue;
            }
            let after = git_repos::disk_usage(path).unwrap_or(0);
            if after < before {
                report.git.add(before - after);
            }
        }
    }
    Ok(report)
}

/// What a mark found.
pub(crate) struct Marked {
    /// LFS object ids some ref's history (or a reflog entry younger than the cut-off) names.
    pub live: HashSet<String>,
    /// The folders of the registered repos.
    pub owned: HashSet<PathBuf>,
    /// Repos walked.
    pub repos: u64,
}

/// Walks every registered repo's history, from every ref and from reflog entries made after
/// `cutoff` (unix ms), for the LFS objects its pointers name.
pub(crate) async fn mark(hub: &http_api::Hub, cutoff: i64, shown: bool) -> Result<Marked> {
    let mut repos = Vec::new();
    for t in [RepoType::Model, RepoType::Dataset, RepoType::Space] {
        repos.extend(hub.accounts.list_repos(t).await?);
    }
    let bar = progress(shown, repos.len() as u64, "marking repos");
    let mut m = Marked {
        live: HashSet::new(),
        owned: HashSet::new(),
        repos: 0,
    };
    for repo in &repos {
        let r = repo.repo_ref();
        let path = hub.repos.path(&r);
        m.owned.insert(path.clone());
        bar.inc(1);
        if !path.is_dir() {
            continue; // fsck's business; nothing to mark
        }
        let roots = young_reflog_entries(&path, cutoff / 1000)?;
        let live = &mut m.live;
        hub.repos
            .each_small_blob_from(&r, &roots, 1023, |_, _, bytes| {
                for oid in hub_types::lfs_pointer_oids(bytes) {
                    live.insert(oid.to_owned());
                }
            })
            .await
            .with_context(|| format!("walking the history of {r}"))?;
        m.repos += 1;
    }
    bar.finish_and_clear();
    Ok(m)
}

/// Re-stores the LFS object stored whole at `o` as a Xet file, then deletes the whole copy
/// (the Xet file is written durably first; readers fall back to it). An object that cannot be
/// re-stored (its bytes no longer hash to its name: fsck's business) is left as it is.
async fn restore(
    backend: &Arc<dyn Backend>,
    xet: &Arc<XetStore>,
    o: &Listed,
    report: &mut Report,
) -> Result<()> {
    let oid = name_of(&o.key).to_owned();
    let (x, b, key, id) = (xet.clone(), backend.clone(), o.key.clone(), oid.clone());
    let done = tokio::task::spawn_blocking(move || {
        let open = || -> std::result::Result<Box<dyn std::io::Read + Send>, xet_store::XetError> {
            Ok(b.open_blocking(&key, None)?)
        };
        let converted = x.convert(&id, &open)?;
        // Re-stored before (a run stopped before deleting the whole copy): the whole copy
        // goes only if every xorb of the Xet file is there.
        let whole_copy_redundant = match &converted {
            Some(_) => true,
            None => match x.file_by_sha256(&id)? {
                Some(rec) => rec.segments.iter().all(|s| {
                    xet_store::parse_hash(&s.xorb).is_some_and(|h| x.has_xorb(&h).unwrap_or(false))
                }),
                None => false,
            },
        };
        Ok::<_, xet_store::XetError>((converted, whole_copy_redundant))
    })
    .await?;
    match done {
        Ok((converted, true)) => {
            if let Some(c) = converted {
                report.restored_reused += c.reused;
                report.restored_new += c.stored;
            }
            backend.delete(&o.key).await?;
            report.restored.add(o.size);
        }
        Ok((_, false)) => report.restore_failed += 1,
        Err(e) => {
            tracing::warn!(%oid, error = %e, "gc: could not re-store an LFS object through Xet; left whole");
            report.restore_failed += 1;
        }
    }
    Ok(())
}

/// Deletes the bytes behind claim name `name`: an LFS object stored whole, its Xet file
/// (entry by file hash first, then the record, so a stopped run leaves the record to find
/// the entry by), or a xorb. Deleting what is not there is not an error.
pub(crate) async fn delete(
    backend: &Arc<dyn Backend>,
    xet: &Arc<XetStore>,
    name: &str,
) -> Result<()> {
    if let Some(oid) = name.strip_prefix("lfs:") {
        if oid.len() != 64 || !oid.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("unexpected claim name {name:?}");
        }
        let record = format!("xet/files/{}/{oid}", &oid[..2]);
        let (x, key) = (xet.clone(), record.clone());
        if let Some(rec) = tokio::task::spawn_blocking(move || x.record_at(&key)).await?? {
            let [_, by_xet] = XetStore::file_keys(&rec);
            backend.delete(&by_xet).await?;
        }
        backend.delete(&record).await?;
        backend
            .delete(&format!("lfs/objects/{}/{}/{oid}", &oid[0..2], &oid[2..4]))
            .await?;
    } else if let Some(hash) = name.strip_prefix("xorb:") {
        let Some(h) = xet_store::parse_hash(hash) else {
            bail!("unexpected claim name {name:?}");
        };
        backend.delete(&XetStore::xorb_key(&h)).await?;
    } else {
        bail!("unexpected claim name {name:?}");
    }
    Ok(())
}

/// The commits that reflog entries of the repo at `path` younger than `since` (unix seconds)
/// moved a ref from or to.
fn young_reflog_entries(path: &Path, since: i64) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut dirs = vec![path.join("logs")];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for line in text.lines() {
                let head = line.split('\t').next().unwrap_or_default();
                let words: Vec<&str> = head.split(' ').collect();
                let when = words
                    .len()
                    .checked_sub(2)
                    .and_then(|i| words[i].parse::<i64>().ok());
                if words.len() < 4 || when.is_none_or(|t| t < since) {
                    continue;
                }
                for id in &words[..2] {
                    if id.len() >= 40
                        && id.bytes().all(|b| b.is_ascii_hexdigit())
                        && id.bytes().any(|b| b != b'0')
                    {
                        out.push((*id).to_owned());
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Repo folders (`{type}s/{ns}/{name}.git`) under `root` that no registered repo owns and
/// that were last changed at least `min_age` ago.
fn orphan_repo_dirs(
    root: &Path,
    owned: &HashSet<PathBuf>,
    min_age: Duration,
) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let list = |dir: &Path| -> std::io::Result<Vec<PathBuf>> {
        match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .map(|e| e.map(|e| e.path()))
                .filter(|p| {
                    p.as_ref().map_or(true, |p| {
                        p.is_dir()
                            && !p
                                .file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    })
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    };
    for t in [RepoType::Model, RepoType::Dataset, RepoType::Space] {
        for ns in list(&root.join(t.plural()))? {
            for repo in list(&ns)? {
                if owned.contains(&repo) || repo.extension().is_none_or(|e| e != "git") {
                    continue;
                }
                let age = std::fs::metadata(&repo)?
                    .modified()?
                    .elapsed()
                    .unwrap_or_default();
                if age >= min_age {
                    out.push(repo);
                }
            }
        }
    }
    Ok(out)
}

/// Waits at `point` if the run was asked to (tests): creates `DIR/point`, and goes on once
/// it is removed.
async fn pause(opts: &Options, point: &str) -> Result<()> {
    let Some(dir) = &opts.pause_in else {
        return Ok(());
    };
    let flag = dir.join(point);
    std::fs::write(&flag, b"")?;
    while flag.exists() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn progress(shown: bool, len: u64, what: &'static str) -> indicatif::ProgressBar {
    if !shown {
        return indicatif::ProgressBar::hidden();
    }
    indicatif::ProgressBar::new(len)
        .with_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {pos}/{len} {wide_bar} {eta}")
                .expect("a valid template"),
        )
        .with_message(what)
}

fn name_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflog_entries_within_the_grace_period_are_roots() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs/refs/heads");
        std::fs::create_dir_all(&logs).unwrap();
        let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let zero = "0".repeat(40);
        std::fs::write(
            logs.join("main"),
            format!(
                "{zero} {a} alice <a@x> 1000 +0000\tcreated\n\
                 {a} {b} alice <a@x> 2000 +0000\tpush\n\
                 {b} {c} alice <a@x> 3000 +0000\tforce-push\n"
            ),
        )
        .unwrap();
        assert_eq!(
            young_reflog_entries(dir.path(), 2500).unwrap(),
            [b.clone(), c.clone()]
        );
        assert_eq!(young_reflog_entries(dir.path(), 1500).unwrap(), [a, b, c]);
        assert!(young_reflog_entries(dir.path(), 4000).unwrap().is_empty());
    }
}
