//! A xorb upload: chunk headers, compression schemes, the hash check; a store in a temp dir.
#![no_main]
use std::sync::OnceLock;

static STORE: OnceLock<(tempfile::TempDir, xet_store::XetStore)> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (_, store) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = xet_store::XetStore::open(dir.path()).expect("a store");
        (dir, store)
    });
    if data.len() < 32 {
        return;
    }
    let Some(hash) = xet_store::parse_hash(&hex::encode(&data[..32])) else {
        return;
    };
    let _ = store.put_xorb(&hash, &mut &data[32..]);
});
