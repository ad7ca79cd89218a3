//! Operations that span the account registry and the repos on disk, shared by the CLI and the
//! HTTP API: `create_repo`, so both create a repo the same way, and `namespace_usage`, so the
//! quota the server enforces and the one `modelhub quota show` prints are the same sum.

use accounts::webhooks::Outgoing;
use accounts::{Accounts, AccountsError, Repo};
use git_repos::{GitRepos, RepoError};
use hub_types::RepoRef;

#[derive(Clone, Debug)]
pub struct Hub {
    pub accounts: Accounts,
    pub repos: GitRepos,
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl Hub {
    /// Registers the repo, then creates it on disk with its initial commit; if the second
    /// step fails the registration is undone, so a repo is either fully there or not at all.
    /// `tell`: the webhook events of its creation and of the undoing, written with each.
    pub async fn create_repo(
        &self,
        repo: &RepoRef,
        private: bool,
        author: &str,
        tell: Option<(Outgoing, Outgoing)>,
    ) -> Result<(Repo, String), HubError> {
        let (accounts, undo) = match tell {
            Some((made, undone)) => (self.accounts.telling(made), self.accounts.telling(undone)),
            None => (self.accounts.clone(), self.accounts.clone()),
        };
        let record = accounts.create_repo(repo, private).await?;
        // Use the spelling of the namespace as registered, so the path on disk is canonical.
        let canonical = record.repo_ref();
        match self.repos.create(&canonical, author).await {
            Ok(commit) => Ok((record, commit)),
            Err(e) => {
                if let Err(undo) = undo.delete_repo(record.id).await {
                    tracing::error!(repo = %canonical, error = %undo, "could not undo a repo registration");
                }
                Err(e.into())
            }
        }
    }

    /// Why an upload of `size` more bytes is refused to namespace `ns`, which may store
    /// `limit` bytes and stores `used` (`size` 0: why anything more is refused). The words
    /// every door uses: huggingface_hub, git-lfs and git's `remote:` lines show them as they
    /// are.
    pub fn quota_refusal(ns: &str, limit: u64, used: u64, size: u64) -> String {
        use crate::pages::human_size;
        format!(
            "storage quota exceeded: {ns} may store {} and stores {}{}; delete files or ask an \
             admin to raise the quota",
            human_size(limit),
            human_size(used),
            if size > 0 {
                format!(", so this {} upload does not fit", human_size(size))
            } else {
                String::new()
            }
        )
    }

    /// What namespace `ns` stores: the one definition the quota the server enforces,
    /// `modelhub quota show` and `modelhub usage` share.
    pub async fn namespace_usage(&self, ns: &str) -> Result<Usage, AccountsError> {
        let lfs = self.accounts.namespace_lfs_bytes(ns).await?;
        let paths: Vec<_> = self
            .accounts
            .namespace_repos(ns)
            .await?
            .iter()
            .map(|r| self.repos.path(&r.repo_ref()))
            .collect();
        let repos = paths.len() as u64;
        // A repo missing on disk holds nothing there (`modelhub fsck` reports it).
        let git = tokio::task::spawn_blocking(move || {
            paths
                .iter()
                .map(|p| git_repos::disk_usage(p).unwrap_or(0))
                .sum::<u64>()
        })
        .await
        .unwrap_or(0);
        Ok(Usage { lfs, git, repos })
    }
}

/// What a user or organisation stores.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Bytes of the distinct LFS objects linked to its repos (one in several counts once).
    pub lfs: u64,
    /// Bytes of its repos' git data on disk.
    pub git: u64,
    /// How many repos it has.
    pub repos: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.lfs + self.git
    }
}
