//! Shared by the fuzz targets: an in-memory repo for the validator (files, LFS objects) and
//! a way to cut one fuzz input into parts. See `bench/fuzz.sh` for running them.

use std::collections::HashMap;

use hub_types::RepoType;
use repo_rules::{ChangedFile, Context, LfsState};
use sha2::Digest;

/// A repo whose files are `plain` and whose LFS objects are `objects` (path -> bytes).
#[derive(Default)]
pub struct Repo {
    pub plain: HashMap<String, Vec<u8>>,
    pub objects: HashMap<String, Vec<u8>>,
}

fn oid(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

impl Repo {
    /// The push that adds every file: plain ones with their bytes, LFS ones as pointers.
    pub fn changed(&self) -> Vec<ChangedFile> {
        let mut out: Vec<ChangedFile> = self
            .plain
            .iter()
            .map(|(p, d)| ChangedFile {
                path: p.clone(),
                size: d.len() as u64,
                content: d.clone(),
            })
            .collect();
        for (p, d) in &self.objects {
            let pointer = format!(
                "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n",
                oid(d),
                d.len()
            );
            out.push(ChangedFile {
                path: p.clone(),
                size: pointer.len() as u64,
                content: pointer.into_bytes(),
            });
        }
        out
    }

    /// Runs every rule over the push.
    pub fn check(&self) {
        let _ = repo_rules::check_all(&self.changed(), self, &repo_rules::Severities::default());
    }
}

impl Context for Repo {
    fn repo_type(&self) -> RepoType {
        RepoType::Model
    }
    fn exists(&self, path: &str) -> bool {
        self.plain.contains_key(path) || self.objects.contains_key(path)
    }
    fn lfs_object(&self, o: &str) -> Option<LfsState> {
        let d = self.objects.values().find(|d| oid(d) == o)?;
        Some(LfsState::Present(d.len() as u64))
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.plain.get(path).cloned()
    }
    fn lfs_read(&self, o: &str, offset: u64, len: u64) -> Option<Vec<u8>> {
        let d = self.objects.values().find(|d| oid(d) == o)?;
        let s = usize::try_from(offset).ok()?.min(d.len());
        let e = s.saturating_add(usize::try_from(len).ok()?).min(d.len());
        Some(d[s..e].to_vec())
    }
}

/// A ranged reader over `data`, as the LFS store gives one.
pub fn reader(data: &[u8]) -> impl Fn(u64, u64) -> Option<Vec<u8>> + '_ {
    move |off, len| {
        let s = usize::try_from(off).ok()?.min(data.len());
        let e = s.saturating_add(usize::try_from(len).ok()?).min(data.len());
        Some(data[s..e].to_vec())
    }
}

/// One Xet store in a temp dir for the whole fuzzing run (it only grows when an input
/// verifies, which random bytes do not).
pub fn xet_store() -> &'static xet_store::XetStore {
    static STORE: std::sync::OnceLock<(tempfile::TempDir, xet_store::XetStore)> =
        std::sync::OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temp dir");
            let store = xet_store::XetStore::open(dir.path()).expect("a store");
            (dir, store)
        })
        .1
}

/// The first byte (a small number for the target to use) and the rest.
pub fn split_byte(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => (0, data),
    }
}
