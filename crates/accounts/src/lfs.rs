//! The LFS side of the repo registry: which objects each repo may serve, and file locks.

use hub_types::LfsOid;

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

/// A lock as selected by [`LOCK_COLUMNS`].
type LockRow = (i64, String, Option<String>, i64, String, String);

fn lock_from_row(r: LockRow) -> Lock {
    Lock {
        id: r.0,
        path: r.1,
        ref_name: r.2,
        owner_id: r.3,
        owner_name: r.4,
        locked_at: r.5,
    }
}

impl Accounts {
    /// Records that `repo_id` holds object `oid` of `size` bytes.
    pub async fn link_object(&self, repo_id: i64, oid: &LfsOid, size: u64) -> Result<()> {
        let size = i64::try_from(size).map_err(|_| sqlx::Error::Decode("size over i64".into()))?;
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO lfs_objects (oid, size) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(oid.as_str())
            .bind(size)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO lfs_repo_objects (repo_id, oid) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(repo_id)
            .bind(oid.as_str())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Lets repo `repo_id` go of `oids` (it no longer serves them); what no repo links or
    /// reaches is garbage-collected later.
    pub async fn unlink_objects(&self, repo_id: i64, oids: &[String]) -> Result<()> {
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            for oid in oids {
                sqlx::query("DELETE FROM lfs_repo_objects WHERE repo_id = $1 AND oid = $2")
                    .bind(repo_id)
                    .bind(oid)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Which of `oids` are linked to `repo_id` (one query per 500).
    pub async fn linked_among(
        &self,
        repo_id: i64,
        oids: &[String],
    ) -> Result<std::collections::HashSet<String>> {
        let mut out = std::collections::HashSet::new();
        for part in oids.chunks(500) {
            let marks: Vec<String> = (0..part.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT oid FROM lfs_repo_objects WHERE repo_id = $1 AND oid IN ({})",
                marks.join(", ")
            );
            let rows: Vec<(String,)> = on_pool!(&self.pool, p => {
                let mut q = sqlx::query_as(&sql).bind(repo_id);
                for o in part {
                    q = q.bind(o);
                }
                q.fetch_all(p).await?
            });
            out.extend(rows.into_iter().map(|r| r.0));
        }
        Ok(out)
    }

    /// The size of `oid` if it is linked to `repo_id`.
    pub async fn linked_object(&self, repo_id: i64, oid: &LfsOid) -> Result<Option<u64>> {
        let row: Option<(i64,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT o.size FROM lfs_repo_objects l JOIN lfs_objects o ON o.oid = l.oid \
             WHERE l.repo_id = $1 AND l.oid = $2",
        )
        .bind(repo_id)
        .bind(oid.as_str())
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|r| r.0 as u64))
    }

    /// The objects linked to any repo, in id order, at most `limit` after `after` (for a
    /// walk in pages): each id with its size.
    pub async fn linked_objects(&self, after: &str, limit: i64) -> Result<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT o.oid, o.size FROM lfs_objects o WHERE o.oid > $1 AND EXISTS \
             (SELECT 1 FROM lfs_repo_objects l WHERE l.oid = o.oid) ORDER BY o.oid LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(o, s)| (o, s.max(0) as u64))
            .collect())
    }

    /// Bytes of the distinct LFS objects linked to repo `repo_id` (uploaded through it, or
    /// found in the store when it was pushed).
    pub async fn linked_bytes(&self, repo_id: i64) -> Result<u64> {
        let (n,): (i64,) = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(o.size), 0) AS BIGINT) FROM lfs_repo_objects l \
             JOIN lfs_objects o ON o.oid = l.oid WHERE l.repo_id = $1",
        )
        .bind(repo_id)
        .fetch_one(p)
        .await)?;
        Ok(n.max(0) as u64)
    }

    /// The objects linked to repo `repo_id`, in id order, at most `limit` after `after`: each
    /// id with its size and when it was linked (uploaded through the repo).
    pub async fn repo_objects(
        &self,
        repo_id: i64,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, u64, String)>> {
        let rows: Vec<(String, i64, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT l.oid, o.size, l.linked_at FROM lfs_repo_objects l \
             JOIN lfs_objects o ON o.oid = l.oid WHERE l.repo_id = $1 AND l.oid > $2 \
             ORDER BY l.oid LIMIT $3",
        )
        .bind(repo_id)
        .bind(after)
        .bind(limit)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(o, s, at)| (o, s.max(0) as u64, at))
            .collect())
    }

    /// The ids of the repos `oid` is linked to.
    pub async fn repos_linking(&self, oid: &str) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT repo_id FROM lfs_repo_objects WHERE oid = $1 ORDER BY repo_id",
        )
        .bind(oid)
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Stores what validation learnt about an object's weights (JSON), replacing older facts.
    pub async fn record_weights(&self, oid: &LfsOid, info_json: &str) -> Result<()> {
        // `excluded.updated_at` is the column's default: now, in each backend's own words.
        on_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO lfs_weights (oid, info) VALUES ($1, $2) \
             ON CONFLICT (oid) DO UPDATE SET info = excluded.info, \
             updated_at = excluded.updated_at",
        )
        .bind(oid.as_str())
        .bind(info_json)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Stores what validation found about code in a file (JSON), by object: an LFS id or a git
    /// blob id. Replaces an older scan: the lists of known imports change.
    pub async fn record_scan(&self, object: &str, scan_json: &str) -> Result<()> {
        on_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO file_scans (object, scan) VALUES ($1, $2) \
             ON CONFLICT (object) DO UPDATE SET scan = excluded.scan, \
             updated_at = excluded.updated_at",
        )
        .bind(object)
        .bind(scan_json)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The recorded scans (JSON) of those of `objects` that have one. The caller says which
    /// objects the repo may learn about (for LFS objects: those linked to it).
    pub async fn scans_among(
        &self,
        objects: &[String],
    ) -> Result<std::collections::HashMap<String, String>> {
        let mut out = std::collections::HashMap::new();
        for part in objects.chunks(500) {
            let marks: Vec<String> = (0..part.len()).map(|i| format!("${}", i + 1)).collect();
            let sql = format!(
                "SELECT object, scan FROM file_scans WHERE object IN ({})",
                marks.join(", ")
            );
            let rows: Vec<(String, String)> = on_pool!(&self.pool, p => {
                let mut q = sqlx::query_as(&sql);
                for o in part {
                    q = q.bind(o);
                }
                q.fetch_all(p).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// The recorded weights facts of an object (JSON), if validation has read it and the
    /// object is linked to `repo_id`: a repo learns nothing about objects it does not hold,
    /// whatever pointer its commits carry.
    pub async fn weights(&self, repo_id: i64, oid: &LfsOid) -> Result<Option<String>> {
        let row: Option<(String,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT w.info FROM lfs_weights w \
             JOIN lfs_repo_objects l ON l.oid = w.oid AND l.repo_id = $1 WHERE w.oid = $2",
        )
        .bind(repo_id)
        .bind(oid.as_str())
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|r| r.0))
    }

    /// Creates a lock, or returns the lock that already holds `path` as the error value.
    pub async fn create_lock(
        &self,
        repo_id: i64,
        path: &str,
        ref_name: Option<&str>,
        owner_id: i64,
    ) -> Result<std::result::Result<Lock, Lock>> {
        let inserted: Option<(i64,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "INSERT INTO lfs_locks (repo_id, path, ref_name, owner_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(repo_id)
        .bind(path)
        .bind(ref_name)
        .bind(owner_id)
        .fetch_optional(p)
        .await)?;
        let sql = format!("{LOCK_COLUMNS} WHERE l.repo_id = $1 AND l.path = $2");
        let existing: LockRow = on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(repo_id)
            .bind(path)
            .fetch_one(p)
            .await)?;
        let existing = lock_from_row(existing);
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
        let mut sql = format!("{LOCK_COLUMNS} WHERE l.repo_id = $1");
        let mut n = 1;
        let mut param = |sql: &mut String, cond: &str| {
            n += 1;
            sql.push_str(&format!(" AND {cond} ${n}"));
        };
        if q.path.is_some() {
            param(&mut sql, "l.path =");
        }
        if q.id.is_some() {
            param(&mut sql, "l.id =");
        }
        if q.owner_id.is_some() {
            param(&mut sql, "l.owner_id =");
        }
        param(&mut sql, "l.id >=");
        sql.push_str(&format!(" ORDER BY l.id LIMIT ${}", n + 1));
        let limit = q.limit.clamp(1, 1000);
        let rows: Vec<LockRow> = on_pool!(&self.pool, p => {
            let mut query = sqlx::query_as(&sql).bind(repo_id);
            if let Some(path) = &q.path {
                query = query.bind(path);
            }
            if let Some(id) = q.id {
                query = query.bind(id);
            }
            if let Some(o) = q.owner_id {
                query = query.bind(o);
            }
            query
                .bind(q.cursor.unwrap_or(0))
                .bind(limit + 1)
                .fetch_all(p)
                .await?
        });
        let mut locks: Vec<Lock> = rows.into_iter().map(lock_from_row).collect();
        let next = if locks.len() as i64 > limit {
            locks.pop().map(|l| l.id)
        } else {
            None
        };
        Ok((locks, next))
    }

    pub async fn lock(&self, repo_id: i64, id: i64) -> Result<Option<Lock>> {
        let sql = format!("{LOCK_COLUMNS} WHERE l.repo_id = $1 AND l.id = $2");
        let row: Option<LockRow> = on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(repo_id)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(lock_from_row))
    }

    pub async fn delete_lock(&self, repo_id: i64, id: i64) -> Result<()> {
        on_pool!(&self.pool, p => sqlx::query("DELETE FROM lfs_locks WHERE repo_id = $1 AND id = $2")
            .bind(repo_id)
            .bind(id)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_types::{Name, RepoId, RepoRef, RepoType};

    #[tokio::test]
    async fn weights_facts_are_read_only_through_a_repo_that_holds_the_object() {
        let (_dir, dbs) = crate::store::tests::both().await;
        for db in dbs {
            weights_on(db).await;
        }
    }

    async fn weights_on(db: Accounts) {
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

    #[tokio::test]
    async fn linked_objects_are_walked_in_pages_with_the_repos_that_link_them() {
        let (_dir, dbs) = crate::store::tests::both().await;
        for db in dbs {
            links_on(db).await;
        }
    }

    async fn links_on(db: Accounts) {
        db.create_user(&Name::parse("alice").unwrap(), false)
            .await
            .unwrap();
        let repo = |id: &str| RepoRef {
            repo_type: RepoType::Model,
            id: RepoId::parse(id).unwrap(),
        };
        let one = db.create_repo(&repo("alice/one"), false).await.unwrap();
        let two = db.create_repo(&repo("alice/two"), true).await.unwrap();
        let gone = db.create_repo(&repo("alice/gone"), false).await.unwrap();
        let [a, b, c] = ["aa", "bb", "cc"].map(|x| LfsOid::parse(&x.repeat(32)).unwrap());
        db.link_object(one.id, &a, 1).await.unwrap();
        db.link_object(two.id, &a, 1).await.unwrap();
        db.link_object(one.id, &b, 2).await.unwrap();
        // Linked only to a repo since deleted: no longer a linked object.
        db.link_object(gone.id, &c, 3).await.unwrap();
        db.delete_repo(gone.id).await.unwrap();
        let all = db.linked_objects("", 10).await.unwrap();
        assert_eq!(
            all,
            [(a.as_str().to_owned(), 1), (b.as_str().to_owned(), 2)]
        );
        let first = db.linked_objects("", 1).await.unwrap();
        assert_eq!(first, all[..1]);
        assert_eq!(db.linked_objects(&first[0].0, 10).await.unwrap(), all[1..]);
        assert_eq!(
            db.repos_linking(a.as_str()).await.unwrap(),
            [one.id, two.id]
        );
        assert_eq!(
            db.repos_linking(c.as_str()).await.unwrap(),
            Vec::<i64>::new()
        );
        let listed = db.repo_objects(one.id, "", 10).await.unwrap();
        let ids: Vec<(&str, u64)> = listed.iter().map(|(o, s, _)| (o.as_str(), *s)).collect();
        assert_eq!(ids, [(a.as_str(), 1), (b.as_str(), 2)]);
        assert!(listed[0].2.starts_with("20"), "{listed:?}");
        assert_eq!(
            db.repo_objects(one.id, a.as_str(), 10).await.unwrap().len(),
            1
        );
        // Usage: each repo counts its objects; the namespace counts a shared one once.
        let among = db
            .linked_among(one.id, &[a.to_string(), c.to_string(), "zz".into()])
            .await
            .unwrap();
        assert_eq!(among, std::collections::HashSet::from([a.to_string()]));
        assert_eq!(db.linked_bytes(one.id).await.unwrap(), 3);
        assert_eq!(db.linked_bytes(two.id).await.unwrap(), 1);
        assert_eq!(db.namespace_lfs_bytes("alice").await.unwrap(), 3);
        assert_eq!(db.namespaces().await.unwrap(), ["alice"]);
    }
}
