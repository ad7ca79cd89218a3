//! A per-repo cap on concurrent pack operations, so one busy repo cannot take every core and
//! a client over the cap gets a readable "busy" message instead of a hang.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct PackLimiter {
    per_repo: usize,
    wait: Duration,
    slots: Mutex<HashMap<i64, Arc<Semaphore>>>,
}

/// The repo already runs as many pack operations as allowed, and none ended in time.
#[derive(Debug)]
pub struct Busy;

impl PackLimiter {
    pub fn new(per_repo: usize, wait: Duration) -> Self {
        PackLimiter {
            per_repo: per_repo.max(1),
            wait,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn semaphore(&self, repo_id: i64) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().expect("limiter lock is never poisoned");
        // Forget repos nobody is using, so the map does not grow with every repo ever served.
        if slots.len() > 1024 {
            slots.retain(|_, s| Arc::strong_count(s) > 1);
        }
        slots
            .entry(repo_id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_repo)))
            .clone()
    }

    /// Takes a slot for `repo_id`, waiting up to the configured time for one to free up.
    pub async fn acquire(&self, repo_id: i64) -> Result<OwnedSemaphorePermit, Busy> {
        let sem = self.semaphore(repo_id);
        if let Ok(permit) = sem.clone().try_acquire_owned() {
            return Ok(permit);
        }
        match tokio::time::timeout(self.wait, sem.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Busy),
        }
    }
}
