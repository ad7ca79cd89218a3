//! The real modelhub binary on 127.0.0.1:0 with its own data dir, driven by the real git under
//! a scrubbed environment (temporary HOME, no system config, fixed identities and dates).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_modelhub");

pub struct Server {
    pub url: String,
    pub addr: String,
    pub dir: tempfile::TempDir,
    child: Child,
    /// The content store it runs on.
    pub storage: Storage,
    /// Its PostgreSQL database's URL, when the run is on PostgreSQL (else SQLite in the data
    /// dir).
    pub database: Option<String>,
}

/// Which content store the servers of this test run use: local disk, or a bucket of a real
/// S3 server (SeaweedFS) when `MODELHUB_TEST_STORAGE=s3` (tests/run.sh runs the end-to-end
/// tests once each way).
#[derive(Clone, Debug)]
pub enum Storage {
    Local,
    /// `s3://modelhub/PREFIX`, a prefix of its own per server, on the server at `endpoint`.
    S3 {
        url: String,
        prefix: String,
        endpoint: String,
    },
}

pub fn on_s3() -> bool {
    std::env::var("MODELHUB_TEST_STORAGE").is_ok_and(|v| v == "s3")
}

/// The test run's one S3 server, with the bucket `modelhub`.
pub fn weed() -> &'static s3_testkit::Weed {
    static WEED: std::sync::OnceLock<s3_testkit::Weed> = std::sync::OnceLock::new();
    WEED.get_or_init(|| {
        let w = s3_testkit::Weed::start();
        w.create_bucket("modelhub");
        w
    })
}

/// Whether this run's servers keep their metadata on PostgreSQL (`MODELHUB_TEST_DATABASE=
/// postgres`; tests/run.sh runs the end-to-end tests once on SQLite and local disk, once on
/// PostgreSQL and S3, the way a cluster runs).
pub fn on_postgres() -> bool {
    std::env::var("MODELHUB_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

/// The test run's one PostgreSQL server; each modelhub server has a database of its own.
pub fn postgres() -> &'static pg_testkit::Postgres {
    static PG: std::sync::OnceLock<pg_testkit::Postgres> = std::sync::OnceLock::new();
    PG.get_or_init(pg_testkit::Postgres::start)
}

/// A new database on the run's PostgreSQL server, by URL.
pub fn new_database() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "mh_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    postgres().create_database(&name)
}

impl Storage {
    pub fn for_dir(dir: &Path) -> Storage {
        if !on_s3() {
            return Storage::Local;
        }
        Storage::s3_for_dir(dir, weed())
    }

    /// A prefix of bucket `modelhub` of `w` named after the server's temp dir.
    pub fn s3_for_dir(dir: &Path, w: &s3_testkit::Weed) -> Storage {
        let name = dir.file_name().unwrap().to_string_lossy().to_lowercase();
        let prefix: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        Storage::S3 {
            url: format!("s3://modelhub/{prefix}"),
            prefix,
            endpoint: w.endpoint.clone(),
        }
    }

    /// The `serve` arguments and environment for this store.
    pub fn args(&self) -> (Vec<String>, Vec<(&'static str, String)>) {
        match self {
            Storage::Local => (Vec::new(), Vec::new()),
            Storage::S3 { url, endpoint, .. } => (
                vec![
                    "--storage".into(),
                    url.clone(),
                    "--s3-endpoint".into(),
                    endpoint.clone(),
                ],
                vec![
                    ("AWS_ACCESS_KEY_ID", s3_testkit::ACCESS_KEY.into()),
                    ("AWS_SECRET_ACCESS_KEY", s3_testkit::SECRET_KEY.into()),
                    ("AWS_REGION", "us-east-1".into()),
                ],
            ),
        }
    }
}

impl Server {
    /// A server with user alice, her write token, and her public model repo alice/m.
    pub fn with_alice() -> (Server, String) {
        let s = Server::start();
        s.user("alice");
        let token = s.token("alice", "write");
        s.repo("alice/m", false);
        (s, token)
    }

    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Server {
        Server::start_on(Storage::for_dir, args)
    }

    /// A server on the store `storage` picks for its temp dir.
    pub fn start_on(storage: impl FnOnce(&Path) -> Storage, args: &[&str]) -> Server {
        Server::start_on_database(storage, on_postgres().then(new_database), args)
    }

    /// A server on the store `storage` picks and on the PostgreSQL database `database` (by
    /// URL; `None`: SQLite in its data dir).
    pub fn start_on_database(
        storage: impl FnOnce(&Path) -> Storage,
        database: Option<String>,
        args: &[&str],
    ) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        let storage = storage(dir.path());
        let (child, url, addr) = spawn(
            dir.path(),
            "127.0.0.1:0",
            &storage,
            database.as_deref(),
            args,
        );
        Server {
            url,
            addr,
            dir,
            child,
            storage,
            database,
        }
    }

    /// Kills the server with SIGKILL (a crash: it cleans nothing up) and starts a new one on
    /// the same data dir; returns once the new one listens.
    pub fn crash_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.restart_with(&[]);
    }

    /// Stops the server (SIGKILL) and waits for it to exit.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again (on its data dir and store, with `args`) after it stopped.
    pub fn restart_with(&mut self, args: &[&str]) {
        let (child, url, addr) = spawn(
            self.dir.path(),
            "127.0.0.1:0",
            &self.storage,
            self.database.as_deref(),
            args,
        );
        (self.child, self.url, self.addr) = (child, url, addr);
    }

    /// Starts the server again after it stopped, on the address it had (as a node behind a
    /// load balancer comes back), with `args`.
    pub fn restart_in_place(&mut self, args: &[&str]) {
        let listen = self.addr.clone();
        let (child, url, addr) = spawn(
            self.dir.path(),
            &listen,
            &self.storage,
            self.database.as_deref(),
            args,
        );
        (self.child, self.url, self.addr) = (child, url, addr);
    }
}

/// Starts `modelhub serve` on the data dir under `dir`; returns it with its URL and address.
fn spawn(
    dir: &Path,
    listen: &str,
    storage: &Storage,
    database: Option<&str>,
    args: &[&str],
) -> (Child, String, String) {
    // The log is appended to, so a restarted server's lines follow the crashed one's.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .unwrap();
    let (storage_args, storage_env) = storage.args();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", listen])
        .args(storage_args)
        .args(args)
        .envs(storage_env)
        .envs(database.map(|d| ("MODELHUB_DATABASE", d)))
        .env("MODELHUB_DATA_DIR", dir.join("data"))
        .env("HOME", dir.join("home"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start modelhub serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("modelhub listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let addr = url.trim_start_matches("http://").to_owned();
    (child, url, addr)
}

impl Server {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory so far, in KiB (Linux's VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs `modelhub ARGS` against this server's data dir and database.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("MODELHUB_DATA_DIR", self.data_dir())
            .envs(self.database.as_deref().map(|d| ("MODELHUB_DATABASE", d)))
            .output()
            .unwrap()
    }

    /// The server's database, as the accounts crate opens it.
    pub fn accounts_db(&self) -> accounts::Database {
        match &self.database {
            Some(url) => accounts::Database::Postgres(url.clone()),
            None => accounts::Database::Sqlite(self.data_dir().join("modelhub.db")),
        }
    }

    /// Every byte the database holds, as far as a reader of its files or a dump sees: the
    /// SQLite file and its WAL, or `pg_dump`'s output.
    pub fn database_bytes(&self) -> Vec<u8> {
        match &self.database {
            Some(url) => {
                let out = Command::new(pg_testkit::bin_dir().join("pg_dump"))
                    .args(["--data-only", "-d", url])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "pg_dump: {}", stderr(&out));
                out.stdout
            }
            None => {
                let mut bytes = std::fs::read(self.data_dir().join("modelhub.db")).unwrap();
                bytes.extend(
                    std::fs::read(self.data_dir().join("modelhub.db-wal")).unwrap_or_default(),
                );
                bytes
            }
        }
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "modelhub {args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn user(&self, name: &str) {
        self.cli_ok(&["user", "create", name]);
    }

    pub fn token(&self, user: &str, role: &str) -> String {
        self.cli_ok(&["token", "create", user, "--role", role])
    }

    pub fn repo(&self, id: &str, private: bool) {
        let mut args = vec!["repo", "create", id];
        if private {
            args.push("--private");
        }
        self.cli_ok(&args);
    }

    /// `http://user:TOKEN@host/PATH`, or the anonymous URL without a token.
    pub fn git_url(&self, path: &str, token: Option<&str>) -> String {
        match token {
            Some(t) => format!("http://hf_user:{t}@{}/{path}", self.addr),
            None => format!("{}/{path}", self.url),
        }
    }

    /// Pushes `HEAD` of the clone at `cwd` to `branch` of model `repo` (numeric id
    /// `repo_id`) straight into its bare repo, with the server's pre-receive hook and the
    /// environment the server gives it, but no server: what a push leaves behind when the
    /// server dies as git finishes it. The server should be stopped.
    pub fn push_behind_the_server(&self, cwd: &Path, repo: &str, repo_id: &str, branch: &str) {
        let data = self.data_dir();
        let (storage_args, storage_env) = self.storage.args();
        let mut env: Vec<(String, String)> = storage_env
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        for pair in storage_args.chunks(2) {
            match pair[0].as_str() {
                "--storage" => env.push(("MODELHUB_STORAGE".into(), pair[1].clone())),
                "--s3-endpoint" => env.push(("MODELHUB_S3_ENDPOINT".into(), pair[1].clone())),
                _ => {}
            }
        }
        if let Some(db) = &self.database {
            env.push(("MODELHUB_DATABASE".into(), db.clone()));
        }
        // As the server runs it: with its hooks (a local push does not pass `-c` on).
        let receive_pack = format!(
            "git -c core.hooksPath={} receive-pack",
            data.join("hooks").display()
        );
        let out = Command::new("git")
            .current_dir(cwd)
            .args(["push", "-q", "--receive-pack", &receive_pack])
            .arg(self.bare_repo(&format!("models/{repo}.git")))
            .arg(format!("HEAD:refs/heads/{branch}"))
            .envs(env)
            .env("MODELHUB_BIN", BIN)
            .env("MODELHUB_DATA_DIR", &data)
            .env("MODELHUB_REPO", repo)
            .env("MODELHUB_REPO_TYPE", "model")
            .env("MODELHUB_REPO_ID", repo_id)
            .env("HOME", self.dir.path().join("home"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn bare_repo(&self, path: &str) -> PathBuf {
        self.data_dir().join("repos").join(path)
    }

    /// The objects stored under `prefix` (`lfs/objects/`, `xet/xorbs/`) on whichever store the
    /// server runs: (last part of the key, size), sorted.
    pub fn stored(&self, prefix: &str) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = match &self.storage {
            Storage::Local => walkdir::WalkDir::new(self.data_dir().join(prefix))
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, e.metadata().unwrap().len())
                })
                .collect(),
            Storage::S3 {
                prefix: p,
                endpoint,
                ..
            } => s3_list(endpoint, &format!("{p}/{prefix}")),
        };
        out.sort();
        out
    }

    /// The bytes stored under `key` (`xet/xorbs/ab/<hash>`), on whichever store.
    pub fn read_stored(&self, key: &str) -> Vec<u8> {
        match &self.storage {
            Storage::Local => std::fs::read(self.data_dir().join(key)).unwrap(),
            Storage::S3 {
                prefix, endpoint, ..
            } => s3_read(endpoint, &format!("{prefix}/{key}")),
        }
    }

    /// Replaces the bytes stored under `key` (tests that damage the store), on whichever store.
    pub fn write_stored(&self, key: &str, bytes: &[u8]) {
        match &self.storage {
            Storage::Local => std::fs::write(self.data_dir().join(key), bytes).unwrap(),
            Storage::S3 {
                prefix, endpoint, ..
            } => s3_write(endpoint, &format!("{prefix}/{key}"), bytes),
        }
    }

    /// Files left in the content store's temp folder (uploads being spooled or written).
    pub fn tmp_leftovers(&self) -> usize {
        std::fs::read_dir(self.data_dir().join("tmp"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

/// Runs `f` with a plain client of bucket `modelhub` at `endpoint` (the test's own client,
/// not the server's).
fn with_bucket<T>(endpoint: &str, f: impl AsyncFnOnce(&dyn content_store::Backend) -> T) -> T {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut cfg = content_store::S3Config::from_url("s3://modelhub").unwrap();
        cfg.endpoint = Some(endpoint.to_owned());
        cfg.credentials = Some((s3_testkit::ACCESS_KEY.into(), s3_testkit::SECRET_KEY.into()));
        let tmp = tempfile::tempdir().unwrap();
        let b = content_store::S3Backend::new(cfg, tmp.path()).unwrap();
        f(&b).await
    })
}

/// Keys (last part) and sizes under `prefix` of the test bucket.
pub fn s3_list(endpoint: &str, prefix: &str) -> Vec<(String, u64)> {
    use futures_util::TryStreamExt;
    with_bucket(endpoint, async |b| {
        let all: Vec<content_store::Listed> = b.list(prefix).try_collect().await.unwrap();
        all.into_iter()
            .map(|l| (l.key.rsplit('/').next().unwrap().to_owned(), l.size))
            .collect()
    })
}

/// The bytes of `key` in the test bucket.
pub fn s3_read(endpoint: &str, key: &str) -> Vec<u8> {
    use futures_util::TryStreamExt;
    with_bucket(endpoint, async |b| {
        let chunks: Vec<bytes::Bytes> =
            b.get(key, None).await.unwrap().try_collect().await.unwrap();
        chunks.concat()
    })
}

/// Replaces `key` in the test bucket with `bytes`.
pub fn s3_write(endpoint: &str, key: &str, bytes: &[u8]) {
    with_bucket(endpoint, async |b| {
        tokio::task::block_in_place(|| b.write_blocking(key, bytes)).unwrap()
    })
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch directory with a HOME of its own for git.
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    pub fn new() -> Work {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Work { dir }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn git(&self, cwd: &str, args: &[&str]) -> Output {
        git_in(&self.path("home"), &self.path(cwd), args)
    }

    pub fn git_ok(&self, cwd: &str, args: &[&str]) -> String {
        let out = self.git(cwd, args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn write(&self, path: &str, content: &[u8]) {
        let p = self.path(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Writes files, commits them all, and returns the new commit id.
    pub fn commit(&self, repo: &str, files: &[(&str, &[u8])], msg: &str) -> String {
        for (name, content) in files {
            self.write(&format!("{repo}/{name}"), content);
        }
        self.git_ok(repo, &["add", "-A"]);
        self.git_ok(repo, &["commit", "-q", "-m", msg]);
        self.git_ok(repo, &["rev-parse", "HEAD"])
    }
}

pub fn git_in(home: &Path, cwd: &Path, args: &[&str]) -> Output {
    std::fs::create_dir_all(cwd).unwrap();
    let mut cmd = Command::new("git");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .current_dir(cwd)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("LC_ALL", "C")
        .output()
        .expect("run git")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether `git fsck --strict` finds every object and ref of a bare repo in order.
pub fn assert_fsck_clean(repo: &Path) {
    let out = git_in(
        repo,
        repo,
        &["fsck", "--strict", "--no-dangling", "--no-progress"],
    );
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "git fsck {}: {}{}",
        repo.display(),
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}

/// Every bare repo under a data dir.
pub fn all_bare_repos(data_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for t in ["models", "datasets", "spaces"] {
        let Ok(namespaces) = std::fs::read_dir(data_dir.join("repos").join(t)) else {
            continue;
        };
        for ns in namespaces {
            for repo in std::fs::read_dir(ns.unwrap().path()).unwrap() {
                out.push(repo.unwrap().path());
            }
        }
    }
    out
}

/// A raw HTTP/1.1 exchange, byte for byte as given, so tests can send what no client would.
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` and reads the answer. The request is written from another thread while
/// the answer is read, so a server that answers before reading the whole body (a refusal
/// after the first megabytes) is heard rather than seen as a broken pipe.
pub fn raw(addr: &str, request: &[u8]) -> RawResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let request = request.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&request);
    });
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> RawResponse {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = buf[end + 4..].to_vec();
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding") && l.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    RawResponse { status, head, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..pos]).unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[pos + 2..pos + 2 + size]);
        b = &b[pos + 2 + size + 2..];
    }
    out
}

/// A GET or POST with `Connection: close`, extra headers, and a body with Content-Length.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_length = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    if matches!(method, "POST" | "PUT") && !has_length {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut out = r.into_bytes();
    out.extend_from_slice(body);
    out
}

/// `METHOD PATH` with a JSON body and a bearer token; the status and body.
pub fn api(
    s: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    api_at(&s.addr, method, path, token, body)
}

/// [`api`] at an address (a server or a load balancer in front of servers).
pub fn api_at(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let length = body.len().to_string();
    if method == "DELETE" {
        headers.push(("Content-Length", length.as_str()));
    }
    let r = raw(addr, &request(method, path, &headers, body));
    (r.status, r.text())
}

pub fn basic(token: &str) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(format!("hf_user:{token}"));
    format!("Basic {b}")
}

/// An HTTP exchange with JSON in and out (for the LFS and, later, the Hub APIs).
pub fn json_request(
    addr: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &serde_json::Value,
) -> (u16, serde_json::Value, RawResponse) {
    let bytes = serde_json::to_vec(body).unwrap();
    let auth = auth.map(basic);
    let mut headers = vec![
        ("Content-Type", "application/vnd.git-lfs+json"),
        ("Accept", "application/vnd.git-lfs+json"),
    ];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let body = if method == "GET" { &[][..] } else { &bytes[..] };
    let r = raw(addr, &request(method, path, &headers, body));
    let v = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, v, r)
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Deterministic pseudo-random bytes (xorshift), so a test's data is the same on every run.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The repository's fixtures folder (model repos good and bad, weights files).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}
