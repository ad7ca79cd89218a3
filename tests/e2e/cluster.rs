//! Two modelhub nodes sharing one PostgreSQL database, one bucket and one repos folder, with
//! nginx in front of them (docs/nginx-cluster.conf, as docs/cluster.md sets it up), behave as
//! one hub (runs in the PostgreSQL and S3 pass of tests/run.sh).

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::harness::*;
use crate::hub_api::hub_script_at;

/// Two nodes of one hub, and nginx in front of them.
struct Cluster {
    a: Server,
    b: Server,
    lb: Nginx,
    repos: tempfile::TempDir,
    /// The cluster's own PostgreSQL server (this test may stop it).
    pg: pg_testkit::Postgres,
}

impl Cluster {
    fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    /// Two nodes, each started with `extra` arguments too.
    fn start_with(extra: &[&str]) -> Cluster {
        let repos = tempfile::tempdir().unwrap();
        let pg = pg_testkit::Postgres::start();
        let url = pg.create_database("hub");
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::s3_for_dir(dir.path(), weed());
        let lb_port = free_port();
        let public = format!("http://127.0.0.1:{lb_port}");
        let mut args = vec![
            "--repos-dir",
            repos.path().to_str().unwrap(),
            "--public-url",
            &public,
        ];
        args.extend_from_slice(extra);
        let a = Server::start_on_database(|_| storage.clone(), Some(url.clone()), &args);
        let b = Server::start_on_database(|_| storage.clone(), Some(url), &args);
        let lb = Nginx::start(lb_port, [&a.addr, &b.addr]);
        Cluster {
            a,
            b,
            lb,
            repos,
            pg,
        }
    }

    /// `modelhub ARGS` on node `s`, with the shared repos folder.
    fn cli_ok(&self, s: &Server, args: &[&str]) -> String {
        let mut all = vec!["--repos-dir", self.repos.path().to_str().unwrap()];
        all.extend_from_slice(args);
        s.cli_ok(&all)
    }

    /// alice, with a write token, and her repo alice/m made through node A.
    fn with_alice(&self) -> String {
        self.cli_ok(&self.a, &["user", "create", "alice"]);
        let token = self.cli_ok(&self.a, &["token", "create", "alice", "--role", "write"]);
        let (code, body) = api(
            &self.a,
            "POST",
            "/api/repos/create",
            Some(&token),
            br#"{"name":"m","organization":"alice","type":"model"}"#,
        );
        assert_eq!(code, 200, "{body}");
        token
    }

    /// What every node runs with besides its data dir, store and database.
    fn node_args(&self) -> Vec<String> {
        vec![
            "--repos-dir".into(),
            self.repos.path().display().to_string(),
            "--public-url".into(),
            self.lb.url(),
        ]
    }

    fn bare(&self) -> std::path::PathBuf {
        self.repos.path().join("models/alice/m.git")
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx, run from docs/nginx-cluster.conf with its own prefix directory, in front of two
/// nodes.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    addr: String,
}

impl Nginx {
    fn start(port: u16, nodes: [&str; 2]) -> Nginx {
        let bin = std::path::Path::new("/usr/sbin/nginx");
        assert!(
            bin.exists(),
            "no nginx at {}: tests/run.sh installs Debian's nginx",
            bin.display()
        );
        let conf = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/nginx-cluster.conf"),
        )
        .unwrap();
        let mut edited = conf.replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
        for (documented, node) in ["10.0.0.11:8080", "10.0.0.12:8080"].iter().zip(nodes) {
            assert!(
                edited.contains(documented),
                "docs/nginx-cluster.conf names {documented}"
            );
            edited = edited.replace(documented, node);
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nginx.conf"), edited).unwrap();
        let prefix = format!("{}/", dir.path().display());
        let child = Command::new(bin)
            .args(["-p", &prefix, "-c", "nginx.conf", "-e", "error.log", "-g"])
            .arg(format!("daemon off; pid {prefix}nginx.pid;"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "nginx does not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { child, dir, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The node that answered each request so far, in order (its access log's `upstream=`).
    fn upstreams(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.rsplit_once("upstream=").map(|(_, u)| u.to_owned()))
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
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

/// Commits one file on alice/m's main through node `s` on top of `parent`; the new commit.
fn commit_file(s: &Server, token: &str, path: &str, content: &[u8], parent: &str) -> String {
    let (code, body) = api(
        s,
        "POST",
        "/api/models/alice/m/commit/main",
        Some(token),
        &commit_body(path, content, parent),
    );
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["commitOid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits (up to 5 s) until node `s` serves alice/m's main at `sha`.
fn wait_until_served(s: &Server, token: &str, sha: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while main_sha(s, token) != sha {
        assert!(
            Instant::now() < deadline,
            "{} does not serve main at {sha} 5 s after the commit",
            s.addr
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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

fn skip() -> bool {
    if on_postgres() && on_s3() {
        return false;
    }
    eprintln!(
        "runs in the PostgreSQL and S3 pass (MODELHUB_TEST_DATABASE=postgres, MODELHUB_TEST_STORAGE=s3)"
    );
    true
}

#[test]
fn two_nodes_behind_nginx_are_one_hub() {
    if skip() {
        return;
    }
    let c = Cluster::start();
    let (a, b) = (&c.a, &c.b);
    let token = c.with_alice();

    // A repo created through A is listed and served by B at once.
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
    let after = commit_file(a, &token, "one.txt", b"1\n", &before);
    wait_until_served(b, &token, &after);

    // A card committed through A is what B's listing filters and searches by at once (the
    // summary both read is in the database).
    let card = std::fs::read(fixtures().join("repos/good-model/README.md")).unwrap();
    commit_file(a, &token, "README.md", &card, &after);
    let (code, body) = api(
        b,
        "GET",
        "/api/models?pipeline_tag=text-generation&filter=license:apache-2.0&search=LICE/",
        None,
        b"",
    );
    assert_eq!(code, 200, "{body}");
    let listed: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(listed.len(), 1, "{body}");
    assert_eq!(listed[0]["id"], "alice/m");

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

    // upload_folder through nginx, with hf_xet as a stock install uploads: its requests are
    // spread over both nodes, and what it uploaded downloads through either node.
    let src = tempfile::tempdir().unwrap();
    let folder = src.path().join("model");
    std::fs::create_dir_all(folder.join("weights")).unwrap();
    std::fs::copy(
        fixtures().join("weights/config-match.json"),
        folder.join("config.json"),
    )
    .unwrap();
    std::fs::copy(
        fixtures().join("weights/good.safetensors"),
        folder.join("model.safetensors"),
    )
    .unwrap();
    let shards: Vec<Vec<u8>> = (0..3).map(|i| noise(3 << 20, 100 + i)).collect();
    for (i, shard) in shards.iter().enumerate() {
        std::fs::write(folder.join(format!("weights/shard-{i}.bin")), shard).unwrap();
    }
    let seen_before = c.lb.upstreams().len();
    let script = format!(
        r#"
from huggingface_hub import HfApi
print(HfApi().upload_folder(folder_path="{folder}", repo_id="alice/m", commit_message="Upload through the load balancer").oid)
"#,
        folder = folder.display()
    );
    let (out, err) = hub_script_at(&c.lb.url(), Some(&token), &script, true);
    let oid = out.trim().to_owned();
    assert_eq!(oid.len(), 40, "{out}\n{err}");
    let upstreams = c.lb.upstreams()[seen_before..].to_vec();
    for node in [&a.addr, &b.addr] {
        assert!(
            upstreams.iter().any(|u| u == node),
            "no request of upload_folder went to {node}: {upstreams:?}"
        );
    }
    assert_eq!(main_sha(a, &token), oid);
    assert_eq!(main_sha(b, &token), oid);
    for (node, name) in [(a, "a"), (b, "b")] {
        let script = format!(
            r#"
from huggingface_hub import hf_hub_download
print(hf_hub_download("alice/m", "weights/shard-2.bin", revision="{oid}", cache_dir="{dir}/{name}"))
"#,
            dir = src.path().display()
        );
        let (out, _) = hub_script_at(&node.url, Some(&token), &script, true);
        assert_eq!(
            std::fs::read(out.trim()).unwrap(),
            shards[2],
            "through {name}"
        );
    }

    // Eight create_commit(parent_commit=...) at once, four through each node: exactly one
    // lands, the other seven get the client's own 412 error.
    let parent = main_sha(a, &token);
    let race = format!(
        r#"
import json, threading
from huggingface_hub import HfApi, CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError
results = [None] * 8
def one(i):
    api = HfApi(endpoint=["{a}", "{b}"][i % 2])
    try:
        info = api.create_commit("alice/m", [CommitOperationAdd(f"race-{{i}}.txt", f"{{i}}\n".encode())],
                                 commit_message=f"race {{i}}", parent_commit="{parent}")
        results[i] = ["won", info.oid]
    except HfHubHTTPError as e:
        results[i] = ["lost", e.response.status_code]
threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results))
"#,
        a = a.url,
        b = b.url
    );
    let (out, err) = hub_script_at(&c.lb.url(), Some(&token), &race, false);
    let results: Vec<(String, Value)> =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(r, _)| r == "won")
        .map(|(_, v)| v)
        .collect();
    let lost = results
        .iter()
        .filter(|(r, v)| r == "lost" && v == &json!(412))
        .count();
    assert_eq!((winners.len(), lost), (1, 7), "{results:?}");
    assert_eq!(main_sha(a, &token), winners[0].as_str().unwrap());
    assert_eq!(main_sha(b, &token), winners[0].as_str().unwrap());
    assert_fsck_clean(&c.bare());

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

/// The id `modelhub token list USER` gives the token labelled `label`.
fn token_id(c: &Cluster, user: &str, label: &str) -> String {
    let listed = c.cli_ok(&c.a, &["token", "list", user]);
    let line = listed
        .lines()
        .find(|l| l.split('\t').nth(2) == Some(label))
        .unwrap_or_else(|| panic!("no token {label}: {listed}"));
    line.split('\t').next().unwrap().to_owned()
}

/// Who may do what is cached on every node (repo records, tokens, memberships), and a change
/// of it, through a node or the CLI, returns only once no node answers from what it cached
/// before; a node that cannot hear of a change (stopped) does not hold the change up for
/// long, and trusts nothing it cached when it runs again.
#[test]
fn changes_of_authorization_reach_every_node_before_they_return() {
    if skip() {
        return;
    }
    let c = Cluster::start();
    let (a, b) = (&c.a, &c.b);
    let token = c.with_alice();

    // With huggingface_hub: B has the public repo cached (anonymous reads), A makes it
    // private, and B's next anonymous answer is the client's RepositoryNotFoundError; made
    // public again through A, B serves it at once.
    let script = format!(
        r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError
a, anon_b = HfApi(endpoint="{a}"), HfApi(endpoint="{b}", token=False)
for _ in range(3):
    anon_b.model_info("alice/m")
a.update_repo_settings("alice/m", private=True)
try:
    anon_b.model_info("alice/m")
    print("B still serves it")
except RepositoryNotFoundError:
    print("hidden on B")
print("owner on B sees private:", HfApi(endpoint="{b}").model_info("alice/m").private)
a.update_repo_settings("alice/m", private=False)
print("public on B:", not anon_b.model_info("alice/m").private)
"#,
        a = a.url,
        b = b.url
    );
    let (out, err) = hub_script_at(&c.lb.url(), Some(&token), &script, false);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "hidden on B",
            "owner on B sees private: True",
            "public on B: True"
        ],
        "{err}"
    );

    // Membership: bob is no member of acme, whose private repo B has refused him (and
    // cached his role: none); made a member through the CLI, B lets him read at once.
    c.cli_ok(a, &["user", "create", "bob"]);
    let bob = c.cli_ok(a, &["token", "create", "bob", "--role", "read"]);
    c.cli_ok(a, &["org", "create", "acme", "--owner", "alice"]);
    let (code, body) = api(
        a,
        "POST",
        "/api/repos/create",
        Some(&token),
        br#"{"name":"secret","organization":"acme","type":"model","private":true}"#,
    );
    assert_eq!(code, 200, "{body}");
    for _ in 0..2 {
        let (code, _) = api(b, "GET", "/api/models/acme/secret", Some(&bob), b"");
        assert_eq!(code, 404);
    }
    c.cli_ok(a, &["org", "add-member", "acme", "bob", "--role", "read"]);
    let (code, body) = api(b, "GET", "/api/models/acme/secret", Some(&bob), b"");
    assert_eq!(code, 200, "{body}");

    // A token B has cached, revoked through the CLI on A's side: B refuses it next.
    let second = c.cli_ok(
        a,
        &[
            "token", "create", "alice", "--role", "read", "--name", "second",
        ],
    );
    let id = token_id(&c, "alice", "second");
    for _ in 0..2 {
        assert_eq!(api(b, "GET", "/api/whoami-v2", Some(&second), b"").0, 200);
    }
    c.cli_ok(a, &["token", "revoke", "alice", &id]);
    let (code, body) = api(b, "GET", "/api/whoami-v2", Some(&second), b"");
    assert_eq!(code, 401, "{body}");

    // B stopped (SIGSTOP) with a token cached: its revocation waits for B's lease to run
    // out, not for B, and B, running again, refuses the token on its first request.
    let third = c.cli_ok(
        a,
        &[
            "token", "create", "alice", "--role", "read", "--name", "third",
        ],
    );
    let id = token_id(&c, "alice", "third");
    assert_eq!(api(b, "GET", "/api/whoami-v2", Some(&third), b"").0, 200);
    let signal = |sig: &str| {
        let done = Command::new("kill")
            .args([sig, &b.pid().to_string()])
            .status()
            .unwrap();
        assert!(done.success());
    };
    signal("-STOP");
    let started = Instant::now();
    let out = c.a.cli(&[
        "--repos-dir",
        c.repos.path().to_str().unwrap(),
        "token",
        "revoke",
        "alice",
        &id,
    ]);
    let waited = started.elapsed();
    signal("-CONT");
    assert!(out.status.success(), "{}", stderr(&out));
    // It could not return before B's lease ran out (B could not acknowledge the change):
    // renewed at most half a second before B stopped, the lease lasts three.
    assert!(
        waited >= Duration::from_secs(1),
        "the revocation returned after {waited:?}, while B still trusted its cache"
    );
    let (code, body) = api(b, "GET", "/api/whoami-v2", Some(&third), b"");
    assert_eq!(code, 401, "{body}");
    assert_eq!(api(a, "GET", "/api/whoami-v2", Some(&third), b"").0, 401);
    // And B is a member again: a change it can hear is waited for and applied.
    let fourth = c.cli_ok(
        a,
        &[
            "token", "create", "alice", "--role", "read", "--name", "fourth",
        ],
    );
    let id = token_id(&c, "alice", "fourth");
    assert_eq!(api(b, "GET", "/api/whoami-v2", Some(&fourth), b"").0, 200);
    c.cli_ok(a, &["token", "revoke", "alice", &id]);
    assert_eq!(api(b, "GET", "/api/whoami-v2", Some(&fourth), b"").0, 401);
}

/// The value of gauge `modelhub_http_requests_in_flight{family}` on node `s`.
fn in_flight(s: &Server, family: &str) -> u64 {
    let (_, metrics) = api(s, "GET", "/metrics", None, b"");
    let series = format!("modelhub_http_requests_in_flight{{family=\"{family}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Opens `head` (a request's head with its Content-Length) and sends half of `body`, then
/// stalls: a transfer in the middle.
fn half_sent(addr: &str, head: &[u8], body: &[u8]) -> std::net::TcpStream {
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.write_all(head).unwrap();
    c.write_all(&body[..body.len() / 2]).unwrap();
    c
}

/// A pkt-line of git's protocol.
fn pkt(line: &str) -> Vec<u8> {
    format!("{:04x}{line}", line.len() + 4).into_bytes()
}

/// The pack git would send for `new` on top of `old`, from the clone at `dir`.
fn pack_of(dir: &std::path::Path, old: &str, new: &str) -> Vec<u8> {
    let mut child = Command::new("git")
        .args(["pack-objects", "--stdout", "--revs", "-q"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{new}\n^{old}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn concurrent_pushes_through_both_nodes_and_a_node_killed_mid_transfer() {
    if skip() {
        return;
    }
    let mut c = Cluster::start();
    let token = c.with_alice();
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &c.a.git_url("alice/m", Some(&token)), "seed"],
    );
    let base = w.commit("seed", &[("README.md", b"# m\n")], "start");
    w.git_ok("seed", &["push", "-q", "origin", "main"]);

    // Eight pushes of eight different commits on the same parent to main, four through each
    // node at once: one lands, each other one is refused cleanly, and the repo stays whole.
    let mut pushed = Vec::new();
    for i in 0..8 {
        let node = if i % 2 == 0 { &c.a } else { &c.b };
        let dir = format!("p{i}");
        w.git_ok(
            ".",
            &["clone", "-q", &node.git_url("alice/m", Some(&token)), &dir],
        );
        let text = format!("push {i}\n");
        pushed.push(w.commit(&dir, &[(&format!("push-{i}.txt"), text.as_bytes())], "push"));
    }
    let outs: Vec<std::process::Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let w = &w;
                scope.spawn(move || w.git(&format!("p{i}"), &["push", "origin", "main"]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<usize> = (0..8).filter(|&i| outs[i].status.success()).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
    for (i, out) in outs.iter().enumerate().filter(|(i, _)| *i != won[0]) {
        let err = stderr(out);
        assert!(
            err.contains("[rejected]") || err.contains("[remote rejected]"),
            "push {i}: {err}"
        );
        assert!(!err.contains("fatal"), "push {i}: {err}");
    }
    let winner = pushed[won[0]].clone();
    assert_eq!(main_sha(&c.a, &token), winner);
    assert_eq!(main_sha(&c.b, &token), winner);
    assert_fsck_clean(&c.bare());

    // Node A is killed (SIGKILL) in the middle of a push and of an LFS upload.
    let next = w.commit("seed", &[("half.txt", &noise(2 << 20, 5))], "half");
    let mut body = pkt(&format!(
        "{base} {next} refs/heads/main\0report-status side-band-64k"
    ));
    body.extend_from_slice(b"0000");
    body.extend_from_slice(&pack_of(&w.path("seed"), &base, &next));
    let auth = basic(&token);
    let length = body.len().to_string();
    let head = request(
        "POST",
        "/alice/m/git-receive-pack",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/x-git-receive-pack-request"),
            ("Content-Length", length.as_str()),
        ],
        b"",
    );
    let _push = half_sent(&c.a.addr, &head, &body);
    let data = noise(4 << 20, 6);
    let oid = sha256_hex(&data);
    let (status, v) = crate::lfs::batch(
        &c.a,
        "alice/m",
        Some(&token),
        "upload",
        json!([{ "oid": oid, "size": data.len() }]),
    );
    assert_eq!(status, 200, "{v}");
    let put = crate::lfs::href_path(&c.a, &v["objects"][0]["actions"]["upload"]);
    let length = data.len().to_string();
    let head = request(
        "PUT",
        &put,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", length.as_str()),
        ],
        b"",
    );
    let _upload = half_sent(&c.a.addr, &head, &data);
    let deadline = Instant::now() + Duration::from_secs(30);
    while in_flight(&c.a, "git") < 1 || in_flight(&c.a, "lfs") < 1 {
        assert!(
            Instant::now() < deadline,
            "the push and the upload never reached node A"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.a.stop();

    // Node B goes on serving; nothing of the cut transfers is visible; nginx sends what it
    // cannot hand to A to B.
    assert_eq!(main_sha(&c.b, &token), winner);
    assert_fsck_clean(&c.bare());
    w.git_ok(
        ".",
        &["clone", "-q", &c.b.git_url("alice/m", None), "after"],
    );
    assert!(!w.path("after/half.txt").exists());
    let (_, v) = crate::lfs::batch(
        &c.b,
        "alice/m",
        Some(&token),
        "download",
        json!([{ "oid": oid, "size": data.len() }]),
    );
    assert_eq!(v["objects"][0]["error"]["code"], 404, "{v}");
    assert!(
        !c.b.stored("lfs/objects/")
            .iter()
            .any(|(k, _)| k.contains(&oid)),
        "a half-uploaded object is stored"
    );
    for _ in 0..4 {
        let (code, body) = api_at(&c.lb.addr, "GET", "/api/models/alice/m", None, b"");
        assert_eq!(code, 200, "through nginx with node A down: {body}");
    }
    let latest = commit_file(&c.b, &token, "while-a-was-down.txt", b"B\n", &winner);

    // A comes back on its address and serves what changed meanwhile; the upload it lost
    // is made again through it and downloads through B.
    let args = c.node_args();
    c.a.restart_in_place(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(main_sha(&c.a, &token), latest);
    w.git_ok(
        ".",
        &["clone", "-q", &c.a.git_url("alice/m", None), "again"],
    );
    assert_eq!(
        std::fs::read(w.path("again/while-a-was-down.txt")).unwrap(),
        b"B\n"
    );
    assert_eq!(crate::lfs::upload(&c.a, "alice/m", &token, &data), oid);
    let (_, v) = crate::lfs::batch(
        &c.b,
        "alice/m",
        Some(&token),
        "download",
        json!([{ "oid": oid, "size": data.len() }]),
    );
    let get = crate::lfs::href_path(&c.b, &v["objects"][0]["actions"]["download"]);
    assert_eq!(crate::lfs::get(&c.b, &get, &[]).body, data);
    assert_fsck_clean(&c.bare());
}

#[test]
fn the_database_stopping_gives_503s_on_both_nodes_and_they_recover() {
    if skip() {
        return;
    }
    let mut c = Cluster::start();
    let token = c.with_alice();
    for s in [&c.a, &c.b] {
        assert_eq!(api(s, "GET", "/readyz", None, b"").0, 200);
    }
    c.pg.stop();
    for s in [&c.a, &c.b] {
        let (code, body) = api(s, "GET", "/readyz", None, b"");
        assert_eq!(
            (code, body.as_str()),
            (503, "not ready: database unavailable\n")
        );
        let (code, body) = api(
            s,
            "POST",
            "/api/repos/create",
            Some(&token),
            br#"{"name":"n","organization":"alice","type":"model"}"#,
        );
        assert_eq!(code, 503, "{body}");
    }
    c.pg.restart();
    for s in [&c.a, &c.b] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while api(s, "GET", "/readyz", None, b"").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "{} not ready 30 s after the database returned",
                s.addr
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Both nodes listen to each other again: B caches main, a commit through A moves it.
    let before = main_sha(&c.b, &token);
    let after = commit_file(&c.a, &token, "after.txt", b"after\n", &before);
    wait_until_served(&c.b, &token, &after);
    // And through nginx, a repo made on one node is there on both.
    let (code, body) = api_at(
        &c.lb.addr,
        "POST",
        "/api/repos/create",
        Some(&token),
        br#"{"name":"n","organization":"alice","type":"model"}"#,
    );
    assert_eq!(code, 200, "{body}");
    for s in [&c.a, &c.b] {
        assert_eq!(api(s, "GET", "/api/models/alice/n", None, b"").0, 200);
    }
}

#[test]
fn periodic_sweeps_run_once_per_cluster() {
    if skip() {
        return;
    }
    let c = Cluster::start_with(&["--sweep-interval", "1"]);
    c.with_alice();
    // What a git killed mid-push under a live server leaves, a day old and fresh.
    let objects = c.bare().join("objects");
    let old = objects.join("tmp_objdir-incoming-old");
    let fresh = objects.join("tmp_objdir-incoming-fresh");
    let scratch = c.repos.path().join(".staging/old-scratch");
    for dir in [&old, &fresh, &scratch] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("pack"), b"leftover").unwrap();
    }
    for dir in [&old, &scratch] {
        let out = Command::new("touch")
            .args(["-d", "2 days ago"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let runs = || -> Vec<i64> {
        let mut at: Vec<i64> = [&c.a, &c.b]
            .iter()
            .flat_map(|s| {
                s.log()
                    .lines()
                    .filter(|l| l.contains("periodic work done") && l.contains("sweep"))
                    .map(|l| {
                        let v = l.split("at=").nth(1).unwrap();
                        v[..v.find(' ').unwrap_or(v.len())].parse().unwrap()
                    })
                    .collect::<Vec<i64>>()
            })
            .collect();
        at.sort();
        at
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while old.exists() || scratch.exists() || runs().len() < 5 {
        assert!(
            Instant::now() < deadline,
            "after 60 s: old quarantine there: {}, scratch there: {}, runs: {:?}",
            old.exists(),
            scratch.exists(),
            runs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        fresh.exists(),
        "a fresh quarantine (a push in flight) was swept"
    );
    // One run per interval over both nodes: never two within one second.
    let at = runs();
    for pair in at.windows(2) {
        assert!(
            pair[1] - pair[0] >= 1000,
            "two sweeps within one interval: {at:?}"
        );
    }
}

#[test]
fn two_nodes_deliver_each_webhook_event_once() {
    if skip() {
        return;
    }
    use crate::webhooks::{create_webhook, Receiver, ALLOW_LOCAL};
    let c = Cluster::start_with(&[ALLOW_LOCAL, "--webhook-retry-base", "0.1"]);
    let (a, b) = (&c.a, &c.b);
    let token = c.with_alice();
    let rx = Receiver::start();
    create_webhook(a, &token, &rx.url, r#"dict(type="model", name="alice/m")"#);
    // Ten commits, through A and B in turn; every node runs a delivery worker.
    let mut parent = main_sha(a, &token);
    let mut commits = Vec::new();
    for i in 0..10 {
        let node = if i % 2 == 0 { a } else { b };
        parent = commit_file(node, &token, &format!("f{i}.txt"), b"x", &parent);
        commits.push(parent.clone());
    }
    let all = rx.wait_for("ten deliveries", |g| g.len() >= 10);
    // Each event once (a node claims a delivery before sending it).
    assert_eq!(all.len(), 10);
    let mut ids: Vec<String> = all.iter().map(|g| g.event_id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
    let mut sent: Vec<String> = all
        .iter()
        .map(|g| {
            g.body["updatedRefs"][0]["newSha"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    sent.sort();
    commits.sort();
    assert_eq!(sent, commits);
    // Links point at the public URL (the load balancer), whichever node sent them.
    assert!(all.iter().all(|g| g.body["repo"]["url"]["web"]
        .as_str()
        .unwrap()
        .starts_with(&format!("http://{}/", c.lb.addr))));
}
