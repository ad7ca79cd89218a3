//! What the nodes of one hub share: which database holds the accounts and how a process uses
//! it (`--database` and the pool settings), and where the bare repos are (`--repos-dir`).
//! Read by the server, the admin commands and (through the environment) the pre-receive
//! hook.

use std::path::Path;
use std::time::Duration;

use accounts::{Accounts, Database, DbOptions};
use anyhow::{Context, Result};

#[derive(clap::Args, Clone, Debug)]
pub struct SharedArgs {
    /// Where the bare git repos are (default: `repos` in the data dir). Nodes of one hub
    /// point this at one shared filesystem (NFS, CephFS) and keep their data dirs apart.
    #[arg(long, global = true, env = "MODELHUB_REPOS_DIR")]
    pub repos_dir: Option<std::path::PathBuf>,
    /// The metadata database: `sqlite:` (modelhub.db in the data dir, the default),
    /// `sqlite:PATH`, or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` for several nodes that
    /// share one database.
    #[arg(
        long,
        global = true,
        env = "MODELHUB_DATABASE",
        default_value = "sqlite:"
    )]
    pub database: String,
    /// Database connections a process may hold open.
    #[arg(
        long,
        global = true,
        env = "MODELHUB_DB_MAX_CONNECTIONS",
        default_value_t = 16
    )]
    pub db_max_connections: u32,
    /// Seconds a request waits for a database connection before it is answered 503.
    #[arg(long, global = true, env = "MODELHUB_DB_TIMEOUT", default_value_t = 5)]
    pub db_timeout: u64,
    /// Seconds one statement may run on PostgreSQL before the server cancels it.
    #[arg(
        long,
        global = true,
        env = "MODELHUB_DB_STATEMENT_TIMEOUT",
        default_value_t = 30
    )]
    pub db_statement_timeout: u64,
}

impl SharedArgs {
    /// The settings the server hands its hooks (which read them with [`SharedArgs::from_env`]):
    /// the same database, a pool of a few connections.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            ("MODELHUB_DATABASE".into(), self.database.clone()),
            ("MODELHUB_DB_MAX_CONNECTIONS".into(), "2".into()),
            ("MODELHUB_DB_TIMEOUT".into(), self.db_timeout.to_string()),
            (
                "MODELHUB_DB_STATEMENT_TIMEOUT".into(),
                self.db_statement_timeout.to_string(),
            ),
        ];
        if let Some(dir) = &self.repos_dir {
            vars.push(("MODELHUB_REPOS_DIR".into(), dir.display().to_string()));
        }
        vars
    }

    /// The folder of the bare repos, for the data dir `data_dir`.
    pub fn repos(&self, data_dir: &Path) -> std::path::PathBuf {
        self.repos_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("repos"))
    }

    /// The settings from the environment, as [`SharedArgs::env`] wrote them (defaults where a
    /// variable is missing or unreadable).
    pub fn from_env() -> SharedArgs {
        let var = |k: &str| std::env::var(k).ok();
        let num = |k: &str, d: u64| var(k).and_then(|v| v.parse().ok()).unwrap_or(d);
        SharedArgs {
            repos_dir: var("MODELHUB_REPOS_DIR").map(Into::into),
            database: var("MODELHUB_DATABASE").unwrap_or_else(|| "sqlite:".into()),
            db_max_connections: num("MODELHUB_DB_MAX_CONNECTIONS", 2) as u32,
            db_timeout: num("MODELHUB_DB_TIMEOUT", 5),
            db_statement_timeout: num("MODELHUB_DB_STATEMENT_TIMEOUT", 30),
        }
    }

    pub fn database(&self, data_dir: &Path) -> Result<Database> {
        Database::parse(&self.database, &data_dir.join("modelhub.db"))
            .map_err(|e| anyhow::anyhow!("--database: {e}"))
    }

    pub fn options(&self) -> DbOptions {
        DbOptions {
            max_connections: self.db_max_connections.max(1),
            acquire_timeout: Duration::from_secs(self.db_timeout.max(1)),
            statement_timeout: Duration::from_secs(self.db_statement_timeout.max(1)),
        }
    }

    /// Connects and brings the schema up to date; the error names the database (never its
    /// password) and says why.
    pub async fn open(&self, data_dir: &Path) -> Result<Accounts> {
        let db = self.database(data_dir)?;
        Accounts::connect(&db, &self.options())
            .await
            .with_context(|| format!("cannot open the database {}", db.describe()))
    }
}
