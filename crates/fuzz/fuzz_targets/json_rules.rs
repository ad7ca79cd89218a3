//! config.json and the other JSON files the runtime reads, through every rule on them.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (which, body) = modelhub_fuzz::split_byte(data);
    let name = [
        "config.json",
        "tokenizer_config.json",
        "generation_config.json",
        "model.safetensors.index.json",
        "special_tokens_map.json",
    ][usize::from(which) % 5];
    let mut repo = modelhub_fuzz::Repo::default();
    repo.plain.insert(name.into(), body.to_vec());
    repo.check();
});
