//! Hostile and broken requests get a clear 4xx, the server keeps serving, and every repo
//! stays intact.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::*;

const UP_REQ: (&str, &str) = ("Content-Type", "application/x-git-upload-pack-request");
const RECV_REQ: (&str, &str) = ("Content-Type", "application/x-git-receive-pack-request");

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A valid v0 upload-pack request for `want`.
fn want_request(want: &str) -> Vec<u8> {
    let line = format!("want {want} side-band-64k\n");
    let mut r = format!("{:04x}{line}", line.len() + 4).into_bytes();
    r.extend_from_slice(b"00000009done\n");
    r
}

#[test]
fn bad_paths_services_and_bodies_get_clear_4xx() {
    let s = Server::start();
    s.user("alice");
    let token = s.token("alice", "write");
    let auth = basic(&token);
    s.repo("alice/m", false);
    let w = Work::new();
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "a"]);
    let head = w.git_ok("a", &["rev-parse", "HEAD"]);

    let long = "x".repeat(200);
    let paths = [
        "/alice/..%2f..%2fetc/info/refs?service=git-upload-pack".to_owned(),
        "/%2e%2e/m/info/refs?service=git-upload-pack".to_owned(),
        "/alice/%2e%2e/info/refs?service=git-upload-pack".to_owned(),
        "/alice/a%2fb/info/refs?service=git-upload-pack".to_owned(),
        "/alice/%2Fetc%2Fpasswd/info/refs?service=git-upload-pack".to_owned(),
        "/alice/m%00/info/refs?service=git-upload-pack".to_owned(),
        "/alice/m%0a/info/refs?service=git-upload-pack".to_owned(),
        "/alice/m%1b[31m/info/refs?service=git-upload-pack".to_owned(),
        "/alice/%ff%fe/info/refs?service=git-upload-pack".to_owned(),
        format!("/alice/{long}/info/refs?service=git-upload-pack"),
    ];
    for p in &paths {
        let r = raw(&s.addr, &request("GET", p, &[], b""));
        assert_eq!(r.status, 400, "{p}: {}", r.text());
    }
    // Paths that leave the route table, including absolute ones, are simply not found.
    for p in [
        "//etc/passwd/info/refs?service=git-upload-pack",
        "/etc/passwd",
        "/alice/m/objects/info/packs",
    ] {
        let r = raw(&s.addr, &request("GET", p, &[], b""));
        assert_eq!(r.status, 404, "{p}");
    }
    // A raw NUL or control character in the request line is refused by the HTTP parser.
    let r = raw(
        &s.addr,
        b"GET /alice/m\0/info/refs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 400);

    // Unknown or missing services: the dumb protocol is not served.
    for q in ["?service=git-upload-archive", "", "?service=../../bin/sh"] {
        let r = raw(
            &s.addr,
            &request("GET", &format!("/alice/m/info/refs{q}"), &[], b""),
        );
        assert_eq!(r.status, 403, "{q}");
        assert!(r.text().contains("smart HTTP"), "{}", r.text());
    }

    let post = |path: &str, headers: &[(&str, &str)], body: &[u8]| {
        raw(&s.addr, &request("POST", path, headers, body))
    };
    let up = "/alice/m/git-upload-pack";
    let recv = "/alice/m/git-receive-pack";
    // Wrong content type.
    assert_eq!(
        post(up, &[("Content-Type", "text/plain")], b"0000").status,
        415
    );
    // Malformed and truncated pkt-lines.
    for body in [
        &b"zzzz"[..],
        b"0003",
        b"00ffwant",
        b"0032want 1234",
        b"",
        b"0009done",
    ] {
        let r = post(up, &[UP_REQ], body);
        assert_eq!(
            r.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            r.text()
        );
    }
    for body in [&b"zzzz"[..], b"0003", b"00ffabc", b""] {
        let r = post(recv, &[RECV_REQ, ("Authorization", &auth)], body);
        assert_eq!(
            r.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            r.text()
        );
    }
    // Gzip: a whole body works, a truncated one is a 400 that says why.
    let good = gzip(&want_request(&head));
    let r = post(up, &[UP_REQ, ("Content-Encoding", "gzip")], &good);
    assert_eq!(r.status, 200);
    assert!(r.body.windows(4).any(|w| w == b"PACK"), "a pack comes back");
    let r = post(
        up,
        &[UP_REQ, ("Content-Encoding", "gzip")],
        &good[..good.len() - 10],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("gzip"), "{}", r.text());
    let r = post(up, &[UP_REQ, ("Content-Encoding", "br")], &good);
    assert_eq!(r.status, 415);
    // A gzip bomb stops at the request limit.
    let bomb = gzip(&vec![b'0'; 64 << 20]);
    assert_eq!(
        post(up, &[UP_REQ, ("Content-Encoding", "gzip")], &bomb).status,
        413
    );
    // A truncated gzip push (receive-pack) is refused before anything is written.
    let cmd = format!("{} {} refs/heads/x\0report-status\n", "0".repeat(40), head);
    let mut push = format!("{:04x}{cmd}0000", cmd.len() + 4).into_bytes();
    push.extend_from_slice(b"PACK\0\0\0\x02\0\0\0\x05garbage");
    let gz = gzip(&push);
    let r = post(
        recv,
        &[
            RECV_REQ,
            ("Content-Encoding", "gzip"),
            ("Authorization", &auth),
        ],
        &gz[..gz.len() - 8],
    );
    assert_eq!(r.status, 400, "{}", r.text());

    // The server still serves, and every repo is intact.
    w.commit("a", &[("ok", b"ok")], "still works");
    w.git_ok(
        "a",
        &["push", "-q", &s.git_url("alice/m", Some(&token)), "main"],
    );
    assert!(!w
        .git_ok("a", &["ls-remote", "origin"])
        .contains("refs/heads/x"));
    for repo in all_bare_repos(&s.data_dir()) {
        assert_fsck_clean(&repo);
    }
}

#[test]
fn a_busy_repo_answers_with_a_message_not_a_hang() {
    let s = Server::start_with(&[
        "--max-pack-ops-per-repo",
        "1",
        "--pack-queue-wait",
        "0",
        "--io-timeout",
        "3",
    ]);
    s.user("alice");
    let token = s.token("alice", "write");
    s.repo("alice/m", false);
    let w = Work::new();
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "a"]);
    let head = w.git_ok("a", &["rev-parse", "HEAD"]);

    // A push that sends its ref updates, then stalls: it holds the repo's only slot.
    let mut hold = TcpStream::connect(&s.addr).unwrap();
    let cmd = format!(
        "{head} {} refs/heads/x\0report-status side-band-64k\n",
        "1".repeat(40)
    );
    let pkt = format!("{:04x}{cmd}0000", cmd.len() + 4);
    let head_req = format!(
        "POST /alice/m/git-receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Type: application/x-git-receive-pack-request\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{pkt}\r\n",
        basic(&token),
        pkt.len()
    );
    hold.write_all(head_req.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(500));

    // The ref advertisement takes a slot too (each one forks git), so it is turned away
    // with the same readable message.
    let r = raw(
        &s.addr,
        &request(
            "GET",
            "/alice/m/info/refs?service=git-upload-pack",
            &[],
            b"",
        ),
    );
    assert!(
        r.text().contains("ERR modelhub: alice/m is busy"),
        "{}",
        r.text()
    );
    let out = w.git(".", &["clone", "-q", &s.git_url("alice/m", None), "b"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("remote error: modelhub: alice/m is busy"),
        "{err}"
    );

    // The stalled push is cut off after 3 s of silence (an inactivity timeout, not a
    // wall-clock cap), with a 408, and the slot is free again.
    hold.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut hold, &mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let mut ok = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let out = w.git(".", &["clone", "-q", &s.git_url("alice/m", None), "c"]);
        if out.status.success() {
            ok = true;
            break;
        }
    }
    assert!(ok, "the repo stays busy after the stalled push went away");
    assert_fsck_clean(&s.bare_repo("models/alice/m.git"));
}

#[test]
fn endless_lists_and_bombs_are_refused_with_bounded_work() {
    let (s, token) = Server::with_alice();
    let auth = basic(&token);
    let post = |path: &str, headers: &[(&str, &str)], body: &[u8]| {
        let mut h = vec![("Authorization", auth.as_str())];
        h.extend_from_slice(headers);
        raw(&s.addr, &request("POST", path, &h, body))
    };
    // A gzip bomb in a push is inflated a little at a time: the server's peak memory
    // (measured first, before the big requests below) barely moves for the bomb's 256 MiB.
    let before = s.peak_rss_kib();
    let head = "1".repeat(40);
    let recv = "/alice/m/git-receive-pack";
    let cmd = format!("{} {head} refs/heads/x\0report-status\n", "0".repeat(40));
    let mut body = format!("{:04x}{cmd}0000", cmd.len() + 4).into_bytes();
    body.extend_from_slice(b"PACK\0\0\0\x02\0\0\0\x05");
    body.extend(std::iter::repeat_n(0u8, 256 << 20));
    let r = post(
        recv,
        &[RECV_REQ, ("Content-Encoding", "gzip")],
        &gzip(&body),
    );
    assert!(r.status < 500, "{}", r.text());
    let grown = s.peak_rss_kib().saturating_sub(before);
    // (Inflating whole network chunks at once grew it by about 33 MiB; a step at a time, 3.)
    assert!(
        grown < 16 << 10,
        "a gzip bomb grew the server by {grown} KiB"
    );

    let ndjson = ("Content-Type", "application/x-ndjson");
    let commit = "/api/models/alice/m/commit/main";
    // 16 MiB of newlines: refused once the line count passes its limit.
    let r = post(commit, &[ndjson], &vec![b'\n'; 16 << 20]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("more than 100000 lines"), "{}", r.text());
    // One endless line: refused once it passes the line limit.
    let r = post(commit, &[ndjson], &vec![b'x'; 33 << 20]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("line 1 is over"), "{}", r.text());

    // A push naming more refs than a push may update.
    let mut push = Vec::new();
    for i in 0..5001 {
        let cmd = format!("{} {head} refs/tags/t{i}\n", "0".repeat(40));
        push.extend_from_slice(format!("{:04x}{cmd}", cmd.len() + 4).as_bytes());
    }
    push.extend_from_slice(b"0000");
    let r = post(recv, &[RECV_REQ], &push);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("at most 5000 refs"), "{}", r.text());

    // Nothing moved; the server still serves.
    let w = Work::new();
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "a"]);
    let refs = w.git_ok("a", &["ls-remote", "origin"]);
    assert!(
        !refs.contains("refs/tags/") && !refs.contains("refs/heads/x"),
        "{refs}"
    );
}

#[test]
fn dot_git_paths_and_control_characters_are_refused_on_every_write_route() {
    let (s, token) = Server::with_alice();
    let bare = s.bare_repo("models/alice/m.git");
    let refs_before = git_in(&bare, &bare, &["for-each-ref"]).stdout;
    // A push of a tree holding `.GIT/config` (what a case-insensitive checkout writes into
    // the clone's own .git) or `git~1/config` (its short name on Windows).
    for bad in [
        ".GIT/config",
        "git~1/config",
        "sub/.Git/hooks/post-checkout",
    ] {
        let w = Work::new();
        w.git_ok(
            ".",
            &["clone", "-q", &s.git_url("alice/m", Some(&token)), "a"],
        );
        // git's index refuses such paths; mktree writes them as a crafted client would.
        std::fs::write(
            w.path("payload"),
            b"[core]\n\tfsmonitor = touch /tmp/pwned\n",
        )
        .unwrap();
        let mut entry = format!(
            "100644 blob {}",
            w.git_ok(
                "a",
                &["hash-object", "-w", w.path("payload").to_str().unwrap()]
            )
        );
        let parts: Vec<&str> = bad.split('/').collect();
        for (i, name) in parts.iter().enumerate().rev() {
            let mut listing = format!("{entry}\t{name}\n");
            if i == 0 {
                listing.push_str(&w.git_ok("a", &["ls-tree", "HEAD"]));
                listing.push('\n');
            }
            let tree = mktree(&w, &listing);
            entry = format!("040000 tree {tree}");
        }
        let tree = entry.rsplit(' ').next().unwrap().to_owned();
        let commit = w.git_ok("a", &["commit-tree", &tree, "-p", "HEAD", "-m", "evil"]);
        let out = w.git(
            "a",
            &["push", "origin", &format!("{commit}:refs/heads/main")],
        );
        let err = stderr(&out);
        assert!(!out.status.success(), "{bad} was accepted: {err}");
        // git's own fsck (receive.fsckObjects) refuses these before the hook, whose
        // identical rule stands behind it.
        assert!(
            err.contains("hasDotgit") || err.contains("names the repository's .git folder"),
            "{bad}: {err}"
        );
    }
    // The commit API, for additions, copies and deletions alike.
    let script = r#"
from huggingface_hub import HfApi, CommitOperationAdd, CommitOperationCopy
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
for name, ops in [
    ("add", [CommitOperationAdd(".GIT/config", b"x")]),
    ("short", [CommitOperationAdd("git~1/config", b"x")]),
    ("copy", [CommitOperationCopy(".gitattributes", ".git./config")]),
]:
    try:
        api.create_commit("alice/m", operations=ops, commit_message=name)
        print(name, "accepted")
    except HfHubHTTPError as e:
        print(name, e.response.status_code, str(e).replace(chr(10), " | "))
for name, call in [
    ("message", lambda: api.create_commit("alice/m", operations=[CommitOperationAdd("ok.txt", b"x")], commit_message="a\x00b")),
    ("tag-message", lambda: api.create_tag("alice/m", tag="v1", tag_message="bad\x00tag")),
]:
    try:
        call()
        print(name, "accepted")
    except HfHubHTTPError as e:
        print(name, e.response.status_code)
"#;
    let out = crate::hub_api::hub_script(&s, Some(&token), script);
    for name in ["add", "short", "copy"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{name} 422")) && l.contains(".git folder")),
            "{name}: {out}"
        );
    }
    assert!(
        out.contains("message 400") && out.contains("tag-message 400"),
        "{out}"
    );
    // Ref names with NUL or control characters, in every route that takes one: a 400 for a
    // write, the Hub's "revision not found" for a read; never a 500.
    let auth = format!("Bearer {token}");
    for (method, path, body, want) in [
        ("POST", "/api/models/alice/m/branch/a%00b", "{}", 400),
        ("POST", "/api/models/alice/m/branch/a%1bb", "{}", 400),
        ("DELETE", "/api/models/alice/m/branch/a%00b", "", 400),
        ("DELETE", "/api/models/alice/m/tag/a%0ab", "", 400),
        (
            "POST",
            "/api/models/alice/m/tag/main",
            "{\"tag\": \"a\\u0000b\"}",
            400,
        ),
        ("GET", "/api/models/alice/m/revision/a%00b", "", 404),
        ("GET", "/alice/m/resolve/a%00b/README.md", "", 404),
    ] {
        let r = raw(
            &s.addr,
            &request(
                method,
                path,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                body.as_bytes(),
            ),
        );
        assert_eq!(r.status, want, "{method} {path}: {}", r.text());
    }
    // Nothing moved.
    assert_eq!(git_in(&bare, &bare, &["for-each-ref"]).stdout, refs_before);
}

/// `git mktree` in `w`'s clone `a`, fed `listing`; returns the tree id.
fn mktree(w: &Work, listing: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .args(["mktree"])
        .current_dir(w.path("a"))
        .env("HOME", w.path("home"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(listing.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "mktree: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Whether the server closes `conn` (EOF, or an answer then EOF) within `secs` seconds.
fn closed_by_server(conn: &mut TcpStream, secs: u64) -> bool {
    conn.set_read_timeout(Some(Duration::from_secs(secs)))
        .unwrap();
    let mut buf = Vec::new();
    std::io::Read::read_to_end(conn, &mut buf).is_ok()
}

#[test]
fn idle_and_slow_clients_cannot_starve_the_server_and_a_stop_is_bounded() {
    let mut s = Server::start_with(&[
        "--header-timeout",
        "2",
        "--max-connections",
        "40",
        "--shutdown-grace",
        "2",
    ]);
    s.user("alice");
    s.repo("alice/m", false);
    // 300 connections that never send a byte, far more than the server serves at once.
    let mut idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(&s.addr).unwrap())
        .collect();
    // A slow client dribbling its headers.
    let mut slow = TcpStream::connect(&s.addr).unwrap();
    slow.write_all(b"GET /api/models HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // A real client still gets through: the idle ones are cut after their header time.
    let w = Work::new();
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "a"]);
    assert!(
        closed_by_server(&mut idle[0], 30),
        "an idle connection stayed open"
    );
    assert!(closed_by_server(&mut slow, 30), "a slow header stayed open");
    // A kept-alive connection that goes quiet after a request is closed too.
    let mut keep = TcpStream::connect(&s.addr).unwrap();
    keep.write_all(b"GET /api/models HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(
        closed_by_server(&mut keep, 30),
        "an idle keep-alive stayed open"
    );
    drop(idle);

    // A stop with a request whose body never comes: the server exits after its grace.
    let mut stuck = TcpStream::connect(&s.addr).unwrap();
    stuck
        .write_all(b"POST /api/repos/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        .unwrap();
    // The stop must find it in flight: wait until the server is handling it (the idle
    // connections may still sit in the listen queue ahead of it).
    let wait_for = std::time::Instant::now() + Duration::from_secs(30);
    while !raw(&s.addr, &request("GET", "/metrics", &[], b""))
        .text()
        .lines()
        .any(|l| l.starts_with("modelhub_http_requests_in_flight{family=\"api\"} 1"))
    {
        assert!(
            std::time::Instant::now() < wait_for,
            "the stuck request never reached the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = s.wait();
    assert!(
        std::time::Instant::now() < deadline,
        "the server took more than 30 s to stop"
    );
    assert!(exit.success(), "{exit:?}");
    assert!(s.log().contains("cut off"), "{}", s.log());
    drop(stuck);
}

/// Reads one answer (head and a Content-Length body) from a kept-alive connection.
fn read_answer(conn: &mut TcpStream) -> RawResponse {
    use std::io::Read;
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = conn.read(&mut byte).unwrap();
        assert_eq!(n, 1, "the connection closed mid-head: {buf:?}");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .expect("a Content-Length");
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).unwrap();
    RawResponse {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        head: head.trim_end().to_owned(),
        body,
    }
}

#[test]
fn an_answer_given_before_the_body_is_read_closes_the_connection_and_says_so() {
    let s = Server::start();
    s.user("alice");
    s.repo("alice/pub", false);
    s.repo("alice/priv", true);
    let form = b"paths=README.md";
    let post = |repo: &str, body: &[u8], declared: usize| {
        let mut r = format!(
            "POST /api/models/{repo}/paths-info/main HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {declared}\r\n\r\n"
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    // A request whose body is read: the connection stays open for the next one.
    conn.write_all(&post("alice/pub", form, form.len()))
        .unwrap();
    let first = read_answer(&mut conn);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("connection"), None, "{}", first.head);
    // A refusal before the body is wanted (the repo is not visible): the answer says
    // `Connection: close`, so a client does not reuse a connection the server then shuts,
    // and the connection does end.
    conn.write_all(&post("alice/priv", b"", form.len()))
        .unwrap();
    let second = read_answer(&mut conn);
    assert_eq!(second.status, 404, "{}", second.text());
    assert_eq!(
        second.header("connection").as_deref(),
        Some("close"),
        "{}",
        second.head
    );
    assert!(
        closed_by_server(&mut conn, 30),
        "the connection stayed open"
    );
}
