//! `modelhub fsck`: checks that what is stored is still what was stored, on local disk or in
//! the bucket, and says what each problem affects. It only reads, unless `--repair` is given:
//! it can be stopped at any moment and run again.
//!
//! `--repair` removes what is broken and that nothing needs, never what a repo reaches: an
//! object, Xet file or xorb no ref of any repo reaches (marked as `modelhub gc` marks, and
//! deleted under the same claims, so what was used within the grace period stays), links to
//! objects stored nowhere that no ref reaches, and the corrupt whole copy of an object whose
//! Xet file is intact. What a repo still reaches is reported, to be uploaded again.
//!
//! - every LFS object stored whole is re-hashed and checked against its name (SHA-256);
//! - every xorb is re-read: its chunks must decompress and hash to its footer and its name;
//! - every Xet file record must name only xorbs that are stored;
//! - every object the registry links to a repo must be stored (whole or through Xet);
//! - every repo the registry knows must be on disk and pass `git fsck`.
//!
//! A problem with an object names the repos that link it and the files (`REF:PATH`) whose
//! LFS pointers name it. `--sample` re-hashes only a share of the objects and xorbs (a scrub
//! of a large store); the other checks always run whole.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use content_store::Backend;
use futures_util::{StreamExt, TryStreamExt};
use hub_types::RepoType;
use sha2::{Digest, Sha256};
use xet_store::XetStore;

use crate::admin::DataDir;
use crate::database::SharedArgs;
use crate::storage::StorageArgs;

#[derive(Args)]
pub struct FsckArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Re-hash only this percentage of the LFS objects and xorbs, picked at random (the
    /// other checks run whole).
    #[arg(long, default_value_t = 100.0, value_parser = percent)]
    sample: f64,
    /// Objects re-hashed at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Remove what is broken and that nothing needs: objects, Xet files and xorbs no ref of any
    /// repo reaches (and unused within the grace period), links to objects stored nowhere that
    /// no ref reaches, and a corrupt whole copy of an object whose Xet file is intact. Never
    /// anything a repo still reaches: that is reported, to be uploaded again.
    #[arg(long)]
    repair: bool,
    /// With --repair: leave what was used (uploaded, pushed) within this many hours.
    #[arg(long, default_value_t = 24.0, value_parser = crate::gc::hours, allow_negative_numbers = true)]
    grace: f64,
}

fn percent(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
        _ => Err(format!("{s:?} is not a percentage above 0 and at most 100")),
    }
}

/// What is wrong, and with which stored thing.
enum Problem {
    /// An LFS object whose bytes are not what its name says.
    CorruptObject { oid: String, why: String },
    /// A xorb whose chunks no longer read back as stored.
    DamagedXorb { xorb: String, why: String },
    /// A Xet file record that names a xorb the store does not hold.
    RecordWithoutXorb { sha256: String, xorb: String },
    /// An object linked to a repo that is stored nowhere.
    MissingObject { oid: String },
    /// A repo that is missing on disk or fails `git fsck`.
    BrokenRepo { repo: String, why: String },
}

/// How many things of each kind were checked.
#[derive(Default)]
struct Counts {
    objects: u64,
    object_bytes: u64,
    xorbs: u64,
    records: u64,
    links: u64,
    repos: u64,
}

pub async fn run(data_dir: &Path, db: &SharedArgs, args: FsckArgs) -> Result<()> {
    tokio::select! {
        done = check(data_dir, db, args) => done,
        _ = tokio::signal::ctrl_c() => {
            bail!("fsck interrupted; it only reads, so run it again to check everything")
        }
    }
}

async fn check(data_dir: &Path, db: &SharedArgs, args: FsckArgs) -> Result<()> {
    let hub = DataDir::new(data_dir)?.hub(db).await?;
    let backend = args
        .storage
        .open(data_dir, Duration::from_secs(600))
        .await?;
    let xet = Arc::new(XetStore::new(backend.clone()));
    let mut problems: Vec<Problem> = Vec::new();
    let mut n = Counts::default();

    let objects: Vec<_> = backend.list("lfs/objects/").try_collect().await?;
    let xorbs: Vec<_> = backend.list("xet/xorbs/").try_collect().await?;
    let records: Vec<_> = backend.list("xet/files/").try_collect().await?;
    let sampled = |_: &content_store::Listed| {
        args.sample >= 100.0 || rand::random::<f64>() * 100.0 < args.sample
    };
    let to_hash: Vec<_> = objects.iter().filter(|o| sampled(o)).cloned().collect();
    let to_read: Vec<_> = xorbs.iter().filter(|x| sampled(x)).cloned().collect();
    let total = to_hash.iter().chain(&to_read).map(|l| l.size).sum();
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} {eta} {msg}",
        )
        .expect("a valid template"),
    );

    // LFS objects stored whole: their SHA-256 is their name.
    bar.set_message("LFS objects");
    let hashed = futures_util::stream::iter(to_hash.into_iter().map(|o| {
        let (backend, bar) = (backend.clone(), bar.clone());
        async move {
            let r = rehash(&backend, &o.key, &bar).await;
            (o, r)
        }
    }))
    .buffer_unordered(args.jobs.max(1));
    let mut hashed = std::pin::pin!(hashed);
    while let Some((o, r)) = hashed.next().await {
        let oid = name_of(&o.key).to_owned();
        n.objects += 1;
        n.object_bytes += o.size;
        match r? {
            Some((sha, len)) if sha == oid && len == o.size => {}
            Some((sha, len)) => problems.push(Problem::CorruptObject {
                oid,
                why: format!("its {len} bytes hash to {sha}"),
            }),
            // Deleted since it was listed: nothing to check.
            None => n.objects -= 1,
        }
    }

    // Xorbs: re-read chunk by chunk against the footer and the name.
    bar.set_message("xorbs");
    let read = futures_util::stream::iter(to_read.into_iter().map(|x| {
        let (xet, bar) = (xet.clone(), bar.clone());
        async move {
            let name = name_of(&x.key).to_owned();
            let r = match xet_store::parse_hash(&name) {
                None => Err(format!("{} is not named by a xorb hash", x.key)),
                Some(hash) => tokio::task::spawn_blocking(move || xet.check_xorb(&hash))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string())),
            };
            bar.inc(x.size);
            (name, r)
        }
    }))
    .buffer_unordered(args.jobs.max(1));
    let mut read = std::pin::pin!(read);
    let mut damaged = HashSet::new();
    while let Some((xorb, r)) = read.next().await {
        n.xorbs += 1;
        if let Err(why) = r {
            damaged.insert(xorb.clone());
            problems.push(Problem::DamagedXorb { xorb, why });
        }
    }
    bar.finish_and_clear();

    // File records name stored xorbs; the files a damaged xorb is part of are affected.
    let stored_xorbs: HashSet<&str> = xorbs.iter().map(|x| name_of(&x.key)).collect();
    let mut xorb_files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut xet_files = HashSet::new();
    for r in &records {
        let sha256 = name_of(&r.key).to_owned();
        let (x, sha) = (xet.clone(), sha256.clone());
        let Some(record) = tokio::task::spawn_blocking(move || x.file_by_sha256(&sha)).await??
        else {
            continue;
        };
        n.records += 1;
        let mut named: Vec<&str> = record.segments.iter().map(|s| s.xorb.as_str()).collect();
        named.sort_unstable();
        named.dedup();
        for xorb in named {
            if !stored_xorbs.contains(xorb) {
                problems.push(Problem::RecordWithoutXorb {
                    sha256: sha256.clone(),
                    xorb: xorb.to_owned(),
                });
            }
            if damaged.contains(xorb) {
                xorb_files
                    .entry(xorb.to_owned())
                    .or_default()
                    .push(sha256.clone());
            }
        }
        xet_files.insert(sha256);
    }

    // Every linked object is stored, whole or through Xet.
    let whole: HashSet<&str> = objects.iter().map(|o| name_of(&o.key)).collect();
    let mut after = String::new();
    loop {
        let page = hub.accounts.linked_objects(&after, 10_000).await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        for (oid, _) in page {
            n.links += 1;
            if !whole.contains(oid.as_str()) && !xet_files.contains(&oid) {
                problems.push(Problem::MissingObject { oid });
            }
        }
    }

    // Every registered repo is on disk and whole.
    let mut repos = BTreeMap::new();
    for t in [RepoType::Model, RepoType::Dataset, RepoType::Space] {
        for r in hub.accounts.list_repos(t).await? {
            repos.insert(r.id, r);
        }
    }
    for repo in repos.values() {
        n.repos += 1;
        let path = hub.repos.path(&repo.repo_ref());
        let why = if !path.is_dir() {
            Some(format!("{} is missing", path.display()))
        } else {
            let out = git(&path, &["fsck", "--no-progress", "--no-dangling"]).await?;
            (!out.status.success()).then(|| {
                let said = String::from_utf8_lossy(&out.stderr)
                    .trim()
                    .replace('\n', "; ");
                format!("git fsck: {said}")
            })
        };
        if let Some(why) = why {
            problems.push(Problem::BrokenRepo {
                repo: repo.repo_ref().to_string(),
                why,
            });
        }
    }

    let mut repaired = 0;
    if args.repair && !problems.is_empty() {
        let grace = (args.grace * 3_600_000.0) as i64;
        let cutoff = accounts::now_ms().saturating_sub(grace);
        let live = crate::gc::mark(&hub, cutoff, true).await?.live;
        let mut left = Vec::new();
        for p in problems {
            match repair(&hub, &backend, &xet, &live, &xorb_files, cutoff, &p).await? {
                Some(what) => {
                    println!("repaired: {what}");
                    repaired += 1;
                }
                None => left.push(p),
            }
        }
        problems = left;
    }

    for p in &problems {
        let (line, oids) = match p {
            Problem::CorruptObject { oid, why } => (
                format!("LFS object {oid} is corrupt: {why}"),
                vec![oid.clone()],
            ),
            Problem::DamagedXorb { xorb, why } => (
                format!(
                    "xorb {xorb} is damaged: {}",
                    why.strip_prefix(&format!("stored xorb {xorb} is damaged: "))
                        .unwrap_or(why)
                ),
                xorb_files.get(xorb).cloned().unwrap_or_default(),
            ),
            Problem::RecordWithoutXorb { sha256, xorb } => (
                format!("the Xet file {sha256} names xorb {xorb}, which is not stored"),
                vec![sha256.clone()],
            ),
            Problem::MissingObject { oid } => (
                format!("LFS object {oid} is linked to repos but stored nowhere"),
                vec![oid.clone()],
            ),
            Problem::BrokenRepo { repo, why } => (format!("repo {repo}: {why}"), vec![]),
        };
        println!("{line}");
        for oid in oids {
            for (repo, files) in affected(&hub, &repos, &oid).await? {
                println!("  affects {repo}: {}", files.join(", "));
            }
        }
    }
    let summary = format!(
        "fsck: {} LFS objects ({}) and {} xorbs re-hashed{}, {} Xet file records, {} linked \
         objects and {} repos checked: {} problem{}",
        n.objects,
        indicatif::HumanBytes(n.object_bytes),
        n.xorbs,
        if args.sample < 100.0 {
            format!(" (a {}% sample)", args.sample)
        } else {
            String::new()
        },
        n.records,
        n.links,
        n.repos,
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
    ) + &if args.repair {
        format!(" left, {repaired} repaired")
    } else {
        String::new()
    };
    if problems.is_empty() {
        println!("{summary}");
        Ok(())
    } else {
        bail!(summary)
    }
}

/// Repairs `p` if that loses nothing a repo needs: what it did, or `None` (left as it is).
async fn repair(
    hub: &http_api::Hub,
    backend: &Arc<dyn Backend>,
    xet: &Arc<XetStore>,
    live: &HashSet<String>,
    xorb_files: &BTreeMap<String, Vec<String>>,
    cutoff: i64,
    p: &Problem,
) -> Result<Option<String>> {
    let db = &hub.accounts;
    // Deletes what claim name `name` stands for if nobody used it since the cut-off.
    let drop = |name: String| async move {
        if db.doom(&name, cutoff, accounts::now_ms()).await? != accounts::Doom::Doomed {
            return Ok::<bool, anyhow::Error>(false);
        }
        crate::gc::delete(backend, xet, &name).await?;
        db.forget(&name).await?;
        Ok(true)
    };
    Ok(match p {
        Problem::CorruptObject { oid, .. } => {
            // A Xet file of the same content, whole, makes the corrupt copy redundant.
            let (x, id) = (xet.clone(), oid.clone());
            let intact = tokio::task::spawn_blocking(move || -> Result<bool> {
                Ok(match x.file_by_sha256(&id)? {
                    Some(rec) => rec.segments.iter().all(|s| {
                        xet_store::parse_hash(&s.xorb).is_some_and(|h| x.check_xorb(&h).is_ok())
                    }),
                    None => false,
                })
            })
            .await??;
            if intact {
                let key = format!("lfs/objects/{}/{}/{oid}", &oid[0..2], &oid[2..4]);
                backend.delete(&key).await?;
                Some(format!(
                    "deleted the corrupt whole copy of LFS object {oid}; its intact Xet file serves it"
                ))
            } else if !live.contains(oid) && drop(content_store::lfs_claim(oid)).await? {
                Some(format!(
                    "deleted the corrupt LFS object {oid}: no repo reaches it"
                ))
            } else {
                None
            }
        }
        Problem::DamagedXorb { xorb, .. } => {
            let used = xorb_files.get(xorb).is_some_and(|f| !f.is_empty());
            if !used && drop(content_store::xorb_claim(xorb)).await? {
                Some(format!(
                    "deleted the damaged xorb {xorb}: no Xet file uses it"
                ))
            } else {
                None
            }
        }
        Problem::RecordWithoutXorb { sha256, xorb } => {
            if !live.contains(sha256) && drop(content_store::lfs_claim(sha256)).await? {
                Some(format!(
                    "deleted the Xet file {sha256}, which named the missing xorb {xorb}: no repo reaches it"
                ))
            } else {
                None
            }
        }
        Problem::MissingObject { oid } => {
            if !live.contains(oid) && drop(content_store::lfs_claim(oid)).await? {
                Some(format!(
                    "forgot the links to LFS object {oid}, stored nowhere: no repo reaches it"
                ))
            } else {
                None
            }
        }
        Problem::BrokenRepo { .. } => None,
    })
}

/// The SHA-256 and length of the stored object `key`, read as a stream; `None` if it is gone.
async fn rehash(
    backend: &Arc<dyn Backend>,
    key: &str,
    bar: &indicatif::ProgressBar,
) -> Result<Option<(String, u64)>> {
    let mut body = match backend.get(key, None).await {
        Ok(b) => b,
        Err(content_store::StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {key}")),
    };
    let (mut h, mut len) = (Sha256::new(), 0u64);
    while let Some(piece) = body.next().await {
        let piece = piece.with_context(|| format!("reading {key}"))?;
        h.update(&piece);
        len += piece.len() as u64;
        bar.inc(piece.len() as u64);
    }
    Ok(Some((hex::encode(h.finalize()), len)))
}

/// The repos `oid` is linked to, each with the files (`REF:PATH`, at most twenty) whose LFS
/// pointers on its branches, tags and pull requests name it.
async fn affected(
    hub: &http_api::Hub,
    repos: &BTreeMap<i64, accounts::Repo>,
    oid: &str,
) -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for id in hub.accounts.repos_linking(oid).await? {
        let Some(repo) = repos.get(&id) else { continue };
        let path = hub.repos.path(&repo.repo_ref());
        let refs = git(
            &path,
            &[
                "for-each-ref",
                "--format=%(refname)",
                "refs/heads",
                "refs/tags",
                "refs/pr",
            ],
        )
        .await?;
        let refs: Vec<String> = String::from_utf8_lossy(&refs.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let mut files = Vec::new();
        if !refs.is_empty() {
            let mut args = vec!["grep", "-l", "-F", "-e", oid];
            args.extend(refs.iter().map(String::as_str));
            let found = git(&path, &args).await?;
            files.extend(
                String::from_utf8_lossy(&found.stdout)
                    .lines()
                    .take(20)
                    .map(str::to_owned),
            );
        }
        if files.is_empty() {
            files.push("no file on a branch, tag or pull request names it".into());
        }
        out.push((repo.repo_ref().to_string(), files));
    }
    Ok(out)
}

async fn git(repo: &Path, args: &[&str]) -> Result<std::process::Output> {
    git_repos::git_command()
        .env("GIT_DIR", repo)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("git {}", args.join(" ")))
}

fn name_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}
