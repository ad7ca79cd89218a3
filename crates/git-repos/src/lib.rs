//! Bare git repos on disk: where they live, how they are created, which hooks they run, how
//! `git upload-pack` / `git receive-pack` are spawned to serve them, and the small files of
//! their whole history (`history`: where LFS pointers are found), their size on disk, and
//! rewriting every ref's history without given LFS files (`purge`, by fast-export/import);
//! pull requests' refs, diffs, conflicts and merges without a work tree (`pulls`); another
//! hub's repo fetched into a staging repo and landed all at once (`mirror`).
//!
//! The git protocol itself is git's: this crate spawns git (as git http-backend, Gitea and
//! Gitaly do) and hands the child's pipes to the caller to stream. It knows nothing of HTTP or
//! of accounts; the caller passes the pusher's identity as hook environment.
#![forbid(unsafe_code)]

mod commit;
mod create;
mod history;
mod manage;
mod mirror;
mod pulls;
mod purge;
mod read;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use hub_types::RepoRef;
use tokio::process::{Child, Command};

pub use commit::{CommitBuilder, CommitError, CommitRequest, NewRef, Op};
pub use create::DEFAULT_GITATTRIBUTES;
pub use manage::{valid_message, valid_ref_name, RefUpdateError};
pub use mirror::RefChange;
pub use pulls::{Diff, MergeError};
pub use read::{
    check_revision, CommitInfo, EntryKind, ReadError, Reader, ReaderCache, RefInfo, TreeEntry,
};

/// The shim git runs before accepting a push; it execs `modelhub hook pre-receive`.
pub const PRE_RECEIVE_SHIM: &str = include_str!("../../../hooks/pre-receive");

/// The branch every repo starts with and that clients check out.
pub const DEFAULT_BRANCH: &str = "main";

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("the repo already exists on disk at {0}")]
    Exists(PathBuf),
    #[error("git {args} failed: {stderr}")]
    Git { args: String, stderr: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The two services of git's smart protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "git-upload-pack" => Some(Service::UploadPack),
            "git-receive-pack" => Some(Service::ReceivePack),
            _ => None,
        }
    }

    /// The name in URLs and content types: `git-upload-pack` or `git-receive-pack`.
    pub fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }

    fn subcommand(self) -> &'static str {
        &self.name()[4..]
    }
}

/// Everything a spawned service needs to know about the request.
#[derive(Debug, Default, Clone)]
pub struct ServiceEnv {
    /// The validated `Git-Protocol` header, passed on as `GIT_PROTOCOL`.
    pub git_protocol: Option<String>,
    /// Extra variables for hooks: who pushes, to which repo.
    pub vars: Vec<(String, String)>,
}

/// The bare repos under one directory, laid out as `{models,datasets,spaces}/NS/NAME.git`.
#[derive(Clone)]
pub struct GitRepos {
    root: PathBuf,
    hooks_dir: PathBuf,
    readers: read::ReaderCache,
}

impl std::fmt::Debug for GitRepos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRepos")
            .field("root", &self.root)
            .finish()
    }
}

impl GitRepos {
    /// `root` holds the repos; `hooks_dir` the hooks that git runs for every push to them.
    pub fn new(root: impl Into<PathBuf>, hooks_dir: impl Into<PathBuf>) -> Self {
        GitRepos {
            root: root.into(),
            hooks_dir: hooks_dir.into(),
            readers: read::ReaderCache::default(),
        }
    }

    pub fn path(&self, repo: &RepoRef) -> PathBuf {
        self.root
            .join(repo.repo_type.plural())
            .join(repo.id.namespace.as_str())
            .join(format!("{}.git", repo.id.name))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A reader of the repo at `path` (a path from [`GitRepos::path`]), from the cache.
    pub fn reader(&self, path: &Path) -> Result<Reader, ReadError> {
        self.readers.reader(path)
    }

    /// Writes the server's hooks. Git runs them through `core.hooksPath`, so nothing pushed
    /// into a repo (and nothing in a repo's own `hooks/`) can change what runs.
    pub fn install_hooks(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.hooks_dir)?;
        let target = self.hooks_dir.join("pre-receive");
        let tmp = self.hooks_dir.join(".pre-receive.tmp");
        std::fs::write(&tmp, PRE_RECEIVE_SHIM)?;
        set_executable(&tmp)?;
        std::fs::rename(&tmp, &target)
    }

    /// Spawns `git <service> --stateless-rpc [--advertise-refs] <repo>` with stdin and stdout
    /// piped; stderr is piped too, for the caller to log.
    pub fn spawn(
        &self,
        service: Service,
        repo: &Path,
        advertise_refs: bool,
        env: &ServiceEnv,
    ) -> std::io::Result<Child> {
        let mut cmd = git_command();
        for setting in self.service_config() {
            cmd.arg("-c").arg(setting);
        }
        cmd.arg(service.subcommand()).arg("--stateless-rpc");
        if advertise_refs {
            cmd.arg("--advertise-refs");
        }
        cmd.arg(repo);
        if let Some(p) = &env.git_protocol {
            cmd.env("GIT_PROTOCOL", p);
        }
        for (k, v) in &env.vars {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
    }

    /// The `--receive-pack` command of a push this server makes into its own repos (a
    /// commit, a merge, a mirror's sync): receive-pack with the service settings and hooks.
    pub(crate) fn receive_pack_command(&self) -> String {
        let mut receive_pack = String::from("git");
        for setting in self.service_config() {
            receive_pack.push_str(&format!(
                " -c '{}'",
                setting.to_string_lossy().replace('\'', "'\\''")
            ));
        }
        receive_pack.push_str(" receive-pack");
        receive_pack
    }

    /// The settings every service runs with, set on the command line so that no repo config
    /// can override them.
    fn service_config(&self) -> Vec<OsString> {
        let mut hooks = OsString::from("core.hooksPath=");
        hooks.push(self.hooks_dir.as_os_str());
        let mut out: Vec<OsString> = [
            // Partial clone (--filter=blob:none) and its lazy fetches of single blobs.
            "uploadpack.allowFilter=true",
            "uploadpack.allowReachableSHA1InWant=true",
            // `git push -o` and `git push --atomic`.
            "receive.advertisePushOptions=true",
            "receive.advertiseAtomic=true",
            // Malformed objects never land.
            "receive.fsckObjects=true",
            // Keep a record of every ref change, so a force push loses nothing for good.
            "core.logAllRefUpdates=always",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        out.push(hooks);
        out
    }
}

/// Bytes the files under `path` (a bare repo) take, summed; symbolic links are not followed.
/// Blocking: call it off the runtime's workers.
pub fn disk_usage(path: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    let mut dirs = vec![path.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                dirs.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

/// A `git` command whose environment carries no `GIT_*` variable of the server's own, so a
/// stray `GIT_DIR` or `GIT_OBJECT_DIRECTORY` can never point a service at another repo.
pub fn git_command() -> Command {
    let mut cmd = Command::new("git");
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        let keep = matches!(
            k.as_ref(),
            "GIT_EXEC_PATH" | "GIT_CONFIG_NOSYSTEM" | "GIT_CONFIG_GLOBAL"
        ) || k.starts_with("GIT_TRACE");
        if k.starts_with("GIT_") && !keep {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd
}

#[cfg(unix)]
fn set_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> std::io::Result<()> {
    Ok(())
}
