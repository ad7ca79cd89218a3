//! What only the S3 backend has: start-up checks of the bucket, presigned direct downloads,
//! an object store going down mid-upload, a server killed mid-upload, and `storage migrate`.
//! Every server here runs on a real SeaweedFS. These tests run in the S3 pass of the suite
//! (`MODELHUB_TEST_STORAGE=s3`, the second pass of tests/run.sh).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;
use crate::hub_api::{hub_script, hub_script_xet};
use crate::lfs::{batch, get, href_path, upload};

/// Whether this is the S3 pass; the local pass leaves these tests to it.
fn s3_pass() -> bool {
    if !on_s3() {
        eprintln!("runs in the S3 pass (MODELHUB_TEST_STORAGE=s3)");
    }
    on_s3()
}

/// `modelhub serve` on a bucket, expected to refuse to start: its exit and stderr.
fn refused_start(storage: &str, endpoint: &str, secret: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--storage", storage])
        .args(["--s3-endpoint", endpoint])
        .env("MODELHUB_DATA_DIR", dir.path().join("data"))
        .env("AWS_ACCESS_KEY_ID", s3_testkit::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.success(), stderr(&out))
}

#[test]
fn a_bucket_that_cannot_be_used_stops_the_server_with_a_one_line_reason() {
    if !s3_pass() {
        return;
    }
    let w = weed();
    let secret = s3_testkit::SECRET_KEY;
    let (ok, err) = refused_start("s3://modelhub/x", &w.endpoint, "not-the-secret");
    assert!(!ok);
    assert!(
        err.contains("cannot use the storage s3://modelhub/x"),
        "{err}"
    );
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    let (ok, err) = refused_start("s3://no-such-bucket", &w.endpoint, secret);
    assert!(!ok);
    assert!(err.contains("NoSuchBucket"), "{err}");
    // Nothing listens on the port of a listener just closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (ok, err) = refused_start(
        "s3://modelhub/x",
        &format!("http://127.0.0.1:{port}"),
        secret,
    );
    assert!(!ok);
    assert!(
        err.contains("cannot use the storage s3://modelhub/x"),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    // The reason is one line (the log lines before it are the client's retries).
    let reasons: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(reasons.len(), 1, "{err}");
    assert!(err.trim_end().ends_with(reasons[0]), "{err}");
}

/// `curl URL`: the status and body.
fn curl(url: &str) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let mut body = out.stdout;
    let tail = body.iter().rposition(|&b| b == b'\n').unwrap();
    let code = String::from_utf8_lossy(&body[tail + 1..]).parse().unwrap();
    body.truncate(tail);
    (code, body)
}

#[test]
fn presigned_downloads_name_one_object_expire_and_are_the_only_way_in() {
    if !s3_pass() {
        return;
    }
    let s = Server::start_with(&["--s3-direct-downloads", "--s3-url-ttl", "3"]);
    s.user("alice");
    let token = s.token("alice", "write");
    s.repo("alice/secret", true);
    let data = noise(3 << 20, 41);
    let other = noise(1000, 42);
    let oid = upload(&s, "alice/secret", &token, &data);
    let other_oid = upload(&s, "alice/secret", &token, &other);

    let (status, v) = batch(
        &s,
        "alice/secret",
        Some(&token),
        "download",
        json!([{ "oid": oid, "size": data.len() }]),
    );
    assert_eq!(status, 200, "{v}");
    let href = v["objects"][0]["actions"]["download"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let issued = Instant::now();
    assert!(href.starts_with(&weed().endpoint), "{href}");
    let (code, body) = curl(&href);
    assert_eq!(code, 200);
    assert!(body == data, "the presigned download differs");
    // Edited to name another object, the signature no longer holds.
    let edited = href.replace(&oid, &other_oid);
    assert_ne!(edited, href);
    assert_eq!(curl(&edited).0, 403);
    // Without a signature the bucket answers nobody.
    let plain = href.split('?').next().unwrap();
    assert_eq!(curl(plain).0, 403);
    // An anonymous batch of a private repo gets no URL at all, only the request for
    // credentials git-lfs answers (as for a repo that does not exist).
    let (status, v) = batch(
        &s,
        "alice/secret",
        None,
        "download",
        json!([{ "oid": oid, "size": data.len() }]),
    );
    assert_eq!(status, 401, "{v}");
    assert!(!v.to_string().contains("http"), "{v}");

    // huggingface_hub follows resolve's redirect to the store, sending it no token.
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("w.bin"), &data).unwrap();
    let out = hub_script(
        &s,
        Some(&token),
        &format!(
            "from huggingface_hub import HfApi, hf_hub_download\n\
             HfApi().upload_file(path_or_fileobj={src:?}, path_in_repo='w.bin', repo_id='alice/secret')\n\
             p = hf_hub_download('alice/secret', 'w.bin', local_dir={dst:?})\n\
             print(open(p, 'rb').read() == open({src:?}, 'rb').read())",
            src = work.path().join("w.bin").display().to_string(),
            dst = work.path().join("dl").display().to_string(),
        ),
    );
    assert_eq!(out.trim(), "True", "{out}");
    let bearer = format!("Bearer {token}");
    let r = get(
        &s,
        "/alice/secret/resolve/main/w.bin",
        &[("Authorization", &bearer)],
    );
    assert_eq!(r.status, 302);
    assert!(r.header("location").unwrap().starts_with(&weed().endpoint));
    assert_eq!(r.header("x-linked-size"), Some(data.len().to_string()));
    // Anonymous, the private file is missing, with no URL given away.
    let r = get(&s, "/alice/secret/resolve/main/w.bin", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("location"), None);

    // Past its lifetime the URL is refused.
    let ttl = Duration::from_secs(3);
    if let Some(left) = ttl.checked_sub(issued.elapsed()) {
        std::thread::sleep(left + Duration::from_secs(1));
    }
    assert_eq!(curl(&href).0, 403);
}

#[test]
fn xet_downloads_come_straight_from_the_store_range_by_signed_range() {
    if !s3_pass() {
        return;
    }
    let s = Server::start_with(&["--s3-direct-downloads"]);
    s.user("alice");
    let token = s.token("alice", "write");
    s.repo("alice/x", true);
    let work = tempfile::tempdir().unwrap();
    let data = noise(5 << 20, 43);
    std::fs::write(work.path().join("model.bin"), &data).unwrap();
    let (out, err) = hub_script_xet(
        &s,
        Some(&token),
        &format!(
            "from huggingface_hub import HfApi, hf_hub_download\n\
             HfApi().upload_file(path_or_fileobj={src:?}, path_in_repo='model.bin', repo_id='alice/x')\n\
             p = hf_hub_download('alice/x', 'model.bin', local_dir={dst:?})\n\
             print(open(p, 'rb').read() == open({src:?}, 'rb').read())",
            src = work.path().join("model.bin").display().to_string(),
            dst = work.path().join("dl").display().to_string(),
        ),
    );
    assert_eq!(out.trim(), "True", "{out}\n{err}");
    // The bytes came from the store: the server served no xorb range itself.
    assert!(!s.log().contains("/xet-cas/xorb/"), "{}", s.log());
}

/// Sends a PUT of `data` to the LFS upload link for it; the response status and body.
fn put_upload(s: &Server, token: &str, data: &[u8]) -> (u16, String, String) {
    let oid = sha256_hex(data);
    let (status, v) = batch(
        s,
        "alice/m",
        Some(token),
        "upload",
        json!([{ "oid": oid, "size": data.len() }]),
    );
    assert_eq!(status, 200, "{v}");
    let path = href_path(s, &v["objects"][0]["actions"]["upload"]);
    let r = raw(
        &s.addr,
        &request(
            "PUT",
            &path,
            &[("Content-Type", "application/octet-stream")],
            data,
        ),
    );
    let retry = r.header("retry-after").unwrap_or_default();
    (r.status, r.text(), retry)
}

/// Opens an LFS upload of `data` to alice/m and sends the request head; the body is the
/// caller's to send.
fn start_put(s: &Server, token: &str, data: &[u8]) -> TcpStream {
    let (status, v) = batch(
        s,
        "alice/m",
        Some(token),
        "upload",
        json!([{ "oid": sha256_hex(data), "size": data.len() }]),
    );
    assert_eq!(status, 200, "{v}");
    let path = href_path(s, &v["objects"][0]["actions"]["upload"]);
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    write!(
        conn,
        "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        data.len()
    )
    .unwrap();
    conn
}

#[test]
fn an_object_store_that_goes_down_mid_upload_fails_it_cleanly_and_uploads_work_again() {
    if !s3_pass() {
        return;
    }
    // A SeaweedFS of this test's own, to stop.
    let mut w = s3_testkit::Weed::start();
    w.create_bucket("modelhub");
    let mut storage = None;
    let s = Server::start_on(
        |dir| {
            let st = Storage::s3_for_dir(dir, &w);
            storage = Some(st.clone());
            st
        },
        &[],
    );
    let Some(Storage::S3 {
        prefix, endpoint, ..
    }) = storage
    else {
        unreachable!()
    };
    s.user("alice");
    let token = s.token("alice", "write");
    s.repo("alice/m", false);
    let first = noise(1 << 20, 51);
    assert_eq!(put_upload(&s, &token, &first).0, 200);

    let big = noise(40 << 20, 52);
    let oid = sha256_hex(&big);
    let mut conn = start_put(&s, &token, &big);
    conn.write_all(&big[..20 << 20]).unwrap();
    w.stop();
    // The rest may or may not be read: the server answers once the store has failed.
    let _ = conn.write_all(&big[20 << 20..]);
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("storage is temporarily unavailable"),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("retry-after:"),
        "{answer}"
    );

    w.restart();
    let stored = s3_list(&endpoint, &format!("{prefix}/lfs/objects/"));
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].0, sha256_hex(&first));
    let (status, text, _) = put_upload(&s, &token, &big);
    assert_eq!(status, 200, "{text}");
    let stored = s3_list(&endpoint, &format!("{prefix}/lfs/objects/"));
    assert!(
        stored
            .iter()
            .any(|(k, n)| *k == oid && *n == big.len() as u64),
        "{stored:?}"
    );
    assert_eq!(s.tmp_leftovers(), 0);
}

#[test]
fn a_server_killed_mid_upload_leaves_nothing_under_the_final_key() {
    if !s3_pass() {
        return;
    }
    let (mut s, token) = Server::with_alice();
    let Storage::S3 {
        prefix, endpoint, ..
    } = s.storage.clone()
    else {
        unreachable!()
    };
    let big = noise(200 << 20, 61);
    let oid = sha256_hex(&big);
    let mut conn = start_put(&s, &token, &big);
    conn.write_all(&big[..120 << 20]).unwrap();
    // Wait until parts are on their way to the store (the spool holds a part being filled).
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.tmp_leftovers() == 0 {
        assert!(Instant::now() < deadline, "the upload never got under way");
        std::thread::sleep(Duration::from_millis(20));
    }
    s.crash_and_restart();
    drop(conn);
    let stored = s3_list(&endpoint, &format!("{prefix}/lfs/objects/"));
    assert!(stored.is_empty(), "{stored:?}");
    assert_eq!(s.tmp_leftovers(), 0);
    // The upload goes through from scratch.
    assert_eq!(upload(&s, "alice/m", &token, &big), oid);
    let stored = s3_list(&endpoint, &format!("{prefix}/lfs/objects/"));
    assert_eq!(stored, vec![(oid, big.len() as u64)]);
}

#[test]
fn storage_migrate_moves_a_local_store_into_a_bucket_byte_for_byte() {
    if !s3_pass() {
        return;
    }
    // A server on local disk with an LFS object and a Xet-uploaded file.
    let mut s = Server::start_on(|_| Storage::Local, &[]);
    s.user("alice");
    let token = s.token("alice", "write");
    s.repo("alice/m", false);
    let work = tempfile::tempdir().unwrap();
    let lfs_data = noise(2 << 20, 71);
    let xet_data = noise(3 << 20, 72);
    std::fs::write(work.path().join("a.bin"), &lfs_data).unwrap();
    std::fs::write(work.path().join("b.bin"), &xet_data).unwrap();
    let src = |f: &str| work.path().join(f).display().to_string();
    hub_script(
        &s,
        Some(&token),
        &format!(
            "from huggingface_hub import HfApi\n\
             HfApi().upload_file(path_or_fileobj={:?}, path_in_repo='a.bin', repo_id='alice/m')",
            src("a.bin")
        ),
    );
    hub_script_xet(
        &s,
        Some(&token),
        &format!(
            "from huggingface_hub import HfApi\n\
             HfApi().upload_file(path_or_fileobj={:?}, path_in_repo='b.bin', repo_id='alice/m')",
            src("b.bin")
        ),
    );
    let local_objects = s.stored("lfs/objects/").len() + s.stored("xet/").len();
    assert!(!s.stored("xet/xorbs/").is_empty());
    s.stop();

    let w = weed();
    let target = Storage::s3_for_dir(s.dir.path(), w);
    let Storage::S3 { url, .. } = &target else {
        unreachable!()
    };
    let migrate = || {
        let (_, env) = target.args();
        let out = Command::new(BIN)
            .args([
                "storage",
                "migrate",
                "--to",
                url,
                "--s3-endpoint",
                &w.endpoint,
            ])
            .env("MODELHUB_DATA_DIR", s.data_dir())
            .envs(env)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let first = migrate();
    assert!(
        first.contains(&format!(
            "migrated {local_objects} objects to {url}: {local_objects} copied"
        )),
        "{first}"
    );
    // Run again, it copies nothing: what is there is skipped.
    let again = migrate();
    assert!(
        again.contains(&format!("0 copied (0 B), {local_objects} already there")),
        "{again}"
    );

    // The server on the bucket, with the local copies gone, serves both files as they were.
    std::fs::remove_dir_all(s.data_dir().join("lfs")).unwrap();
    std::fs::remove_dir_all(s.data_dir().join("xet")).unwrap();
    s.storage = target;
    s.restart_with(&[]);
    let out = hub_script_xet(
        &s,
        Some(&token),
        &format!(
            "from huggingface_hub import hf_hub_download\n\
             for f in ['a.bin', 'b.bin']:\n\
             \x20   p = hf_hub_download('alice/m', f, local_dir={dst:?})\n\
             \x20   print(open(p, 'rb').read() == open({src:?} + '/' + f, 'rb').read())",
            dst = work.path().join("dl").display().to_string(),
            src = work.path().display().to_string(),
        ),
    )
    .0;
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["True", "True"],
        "{out}"
    );
}

/// git-lfs with direct downloads on: a private repo's objects are pushed through modelhub and
/// cloned straight from the bucket (git-lfs sends the store no credentials of its own).
#[test]
fn git_lfs_clones_straight_from_the_bucket_with_direct_downloads() {
    if !s3_pass() {
        return;
    }
    let s = Server::start_with(&["--s3-direct-downloads"]);
    s.user("alice");
    let token = s.token("alice", "write");
    s.repo("alice/p", true);
    let w = crate::lfs::lfs_work(&s, &token);
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/p", None), "a"]);
    w.git_ok("a", &["lfs", "track", "*.bin"]);
    let data = noise(6 << 20, 81);
    w.write("a/w.bin", &data);
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "weights"]);
    let out = w.git("a", &["push", "origin", "main"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let fresh = crate::lfs::lfs_work(&s, &token);
    fresh.git_ok(".", &["clone", "-q", &s.git_url("alice/p", None), "b"]);
    assert!(
        std::fs::read(fresh.path("b/w.bin")).unwrap() == data,
        "the clone differs"
    );
    // The bytes came from the bucket, not through modelhub's download route.
    let log = s.log();
    let batch = log
        .lines()
        .filter(|l| l.contains("/info/lfs/objects/batch"))
        .count();
    let served = log
        .lines()
        .filter(|l| l.contains("method=GET") && l.contains("/info/lfs/objects/"))
        .count();
    assert!(batch >= 2, "{log}");
    assert_eq!(served, 0, "{log}");
}
