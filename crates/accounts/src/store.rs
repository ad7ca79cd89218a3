//! The store behind [`Accounts`]: SQLite or PostgreSQL. The crate's queries are in this file,
//! `lfs.rs` and `listing.rs`, written once in the SQL both speak (`$1` parameters,
//! `ON CONFLICT`, `RETURNING`) and run on whichever pool the database is; `coherence.rs`
//! holds the few that only PostgreSQL runs (nodes' leases and announcements).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use hub_types::{Name, RepoRef, RepoType, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

use crate::coherence::Announce;
use crate::{access, AccountsError, Org, Principal, Repo, Token, User};

/// Tokens start with this prefix so secret scanners and people can tell them apart.
const TOKEN_PREFIX: &str = "mh_";

type Result<T> = std::result::Result<T, AccountsError>;

/// Which database holds the accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (the embedded default: `modelhub.db` in the data dir).
    Sqlite(PathBuf),
    /// A PostgreSQL server, by its `postgres://` URL.
    Postgres(String),
}

impl Database {
    /// Reads `sqlite:` (the file `default_sqlite`), `sqlite:PATH`, or a `postgres://` or
    /// `postgresql://` URL.
    pub fn parse(spec: &str, default_sqlite: &Path) -> std::result::Result<Self, String> {
        if let Some(path) = spec.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            return Ok(Database::Sqlite(if path.is_empty() {
                default_sqlite.to_owned()
            } else {
                PathBuf::from(path)
            }));
        }
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            PgConnectOptions::from_str(spec).map_err(|e| format!("{}: {e}", redact(spec)))?;
            return Ok(Database::Postgres(spec.to_owned()));
        }
        Err(format!(
            "{:?} is neither sqlite:[PATH] nor a postgres:// URL",
            redact(spec)
        ))
    }

    /// The database for a log line or an error: a PostgreSQL URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(p) => format!("sqlite:{}", p.display()),
            Database::Postgres(url) => redact(url),
        }
    }
}

/// `url` with any password replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The credentials end at the last `@` before the query, whatever they hold (a password
    // with an unescaped `/` is not a valid URL, and must not be shown either).
    let query = rest.find('?').unwrap_or(rest.len());
    let (auth, host) = match rest[..query].rfind('@') {
        Some(at) => (&rest[..at], rest[at + 1..].to_owned()),
        None => ("", rest.to_owned()),
    };
    let mut out = format!("{scheme}://");
    if !auth.is_empty() {
        match auth.split_once(':') {
            Some((user, _)) => out.push_str(&format!("{user}:***@")),
            None => out.push_str(&format!("{auth}@")),
        }
    }
    // Query parameters may carry a password too.
    match host.split_once('?') {
        Some((h, q)) => {
            let q: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            out.push_str(&format!("{h}?{}", q.join("&")));
        }
        None => out.push_str(&host),
    }
    out
}

/// How a process uses its database: how many connections it may hold, how long a request
/// waits for one before it fails (503), and how long one statement may run.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Inserts a user or organisation through `$exec` (a pool or a transaction) and gives its id.
macro_rules! insert_account {
    ($exec:expr, $name:expr, $kind:expr, $is_admin:expr) => {{
        let name: &Name = $name;
        let row: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO accounts (name, kind, is_admin) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(name.as_str())
        .bind($kind)
        .bind($is_admin)
        .fetch_optional($exec)
        .await?;
        row.map(|r| r.0)
            .ok_or_else(|| AccountsError::NameTaken(name.to_string()))
    }};
}

/// The channel of cache events.
pub const CHANNEL: &str = "modelhub_caches";

/// The event announced whenever a repo is created, deleted, moved or made private or public
/// (by the accounts methods themselves, so the admin commands announce it too; see
/// [`crate::coherence`]).
pub const REPOS_CHANGED: &str = "repos";
/// The event announced whenever a token is revoked.
pub const TOKENS_CHANGED: &str = "tokens";
/// The event announced whenever a member of an organisation is added or changes role.
pub const MEMBERS_CHANGED: &str = "members";

/// The pool of either backend.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The accounts database. Cheap to clone: it is a connection pool.
#[derive(Clone, Debug)]
pub struct Accounts {
    pub(crate) pool: Pool,
    /// PostgreSQL: how to open the connections that hold repo locks, and how many may be
    /// open at once (see [`Accounts::lock_repo`]).
    lockers: Option<(PgConnectOptions, Arc<tokio::sync::Semaphore>)>,
    /// This process's lock of each repo whose refs it is changing, taken before the
    /// database's: a process holds or waits for at most one database connection per repo,
    /// however many requests queue for that repo.
    local: Arc<std::sync::Mutex<HashMap<i64, Weak<tokio::sync::Mutex<()>>>>>,
    /// A webhook event the next change made through this handle writes in its own
    /// transaction (see [`Accounts::telling`]).
    pub(crate) outbox: Option<Arc<crate::webhooks::Outgoing>>,
}

/// Held while a repo's refs are being changed through the API; see [`Accounts::lock_repo`].
pub struct RepoLock {
    // Dropped in this order: the database's lock, then this process's.
    _held: Option<(sqlx::PgConnection, tokio::sync::OwnedSemaphorePermit)>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

/// Advisory lock keys of repos: this prefix in the top 16 bits ("mh"), the repo id below,
/// so other users of the database's advisory locks are not collided with by accident.
const REPO_LOCK_CLASS: i64 = 0x6d68 << 48;

impl Accounts {
    /// Whether the database answers a query (for readiness checks).
    pub async fn ping(&self) -> Result<()> {
        on_pool!(&self.pool, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Connections the pool holds open, and how many of them are idle.
    pub fn pool_use(&self) -> (u32, usize) {
        on_pool!(&self.pool, p => (p.size(), p.num_idle()))
    }

    /// Tells every process on this database that what it caches about `event` is stale
    /// (PostgreSQL's `NOTIFY` on [`CHANNEL`]), without waiting for them to hear it: for
    /// what is not authorization (changes of authorization are announced and settled, see
    /// [`crate::coherence`]). On SQLite it does nothing: one server owns the file.
    pub async fn publish(&self, event: &str) -> Result<()> {
        if let Pool::Postgres(p) = &self.pool {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(event)
                .execute(p)
                .await?;
        }
        Ok(())
    }

    /// Whether several processes may share this database (PostgreSQL): what one caches,
    /// another may change.
    pub fn is_shared(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// The setting `name`, stored as `proposed` if no process stored it first: every
    /// process of the database gets the same value, whoever was first.
    pub async fn agreed_setting(&self, name: &str, proposed: &str) -> Result<String> {
        let (value,): (String,) = on_pool!(&self.pool, p => {
            sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(name)
                .bind(proposed)
                .execute(p)
                .await?;
            sqlx::query_as("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_one(p)
                .await?
        });
        Ok(value)
    }

    /// Whether this process is the one to run periodic job `name` now: true for exactly one
    /// of the processes on this database that ask while it is due, which then makes it due
    /// again `every` later. `now_ms` is the caller's clock (Unix milliseconds; the nodes'
    /// clocks are taken to agree to within a fraction of `every`). A process that dies
    /// mid-run loses nothing: the job is due again at the next interval, for whoever asks.
    pub async fn claim_run(
        &self,
        name: &str,
        every: Duration,
        now_ms: i64,
        holder: &str,
    ) -> Result<bool> {
        let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX / 2);
        let claimed = on_pool!(&self.pool, p => {
            sqlx::query(
                "INSERT INTO periodic_runs (name, next_run, last_run, holder) \
                 VALUES ($1, 0, 0, '') ON CONFLICT DO NOTHING",
            )
            .bind(name)
            .execute(p)
            .await?;
            // The row's own lock decides between processes asking at once: the loser's
            // update sees the winner's run and matches nothing. A job is due by the
            // interval it was claimed with or by the asker's, whichever comes first (an
            // interval shortened by a restart counts at once).
            sqlx::query(
                "UPDATE periodic_runs SET next_run = $2 + $3, last_run = $2, holder = $4 \
                 WHERE name = $1 AND (next_run <= $2 OR last_run + $3 <= $2)",
            )
            .bind(name)
            .bind(now_ms)
            .bind(every_ms)
            .bind(holder)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(claimed == 1)
    }

    /// Which backend this is: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Opens (creating if needed) the SQLite file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::connect(&Database::Sqlite(path.to_owned()), &DbOptions::default()).await
    }

    /// Connects to the database and brings its schema up to date. A PostgreSQL server that
    /// cannot be reached fails here with the reason its first connection gave.
    pub async fn connect(db: &Database, opts: &DbOptions) -> Result<Self> {
        let pool = match db {
            Database::Sqlite(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    // The CLI and the server share the file: wait for a writer rather than
                    // failing.
                    .busy_timeout(Duration::from_secs(15));
                let pool = SqlitePoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(options)
                    .await?;
                sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
                Pool::Sqlite(pool)
            }
            Database::Postgres(url) => {
                let statement_ms = opts.statement_timeout.as_millis().to_string();
                let options = PgConnectOptions::from_str(url)?
                    .application_name("modelhub")
                    .options([("statement_timeout", statement_ms.as_str())])
                    .log_statements(tracing::log::LevelFilter::Trace);
                // One connection first, so a server that is down or refuses us says why
                // (a pool would only say it timed out).
                tokio::time::timeout(opts.acquire_timeout, options.connect())
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)??
                    .close()
                    .await?;
                let pool = PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_with(options)
                    .await?;
                // Nodes starting together take turns: sqlx holds an advisory lock while it
                // migrates. A node of the previous release may (re)start on a schema a newer
                // node already moved on (an upgrade node by node): migrations only ever add,
                // so the ones it does not know are no reason to refuse.
                let mut migrator = sqlx::migrate!("./migrations/postgres");
                migrator.set_ignore_missing(true);
                migrator.run(&pool).await?;
                Pool::Postgres(pool)
            }
        };
        let lockers = match (db, &pool) {
            (Database::Postgres(url), Pool::Postgres(_)) => Some((
                PgConnectOptions::from_str(url)?.application_name("modelhub repo lock"),
                Arc::new(tokio::sync::Semaphore::new(
                    opts.max_connections.max(1) as usize
                )),
            )),
            _ => None,
        };
        Ok(Accounts {
            pool,
            lockers,
            local: Default::default(),
            outbox: None,
        })
    }

    /// This process's lock of repo `repo_id` (see [`Accounts::lock_repo`]).
    fn local_lock(&self, repo_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lock) = locks.get(&repo_id).and_then(Weak::upgrade) {
            return lock;
        }
        // Entries of repos nobody is changing any more go before the map grows.
        if locks.len() >= 64 {
            locks.retain(|_, l| l.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(repo_id, Arc::downgrade(&lock));
        lock
    }

    /// Waits (up to `wait` for each step) until nobody else changes repo `repo_id`'s refs
    /// through the API, and keeps it so until the guard drops. First this process's own lock
    /// of the repo (requests queued on one repo wait here, holding nothing), then, on
    /// PostgreSQL, the database's advisory lock, held by a connection of its own so a process
    /// that dies lets go with its connection; those connections are capped at the pool size
    /// per process, and each repo takes at most one of them. On SQLite one server owns the
    /// repos and its own lock is enough (git's compare-and-swap on the ref backs both up).
    pub async fn lock_repo(&self, repo_id: i64, wait: Duration) -> Result<RepoLock> {
        let local = tokio::time::timeout(wait, self.local_lock(repo_id).lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        let Some((options, slots)) = &self.lockers else {
            return Ok(RepoLock {
                _held: None,
                _local: local,
            });
        };
        let permit = tokio::time::timeout(wait, slots.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .expect("the semaphore is never closed");
        let mut conn = tokio::time::timeout(wait, options.connect())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        sqlx::query("SELECT set_config('lock_timeout', $1, false)")
            .bind(format!("{}ms", wait.as_millis().max(1)))
            .execute(&mut conn)
            .await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(REPO_LOCK_CLASS | (repo_id & 0xffff_ffff_ffff))
            .execute(&mut conn)
            .await?;
        Ok(RepoLock {
            _held: Some((conn, permit)),
            _local: local,
        })
    }

    /// The tables of the schema and the columns of each, sorted, as the database reports
    /// them (a test checks both backends agree).
    pub async fn schema(&self) -> Result<Vec<(String, Vec<String>)>> {
        let cols: Vec<(String, String)> =
            match &self.pool {
                Pool::Sqlite(p) => {
                    sqlx::query_as(
                        "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                     AND m.name NOT LIKE '_sqlx_%' AND m.name NOT LIKE 'repo_search%'",
                    )
                    .fetch_all(p)
                    .await?
                }
                Pool::Postgres(p) => sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx\\_%'",
                )
                .fetch_all(p)
                .await?,
            };
        let mut tables: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (t, c) in cols {
            tables.entry(t).or_default().push(c);
        }
        Ok(tables
            .into_iter()
            .map(|(t, mut c)| {
                c.sort();
                (t, c)
            })
            .collect())
    }

    pub async fn create_user(&self, name: &Name, is_admin: bool) -> Result<User> {
        let id = on_pool!(&self.pool, p => insert_account!(p, name, "user", is_admin))?;
        Ok(User {
            id,
            name: name.to_string(),
            is_admin,
        })
    }

    /// Creates an organisation with `owner` as its first admin member.
    /// The namespace `name` as it is, or a new organisation without members (where a
    /// pull-through cache keeps what it fetched of another hub's namespace of that name).
    pub async fn ensure_namespace(&self, name: &Name) -> Result<()> {
        if self.namespace_id(name).await.is_ok() {
            return Ok(());
        }
        match on_pool!(&self.pool, p => insert_account!(p, name, "org", false)) {
            Ok(_) | Err(AccountsError::NameTaken(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn create_org(&self, name: &Name, owner: &str) -> Result<Org> {
        let owner = self.user(owner).await?;
        let id = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let id = insert_account!(&mut *tx, name, "org", false)?;
            sqlx::query("INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, 'admin')")
                .bind(id)
                .bind(owner.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            id
        });
        Ok(Org {
            id,
            name: name.to_string(),
        })
    }

    /// Adds `user` to `org` with `role`, or changes the role of a member.
    pub async fn set_member(&self, org: &str, user: &str, role: Role) -> Result<()> {
        let org = self.org(org).await?;
        let user = self.user(user).await?;
        let seq = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO org_members (org_id, user_id, role) VALUES ($1, $2, $3) \
                 ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
            )
            .bind(org.id)
            .bind(user.id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
            let seq = tx.announce(MEMBERS_CHANGED).await?;
            tx.commit().await?;
            seq
        });
        self.settle(seq).await
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
        let (id,): (i64,) = on_pool!(&self.pool, p => sqlx::query_as(
            "INSERT INTO tokens (user_id, label, role, hash) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(user.id)
        .bind(label)
        .bind(role.as_str())
        .bind(token_hash(&secret))
        .fetch_one(p)
        .await)?;
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
        let rows: Vec<(i64, String, String, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id, label, role, created_at FROM tokens WHERE user_id = $1 ORDER BY id",
        )
        .bind(user.id)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(id, label, role, created)| {
                let token = Token {
                    id,
                    user_id: user.id,
                    label,
                    role: parse_role(&role),
                };
                (token, created)
            })
            .collect())
    }

    /// Deletes token `id` of `user`; false if the user has no such token. On PostgreSQL it
    /// returns once no node of the hub accepts the token any more; on SQLite the server's
    /// token cache forgets it within seconds.
    pub async fn revoke_token(&self, user: &str, id: i64) -> Result<bool> {
        let user = self.user(user).await?;
        let (done, seq) = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let done = sqlx::query("DELETE FROM tokens WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let seq = if done == 1 { tx.announce(TOKENS_CHANGED).await? } else { None };
            tx.commit().await?;
            (done, seq)
        });
        self.settle(seq).await?;
        Ok(done == 1)
    }

    /// The user a token secret belongs to, or `None` for an unknown token.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Principal>> {
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        let row: Option<(i64, String, bool, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT a.id, a.name, a.is_admin, t.role FROM tokens t \
             JOIN accounts a ON a.id = t.user_id WHERE t.hash = $1",
        )
        .bind(token_hash(secret))
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|(user_id, name, is_admin, role)| Principal {
            user_id,
            name,
            is_admin,
            token_role: parse_role(&role),
        }))
    }

    pub async fn user(&self, name: &str) -> Result<User> {
        let row: Option<(i64, String, bool)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id, name, is_admin FROM accounts WHERE kind = 'user' AND name = $1",
        )
        .bind(name)
        .fetch_optional(p)
        .await)?;
        row.map(|(id, name, is_admin)| User { id, name, is_admin })
            .ok_or_else(|| AccountsError::NoSuchUser(name.to_owned()))
    }

    pub async fn org(&self, name: &str) -> Result<Org> {
        let row: Option<(i64, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id, name FROM accounts WHERE kind = 'org' AND name = $1",
        )
        .bind(name)
        .fetch_optional(p)
        .await)?;
        row.map(|(id, name)| Org { id, name })
            .ok_or_else(|| AccountsError::NoSuchOrg(name.to_owned()))
    }

    /// The id of the user or organisation named `name`.
    pub(crate) async fn namespace_id(&self, name: &Name) -> Result<i64> {
        let row: Option<(i64,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id FROM accounts WHERE name = $1",
        )
        .bind(name.as_str())
        .fetch_optional(p)
        .await)?;
        row.map(|r| r.0)
            .ok_or_else(|| AccountsError::NoSuchNamespace(name.to_string()))
    }

    /// Registers a repo in its namespace. The caller creates the repo on disk and removes the
    /// registration again with [`Accounts::delete_repo`] if that fails.
    pub async fn create_repo(&self, repo: &RepoRef, private: bool) -> Result<Repo> {
        let ns = self.namespace_id(&repo.id.namespace).await?;
        // With its (not yet described) summary row, so listings see it from the start.
        let inserted = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let inserted: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO repos (repo_type, namespace_id, name, private) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(repo.repo_type.as_str())
            .bind(ns)
            .bind(repo.id.name.as_str())
            .bind(private)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((id,)) = inserted {
                // A repo made under a name another repo had: that name stops redirecting.
                sqlx::query("DELETE FROM repo_redirects WHERE repo_type = $1 AND old_id = $2")
                    .bind(repo.repo_type.as_str())
                    .bind(repo.id.to_string().to_lowercase())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO repo_summaries (repo_id, repo_type, namespace_id, private, \
                     downloads, created_at, full_id) SELECT id, repo_type, namespace_id, \
                     private, downloads, created_at, $2 FROM repos WHERE id = $1",
                )
                .bind(id)
                .bind(repo.id.to_string().to_lowercase())
                .execute(&mut *tx)
                .await?;
            }
            if let Some((id,)) = inserted {
                tell!(self, tx, Some(id), &[]);
            }
            let seq = match inserted {
                Some(_) => tx.announce(REPOS_CHANGED).await?,
                None => None,
            };
            tx.commit().await?;
            (inserted, seq)
        });
        let (inserted, seq) = inserted;
        if inserted.is_none() {
            return Err(AccountsError::RepoExists(
                repo.repo_type,
                repo.id.to_string(),
            ));
        }
        self.settle(seq).await?;
        self.repo(repo)
            .await?
            .ok_or_else(|| AccountsError::NoSuchNamespace(repo.id.namespace.to_string()))
    }

    pub async fn delete_repo(&self, id: i64) -> Result<()> {
        let seq = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM repos WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tell!(self, tx, Some(id), &[]);
            let seq = tx.announce(REPOS_CHANGED).await?;
            tx.commit().await?;
            seq
        });
        self.settle(seq).await
    }

    /// Finds a repo by type and id; names match whatever their case.
    pub async fn repo(&self, repo: &RepoRef) -> Result<Option<Repo>> {
        let row: Option<RepoRow> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT r.id, r.repo_type, a.name, r.name, r.private, r.created_at, r.downloads \
             FROM repos r JOIN accounts a ON a.id = r.namespace_id \
             WHERE r.repo_type = $1 AND a.name = $2 AND r.name = $3",
        )
        .bind(repo.repo_type.as_str())
        .bind(repo.id.namespace.as_str())
        .bind(repo.id.name.as_str())
        .fetch_optional(p)
        .await)?;
        row.map(repo_from_row).transpose()
    }

    /// The repo with this id, if it exists.
    pub async fn repo_by_id(&self, id: i64) -> Result<Option<Repo>> {
        let row: Option<RepoRow> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT r.id, r.repo_type, a.name, r.name, r.private, r.created_at, r.downloads \
             FROM repos r JOIN accounts a ON a.id = r.namespace_id WHERE r.id = $1",
        )
        .bind(id)
        .fetch_optional(p)
        .await)?;
        row.map(repo_from_row).transpose()
    }

    /// When the repo with this id was created, if it exists. Ids of deleted repos can be
    /// given again; together with the creation time an id names one repo for good.
    pub async fn repo_created_at(&self, id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT created_at FROM repos WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|r| r.0))
    }

    /// Every repo of a type, for listings (the caller filters by access).
    pub async fn list_repos(&self, repo_type: RepoType) -> Result<Vec<Repo>> {
        let rows: Vec<RepoRow> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT r.id, r.repo_type, a.name, r.name, r.private, r.created_at, r.downloads \
             FROM repos r JOIN accounts a ON a.id = r.namespace_id WHERE r.repo_type = $1 \
             ORDER BY a.name, r.name",
        )
        .bind(repo_type.as_str())
        .fetch_all(p)
        .await)?;
        rows.into_iter().map(repo_from_row).collect()
    }

    pub async fn set_private(&self, id: i64, private: bool) -> Result<()> {
        // The listing's copy changes with it.
        let seq = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            for table in ["UPDATE repos SET private = $1 WHERE id = $2",
                          "UPDATE repo_summaries SET private = $1 WHERE repo_id = $2"] {
                sqlx::query(table).bind(private).bind(id).execute(&mut *tx).await?;
            }
            tell!(self, tx, Some(id), &[]);
            let seq = tx.announce(REPOS_CHANGED).await?;
            tx.commit().await?;
            seq
        });
        self.settle(seq).await
    }

    /// Renames a repo (possibly into another namespace).
    pub async fn move_repo(&self, id: i64, to: &RepoRef) -> Result<Repo> {
        let ns = self.namespace_id(&to.id.namespace).await?;
        let updated: Result<Option<i64>> = on_pool!(&self.pool, p => async {
            let mut tx = p.begin().await?;
            // The old name redirects here until a repo takes it; the new name stops
            // redirecting anywhere.
            let old: Option<(String, String, String)> = sqlx::query_as(
                "SELECT r.repo_type, a.name, r.name FROM repos r \
                 JOIN accounts a ON a.id = r.namespace_id WHERE r.id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((kind, old_ns, old_name)) = old {
                sqlx::query(
                    "INSERT INTO repo_redirects (repo_type, old_id, repo_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (repo_type, old_id) DO UPDATE SET repo_id = excluded.repo_id",
                )
                .bind(&kind)
                .bind(format!("{old_ns}/{old_name}").to_lowercase())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM repo_redirects WHERE repo_type = $1 AND old_id = $2")
                .bind(to.repo_type.as_str())
                .bind(to.id.to_string().to_lowercase())
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE repos SET namespace_id = $1, name = $2 WHERE id = $3")
                .bind(ns)
                .bind(to.id.name.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE repo_summaries SET full_id = $1, namespace_id = $2 WHERE repo_id = $3",
            )
                .bind(to.id.to_string().to_lowercase())
                .bind(ns)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tell!(self, tx, Some(id), &[]);
            let seq = tx.announce(REPOS_CHANGED).await?;
            tx.commit().await?;
            Ok(seq)
        }
        .await);
        let seq = match updated {
            Err(AccountsError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                return Err(AccountsError::RepoExists(to.repo_type, to.id.to_string()))
            }
            other => other?,
        };
        self.settle(seq).await?;
        self.repo(to)
            .await?
            .ok_or_else(|| AccountsError::NoSuchNamespace(to.id.namespace.to_string()))
    }

    /// The repo that had the name `target` before it moved, if no repo has it now.
    pub async fn redirect(&self, target: &RepoRef) -> Result<Option<Repo>> {
        let row: Option<(i64,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT repo_id FROM repo_redirects WHERE repo_type = $1 AND old_id = $2",
        )
        .bind(target.repo_type.as_str())
        .bind(target.id.to_string().to_lowercase())
        .fetch_optional(p)
        .await)?;
        match row {
            Some((id,)) => self.repo_by_id(id).await,
            None => Ok(None),
        }
    }

    pub async fn add_downloads(&self, id: i64, n: i64) -> Result<()> {
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            for statement in [
                "UPDATE repos SET downloads = downloads + $1 WHERE id = $2",
                "UPDATE repo_summaries SET downloads = downloads + $1 WHERE repo_id = $2",
            ] {
                sqlx::query(statement).bind(n).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?
        });
        Ok(())
    }

    /// What `who` may do with `repo` (see [`access`]); `None` means they may not see it.
    pub async fn access(&self, who: Option<&Principal>, repo: &Repo) -> Result<Option<Role>> {
        let org_role = match who {
            Some(p) if access::needs_org_role(p, repo) => {
                self.org_role(p.user_id, repo.namespace.as_str()).await?
            }
            _ => None,
        };
        Ok(access(who, org_role, repo))
    }

    /// Whether `who` administers `repo` whatever their token: a site admin, the user who owns
    /// the namespace, or an admin of the owning organisation.
    pub async fn owns(&self, who: &Principal, repo: &Repo) -> Result<bool> {
        let org_role = match access::needs_org_role(who, repo) {
            true => self.org_role(who.user_id, repo.namespace.as_str()).await?,
            false => None,
        };
        Ok(access::owns(who, org_role, repo))
    }

    /// The organisations a user belongs to, with their role in each.
    pub async fn orgs_of(&self, user_id: i64) -> Result<Vec<(String, Role)>> {
        let rows: Vec<(String, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT o.name, m.role FROM org_members m JOIN accounts o ON o.id = m.org_id \
             WHERE m.user_id = $1 ORDER BY o.name",
        )
        .bind(user_id)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(org, role)| (org, parse_role(&role)))
            .collect())
    }

    /// `user_id`'s role in organisation `org`, if they are a member.
    pub async fn org_role(&self, user_id: i64, org: &str) -> Result<Option<Role>> {
        let row: Option<(String,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT m.role FROM org_members m JOIN accounts o ON o.id = m.org_id \
             WHERE o.name = $1 AND m.user_id = $2",
        )
        .bind(org)
        .bind(user_id)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|r| parse_role(&r.0)))
    }
}

/// A repo as selected: id, type, namespace, name, private, created at, downloads.
pub(crate) type RepoRow = (i64, String, String, String, bool, String, i64);

pub(crate) fn repo_from_row(r: RepoRow) -> Result<Repo> {
    // Rows were validated on the way in; a failure here means the data was edited by hand.
    let corrupt = |what: String| AccountsError::Database(sqlx::Error::Decode(what.into()));
    Ok(Repo {
        id: r.0,
        repo_type: RepoType::from_str(&r.1).map_err(|e| corrupt(e.to_string()))?,
        namespace: Name::parse(&r.2).map_err(|e| corrupt(e.to_string()))?,
        name: Name::parse(&r.3).map_err(|e| corrupt(e.to_string()))?,
        private: r.4,
        created_at: r.5,
        downloads: r.6,
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
pub(crate) mod tests {
    use super::*;
    use hub_types::RepoId;

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    /// One PostgreSQL server for the crate's tests; each test has its own database.
    pub(crate) fn postgres() -> &'static pg_testkit::Postgres {
        static PG: std::sync::OnceLock<pg_testkit::Postgres> = std::sync::OnceLock::new();
        PG.get_or_init(pg_testkit::Postgres::start)
    }

    /// A fresh database on each backend (the temp dir holds the SQLite file).
    pub(crate) async fn both() -> (tempfile::TempDir, Vec<Accounts>) {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Accounts::open(&dir.path().join("a.db")).await.unwrap();
        let db = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let url = postgres().create_database(&db);
        let pg = Accounts::connect(&Database::Postgres(url), &DbOptions::default())
            .await
            .unwrap();
        (dir, vec![sqlite, pg])
    }

    #[tokio::test]
    async fn both_backends_hold_the_same_tables_and_columns() {
        let (_dir, dbs) = both().await;
        let sqlite = dbs[0].schema().await.unwrap();
        let pg = dbs[1].schema().await.unwrap();
        assert!(sqlite.len() >= 8, "{sqlite:?}");
        assert_eq!(sqlite, pg);
        // And their migrations are in step: the same versions and names.
        let names = |dir: &str| {
            let mut v: Vec<String> =
                std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
            v.sort();
            v
        };
        assert_eq!(names("migrations/sqlite"), names("migrations/postgres"));
    }

    #[tokio::test]
    async fn a_node_of_the_previous_release_starts_on_a_newer_schema() {
        let url = postgres().create_database(&format!("upgrade_{}", std::process::id()));
        let db = Database::Postgres(url);
        let first = Accounts::connect(&db, &DbOptions::default()).await.unwrap();
        // A newer node applied a migration this build does not have.
        if let Pool::Postgres(p) = &first.pool {
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                 execution_time) VALUES (99990101, 'from a newer release', true, '\\x00', 1)",
            )
            .execute(p)
            .await
            .unwrap();
        }
        let again = Accounts::connect(&db, &DbOptions::default()).await;
        assert!(again.is_ok(), "{:?}", again.err());
    }

    #[tokio::test]
    async fn a_periodic_job_is_claimed_by_one_process_per_interval() {
        let (dir, dbs) = both().await;
        let others = [
            Accounts::open(&dir.path().join("a.db")).await.unwrap(),
            Accounts::connect(
                &Database::Postgres(match &dbs[1].pool {
                    Pool::Postgres(p) => {
                        let o = p.connect_options();
                        format!(
                            "postgres://{}@{}:{}/{}",
                            o.get_username(),
                            o.get_host(),
                            o.get_port(),
                            o.get_database().unwrap()
                        )
                    }
                    Pool::Sqlite(_) => unreachable!(),
                }),
                &DbOptions::default(),
            )
            .await
            .unwrap(),
        ];
        let hour = Duration::from_secs(3600);
        for (db, other) in dbs.iter().zip(&others) {
            // Ten processes' worth of claims at once, from two pools: one wins.
            let mut claims = tokio::task::JoinSet::new();
            for i in 0..10 {
                let db = if i % 2 == 0 {
                    db.clone()
                } else {
                    other.clone()
                };
                claims.spawn(async move {
                    db.claim_run("sweep", hour, 1_000_000, &format!("node {i}"))
                        .await
                        .unwrap()
                });
            }
            let won = claims.join_all().await.into_iter().filter(|&w| w).count();
            assert_eq!(won, 1, "{}", db.backend());
            // Not again before the interval is over; once, when it is.
            assert!(!other
                .claim_run("sweep", hour, 1_000_000 + 3_599_999, "x")
                .await
                .unwrap());
            assert!(other
                .claim_run("sweep", hour, 1_000_000 + 3_600_000, "x")
                .await
                .unwrap());
            assert!(!db
                .claim_run("sweep", hour, 1_000_000 + 3_600_000, "y")
                .await
                .unwrap());
            // Jobs are apart.
            assert!(db.claim_run("gc", hour, 1_000_000, "y").await.unwrap());
        }
    }

    #[test]
    fn database_specs_and_descriptions_keep_passwords_out() {
        let default = Path::new("/data/modelhub.db");
        assert_eq!(
            Database::parse("sqlite:", default).unwrap(),
            Database::Sqlite(default.to_owned())
        );
        assert_eq!(
            Database::parse("sqlite:/x/y.db", default).unwrap(),
            Database::Sqlite("/x/y.db".into())
        );
        let pg = Database::parse(
            "postgres://hub:s3cret@db.example:5433/hub?sslmode=prefer",
            default,
        )
        .unwrap();
        assert_eq!(
            pg.describe(),
            "postgres://hub:***@db.example:5433/hub?sslmode=prefer"
        );
        assert_eq!(
            redact("postgresql://db/hub?user=x&password=s3cret"),
            "postgresql://db/hub?user=x&password=***"
        );
        assert_eq!(redact("postgres://hub@db/hub"), "postgres://hub@db/hub");
        assert_eq!(
            redact("postgres://hub:a/b@c@db/hub"),
            "postgres://hub:***@db/hub"
        );
        let err = Database::parse("postgres://hub:a/b@db:x/hub", default).unwrap_err();
        assert!(!err.contains("a/b"), "{err}");
        let err = Database::parse("mysql://root:pw@db/x", default).unwrap_err();
        assert!(!err.contains("pw@"), "{err}");
    }

    #[tokio::test]
    async fn users_orgs_tokens_and_repos() {
        let (_dir, dbs) = both().await;
        for db in dbs {
            users_orgs_tokens_and_repos_on(db).await;
        }
    }

    async fn users_orgs_tokens_and_repos_on(db: Accounts) {
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
