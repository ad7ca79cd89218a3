//! Storage limits of users and organisations, and what they are checked against: the bytes
//! of the distinct LFS objects linked to a namespace's repos (the git data on disk is added by
//! the caller, which knows where repos live).

use hub_types::Name;

use crate::store::{repo_from_row, RepoRow};
use crate::{Accounts, AccountsError, Repo};

type Result<T> = std::result::Result<T, AccountsError>;

impl Accounts {
    /// Sets (`Some`) or removes (`None`) the storage limit of user or organisation `ns`.
    pub async fn set_quota(&self, ns: &Name, bytes: Option<u64>) -> Result<()> {
        let id = self.namespace_id(ns).await?;
        match bytes {
            Some(b) => {
                let b = i64::try_from(b).map_err(|_| sqlx::Error::Decode("over i64".into()))?;
                on_pool!(&self.pool, p => sqlx::query(
                    "INSERT INTO quotas (namespace_id, bytes) VALUES ($1, $2) \
                     ON CONFLICT (namespace_id) DO UPDATE SET bytes = excluded.bytes",
                )
                .bind(id)
                .bind(b)
                .execute(p)
                .await
                .map(|_| ()))?;
            }
            None => {
                on_pool!(&self.pool, p => sqlx::query("DELETE FROM quotas WHERE namespace_id = $1")
                    .bind(id)
                    .execute(p)
                    .await
                    .map(|_| ()))?;
            }
        }
        Ok(())
    }

    /// Every namespace with a limit, by name: its name and limit.
    pub async fn quotas(&self) -> Result<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT a.name, q.bytes FROM quotas q JOIN accounts a ON a.id = q.namespace_id \
             ORDER BY a.name",
        )
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(n, b)| (n, b.max(0) as u64))
            .collect())
    }

    /// The storage limit of namespace `ns`, if it has one.
    pub async fn quota(&self, ns: &str) -> Result<Option<u64>> {
        let row: Option<(i64,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT q.bytes FROM quotas q JOIN accounts a ON a.id = q.namespace_id \
             WHERE a.name = $1",
        )
        .bind(ns)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|r| r.0.max(0) as u64))
    }

    /// Every user and organisation, by name.
    pub async fn namespaces(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT name FROM accounts ORDER BY name",
        )
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Bytes of the distinct LFS objects linked to the repos of namespace `ns` (one in
    /// several of them counts once).
    pub async fn namespace_lfs_bytes(&self, ns: &str) -> Result<u64> {
        let (n,): (i64,) = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(o.size), 0) AS BIGINT) FROM lfs_objects o WHERE o.oid IN \
             (SELECT l.oid FROM lfs_repo_objects l JOIN repos r ON r.id = l.repo_id \
             JOIN accounts a ON a.id = r.namespace_id WHERE a.name = $1)",
        )
        .bind(ns)
        .fetch_one(p)
        .await)?;
        Ok(n.max(0) as u64)
    }

    /// Whether object `oid` is linked to a repo of namespace `ns` already (so storing it in
    /// another of its repos adds nothing to what the namespace uses).
    pub async fn namespace_holds(&self, ns: &str, oid: &str) -> Result<bool> {
        let row: Option<(i64,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT l.repo_id FROM lfs_repo_objects l JOIN repos r ON r.id = l.repo_id \
             JOIN accounts a ON a.id = r.namespace_id WHERE a.name = $1 AND l.oid = $2 LIMIT 1",
        )
        .bind(ns)
        .bind(oid)
        .fetch_optional(p)
        .await)?;
        Ok(row.is_some())
    }

    /// When each repo of namespace `ns` last changed, as its main branch was last described
    /// (repos not yet described are absent).
    pub async fn namespace_last_modified(
        &self,
        ns: &str,
    ) -> Result<std::collections::HashMap<i64, String>> {
        let rows: Vec<(i64, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT s.repo_id, s.last_modified FROM repo_summaries s \
             JOIN accounts a ON a.id = s.namespace_id \
             WHERE a.name = $1 AND s.last_modified IS NOT NULL",
        )
        .bind(ns)
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().collect())
    }

    /// The repos of namespace `ns`, of every type.
    pub async fn namespace_repos(&self, ns: &str) -> Result<Vec<Repo>> {
        let rows: Vec<RepoRow> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT r.id, r.repo_type, a.name, r.name, r.private, r.created_at, r.downloads \
             FROM repos r JOIN accounts a ON a.id = r.namespace_id WHERE a.name = $1 \
             ORDER BY r.repo_type, r.name",
        )
        .bind(ns)
        .fetch_all(p)
        .await)?;
        rows.into_iter().map(repo_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_types::{LfsOid, RepoId, RepoRef, RepoType};

    #[tokio::test]
    async fn quotas_and_the_usage_they_are_checked_against() {
        let (_dir, dbs) = crate::store::tests::both().await;
        for db in dbs {
            quotas_on(db).await;
        }
    }

    async fn quotas_on(db: Accounts) {
        let n = |s: &str| Name::parse(s).unwrap();
        db.create_user(&n("alice"), false).await.unwrap();
        db.create_user(&n("bob"), false).await.unwrap();
        assert!(matches!(
            db.set_quota(&n("carol"), Some(1)).await,
            Err(AccountsError::NoSuchNamespace(_))
        ));
        db.set_quota(&n("alice"), Some(100)).await.unwrap();
        db.set_quota(&n("alice"), Some(200)).await.unwrap();
        db.set_quota(&n("bob"), Some(5)).await.unwrap();
        db.set_quota(&n("bob"), None).await.unwrap();
        assert_eq!(db.quotas().await.unwrap(), [("alice".to_owned(), 200)]);
        assert_eq!(db.quota("alice").await.unwrap(), Some(200));
        assert_eq!(db.quota("bob").await.unwrap(), None);

        let repo = |id: &str| RepoRef {
            repo_type: RepoType::Model,
            id: RepoId::parse(id).unwrap(),
        };
        let m = db.create_repo(&repo("alice/m"), false).await.unwrap();
        let d = db.create_repo(&repo("alice/d"), true).await.unwrap();
        let b = db.create_repo(&repo("bob/m"), false).await.unwrap();
        let [x, y] = ["aa", "bb"].map(|h| LfsOid::parse(&h.repeat(32)).unwrap());
        db.link_object(m.id, &x, 10).await.unwrap();
        db.link_object(d.id, &x, 10).await.unwrap();
        db.link_object(b.id, &y, 7).await.unwrap();
        assert_eq!(db.namespace_lfs_bytes("alice").await.unwrap(), 10);
        assert_eq!(db.namespace_lfs_bytes("bob").await.unwrap(), 7);
        assert!(db.namespace_holds("alice", x.as_str()).await.unwrap());
        assert!(!db.namespace_holds("alice", y.as_str()).await.unwrap());
        let names: Vec<String> = db
            .namespace_repos("alice")
            .await
            .unwrap()
            .iter()
            .map(|r| r.repo_ref().id.to_string())
            .collect();
        assert_eq!(names, ["alice/d", "alice/m"]);
    }
}
