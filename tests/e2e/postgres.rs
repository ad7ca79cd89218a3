//! modelhub on PostgreSQL when the database misbehaves: it cannot be reached at start, it
//! goes down under a running server, it comes back. (Everything else runs on PostgreSQL in
//! the second pass of tests/run.sh.)

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

fn status(s: &Server, path: &str, token: Option<&str>) -> (u16, String) {
    api(s, "GET", path, token, b"")
}

#[test]
fn a_database_that_goes_away_gives_503s_and_the_server_recovers_when_it_returns() {
    if !on_postgres() {
        eprintln!("runs in the PostgreSQL pass (MODELHUB_TEST_DATABASE=postgres)");
        return;
    }
    let mut pg = pg_testkit::Postgres::start();
    let url = pg.create_database("hub");
    let s = Server::start_on_database(Storage::for_dir, Some(url.clone()), &["--db-timeout", "1"]);
    s.user("alice");
    let token = s.token("alice", "write");
    s.repo("alice/m", false);
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&token)), "a"],
    );
    w.commit("a", &[("notes.txt", b"before the outage\n")], "notes");
    w.git_ok("a", &["push", "-q", "origin", "main"]);
    assert_eq!(status(&s, "/readyz", None).0, 200);
    assert_eq!(status(&s, "/api/models/alice/m", None).0, 200);

    pg.stop();
    // A token the server has not seen must be looked up: the database cannot answer, so
    // the request is a 503 to retry, not a 401 that would make a client drop its token.
    let (code, body) = status(
        &s,
        "/api/whoami-v2",
        Some("mh_0123456789abcdef0123456789abcdef0123456789abcdef"),
    );
    assert_eq!(code, 503, "{body}");
    let (code, body) = status(&s, "/readyz", None);
    assert_eq!(
        (code, body.as_str()),
        (503, "not ready: database unavailable\n")
    );
    assert_eq!(status(&s, "/healthz", None).0, 200, "the process is up");
    // A new repo cannot be made; a push is refused without landing anything.
    let out = s.cli(&["--db-timeout", "1", "repo", "create", "alice/other"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cannot open the database postgres://modelhub@127.0.0.1:"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    w.commit("a", &[("notes.txt", b"during the outage\n")], "more notes");
    let out = w.git("a", &["push", "-q", "origin", "main"]);
    assert!(
        !out.status.success(),
        "a push landed with the database down"
    );

    pg.restart();
    // The pool reconnects on its own: the next requests work again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&s, "/readyz", None).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready 30 s after the database returned"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, body) = status(&s, "/api/whoami-v2", Some(&token));
    assert_eq!(code, 200, "{body}");
    w.git_ok("a", &["push", "-q", "origin", "main"]);
    let w2 = Work::new();
    w2.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "b"]);
    assert_eq!(
        std::fs::read(w2.path("b/notes.txt")).unwrap(),
        b"during the outage\n"
    );
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

#[test]
fn a_database_that_cannot_be_reached_stops_the_start_with_a_readable_reason() {
    if !on_postgres() {
        eprintln!("runs in the PostgreSQL pass (MODELHUB_TEST_DATABASE=postgres)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--db-timeout", "2"])
        .env("MODELHUB_DATA_DIR", dir.path().join("data"))
        .env(
            "MODELHUB_DATABASE",
            format!("postgres://hub:s3cret@127.0.0.1:{port}/hub"),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: cannot open the database postgres://hub:***@127.0.0.1:{port}/hub: "
        )),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "the password is not shown: {err}");
    assert!(!err.contains("panicked"), "{err}");
    // And a URL that is not one says so.
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "mysql://x",
        ])
        .env("MODELHUB_DATA_DIR", dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains("--database: \"mysql://x\" is neither sqlite:[PATH] nor a postgres:// URL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn commits_whose_bodies_are_slow_hold_no_database_connection() {
    if !on_postgres() {
        eprintln!("runs in the PostgreSQL pass (MODELHUB_TEST_DATABASE=postgres)");
        return;
    }
    // Three connections for repo locks per node; an outsider opens more commits than that on
    // his own repo and sends their bodies slowly.
    let s = Server::start_with(&["--db-max-connections", "3", "--pack-queue-wait", "120"]);
    s.user("alice");
    s.user("mallory");
    let alice = s.token("alice", "write");
    let mallory = s.token("mallory", "write");
    s.repo("alice/m", false);
    s.repo("mallory/slow", false);
    let auth = format!("Bearer {mallory}");
    let head = crate::cluster::commit_body("x.txt", b"x\n", "");
    let header_line = &head[..head.iter().position(|&b| b == b'\n').unwrap() + 1];
    let length = (header_line.len() + 10_000).to_string();
    let slow: Vec<std::net::TcpStream> = (0..6)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&s.addr).unwrap();
            let mut req = request(
                "POST",
                "/api/models/mallory/slow/commit/main",
                &[
                    ("Authorization", auth.as_str()),
                    ("Content-Type", "application/x-ndjson"),
                    ("Content-Length", length.as_str()),
                ],
                b"",
            );
            req.extend_from_slice(header_line);
            std::io::Write::write_all(&mut c, &req).unwrap();
            c
        })
        .collect();
    let wait_for = Instant::now() + Duration::from_secs(30);
    while !status(&s, "/metrics", None)
        .1
        .lines()
        .any(|l| l.starts_with("modelhub_http_requests_in_flight{family=\"api\"} 6"))
    {
        assert!(
            Instant::now() < wait_for,
            "the slow commits never reached the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Everyone else's ref changes go on at once (had the slow commits taken the lock slots,
    // these would wait the whole 120 s queue wait, past the test client's 30 s).
    let main = serde_json::from_str::<serde_json::Value>(
        &status(&s, "/api/models/alice/m/revision/main", Some(&alice)).1,
    )
    .unwrap()["sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, body) = api(
        &s,
        "POST",
        "/api/models/alice/m/commit/main",
        Some(&alice),
        &crate::cluster::commit_body("one.txt", b"1\n", &main),
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = api(
        &s,
        "POST",
        "/api/models/alice/m/branch/dev",
        Some(&alice),
        b"{}",
    );
    assert_eq!(code, 200, "{body}");
    drop(slow);
}
