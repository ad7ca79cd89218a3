//! What a pushed ref changes, read with git plumbing. The hook runs inside git's quarantine:
//! the `git` children inherit `GIT_OBJECT_DIRECTORY` and `GIT_ALTERNATE_OBJECT_DIRECTORIES`, so
//! they see the pushed objects (gix would not; see the developers' guide).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use git_repos::DEFAULT_BRANCH;
use repo_rules::{ChangedFile, MAX_TEXT};

/// One ref update of a push.
pub struct Update {
    pub old: String,
    pub new: String,
    pub name: String,
}

impl Update {
    pub fn is_delete(&self) -> bool {
        self.new.bytes().all(|b| b == b'0')
    }

    pub fn is_create(&self) -> bool {
        self.old.bytes().all(|b| b == b'0')
    }
}

/// The most bytes of git-stored (non-LFS) files one ref's check holds in memory.
const MAX_HELD: u64 = 512 << 20;

/// git's empty tree: the base of a ref with nothing to compare against.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// One path of `git diff-tree` output.
pub struct Entry {
    pub path: String,
    pub oid: String,
    pub mode: String,
    pub deleted: bool,
}

/// The new tips, among those of created refs, that are already on a branch or tag of this
/// repo (validated when they got there), found with two git calls whatever the number of
/// refs: each tip is peeled to its commit, and `rev-list TIPS --not --branches --tags` lists
/// exactly the commits no validated ref reaches, so a tip absent from it is covered.
fn already_validated(tips: &[&str]) -> Result<HashSet<String>> {
    if tips.is_empty() {
        return Ok(HashSet::new());
    }
    let mut peel = Command::new("git")
        .args(["cat-file", "--batch-check=%(objectname)"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = peel.stdin.take().expect("piped");
    let input: String = tips.iter().map(|t| format!("{t}^{{commit}}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = peel.wait_with_output()?;
    writer.join().expect("the writer thread does not panic")?;
    let peeled: Vec<Option<String>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| (l.len() == 40 && !l.contains(' ')).then(|| l.to_owned()))
        .collect();
    if peeled.len() != tips.len() {
        bail!(
            "git cat-file: {} answers for {} tips",
            peeled.len(),
            tips.len()
        );
    }
    let commits: Vec<&str> = peeled.iter().flatten().map(String::as_str).collect();
    if commits.is_empty() {
        return Ok(HashSet::new());
    }
    let out = Command::new("git")
        .arg("rev-list")
        .args(&commits)
        .args(["--not", "--branches", "--tags"])
        .output()?;
    if !out.status.success() {
        bail!(
            "git rev-list: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let unvalidated: HashSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    Ok(tips
        .iter()
        .zip(&peeled)
        .filter(|(_, c)| c.as_ref().is_some_and(|c| !unvalidated.contains(c)))
        .map(|(t, _)| (*t).to_owned())
        .collect())
}

/// What to compare each ref update of a push against: the old tip; for a new ref, nothing at
/// all if its commit is already on a branch or tag of this repo ([`already_validated`], found
/// once for the whole push), else the default branch (looked up once), or the empty tree in a
/// repo without one. A pull-request ref is not a validated place: a branch or tag made from a
/// commit only a PR holds is checked.
pub struct Bases {
    validated: HashSet<String>,
    default_tip: std::cell::OnceCell<String>,
}

impl Bases {
    pub fn new(updates: &[Update]) -> Result<Self> {
        let created: Vec<&str> = updates
            .iter()
            .filter(|u| u.is_create() && !u.is_delete())
            .map(|u| u.new.as_str())
            .collect();
        Ok(Bases {
            validated: already_validated(&created)?,
            default_tip: std::cell::OnceCell::new(),
        })
    }

    pub fn of(&self, u: &Update) -> Result<Option<String>> {
        if !u.is_create() {
            return Ok(Some(u.old.clone()));
        }
        if self.validated.contains(&u.new) {
            return Ok(None);
        }
        if let Some(tip) = self.default_tip.get() {
            return Ok(Some(tip.clone()));
        }
        let out = Command::new("git")
            .args([
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{DEFAULT_BRANCH}^{{commit}}"),
            ])
            .output()?;
        let tip = if out.status.success() {
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        } else {
            EMPTY_TREE.to_owned()
        };
        Ok(Some(self.default_tip.get_or_init(|| tip).clone()))
    }
}

/// Every path that differs between `base` and `new`.
pub fn diff(base: &str, new: &str) -> Result<Vec<Entry>> {
    let out = Command::new("git")
        .args([
            "diff-tree",
            "-r",
            "-z",
            "--raw",
            "--no-renames",
            "--no-commit-id",
            base,
            new,
        ])
        .output()?;
    if !out.status.success() {
        bail!(
            "git diff-tree {base} {new}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut entries = Vec::new();
    let mut fields = out.stdout.split(|b| *b == 0);
    while let Some(meta) = fields.next() {
        if meta.is_empty() {
            continue;
        }
        let meta = String::from_utf8_lossy(meta);
        let path = fields
            .next()
            .context("diff-tree output ends after a header")?;
        // ":100644 100644 <old> <new> M"
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        if parts.len() < 5 {
            bail!("unexpected diff-tree line {meta:?}");
        }
        entries.push(Entry {
            path: String::from_utf8_lossy(path).into_owned(),
            oid: parts[3].to_owned(),
            mode: parts[1].to_owned(),
            deleted: parts[4].starts_with('D'),
        });
    }
    Ok(entries)
}

/// The added or modified regular files among `entries`, with their sizes and (up to
/// [`MAX_TEXT`]) their bytes, read through `git cat-file`.
pub fn changed_files(entries: &[Entry]) -> Result<Vec<ChangedFile>> {
    let files: Vec<&Entry> = entries
        .iter()
        .filter(|e| !e.deleted && (e.mode == "100644" || e.mode == "100755"))
        .collect();
    let oids: Vec<&str> = files.iter().map(|e| e.oid.as_str()).collect();
    let sizes = batch(&oids, false)?;
    let mut small: Vec<&str> = files
        .iter()
        .zip(&sizes)
        .filter(|(_, (size, _))| *size as usize <= MAX_TEXT)
        .map(|(e, _)| e.oid.as_str())
        .collect();
    small.sort_unstable();
    small.dedup();
    let held: u64 = sizes
        .iter()
        .filter(|(size, _)| *size as usize <= MAX_TEXT)
        .map(|(size, _)| *size)
        .sum();
    if held > MAX_HELD {
        bail!(
            "this push changes {held} bytes of files kept in git (not LFS); at most {MAX_HELD} are checked in one push: push in parts, or track large files with git lfs"
        );
    }
    // Each blob is read once and held once: the last path that names it takes it.
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for e in &files {
        *uses.entry(e.oid.as_str()).or_default() += 1;
    }
    let mut contents: HashMap<String, Vec<u8>> = HashMap::new();
    for (oid, (_, data)) in small.iter().zip(batch(&small, true)?) {
        contents.insert((*oid).to_owned(), data);
    }
    Ok(files
        .iter()
        .zip(sizes)
        .map(|(e, (size, _))| {
            let left = uses.get_mut(e.oid.as_str()).expect("counted above");
            *left -= 1;
            let content = if *left == 0 {
                contents.remove(&e.oid).unwrap_or_default()
            } else {
                contents.get(&e.oid).cloned().unwrap_or_default()
            };
            ChangedFile {
                path: e.path.clone(),
                size,
                content,
            }
        })
        .collect())
}

/// Runs `git cat-file --batch-check` (sizes) or `--batch` (sizes and bytes) over `oids`,
/// writing from a thread so neither pipe can fill up and block the other.
fn batch(oids: &[&str], contents: bool) -> Result<Vec<(u64, Vec<u8>)>> {
    if oids.is_empty() {
        return Ok(Vec::new());
    }
    let mode = if contents { "--batch" } else { "--batch-check" };
    let mut child = Command::new("git")
        .args(["cat-file", mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let input: String = oids.iter().map(|o| format!("{o}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut results = Vec::with_capacity(oids.len());
    for oid in oids {
        let mut header = String::new();
        out.read_line(&mut header)?;
        let mut parts = header.split_whitespace();
        let (Some(_), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
            bail!("git cat-file: unexpected answer {header:?} for {oid}");
        };
        if kind != "blob" {
            bail!("git cat-file: {oid} is a {kind}, not a blob");
        }
        let size: u64 = size.parse()?;
        let mut data = Vec::new();
        if contents {
            data.resize(size as usize, 0);
            out.read_exact(&mut data)?;
            let mut lf = [0u8; 1];
            out.read_exact(&mut lf)?;
        }
        results.push((size, data));
    }
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("git cat-file writer panicked"))??;
    child.wait()?;
    Ok(results)
}

/// Answers "does this path exist after the push" from git, once per path.
pub struct TreeLookup {
    commit: String,
    cache: RefCell<HashMap<String, bool>>,
}

impl TreeLookup {
    pub fn new(commit: &str) -> Self {
        TreeLookup {
            commit: commit.to_owned(),
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// The bytes of `path` after the push, if it is a file there of at most [`MAX_TEXT`].
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        let spec = format!("{}:{path}", self.commit);
        let size = Command::new("git")
            .args(["cat-file", "-s", &spec])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let size: usize = String::from_utf8_lossy(&size.stdout).trim().parse().ok()?;
        if size > MAX_TEXT {
            return None;
        }
        let out = Command::new("git")
            .args(["cat-file", "blob", &spec])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    pub fn exists(&self, path: &str) -> bool {
        if let Some(hit) = self.cache.borrow().get(path) {
            return *hit;
        }
        let found = Command::new("git")
            .args(["cat-file", "-e", &format!("{}:{path}", self.commit)])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        self.cache.borrow_mut().insert(path.to_owned(), found);
        found
    }
}
