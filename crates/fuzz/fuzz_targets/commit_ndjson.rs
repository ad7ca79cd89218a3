//! The commit API's NDJSON body, framed in pieces and parsed line by line.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (step, body) = modelhub_fuzz::split_byte(data);
    http_api::fuzz::commit_body(body, usize::from(step));
});
