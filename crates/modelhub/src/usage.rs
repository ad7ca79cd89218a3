//! `modelhub usage`: what each user and organisation stores, largest first: the distinct LFS
//! objects linked to its repos (an object in several of them counts once; stored whole or
//! through Xet) and its repos' git data on disk. The same sums as `usedStorage` per repo.
//! `modelhub quota`: the limits the server holds those sums to (see http-api's `quota`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use http_api::Usage;
use hub_types::namespace_name;

use crate::admin::DataDir;
use crate::database::SharedArgs;

pub async fn run(data_dir: &Path, db: &SharedArgs) -> Result<()> {
    let hub = DataDir::new(data_dir)?.hub(db).await?;
    let mut rows = Vec::new();
    for ns in hub.accounts.namespaces().await? {
        let usage = hub.namespace_usage(&ns).await?;
        rows.push((ns, usage));
    }
    rows.sort_by_key(|(_, u)| std::cmp::Reverse(u.total()));
    println!("namespace\ttotal\tlfs\tgit\trepos");
    let mut all = Usage::default();
    for (name, u) in &rows {
        println!("{name}\t{}\t{}\t{}\t{}", u.total(), u.lfs, u.git, u.repos);
        all.lfs += u.lfs;
        all.git += u.git;
    }
    eprintln!(
        "{} namespaces store {} ({} of LFS objects, {} of git data; an object two namespaces \
         share counts in both)",
        rows.len(),
        indicatif::HumanBytes(all.total()),
        indicatif::HumanBytes(all.lfs),
        indicatif::HumanBytes(all.git)
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
                let used = hub.namespace_usage(ns).await?.total();
                println!("{ns}\t{limit}\t{used}");
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
