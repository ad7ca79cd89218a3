//! Gated repos: the gate's mode per repo, and users' access requests (pending, accepted,
//! rejected) with the fields they filled in. Who may pass is decided by the caller: owners,
//! writers and admins always; others with an accepted request.

use std::collections::HashMap;

use crate::coherence::Announce;
use crate::{Accounts, AccountsError};

type Result<T> = std::result::Result<T, AccountsError>;

/// One access request, as the management API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    pub user_id: i64,
    pub user: String,
    pub fullname: String,
    pub status: String,
    /// JSON object.
    pub fields: String,
    pub created_at: String,
}

impl Accounts {
    /// A repo's gate: `false`, `auto` or `manual`.
    pub async fn gated(&self, repo_id: i64) -> Result<String> {
        let row: Option<(String,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT gated FROM repo_settings WHERE repo_id = $1",
        )
        .bind(repo_id)
        .fetch_optional(p)
        .await)?;
        Ok(row.map_or_else(|| "false".to_owned(), |r| r.0))
    }

    /// The gates of those of `repo_ids` that are gated.
    pub async fn gated_among(&self, repo_ids: &[i64]) -> Result<HashMap<i64, String>> {
        let mut out = HashMap::new();
        for part in repo_ids.chunks(500) {
            let marks: Vec<String> = (0..part.len()).map(|i| format!("${}", i + 1)).collect();
            let sql = format!(
                "SELECT repo_id, gated FROM repo_settings WHERE gated <> 'false' AND repo_id IN ({})",
                marks.join(", ")
            );
            let rows: Vec<(i64, String)> = on_pool!(&self.pool, p => {
                let mut q = sqlx::query_as(&sql);
                for id in part {
                    q = q.bind(id);
                }
                q.fetch_all(p).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// Sets a repo's gate. Who may read its files changes: like a change of visibility, this
    /// returns once every node dropped what it cached of the repo.
    pub async fn set_gated(&self, repo_id: i64, gated: &str) -> Result<()> {
        let seq = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO repo_settings (repo_id, gated) VALUES ($1, $2) \
                 ON CONFLICT (repo_id) DO UPDATE SET gated = excluded.gated",
            )
            .bind(repo_id)
            .bind(gated)
            .execute(&mut *tx)
            .await?;
            tell!(self, tx, Some(repo_id), &[]);
            let seq = tx.announce(crate::REPOS_CHANGED).await?;
            tx.commit().await?;
            seq
        });
        self.settle(seq).await
    }

    /// The status of `user_id`'s request to `repo_id`, if they made one.
    pub async fn access_status(&self, repo_id: i64, user_id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT status FROM access_requests WHERE repo_id = $1 AND user_id = $2",
        )
        .bind(repo_id)
        .bind(user_id)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|r| r.0))
    }

    /// Records `user_id`'s request with its fields (replacing an earlier one that was not
    /// accepted): accepted at once when the gate is `auto`. Returns the status.
    pub async fn request_access(&self, repo_id: i64, user_id: i64, fields: &str) -> Result<String> {
        let gate = self.gated(repo_id).await?;
        let status = if gate == "auto" {
            "accepted"
        } else {
            "pending"
        };
        on_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO access_requests (repo_id, user_id, status, fields) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (repo_id, user_id) DO UPDATE SET fields = excluded.fields, \
             status = CASE WHEN access_requests.status = 'accepted' THEN 'accepted' \
             ELSE excluded.status END",
        )
        .bind(repo_id)
        .bind(user_id)
        .bind(status)
        .bind(fields)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(self
            .access_status(repo_id, user_id)
            .await?
            .unwrap_or_else(|| status.to_owned()))
    }

    /// The name of the user with this id.
    pub async fn user_name(&self, id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT name FROM accounts WHERE id = $1 AND kind = 'user'",
        )
        .bind(id)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|r| r.0))
    }

    /// A repo's requests with `status`, oldest first.
    pub async fn access_requests(&self, repo_id: i64, status: &str) -> Result<Vec<AccessRequest>> {
        let rows: Vec<(i64, String, String, String, String, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT a.id, a.name, a.fullname, r.status, r.fields, r.created_at FROM access_requests r \
             JOIN accounts a ON a.id = r.user_id WHERE r.repo_id = $1 AND r.status = $2 \
             ORDER BY r.created_at, a.name LIMIT 10000",
        )
        .bind(repo_id)
        .bind(status)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|r| AccessRequest {
                user_id: r.0,
                user: r.1,
                fullname: r.2,
                status: r.3,
                fields: r.4,
                created_at: r.5,
            })
            .collect())
    }

    /// Sets the status of `user`'s request (creating it, for a grant); false if `user` is no
    /// user, or has no request to change when `create` is false.
    pub async fn handle_access(
        &self,
        repo_id: i64,
        user: &str,
        status: &str,
        reason: Option<&str>,
        create: bool,
    ) -> Result<bool> {
        let Some((uid,)): Option<(i64,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id FROM accounts WHERE kind = 'user' AND lower(name) = lower($1)",
        )
        .bind(user)
        .fetch_optional(p)
        .await)?
        else {
            return Ok(false);
        };
        let n = on_pool!(&self.pool, p => {
            if create {
                sqlx::query(
                    "INSERT INTO access_requests (repo_id, user_id, status, rejection_reason) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (repo_id, user_id) DO UPDATE SET \
                     status = excluded.status, rejection_reason = excluded.rejection_reason",
                )
            } else {
                sqlx::query(
                    "UPDATE access_requests SET status = $3, rejection_reason = $4 \
                     WHERE repo_id = $1 AND user_id = $2",
                )
            }
            .bind(repo_id)
            .bind(uid)
            .bind(status)
            .bind(reason)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n > 0)
    }
}
