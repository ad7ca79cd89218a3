//! `modelhub mirror` with a second modelhub as the upstream: a repo with several commits, a
//! branch, a tag, git-lfs files and a Xet file is imported (same commit ids, byte-identical
//! files), synced, kept read-only, validated with the import policy; an import against an
//! upstream that is down, that sends bytes not matching their SHA-256, or that holds a
//! malicious pickle leaves nothing behind and says why.

use std::process::{Command, Output};

use crate::harness::*;
use crate::hub_api::{hub_script, hub_script_xet};
use crate::lfs::lfs_work;

/// `modelhub mirror ARGS` against `s`'s data dir, database and store.
fn mirror(s: &Server, args: &[&str], env: &[(&str, &str)]) -> Output {
    let (store_args, store_env) = s.storage.args();
    let with_store = matches!(args.first(), Some(&"add") | Some(&"sync"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelhub"));
    cmd.arg("mirror")
        .args(args)
        .args(if with_store { store_args } else { Vec::new() })
        .env("MODELHUB_DATA_DIR", s.data_dir())
        .envs(s.database.as_deref().map(|d| ("MODELHUB_DATABASE", d)))
        .envs(store_env)
        .envs(env.iter().copied());
    cmd.output().unwrap()
}

fn mirror_ok(s: &Server, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = mirror(s, args, env);
    assert!(
        out.status.success(),
        "modelhub mirror {args:?}: {}",
        stderr(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every ref of a clone's origin and the bytes of every file at each branch and tag.
fn snapshot(w: &Work, dir: &str) -> Vec<(String, String)> {
    let refs = w.git_ok(dir, &["ls-remote", "origin"]);
    let mut out: Vec<(String, String)> = refs
        .lines()
        .filter(|l| l.contains("refs/heads/") || l.contains("refs/tags/"))
        .map(|l| {
            let (id, name) = l.split_once('\t').unwrap();
            (name.to_owned(), id.to_owned())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_repo_is_imported_from_another_modelhub_synced_and_kept_read_only() {
    let up = Server::start();
    up.user("alice");
    let alice = up.token("alice", "write");
    up.repo("alice/m", false);
    // Upstream history: git-lfs files on main over two commits, a branch, a tag, and a Xet
    // file uploaded by huggingface_hub.
    let w = lfs_work(&up, &alice);
    w.git_ok(".", &["clone", "-q", &up.git_url("alice/m", None), "u"]);
    let mut weights = noise(3 << 20, 7);
    weights[0] = 0;
    w.write("u/model.bin", &weights);
    w.write("u/README.md", b"---\nlicense: mit\n---\n# m\n");
    w.git_ok("u", &["add", "."]);
    w.git_ok("u", &["commit", "-q", "-m", "weights"]);
    w.write("u/notes.txt", b"v2\n");
    w.git_ok("u", &["add", "."]);
    w.git_ok("u", &["commit", "-q", "-m", "notes"]);
    w.git_ok("u", &["tag", "v1"]);
    w.git_ok("u", &["checkout", "-q", "-b", "dev"]);
    w.write("u/dev.bin", &noise(1 << 20, 8));
    w.git_ok("u", &["add", "."]);
    w.git_ok("u", &["commit", "-q", "-m", "dev weights"]);
    w.git_ok("u", &["push", "-q", "origin", "main", "dev", "v1"]);
    let dir = tempfile::tempdir().unwrap();
    let mut xet = noise(2 << 20, 9);
    xet[0] = 0;
    std::fs::write(dir.path().join("x.dat"), &xet).unwrap();
    let (out, err) = hub_script_xet(
        &up,
        Some(&alice),
        &format!(
            r#"
from huggingface_hub import HfApi
HfApi().upload_file(path_or_fileobj="{}", path_in_repo="x.dat", repo_id="alice/m")
print("uploaded")
"#,
            dir.path().join("x.dat").display()
        ),
    );
    assert!(out.contains("uploaded"), "{out}{err}");

    // The import.
    let local = Server::start();
    local.user("team");
    let team = local.token("team", "write");
    let said = mirror_ok(
        &local,
        &["add", "team/m", "--from", &format!("{}/alice/m", up.url)],
        &[],
    );
    assert!(said.contains("imported team/m from"), "{said}");
    let lw = lfs_work(&local, &team);
    lw.git_ok(".", &["clone", "-q", &up.git_url("alice/m", None), "up"]);
    lw.git_ok(
        ".",
        &["clone", "-q", &local.git_url("team/m", None), "mine"],
    );
    // Same commits on every branch and tag, the same bytes in every file.
    assert_eq!(snapshot(&lw, "up"), snapshot(&lw, "mine"));
    for f in ["model.bin", "x.dat", "README.md", "notes.txt"] {
        assert_eq!(
            std::fs::read(lw.path("up").join(f)).unwrap(),
            std::fs::read(lw.path("mine").join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(std::fs::read(lw.path("mine/x.dat")).unwrap(), xet);
    lw.git_ok("mine", &["checkout", "-q", "dev"]);
    assert_eq!(
        std::fs::read(lw.path("mine/dev.bin")).unwrap(),
        noise(1 << 20, 8)
    );
    let status = mirror_ok(&local, &["status", "team/m"], &[]);
    assert!(
        status.contains(&format!("upstream: {}/alice/m", up.url)),
        "{status}"
    );
    let list = mirror_ok(&local, &["list"], &[]);
    assert!(list.contains("team/m"), "{list}");

    // Read-only: a push is refused with the upstream's name; the ref is unchanged.
    lw.git_ok("mine", &["checkout", "-q", "main"]);
    let before = lw.git_ok("mine", &["rev-parse", "origin/main"]);
    lw.write("mine/local.txt", b"mine\n");
    lw.git_ok("mine", &["add", "."]);
    lw.git_ok("mine", &["commit", "-q", "-m", "local"]);
    let push = lw.git("mine", &["push", "origin", "HEAD:main"]);
    assert!(!push.status.success());
    assert!(
        stderr(&push).contains(&format!(
            "team/m is a read-only mirror of {}/alice/m",
            up.url
        )),
        "{}",
        stderr(&push)
    );
    assert_eq!(
        lw.git_ok("mine", &["ls-remote", "origin", "refs/heads/main"])
            .split('\t')
            .next()
            .unwrap(),
        before
    );

    // A new upstream commit arrives with `mirror sync`.
    w.git_ok("u", &["fetch", "-q", "origin"]);
    w.git_ok("u", &["checkout", "-q", "-B", "main", "origin/main"]);
    w.write("u/more.bin", &noise(1 << 20, 10));
    w.git_ok("u", &["add", "."]);
    w.git_ok("u", &["commit", "-q", "-m", "more"]);
    w.git_ok("u", &["push", "-q", "origin", "main"]);
    let said = mirror_ok(&local, &["sync", "team/m"], &[]);
    assert!(
        said.contains("synced team/m: 1 refs changed, 1 LFS objects fetched"),
        "{said}"
    );
    assert_eq!(snapshot(&lw, "up"), snapshot(&lw, "mine"));
    lw.git_ok("mine", &["fetch", "-q", "origin"]);
    lw.git_ok("mine", &["checkout", "-q", "origin/main"]);
    assert_eq!(
        std::fs::read(lw.path("mine/more.bin")).unwrap(),
        noise(1 << 20, 10)
    );

    // The server syncs mirrors itself (`--mirror-sync-interval`), and serves the new head
    // through the API at once.
    let mut local = local;
    local.stop();
    local.restart_with(&["--mirror-sync-interval", "1"]);
    w.write("u/later.txt", b"later\n");
    w.git_ok("u", &["add", "."]);
    w.git_ok("u", &["commit", "-q", "-m", "later"]);
    w.git_ok("u", &["push", "-q", "origin", "main"]);
    let head = w.git_ok("u", &["rev-parse", "HEAD"]);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, body) = api(&local, "GET", "/api/models/team/m/revision/main", None, b"");
        if body.contains(&head) {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "never synced: {body}\n{}",
            local.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let lw = lfs_work(&local, &team);
    lw.git_ok(
        ".",
        &["clone", "-q", &local.git_url("team/m", None), "mine"],
    );

    // Detached, it is an ordinary repo and takes the push.
    mirror_ok(&local, &["detach", "team/m"], &[]);
    lw.git_ok("mine", &["checkout", "-q", "-B", "main", "origin/main"]);
    lw.write("mine/local.txt", b"mine\n");
    lw.git_ok("mine", &["add", "."]);
    lw.git_ok("mine", &["commit", "-q", "-m", "local"]);
    lw.git_ok("mine", &["push", "-q", "origin", "HEAD:main"]);
}

#[test]
fn bad_upstreams_leave_nothing_behind_and_imports_resume_and_are_validated() {
    let mut up = Server::start();
    up.user("alice");
    let alice = up.token("alice", "write");
    up.repo("alice/m", false);
    let w = lfs_work(&up, &alice);
    w.git_ok(".", &["clone", "-q", &up.git_url("alice/m", None), "u"]);
    let mut weights = noise(1 << 20, 21);
    weights[0] = 0;
    w.write("u/model.bin", &weights);
    // A card the push rules refuse (an unknown license): a warning on import.
    w.write("u/README.md", b"---\nlicense: not-a-license\n---\n# m\n");
    w.git_ok("u", &["add", "."]);
    let card = w.git("u", &["commit", "-q", "-m", "weights"]);
    assert!(card.status.success());
    let push = w.git("u", &["push", "-q", "origin", "main"]);
    assert!(!push.status.success(), "the upstream took a bad card");
    // The upstream's own policy lets it in (as another hub would have).
    std::fs::write(
        up.data_dir().join("policy.toml"),
        "[rules]\ncard-license = \"warning\"\n",
    )
    .unwrap();
    w.git_ok("u", &["push", "-q", "origin", "main"]);
    let from = format!("{}/alice/m", up.url);

    let local = Server::start();
    local.user("team");

    // A name that is not a repo id, and credentials in the URL: refused at once.
    let out = mirror(
        &local,
        &["add", "team/m", "--from", &format!("{}/alice", up.url)],
        &[],
    );
    assert!(stderr(&out).contains("names no repo"), "{}", stderr(&out));
    let with_secret = from.replace("http://", "http://user:hunter2@");
    let out = mirror(&local, &["add", "team/m", "--from", &with_secret], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--token-env"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("hunter2"));

    // The upstream's stored object altered: refused by its SHA-256, nothing imported.
    let oid = sha256_hex(&weights);
    let key = format!("lfs/objects/{}/{}/{oid}", &oid[..2], &oid[2..4]);
    let good = up.read_stored(&key);
    let mut bad = good.clone();
    bad[100] ^= 1;
    up.write_stored(&key, &bad);
    let out = mirror(&local, &["add", "team/m", "--from", &from], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("object {oid} refused")),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        api(&local, "GET", "/api/models/team/m", None, b"").0,
        404,
        "a half-imported repo is visible"
    );
    up.write_stored(&key, &good);

    // The upstream down: a readable error, nothing visible; back up: the same command
    // goes on and completes, with the card's finding as a warning.
    up.stop();
    let out = mirror(&local, &["add", "team/m", "--from", &from], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot fetch"), "{}", stderr(&out));
    assert_eq!(api(&local, "GET", "/api/models/team/m", None, b"").0, 404);
    up.restart_in_place(&[]);
    let said = mirror_ok(&local, &["add", "team/m", "--from", &from], &[]);
    assert!(said.contains("1 warnings"), "{said}");
    let status = mirror_ok(&local, &["status", "team/m"], &[]);
    assert!(status.contains("card-license"), "{status}");

    // The server learns of a repo the CLI made within its cache's two seconds.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while api(&local, "GET", "/api/models/team/m/revision/main", None, b"").0 != 200 {
        assert!(std::time::Instant::now() < end, "the import never showed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The API and the repo page show where it comes from and the warning.
    let (code, body) = api(&local, "GET", "/api/models/team/m/mirror", None, b"");
    assert_eq!(code, 200, "{body}");
    let m: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(m["upstream"], from.as_str());
    assert!(
        m["warnings"][0]
            .as_str()
            .unwrap()
            .contains("[card-license]"),
        "{m}"
    );
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let r = raw(&local.addr, &request("GET", "/team/m", &[], b""));
        if r.status == 200 {
            break r.text();
        }
        assert!(std::time::Instant::now() < end, "{}", r.status);
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        page.contains("Mirror of") && page.contains("[card-license]"),
        "{page}"
    );

    // A malicious pickle upstream (its own policy let it in) is refused by the import.
    let pickle = std::fs::read(fixtures().join("weights/malicious.bin")).unwrap();
    std::fs::write(
        up.data_dir().join("policy.toml"),
        "[rules]\ncard-license = \"warning\"\npickle-blocked = \"warning\"\n",
    )
    .unwrap();
    w.write("u/pytorch_model.bin", &pickle);
    w.git_ok("u", &["add", "."]);
    w.git_ok("u", &["commit", "-q", "-m", "evil"]);
    w.git_ok("u", &["push", "-q", "origin", "main"]);
    let out = mirror(&local, &["sync", "team/m"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("pickle-blocked") && stderr(&out).contains("pytorch_model.bin"),
        "{}",
        stderr(&out)
    );
    let status = mirror_ok(&local, &["status", "team/m"], &[]);
    assert!(status.contains("last error: "), "{status}");
    assert!(!status.contains("last error: none"), "{status}");

    // A pointer to an object the upstream does not have (its policy let it in): the sync
    // says which, and the mirror keeps what it had.
    std::fs::write(
        up.data_dir().join("policy.toml"),
        "[rules]\ncard-license = \"warning\"\npickle-blocked = \"warning\"\nlfs-missing = \"off\"\n",
    )
    .unwrap();
    let ghost = "b".repeat(64);
    w.git_ok("u", &["reset", "-q", "--hard", "HEAD~1"]);
    w.git_ok("u", &["lfs", "uninstall", "--local"]);
    w.write(
        "u/ghost.bin",
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{ghost}\nsize 123\n")
            .as_bytes(),
    );
    w.git_ok("u", &["-c", "filter.lfs.clean=cat", "add", "ghost.bin"]);
    w.git_ok("u", &["commit", "-q", "-m", "ghost"]);
    w.git_ok("u", &["push", "-q", "-f", "--no-verify", "origin", "main"]);
    let before = api(&local, "GET", "/api/models/team/m/revision/main", None, b"").1;
    let out = mirror(&local, &["sync", "team/m"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("has no LFS object {ghost}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        api(&local, "GET", "/api/models/team/m/revision/main", None, b"").1,
        before
    );

    // Datasets too.
    up.cli_ok(&["repo", "create", "alice/d", "--type", "dataset"]);
    let said = mirror_ok(
        &local,
        &[
            "add",
            "team/d",
            "--type",
            "dataset",
            "--from",
            &format!("{}/datasets/alice/d", up.url),
        ],
        &[],
    );
    assert!(said.contains("imported datasets/team/d from"), "{said}");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while api(&local, "GET", "/api/datasets/team/d", None, b"").0 != 200 {
        assert!(std::time::Instant::now() < end, "the dataset never showed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Requests the server answered, from its log.
fn requests_served(s: &Server) -> usize {
    s.log().matches("finished processing request").count()
}

#[test]
fn a_pull_through_cache_fetches_a_public_repo_on_first_read_and_serves_it_after() {
    let mut up = Server::start();
    up.user("alice");
    let alice = up.token("alice", "write");
    up.repo("alice/m", false);
    up.repo("alice/secret", true);
    let w = lfs_work(&up, &alice);
    w.git_ok(".", &["clone", "-q", &up.git_url("alice/m", None), "u"]);
    let mut weights = noise(2 << 20, 31);
    weights[0] = 0;
    w.write("u/model.bin", &weights);
    w.write("u/config.json", br#"{"model_type": "bert"}"#);
    w.write("u/README.md", b"---\nlicense: mit\n---\n# m\n");
    w.git_ok("u", &["add", "."]);
    w.git_ok("u", &["commit", "-q", "-m", "model"]);
    w.git_ok("u", &["push", "-q", "origin", "main"]);

    let local = Server::start_with(&["--upstream", &up.url]);
    let script = r#"
import hashlib, os
from huggingface_hub import snapshot_download, hf_hub_download
d = snapshot_download("alice/m")
print("files", sorted(os.listdir(d)))
print("config", open(hf_hub_download("alice/m", "config.json")).read())
print("weights", hashlib.sha256(open(os.path.join(d, "model.bin"), "rb").read()).hexdigest())
"#;
    let out = hub_script(&local, None, script);
    assert!(
        out.contains("files ['.gitattributes', 'README.md', 'config.json', 'model.bin']"),
        "{out}"
    );
    assert!(out.contains(r#"config {"model_type": "bert"}"#), "{out}");
    assert!(
        out.contains(&format!("weights {}", sha256_hex(&weights))),
        "{out}"
    );
    // The second download (an empty client cache) asks the upstream nothing.
    let before = requests_served(&up);
    let again = hub_script(&local, None, script);
    assert_eq!(again, out);
    assert_eq!(
        requests_served(&up),
        before,
        "the second download reached the upstream"
    );
    // It is a mirror here: it says where it comes from.
    let (code, body) = api(&local, "GET", "/api/models/alice/m/mirror", None, b"");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(&format!("{}/alice/m", up.url)), "{body}");

    // Concurrent first reads of one repo fetch it once.
    up.repo("alice/m2", false);
    let out = hub_script(
        &local,
        None,
        r#"
from concurrent.futures import ThreadPoolExecutor
from huggingface_hub import model_info
with ThreadPoolExecutor(6) as pool:
    print("shas", len({i.sha for i in pool.map(model_info, ["alice/m2"] * 6)}))
"#,
    );
    assert!(out.contains("shas 1"), "{out}");
    let fetches = up
        .log()
        .lines()
        .filter(|l| l.contains("path=/alice/m2/info/refs"))
        .count();
    assert_eq!(fetches, 1, "{}", up.log());

    // A private upstream repo is not fetched through (it needs `mirror add` with a token).
    let script = r#"
from huggingface_hub import model_info
from huggingface_hub.errors import RepositoryNotFoundError, HfHubHTTPError
for repo in ["alice/secret", "alice/none"]:
    try:
        model_info(repo)
        print(repo, "found")
    except RepositoryNotFoundError:
        print(repo, "RepositoryNotFoundError")
"#;
    let out = hub_script(&local, None, script);
    assert!(
        out.contains("alice/secret RepositoryNotFoundError"),
        "{out}"
    );
    assert!(out.contains("alice/none RepositoryNotFoundError"), "{out}");

    // The upstream down: what was fetched is still served; anything else is an error that
    // names the upstream.
    up.stop();
    let script = r#"
import os
from huggingface_hub import snapshot_download, model_info
from huggingface_hub.errors import HfHubHTTPError
print("files", sorted(os.listdir(snapshot_download("alice/m"))))
try:
    model_info("alice/other")
    print("other found")
except HfHubHTTPError as e:
    print("other", e.response.status_code, e.server_message)
"#;
    let out = hub_script(&local, None, script);
    assert!(
        out.contains("files ['.gitattributes', 'README.md', 'config.json', 'model.bin']"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "other 503 models/alice/other is not here and the upstream {} could not be reached",
            up.url
        )) || out.contains(&format!(
            "other 503 alice/other is not here and the upstream {} could not be reached",
            up.url
        )),
        "{out}"
    );
}
