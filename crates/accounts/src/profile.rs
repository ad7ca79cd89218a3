//! What users and organisations show of themselves: a full name, and counts of their public
//! repos (the user and organisation overviews of the Hub API and pages).

use hub_types::Name;

use crate::{Accounts, AccountsError};

type Result<T> = std::result::Result<T, AccountsError>;

/// The longest full name accepted, in characters.
pub const MAX_FULLNAME: usize = 100;

/// A user or organisation as anyone may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: i64,
    pub name: String,
    /// `user` or `org`.
    pub kind: String,
    /// Empty if none was given.
    pub fullname: String,
    pub created_at: String,
    /// Public repos of each type.
    pub models: u64,
    pub datasets: u64,
    pub spaces: u64,
    /// Members, for an organisation.
    pub members: u64,
}

impl Accounts {
    /// Sets the full name of user or organisation `ns`: at most [`MAX_FULLNAME`] characters,
    /// no control characters (empty clears it).
    pub async fn set_fullname(&self, ns: &Name, fullname: &str) -> Result<()> {
        let fullname = fullname.trim();
        if fullname.chars().count() > MAX_FULLNAME || fullname.chars().any(char::is_control) {
            return Err(AccountsError::BadFullname(
                fullname.chars().take(200).collect(),
            ));
        }
        let id = self.namespace_id(ns).await?;
        on_pool!(&self.pool, p => sqlx::query("UPDATE accounts SET fullname = $1 WHERE id = $2")
            .bind(fullname)
            .bind(id)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Makes repos that organisation `org` creates without saying private or public private
    /// (`on`), or public as usual.
    pub async fn set_private_by_default(&self, org: &str, on: bool) -> Result<()> {
        let org = self.org(org).await?;
        on_pool!(&self.pool, p => sqlx::query("UPDATE accounts SET private_by_default = $1 WHERE id = $2")
            .bind(on)
            .bind(org.id)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Whether repos created in namespace `ns` without saying are private.
    pub async fn private_by_default(&self, ns: &str) -> Result<bool> {
        let row: Option<(bool,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT private_by_default FROM accounts WHERE lower(name) = lower($1)",
        )
        .bind(ns)
        .fetch_optional(p)
        .await)?;
        Ok(row.is_some_and(|r| r.0))
    }

    /// The profile of the user or organisation named `name` (any case), if there is one.
    pub async fn profile(&self, name: &str) -> Result<Option<Profile>> {
        let row: Option<(i64, String, String, String, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id, name, kind, fullname, created_at FROM accounts WHERE lower(name) = lower($1)",
        )
        .bind(name)
        .fetch_optional(p)
        .await)?;
        let Some((id, name, kind, fullname, created_at)) = row else {
            return Ok(None);
        };
        let counts: Vec<(String, i64)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT repo_type, COUNT(*) FROM repos WHERE namespace_id = $1 AND NOT private \
             GROUP BY repo_type",
        )
        .bind(id)
        .fetch_all(p)
        .await)?;
        let count = |t: &str| {
            counts
                .iter()
                .find(|(k, _)| k == t)
                .map_or(0, |(_, n)| (*n).max(0) as u64)
        };
        let (members,): (i64,) = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT COUNT(*) FROM org_members WHERE org_id = $1",
        )
        .bind(id)
        .fetch_one(p)
        .await)?;
        Ok(Some(Profile {
            id,
            name,
            kind,
            fullname,
            created_at,
            models: count("model"),
            datasets: count("dataset"),
            spaces: count("space"),
            members: members.max(0) as u64,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_types::{RepoId, RepoRef, RepoType};

    #[tokio::test]
    async fn full_names_are_set_checked_and_shown_with_public_counts() {
        let (_dir, dbs) = crate::store::tests::both().await;
        for db in dbs {
            let alice = Name::parse("alice").unwrap();
            db.create_user(&alice, false).await.unwrap();
            let r = |id: &str| RepoRef {
                repo_type: RepoType::Model,
                id: RepoId::parse(id).unwrap(),
            };
            db.create_repo(&r("alice/a"), false).await.unwrap();
            db.create_repo(&r("alice/b"), true).await.unwrap();
            assert_eq!(db.profile("Alice").await.unwrap().unwrap().fullname, "");
            db.set_fullname(&alice, "  Alice Liddell ").await.unwrap();
            let p = db.profile("alice").await.unwrap().unwrap();
            assert_eq!(
                (p.fullname.as_str(), p.kind.as_str()),
                ("Alice Liddell", "user")
            );
            assert_eq!((p.models, p.datasets), (1, 0));
            assert!(db.set_fullname(&alice, "a\u{1b}[2J").await.is_err());
            assert!(db.set_fullname(&alice, &"x".repeat(101)).await.is_err());
            assert!(db.profile("nobody").await.unwrap().is_none());
            db.create_org(&Name::parse("acme").unwrap(), "alice")
                .await
                .unwrap();
            assert!(!db.private_by_default("acme").await.unwrap());
            db.set_private_by_default("acme", true).await.unwrap();
            assert!(db.private_by_default("ACME").await.unwrap());
            assert!(!db.private_by_default("alice").await.unwrap());
            assert!(db.set_private_by_default("alice", true).await.is_err());
        }
    }
}
