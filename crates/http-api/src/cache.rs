//! Small in-memory caches for the hot read paths (every `from_pretrained` resolves a few
//! files): what changes is cached briefly and dropped when this server (or, on PostgreSQL,
//! any node of the hub) changes it; what cannot change (a file at a commit) is cached until
//! the cache is full.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    max: usize,
    map: Mutex<Map<K, V>>,
}

struct Map<K, V> {
    entries: HashMap<K, (V, Instant)>,
    /// Bumped by every `retain` and `clear`: a value read from the source before a change was
    /// dropped must not be stored after it (see `put_since`).
    epoch: u64,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// `ttl: None` keeps entries until the cache fills up (for immutable values).
    pub fn new(ttl: Option<Duration>, max: usize) -> Self {
        TtlCache {
            ttl: ttl.unwrap_or(Duration::MAX),
            max,
            map: Mutex::new(Map {
                entries: HashMap::new(),
                epoch: 0,
            }),
        }
    }

    pub fn get(&self, k: &K) -> Option<V> {
        let map = self.map.lock().expect("cache lock is never poisoned");
        map.entries
            .get(k)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    /// Stores a value that cannot go stale (or whose staleness the TTL bounds on purpose).
    pub fn put(&self, k: K, v: V) {
        let mut map = self.map.lock().expect("cache lock is never poisoned");
        Self::insert(&mut map, self.max, k, v);
    }

    /// The moment to pass to `put_since`, taken before reading what will be stored.
    pub fn epoch(&self) -> u64 {
        self.map.lock().expect("cache lock is never poisoned").epoch
    }

    /// Stores `v`, read from the source after `epoch()` returned `epoch`, unless entries were
    /// dropped since: a reader that saw a ref or record before it changed would otherwise put
    /// the old value back just after the change dropped it, for the entry's whole life.
    pub fn put_since(&self, epoch: u64, k: K, v: V) {
        let mut map = self.map.lock().expect("cache lock is never poisoned");
        if map.epoch == epoch {
            Self::insert(&mut map, self.max, k, v);
        }
    }

    fn insert(map: &mut Map<K, V>, max: usize, k: K, v: V) {
        if map.entries.len() >= max {
            map.entries.clear(); // cheap and bounded; the hot entries come back at once
        }
        map.entries.insert(k, (v, Instant::now()));
    }

    /// Keeps only the entries whose key passes `keep`.
    pub fn retain(&self, keep: impl Fn(&K) -> bool) {
        let mut map = self.map.lock().expect("cache lock is never poisoned");
        map.epoch += 1;
        map.entries.retain(|k, _| keep(k));
    }

    pub fn clear(&self) {
        let mut map = self.map.lock().expect("cache lock is never poisoned");
        map.epoch += 1;
        map.entries.clear();
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
}
