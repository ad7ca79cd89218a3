//! A safetensors header, read through ranged reads as the hook reads it.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let read = modelhub_fuzz::reader(data);
    let _ = repo_rules::weights::formats::safetensors(&read, data.len() as u64);
});
