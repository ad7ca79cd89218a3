//! What the garbage collector and the doors that accept content agree on, so that nothing a
//! commit comes to rely on is ever collected (`store_claims`, one row per `lfs:<sha256>` or
//! `xorb:<hash>`).
//!
//! - A door (LFS batch and upload, Xet xorb and shard upload, the push hook) calls
//!   [`Accounts::claim`] *before* it looks for the content or stores it. The claim stamps the
//!   row with the time, and waits while the row is doomed.
//! - The collector calls [`Accounts::doom`] on what it found unreachable: the row is doomed
//!   only if nobody touched it since the cut-off (the start of the run minus the grace
//!   period); a thing never seen before gets a row stamped now and is kept. Then it deletes
//!   the bytes and [`Accounts::forget`]s the row (and an LFS object's links).
//!
//! The row's lock orders a claim and a doom of the same name. A claim that comes first stamps
//! the row after the cut-off, so the doom matches nothing. A claim that comes second waits
//! until the row is forgotten, and only then looks: it finds nothing, and the client uploads
//! again. A collector killed between doom and forget leaves the row doomed; the next run
//! finishes the deletion ([`Accounts::doomed`]). Until then a claim of that name gives up
//! after [`CLAIM_WAIT`] with [`AccountsError::Collecting`] (503: try again).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Accounts, AccountsError};

type Result<T> = std::result::Result<T, AccountsError>;

/// How long a claim waits for the collector to finish deleting what it claims.
pub const CLAIM_WAIT: Duration = Duration::from_secs(20);

/// Milliseconds since the epoch, the unit of the claims' stamps.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What [`Accounts::doom`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doom {
    /// Nobody touched it since the cut-off: the caller deletes it, then forgets it.
    Doomed,
    /// Touched since the cut-off, or seen for the first time: it stays.
    Kept,
}

impl Accounts {
    /// Stamps every name in `names` as touched now, waiting while the collector is deleting
    /// one of them (at most [`CLAIM_WAIT`]). Call it before looking for the content.
    pub async fn claim(&self, names: &[String]) -> Result<()> {
        let mut left: Vec<&str> = names.iter().map(String::as_str).collect();
        left.sort_unstable();
        left.dedup();
        let give_up = tokio::time::Instant::now() + CLAIM_WAIT;
        loop {
            let now = now_ms();
            let mut doomed = Vec::new();
            on_pool!(&self.pool, p => {
                let mut tx = p.begin().await?;
                for name in &left {
                    let done = sqlx::query(
                        "INSERT INTO store_claims (name, touched_at) VALUES ($1, $2) \
                         ON CONFLICT (name) DO UPDATE SET touched_at = excluded.touched_at \
                         WHERE store_claims.doomed_at IS NULL",
                    )
                    .bind(*name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if done == 0 {
                        doomed.push(*name);
                    }
                }
                tx.commit().await?;
            });
            let Some(first) = doomed.first() else {
                return Ok(());
            };
            if tokio::time::Instant::now() >= give_up {
                return Err(AccountsError::Collecting(display(first)));
            }
            left = doomed;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Dooms `name` if nobody has touched it since `cutoff_ms`. A name without a row is seen
    /// for the first time: it gets one stamped `now_ms` and is kept (what existed before the
    /// claims did waits one grace period, like everything else).
    pub async fn doom(&self, name: &str, cutoff_ms: i64, now_ms: i64) -> Result<Doom> {
        let doomed = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let fresh = sqlx::query(
                "INSERT INTO store_claims (name, touched_at) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(name)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let doomed = if fresh == 1 {
                0
            } else {
                sqlx::query(
                    "UPDATE store_claims SET doomed_at = $3 \
                     WHERE name = $1 AND touched_at < $2 AND doomed_at IS NULL",
                )
                .bind(name)
                .bind(cutoff_ms)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            };
            tx.commit().await?;
            doomed
        });
        Ok(if doomed == 1 {
            Doom::Doomed
        } else {
            Doom::Kept
        })
    }

    /// Whether [`Accounts::doom`] would doom `name` (for a dry run): nobody touched it since
    /// `cutoff_ms`, and it has been seen before.
    pub async fn untouched_since(&self, name: &str, cutoff_ms: i64) -> Result<bool> {
        let row: Option<(i64,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT touched_at FROM store_claims WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(p)
        .await)?;
        Ok(row.is_some_and(|(t,)| t < cutoff_ms))
    }

    /// The names a collector doomed and did not get to forget (it was stopped): a new run
    /// deletes their bytes (again) and forgets them.
    pub async fn doomed(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT name FROM store_claims WHERE doomed_at IS NOT NULL ORDER BY name",
        )
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Forgets a doomed name once its bytes are deleted: its row, and for an LFS object the
    /// registry's record of it (links to repos, weights facts), all in one transaction.
    pub async fn forget(&self, name: &str) -> Result<()> {
        let oid = name.strip_prefix("lfs:");
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            if let Some(oid) = oid {
                for sql in [
                    "DELETE FROM lfs_repo_objects WHERE oid = $1",
                    "DELETE FROM lfs_weights WHERE oid = $1",
                    "DELETE FROM file_scans WHERE object = $1",
                    "DELETE FROM lfs_objects WHERE oid = $1",
                ] {
                    sqlx::query(sql).bind(oid).execute(&mut *tx).await?;
                }
            }
            sqlx::query("DELETE FROM store_claims WHERE name = $1 AND doomed_at IS NOT NULL")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}

/// A claim name as people read it: `LFS object <sha256>`, `xorb <hash>`.
fn display(name: &str) -> String {
    match name.split_once(':') {
        Some(("lfs", oid)) => format!("LFS object {oid}"),
        Some((kind, id)) => format!("{kind} {id}"),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_claim_and_a_doom_of_one_name_exclude_each_other() {
        let (_dir, dbs) = crate::store::tests::both().await;
        for db in dbs {
            let x = "lfs:".to_owned() + &"ab".repeat(32);
            // Never seen: kept, and stamped now.
            assert_eq!(db.doom(&x, 1_000, 500).await.unwrap(), Doom::Kept);
            assert!(db.untouched_since(&x, 1_000).await.unwrap());
            // Untouched since the cut-off: doomed; a claim now waits, then gives up.
            assert_eq!(db.doom(&x, 1_000, 2_000).await.unwrap(), Doom::Doomed);
            assert_eq!(db.doomed().await.unwrap(), std::slice::from_ref(&x));
            let db2 = db.clone();
            let name = x.clone();
            let waiting = tokio::spawn(async move { db2.claim(&[name]).await });
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(!waiting.is_finished(), "a claim went past a doom");
            // Forgotten: the claim goes through, stamped now, and the name can't be doomed
            // by a cut-off before that.
            db.forget(&x).await.unwrap();
            waiting.await.unwrap().unwrap();
            assert!(db.doomed().await.unwrap().is_empty());
            assert_eq!(db.doom(&x, 1_000, 3_000).await.unwrap(), Doom::Kept);
            assert!(!db.untouched_since(&x, now_ms() - 60_000).await.unwrap());
            // A claim stamps what a doom with a later cut-off would take.
            let y = "xorb:".to_owned() + &"cd".repeat(32);
            db.claim(std::slice::from_ref(&y)).await.unwrap();
            let cut = now_ms() + 1;
            assert_eq!(db.doom(&y, cut, cut).await.unwrap(), Doom::Doomed);
        }
    }
}
