//! The memory budget for plain files served whole from git.
//!
//! git hands out a blob only whole (a packed blob is rebuilt from its deltas in memory), so a
//! `resolve` of a plain file, or its page, holds up to the validator's 10 MiB limit in memory
//! while it is served. Each such read first takes twice its size from one server-wide budget
//! (reading, git holds the compressed bytes and the inflated ones at once), keeps its size
//! once read, and gives that back when its last byte is sent: however many clients ask at once, plain files in
//! flight never hold more than the budget (`--plain-file-memory`, 128 MiB by default); a
//! request beyond it waits for others to be sent.
//! LFS and Xet files stream from the store and take nothing from here.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use futures_util::stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Body chunks: slices of the blob, so nothing is copied.
const CHUNK: usize = 256 << 10;

pub struct BlobBudget {
    /// One permit per KiB.
    kib: Arc<Semaphore>,
    total_kib: u32,
}

/// A share of the budget, held while a blob of that size is in memory.
pub struct Share(OwnedSemaphorePermit);

impl Share {
    /// After the read: keeps what `size` bytes being sent need and gives back the rest.
    pub fn keep(mut self, size: u64) -> Share {
        let keep = size.div_ceil(1024).max(1) as usize;
        let extra = self.0.num_permits().saturating_sub(keep);
        drop(self.0.split(extra));
        self
    }
}

impl BlobBudget {
    pub fn new(bytes: u64) -> Self {
        let total_kib = (bytes >> 10).clamp(1, u32::MAX as u64) as u32;
        BlobBudget {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// Waits until reading a blob of `size` bytes fits in the budget (twice its size; a blob
    /// larger than that waits for all of the budget), and holds it until the share is
    /// dropped or reduced with [`Share::keep`].
    pub async fn take(&self, size: u64) -> Share {
        let kib = size
            .saturating_mul(2)
            .div_ceil(1024)
            .clamp(1, self.total_kib as u64) as u32;
        let permit = self
            .kib
            .clone()
            .acquire_many_owned(kib)
            .await
            .expect("the budget's semaphore is never closed");
        Share(permit)
    }
}

/// `data` as a response body in slices, holding `share` until the last one has been taken.
pub fn body(data: Bytes, share: Share) -> Body {
    let chunks = stream::unfold((data, Some(share)), |(mut rest, share)| async move {
        if rest.is_empty() {
            drop(share);
            return None;
        }
        let chunk = rest.split_to(rest.len().min(CHUNK));
        Some((Ok::<_, std::io::Error>(chunk), (rest, share)))
    });
    Body::from_stream(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_share_is_held_until_the_body_is_sent_and_waiters_wait() {
        let budget = BlobBudget::new(1 << 20);
        let whole = budget.take(5 << 20).await; // larger than the budget: takes all of it
        let body = body(Bytes::from(vec![7u8; 600 << 10]), whole);
        // The budget is spent: another read waits.
        let waiting = budget.take(1);
        tokio::pin!(waiting);
        assert!(futures_util::poll!(&mut waiting).is_pending());
        let sent = body.collect().await.unwrap().to_bytes();
        assert_eq!(sent.len(), 600 << 10);
        // Sent: the share came back.
        let _share = waiting.await;
    }

    #[tokio::test]
    async fn a_read_takes_twice_its_size_and_keeps_its_size_once_read() {
        let budget = BlobBudget::new(4 << 20);
        let reading = budget.take(2 << 20).await; // all 4 MiB
        let other = budget.take(1 << 20);
        tokio::pin!(other);
        assert!(futures_util::poll!(&mut other).is_pending());
        let sending = reading.keep(2 << 20); // 2 MiB back
        let _other = other.await; // takes 2 MiB
        drop(sending);
    }
}
