//! A xorb upload: chunk headers, compression schemes, the hash check.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 32 {
        return;
    }
    let Some(hash) = xet_store::parse_hash(&hex::encode(&data[..32])) else {
        return;
    };
    let _ = modelhub_fuzz::xet_store().put_xorb(&hash, &mut &data[32..]);
});
