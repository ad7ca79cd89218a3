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
    let db = std::fs::read(s.data_dir().join("modelhub.db")).unwrap();
    let wal = std::fs::read(s.data_dir().join("modelhub.db-wal")).unwrap_or_default();
    for file in [db, wal] {
        assert!(
            !file.windows(token.len()).any(|w| w == token.as_bytes()),
            "token stored in clear"
        );
    }
}

#[test]
fn first_start_creates_the_data_dir_and_sigterm_stops_cleanly() {
    let mut s = Server::start();
    assert!(s.data_dir().join("modelhub.db").exists());
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
