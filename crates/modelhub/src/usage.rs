//! `modelhub usage`: what each user and organisation stores, largest first: the distinct LFS
//! objects linked to its repos (an object in several of them counts once; stored whole or
//! through Xet) and its repos' git data on disk. The same sums as `usedStorage` per repo.
//! `modelhub quota`: the limits the server holds those sums to (see http-api's `quota`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use hub_types::{namespace_name, RepoType};

use crate::admin::DataDir;
use crate::database::SharedArgs;

/// What one namespace stores.
#[derive(Default)]
struct Usage {
    lfs: u64,
    git: u64,
    repos: u64,
}

pub async fn run(data_dir: &Path, db: &SharedArgs) -> Result<()> {
    let hub = DataDir::new(data_dir)?.hub(db).await?;
    let mut by_ns: BTreeMap<String, Usage> = BTreeMap::new();
    for (name, lfs) in hub.accounts.linked_bytes_by_namespace().await? {
        by_ns.entry(name).or_default().lfs = lfs;
    }
    for t in [RepoType::Model, RepoType::Dataset, RepoType::Space] {
        for repo in hub.accounts.list_repos(t).await? {
            let path = hub.repos.path(&repo.repo_ref());
            // A repo missing on disk holds nothing there (`modelhub fsck` reports it).
            let git = tokio::task::spawn_blocking(move || git_repos::disk_usage(&path))
                .await?
                .unwrap_or(0);
            let u = by_ns.entry(repo.namespace.to_string()).or_default();
            u.git += git;
            u.repos += 1;
        }
    }
    let mut rows: Vec<(String, Usage)> = by_ns.into_iter().collect();
    rows.sort_by_key(|(_, u)| std::cmp::Reverse(u.lfs + u.git));
    println!("namespace\ttotal\tlfs\tgit\trepos");
    let (mut lfs, mut git) = (0, 0);
    for (name, u) in &rows {
        println!(
            "{name}\t{}\t{}\t{}\t{}",
            u.lfs + u.git,
            u.lfs,
            u.git,
            u.repos
        );
        lfs += u.lfs;
        git += u.git;
    }
    eprintln!(
        "{} namespaces store {} ({} of LFS objects, {} of git data; an object two namespaces \
         share counts in both)",
        rows.len(),
        indicatif::HumanBytes(lfs + git),
        indicatif::HumanBytes(lfs),
        indicatif::HumanBytes(git)
    );
    Ok(())
}

#[derive(Subcommand)]
pub enum QuotaCmd {
    /// Limit what a user or organisation may store (LFS objects and git data): SIZE in bytes
    /// or with a unit (`100MiB`, `50 GB`). Uploads that would pass it are refused.
    Set {
        namespace: String,
        /// (A negative size reaches the check, which says why it is refused.)
        #[arg(allow_hyphen_values = true)]
        size: String,
    },
    /// Remove a user's or organisation's limit.
    Clear { namespace: String },
    /// Every limit, with what each namespace stores now: namespace, limit, used (bytes).
    Show,
}

pub async fn quota(data_dir: &Path, db: &SharedArgs, cmd: QuotaCmd) -> Result<()> {
    let hub = DataDir::new(data_dir)?.hub(db).await?;
    match cmd {
        QuotaCmd::Set { namespace, size } => {
            let ns = namespace_name(&namespace)
                .with_context(|| format!("invalid namespace {namespace:?}"))?;
            let bytes = parse_size(&size)?;
            hub.accounts.set_quota(&ns, Some(bytes)).await?;
            eprintln!("{ns} may store {}", indicatif::HumanBytes(bytes));
        }
        QuotaCmd::Clear { namespace } => {
            let ns = namespace_name(&namespace)
                .with_context(|| format!("invalid namespace {namespace:?}"))?;
            hub.accounts.set_quota(&ns, None).await?;
            eprintln!("{ns} has no storage limit");
        }
        QuotaCmd::Show => {
            let quotas = hub.accounts.quotas().await?;
            println!("namespace\tlimit\tused");
            for (ns, limit) in &quotas {
                let (lfs, git) = hub.namespace_usage(ns).await?;
                println!("{ns}\t{limit}\t{}", lfs + git);
            }
            eprintln!("{} namespaces have a storage limit", quotas.len());
        }
    }
    Ok(())
}

/// A quota: bytes, or a size with a unit; more than zero.
fn parse_size(s: &str) -> Result<u64> {
    let size: bytesize::ByteSize = s.trim().parse().map_err(|e| {
        anyhow::anyhow!("{s:?} is not a size (bytes, or with a unit as in 100MiB): {e}")
    })?;
    if size.as_u64() == 0 {
        bail!("a quota of zero would refuse every upload; give a size above zero, or `modelhub quota clear` to remove the limit");
    }
    Ok(size.as_u64())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("100MiB").unwrap(), 100 << 20);
        assert_eq!(super::parse_size("1 GB").unwrap(), 1_000_000_000);
        assert_eq!(super::parse_size("4096").unwrap(), 4096);
        for bad in ["0", "-5", "lots", "", "5 parsecs"] {
            assert!(super::parse_size(bad).is_err(), "{bad}");
        }
    }
}
