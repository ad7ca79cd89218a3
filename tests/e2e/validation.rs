//! Push validation end to end: real git pushes of the fixtures to the real server, the
//! standalone hook in a plain bare repo, and `modelhub validate`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::harness::*;

fn fixture(name: &str) -> PathBuf {
    fixtures().join("repos").join(name)
}

fn expected() -> toml::Table {
    let p = fixtures().join("expected.toml");
    toml::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Replaces the work tree of `repo` (all but .git) with a copy of `from`.
fn replace_tree(w: &Work, repo: &str, from: &Path) {
    let dst = w.path(repo);
    for e in std::fs::read_dir(&dst).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() != ".git" {
            if p.is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
    }
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        if e.file_type().is_file() {
            let target = dst.join(rel);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Uploads fixtures/weights/good.safetensors, which fixtures/repos/good-model's pointer names.
fn upload_good_model_object(s: &Server, repo: &str, token: &str) {
    let data = std::fs::read(fixtures().join("weights/good.safetensors")).unwrap();
    let oid = sha256_hex(&data);
    let body = json!({ "operation": "upload", "objects": [{ "oid": oid, "size": data.len() }] });
    let (_, v, _) = json_request(
        &s.addr,
        "POST",
        &format!("/{repo}.git/info/lfs/objects/batch"),
        Some(token),
        &body,
    );
    let href = v["objects"][0]["actions"]["upload"]["href"]
        .as_str()
        .unwrap();
    let rest = href.strip_prefix("http://").unwrap();
    let r = raw(
        &s.addr,
        &request("PUT", &rest[rest.find('/').unwrap()..], &[], &data),
    );
    assert_eq!(r.status, 200);
}

fn no_quarantine_left(bare: &Path) {
    let leftovers: Vec<_> = std::fs::read_dir(bare.join("objects"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("incoming"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "quarantine left behind: {leftovers:?}"
    );
}

#[test]
fn every_bad_fixture_push_is_refused_with_its_findings_and_the_fix_is_accepted() {
    let (s, token) = Server::with_alice();
    upload_good_model_object(&s, "alice/m", &token);
    let bare = s.bare_repo("models/alice/m.git");
    let w = Work::new();
    let url = s.git_url("alice/m", Some(&token));
    w.git_ok(".", &["clone", "-q", &url, "a"]);
    let table = expected();
    let mut names: Vec<&String> = table.keys().filter(|k| k.starts_with("bad-")).collect();
    names.sort();
    assert!(names.len() >= 20);
    for name in names {
        let before = w.git_ok("a", &["ls-remote", "origin"]);
        replace_tree(&w, "a", &fixture(name));
        w.git_ok("a", &["add", "-A"]);
        w.git_ok("a", &["commit", "-q", "-m", name]);
        let rejected = w.git_ok("a", &["rev-parse", "HEAD"]);
        let out = w.git("a", &["push", "origin", "main"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{name} was accepted: {err}");
        assert!(err.contains("(pre-receive hook declined)"), "{name}: {err}");
        for f in table[name.as_str()].as_array().unwrap() {
            let f = f.as_str().unwrap();
            let mut parts = f.splitn(3, ' ');
            let (sev, rule, path) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            let line = err.lines().map(str::trim_end).find(|l| {
                l.starts_with(&format!("remote: {sev}: {path}: "))
                    && l.ends_with(&format!("[{rule}]"))
            });
            assert!(line.is_some(), "{name}: no `{f}` line in:\n{err}");
        }
        if let Some(m) = table["messages"].get(name.as_str()) {
            assert!(err.contains(m.as_str().unwrap()), "{name}: {err}");
        }
        assert!(
            err.contains("remote: modelhub rejected the push to alice/m: 1 error"),
            "{name}: {err}"
        );
        assert_eq!(
            w.git_ok("a", &["ls-remote", "origin"]),
            before,
            "{name} moved a ref"
        );
        let exists = git_in(&bare, &bare, &["cat-file", "-e", &rejected]);
        assert!(
            !exists.status.success(),
            "{name}: the rejected commit's objects stayed"
        );
        no_quarantine_left(&bare);
        w.git_ok("a", &["reset", "-q", "--hard", "origin/main"]);
    }
    // The fixed content is accepted, quietly.
    replace_tree(&w, "a", &fixture("good-model"));
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "good"]);
    let out = w.git("a", &["push", "origin", "main"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("remote: error"), "{}", stderr(&out));
    assert_fsck_clean(&bare);
}

#[test]
fn warnings_show_but_do_not_block_and_large_files_and_unknown_lfs_objects_are_refused() {
    let (s, token) = Server::with_alice();
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&token)), "a"],
    );

    replace_tree(&w, "a", &fixture("warn-vocabulary"));
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "warnings"]);
    let out = w.git("a", &["push", "origin", "main"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("remote: warning: README.md: pipeline_tag \"text-generaton\" is not a known task; did you mean \"text-generation\"? [card-pipeline-tag]"), "{err}");
    assert!(
        err.contains("remote: modelhub accepted the push to alice/m with 3 warnings"),
        "{err}"
    );

    // A plain file over 10 MiB, in the Hub's words.
    let before = w.git_ok("a", &["rev-parse", "HEAD"]);
    w.commit("a", &[("big.txt", &vec![b'x'; 11 << 20])], "big");
    let err = stderr(&w.git("a", &["push", "origin", "main"]));
    for line in [
        "remote: Your push was rejected because it contains files larger than 10 MiB.",
        "remote: Please use https://git-lfs.github.com/ to store large files.",
        "remote: Offending files:",
        "remote:   - big.txt (ref: refs/heads/main)",
    ] {
        assert!(err.contains(line), "{line:?} missing from:\n{err}");
    }
    assert!(w
        .git_ok("a", &["ls-remote", "origin", "main"])
        .starts_with(&before));

    // A pointer to an object never uploaded (GitHub's GH008 case).
    w.git_ok("a", &["reset", "-q", "--hard", &before]);
    let oid = sha256_hex(b"never uploaded");
    let pointer =
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 14\n");
    w.commit(
        "a",
        &[("weights.safetensors", pointer.as_bytes())],
        "pointer only",
    );
    let err = stderr(&w.git("a", &["push", "origin", "main"]));
    assert!(err.contains("remote: error: Your push referenced 1 Git LFS object that this repo's LFS store does not hold:"), "{err}");
    assert!(err.contains(&oid), "{err}");
    assert!(err.contains("git lfs push --all origin"), "{err}");
}

#[test]
fn a_one_file_push_to_a_10000_file_repo_examines_only_that_file() {
    let s = Server::start();
    s.user("alice");
    let token = s.token("alice", "write");
    s.repo("alice/big", false);
    let bare = s.bare_repo("models/alice/big.git");
    // Seed the repo on disk (no hook runs): 10,000 files, one of them invalid JSON.
    let w = Work::new();
    w.git_ok(".", &["clone", "-q", bare.to_str().unwrap(), "seed"]);
    for i in 0..10_000 {
        w.write(
            &format!("seed/d{:02}/f{i:05}.txt", i % 100),
            format!("{i}\n").as_bytes(),
        );
    }
    w.write("seed/sub/tokenizer_config.json", b"{ broken");
    w.write("seed/README.md", b"---\nlicense: mit\n---\n# big\n");
    w.git_ok("seed", &["add", "-A"]);
    w.git_ok("seed", &["commit", "-q", "-m", "seed"]);
    w.git_ok("seed", &["push", "-q", "origin", "main"]);

    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/big", Some(&token)), "a"],
    );
    w.commit("a", &[("d00/f00000.txt", b"changed\n")], "one file");
    let out = w.git("a", &["push", "origin", "main"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("tokenizer_config"),
        "an unchanged file was examined: {}",
        stderr(&out)
    );
    // Touching the broken file does examine it.
    w.commit(
        "a",
        &[("sub/tokenizer_config.json", b"{ still broken")],
        "touch",
    );
    let out = w.git("a", &["push", "origin", "main"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("sub/tokenizer_config.json does not parse as JSON"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_policy_file_changes_severities_and_is_shown() {
    let (s, token) = Server::with_alice();
    std::fs::write(
        s.data_dir().join("policy.toml"),
        "[rules]\ncard-license-missing = \"error\"\n[repos.\"alice/m\".rules]\ncard-language = \"off\"\n",
    )
    .unwrap();
    let shown = s.cli_ok(&["policy", "show", "alice/m"]);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("card-license-missing") && l.contains("error")),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("card-language") && l.contains("off")),
        "{shown}"
    );

    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&token)), "a"],
    );
    replace_tree(&w, "a", &fixture("warn-no-license"));
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "no license"]);
    let out = w.git("a", &["push", "origin", "main"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains("remote: error: README.md: the card has no license [card-license-missing]"),
        "{}",
        stderr(&out)
    );
    // Pushed content cannot change the policy: a policy.toml in the repo is just a file.
    w.write(
        "a/policy.toml",
        b"[rules]\ncard-license-missing = \"off\"\n",
    );
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "try to relax the policy"]);
    assert!(!w.git("a", &["push", "origin", "main"]).status.success());
}

#[test]
fn the_standalone_hook_guards_a_plain_bare_repo() {
    let w = Work::new();
    let bare = w.path("plain.git");
    w.git_ok(
        ".",
        &[
            "init",
            "-q",
            "--bare",
            "--initial-branch=main",
            bare.to_str().unwrap(),
        ],
    );
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hooks");
    w.git_ok(
        "plain.git",
        &["config", "core.hooksPath", hooks.to_str().unwrap()],
    );
    w.git_ok(".", &["clone", "-q", bare.to_str().unwrap(), "a"]);
    let push = |w: &Work| {
        Command::new("git")
            .args(["push", "origin", "main"])
            .current_dir(w.path("a"))
            .env("HOME", w.path("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("MODELHUB_BIN", BIN)
            .output()
            .unwrap()
    };
    replace_tree(&w, "a", &fixture("bad-config-kv-heads"));
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "bad"]);
    let out = push(&w);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("remote: error: config.json: num_attention_heads 32 is not divisible by num_key_value_heads 5 [config-invalid]"), "{err}");
    assert!(
        w.git("plain.git", &["rev-parse", "--verify", "main"])
            .stdout
            .is_empty(),
        "the ref was created"
    );
    // Without a modelhub store, the LFS existence rule is skipped: good-model's pointer passes.
    w.git_ok("a", &["reset", "-q", "--hard"]);
    replace_tree(&w, "a", &fixture("good-model"));
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "--amend", "-m", "good"]);
    let out = push(&w);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn validate_checks_a_local_folder_like_a_push() {
    let run = |dir: &Path, extra: &[&str]| {
        let out = Command::new(BIN)
            .arg("validate")
            .arg(dir)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = run(&fixture("bad-model-index"), &[]);
    assert_eq!(code, Some(1));
    assert!(text.contains("README.md: error: \"model-index[0].results[0].dataset.config\" must be a string [card-model-index]"), "{text}");
    let (code, json) = run(&fixture("bad-json"), &["--format", "json"]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["errors"], 1);
    assert_eq!(v["findings"][0]["rule"], "json-invalid");
    let (code, text) = run(&fixture("good-model"), &[]);
    assert_eq!((code, text.trim()), (Some(0), "0 errors, 0 warnings"));

    // Real weights in a working copy: fine when .gitattributes sends them to LFS, an error
    // when it does not.
    let w = Work::new();
    std::fs::create_dir_all(w.path("m")).unwrap();
    for e in std::fs::read_dir(fixture("good-other-license")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), w.path("m").join(e.file_name())).unwrap();
    }
    let weights = fixtures().join("weights/good.safetensors");
    w.write("m/model.safetensors", &std::fs::read(weights).unwrap());
    w.write(
        "m/.gitattributes",
        b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    );
    assert_eq!(run(&w.path("m"), &[]).0, Some(0));
    w.write("m/.gitattributes", b"");
    let (code, text) = run(&w.path("m"), &[]);
    assert_eq!(code, Some(1));
    assert!(text.contains("[weights-not-in-lfs]"), "{text}");
}
