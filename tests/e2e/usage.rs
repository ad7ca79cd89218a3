//! What repos and namespaces store: `usedStorage` in `model_info(expand=["usedStorage"])` and
//! `modelhub usage`, after uploads through huggingface_hub.

use std::path::Path;

use crate::harness::*;
use crate::hub_api::hub_script;

/// Bytes of the files under `dir`, as `du --apparent-size -b` counts them.
fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                bytes_under(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[test]
fn used_storage_and_usage_count_an_object_once_per_namespace() {
    let (s, token) = Server::with_alice();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("shared.bin"), noise(3 << 20, 8)).unwrap();
    std::fs::write(src.path().join("own.bin"), noise(1 << 20, 9)).unwrap();
    let script = format!(
        r#"
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("alice/n")
api.upload_file(path_or_fileobj="{d}/shared.bin", path_in_repo="w.bin", repo_id="alice/m")
api.upload_file(path_or_fileobj="{d}/shared.bin", path_in_repo="w.bin", repo_id="alice/n")
api.upload_file(path_or_fileobj="{d}/own.bin", path_in_repo="own.bin", repo_id="alice/n")
print("m", api.model_info("alice/m", expand=["usedStorage"]).used_storage)
print("n", api.model_info("alice/n", expand=["usedStorage"]).used_storage)
print("plain", api.model_info("alice/m").used_storage)
"#,
        d = src.path().display()
    );
    let out = hub_script(&s, Some(&token), &script);
    let value = |name: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {out}"))
            .to_owned()
    };
    let git_m = bytes_under(&s.bare_repo("models/alice/m.git"));
    let git_n = bytes_under(&s.bare_repo("models/alice/n.git"));
    // Each repo: its LFS objects plus its git data.
    assert_eq!(value("m"), (git_m + (3 << 20)).to_string());
    assert_eq!(value("n"), (git_n + (4 << 20)).to_string());
    // Reckoned only when asked for, as the Hub does.
    assert_eq!(value("plain"), "None");

    // The pages: the repo's storage to whoever reads it; the namespace's only to its owner.
    let page = |path: &str, token: Option<&str>| {
        let cookie = token.map(|t| format!("mh_token={t}"));
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
        let r = raw(&s.addr, &request("GET", path, &headers, b""));
        assert_eq!(r.status, 200, "{path}");
        r.text()
    };
    let m_used: f64 = value("m").parse().unwrap();
    let shown = format!("{:.1} MB", m_used / 1e6);
    assert!(
        page("/alice/m", None).contains(&format!("<dd class=\"storage\">{shown}</dd>")),
        "{shown}"
    );
    assert!(page("/alice", Some(&token)).contains("Storage used: "));
    assert!(!page("/alice", None).contains("Storage used"));
    s.user("bob");
    let bob = s.token("bob", "read");
    assert!(!page("/alice", Some(&bob)).contains("Storage used"));

    // The namespace counts the object both repos hold once.
    let listed = s.cli_ok(&["usage"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines[0], "namespace\ttotal\tlfs\tgit\trepos");
    let alice = lines
        .iter()
        .find(|l| l.starts_with("alice\t"))
        .unwrap_or_else(|| panic!("{listed}"));
    let (lfs, git) = (4u64 << 20, git_m + git_n);
    assert_eq!(*alice, format!("alice\t{}\t{lfs}\t{git}\t2", lfs + git));

    // Each repo's storage, as `list_user_repos` and `hf repos ls` show it: the caller's own
    // namespace, or an organisation's to its members only.
    s.cli_ok(&["org", "create", "acme", "--owner", "alice"]);
    let bob_write = s.token("bob", "write");
    let script = format!(
        r#"
import json, os, subprocess, sys
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
api.create_repo("acme/data", repo_type="dataset", private=True)
for r in api.list_user_repos():
    print("mine", r.id, r.type, r.visibility, r.storage, round(r.storage_percent, 1), r.updated_at.year > 2000)
for r in api.list_user_repos(namespace="acme"):
    print("org", r.id, r.type, r.visibility, r.storage > 0)
hf = os.path.join(os.path.dirname(sys.executable), "hf")
cli = subprocess.run([hf, "repos", "ls", "--json"], capture_output=True, text=True, check=True)
print("cli", sorted((r["id"], r["%_of_total"]) for r in json.loads(cli.stdout)))
try:
    list(HfApi(token="{bob_write}").list_user_repos(namespace="acme"))
    print("bob listed acme")
except HfHubHTTPError as e:
    print("bob", e.response.status_code)
try:
    list(HfApi(token=False).list_user_repos())
except HfHubHTTPError as e:
    print("anonymous", e.response.status_code)
"#
    );
    let out = hub_script(&s, Some(&token), &script);
    let (m, n): (u64, u64) = (value("m").parse().unwrap(), value("n").parse().unwrap());
    let pct = |x: u64| format!("{:.1}", x as f64 * 100.0 / (m + n) as f64);
    for want in [
        format!("mine alice/m model public {m} {} True", pct(m)),
        format!("mine alice/n model public {n} {} True", pct(n)),
        "org acme/data dataset private True".to_owned(),
        format!(
            "cli [('alice/m', '{}%'), ('alice/n', '{}%')]",
            pct(m),
            pct(n)
        ),
        "bob 403".to_owned(),
        "anonymous 401".to_owned(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn a_quota_refuses_what_does_not_fit_with_each_clients_own_error() {
    let (s, token) = Server::with_alice();
    for (bad, says) in [
        ("0", "a quota of zero"),
        ("-5", "is not a size"),
        ("lots", "is not a size"),
    ] {
        let out = s.cli(&["quota", "set", "alice", bad]);
        assert!(!out.status.success(), "{bad}");
        assert!(stderr(&out).contains(says), "{bad}: {}", stderr(&out));
    }
    s.cli_ok(&["quota", "set", "alice", "100MiB"]);
    let src = tempfile::tempdir().unwrap();
    let big = noise(150 << 20, 21);
    std::fs::write(src.path().join("big.bin"), &big).unwrap();
    std::fs::write(src.path().join("half.bin"), noise(50 << 20, 22)).unwrap();

    // git-lfs: the push stops at the batch, with the server's message; main does not move.
    let bare = s.bare_repo("models/alice/m.git");
    let main_before = git_in(&bare, &bare, &["rev-parse", "main"]).stdout;
    let w = crate::lfs::lfs_work(&s, &token);
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "c"]);
    w.commit("c", &[("big.bin", &big)], "big");
    let out = w.git("c", &["push", "origin", "main"]);
    assert!(!out.status.success());
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        said.contains("storage quota exceeded: alice may store 104.9 MB"),
        "{said}"
    );
    assert_eq!(
        git_in(&bare, &bare, &["rev-parse", "main"]).stdout,
        main_before
    );

    // huggingface_hub, through LFS and through Xet: the client's own errors, with the
    // message; then 50 MiB fits.
    let script = format!(
        r#"
import os
from huggingface_hub import HfApi
api = HfApi()
for way in ["lfs", "xet"]:
    os.environ["HF_HUB_DISABLE_XET"] = "1" if way == "lfs" else ""
    import huggingface_hub.constants as c
    c.HF_HUB_DISABLE_XET = way == "lfs"
    try:
        api.upload_file(path_or_fileobj="{d}/big.bin", path_in_repo=f"{{way}}/big.bin", repo_id="alice/m")
        print(way, "accepted")
    except Exception as e:
        print(way, type(e).__name__, "quota exceeded" in str(e), str(e).replace(chr(10), " | ")[:300])
api.upload_file(path_or_fileobj="{d}/half.bin", path_in_repo="half.bin", repo_id="alice/m")
print("half", api.model_info("alice/m", expand=["usedStorage"]).used_storage)
"#,
        d = src.path().display()
    );
    let (out, err) = crate::hub_api::hub_script_xet(&s, Some(&token), &script);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {out}\n{err}"))
            .to_owned()
    };
    // Refused at preupload, before anything is sent, with the server's message (the LFS
    // batch, as git-lfs showed above, and the Xet shard check again, exactly).
    // (The client puts the request's id first, then the server's message.)
    for way in ["lfs", "xet"] {
        let said = line(way);
        assert!(
            said.starts_with(&format!("{way} HfHubHTTPError True (Request ID: "))
                && said.contains("403 Forbidden: storage quota exceeded: alice may store 104.9 MB"),
            "{out}\n{err}"
        );
    }
    let used: u64 = line("half")["half ".len()..].parse().unwrap();
    assert!((50 << 20..100 << 20).contains(&used), "{used}");
    let shown = s.cli_ok(&["quota", "show"]);
    assert_eq!(
        shown.lines().nth(1),
        Some(format!("alice\t{}\t{used}", 100u64 << 20).as_str()),
        "{shown}"
    );

    // Lowered below what alice stores: a push that brings objects is refused with a
    // `remote:` line, and so is an API commit (it lands as a push), refs unchanged.
    s.cli_ok(&["quota", "set", "alice", "1MB"]);
    let main_before = git_in(&bare, &bare, &["rev-parse", "main"]).stdout;
    w.git_ok("c", &["reset", "-q", "--hard", "origin/main"]);
    w.git_ok("c", &["pull", "-q", "origin", "main"]);
    w.commit("c", &[("notes.txt", b"a small note\n")], "note");
    let out = w.git("c", &["push", "origin", "main"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("remote: error: storage quota exceeded: alice may store 1.0 MB"),
        "{}",
        stderr(&out)
    );
    let script = r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
try:
    HfApi().upload_file(path_or_fileobj=b"note\n", path_in_repo="note.txt", repo_id="alice/m")
    print("accepted")
except HfHubHTTPError as e:
    print(e.response.status_code, "storage quota exceeded" in str(e))
"#;
    assert_eq!(hub_script(&s, Some(&token), script).trim(), "400 True");
    assert_eq!(
        git_in(&bare, &bare, &["rev-parse", "main"]).stdout,
        main_before
    );
    // Without a limit, the same push lands.
    s.cli_ok(&["quota", "clear", "alice"]);
    w.git_ok("c", &["push", "-q", "origin", "main"]);
}

#[test]
fn list_lfs_files_names_what_a_repo_stores_for_its_writers() {
    let (s, token) = Server::with_alice();
    let read = s.token("alice", "read");
    let src = tempfile::tempdir().unwrap();
    let (one, two) = (noise(300_000, 31), noise(200_000, 32));
    std::fs::write(src.path().join("one.bin"), &one).unwrap();
    std::fs::write(src.path().join("two.bin"), &two).unwrap();
    let script = format!(
        r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
api.upload_file(path_or_fileobj="{d}/one.bin", path_in_repo="one.bin", repo_id="alice/m")
api.upload_file(path_or_fileobj="{d}/two.bin", path_in_repo="checkpoints/two.bin", repo_id="alice/m")
api.delete_file("one.bin", repo_id="alice/m")
for f in sorted(api.list_lfs_files("alice/m"), key=lambda f: f.filename):
    print("file", f.file_oid, f.filename, f.size, f.pushed_at.year >= 2026, f.ref)
try:
    list(HfApi(token="{read}").list_lfs_files("alice/m"))
    print("reader listed")
except HfHubHTTPError as e:
    print("reader", e.response.status_code)
"#,
        d = src.path().display()
    );
    let out = hub_script(&s, Some(&token), &script);
    let files: Vec<&str> = out.lines().filter(|l| l.starts_with("file ")).collect();
    assert_eq!(
        files,
        [
            format!(
                "file {} checkpoints/two.bin 200000 True None",
                sha256_hex(&two)
            ),
            // Deleted from main, still stored, named by the history.
            format!("file {} one.bin 300000 True None", sha256_hex(&one)),
        ],
        "{out}"
    );
    assert!(out.contains("reader 403"), "{out}");
}

#[test]
fn a_xet_upload_that_skips_preupload_is_refused_at_shard_registration() {
    let (s, token) = Server::with_alice();
    s.cli_ok(&["quota", "set", "alice", "1MiB"]);
    let src = tempfile::tempdir().unwrap();
    let mut big = noise(3 << 20, 71);
    big[0] = 0;
    std::fs::write(src.path().join("big.dat"), &big).unwrap();
    // A client that never asks preupload (here huggingface_hub with that step replaced): the
    // write token is granted (the namespace is not full yet), the xorbs go up, and the shard
    // that would make a 3 MiB file is refused with the server's message.
    let script = format!(
        r#"
import huggingface_hub._commit_api as ca
def no_preupload(additions, *args, **kwargs):
    for a in additions:
        a._upload_mode, a._should_ignore, a._remote_oid = "lfs", False, None
ca._fetch_upload_modes = no_preupload
from huggingface_hub import HfApi
try:
    HfApi().upload_file(path_or_fileobj="{d}/big.dat", path_in_repo="big.dat", repo_id="alice/m")
    print("accepted")
except Exception as e:
    print("refused", type(e).__name__)
print("files", HfApi().list_repo_files("alice/m"))
"#,
        d = src.path().display()
    );
    let (out, err) = crate::hub_api::hub_script_xet(&s, Some(&token), &script);
    assert!(out.contains("refused "), "{out}\n{err}");
    assert!(out.contains("files ['.gitattributes']"), "{out}");
    // The refusal is the shard's (the file is registered, not linked: the namespace holds
    // nothing more).
    assert!(
        s.log()
            .lines()
            .any(|l| l.contains("/xet-cas/v1/shards") && l.contains("status=403")),
        "{}",
        s.log()
    );
    let shown = s.cli_ok(&["quota", "show"]);
    let used: u64 = shown
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!(used < 1 << 20, "{shown}");
}
