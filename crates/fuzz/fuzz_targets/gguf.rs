//! A GGUF header (metadata and tensor infos), read through ranged reads.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let read = modelhub_fuzz::reader(data);
    let _ = repo_rules::weights::formats::gguf(&read, data.len() as u64);
});
