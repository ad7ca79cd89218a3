//! The LFS side of the repo registry: which objects each repo may serve, and file locks.

use hub_types::LfsOid;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::{Accounts, AccountsError};

type Result<T> = std::result::Result<T, AccountsError>;

/// A Git LFS file lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub id: i64,
    pub path: String,
    pub ref_name: Option<String>,
    pub owner_id: i64,
    pub owner_name: String,
    pub locked_at: String,
}

/// Filters and paging for listing locks.
#[derive(Debug, Default, Clone)]
pub struct LockQuery {
    pub path: Option<String>,
    pub id: Option<i64>,
    pub owner_id: Option<i64>,
    /// Only locks with an id at least this (the previous page's `next_cursor`).
    pub cursor: Option<i64>,
    pub limit: i64,
}

const LOCK_COLUMNS: &str = "SELECT l.id, l.path, l.ref_name, l.owner_id, a.name, l.locked_at \
     FROM lfs_locks l JOIN accounts a ON a.id = l.owner_id";

fn lock_from_row(r: SqliteRow) -> Lock {
    Lock {
        id: r.get(0),
        path: r.get(1),
        ref_name: r.get(2),
        owner_id: r.get(3),
        owner_name: r.get(4),
        locked_at: r.get(5),
    }
}

impl Accounts {
    /// Records that `repo_id` holds object `oid` of `size` bytes.
    pub async fn link_object(&self, repo_id: i64, oid: &LfsOid, size: u64) -> Result<()> {
        let size = i64::try_from(size).map_err(|_| sqlx::Error::Decode("size over i64".into()))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO lfs_objects (oid, size) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(oid.as_str())
            .bind(size)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO lfs_repo_objects (repo_id, oid) VALUES (?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(repo_id)
        .bind(oid.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The size of `oid` if it is linked to `repo_id`.
    pub async fn linked_object(&self, repo_id: i64, oid: &LfsOid) -> Result<Option<u64>> {
        let row = sqlx::query(
            "SELECT o.size FROM lfs_repo_objects l JOIN lfs_objects o ON o.oid = l.oid \
             WHERE l.repo_id = ? AND l.oid = ?",
        )
        .bind(repo_id)
        .bind(oid.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get::<i64, _>(0) as u64))
    }

    /// Stores what validation learnt about an object's weights (JSON), replacing older facts.
    pub async fn record_weights(&self, oid: &LfsOid, info_json: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO lfs_weights (oid, info) VALUES (?, ?) \
             ON CONFLICT (oid) DO UPDATE SET info = excluded.info, \
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        )
        .bind(oid.as_str())
        .bind(info_json)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The recorded weights facts of an object (JSON), if validation has read it and the
    /// object is linked to `repo_id`: a repo learns nothing about objects it does not hold,
    /// whatever pointer its commits carry.
    pub async fn weights(&self, repo_id: i64, oid: &LfsOid) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT w.info FROM lfs_weights w \
             JOIN lfs_repo_objects l ON l.oid = w.oid AND l.repo_id = ? WHERE w.oid = ?",
        )
        .bind(repo_id)
        .bind(oid.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Creates a lock, or returns the lock that already holds `path` as the error value.
    pub async fn create_lock(
        &self,
        repo_id: i64,
        path: &str,
        ref_name: Option<&str>,
        owner_id: i64,
    ) -> Result<std::result::Result<Lock, Lock>> {
        let inserted = sqlx::query(
            "INSERT INTO lfs_locks (repo_id, path, ref_name, owner_id) VALUES (?, ?, ?, ?) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(repo_id)
        .bind(path)
        .bind(ref_name)
        .bind(owner_id)
        .fetch_optional(&self.pool)
        .await?;
        let existing = sqlx::query(&format!(
            "{LOCK_COLUMNS} WHERE l.repo_id = ? AND l.path = ?"
        ))
        .bind(repo_id)
        .bind(path)
        .fetch_one(&self.pool)
        .await
        .map(lock_from_row)?;
        Ok(if inserted.is_some() {
            Ok(existing)
        } else {
            Err(existing)
        })
    }

    /// Locks of a repo, ordered by id, with the cursor of the next page if there is one.
    pub async fn list_locks(
        &self,
        repo_id: i64,
        q: &LockQuery,
    ) -> Result<(Vec<Lock>, Option<i64>)> {
        let mut sql = format!("{LOCK_COLUMNS} WHERE l.repo_id = ?");
        if q.path.is_some() {
            sql.push_str(" AND l.path = ?");
        }
        if q.id.is_some() {
            sql.push_str(" AND l.id = ?");
        }
        if q.owner_id.is_some() {
            sql.push_str(" AND l.owner_id = ?");
        }
        sql.push_str(" AND l.id >= ? ORDER BY l.id LIMIT ?");
        let mut query = sqlx::query(&sql).bind(repo_id);
        if let Some(p) = &q.path {
            query = query.bind(p);
        }
        if let Some(id) = q.id {
            query = query.bind(id);
        }
        if let Some(o) = q.owner_id {
            query = query.bind(o);
        }
        let limit = q.limit.clamp(1, 1000);
        let rows = query
            .bind(q.cursor.unwrap_or(0))
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        let mut locks: Vec<Lock> = rows.into_iter().map(lock_from_row).collect();
        let next = if locks.len() as i64 > limit {
            locks.pop().map(|l| l.id)
        } else {
            None
        };
        Ok((locks, next))
    }

    pub async fn lock(&self, repo_id: i64, id: i64) -> Result<Option<Lock>> {
        let row = sqlx::query(&format!("{LOCK_COLUMNS} WHERE l.repo_id = ? AND l.id = ?"))
            .bind(repo_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(lock_from_row))
    }

    pub async fn delete_lock(&self, repo_id: i64, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM lfs_locks WHERE repo_id = ? AND id = ?")
            .bind(repo_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_types::{Name, RepoId, RepoRef, RepoType};

    #[tokio::test]
    async fn weights_facts_are_read_only_through_a_repo_that_holds_the_object() {
        let dir = tempfile::tempdir().unwrap();
        let db = Accounts::open(&dir.path().join("a.db")).await.unwrap();
        db.create_user(&Name::parse("alice").unwrap(), false)
            .await
            .unwrap();
        let repo = |id: &str| RepoRef {
            repo_type: RepoType::Model,
            id: RepoId::parse(id).unwrap(),
        };
        let private = db.create_repo(&repo("alice/private"), true).await.unwrap();
        let other = db.create_repo(&repo("alice/other"), false).await.unwrap();
        let oid = LfsOid::parse(&"ab".repeat(32)).unwrap();
        db.link_object(private.id, &oid, 10).await.unwrap();
        db.record_weights(&oid, r#"{"parameters":{"F16":7}}"#)
            .await
            .unwrap();
        assert!(db.weights(private.id, &oid).await.unwrap().is_some());
        // A pointer to the object in another repo's commit learns nothing of it.
        assert_eq!(db.weights(other.id, &oid).await.unwrap(), None);
    }
}
