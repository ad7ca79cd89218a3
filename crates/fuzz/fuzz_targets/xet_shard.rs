//! A shard upload: the shard format, then every check before a file is registered.
#![no_main]
use std::io::Write;
use std::sync::OnceLock;

static STORE: OnceLock<(tempfile::TempDir, xet_store::XetStore)> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = xet_store::XetStore::open(dir.path()).expect("a store");
        (dir, store)
    });
    let Ok(mut spool) = store.spool() else {
        return;
    };
    if spool.write_all(data).is_err() {
        return;
    }
    let _ = store.put_shard(spool);
});
