//! Uploads through the Hub API with the real huggingface_hub (`HF_HUB_DISABLE_XET=1`), checked
//! with real git + git-lfs clones: same validation as a push, compare-and-swap on the branch.

use crate::harness::*;
use crate::hub_api::hub_script;
use crate::lfs::lfs_work;

/// A fresh git + git-lfs clone of alice/m.
fn clone(s: &Server, token: &str) -> Work {
    let w = lfs_work(s, token);
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "c"]);
    w
}

#[test]
fn upload_file_and_folder_land_as_commits_git_clones() {
    let (s, token) = Server::with_alice();
    let src = tempfile::tempdir().unwrap();
    let folder = src.path().join("model");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        fixtures().join("repos/good-model/README.md"),
        folder.join("README.md"),
    )
    .unwrap();
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
    std::fs::write(
        folder.join("tokenizer_config.json"),
        b"{\"model_max_length\": 4096}\n",
    )
    .unwrap();
    let big = noise(50 << 20, 77);
    std::fs::write(src.path().join("big.bin"), &big).unwrap();
    let script = format!(
        r#"
from huggingface_hub import HfApi
api = HfApi()
print("folder", api.upload_folder(folder_path="{folder}", repo_id="alice/m", commit_message="Upload model", commit_description="From a folder").oid)
print("small", api.upload_file(path_or_fileobj=b"hello\n", path_in_repo="docs/hello.txt", repo_id="alice/m").oid)
print("big", api.upload_file(path_or_fileobj="{big}", path_in_repo="weights/big.bin", repo_id="alice/m", commit_message="Add big weights").oid)
"#,
        folder = folder.display(),
        big = src.path().join("big.bin").display()
    );
    let out = hub_script(&s, Some(&token), &script);
    let w = clone(&s, &token);
    for f in [
        "README.md",
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
    ] {
        assert_eq!(
            std::fs::read(w.path(&format!("c/{f}"))).unwrap(),
            std::fs::read(folder.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(
        std::fs::read(w.path("c/docs/hello.txt")).unwrap(),
        b"hello\n"
    );
    assert!(
        std::fs::read(w.path("c/weights/big.bin")).unwrap() == big,
        "50 MiB file differs"
    );
    // In git, the weights are LFS pointers, and the log names the uploader.
    let pointer = w.git_ok("c", &["cat-file", "-p", "HEAD:weights/big.bin"]);
    assert!(
        pointer.starts_with("version https://git-lfs.github.com/spec/v1"),
        "{pointer}"
    );
    let log = w.git_ok("c", &["log", "--format=%an|%s|%b", "-3"]);
    let lines: Vec<&str> = log.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "alice|Add big weights|", "{log}");
    assert!(log.contains("alice|Upload model|From a folder"), "{log}");
    let head = w.git_ok("c", &["rev-parse", "HEAD"]);
    assert!(out.contains(&format!("big {head}")), "{out}");
    assert_fsck_clean(&s.bare_repo("models/alice/m.git"));
}

#[test]
fn create_commit_with_every_operation_and_pull_requests() {
    let (s, token) = Server::with_alice();
    let script = r#"
from huggingface_hub import HfApi, CommitOperationAdd, CommitOperationDelete, CommitOperationCopy, hf_hub_download
api = HfApi()
api.create_commit("alice/m", operations=[
    CommitOperationAdd("a.txt", b"a\n"),
    CommitOperationAdd("dir/b.txt", b"b\n"),
    CommitOperationAdd("dir/c.txt", b"c\n"),
    CommitOperationAdd("old/x.txt", b"x\n"),
], commit_message="Seed")
api.create_commit("alice/m", operations=[
    CommitOperationAdd("new.txt", b"new\n"),
    CommitOperationDelete("a.txt"),
    CommitOperationCopy("dir/b.txt", "copy/b.txt"),
    CommitOperationDelete("old/"),
], commit_message="Mixed")
api.delete_file("dir/c.txt", "alice/m")
api.delete_folder("copy", "alice/m")
pr = api.upload_file(path_or_fileobj=b"proposal\n", path_in_repo="pr.txt", repo_id="alice/m", create_pr=True)
assert pr.pr_url.endswith("/discussions/1") and pr.pr_revision == "refs/pr/1", pr
print(open(hf_hub_download("alice/m", "pr.txt", revision="refs/pr/1")).read().strip())
print(sorted(api.list_repo_files("alice/m")))
"#;
    let out = hub_script(&s, Some(&token), script);
    assert!(out.contains("proposal"), "{out}");
    assert!(
        out.contains("['.gitattributes', 'dir/b.txt', 'new.txt']"),
        "{out}"
    );
    let w = clone(&s, &token);
    let files = w.git_ok("c", &["ls-files"]);
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        [".gitattributes", "dir/b.txt", "new.txt"]
    );
    let subjects = w.git_ok("c", &["log", "--format=%s"]);
    assert!(subjects.starts_with("Delete folder copy with huggingface_hub\nDelete dir/c.txt with huggingface_hub\nMixed\nSeed"), "{subjects}");
    // The PR is a ref of its own; main does not have its file.
    assert!(w
        .git_ok("c", &["ls-remote", "origin", "refs/pr/1"])
        .contains("refs/pr/1"));
    assert!(!w.path("c/pr.txt").exists());
}

#[test]
fn bad_commits_are_refused_like_pushes_and_write_nothing() {
    let (s, token) = Server::with_alice();
    let bare = s.bare_repo("models/alice/m.git");
    let malicious = fixtures().join("weights/malicious.bin");
    let script = format!(
        r#"
from huggingface_hub import HfApi, CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
main = api.model_info("alice/m").sha
# A bad card: the client checks it with the server's validator first, and stops.
try:
    api.upload_file(path_or_fileobj=b"---\nlicense: apache2\n---\n", path_in_repo="README.md", repo_id="alice/m")
    raise SystemExit("a bad card was accepted")
except ValueError as e:
    print("card", str(e).replace(chr(10), " | "))
for name, op in [
    ("pickle", CommitOperationAdd("pytorch_model.bin", "{malicious}")),
    ("config", CommitOperationAdd("config.json", b'{{"model_type": "llama", "hidden_size": 100, "num_attention_heads": 3}}')),
]:
    try:
        api.create_commit("alice/m", operations=[op], commit_message=name)
        raise SystemExit(f"{{name}} was accepted")
    except HfHubHTTPError as e:
        print(name, e.response.status_code, str(e).replace(chr(10), " | "))
# A stale parent commit is refused.
api.upload_file(path_or_fileobj=b"1\n", path_in_repo="one.txt", repo_id="alice/m")
try:
    api.upload_file(path_or_fileobj=b"2\n", path_in_repo="two.txt", repo_id="alice/m", parent_commit=main)
    raise SystemExit("a stale parent was accepted")
except HfHubHTTPError as e:
    print("stale", e.response.status_code, "A commit has happened since. Please refresh and try again." in str(e))
# The card alone, as RepoCard.validate() checks it (a plain-text answer).
from huggingface_hub import ModelCard
try:
    ModelCard("---\nlicense: apache2\n---\n# card\n").validate()
    raise SystemExit("RepoCard.validate passed a bad card")
except ValueError as e:
    print("validate", str(e).replace(chr(10), " | "))
ModelCard("---\nlicense: apache-2.0\n---\n# card\n").validate()
print("validate good")
"#,
        malicious = malicious.display()
    );
    let out = hub_script(&s, Some(&token), &script);
    assert!(
        out.contains("pickle 400")
            && out
                .contains("pytorch_model.bin:archive/data.pkl imports posix.system when unpickled"),
        "{out}"
    );
    assert!(
        out.contains("modelhub rejected the push to alice/m"),
        "{out}"
    );
    assert!(
        out.contains("config 400")
            && out.contains("hidden_size 100 is not divisible by num_attention_heads 3"),
        "{out}"
    );
    assert!(out.contains("stale 412 True"), "{out}");
    assert!(
        out.contains("validate - \"license\" \"apache2\" is not a Hub license id; the closest is \"apache-2.0\""),
        "{out}"
    );
    assert!(out.contains("validate good"), "{out}");
    assert!(out.contains("card Invalid metadata in README.md. | - \"license\" \"apache2\" is not a Hub license id; the closest is \"apache-2.0\""), "{out}");
    // Only the one good commit landed; no refused object is in the repo.
    let log = git_in(&bare, &bare, &["log", "--format=%s", "main"]);
    assert_eq!(
        String::from_utf8_lossy(&log.stdout)
            .lines()
            .collect::<Vec<_>>(),
        ["Upload one.txt with huggingface_hub", "initial commit"]
    );
    assert_fsck_clean(&bare);
    let garbage = git_in(&bare, &bare, &["fsck", "--unreachable", "--no-reflogs"]);
    assert!(
        String::from_utf8_lossy(&garbage.stdout).trim().is_empty(),
        "refused objects stayed: {}",
        String::from_utf8_lossy(&garbage.stdout)
    );
}

#[test]
fn git_pushes_and_api_commits_interleave_and_race_safely() {
    let (s, token) = Server::with_alice();
    let w = lfs_work(&s, &token);
    let url = s.git_url("alice/m", Some(&token));
    w.git_ok(".", &["clone", "-q", &url, "a"]);
    w.commit("a", &[("pushed.txt", b"from git\n")], "A git push");
    w.git_ok("a", &["push", "-q", "origin", "main"]);
    hub_script(&s, Some(&token), "from huggingface_hub import HfApi\nHfApi().upload_file(path_or_fileobj=b'api\\n', path_in_repo='api.txt', repo_id='alice/m')");
    w.git_ok("a", &["pull", "-q", "--rebase"]);
    assert_eq!(std::fs::read(w.path("a/api.txt")).unwrap(), b"api\n");
    w.commit("a", &[("pushed2.txt", b"again\n")], "Another git push");
    w.git_ok("a", &["push", "-q", "origin", "main"]);
    let out = hub_script(
        &s,
        Some(&token),
        "from huggingface_hub import HfApi\nprint(sorted(HfApi().list_repo_files('alice/m')))",
    );
    assert!(
        out.contains("'api.txt'") && out.contains("'pushed2.txt'"),
        "{out}"
    );

    // Now race: API commits in a loop against git pushes of a stale clone.
    w.git_ok(".", &["clone", "-q", &url, "b"]);
    let api = std::thread::scope(|sc| {
        let api = sc.spawn(|| {
            hub_script(
                &s,
                Some(&token),
                r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
api, ok, refused = HfApi(), 0, 0
for i in range(8):
    try:
        api.upload_file(path_or_fileobj=f"{i}\n".encode(), path_in_repo=f"race/{i}.txt", repo_id="alice/m")
        ok += 1
    except HfHubHTTPError as e:
        assert e.response.status_code == 412, e
        refused += 1
print("api", ok, refused)
"#,
            )
        });
        for i in 0..8 {
            w.commit(
                "b",
                &[(&format!("git/{i}.txt"), format!("{i}\n").as_bytes())],
                &format!("git {i}"),
            );
            if !w
                .git("b", &["push", "-q", "origin", "main"])
                .status
                .success()
            {
                w.git_ok("b", &["pull", "-q", "--rebase"]);
            }
        }
        api.join().unwrap()
    });
    let landed: usize = api.split_whitespace().nth(1).unwrap().parse().unwrap();
    // Every API commit that said it landed is there, whole.
    let out = hub_script(&s, Some(&token), "from huggingface_hub import HfApi\nprint(len([f for f in HfApi().list_repo_files('alice/m') if f.startswith('race/')]))");
    assert_eq!(out.trim().parse::<usize>().unwrap(), landed, "{api}");
    assert_fsck_clean(&s.bare_repo("models/alice/m.git"));
}

#[test]
fn pull_requests_branches_and_tags_pass_the_validator_like_pushes() {
    let (s, token) = Server::with_alice();
    let bare = s.bare_repo("models/alice/m.git");
    // A commit with content the validator refuses, written straight into the bare repo (as a
    // pull-request ref made before PR refs were validated): no door may put it on a branch.
    let w = clone(&s, &token);
    w.write(
        "c/config.json",
        br#"{"model_type": "llama", "hidden_size": 100, "num_attention_heads": 3}"#,
    );
    w.git_ok("c", &["add", "config.json"]);
    w.git_ok("c", &["commit", "-qm", "bad config"]);
    w.git_ok(
        "c",
        &["push", "-q", bare.to_str().unwrap(), "HEAD:refs/pr/7"],
    );
    let refs_before = git_in(&bare, &bare, &["for-each-ref"]);
    let script = r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
bad = b'{"model_type": "llama", "hidden_size": 100, "num_attention_heads": 3}'
for name, call in [
    ("pr", lambda: api.upload_file(path_or_fileobj=bad, path_in_repo="config.json", repo_id="alice/m", create_pr=True)),
    ("branch", lambda: api.create_branch("alice/m", branch="from-pr", revision="refs/pr/7")),
    ("tag", lambda: api.create_tag("alice/m", tag="v-pr", revision="refs/pr/7")),
    ("annotated", lambda: api.create_tag("alice/m", tag="v-pr-a", revision="refs/pr/7", tag_message="x")),
]:
    try:
        call()
        print(name, "accepted")
    except HfHubHTTPError as e:
        print(name, e.response.status_code, str(e).replace(chr(10), " | "))
# What was validated stays easy: a branch and tags of main.
api.create_branch("alice/m", branch="dev")
api.create_tag("alice/m", tag="v1", revision="dev", tag_message="first")
print("good", sorted(b.name for b in api.list_repo_refs("alice/m").branches))
"#;
    let out = hub_script(&s, Some(&token), script);
    for name in ["pr", "branch", "tag", "annotated"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {out}"));
        assert!(
            line.starts_with(&format!("{name} 400"))
                && line.contains("hidden_size 100 is not divisible by num_attention_heads 3"),
            "{line}"
        );
    }
    assert!(out.contains("good ['dev', 'main']"), "{out}");
    // No refused ref exists; refs/pr/7 is where it was and no PR ref was added.
    let refs =
        String::from_utf8_lossy(&git_in(&bare, &bare, &["for-each-ref"]).stdout).into_owned();
    let before = String::from_utf8_lossy(&refs_before.stdout).into_owned();
    for r in before.lines() {
        assert!(refs.contains(r), "{r} changed: {refs}");
    }
    for gone in ["from-pr", "v-pr", "refs/pr/1"] {
        assert!(!refs.contains(gone), "{gone} was written: {refs}");
    }
    assert!(
        refs.contains("refs/heads/dev") && refs.contains("refs/tags/v1"),
        "{refs}"
    );
}

#[test]
fn super_squash_history_keeps_each_branch_tree_in_one_commit() {
    let (s, token) = Server::with_alice();
    let read = s.token("alice", "read");
    let src = tempfile::tempdir().unwrap();
    let weights = noise(3 << 20, 41);
    std::fs::write(src.path().join("w.bin"), &weights).unwrap();
    let script = format!(
        r#"
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import BadRequestError, HfHubHTTPError, RevisionNotFoundError
api = HfApi()
api.upload_file(path_or_fileobj=b"one\n", path_in_repo="notes.txt", repo_id="alice/m")
api.upload_file(path_or_fileobj="{w}", path_in_repo="weights/w.bin", repo_id="alice/m")
api.upload_file(path_or_fileobj=b"two\n", path_in_repo="notes.txt", repo_id="alice/m")
api.create_branch("alice/m", branch="feature/x")
api.upload_file(path_or_fileobj=b"three\n", path_in_repo="notes.txt", repo_id="alice/m", revision="feature/x")
api.create_tag("alice/m", tag="v1")
print("before", len(api.list_repo_commits("alice/m")))
api.super_squash_history("alice/m", commit_message="Squashed")
after = api.list_repo_commits("alice/m")
print("after", len(after), after[0].title, after[0].authors)
api.super_squash_history("alice/m", branch="feature/x")
feature = api.list_repo_commits("alice/m", revision="feature/x")
print("feature", len(feature), feature[0].title)
print("notes", open(hf_hub_download("alice/m", "notes.txt")).read().strip(),
      open(hf_hub_download("alice/m", "notes.txt", revision="feature/x")).read().strip())
print("weights", open(hf_hub_download("alice/m", "weights/w.bin"), "rb").read() == open("{w}", "rb").read())
for name, call in [("tag", lambda: api.super_squash_history("alice/m", branch="v1")),
                   ("missing", lambda: api.super_squash_history("alice/m", branch="nope")),
                   ("reader", lambda: HfApi(token="{read}").super_squash_history("alice/m"))]:
    try:
        call()
        print(name, "accepted")
    except RevisionNotFoundError:
        print(name, "RevisionNotFoundError")
    except BadRequestError as e:
        print(name, "BadRequestError", str(e).replace(chr(10), " | "))
    except HfHubHTTPError as e:
        print(name, e.response.status_code)
"#,
        w = src.path().join("w.bin").display()
    );
    let out = hub_script(&s, Some(&token), &script);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {out}"))
            .to_owned()
    };
    assert_eq!(line("before"), "before 4");
    assert_eq!(line("after"), "after 1 Squashed ['alice']");
    // The client's own default message.
    assert_eq!(
        line("feature"),
        "feature 1 Super-squash branch 'feature/x' using huggingface_hub"
    );
    assert_eq!(line("notes"), "notes two three");
    assert_eq!(line("weights"), "weights True");
    assert!(
        line("tag").starts_with("tag BadRequestError") && line("tag").contains("is a tag"),
        "{out}"
    );
    assert_eq!(line("missing"), "missing RevisionNotFoundError");
    assert_eq!(line("reader"), "reader 403");

    // git sees one commit on main with the same files (the weights through git-lfs), the tag
    // still names the old history, and the repo is whole.
    let w = clone(&s, &token);
    assert_eq!(w.git_ok("c", &["rev-list", "--count", "HEAD"]).trim(), "1");
    assert_eq!(std::fs::read(w.path("c/notes.txt")).unwrap(), b"two\n");
    assert!(std::fs::read(w.path("c/weights/w.bin")).unwrap() == weights);
    let tagged = w.git_ok("c", &["rev-list", "--count", "v1"]);
    assert_eq!(tagged.trim(), "4");
    assert_fsck_clean(&s.bare_repo("models/alice/m.git"));
}

#[test]
fn preupload_skips_what_the_repos_gitignore_or_the_commits_own_ignores() {
    let (s, token) = Server::with_alice();
    let one = tempfile::tempdir().unwrap();
    for (p, b) in [
        ("keep.txt", "keep\n"),
        ("run.log", "log\n"),
        ("sub/deep.log", "log\n"),
        ("build/out.txt", "built\n"),
    ] {
        let f = one.path().join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, b).unwrap();
    }
    let two = tempfile::tempdir().unwrap();
    for (p, b) in [
        (".gitignore", "*.tmp\n"),
        ("x.tmp", "tmp\n"),
        ("y.log", "now kept\n"),
    ] {
        std::fs::write(two.path().join(p), b).unwrap();
    }
    let script = format!(
        r#"
from huggingface_hub import HfApi
api = HfApi()
api.upload_file(path_or_fileobj=b"*.log\nbuild/\n", path_in_repo=".gitignore", repo_id="alice/m")
api.upload_folder(folder_path="{one}", repo_id="alice/m")
print(sorted(api.list_repo_files("alice/m")))
api.upload_folder(folder_path="{two}", repo_id="alice/m")
print(sorted(api.list_repo_files("alice/m")))
"#,
        one = one.path().display(),
        two = two.path().display()
    );
    let out = hub_script(&s, Some(&token), &script);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "['.gitattributes', '.gitignore', 'keep.txt']",
            "['.gitattributes', '.gitignore', 'keep.txt', 'y.log']",
        ],
        "{out}"
    );
}

#[test]
fn paths_no_repo_may_hold_are_refused_with_422_on_every_write() {
    let (s, token) = Server::with_alice();
    let script = r#"
from huggingface_hub import HfApi, CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import get_session, build_hf_headers
from huggingface_hub import constants
api = HfApi()
head = api.model_info("alice/m").sha
for path in ["..\\ddd", "a\\b.txt", "a//b.txt", "bad\x01name", "a/./b", ".git/config"]:
    for big in [False, True]:
        data = b"\0" * 20_000_000 if big else b"small\n"
        try:
            api.create_commit("alice/m", operations=[CommitOperationAdd(path, data)], commit_message="x")
            print(repr(path), big, "accepted")
        except HfHubHTTPError as e:
            print(repr(path), big, e.response.status_code, "invalid path" in str(e))
        except ValueError as e:
            print(repr(path), big, "client refused")
# What the client would not send, straight to the endpoints.
url = f"{constants.ENDPOINT}/api/models/alice/m/preupload/main"
r = get_session().post(url, json={"files": [{"path": "/abs.txt", "size": 3, "sample": "YWJj"}]}, headers=build_hf_headers())
print("preupload /abs.txt", r.status_code, r.headers.get("x-error-message", "")[:40])
print("unchanged", api.model_info("alice/m").sha == head)
"#;
    let out = hub_script(&s, Some(&token), script);
    for path in [
        r"'..\\ddd'",
        r"'a\\b.txt'",
        "'a//b.txt'",
        r"'bad\x01name'",
        "'a/./b'",
        "'.git/config'",
    ] {
        for big in ["False", "True"] {
            let line = out
                .lines()
                .find(|l| l.starts_with(&format!("{path} {big} ")))
                .unwrap_or_else(|| panic!("{path} {big}: {out}"));
            assert!(
                line.ends_with(" 422 True") || line.ends_with(" client refused"),
                "{line}\n{out}"
            );
        }
    }
    // The backslash paths get past the client: the server is what refuses them.
    assert!(out.contains(r"'..\\ddd' False 422 True"), "{out}");
    assert!(out.contains(r"'..\\ddd' True 422 True"), "{out}");
    assert!(out.contains("preupload /abs.txt 422 invalid path"), "{out}");
    assert!(out.contains("unchanged True"), "{out}");
}

#[test]
fn commits_start_from_a_branch_never_a_tag_or_a_commit_id() {
    let (s, token) = Server::with_alice();
    let script = r#"
from huggingface_hub import HfApi, CommitOperationAdd
from huggingface_hub.errors import RevisionNotFoundError
api = HfApi()
api.create_tag("alice/m", tag="v1")
sha = api.model_info("alice/m").sha
for name, rev, pr in [("sha", sha, False), ("sha-pr", sha, True), ("tag", "v1", False), ("tag-pr", "v1", True)]:
    try:
        api.create_commit("alice/m", operations=[CommitOperationAdd("x.txt", b"x\n")], commit_message=name, revision=rev, create_pr=pr)
        print(name, "accepted")
    except RevisionNotFoundError as e:
        print(name, "RevisionNotFoundError")
refs = api.list_repo_refs("alice/m", include_pull_requests=True)
print("branches", sorted(b.name for b in refs.branches), "prs", len(refs.pull_requests or []))
print("pr from main", api.create_commit("alice/m", operations=[CommitOperationAdd("x.txt", b"x\n")], commit_message="pr", create_pr=True).pr_num)
"#;
    let out = hub_script(&s, Some(&token), script);
    for name in ["sha", "sha-pr", "tag", "tag-pr"] {
        assert!(
            out.lines()
                .any(|l| l == format!("{name} RevisionNotFoundError")),
            "{name}\n{out}"
        );
    }
    assert!(out.contains("branches ['main'] prs 0"), "{out}");
    assert!(out.contains("pr from main 1"), "{out}");
}

#[test]
fn the_validators_advice_for_an_api_commit_speaks_of_the_api() {
    let (s, token) = Server::with_alice();
    let script = r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
# A .gitattributes that no longer tracks *.bin: preupload sends the small file as a blob.
api.upload_file(path_or_fileobj=b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n", path_in_repo=".gitattributes", repo_id="alice/m")
try:
    api.upload_file(path_or_fileobj=b"not really weights\n", path_in_repo="w.bin", repo_id="alice/m")
    print("accepted")
except HfHubHTTPError as e:
    said = str(e)
    print("refused", "weights-not-in-lfs" in said, "upload it with huggingface_hub" in said, "git lfs track" in said)
"#;
    let out = hub_script(&s, Some(&token), script);
    assert_eq!(out.trim(), "refused True True False", "{out}");
}

/// Card forms the Hub takes are taken (a string where a list is usual, a number for a name,
/// a dataset named by something other than its id, `license: other` without its name): they land, with a warning where
/// the Hub would show one; what breaks the model tree or loading is still refused.
#[test]
fn cards_in_the_forms_the_hub_accepts_land() {
    let (s, token) = Server::with_alice();
    let script = r#"
import warnings
from huggingface_hub import HfApi, ModelCard, DatasetCard
api = HfApi()
api.create_repo("alice/set", repo_type="dataset")
model = "---\nlicense: other\ndatasets: wikipedia (en)\nmetrics: accuracy\ntags: text\nlanguage: en\n---\n# m\n"
data = "---\nlicense: cc-by-4.0\nsize_categories: 1K<n<10K\ntask_categories: text-classification\npretty_name: 2024\n---\n# d\n"
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    ModelCard(model).push_to_hub("alice/m")
    DatasetCard(data).push_to_hub("alice/set", repo_type="dataset")
said = " | ".join(str(w.message).replace(chr(10), " ") for w in seen)
print("model", ModelCard.load("alice/m").data.datasets, ModelCard.load("alice/m").data.metrics)
print("dataset", DatasetCard.load("alice/set", repo_type="dataset").data.size_categories)
print("warned", "license: other needs both license_name and license_link" in said, "If possible, use a dataset id" in said)
try:
    ModelCard("---\nlicense: mit\nbase_model: /Users/me/final\n---\n# m\n").push_to_hub("alice/m")
    print("bad base_model accepted")
except ValueError as e:
    print("refused", "is not a valid model id" in str(e))
"#;
    let out = crate::hub_api::hub_script(&s, Some(&token), script);
    for want in [
        "model wikipedia (en) accuracy",
        "dataset 1K<n<10K",
        "warned True True",
        "refused True",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}
