//! Weights validation end to end: git + git-lfs push real weight files to the real server;
//! bad ones are refused with the expected `remote:` lines and the ref unchanged, good ones
//! accepted with their parameter counts recorded.

use crate::harness::*;
use crate::lfs::lfs_work;

fn weights(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("weights").join(name)).unwrap()
}

#[test]
fn bad_weights_are_refused_and_good_ones_recorded() {
    let (s, token) = Server::with_alice();
    let w = lfs_work(&s, &token);
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "a"]);
    w.write("a/README.md", b"---\nlicense: mit\n---\n# weights\n");
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "card"]);
    w.git_ok("a", &["push", "-q", "origin", "main"]);

    let cases: [(&str, &str, &[&str]); 3] = [
        (
            "pytorch_model.bin",
            "malicious.bin",
            &["remote: error: pytorch_model.bin: pytorch_model.bin:archive/data.pkl imports posix.system when unpickled: loading it would run code [pickle-blocked]"],
        ),
        (
            "model.safetensors",
            "truncated.safetensors",
            &["remote: error: model.safetensors: model.safetensors is not a valid safetensors file: the header describes 352 bytes of tensors, so the file should be 712 bytes, but it is 702 [safetensors-invalid]"],
        ),
        ("model.gguf", "corrupt.gguf", &["[gguf-invalid]"]),
    ];
    for (path, fixture, lines) in cases {
        let before = w.git_ok("a", &["ls-remote", "origin", "main"]);
        w.write(&format!("a/{path}"), &weights(fixture));
        w.git_ok("a", &["add", "-A"]);
        w.git_ok("a", &["commit", "-q", "-m", fixture]);
        let out = w.git("a", &["push", "origin", "main"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{fixture} was accepted");
        for line in lines {
            assert!(err.contains(line), "{fixture}: {line:?} not in:\n{err}");
        }
        assert_eq!(
            w.git_ok("a", &["ls-remote", "origin", "main"]),
            before,
            "{fixture} moved main"
        );
        w.git_ok("a", &["reset", "-q", "--hard", "origin/main"]);
    }

    // Good weights with a matching config pass, and their parameter counts are recorded.
    w.write("a/model.safetensors", &weights("good.safetensors"));
    w.write("a/config.json", &weights("config-match.json"));
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "good weights"]);
    let out = w.git("a", &["push", "origin", "main"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let oid = sha256_hex(&weights("good.safetensors"));
    let db = s.accounts_db();
    let info = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let accounts = accounts::Accounts::connect(&db, &Default::default())
            .await
            .unwrap();
        let repo = accounts
            .repo(&hub_types::RepoRef {
                repo_type: hub_types::RepoType::Model,
                id: hub_types::RepoId::parse("alice/m").unwrap(),
            })
            .await
            .unwrap()
            .expect("alice/m is registered");
        accounts
            .weights(repo.id, &hub_types::LfsOid::parse(&oid).unwrap())
            .await
            .unwrap()
    });
    let info: serde_json::Value = serde_json::from_str(&info.expect("weights recorded")).unwrap();
    assert_eq!(info["total"], 96);
    assert_eq!(info["parameters"]["F32"], 80);
    assert_eq!(info["parameters"]["BF16"], 16);

    // A config that disagrees with them: warnings that name both files, and the push passes.
    w.write("a/config.json", &weights("config-mismatch.json"));
    w.git_ok("a", &["commit", "-q", "-am", "wrong config"]);
    let out = w.git("a", &["push", "origin", "main"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("remote: warning: config.json: config.json says vocab_size 16, but model.safetensors has 8 rows in model.embed_tokens.weight [config-weights]"), "{err}");
}

#[test]
fn pickles_in_every_container_are_refused_by_push_and_by_the_commit_api() {
    let (s, token) = Server::with_alice();
    let w = lfs_work(&s, &token);
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "a"]);
    let containers = fixtures().join("pickles/containers");
    let read = |name: &str| std::fs::read(containers.join(name)).unwrap();
    // (path in the repo, fixture): LFS files and, for the .dat, a plain blob.
    let cases = [
        ("pytorch_model.bin", "proto0.bin"),
        ("model.pt", "zip-in-zip.pt"),
        ("embeddings.npy", "object.npy"),
        ("arrays.npz", "arrays.npz"),
        ("model.joblib", "model.joblib"),
        ("state.dat", "state.dat"),
    ];
    for (path, fixture) in cases {
        let before = w.git_ok("a", &["ls-remote", "origin", "main"]);
        w.write(&format!("a/{path}"), &read(fixture));
        w.git_ok("a", &["add", "-A"]);
        w.git_ok("a", &["commit", "-q", "-m", fixture]);
        let out = w.git("a", &["push", "origin", "main"]);
        let err = stderr(&out);
        assert!(
            !out.status.success(),
            "{fixture} was accepted by a push:\n{err}"
        );
        assert!(
            err.contains("system when unpickled") && err.contains("[pickle-blocked]"),
            "{fixture}:\n{err}"
        );
        assert_eq!(w.git_ok("a", &["ls-remote", "origin", "main"]), before);
        w.git_ok("a", &["reset", "-q", "--hard", "origin/main"]);
    }
    let paths: Vec<String> = cases
        .iter()
        .map(|(p, f)| format!("({p:?}, {:?})", containers.join(f).display().to_string()))
        .collect();
    let script = format!(
        r#"
from huggingface_hub import HfApi, CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
for path, local in [{}]:
    try:
        api.create_commit("alice/m", operations=[CommitOperationAdd(path, local)], commit_message=path)
        print(path, "accepted")
    except HfHubHTTPError as e:
        print(path, e.response.status_code, "pickle-blocked" in str(e))
"#,
        paths.join(", ")
    );
    let out = crate::hub_api::hub_script(&s, Some(&token), &script);
    for (path, _) in cases {
        assert!(
            out.contains(&format!("{path} 400 True")),
            "{path} through the API:\n{out}"
        );
    }
}

/// `expand=True` listings carry the Hub's `securityFileStatus`: what the validator found in
/// each file when it was pushed, a pickle's imports with their safety included.
#[test]
fn expanded_listings_report_each_files_security_scan() {
    let (s, token) = Server::with_alice();
    let dir = tempfile::tempdir().unwrap();
    // Two imports: one on the known-safe list, one off it (a warning, so the file lands).
    let pickle: &[u8] = b"\x80\x02ccollections\nOrderedDict\n)R0cmylib.models\nConfig\n)R.";
    std::fs::write(dir.path().join("opt.pt"), pickle).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        weights("good.safetensors"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"plain notes\n").unwrap();
    std::fs::write(
        dir.path().join("README.md"),
        b"---\nlicense: mit\n---\n# scans\n",
    )
    .unwrap();
    let script = format!(
        r#"
import json
from huggingface_hub import HfApi
api = HfApi()
api.upload_folder(repo_id="alice/m", folder_path={dir:?}, commit_message="files")
def show(entries):
    for e in sorted(entries, key=lambda e: e.path):
        if not hasattr(e, "security"):
            continue
        sec = e.security
        imports = None
        if sec is not None and sec.pickle_import_scan is not None:
            p = sec.pickle_import_scan
            imports = p["highestSafetyLevel"] + " " + ",".join(f"{{i['module']}}.{{i['name']}}={{i['safety']}}" for i in p["imports"])
        print(e.path, None if sec is None else sec.status, None if sec is None else sec.safe, imports, e.last_commit.title if e.last_commit else None)
print("tree")
show(api.list_repo_tree("alice/m", expand=True))
print("paths")
show(api.get_paths_info("alice/m", ["opt.pt", "notes.txt"], expand=True))
print("plain", [e.security for e in api.list_repo_tree("alice/m") if e.path == "opt.pt"])
"#,
        dir = dir.path().display().to_string()
    );
    let out = crate::hub_api::hub_script(&s, Some(&token), &script);
    let pickle_line = "opt.pt suspicious False suspicious mylib.models.Config=suspicious,collections.OrderedDict=innocuous files";
    for want in [
        "tree\n",
        pickle_line,
        "model.safetensors safe True None files",
        "notes.txt safe True None files",
        "README.md safe True None files",
        "paths\nnotes.txt safe True None files\nopt.pt suspicious",
        "plain [None]",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert_eq!(out.matches(pickle_line).count(), 2, "{out}");
}
