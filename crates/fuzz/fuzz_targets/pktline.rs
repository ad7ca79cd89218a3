//! pkt-line framing of fetch requests, and receive-pack's command list fed in pieces.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (step, body) = modelhub_fuzz::split_byte(data);
    http_api::fuzz::pkt_request(body);
    http_api::fuzz::command_list(body, usize::from(step));
});
