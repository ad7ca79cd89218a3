//! Likes: one per user per repo, their count kept in the listing's table (in the same
//! transaction), who liked a repo, and what a user liked.

use std::collections::HashMap;

use crate::store::{repo_from_row, RepoRow};
use crate::{Accounts, AccountsError, Repo};

type Result<T> = std::result::Result<T, AccountsError>;

/// Someone who liked a repo: name, full name (empty if none), `user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liker {
    pub name: String,
    pub fullname: String,
}

impl Accounts {
    /// `user_id` likes `repo_id`; false if they did already.
    pub async fn like(&self, repo_id: i64, user_id: i64) -> Result<bool> {
        self.change_like(repo_id, user_id, true).await
    }

    /// `user_id` no longer likes `repo_id`; false if they did not.
    pub async fn unlike(&self, repo_id: i64, user_id: i64) -> Result<bool> {
        self.change_like(repo_id, user_id, false).await
    }

    async fn change_like(&self, repo_id: i64, user_id: i64, like: bool) -> Result<bool> {
        let changed = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let n = if like {
                sqlx::query(
                    "INSERT INTO repo_likes (repo_id, user_id) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
            } else {
                sqlx::query("DELETE FROM repo_likes WHERE repo_id = $1 AND user_id = $2")
            }
            .bind(repo_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                sqlx::query("UPDATE repo_summaries SET likes = likes + $2 WHERE repo_id = $1")
                    .bind(repo_id)
                    .bind(if like { 1i64 } else { -1i64 })
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            n > 0
        });
        Ok(changed)
    }

    /// The likes of each of `repo_ids` that has any.
    pub async fn likes_among(&self, repo_ids: &[i64]) -> Result<HashMap<i64, i64>> {
        let mut out = HashMap::new();
        for part in repo_ids.chunks(500) {
            let marks: Vec<String> = (0..part.len()).map(|i| format!("${}", i + 1)).collect();
            let sql = format!(
                "SELECT repo_id, likes FROM repo_summaries WHERE likes > 0 AND repo_id IN ({})",
                marks.join(", ")
            );
            let rows: Vec<(i64, i64)> = on_pool!(&self.pool, p => {
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

    /// Whether `user_id` likes `repo_id`.
    pub async fn likes(&self, repo_id: i64, user_id: i64) -> Result<bool> {
        let row: Option<(i64,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT repo_id FROM repo_likes WHERE repo_id = $1 AND user_id = $2",
        )
        .bind(repo_id)
        .bind(user_id)
        .fetch_optional(p)
        .await)?;
        Ok(row.is_some())
    }

    /// Who liked `repo_id`, newest first: `limit` after the first `offset`.
    pub async fn likers(&self, repo_id: i64, offset: i64, limit: i64) -> Result<Vec<Liker>> {
        let rows: Vec<(String, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT a.name, a.fullname FROM repo_likes l JOIN accounts a ON a.id = l.user_id \
             WHERE l.repo_id = $1 ORDER BY l.created_at DESC, a.name LIMIT $2 OFFSET $3",
        )
        .bind(repo_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(name, fullname)| Liker { name, fullname })
            .collect())
    }

    /// The repos user `name` liked, newest first, with when (the caller keeps those the
    /// asker may see).
    pub async fn liked_by(&self, name: &str, limit: i64) -> Result<Vec<(Repo, String)>> {
        type Row = (i64, String, String, String, bool, String, i64, String);
        let rows: Vec<Row> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT r.id, r.repo_type, ns.name, r.name, r.private, r.created_at, r.downloads, \
             l.created_at FROM repo_likes l JOIN accounts u ON u.id = l.user_id \
             JOIN repos r ON r.id = l.repo_id JOIN accounts ns ON ns.id = r.namespace_id \
             WHERE lower(u.name) = lower($1) ORDER BY l.created_at DESC LIMIT $2",
        )
        .bind(name)
        .bind(limit)
        .fetch_all(p)
        .await)?;
        rows.into_iter()
            .map(|r| {
                let row: RepoRow = (r.0, r.1, r.2, r.3, r.4, r.5, r.6);
                Ok((repo_from_row(row)?, r.7))
            })
            .collect()
    }
}
