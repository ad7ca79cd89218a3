//! Who may clone and push what: anonymous, read and write tokens, another user, a site admin,
//! organisation members; and private repos leak neither content nor existence.

use crate::harness::*;

struct World {
    s: Server,
    alice_w: String,
    alice_r: String,
    bob_w: String,
    root_w: String,
}

fn world() -> World {
    let s = Server::start();
    s.user("alice");
    s.user("bob");
    s.cli_ok(&["user", "create", "root", "--admin"]);
    s.repo("alice/pub", false);
    s.repo("alice/priv", true);
    World {
        alice_w: s.token("alice", "write"),
        alice_r: s.token("alice", "read"),
        bob_w: s.token("bob", "write"),
        root_w: s.token("root", "write"),
        s,
    }
}

/// Clones `repo` as `token` and, if that worked, pushes a commit; returns (cloned, pushed).
fn try_clone_and_push(w: &World, repo: &str, token: Option<&str>) -> (bool, bool, String) {
    let work = Work::new();
    let url = w.s.git_url(repo, token);
    let out = work.git(".", &["clone", "-q", &url, "c"]);
    if !out.status.success() {
        return (false, false, stderr(&out));
    }
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        .to_string();
    work.commit("c", &[("f.txt", n.as_bytes())], "x");
    let out = work.git("c", &["push", "origin", "main"]);
    (true, out.status.success(), stderr(&out))
}

#[test]
fn clone_and_push_matrix() {
    let w = world();
    let cases: [(&str, Option<&str>, bool, bool); 10] = [
        ("alice/pub", None, true, false),
        ("alice/priv", None, false, false),
        ("alice/pub", Some(&w.alice_r), true, false),
        ("alice/priv", Some(&w.alice_r), true, false),
        ("alice/pub", Some(&w.alice_w), true, true),
        ("alice/priv", Some(&w.alice_w), true, true),
        ("alice/pub", Some(&w.bob_w), true, false),
        ("alice/priv", Some(&w.bob_w), false, false),
        ("alice/pub", Some(&w.root_w), true, true),
        ("alice/priv", Some(&w.root_w), true, true),
    ];
    for (repo, token, clone, push) in cases {
        let who = match token {
            None => "anonymous",
            Some(t) if t == w.alice_w => "alice write",
            Some(t) if t == w.alice_r => "alice read",
            Some(t) if t == w.bob_w => "bob",
            _ => "admin",
        };
        let (cloned, pushed, err) = try_clone_and_push(&w, repo, token);
        assert_eq!((cloned, pushed), (clone, push), "{who} on {repo}: {err}");
        if cloned && !pushed {
            // bob may read alice's public repo and has a write token: he may push only to
            // pull requests he opened, so the hook refuses a push to main.
            let expected = match who {
                "anonymous" => "could not read Username",
                "bob" => "you may push only to open pull requests you opened",
                _ => "403",
            };
            assert!(err.contains(expected), "{who} push to {repo}: {err}");
        }
    }
    // A token that does not exist is refused, with a message that says what to use.
    // (Git clones a public repo without sending it; the push needs it.)
    let (cloned, pushed, err) = try_clone_and_push(&w, "alice/pub", Some("mh_0000"));
    assert!(cloned && !pushed, "{err}");
    assert!(
        err.contains("remote: Authentication required: use a modelhub token as the password"),
        "{err}"
    );
    assert!(err.contains("Authentication failed"), "{err}");
}

#[test]
fn private_repos_look_exactly_like_missing_ones() {
    let w = world();
    let get = |path: &str, auth: Option<&str>| {
        let mut h = vec![];
        let v;
        if let Some(t) = auth {
            v = basic(t);
            h.push(("Authorization", v.as_str()));
        }
        raw(
            &w.s.addr,
            &request(
                "GET",
                &format!("/{path}/info/refs?service=git-upload-pack"),
                &h,
                b"",
            ),
        )
    };
    for auth in [None, Some(w.bob_w.as_str())] {
        let private = get("alice/priv", auth);
        let missing = get("alice/nothing", auth);
        assert_eq!(private.status, missing.status);
        assert_eq!(private.body, missing.body);
        assert_eq!(
            private.header("www-authenticate"),
            missing.header("www-authenticate")
        );
    }
    let anon = get("alice/priv", None);
    assert_eq!(anon.status, 401);
    assert_eq!(
        anon.header("www-authenticate").as_deref(),
        Some("Basic realm=\"modelhub\"")
    );
    assert_eq!(get("alice/priv", Some(&w.bob_w)).status, 404);
    assert_eq!(get("alice/priv", Some(&w.alice_r)).status, 200);

    // Bearer works as well as Basic.
    let bearer = format!("Bearer {}", w.alice_r);
    let r = raw(
        &w.s.addr,
        &request(
            "GET",
            "/alice/priv/info/refs?service=git-upload-pack",
            &[("Authorization", &bearer)],
            b"",
        ),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-git-upload-pack-advertisement")
    );
    assert!(r.header("cache-control").unwrap().contains("no-cache"));
    assert!(r.body.starts_with(b"001e# service=git-upload-pack\n0000"));
}

#[test]
fn organisation_roles_decide_access() {
    let w = world();
    let s = &w.s;
    s.cli_ok(&["org", "create", "acme", "--owner", "alice"]);
    s.repo("acme/secret", true);
    s.cli_ok(&["org", "add-member", "acme", "bob", "--role", "read"]);
    let (cloned, pushed, err) = try_clone_and_push(&w, "acme/secret", Some(&w.bob_w));
    assert!(
        cloned && !pushed && err.contains("you may push only to open pull requests you opened"),
        "{err}"
    );
    s.cli_ok(&["org", "add-member", "acme", "bob", "--role", "write"]);
    let (cloned, pushed, err) = try_clone_and_push(&w, "acme/secret", Some(&w.bob_w));
    assert!(cloned && pushed, "{err}");
    // The org's owner (an org admin) can push with a write token, not with a read one.
    let (_, pushed, _) = try_clone_and_push(&w, "acme/secret", Some(&w.alice_w));
    assert!(pushed);
    let (cloned, pushed, _) = try_clone_and_push(&w, "acme/secret", Some(&w.alice_r));
    assert!(cloned && !pushed);
}

#[test]
fn a_deleted_or_moved_private_repo_leaves_nothing_readable_under_its_name() {
    let (s, token) = Server::with_alice();
    // alice's private repo, read through the API so every cache holds it: the file at its
    // commit id, the revision, the repo's description at that commit.
    let script = r#"
from huggingface_hub import HfApi, hf_hub_download
api = HfApi()
for round in ["moved", "deleted"]:
    api.create_repo("alice/p", private=True)
    c = api.upload_file(path_or_fileobj=b"the secret plan\n", path_in_repo="README.md", repo_id="alice/p").oid
    assert open(hf_hub_download("alice/p", "README.md", revision=c)).read() == "the secret plan\n"
    assert open(hf_hub_download("alice/p", "README.md")).read() == "the secret plan\n"
    api.model_info("alice/p", revision=c)
    if round == "moved":
        api.move_repo("alice/p", "alice/p-old")
    else:
        api.delete_repo("alice/p")
    api.create_repo("alice/p", private=False)
    print(round, c)
    if round == "moved":
        api.delete_repo("alice/p")
"#;
    let out = crate::hub_api::hub_script(&s, Some(&token), script);
    let commits: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once(' ')).collect();
    assert_eq!(commits.len(), 2, "{out}");
    for (round, c) in commits {
        // The new public repo with the same name must not answer with the old one's bytes.
        for path in [
            format!("/alice/p/resolve/{c}/README.md"),
            format!("/api/models/alice/p/revision/{c}"),
            format!("/alice/p/blob/{c}/README.md"),
        ] {
            let r = raw(&s.addr, &request("GET", &path, &[], b""));
            assert!(
                !r.text().contains("the secret plan"),
                "{round}: {path} served the old private file"
            );
            assert_eq!(r.status, 404, "{round}: {path}: {}", r.text());
        }
        let r = raw(
            &s.addr,
            &request("GET", "/alice/p/resolve/main/README.md", &[], b""),
        );
        assert!(!r.text().contains("the secret plan"), "{round}: main");
    }
}
