//! A real PostgreSQL server for tests: Debian's `postgresql` package (tests/run.sh installs
//! it), `initdb` into a temp dir and `postgres` on a free 127.0.0.1 port, with trust
//! authentication for the user `modelhub`. Not a mock: the server teams run. Used by the
//! accounts crate's tests on both backends, the end-to-end tests on PostgreSQL and, through
//! the `pg-testkit` binary, the benchmarks.
//!
//! PostgreSQL refuses to run as root: when the tests run as root, the server's commands run
//! as `MODELHUB_TEST_PG_USER` (default `postgres`, which the package creates) through
//! `setpriv`, and the temp dir is handed to that user. The binaries are those in
//! `MODELHUB_TEST_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
#![forbid(unsafe_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// The role every database belongs to.
pub const USER: &str = "modelhub";

pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    /// Whom the server runs as (`None`: as this process's user).
    run_as: Option<String>,
    dir: tempfile::TempDir,
    /// A shell that runs postgres and stops it once this pipe closes: when the server is
    /// stopped, and when the test process ends however it ends.
    child: Option<(Child, ChildStdin)>,
}

/// The folder of `initdb`, `postgres` and `psql`.
pub fn bin_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("MODELHUB_TEST_PG_BIN") {
        return p.into();
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server under /usr/lib/postgresql (tests/run.sh installs Debian's \
             postgresql package; or set MODELHUB_TEST_PG_BIN)"
        ),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl Postgres {
    /// Creates a cluster and starts its server; waits until it takes connections.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let run_as = is_root().then(|| {
            std::env::var("MODELHUB_TEST_PG_USER").unwrap_or_else(|_| "postgres".to_owned())
        });
        let dir = owned_tempdir("pg-");
        if let Some(user) = &run_as {
            let out = Command::new("chown")
                .arg(user)
                .arg(dir.path())
                .output()
                .expect("run chown");
            assert!(
                out.status.success(),
                "chown {user} {}: {}",
                dir.path().display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut pg = Postgres {
            port: free_port(),
            bin,
            run_as,
            dir,
            child: None,
        };
        let data = pg.data_dir();
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pg.restart();
        pg
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `program` of the server's bin dir, run as the server's user.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                // setpriv execs the program itself (no session process in between), so a
                // signal sent to it reaches postgres.
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={user}"))
                    .arg(format!("--regid={user}"))
                    .arg("--clear-groups")
                    .arg(path);
                c.current_dir(self.dir.path());
                c
            }
            None => {
                let mut c = Command::new(path);
                c.current_dir(self.dir.path());
                c
            }
        }
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` and gives its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// Runs one SQL command in database `db` and gives what psql printed (unaligned, tuples
    /// only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(db))
            .args(["-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the server (a fast shutdown: every connection is cut at once, what was not
    /// committed is rolled back).
    pub fn stop(&mut self) {
        if let Some((mut sh, mut stdin)) = self.child.take() {
            let _ = std::io::Write::write_all(&mut stdin, b"keep\n");
            drop(stdin);
            let _ = sh.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "postgres still listens after a stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the server again on the same data and port; waits until it takes connections.
    pub fn restart(&mut self) {
        self.stop();
        let log = self.dir.path().join("postgres.log");
        let data = self.data_dir();
        let mut postgres = self.command("postgres");
        postgres
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            // Throwaway data: durability buys nothing here.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=400"]);
        // A server kept in a static is never dropped: once the test process is gone (its end
        // of the pipe closes), the shell stops postgres and, unless only this server stops,
        // removes the cluster.
        let line = format!(
            "{} & pid=$!; read keep; kill -INT $pid; wait $pid; [ \"$keep\" = keep ] || rm -rf '{}'",
            shell_words(&postgres),
            self.dir.path().display()
        );
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = Command::new("sh")
            .args(["-c", &line])
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("run sh");
        let stdin = child.stdin.take().expect("a piped stdin");
        self.child = Some((child, stdin));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((c, _)) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("postgres exited with {status}: {}", self.log());
                }
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p"])
                .arg(self.port.to_string())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not become ready in 60 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of the server's log.
    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `cmd` as one line for `sh -c`, each word single-quoted.
fn shell_words(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|w| format!("'{}'", w.to_string_lossy().replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((mut sh, stdin)) = self.child.take() {
            drop(stdin);
            let _ = sh.wait();
        }
    }
}

/// A temp dir for a server this process runs, under `modelhub-testkit` in the system's temp
/// dir, marked with this process's id. A test run's servers live in statics, which are never
/// dropped, so their dirs outlive the run: dirs whose process is gone are removed first.
fn owned_tempdir(prefix: &str) -> tempfile::TempDir {
    let parent = std::env::temp_dir().join("modelhub-testkit");
    std::fs::create_dir_all(&parent).expect("the testkit folder");
    for e in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
        let owner = std::fs::read_to_string(e.path().join("owner.pid")).ok();
        if owner.is_some_and(|p| !std::path::Path::new("/proc").join(p.trim()).exists()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&parent)
        .expect("a temp dir");
    std::fs::write(dir.path().join("owner.pid"), std::process::id().to_string())
        .expect("the owner's pid");
    dir
}
