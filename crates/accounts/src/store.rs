//! The SQLite store behind [`Accounts`]. Every query of the crate is in this file.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use hub_types::{Name, RepoRef, RepoType, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;

use crate::{access, AccountsError, Org, Principal, Repo, Token, User};

/// Tokens start with this prefix so secret scanners and people can tell them apart.
const TOKEN_PREFIX: &str = "mh_";

type Result<T> = std::result::Result<T, AccountsError>;

/// The accounts database. Cheap to clone: it is a connection pool.
#[derive(Clone, Debug)]
pub struct Accounts {
    pub(crate) pool: SqlitePool,
}

impl Accounts {
    /// Whether the database answers a query (for readiness checks).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Connections the pool holds open, and how many of them are idle.
    pub fn pool_use(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // The CLI and the server share the file: wait for a writer rather than failing.
            .busy_timeout(Duration::from_secs(15));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Accounts { pool })
    }

    pub async fn create_user(&self, name: &Name, is_admin: bool) -> Result<User> {
        let id = self.insert_account(name, "user", is_admin).await?;
        Ok(User {
            id,
            name: name.to_string(),
            is_admin,
        })
    }

    /// Creates an organisation with `owner` as its first admin member.
    pub async fn create_org(&self, name: &Name, owner: &str) -> Result<Org> {
        let owner = self.user(owner).await?;
        let mut tx = self.pool.begin().await?;
        let id = insert_account(&mut *tx, name, "org", false).await?;
        sqlx::query("INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, 'admin')")
            .bind(id)
            .bind(owner.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Org {
            id,
            name: name.to_string(),
        })
    }

    /// Adds `user` to `org` with `role`, or changes the role of a member.
    pub async fn set_member(&self, org: &str, user: &str, role: Role) -> Result<()> {
        let org = self.org(org).await?;
        let user = self.user(user).await?;
        sqlx::query(
            "INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, ?) \
             ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(org.id)
        .bind(user.id)
        .bind(role.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Creates a token and returns it with its secret, which is not stored and cannot be
    /// shown again.
    pub async fn create_token(
        &self,
        user: &str,
        role: Role,
        label: &str,
    ) -> Result<(Token, String)> {
        if role == Role::Admin {
            return Err(AccountsError::TokenRole(role));
        }
        let user = self.user(user).await?;
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
        let id = sqlx::query(
            "INSERT INTO tokens (user_id, label, role, hash) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(user.id)
        .bind(label)
        .bind(role.as_str())
        .bind(token_hash(&secret))
        .fetch_one(&self.pool)
        .await?
        .get::<i64, _>(0);
        let token = Token {
            id,
            user_id: user.id,
            label: label.to_owned(),
            role,
        };
        Ok((token, secret))
    }

    /// A user's tokens (never their secrets, which are not stored), oldest first, each with
    /// when it was made.
    pub async fn list_tokens(&self, user: &str) -> Result<Vec<(Token, String)>> {
        let user = self.user(user).await?;
        let rows = sqlx::query(
            "SELECT id, label, role, created_at FROM tokens WHERE user_id = ? ORDER BY id",
        )
        .bind(user.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let token = Token {
                    id: r.get(0),
                    user_id: user.id,
                    label: r.get(1),
                    role: parse_role(r.get(2)),
                };
                (token, r.get(3))
            })
            .collect())
    }

    /// Deletes token `id` of `user`; false if the user has no such token. A revoked token
    /// fails at once in this process (the server's token cache forgets it within seconds).
    pub async fn revoke_token(&self, user: &str, id: i64) -> Result<bool> {
        let user = self.user(user).await?;
        let done = sqlx::query("DELETE FROM tokens WHERE id = ? AND user_id = ?")
            .bind(id)
            .bind(user.id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The user a token secret belongs to, or `None` for an unknown token.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Principal>> {
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT a.id, a.name, a.is_admin, t.role FROM tokens t \
             JOIN accounts a ON a.id = t.user_id WHERE t.hash = ?",
        )
        .bind(token_hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| Principal {
            user_id: r.get(0),
            name: r.get(1),
            is_admin: r.get(2),
            token_role: parse_role(r.get(3)),
        }))
    }

    pub async fn user(&self, name: &str) -> Result<User> {
        sqlx::query("SELECT id, name, is_admin FROM accounts WHERE kind = 'user' AND name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| User {
                id: r.get(0),
                name: r.get(1),
                is_admin: r.get(2),
            })
            .ok_or_else(|| AccountsError::NoSuchUser(name.to_owned()))
    }

    pub async fn org(&self, name: &str) -> Result<Org> {
        sqlx::query("SELECT id, name FROM accounts WHERE kind = 'org' AND name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Org {
                id: r.get(0),
                name: r.get(1),
            })
            .ok_or_else(|| AccountsError::NoSuchOrg(name.to_owned()))
    }

    /// Registers a repo in its namespace. The caller creates the repo on disk and removes the
    /// registration again with [`Accounts::delete_repo`] if that fails.
    pub async fn create_repo(&self, repo: &RepoRef, private: bool) -> Result<Repo> {
        let ns = sqlx::query("SELECT id FROM accounts WHERE name = ?")
            .bind(repo.id.namespace.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AccountsError::NoSuchNamespace(repo.id.namespace.to_string()))?
            .get::<i64, _>(0);
        let inserted = sqlx::query(
            "INSERT INTO repos (repo_type, namespace_id, name, private) VALUES (?, ?, ?, ?) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(repo.repo_type.as_str())
        .bind(ns)
        .bind(repo.id.name.as_str())
        .bind(private)
        .fetch_optional(&self.pool)
        .await?;
        if inserted.is_none() {
            return Err(AccountsError::RepoExists(
                repo.repo_type,
                repo.id.to_string(),
            ));
        }
        self.repo(repo)
            .await?
            .ok_or_else(|| AccountsError::NoSuchNamespace(repo.id.namespace.to_string()))
    }

    pub async fn delete_repo(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM repos WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Finds a repo by type and id; names match whatever their case.
    pub async fn repo(&self, repo: &RepoRef) -> Result<Option<Repo>> {
        let row = sqlx::query(
            "SELECT r.id, r.repo_type, a.name, r.name, r.private, r.created_at, r.downloads \
             FROM repos r JOIN accounts a ON a.id = r.namespace_id \
             WHERE r.repo_type = ? AND a.name = ? AND r.name = ?",
        )
        .bind(repo.repo_type.as_str())
        .bind(repo.id.namespace.as_str())
        .bind(repo.id.name.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(repo_from_row).transpose()
    }

    /// When the repo with this id was created, if it exists. Ids of deleted repos can be
    /// given again; together with the creation time an id names one repo for good.
    pub async fn repo_created_at(&self, id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT created_at FROM repos WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.0))
    }

    /// Every repo of a type, for listings (the caller filters by access).
    pub async fn list_repos(&self, repo_type: RepoType) -> Result<Vec<Repo>> {
        let rows = sqlx::query(
            "SELECT r.id, r.repo_type, a.name, r.name, r.private, r.created_at, r.downloads \
             FROM repos r JOIN accounts a ON a.id = r.namespace_id WHERE r.repo_type = ? \
             ORDER BY a.name, r.name",
        )
        .bind(repo_type.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(repo_from_row).collect()
    }

    pub async fn set_private(&self, id: i64, private: bool) -> Result<()> {
        sqlx::query("UPDATE repos SET private = ? WHERE id = ?")
            .bind(private)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Renames a repo (possibly into another namespace).
    pub async fn move_repo(&self, id: i64, to: &RepoRef) -> Result<Repo> {
        let ns = sqlx::query("SELECT id FROM accounts WHERE name = ?")
            .bind(to.id.namespace.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| AccountsError::NoSuchNamespace(to.id.namespace.to_string()))?
            .get::<i64, _>(0);
        let updated = sqlx::query("UPDATE repos SET namespace_id = ?, name = ? WHERE id = ?")
            .bind(ns)
            .bind(to.id.name.as_str())
            .bind(id)
            .execute(&self.pool)
            .await;
        match updated {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(AccountsError::RepoExists(to.repo_type, to.id.to_string()))
            }
            other => other?,
        };
        self.repo(to)
            .await?
            .ok_or_else(|| AccountsError::NoSuchNamespace(to.id.namespace.to_string()))
    }

    pub async fn add_downloads(&self, id: i64, n: i64) -> Result<()> {
        sqlx::query("UPDATE repos SET downloads = downloads + ? WHERE id = ?")
            .bind(n)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// What `who` may do with `repo` (see [`access`]); `None` means they may not see it.
    pub async fn access(&self, who: Option<&Principal>, repo: &Repo) -> Result<Option<Role>> {
        let org_role = match who {
            Some(p) => self.org_role(p.user_id, repo.namespace.as_str()).await?,
            None => None,
        };
        Ok(access(who, org_role, repo))
    }

    /// Whether `who` administers `repo` whatever their token: a site admin, the user who owns
    /// the namespace, or an admin of the owning organisation.
    pub async fn owns(&self, who: &Principal, repo: &Repo) -> Result<bool> {
        if who.is_admin || who.name.eq_ignore_ascii_case(repo.namespace.as_str()) {
            return Ok(true);
        }
        Ok(self.org_role(who.user_id, repo.namespace.as_str()).await? == Some(Role::Admin))
    }

    /// The organisations a user belongs to, with their role in each.
    pub async fn orgs_of(&self, user_id: i64) -> Result<Vec<(String, Role)>> {
        let rows = sqlx::query(
            "SELECT o.name, m.role FROM org_members m JOIN accounts o ON o.id = m.org_id \
             WHERE m.user_id = ? ORDER BY o.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), parse_role(r.get(1))))
            .collect())
    }

    async fn org_role(&self, user_id: i64, org: &str) -> Result<Option<Role>> {
        let row = sqlx::query(
            "SELECT m.role FROM org_members m JOIN accounts o ON o.id = m.org_id \
             WHERE o.name = ? AND m.user_id = ?",
        )
        .bind(org)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| parse_role(r.get(0))))
    }

    async fn insert_account(&self, name: &Name, kind: &str, is_admin: bool) -> Result<i64> {
        insert_account(&self.pool, name, kind, is_admin).await
    }
}

async fn insert_account<'e, E>(exec: E, name: &Name, kind: &str, is_admin: bool) -> Result<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let row = sqlx::query(
        "INSERT INTO accounts (name, kind, is_admin) VALUES (?, ?, ?) \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(name.as_str())
    .bind(kind)
    .bind(is_admin)
    .fetch_optional(exec)
    .await?;
    row.map(|r| r.get(0))
        .ok_or_else(|| AccountsError::NameTaken(name.to_string()))
}

fn repo_from_row(r: SqliteRow) -> Result<Repo> {
    // Rows were validated on the way in; a failure here means the file was edited by hand.
    let corrupt = |what: String| AccountsError::Database(sqlx::Error::Decode(what.into()));
    Ok(Repo {
        id: r.get(0),
        repo_type: RepoType::from_str(r.get(1)).map_err(|e| corrupt(e.to_string()))?,
        namespace: Name::parse(r.get(2)).map_err(|e| corrupt(e.to_string()))?,
        name: Name::parse(r.get(3)).map_err(|e| corrupt(e.to_string()))?,
        private: r.get(4),
        created_at: r.get(5),
        downloads: r.get(6),
    })
}

fn parse_role(s: &str) -> Role {
    // The CHECK constraints admit only valid roles; fall back to the weakest one regardless.
    Role::from_str(s).unwrap_or(Role::Read)
}

fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_types::RepoId;

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    #[tokio::test]
    async fn users_orgs_tokens_and_repos() {
        let dir = tempfile::tempdir().unwrap();
        let db = Accounts::open(&dir.path().join("a.db")).await.unwrap();
        db.create_user(&name("alice"), false).await.unwrap();
        db.create_user(&name("bob"), false).await.unwrap();
        assert!(matches!(
            db.create_user(&name("Alice"), false).await,
            Err(AccountsError::NameTaken(_))
        ));
        db.create_org(&name("acme"), "alice").await.unwrap();
        assert!(matches!(
            db.create_org(&name("bob"), "alice").await,
            Err(AccountsError::NameTaken(_))
        ));
        db.set_member("acme", "bob", Role::Read).await.unwrap();

        let (_, secret) = db.create_token("bob", Role::Write, "ci").await.unwrap();
        let bob = db.authenticate(&secret).await.unwrap().unwrap();
        assert_eq!(bob.name, "bob");
        assert!(db.authenticate("mh_nope").await.unwrap().is_none());
        assert!(db.create_token("bob", Role::Admin, "x").await.is_err());
        let (ci2, second) = db.create_token("bob", Role::Read, "laptop").await.unwrap();
        let listed = db.list_tokens("bob").await.unwrap();
        let labels: Vec<&str> = listed.iter().map(|(t, _)| t.label.as_str()).collect();
        assert_eq!(labels, ["ci", "laptop"]);
        assert!(
            !db.revoke_token("alice", ci2.id).await.unwrap(),
            "not alice's"
        );
        assert!(db.revoke_token("bob", ci2.id).await.unwrap());
        assert!(db.authenticate(&second).await.unwrap().is_none());
        assert!(db.authenticate(&secret).await.unwrap().is_some());
        assert!(!db.revoke_token("bob", ci2.id).await.unwrap());

        let r = RepoRef {
            repo_type: RepoType::Model,
            id: RepoId::parse("acme/m").unwrap(),
        };
        let repo = db.create_repo(&r, true).await.unwrap();
        assert!(matches!(
            db.create_repo(&r, true).await,
            Err(AccountsError::RepoExists(..))
        ));
        assert_eq!(
            db.access(Some(&bob), &repo).await.unwrap(),
            Some(Role::Read)
        );
        db.set_member("acme", "bob", Role::Write).await.unwrap();
        assert_eq!(
            db.access(Some(&bob), &repo).await.unwrap(),
            Some(Role::Write)
        );
        assert_eq!(db.access(None, &repo).await.unwrap(), None);

        let upper = RepoRef {
            repo_type: RepoType::Model,
            id: RepoId::parse("ACME/M").unwrap(),
        };
        assert_eq!(
            db.repo(&upper).await.unwrap().unwrap().namespace.as_str(),
            "acme"
        );
        let ds = RepoRef {
            repo_type: RepoType::Dataset,
            ..r.clone()
        };
        assert!(db.repo(&ds).await.unwrap().is_none());
    }
}
