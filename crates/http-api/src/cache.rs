//! Small in-memory caches for the hot read paths (every `from_pretrained` resolves a few
//! files): what changes is cached briefly and dropped when this server (or, on PostgreSQL,
//! any node of the hub) changes it; what cannot change (a file at a commit) is cached until
//! the cache is full.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    max: usize,
    map: Mutex<Map<K, V>>,
    /// For what decides who may do what: entries are used and stored only while this
    /// process's lease holds (see `accounts::Lease`).
    gate: Option<Arc<accounts::Lease>>,
}

struct Map<K, V> {
    entries: HashMap<K, (V, Instant)>,
    /// Bumped by every `retain` and `clear`: a value read from the source before a change was
    /// dropped must not be stored after it (see `put_since`).
    epoch: u64,
}

impl<K: Hash + Eq + Send + 'static, V: Clone + Send + 'static> TtlCache<K, V> {
    /// `ttl: None` keeps entries until the cache fills up (for immutable values).
    pub fn new(ttl: Option<Duration>, max: usize) -> Self {
        TtlCache {
            ttl: ttl.unwrap_or(Duration::MAX),
            max,
            map: Mutex::new(Map {
                entries: HashMap::new(),
                epoch: 0,
            }),
            gate: None,
        }
    }

    /// A cache of authorization: trusted only while `lease` holds. Whoever ends the lease
    /// clears the cache before it holds again.
    pub fn gated(ttl: Duration, max: usize, lease: Arc<accounts::Lease>) -> Self {
        TtlCache {
            gate: Some(lease),
            ..TtlCache::new(Some(ttl), max)
        }
    }

    /// Whether entries may be used and stored now (a cache with no life stores nothing).
    fn open(&self) -> bool {
        !self.ttl.is_zero() && self.gate.as_ref().is_none_or(|l| l.valid())
    }

    pub fn get(&self, k: &K) -> Option<V> {
        if !self.open() {
            return None;
        }
        let map = self.map.lock().expect("cache lock is never poisoned");
        map.entries
            .get(k)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    /// Stores a value that cannot go stale (or whose staleness the TTL bounds on purpose).
    pub fn put(&self, k: K, v: V) {
        if !self.open() {
            return;
        }
        let mut map = self.map.lock().expect("cache lock is never poisoned");
        let evicted = self.insert(&mut map, k, v);
        drop(map);
        if !evicted.is_empty() {
            dispose(evicted);
        }
    }

    /// The moment to pass to `put_since`, taken before reading what will be stored.
    pub fn epoch(&self) -> u64 {
        self.map.lock().expect("cache lock is never poisoned").epoch
    }

    /// Stores `v`, read from the source after `epoch()` returned `epoch`, unless entries were
    /// dropped since: a reader that saw a ref or record before it changed would otherwise put
    /// the old value back just after the change dropped it, for the entry's whole life.
    pub fn put_since(&self, epoch: u64, k: K, v: V) {
        if !self.open() {
            return;
        }
        let mut map = self.map.lock().expect("cache lock is never poisoned");
        if map.epoch == epoch {
            let evicted = self.insert(&mut map, k, v);
            drop(map);
            if !evicted.is_empty() {
                dispose(evicted);
            }
        }
    }

    /// Inserts; a full cache first gives up its expired entries, and all of them if none
    /// had expired (bounded, and the hot entries come back at once). Returns what was taken
    /// out, for the caller to [`dispose`] of once the lock is released.
    fn insert(&self, map: &mut Map<K, V>, k: K, v: V) -> Vec<(K, (V, Instant))> {
        let mut evicted = Vec::new();
        if map.entries.len() >= self.max {
            let ttl = self.ttl;
            evicted.extend(map.entries.extract_if(|_, (_, at)| at.elapsed() >= ttl));
            if map.entries.len() >= self.max {
                evicted.extend(map.entries.drain());
            }
        }
        map.entries.insert(k, (v, Instant::now()));
        evicted
    }

    /// Keeps only the entries whose key passes `keep`.
    pub fn retain(&self, keep: impl Fn(&K) -> bool) {
        let mut map = self.map.lock().expect("cache lock is never poisoned");
        map.epoch += 1;
        let evicted: Vec<_> = map.entries.extract_if(|k, _| !keep(k)).collect();
        drop(map);
        if !evicted.is_empty() {
            dispose(evicted);
        }
    }

    pub fn clear(&self) {
        let mut map = self.map.lock().expect("cache lock is never poisoned");
        map.epoch += 1;
        let evicted = std::mem::take(&mut map.entries);
        drop(map);
        if !evicted.is_empty() {
            dispose(evicted);
        }
    }
}

/// Frees what a cache let go of off the request's path: a thousand listings of fifty repos
/// each are over a million allocations, a tenth of a second to free. On a blocking thread when
/// there is a runtime, else here.
fn dispose<T: Send + 'static>(garbage: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn_blocking(move || drop(garbage));
        }
        Err(_) => drop(garbage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_cache_stays_bounded() {
        let c = TtlCache::new(Some(Duration::from_millis(50)), 2);
        c.put(1, "a");
        assert_eq!(c.get(&1), Some("a"));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.get(&1), None);
        c.put(1, "a");
        c.put(2, "b");
        c.put(3, "c");
        assert_eq!((c.get(&1), c.get(&3)), (None, Some("c")));
    }

    #[test]
    fn a_full_cache_gives_up_its_expired_entries_first() {
        let c = TtlCache::new(Some(Duration::from_millis(50)), 2);
        c.put(1, "a");
        std::thread::sleep(Duration::from_millis(60));
        c.put(2, "b");
        c.put(3, "c"); // full: only the expired 1 goes
        assert_eq!((c.get(&2), c.get(&3)), (Some("b"), Some("c")));
        c.put(4, "d"); // full of live entries: all go, the new one stays
        assert_eq!((c.get(&2), c.get(&3), c.get(&4)), (None, None, Some("d")));
    }

    #[test]
    fn a_value_read_before_a_drop_is_not_stored_after_it() {
        let c = TtlCache::new(None, 10);
        let before = c.epoch();
        c.retain(|_| false); // the change lands and drops what was cached
        c.put_since(before, 1, "old");
        assert_eq!(c.get(&1), None);
        let after = c.epoch();
        c.put_since(after, 1, "new");
        assert_eq!(c.get(&1), Some("new"));
    }

    #[test]
    fn a_gated_cache_is_used_only_while_its_lease_holds() {
        let closed = TtlCache::gated(Duration::from_secs(60), 10, accounts::Lease::none());
        closed.put(1, "a");
        closed.put_since(closed.epoch(), 2, "b");
        assert_eq!((closed.get(&1), closed.get(&2)), (None, None));
        let open = TtlCache::gated(Duration::from_secs(60), 10, accounts::Lease::always());
        open.put(1, "a");
        assert_eq!(open.get(&1), Some("a"));
    }
}
