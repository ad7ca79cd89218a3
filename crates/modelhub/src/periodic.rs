//! Work a server does now and then while it serves, once per cluster: every node of a shared
//! database asks for each due job ([`accounts::Accounts::claim_run`]), and exactly one of
//! them gets it per interval; a node that dies mid-run only delays the job to the next
//! interval. On SQLite the one server always gets it. Jobs today: `sweep` (day-old push
//! quarantines and commit scratch repos in the repos folder, [`crate::leftovers::sweep`]);
//! the garbage collector and webhook deliveries will run the same way.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use accounts::Accounts;

/// Runs `job` every `every`, on whichever node of the database claims it first, for as long
/// as the runtime lives. The node checks twice per interval (at most once a minute), so a
/// job runs within one and a half intervals of being due. `job` returns a one-line summary
/// of what it did, logged with the job's name.
pub fn spawn<F, Fut>(
    accounts: Accounts,
    holder: String,
    name: &'static str,
    every: Duration,
    job: F,
) where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<String>> + Send,
{
    let tick = (every / 2).clamp(Duration::from_millis(100), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            match accounts.claim_run(name, every, now, &holder).await {
                Ok(true) => match job().await {
                    Ok(summary) => {
                        tracing::info!(job = name, at = now, %summary, "periodic work done")
                    }
                    Err(e) => {
                        tracing::warn!(job = name, at = now, error = %format!("{e:#}"), "periodic work failed")
                    }
                },
                Ok(false) => {}
                // The database is away: another tick will ask again.
                Err(e) => tracing::debug!(job = name, error = %e, "cannot claim periodic work"),
            }
        }
    });
}
