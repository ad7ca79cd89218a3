//! Small in-memory caches for the hot read paths (every `from_pretrained` resolves a few
//! files): what changes is cached briefly and dropped when this server changes it; what cannot
//! change (a file at a commit) is cached until the cache is full.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    max: usize,
    map: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// `ttl: None` keeps entries until the cache fills up (for immutable values).
    pub fn new(ttl: Option<Duration>, max: usize) -> Self {
        TtlCache {
            ttl: ttl.unwrap_or(Duration::MAX),
            max,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, k: &K) -> Option<V> {
        let map = self.map.lock().expect("cache lock is never poisoned");
        map.get(k)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    pub fn put(&self, k: K, v: V) {
        let mut map = self.map.lock().expect("cache lock is never poisoned");
        if map.len() >= self.max {
            map.clear(); // cheap and bounded; the hot entries come back at once
        }
        map.insert(k, (v, Instant::now()));
    }

    /// Keeps only the entries whose key passes `keep`.
    pub fn retain(&self, keep: impl Fn(&K) -> bool) {
        self.map
            .lock()
            .expect("cache lock is never poisoned")
            .retain(|k, _| keep(k));
    }

    pub fn clear(&self) {
        self.map
            .lock()
            .expect("cache lock is never poisoned")
            .clear();
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
}
