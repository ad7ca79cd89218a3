//! Caches of who may do what that several nodes can trust: a change of authorization (a repo
//! made private, deleted, moved or created, a token revoked, a member's role changed) returns
//! only once every live node has dropped what it cached about it.
//!
//! On PostgreSQL each serving node is a [`Member`]: it listens on [`CHANNEL`] and holds a
//! lease in `cache_nodes`, renewed every [`RENEW_EVERY`] on its listening connection, with
//! the number of the last change it applied (`acked`). A transaction that changes
//! authorization [announces](Announce) it: it takes the next number from `cache_events` (the
//! row's lock orders such transactions, so nodes hear them in number order) and notifies
//! `#N event`, both committed with the change itself. The writer then
//! [settles](Accounts::settle): it waits until no node with a live lease has `acked < N`.
//!
//! A node that cannot renew (its connection lost, its process stopped or starved) does not
//! wait to be told: its caches are trusted only while its own [`Lease`] runs, which ends
//! before the lease the database holds for it (the local one is counted from before the
//! renewal was sent, minus a margin). A writer that finds a node's lease run out stops waiting
//! for it, and that node drops everything it cached before it trusts its caches again. So
//! once the writer returns, no node answers from what it cached before the change; a node
//! that died costs writers at most one lease ([`LEASE`]) until its row runs out.
//!
//! On SQLite one server owns the file: nothing is announced, and the server's caches are
//! always trusted (changes made by the admin CLI show within the caches' TTL).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;
use sqlx::postgres::PgListener;

use crate::store::{Pool, CHANNEL};
use crate::{Accounts, AccountsError};

type Result<T> = std::result::Result<T, AccountsError>;

/// How long the database counts a node's lease from its last renewal.
pub const LEASE: Duration = Duration::from_secs(3);
/// How often a node renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_millis(500);
/// How much sooner than the database a node stops trusting its own lease (for clocks that
/// run at slightly different rates).
const MARGIN: Duration = Duration::from_millis(500);
/// The longest a renewal may take before the connection is given up.
const RENEW_TIMEOUT: Duration = Duration::from_secs(2);
/// Rows of nodes whose lease ran out this long ago are removed by the next node to join.
const FORGET_AFTER_MS: i64 = 3_600_000;
/// The database's clock in Unix milliseconds (the one every lease is measured by).
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Whether this process may answer from its caches of who may do what.
#[derive(Debug)]
pub struct Lease {
    origin: Instant,
    /// Milliseconds after `origin` until which the caches are trusted; 0: not trusted.
    until: AtomicU64,
}

impl Lease {
    /// A lease that never runs out: one server owns the database (SQLite).
    pub fn always() -> Arc<Lease> {
        let lease = Lease::none();
        lease.until.store(u64::MAX, Ordering::SeqCst);
        lease
    }

    /// A lease not yet held: nothing cached is trusted until a [`Member`] renews it.
    pub fn none() -> Arc<Lease> {
        Arc::new(Lease {
            origin: Instant::now(),
            until: AtomicU64::new(0),
        })
    }

    /// Whether cached authorization may be used (and stored) now.
    pub fn valid(&self) -> bool {
        self.millis(Instant::now()) < self.until.load(Ordering::SeqCst)
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    /// Trusted until `LEASE - MARGIN` after `sent`, the moment the renewal was sent.
    fn extend(&self, sent: Instant) {
        let until = self.millis(sent + LEASE - MARGIN);
        self.until.fetch_max(until, Ordering::SeqCst);
    }

    fn end(&self) {
        self.until.store(0, Ordering::SeqCst);
    }
}

/// A transaction that changes who may do what, telling the nodes as it commits.
pub(crate) trait Announce {
    /// Announces `event` (a [`CHANNEL`] event) with this transaction: on PostgreSQL the
    /// change's number, to [settle](Accounts::settle) once committed; `None` on SQLite.
    async fn announce(&mut self, event: &str) -> Result<Option<i64>>;
}

impl Announce for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn announce(&mut self, _event: &str) -> Result<Option<i64>> {
        Ok(None)
    }
}

impl Announce for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn announce(&mut self, event: &str) -> Result<Option<i64>> {
        // The row stays locked until this transaction ends: announcements commit, and are
        // heard, in the order of their numbers.
        let (seq,): (i64,) = sqlx::query_as("UPDATE cache_events SET seq = seq + 1 RETURNING seq")
            .fetch_one(&mut **self)
            .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("#{seq} {event}"))
            .execute(&mut **self)
            .await?;
        Ok(Some(seq))
    }
}

/// An event as heard: `#N event` for an announced change (to acknowledge), else the event.
fn parse(payload: &str) -> (Option<i64>, &str) {
    payload
        .strip_prefix('#')
        .and_then(|rest| rest.split_once(' '))
        .and_then(|(n, event)| Some((Some(n.parse().ok()?), event)))
        .unwrap_or((None, payload))
}

impl Accounts {
    /// Waits until every node with a live lease has applied announced change `seq` (or until
    /// its lease ran out, after which it trusts nothing it cached before). `None` (SQLite):
    /// nothing to wait for.
    pub(crate) async fn settle(&self, seq: Option<i64>) -> Result<()> {
        let (Some(seq), Pool::Postgres(p)) = (seq, &self.pool) else {
            return Ok(());
        };
        let give_up = Instant::now() + LEASE + Duration::from_secs(1);
        let mut pause = Duration::from_millis(1);
        loop {
            let (waiting,): (i64,) = sqlx::query_as(&format!(
                "SELECT count(*) FROM cache_nodes WHERE acked < $1 AND lease_until > {NOW_MS}"
            ))
            .bind(seq)
            .fetch_one(p)
            .await?;
            if waiting == 0 {
                return Ok(());
            }
            if Instant::now() >= give_up {
                // Only a node renewing its lease without hearing the channel could do this:
                // the change is made; say so, loudly.
                tracing::error!(
                    seq,
                    waiting,
                    "nodes renew their leases but have not applied a change of authorization"
                );
                return Ok(());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Joins the nodes whose caches writers wait for (PostgreSQL; `None` on SQLite). The
    /// member keeps `lease` while it [runs](Member::run).
    pub async fn join(&self, lease: Arc<Lease>) -> Result<Option<Member>> {
        let Pool::Postgres(p) = &self.pool else {
            return Ok(None);
        };
        lease.end();
        let mut listener = PgListener::connect_with(p).await?;
        listener.listen(CHANNEL).await?;
        sqlx::query(&format!(
            "DELETE FROM cache_nodes WHERE lease_until < {NOW_MS} - $1"
        ))
        .bind(FORGET_AFTER_MS)
        .execute(&mut listener)
        .await?;
        // Listening already: every change after this number will be heard. Nothing is
        // cached yet (the first renewal drops everything before the lease holds).
        let (acked,): (i64,) = sqlx::query_as("SELECT seq FROM cache_events")
            .fetch_one(&mut listener)
            .await?;
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        Ok(Some(Member {
            listener,
            node: format!("{}-{}", std::process::id(), hex::encode(id)),
            lease,
            acked,
        }))
    }
}

/// A node whose caches writers wait for; see the module's text.
pub struct Member {
    listener: PgListener,
    node: String,
    lease: Arc<Lease>,
    /// The last announced change applied.
    acked: i64,
}

impl Member {
    /// Hears the channel and keeps the lease until the connection fails (then the lease has
    /// ended, and the caller drops everything and joins again). `apply(Some(event))` for
    /// each event, `apply(None)` when everything cached must go (events may have been
    /// missed); an announced change is acknowledged once `apply` returned.
    pub async fn run(&mut self, mut apply: impl FnMut(Option<&str>)) -> Result<()> {
        let result = self.serve(&mut apply).await;
        self.lease.end();
        result
    }

    async fn serve(&mut self, apply: &mut impl FnMut(Option<&str>)) -> Result<()> {
        self.renew(apply).await?;
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Both branches are cancel-safe: try_recv keeps a partly read message.
            tokio::select! {
                heard = self.listener.try_recv() => match heard? {
                    Some(n) => {
                        let (seq, event) = parse(n.payload());
                        apply(Some(event));
                        if let Some(seq) = seq {
                            self.acked = self.acked.max(seq);
                            self.renew(apply).await?;
                        }
                    }
                    // The connection was lost and made again (listening anew).
                    None => {
                        self.lease.end();
                        self.renew(apply).await?;
                    }
                },
                _ = tick.tick() => self.renew(apply).await?,
            }
        }
    }

    /// Renews the lease and acknowledges what was applied. If the lease ran out meanwhile,
    /// writers may have stopped waiting for this node: everything cached goes first.
    async fn renew(&mut self, apply: &mut impl FnMut(Option<&str>)) -> Result<()> {
        let sent = Instant::now();
        let sql = format!(
            "INSERT INTO cache_nodes (node, acked, lease_until) VALUES ($1, $2, {NOW_MS} + $3) \
             ON CONFLICT (node) DO UPDATE SET acked = excluded.acked, \
             lease_until = excluded.lease_until"
        );
        let upsert = sqlx::query(&sql)
            .bind(&self.node)
            .bind(self.acked)
            .bind(LEASE.as_millis() as i64)
            .execute(&mut self.listener);
        match tokio::time::timeout(RENEW_TIMEOUT, upsert).await {
            Ok(done) => done?,
            Err(_) => return Err(AccountsError::Database(sqlx::Error::PoolTimedOut)),
        };
        if !self.lease.valid() {
            apply(None);
        }
        self.lease.extend(sent);
        Ok(())
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.lease.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::postgres;
    use crate::{Database, DbOptions};
    use hub_types::{Name, RepoId, RepoRef, RepoType, Role};
    use std::sync::Mutex;

    #[test]
    fn payloads() {
        assert_eq!(parse("#12 repos"), (Some(12), "repos"));
        assert_eq!(parse("revisions 3 2026"), (None, "revisions 3 2026"));
        assert_eq!(parse("#x repos"), (None, "#x repos"));
        assert_eq!(parse("#5"), (None, "#5"));
    }

    #[test]
    fn leases() {
        let l = Lease::none();
        assert!(!l.valid());
        l.extend(Instant::now());
        assert!(l.valid());
        l.end();
        assert!(!l.valid());
        l.extend(Instant::now() - LEASE);
        assert!(!l.valid(), "counted from when the renewal was sent");
        assert!(Lease::always().valid());
    }

    async fn two_processes() -> (Accounts, Accounts) {
        use std::sync::atomic::AtomicU32;
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "coh{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let url = postgres().create_database(&name);
        let db = Database::Postgres(url);
        let opts = DbOptions::default();
        let a = Accounts::connect(&db, &opts).await.unwrap();
        let b = Accounts::connect(&db, &opts).await.unwrap();
        (a, b)
    }

    /// A node running as the server runs one, recording what it applied.
    fn follow(member: Member, heard: Arc<Mutex<Vec<String>>>) {
        tokio::spawn(async move {
            let mut member = member;
            let _ = member
                .run(|e| {
                    heard
                        .lock()
                        .unwrap()
                        .push(e.unwrap_or("(everything)").to_owned())
                })
                .await;
        });
    }

    #[tokio::test]
    async fn a_change_of_authorization_returns_once_every_live_node_applied_it() {
        let (a, b) = two_processes().await;
        let n = |s: &str| Name::parse(s).unwrap();
        a.create_user(&n("alice"), false).await.unwrap();
        let (token, _) = a.create_token("alice", Role::Write, "t").await.unwrap();
        let repo = RepoRef {
            repo_type: RepoType::Model,
            id: RepoId::parse("alice/m").unwrap(),
        };

        // Node B is a member; its lease holds once it ran (dropping everything first).
        let lease = Lease::none();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let member = b.join(lease.clone()).await.unwrap().unwrap();
        follow(member, heard.clone());
        for _ in 0..200 {
            if lease.valid() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(lease.valid());
        assert_eq!(*heard.lock().unwrap(), ["(everything)"]);

        // Each change through A has been applied by B when A's call returns.
        let made = a.create_repo(&repo, false).await.unwrap();
        assert_eq!(heard.lock().unwrap().last().unwrap(), "repos");
        a.set_private(made.id, true).await.unwrap();
        assert_eq!(heard.lock().unwrap().len(), 3);
        assert!(a.revoke_token("alice", token.id).await.unwrap());
        assert_eq!(heard.lock().unwrap().last().unwrap(), "tokens");
        a.create_org(&n("acme"), "alice").await.unwrap();
        a.set_member("acme", "alice", Role::Read).await.unwrap();
        assert_eq!(heard.lock().unwrap().last().unwrap(), "members");
        // Events not about authorization are heard too, without anyone waiting.
        a.publish("revisions 1 x").await.unwrap();
        for _ in 0..200 {
            if heard.lock().unwrap().last().unwrap() == "revisions 1 x" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(heard.lock().unwrap().last().unwrap(), "revisions 1 x");
    }

    #[tokio::test]
    async fn a_node_that_stops_renewing_is_waited_for_one_lease_then_trusts_nothing_cached() {
        let (a, b) = two_processes().await;
        let n = |s: &str| Name::parse(s).unwrap();
        a.create_user(&n("bob"), false).await.unwrap();
        let lease = Lease::none();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let mut member = b.join(lease.clone()).await.unwrap().unwrap();
        // Joined and renewed once, then stuck (as a stopped process is): it hears nothing.
        member.renew(&mut |_| {}).await.unwrap();
        assert!(lease.valid());
        let started = Instant::now();
        let repo = RepoRef {
            repo_type: RepoType::Model,
            id: RepoId::parse("bob/m").unwrap(),
        };
        a.create_repo(&repo, true).await.unwrap();
        let waited = started.elapsed();
        // A waited while B's lease held, and B's own lease ended before the database's.
        assert!(waited >= Duration::from_secs(1), "{waited:?}");
        assert!(!lease.valid());
        // Once B runs again, it drops everything before its lease holds, then hears the
        // change it missed.
        follow(member, heard.clone());
        for _ in 0..200 {
            if heard.lock().unwrap().len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(*heard.lock().unwrap(), ["(everything)", "repos"]);
    }
}
