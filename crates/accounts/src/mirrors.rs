//! Mirrors: which repos were imported from another hub, from where, and how their last sync
//! went. A detached mirror is an ordinary repo (its row is gone).

use crate::{now_iso, Accounts, AccountsError};

type Result<T> = std::result::Result<T, AccountsError>;

/// A mirrored repo's upstream and its last sync.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Mirror {
    pub repo_id: i64,
    /// The upstream endpoint (`https://huggingface.co`), without credentials.
    pub upstream: String,
    /// The repo there (`ORG/MODEL`).
    pub upstream_repo: String,
    /// The environment variable holding the upstream token, if one is needed.
    pub token_env: Option<String>,
    pub last_sync_at: Option<String>,
    pub last_error: Option<String>,
    /// JSON: the validator's findings on the last import or sync.
    pub findings: String,
}

const COLUMNS: &str =
    "repo_id, upstream, upstream_repo, token_env, last_sync_at, last_error, findings";

impl Accounts {
    /// Records `repo_id` as a mirror (or changes where it mirrors from).
    pub async fn put_mirror(
        &self,
        repo_id: i64,
        upstream: &str,
        upstream_repo: &str,
        token_env: Option<&str>,
    ) -> Result<()> {
        on_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO mirrors (repo_id, upstream, upstream_repo, token_env) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (repo_id) DO UPDATE SET \
             upstream = excluded.upstream, upstream_repo = excluded.upstream_repo, \
             token_env = excluded.token_env",
        )
        .bind(repo_id)
        .bind(upstream)
        .bind(upstream_repo)
        .bind(token_env)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The mirror record of `repo_id`, if it is a mirror.
    pub async fn mirror(&self, repo_id: i64) -> Result<Option<Mirror>> {
        let sql = format!("SELECT {COLUMNS} FROM mirrors WHERE repo_id = $1");
        Ok(on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(repo_id)
            .fetch_optional(p)
            .await)?)
    }

    /// Every mirror.
    pub async fn mirrors(&self) -> Result<Vec<Mirror>> {
        let sql = format!("SELECT {COLUMNS} FROM mirrors ORDER BY repo_id");
        Ok(on_pool!(&self.pool, p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }

    /// Records how a sync ended: `error` if it failed (what was mirrored stays as it was),
    /// else the validator's `findings`.
    pub async fn mirror_synced(
        &self,
        repo_id: i64,
        error: Option<&str>,
        findings: Option<&str>,
    ) -> Result<()> {
        on_pool!(&self.pool, p => sqlx::query(
            "UPDATE mirrors SET last_sync_at = $2, last_error = $3, \
             findings = COALESCE($4, findings) WHERE repo_id = $1",
        )
        .bind(repo_id)
        .bind(now_iso())
        .bind(error)
        .bind(findings)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Makes a mirror an ordinary repo; false if it was not a mirror.
    pub async fn detach_mirror(&self, repo_id: i64) -> Result<bool> {
        let n = on_pool!(&self.pool, p => sqlx::query("DELETE FROM mirrors WHERE repo_id = $1")
            .bind(repo_id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
