//! A model card: YAML front matter (anchors, tags, nesting, huge scalars) and its fields.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = repo_rules::card_metadata(data);
    let mut repo = modelhub_fuzz::Repo::default();
    repo.plain.insert("README.md".into(), data.to_vec());
    repo.check();
});
