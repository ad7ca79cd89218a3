//! The Git LFS batch request body.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    http_api::fuzz::lfs_batch(data);
});
