//! What a crash leaves in the data dir, and the lock that says no other server is using it.
//!
//! A server killed mid-request leaves partial LFS and Xet uploads (`tmp`),
//! commit scratch repos (`repos/.staging`) and, if git was killed too, push quarantines
//! (`objects/tmp_objdir-incoming-*` inside a repo). None of it is ever visible (objects are
//! renamed into place only when whole), but it holds disk. A server owns the data dir while it
//! runs (an exclusive lock on `serve.lock`, released by the kernel however the process ends),
//! so at start-up nothing under those folders belongs to a live server, and all of it goes at
//! once. Repos in a folder that several nodes share (`--repos-dir`) are another matter: there
//! a quarantine or scratch repo may be another node's push in flight, so only those a day old
//! go. While servers run, [`sweep`] does the same for day-old leftovers of the repos folder
//! (a git killed mid-push under a live server), once per cluster (`crate::periodic`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Takes the data dir for this server: fails if another server holds it.
pub fn claim(root: &Path) -> Result<File> {
    let path = root.join("serve.lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(TryLockError::WouldBlock) => bail!(
            "another modelhub server is using the data directory {}",
            root.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// What [`clean`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub entries: u64,
    pub bytes: u64,
}

/// Removes every leftover of an earlier run. Call only while holding [`claim`]'s lock.
/// `shared_repos`: the repos folder other nodes use too (else `repos` in the data dir).
pub fn clean(root: &Path, shared_repos: Option<&Path>) -> io::Result<Cleaned> {
    let mut done = Cleaned::default();
    // `tmp` is the content store's; `lfs/tmp` and `xet/tmp` were before it was one store.
    for dir in ["tmp", "lfs/tmp", "xet/tmp"] {
        empty(&root.join(dir), |_| true, &mut done)?;
    }
    let own = root.join("repos");
    let (repos, min_age) = match shared_repos {
        Some(dir) => (dir, SHARED_MIN_AGE),
        None => (own.as_path(), std::time::Duration::ZERO),
    };
    sweep_repos(repos, min_age, &mut done)?;
    Ok(done)
}

/// Removes scratch repos and push quarantines a day old from the repos folder `repos` while
/// servers run (the periodic sweep: nothing that old is a push or commit in flight).
pub fn sweep(repos: &Path) -> io::Result<Cleaned> {
    let mut done = Cleaned::default();
    sweep_repos(repos, SHARED_MIN_AGE, &mut done)?;
    Ok(done)
}

fn sweep_repos(repos: &Path, min_age: std::time::Duration, done: &mut Cleaned) -> io::Result<()> {
    empty_older(&repos.join(".staging"), |_| true, min_age, done)?;
    // Quarantines sit in each repo's objects folder: repos/{type}s/{ns}/{name}.git/objects.
    for kind in ["models", "datasets", "spaces"] {
        for ns in entries(&repos.join(kind))? {
            for repo in entries(&ns)? {
                empty_older(
                    &repo.join("objects"),
                    |name| name.starts_with("tmp_objdir-incoming-"),
                    min_age,
                    done,
                )?;
            }
        }
    }
    Ok(())
}

/// The folders in `dir` (none if it does not exist).
fn entries(dir: &Path) -> io::Result<Vec<std::path::PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| match e {
                Ok(e) if e.file_type().is_ok_and(|t| t.is_dir()) => Some(Ok(e.path())),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Removes the entries of `dir` whose names pass `pick`, counting what they held.
/// How old a leftover in a shared repos folder must be to be taken for one: no push takes a
/// day (a live one is another node's).
const SHARED_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn empty(dir: &Path, pick: impl Fn(&str) -> bool, done: &mut Cleaned) -> io::Result<()> {
    empty_older(dir, pick, std::time::Duration::ZERO, done)
}

/// Removes what `pick` names in `dir`, if it was last changed at least `min_age` ago.
fn empty_older(
    dir: &Path,
    pick: impl Fn(&str) -> bool,
    min_age: std::time::Duration,
    done: &mut Cleaned,
) -> io::Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        if !pick(&e.file_name().to_string_lossy()) {
            continue;
        }
        let path = e.path();
        if !min_age.is_zero() {
            let age = e.metadata()?.modified()?.elapsed().unwrap_or_default();
            if age < min_age {
                continue;
            }
        }
        done.bytes += size(&path);
        done.entries += 1;
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| size(&e.path()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_fails_and_leftovers_go_but_repos_stay() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let _held = claim(root).unwrap();
        assert!(claim(root)
            .unwrap_err()
            .to_string()
            .contains("another modelhub server"));

        let objects = root.join("repos/models/alice/m.git/objects");
        for d in [
            "lfs/tmp",
            "xet/tmp",
            "repos/.staging/commit-x",
            "repos/models/alice/m.git/objects/pack",
            "repos/models/alice/m.git/objects/tmp_objdir-incoming-ab12",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("lfs/tmp/put-1"), [0u8; 100]).unwrap();
        std::fs::write(root.join("xet/tmp/up-1"), [0u8; 10]).unwrap();
        std::fs::write(objects.join("tmp_objdir-incoming-ab12/x.pack"), [0u8; 5]).unwrap();
        std::fs::write(objects.join("pack/keep.pack"), [0u8; 7]).unwrap();
        let done = clean(root, None).unwrap();
        assert_eq!(
            done,
            Cleaned {
                entries: 4,
                bytes: 115
            }
        );
        assert!(objects.join("pack/keep.pack").exists());
        assert!(!objects.join("tmp_objdir-incoming-ab12").exists());
        assert_eq!(std::fs::read_dir(root.join("lfs/tmp")).unwrap().count(), 0);
        assert_eq!(clean(root, None).unwrap(), Cleaned::default());
    }

    #[test]
    fn in_a_shared_repos_folder_only_day_old_leftovers_go() {
        let data = tempfile::tempdir().unwrap();
        let shared = tempfile::tempdir().unwrap();
        let objects = shared.path().join("models/alice/m.git/objects");
        let live = objects.join("tmp_objdir-incoming-live");
        let stale = objects.join("tmp_objdir-incoming-stale");
        for d in [&live, &stale] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("x.pack"), [0u8; 5]).unwrap();
        }
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(25 * 3600);
        std::fs::File::open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let done = clean(data.path(), Some(shared.path())).unwrap();
        assert_eq!(
            done,
            Cleaned {
                entries: 1,
                bytes: 5
            }
        );
        assert!(live.exists(), "another node's push in flight stays");
        assert!(!stale.exists());
    }
}
