//! A shard upload: the shard format, then every check before a file is registered.
#![no_main]
use std::io::Write;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let store = modelhub_fuzz::xet_store();
    let Ok(mut spool) = store.spool() else {
        return;
    };
    if spool.write_all(data).is_err() {
        return;
    }
    let _ = store.put_shard(spool);
});
