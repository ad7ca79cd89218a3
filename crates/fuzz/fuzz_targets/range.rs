//! `Range` headers against objects of any size: a granted range always lies inside.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let size = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
    if let Ok(header) = std::str::from_utf8(&data[8..]) {
        http_api::fuzz::range(header, size);
    }
});
