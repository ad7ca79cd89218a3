//! Users, organisations, tokens and the repo registry, in an embedded SQLite database.
//!
//! This crate owns who may do what: it answers "which user does this token belong to" and
//! "what may this user do with that repo". It knows nothing of git, HTTP or the disk layout of
//! repos. The server and the CLI open the same database at once, so it runs in WAL mode with a
//! busy timeout. All SQL lives in this crate behind [`Accounts`]'s narrow set of methods, so
//! another backend (PostgreSQL, also spoken by sqlx) has one place to implement; SQLite is the
//! only one today.
#![forbid(unsafe_code)]

mod access;
mod lfs;
mod store;

pub use access::{access, Principal};
pub use lfs::{Lock, LockQuery};
pub use store::Accounts;

use hub_types::{Name, RepoRef, RepoType, Role};

/// Why an account operation failed. Each variant names the broken rule.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("the name {0:?} is already taken by a user or an organisation")]
    NameTaken(String),
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    #[error("no organisation named {0:?}")]
    NoSuchOrg(String),
    #[error("no user or organisation named {0:?}")]
    NoSuchNamespace(String),
    #[error("a token's role must be read or write, not {0}")]
    TokenRole(Role),
    #[error("the {0} repo {1} already exists")]
    RepoExists(RepoType, String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: i64,
    pub user_id: i64,
    pub label: String,
    pub role: Role,
}

/// A registered repo. `namespace` and `name` are spelled as they were created, whatever case a
/// request used to find them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub id: i64,
    pub repo_type: RepoType,
    pub namespace: Name,
    pub name: Name,
    pub private: bool,
    pub created_at: String,
    pub downloads: i64,
}

impl Repo {
    pub fn repo_ref(&self) -> RepoRef {
        RepoRef {
            repo_type: self.repo_type,
            id: hub_types::RepoId {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
            },
        }
    }
}
