//! Users, organisations, tokens and the repo registry, in SQLite (embedded, the default) or
//! PostgreSQL (for several nodes); also what hangs off them: collections, discussions, likes,
//! gates and access requests, quotas, full names, what validation learnt about stored
//! files (weights, code scans), and webhooks with the outbox of their events (`webhooks`).
//!
//! This crate owns who may do what: it answers "which user does this token belong to" and
//! "what may this user do with that repo", and answers repo listings and search from per-repo
//! summaries the server stores (`listing`), visibility included. It knows nothing of git, HTTP
//! or the disk layout of repos. All SQL lives in this crate behind [`Accounts`]'s narrow set of methods, written
//! once in the dialect both backends speak; each backend has its migrations
//! (`migrations/sqlite`, `migrations/postgres`, same versions, same tables and columns). On
//! SQLite the server and the CLI open the same file at once, so it runs in WAL mode with a
//! busy timeout; on PostgreSQL every node shares one database, and a change of who may do
//! what returns only once every node's caches of it have let go (`coherence`: a lease per
//! node, and numbered, acknowledged announcements).
#![forbid(unsafe_code)]

/// Runs `$body` with `$p` bound to the pool of whichever backend `$pool` is: the body is
/// written once and compiled for each.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}

/// Writes the webhook event a handle carries ([`Accounts::telling`]) inside the change's
/// transaction `$tx`, with its deliveries: the event exists exactly when the change does.
/// `$repo_id` names the repo when the handle's event could not (a repo being created);
/// `$marks` (`(mark, value)` pairs) fill in the payload what only the transaction knows.
macro_rules! tell {
    ($self:expr, $tx:expr, $repo_id:expr, $marks:expr) => {
        if let Some(ev) = &$self.outbox {
            let repo_id: Option<i64> = $repo_id;
            let repo_id = repo_id.or(ev.repo_id);
            let mut payload = match repo_id {
                Some(id) => ev
                    .payload
                    .replace($crate::webhooks::REPO_ID_MARK, &id.to_string()),
                None => ev.payload.clone(),
            };
            let marks: &[(&str, &str)] = $marks;
            for (mark, value) in marks {
                payload = payload.replace(mark, value);
            }
            let now = $crate::now_ms();
            let (event,): (i64,) = sqlx::query_as(
                "INSERT INTO webhook_events (uid, repo_id, domain, state, payload, created_ms) \
                 VALUES ($1, $2, $3, 'sent', $4, $5) RETURNING id",
            )
            .bind(&ev.uid)
            .bind(repo_id)
            .bind(&ev.domain)
            .bind(&payload)
            .bind(now)
            .fetch_one(&mut *$tx)
            .await?;
            fan_out!(
                $tx,
                event,
                now,
                &ev.domain,
                &ev.namespace,
                &ev.repo_type,
                &ev.full_id
            );
        }
    };
}

/// Makes event `$event`'s deliveries in transaction `$tx`: one per enabled webhook that
/// watches its repo or namespace for its domain.
macro_rules! fan_out {
    ($tx:expr, $event:expr, $now:expr, $domain:expr, $namespace:expr, $repo_type:expr, $full_id:expr) => {
        sqlx::query($crate::webhooks::FAN_OUT)
            .bind($event)
            .bind($now)
            .bind(format!("%,{},%", $domain))
            .bind($namespace.to_lowercase())
            .bind($repo_type)
            .bind($full_id.to_lowercase())
            .execute(&mut *$tx)
            .await?;
    };
}

mod access;
mod claims;
mod coherence;
pub mod collections;
pub mod discussions;
pub mod gated;
mod lfs;
pub mod likes;
mod listing;
pub mod mirrors;
mod profile;
mod quota;
mod store;
pub mod webhooks;

pub use access::{access, access_to, needs_org_role, owns, Principal};
pub use claims::{now_ms, Doom, CLAIM_WAIT};
pub use coherence::{Lease, Member, LEASE};
pub use lfs::{Lock, LockQuery};
pub use listing::{ListQuery, ListSort, RepoSummary};
pub use profile::{Profile, MAX_FULLNAME};
pub use store::{
    Accounts, Database, DbOptions, RepoLock, CHANNEL, MEMBERS_CHANGED, REPOS_CHANGED,
    TOKENS_CHANGED,
};

use hub_types::{Name, RepoRef, RepoType, Role};

/// A new public id: 24 random hex digits (a collection's or an event's, as the Hub's look).
pub(crate) fn new_public_id() -> String {
    use rand::RngCore;
    let mut id = [0u8; 12];
    rand::rng().fill_bytes(&mut id);
    hex::encode(id)
}

/// Now, as the database's defaults write times (ISO-8601 UTC with milliseconds).
pub(crate) fn now_iso() -> String {
    const FORMAT: &[time::format_description::FormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(FORMAT)
        .unwrap_or_default()
}

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
    #[error("a full name has at most 100 characters and no control characters, not {0:?}")]
    BadFullname(String),
    /// The garbage collector is deleting this content (unused for longer than its grace
    /// period) and has not finished: upload it again in a moment.
    #[error("{0} is being garbage-collected; try again in a minute")]
    Collecting(String),
}

impl AccountsError {
    /// Whether the database could not be reached or gave no connection in time: the request
    /// may succeed later (503), nothing about it is wrong (500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            AccountsError::Database(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                        | sqlx::Error::Protocol(_)
                ) || matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| {
                    // PostgreSQL's classes 08 (connection exception) and 57P (operator
                    // intervention: shutting down, cannot connect now), and a lock not had
                    // in time (55P03: someone else holds the repo).
                    c.starts_with("08") || c.starts_with("57P") || c == "55P03"
                }))
            }
            AccountsError::Collecting(_) => true,
            _ => false,
        }
    }
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
