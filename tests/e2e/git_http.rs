//! git clone, fetch and push over smart HTTP with the real git client.

use crate::harness::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn clone_push_fetch_round_trip_keeps_bytes() {
    let (s, token) = Server::with_alice();
    let w = Work::new();
    let url = s.git_url("alice/m", Some(&token));
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "a"]);
    assert_eq!(
        std::fs::read_to_string(w.path("a/.gitattributes")).unwrap(),
        git_repos::DEFAULT_GITATTRIBUTES,
        "a new repo starts with the default .gitattributes"
    );
    let config: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let c1 = w.commit(
        "a",
        &[("README.md", b"# m\n"), ("data/blob.bin.txt", &config)],
        "first",
    );
    w.git_ok("a", &["push", "-q", &url, "main"]);

    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m.git", None), "b"]);
    assert_eq!(w.git_ok("b", &["rev-parse", "HEAD"]), c1);
    assert_eq!(
        std::fs::read(w.path("b/data/blob.bin.txt")).unwrap(),
        config
    );

    let c2 = w.commit("a", &[("README.md", b"# m\nsecond\n")], "second");
    w.git_ok("a", &["push", "-q", &url, "main"]);
    w.git_ok("b", &["pull", "-q", "--ff-only"]);
    assert_eq!(w.git_ok("b", &["rev-parse", "HEAD"]), c2);
    assert_eq!(
        std::fs::read(w.path("b/README.md")).unwrap(),
        b"# m\nsecond\n"
    );
    assert_fsck_clean(&s.bare_repo("models/alice/m.git"));
}

#[test]
fn branches_tags_deletes_and_force_pushes() {
    let (s, token) = Server::with_alice();
    let w = Work::new();
    let url = s.git_url("alice/m", Some(&token));
    w.git_ok(".", &["clone", "-q", &url, "a"]);
    let base = w.git_ok("a", &["rev-parse", "HEAD"]);
    let c1 = w.commit("a", &[("f", b"1")], "one");
    w.git_ok(
        "a",
        &["push", "-q", "origin", "main", "main:refs/heads/dev"],
    );
    w.git_ok("a", &["tag", "-a", "v1", "-m", "release 1"]);
    w.git_ok("a", &["push", "-q", "origin", "v1"]);
    let remote = w.git_ok("a", &["ls-remote", "origin"]);
    assert!(
        remote.contains(&format!("{c1}\trefs/heads/dev")),
        "{remote}"
    );
    assert!(remote.contains("refs/tags/v1^{}"), "{remote}");

    // Delete a branch.
    w.git_ok("a", &["push", "-q", "origin", ":dev"]);
    assert!(!w
        .git_ok("a", &["ls-remote", "origin"])
        .contains("refs/heads/dev"));

    // A non-fast-forward push is refused and changes nothing.
    w.git_ok("a", &["reset", "-q", "--hard", &base]);
    let c2 = w.commit("a", &[("g", b"2")], "rewrite");
    let out = w.git("a", &["push", "origin", "main"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("[rejected]") && err.contains("non-fast-forward")
            || err.contains("fetch first"),
        "{err}"
    );
    assert!(w
        .git_ok("a", &["ls-remote", "origin", "main"])
        .starts_with(&c1));

    // A force push replaces it.
    w.git_ok("a", &["push", "-q", "--force", "origin", "main"]);
    assert!(w
        .git_ok("a", &["ls-remote", "origin", "main"])
        .starts_with(&c2));
    // The reflog of the bare repo still knows the old tip, and names the pusher.
    let bare = s.bare_repo("models/alice/m.git");
    let reflog = std::fs::read_to_string(bare.join("logs/refs/heads/main")).unwrap();
    assert!(reflog.contains(&c1) && reflog.contains("alice"), "{reflog}");
    assert_fsck_clean(&bare);
}

#[test]
fn atomic_push_is_all_or_nothing_and_push_options_are_accepted() {
    let (s, token) = Server::with_alice();
    let w = Work::new();
    let url = s.git_url("alice/m", Some(&token));
    w.git_ok(".", &["clone", "-q", &url, "a"]);
    w.git_ok(".", &["clone", "-q", &url, "b"]);
    let theirs = w.commit("b", &[("b", b"b")], "theirs");
    w.git_ok("b", &["push", "-q", "origin", "main"]);

    // main is now behind on our side: an atomic push of main + a new branch fails whole.
    w.commit("a", &[("a", b"a")], "ours");
    let out = w.git(
        "a",
        &[
            "push",
            "--atomic",
            "origin",
            "main",
            "main:refs/heads/feature",
        ],
    );
    assert!(!out.status.success());
    let remote = w.git_ok("a", &["ls-remote", "origin"]);
    assert!(
        !remote.contains("feature"),
        "atomic push created a branch: {remote}"
    );
    assert!(remote.contains(&format!("{theirs}\trefs/heads/main")));

    // Push options are negotiated (git refuses -o when the server does not advertise them).
    w.git_ok(
        "a",
        &[
            "push",
            "-q",
            "-o",
            "ci.skip",
            "-o",
            "note=hello",
            "origin",
            "main:refs/heads/opt",
        ],
    );
    assert!(w
        .git_ok("a", &["ls-remote", "origin"])
        .contains("refs/heads/opt"));
}

#[test]
fn protocol_v0_and_v2_both_work() {
    let (s, token) = Server::with_alice();
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&token)), "seed"],
    );
    w.commit("seed", &[("x", b"x")], "x");
    w.git_ok("seed", &["push", "-q", "origin", "main"]);
    for v in ["0", "2"] {
        let out = git_in(
            &w.path("home"),
            &w.path("."),
            &[
                "-c",
                &format!("protocol.version={v}"),
                "-c",
                "trace2.eventtarget=",
                "clone",
                "-q",
                &s.git_url("alice/m", None),
                &format!("v{v}"),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(w.path(&format!("v{v}/x")).exists());
    }
    // The v2 clone really spoke v2: ls-remote with a packet trace shows the capability line.
    let mut cmd = std::process::Command::new("git");
    let out = cmd
        .args([
            "-c",
            "protocol.version=2",
            "ls-remote",
            &s.git_url("alice/m", None),
        ])
        .env("GIT_TRACE_PACKET", "1")
        .env("HOME", w.path("home"))
        .output()
        .unwrap();
    assert!(stderr(&out).contains("git< version 2"), "{}", stderr(&out));
}

#[test]
fn shallow_clone_deepen_and_partial_clone() {
    let (s, token) = Server::with_alice();
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&token)), "seed"],
    );
    for i in 0..5 {
        let content = format!("content {i}\n");
        w.commit(
            "seed",
            &[(&format!("f{i}.txt"), content.as_bytes())],
            &format!("c{i}"),
        );
    }
    w.git_ok("seed", &["push", "-q", "origin", "main"]);
    let anon = s.git_url("alice/m", None);

    w.git_ok(".", &["clone", "-q", "--depth", "1", &anon, "shallow"]);
    assert_eq!(w.git_ok("shallow", &["rev-list", "--count", "HEAD"]), "1");
    w.git_ok("shallow", &["fetch", "-q", "--deepen", "2"]);
    assert_eq!(w.git_ok("shallow", &["rev-list", "--count", "HEAD"]), "3");

    w.git_ok(
        ".",
        &[
            "clone",
            "-q",
            "--filter=blob:none",
            "--no-checkout",
            &anon,
            "partial",
        ],
    );
    let missing = w.git_ok(
        "partial",
        &["rev-list", "--objects", "--all", "--missing=print"],
    );
    assert!(
        missing.lines().filter(|l| l.starts_with('?')).count() >= 6,
        "{missing}"
    );
    // Checking out fetches the blobs it needs, lazily.
    w.git_ok("partial", &["checkout", "-q", "main"]);
    assert_eq!(
        std::fs::read_to_string(w.path("partial/f3.txt")).unwrap(),
        "content 3\n"
    );
    let old = w.git_ok("partial", &["show", "HEAD~4:f0.txt"]);
    assert_eq!(old, "content 0");
}

#[test]
fn push_of_2000_tags() {
    let (s, token) = Server::with_alice();
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&token)), "a"],
    );
    let head = w.commit("a", &[("t", b"t")], "tagged");
    let refs: String = (0..2000)
        .map(|i| format!("create refs/tags/t{i:04} {head}\n"))
        .collect();
    let mut child = std::process::Command::new("git")
        .args(["update-ref", "--stdin"])
        .current_dir(w.path("a"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(refs.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    w.git_ok("a", &["push", "-q", "origin", "main", "--tags"]);
    let remote = w.git_ok("a", &["ls-remote", "--tags", &s.git_url("alice/m", None)]);
    assert_eq!(remote.lines().count(), 2000);
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "b"]);
    assert_eq!(w.git_ok("b", &["tag"]).lines().count(), 2000);
}

#[test]
fn push_larger_than_post_buffer_through_auth() {
    let (s, token) = Server::with_alice();
    let w = Work::new();
    // Credentials come from a credential helper, so git first meets a 401 and retries.
    std::fs::write(
        w.path("home/.git-credentials"),
        format!("http://hf_user:{token}@{}\n", s.addr),
    )
    .unwrap();
    let anon = s.git_url("alice/m", None);
    w.git_ok(
        ".",
        &["-c", "credential.helper=store", "clone", "-q", &anon, "a"],
    );
    // 4 MiB of incompressible text: the pack is far over a 64 KiB postBuffer, so git sends it
    // chunked after its 4-byte probe.
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let text: String = (0..(4 << 20) / 16)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{x:016x}")
        })
        .collect();
    let c = w.commit("a", &[("big.txt", text.as_bytes())], "big");
    let out = w.git(
        "a",
        &[
            "-c",
            "credential.helper=store",
            "-c",
            "http.postBuffer=65536",
            "push",
            "origin",
            "main",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    w.git_ok(".", &["clone", "-q", &anon, "b"]);
    assert_eq!(w.git_ok("b", &["rev-parse", "HEAD"]), c);
    assert_eq!(std::fs::read(w.path("b/big.txt")).unwrap(), text.as_bytes());
    // Git met a 401 first, then sent its 4-byte probe and the chunked pack, both with auth.
    let log = s.log();
    assert!(log.contains("status=401"), "{log}");
    assert_eq!(
        log.matches("method=POST path=/alice/m/git-receive-pack")
            .count(),
        2,
        "{log}"
    );
}

#[test]
fn concurrent_pushes_to_one_branch_lose_nothing() {
    let (s, token) = Server::with_alice();
    let w = Work::new();
    let url = s.git_url("alice/m", Some(&token));
    w.git_ok(".", &["clone", "-q", &url, "a"]);
    w.git_ok(".", &["clone", "-q", &url, "b"]);
    let ca = w.commit("a", &[("a.txt", b"from a")], "a");
    let cb = w.commit("b", &[("b.txt", b"from b")], "b");
    let (pa, pb) = (w.path("a"), w.path("b"));
    let home = w.path("home");
    let (ra, rb) = std::thread::scope(|sc| {
        let ta = sc.spawn(|| git_in(&home, &pa, &["push", "origin", "main"]));
        let tb = sc.spawn(|| git_in(&home, &pb, &["push", "origin", "main"]));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert!(
        ra.status.success() != rb.status.success(),
        "exactly one push wins: a={} b={}",
        stderr(&ra),
        stderr(&rb)
    );
    let (winner, loser_dir, loser_out) = if ra.status.success() {
        (ca, "b", rb)
    } else {
        (cb, "a", ra)
    };
    let err = stderr(&loser_out);
    assert!(
        err.contains("non-fast-forward")
            || err.contains("fetch first")
            || err.contains("failed to update ref")
            || err.contains("cannot lock ref"),
        "{err}"
    );
    assert!(w
        .git_ok("a", &["ls-remote", "origin", "main"])
        .starts_with(&winner));
    // The loser rebases and pushes: both commits' content is there.
    w.git_ok(loser_dir, &["pull", "-q", "--rebase"]);
    w.git_ok(loser_dir, &["push", "-q", "origin", "main"]);
    w.git_ok(".", &["clone", "-q", &url, "c"]);
    assert!(w.path("c/a.txt").exists() && w.path("c/b.txt").exists());
    assert_fsck_clean(&s.bare_repo("models/alice/m.git"));
}

#[test]
fn datasets_and_spaces_have_their_own_urls() {
    let s = Server::start();
    s.user("alice");
    s.cli_ok(&["repo", "create", "alice/d", "--type", "dataset"]);
    s.cli_ok(&["repo", "create", "alice/sp", "--type", "space"]);
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("datasets/alice/d", None), "d"],
    );
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("spaces/alice/sp.git", None), "sp"],
    );
    assert!(w.path("d/.gitattributes").exists() && w.path("sp/.gitattributes").exists());
    // A dataset is not a model.
    let out = w.git(".", &["clone", "-q", &s.git_url("alice/d", None), "nope"]);
    assert!(!out.status.success());
}

#[test]
fn hook_refuses_refs_outside_branches_and_tags_and_keeps_main() {
    let (s, token) = Server::with_alice();
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&token)), "a"],
    );
    let before = w.git_ok("a", &["ls-remote", "origin"]);
    w.commit("a", &[("n", b"n")], "n");
    let out = w.git("a", &["push", "origin", "HEAD:refs/notes/x"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("remote: error: refs/notes/x: only branches (refs/heads/*) and tags (refs/tags/*) can be pushed"),
        "{err}"
    );
    assert!(err.contains("pre-receive hook declined"), "{err}");
    // The server told the hook which repo this is.
    assert!(
        err.contains("remote: modelhub rejected the push to alice/m: 1 error"),
        "{err}"
    );
    let out = w.git("a", &["push", "origin", ":main"]);
    assert!(
        stderr(&out).contains("the default branch cannot be deleted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        w.git_ok("a", &["ls-remote", "origin"]),
        before,
        "refs unchanged"
    );
    // The rejected objects were discarded with the quarantine.
    let bare = s.bare_repo("models/alice/m.git");
    let head = w.git_ok("a", &["rev-parse", "HEAD"]);
    let out = git_in(&bare, &bare, &["cat-file", "-e", &head]);
    assert!(!out.status.success(), "objects of a rejected push stayed");
    assert_fsck_clean(&bare);
}

/// A client that sends its whole push and hangs up without reading the answer still moved
/// the branch: the API must answer the new commit at once (it used to keep the old one for
/// the revision cache's minute, since the cache was dropped only when git's output had been
/// read to the end).
#[test]
fn a_push_whose_client_hangs_up_is_visible_to_the_api_at_once() {
    let (s, token) = Server::with_alice();
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&token)), "a"],
    );
    let old = w.git_ok("a", &["rev-parse", "HEAD"]);
    let main_of_api = || {
        let (status, v, r) = json_request(
            &s.addr,
            "GET",
            "/api/models/alice/m/revision/main",
            None,
            &serde_json::Value::Null,
        );
        assert_eq!(status, 200, "{}", r.text());
        v["sha"].as_str().unwrap().to_owned()
    };
    assert_eq!(main_of_api(), old, "the API has cached main");
    // A card with a warning: the hook's words reach the client (side-band) before the
    // refs move, so the answer is under way when the client is found gone.
    let card = b"---\npipeline_tag: text-generaton\n---\n# m\n";
    let new = w.commit("a", &[("README.md", card)], "third");

    // The push as git sends it: one command, then the pack (a bundle's body is a pack).
    w.git_ok(
        "a",
        &[
            "bundle",
            "create",
            "../push.bundle",
            &format!("{old}..main"),
        ],
    );
    let bundle = std::fs::read(w.path("push.bundle")).unwrap();
    let pack_at = bundle.windows(2).position(|p| p == b"\n\n").unwrap() + 2;
    let command = format!("{old} {new} refs/heads/main\0report-status side-band-64k\n");
    let mut body = format!("{:04x}{command}0000", command.len() + 4).into_bytes();
    body.extend_from_slice(&bundle[pack_at..]);
    let auth = basic(&token);
    let req = request(
        "POST",
        "/alice/m.git/git-receive-pack",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/x-git-receive-pack-request"),
        ],
        &body,
    );
    let mut conn = TcpStream::connect(&s.addr).unwrap();
    conn.write_all(&req).unwrap();
    drop(conn); // gone before a byte of the answer is read

    // The push went through: git's own view of the branch moves to the new commit.
    let deadline = Instant::now() + Duration::from_secs(30);
    let bare = s.bare_repo("models/alice/m.git");
    loop {
        let out = git_in(&bare, &bare, &["rev-parse", "refs/heads/main"]);
        if String::from_utf8_lossy(&out.stdout).trim() == new {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the push never landed: {}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The server forgets the repo's revisions when git exits, a moment after the ref moved;
    // well within the cache's minute. Polled, so a slow machine is not a failure.
    let deadline = Instant::now() + Duration::from_secs(20);
    while main_of_api() != new {
        assert!(
            Instant::now() < deadline,
            "the API still answers the old commit for main"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_fsck_clean(&bare);
}
