//! A pushed LFS file of any kind: zip checkpoints (and zips in zips), .npy, .npz, joblib,
//! raw pickles, through the zip reader and the unpickle rules.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (which, body) = modelhub_fuzz::split_byte(data);
    let name = [
        "pytorch_model.bin",
        "a.npz",
        "x.npy",
        "m.joblib",
        "state.dat",
        "model.pt",
    ][usize::from(which) % 6];
    let mut repo = modelhub_fuzz::Repo::default();
    repo.objects.insert(name.into(), body.to_vec());
    repo.check();
    let read = modelhub_fuzz::reader(body);
    if let Ok(entries) = repo_rules::weights::zip::entries(&read, body.len() as u64) {
        for e in entries.iter().take(64) {
            let _ = repo_rules::weights::zip::member_head(&read, e, 16);
        }
    }
});
