//! The admin commands and the server's life cycle, as an operator uses them.

use std::process::Command;

use crate::harness::*;

#[test]
fn names_are_checked_with_a_reason() {
    let s = Server::start();
    let cases: [(&[&str], &str); 7] = [
        (&["user", "create", "a--b"], "'--' or '..'"),
        (&["user", "create", "--", "-x"], "must not start or end"),
        (&["user", "create", "spaces"], "reserved"),
        (&["user", "create", "caf\u{e9}"], "only letters, digits"),
        (
            &["repo", "create", "nobody/m"],
            "no user or organisation named \"nobody\"",
        ),
        (&["repo", "create", "just-a-name"], "NAMESPACE/NAME"),
        (
            &["org", "add-member", "acme", "bob", "--role", "owner"],
            "invalid value 'owner'",
        ),
    ];
    let long = "y".repeat(97);
    for (args, reason) in cases
        .iter()
        .copied()
        .chain([(&["user", "create", long.as_str()][..], "at most 96")])
    {
        let out = s.cli(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr(&out).contains(reason), "{args:?}: {}", stderr(&out));
    }
    s.user("alice");
    let out = s.cli(&["user", "create", "ALICE"]);
    assert!(stderr(&out).contains("already taken"), "{}", stderr(&out));
}

#[test]
fn token_is_printed_alone_and_stored_hashed() {
    let s = Server::start();
    s.user("alice");
    let out = s.cli(&[
        "token", "create", "alice", "--role", "write", "--name", "laptop",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim();
    assert_eq!(stdout, format!("{token}\n"), "the token alone on stdout");
    assert!(token.starts_with("mh_") && token.len() > 40);
    let stored = s.database_bytes();
    assert!(
        stored.windows(b"laptop".len()).any(|w| w == b"laptop"),
        "the dump holds the token's row"
    );
    assert!(
        !stored.windows(token.len()).any(|w| w == token.as_bytes()),
        "token stored in clear"
    );
}

#[test]
fn first_start_creates_the_data_dir_and_sigterm_stops_cleanly() {
    let mut s = Server::start();
    // The metadata is in the data dir's SQLite file, or all of it in PostgreSQL.
    assert_eq!(s.data_dir().join("modelhub.db").exists(), !on_postgres());
    assert!(s.data_dir().join("hooks/pre-receive").exists());
    // The CLI works while the server runs, and the server sees what it wrote.
    s.user("alice");
    s.repo("alice/m", false);
    let w = Work::new();
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "a"]);
    let status = Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = s.wait();
    assert!(exit.success(), "exit status after SIGTERM: {exit:?}");
    let log = s.log();
    assert!(log.contains("modelhub stopped"), "{log}");
    // One log line per request, with method, path and status, and no credentials.
    assert!(
        log.contains("GET") && log.contains("/alice/m/info/refs") && log.contains("status=200"),
        "{log}"
    );
}

#[test]
fn tokens_are_listed_and_a_revoked_one_stops_working() {
    let s = Server::start();
    s.user("alice");
    s.repo("alice/p", true);
    let keep = s.token("alice", "read");
    let lost = s.cli_ok(&[
        "token",
        "create",
        "alice",
        "--role",
        "write",
        "--name",
        "old-laptop",
    ]);
    let list = s.cli_ok(&["token", "list", "alice"]);
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(&rows[1][1..3], ["write", "old-laptop"], "{list}");
    assert!(
        !list.contains(&lost) && !list.contains(&keep),
        "a secret was listed"
    );
    let whoami = |token: &str| {
        raw(
            &s.addr,
            &request(
                "GET",
                "/api/whoami-v2",
                &[("Authorization", &format!("Bearer {token}"))],
                b"",
            ),
        )
        .status
    };
    assert_eq!(whoami(&lost), 200);
    // Another user's id, or one that does not exist, is refused and changes nothing.
    let out = s.cli(&["token", "revoke", "alice", "9999"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("alice has no token 9999"),
        "{}",
        stderr(&out)
    );
    s.cli_ok(&["token", "revoke", "alice", rows[1][0]]);
    // The server's token cache lives two seconds: the revoked token fails within them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while whoami(&lost) != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked token still works"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(whoami(&keep), 200);
    assert_eq!(s.cli_ok(&["token", "list", "alice"]).lines().count(), 1);
}
