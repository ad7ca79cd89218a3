//! Two modelhub nodes sharing one PostgreSQL database, one bucket and one repos folder behave
//! as one hub (runs in the PostgreSQL and S3 pass of tests/run.sh).

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::harness::*;

/// Two nodes of one hub.
struct Cluster {
    a: Server,
    b: Server,
    repos: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let repos = tempfile::tempdir().unwrap();
        let url = new_database();
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::s3_for_dir(dir.path(), weed());
        let args = ["--repos-dir", repos.path().to_str().unwrap()];
        let a = Server::start_on_database(|_| storage.clone(), Some(url.clone()), &args);
        let b = Server::start_on_database(|_| storage.clone(), Some(url), &args);
        Cluster { a, b, repos }
    }

    /// `modelhub ARGS` on node `s`, with the shared repos folder.
    fn cli_ok(&self, s: &Server, args: &[&str]) -> String {
        let mut all = vec!["--repos-dir", self.repos.path().to_str().unwrap()];
        all.extend_from_slice(args);
        s.cli_ok(&all)
    }
}

fn main_sha(s: &Server, token: &str) -> String {
    let (code, body) = api(
        s,
        "GET",
        "/api/models/alice/m/revision/main",
        Some(token),
        b"",
    );
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["sha"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A commit of one file on `main`, as huggingface_hub sends it, with `parentCommit`.
pub(crate) fn commit_body(path: &str, content: &[u8], parent: &str) -> Vec<u8> {
    let lines = [
        json!({"key": "header", "value": {"summary": format!("add {path}"), "parentCommit": parent}}),
        json!({"key": "file", "value": {"path": path, "encoding": "base64",
            "content": base64::engine::general_purpose::STANDARD.encode(content)}}),
    ];
    lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn two_nodes_on_one_database_bucket_and_repos_folder_are_one_hub() {
    if !(on_postgres() && on_s3()) {
        eprintln!("runs in the PostgreSQL and S3 pass (MODELHUB_TEST_DATABASE=postgres, MODELHUB_TEST_STORAGE=s3)");
        return;
    }
    let c = Cluster::start();
    let (a, b) = (&c.a, &c.b);
    c.cli_ok(a, &["user", "create", "alice"]);
    let token = c.cli_ok(a, &["token", "create", "alice", "--role", "write"]);

    // A repo created through A is listed and served by B at once.
    let (code, body) = api(
        a,
        "POST",
        "/api/repos/create",
        Some(&token),
        br#"{"name":"m","organization":"alice","type":"model"}"#,
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = api(b, "GET", "/api/models?author=alice", None, b"");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"alice/m\""), "{body}");

    // A push through A is cloned through B at once, byte for byte.
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &a.git_url("alice/m", Some(&token)), "a"],
    );
    let notes: Vec<u8> = (0..3000).map(|i| b"abcdefgh\n"[i % 9]).collect();
    w.commit("a", &[("notes.txt", &notes)], "notes");
    w.git_ok("a", &["push", "-q", "origin", "main"]);
    w.git_ok(".", &["clone", "-q", &b.git_url("alice/m", None), "b"]);
    assert_eq!(std::fs::read(w.path("b/notes.txt")).unwrap(), notes);

    // B caches main's commit; a commit through A moves it on B too (told through the
    // database), without waiting for the cache to expire.
    let before = main_sha(b, &token);
    let (code, body) = api(
        a,
        "POST",
        "/api/models/alice/m/commit/main",
        Some(&token),
        &commit_body("one.txt", b"1\n", &before),
    );
    assert_eq!(code, 200, "{body}");
    let after = serde_json::from_str::<Value>(&body).unwrap()["commitOid"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    while main_sha(b, &token) != after {
        assert!(
            Instant::now() < deadline,
            "B still serves main at {before} 5 s after a commit through A"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // An LFS object uploaded through A downloads through B, by the link A signed.
    let data = noise(300_000, 9);
    let oid = crate::lfs::upload(a, "alice/m", &token, &data);
    let (_, v) = crate::lfs::batch(
        a,
        "alice/m",
        Some(&token),
        "download",
        json!([{ "oid": oid, "size": data.len() }]),
    );
    let path = crate::lfs::href_path(a, &v["objects"][0]["actions"]["download"]);
    let r = crate::lfs::get(b, &path, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, data);

    // Eight commits on the same parent, spread over both nodes: exactly one lands.
    let parent = main_sha(a, &token);
    let results: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (node, token, parent) = (if i % 2 == 0 { a } else { b }, &token, &parent);
                scope.spawn(move || {
                    let body = commit_body(
                        &format!("race-{i}.txt"),
                        format!("{i}\n").as_bytes(),
                        parent,
                    );
                    api(
                        node,
                        "POST",
                        "/api/models/alice/m/commit/main",
                        Some(token),
                        &body,
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<&(u16, String)> = results.iter().filter(|r| r.0 == 200).collect();
    let lost = results.iter().filter(|r| r.0 == 412).count();
    assert_eq!((won.len(), lost), (1, 7), "{results:?}");
    let winner = serde_json::from_str::<Value>(&won[0].1).unwrap()["commitOid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(main_sha(a, &token), winner);
    assert_eq!(main_sha(b, &token), winner);
    assert_fsck_clean(&c.repos.path().join("models/alice/m.git"));

    // A token revoked through A is refused by B on its very next request.
    let (code, _) = api(b, "GET", "/api/whoami-v2", Some(&token), b"");
    assert_eq!(code, 200);
    let other = c.cli_ok(
        b,
        &[
            "token", "create", "alice", "--role", "write", "--name", "other",
        ],
    );
    let listed = c.cli_ok(a, &["token", "list", "alice"]);
    let first_id = listed
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    c.cli_ok(a, &["token", "revoke", "alice", &first_id]);
    let (code, body) = api(b, "GET", "/api/whoami-v2", Some(&token), b"");
    assert_eq!(code, 401, "{body}");

    // A repo deleted through B is missing on A at once.
    let (code, body) = api(
        b,
        "DELETE",
        "/api/repos/delete",
        Some(&other),
        br#"{"name":"m","organization":"alice","type":"model"}"#,
    );
    assert_eq!(code, 200, "{body}");
    let (code, _) = api(a, "GET", "/api/models/alice/m", Some(&other), b"");
    assert_eq!(code, 404);
    let out = w.git(
        ".",
        &["clone", "-q", &a.git_url("alice/m", Some(&other)), "gone"],
    );
    assert!(!out.status.success());
}
