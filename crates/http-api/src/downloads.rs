//! Download counts, gathered in memory and written to the registry once a second: counting
//! must not cost every `from_pretrained` a database write. A crash loses at most a second of
//! counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accounts::Accounts;

#[derive(Clone, Default)]
pub struct DownloadCounter {
    pending: Arc<Mutex<HashMap<i64, i64>>>,
}

impl DownloadCounter {
    pub fn count(&self, repo_id: i64) {
        *self
            .pending
            .lock()
            .expect("counter lock is never poisoned")
            .entry(repo_id)
            .or_default() += 1;
    }

    fn take(&self) -> HashMap<i64, i64> {
        std::mem::take(&mut *self.pending.lock().expect("counter lock is never poisoned"))
    }

    /// Writes the pending counts now.
    pub async fn flush(&self, accounts: &Accounts) {
        for (repo, n) in self.take() {
            if let Err(e) = accounts.add_downloads(repo, n).await {
                tracing::warn!(error = %e, "could not record downloads");
            }
        }
    }

    /// Flushes every second, for as long as the runtime runs.
    pub fn spawn_flusher(&self, accounts: Accounts) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                me.flush(&accounts).await;
            }
        });
    }
}
