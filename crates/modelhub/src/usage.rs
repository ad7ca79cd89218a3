//! `modelhub usage`: what each user and organisation stores, largest first: the distinct LFS
//! objects linked to its repos (an object in several of them counts once; stored whole or
//! through Xet) and its repos' git data on disk. The same sums as `usedStorage` per repo.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use hub_types::RepoType;

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
