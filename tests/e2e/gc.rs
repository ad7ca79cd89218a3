//! `modelhub gc` over what real clients stored (git-lfs, and huggingface_hub with LFS and with
//! Xet), while the server serves: what a force-push, a squash and deleted repos left is
//! deleted and the bytes reported; what any repo still reaches, what was uploaded during the
//! run, and what a stopped run was deleting when it was killed, come out as they should.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::hub_api::{hub_script, hub_script_xet};
use crate::lfs::lfs_work;

fn gc_command(s: &Server, args: &[&str]) -> Command {
    let (store_args, store_env) = s.storage.args();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelhub"));
    cmd.arg("gc")
        .args(store_args)
        .args(args)
        .env("MODELHUB_DATA_DIR", s.data_dir())
        .envs(s.database.as_deref().map(|d| ("MODELHUB_DATABASE", d)))
        .envs(store_env);
    cmd
}

/// `modelhub gc ARGS`, which must succeed: its report.
fn gc(s: &Server, args: &[&str]) -> String {
    let out: Output = gc_command(s, args).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}\n{}", stderr(&out));
    said
}

/// A run that pauses at the points named in `dir` (see `modelhub gc --pause-in`).
fn gc_paused(s: &Server, dir: &Path) -> Child {
    gc_command(s, &["--grace", "0", "--pause-in", dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the paused run has created `dir/point` (it is at that point).
fn wait_at(dir: &Path, point: &str, gc: &mut Child) {
    let end = Instant::now() + Duration::from_secs(120);
    while !dir.join(point).exists() {
        if let Some(status) = gc.try_wait().unwrap() {
            panic!("gc ended ({status}) before reaching {point}");
        }
        assert!(Instant::now() < end, "gc never reached {point}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The line of `report` that starts with `start`.
fn line<'a>(report: &'a str, start: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no {start:?} in:\n{report}"))
}

/// Names of the objects stored under `prefix`.
fn names(s: &Server, prefix: &str) -> Vec<String> {
    s.stored(prefix).into_iter().map(|(k, _)| k).collect()
}

/// The LFS objects stored, whole or as Xet files (gc re-stores whole ones through Xet).
fn stored_oids(s: &Server) -> Vec<String> {
    let mut all = names(s, "lfs/objects/");
    all.extend(names(s, "xet/files/"));
    all.sort();
    all.dedup();
    all
}

/// Clones `repo` into `dir` of `w`, commits `files` and pushes them with git-lfs.
fn push_files(s: &Server, w: &Work, repo: &str, dir: &str, files: &[(&str, &[u8])]) {
    w.git_ok(".", &["clone", "-q", &s.git_url(repo, None), dir]);
    w.commit(dir, files, "files");
    w.git_ok(dir, &["push", "-q", "origin", "main"]);
}

/// Deletes `repo` through huggingface_hub.
fn delete_repo(s: &Server, token: &str, repo: &str) {
    hub_script(
        s,
        Some(token),
        &format!("from huggingface_hub import HfApi\nHfApi().delete_repo('{repo}')\n"),
    );
}

/// Waits until the clock's second has moved past that of `since`, so reflog entries made
/// before are older than a run with no grace period that starts now.
fn next_second() {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let first = now();
    while now() == first {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn gc_deletes_what_no_repo_reaches_and_keeps_what_is_used_or_uploaded_meanwhile() {
    let (s, token) = Server::with_alice();
    for r in ["alice/gone", "alice/sq", "alice/x", "alice/xgone"] {
        s.repo(r, false);
    }
    let w = lfs_work(&s, &token);
    let [shared, big, small, u1, u2, v1, v2, new, pre] = [
        (1 << 20, 1),
        (50 << 20, 2),
        (100_000, 3),
        (200_000, 4),
        (210_000, 5),
        (220_000, 6),
        (230_000, 7),
        (240_000, 8),
        (250_000, 9),
    ]
    .map(|(n, seed)| noise(n, seed));
    let oid = |b: &[u8]| sha256_hex(b);

    // alice/m: a 50 MiB weight, force-pushed over; an object it shares with alice/gone.
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "m"]);
    w.commit(
        "m",
        &[("weights/shared.bin", &shared), ("weights/big.bin", &big)],
        "big",
    );
    w.git_ok("m", &["push", "-q", "origin", "main"]);
    w.git_ok("m", &["reset", "-q", "--hard", "HEAD~1"]);
    w.commit(
        "m",
        &[
            ("weights/shared.bin", &shared),
            ("weights/small.bin", &small),
        ],
        "small",
    );
    w.git_ok("m", &["push", "-q", "-f", "origin", "main"]);
    // alice/gone: deleted, with the shared object and two of its own.
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/gone", None), "gone"],
    );
    w.commit(
        "gone",
        &[
            ("weights/shared.bin", &shared),
            ("weights/u1.bin", &u1),
            ("weights/u2.bin", &u2),
        ],
        "gone",
    );
    w.git_ok("gone", &["push", "-q", "origin", "main"]);
    // alice/sq: two versions of a weight, squashed to the last.
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/sq", None), "sq"]);
    w.commit("sq", &[("weights/w.bin", &v1)], "v1");
    w.commit("sq", &[("weights/w.bin", &v2)], "v2");
    w.git_ok("sq", &["push", "-q", "origin", "main"]);
    // alice/x and alice/xgone: files huggingface_hub uploads through Xet.
    let src = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = src.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let (x, xg, xn) = (noise(300_000, 10), noise(310_000, 11), noise(320_000, 12));
    let (xp, xgp, xnp, prep) = (
        file("x", &x),
        file("xg", &xg),
        file("xn", &xn),
        file("pre", &pre),
    );
    hub_script_xet(
        &s,
        Some(&token),
        &format!(
            r#"
from huggingface_hub import HfApi
api = HfApi()
api.upload_file(path_or_fileobj="{xp}", path_in_repo="x.bin", repo_id="alice/x")
api.upload_file(path_or_fileobj="{xgp}", path_in_repo="xg.bin", repo_id="alice/xgone")
api.super_squash_history("alice/sq")
api.delete_repo("alice/gone")
api.delete_repo("alice/xgone")
"#
        ),
    );
    let xet_files_before = names(&s, "xet/files/");
    assert_eq!(xet_files_before.len(), 2, "{xet_files_before:?}");
    let xorbs_before = s.stored("xet/xorbs/");
    next_second();

    // A dry run says what would go, and deletes nothing.
    let objects_before = names(&s, "lfs/objects/");
    let dry = gc(&s, &["--grace", "0", "--dry-run"]);
    let gone_bytes = |objs: &[&[u8]]| objs.iter().map(|b| b.len()).sum::<usize>();
    assert!(
        line(&dry, "LFS objects stored whole:").starts_with(&format!(
            "LFS objects stored whole: would delete 4, {} bytes (",
            gone_bytes(&[&big, &u1, &u2, &v1]),
        )),
        "{dry}"
    );
    assert!(
        line(&dry, "Xet files:")
            .starts_with(&format!("Xet files: would delete 1, {} bytes", xg.len())),
        "{dry}"
    );
    assert_eq!(names(&s, "lfs/objects/"), objects_before);
    assert_eq!(s.stored("xet/xorbs/"), xorbs_before);

    // The run pauses between mark and sweep; meanwhile clients upload: with git-lfs, a new
    // object and one the run is about to collect (u2, of the deleted repo); with
    // huggingface_hub, an LFS upload whose commit is not made yet, and a Xet file.
    let pause = tempfile::tempdir().unwrap();
    let mut run = gc_paused(&s, pause.path());
    wait_at(pause.path(), "marked", &mut run);
    w.commit(
        "m",
        &[("weights/new.bin", &new), ("weights/u2.bin", &u2)],
        "during gc",
    );
    w.git_ok("m", &["push", "-q", "origin", "main"]);
    hub_script(
        &s,
        Some(&token),
        &format!(
            r#"
from huggingface_hub import HfApi, CommitOperationAdd
HfApi().preupload_lfs_files("alice/m", additions=[CommitOperationAdd("weights/pre.bin", "{prep}")])
"#
        ),
    );
    hub_script_xet(
        &s,
        Some(&token),
        &format!(
            r#"
from huggingface_hub import HfApi
HfApi().upload_file(path_or_fileobj="{xnp}", path_in_repo="xn.bin", repo_id="alice/x")
"#
        ),
    );
    std::fs::remove_file(pause.path().join("marked")).unwrap();
    // It also pauses once it has doomed its first object; nothing to do there.
    wait_at(pause.path(), "doomed", &mut run);
    std::fs::remove_file(pause.path().join("doomed")).unwrap();
    let out = run.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{report}\n{}", stderr(&out));
    eprintln!("{report}");

    // Deleted: the force-pushed 50 MiB weight, the deleted repo's own object, the squashed
    // version, and the deleted repo's Xet file with its xorb. Bytes as reported.
    let freed = gone_bytes(&[&big, &u1, &v1]);
    assert!(
        line(&report, "LFS objects stored whole:").starts_with(&format!(
            "LFS objects stored whole: deleted 3, {freed} bytes ("
        )),
        "{report}"
    );
    let stored = stored_oids(&s);
    for (what, b) in [("big", &big), ("u1", &u1), ("v1", &v1)] {
        assert!(!stored.contains(&oid(b)), "{what} is still stored");
    }
    for (what, b) in [
        ("shared", &shared),
        ("small", &small),
        ("v2", &v2),
        ("u2, uploaded again during the run", &u2),
        ("new, pushed during the run", &new),
        ("pre, uploaded during the run and not committed yet", &pre),
    ] {
        assert!(stored.contains(&oid(b)), "{what} was deleted");
    }
    // What the repos reach and was stored whole is now a Xet file (it dedups from now on);
    // what arrived during the run stays whole until a run marks it.
    assert!(
        line(&report, "LFS objects re-stored through Xet:")
            .starts_with("LFS objects re-stored through Xet: 3, "),
        "{report}"
    );
    let mut whole_now = names(&s, "lfs/objects/");
    whole_now.sort();
    let mut arrived = vec![oid(&u2), oid(&new), oid(&pre)];
    arrived.sort();
    assert_eq!(whole_now, arrived);
    let xet_files = names(&s, "xet/files/");
    assert!(!xet_files.contains(&oid(&xg)), "{xet_files:?}");
    assert!(
        xet_files.contains(&oid(&x)) && xet_files.contains(&oid(&xn)),
        "{xet_files:?}"
    );
    let xorbs_after = s.stored("xet/xorbs/");
    let deleted: Vec<_> = xorbs_before
        .iter()
        .filter(|x| !xorbs_after.contains(x))
        .collect();
    let xorb_bytes: u64 = deleted.iter().map(|(_, n)| n).sum();
    assert!(!deleted.is_empty());
    assert!(
        line(&report, "xorbs:").starts_with(&format!(
            "xorbs: deleted {}, {xorb_bytes} bytes (",
            deleted.len()
        )),
        "{report}"
    );
    assert!(
        line(&report, "gc: freed").contains(&format!(
            "(3 LFS objects, 1 Xet files, {} xorbs",
            deleted.len()
        )),
        "{report}"
    );

    // Every remaining repo reads back byte for byte, with git and with huggingface_hub.
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "m2"]);
    for (path, b) in [
        ("m2/weights/shared.bin", &shared),
        ("m2/weights/small.bin", &small),
        ("m2/weights/new.bin", &new),
        ("m2/weights/u2.bin", &u2),
    ] {
        assert!(std::fs::read(w.path(path)).unwrap() == *b, "{path} differs");
    }
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/sq", None), "sq2"]);
    assert!(std::fs::read(w.path("sq2/weights/w.bin")).unwrap() == v2);
    let (said, _) = hub_script_xet(
        &s,
        Some(&token),
        &format!(
            r#"
import os
from huggingface_hub import HfApi, CommitOperationAdd, snapshot_download
d = snapshot_download("alice/x")
print("x", open(os.path.join(d, "x.bin"), "rb").read() == open("{xp}", "rb").read())
print("xn", open(os.path.join(d, "xn.bin"), "rb").read() == open("{xnp}", "rb").read())
"#
        ),
    );
    assert_eq!(said.trim(), "x True\nxn True");
    // The upload made during the run is committed now, without being sent again.
    let said = hub_script(
        &s,
        Some(&token),
        &format!(
            r#"
from huggingface_hub import HfApi, CommitOperationAdd, hf_hub_download
api = HfApi()
api.create_commit("alice/m", operations=[CommitOperationAdd("weights/pre.bin", "{prep}")], commit_message="pre")
print(open(hf_hub_download("alice/m", "weights/pre.bin"), "rb").read() == open("{prep}", "rb").read())
"#
        ),
    );
    assert_eq!(said.trim(), "True");
    let fsck = crate::fsck::fsck(&s, &[]);
    assert!(fsck.status.success(), "{}", stderr(&fsck));

    // With the default grace period, a second run deletes nothing.
    let again = gc(&s, &[]);
    assert!(
        line(&again, "gc: freed").starts_with("gc: freed 0 B (0 LFS objects, 0 Xet files, 0 xorbs"),
        "{again}"
    );
}

#[test]
fn gc_killed_while_deleting_loses_nothing_and_a_second_run_finishes() {
    let (s, token) = Server::with_alice();
    s.repo("alice/gone", false);
    let w = lfs_work(&s, &token);
    let (kept, doomed) = (noise(400_000, 21), noise(410_000, 22));
    push_files(&s, &w, "alice/m", "m", &[("weights/kept.bin", &kept)]);
    push_files(
        &s,
        &w,
        "alice/gone",
        "gone",
        &[("weights/doomed.bin", &doomed)],
    );
    delete_repo(&s, &token, "alice/gone");
    next_second();

    // Killed (SIGKILL) once it has doomed the object, before deleting it.
    let pause = tempfile::tempdir().unwrap();
    let mut run = gc_paused(&s, pause.path());
    wait_at(pause.path(), "marked", &mut run);
    std::fs::remove_file(pause.path().join("marked")).unwrap();
    wait_at(pause.path(), "doomed", &mut run);
    run.kill().unwrap();
    run.wait().unwrap();
    assert!(names(&s, "lfs/objects/").contains(&sha256_hex(&doomed)));

    // The next run finishes that deletion; what alice/m holds is whole.
    let report = gc(&s, &["--grace", "0"]);
    assert_eq!(
        line(&report, "finished"),
        "finished 1 deletions a stopped run had begun"
    );
    assert_eq!(stored_oids(&s), [sha256_hex(&kept)], "{report}");
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "m2"]);
    assert!(std::fs::read(w.path("m2/weights/kept.bin")).unwrap() == kept);
    let fsck = crate::fsck::fsck(&s, &[]);
    assert!(fsck.status.success(), "{}", stderr(&fsck));

    // The collected object can be pushed again, and is stored again.
    w.commit("m", &[("weights/doomed.bin", &doomed)], "again");
    w.git_ok("m", &["push", "-q", "origin", "main"]);
    assert!(stored_oids(&s).contains(&sha256_hex(&doomed)));
}

#[test]
fn gc_refuses_a_grace_period_that_is_not_a_number_of_hours() {
    let s = Server::start();
    for bad in ["-1", "soon", "1e9"] {
        let out = gc_command(&s, &["--grace", bad]).output().unwrap();
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("is not a number of hours from 0 to 87600"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn the_server_collects_once_an_interval_when_asked() {
    let (mut s, token) = Server::with_alice();
    s.repo("alice/gone", false);
    let w = lfs_work(&s, &token);
    let gone = noise(300_000, 31);
    push_files(&s, &w, "alice/gone", "gone", &[("weights/gone.bin", &gone)]);
    delete_repo(&s, &token, "alice/gone");
    next_second();
    // No upload runs from here on: with no grace period, one in flight could be collected.
    s.stop();
    s.restart_with(&["--gc-interval", "1", "--gc-grace", "0"]);
    let end = Instant::now() + Duration::from_secs(60);
    while stored_oids(&s).contains(&sha256_hex(&gone)) {
        assert!(Instant::now() < end, "never collected:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let end = Instant::now() + Duration::from_secs(10);
    while !s.log().contains("gc: freed") {
        assert!(Instant::now() < end, "no report in the log:\n{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn permanently_delete_lfs_files_rewrites_every_ref_and_gc_then_reclaims_the_bytes() {
    let (s, token) = Server::with_alice();
    s.repo("alice/other", false);
    let src = tempfile::tempdir().unwrap();
    let (keep, leak, old) = (noise(200_000, 41), noise(210_000, 42), noise(220_000, 43));
    for (name, b) in [("keep", &keep), ("leak", &leak), ("old", &old)] {
        std::fs::write(src.path().join(name), b).unwrap();
    }
    let p = |name: &str| src.path().join(name).display().to_string();
    let (keep_p, leak_p, old_p) = (p("keep"), p("leak"), p("old"));
    let said = hub_script(
        &s,
        Some(&token),
        &format!(
            r#"
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError
api = HfApi()
api.upload_file(path_or_fileobj="{keep_p}", path_in_repo="weights/keep.bin", repo_id="alice/m")
leaked = api.upload_file(path_or_fileobj="{leak_p}", path_in_repo="weights/leak.bin", repo_id="alice/m").oid
api.upload_file(path_or_fileobj="{old_p}", path_in_repo="weights/old.bin", repo_id="alice/m")
api.create_tag("alice/m", tag="v1")
api.create_branch("alice/m", branch="dev")
api.upload_file(path_or_fileobj="{leak_p}", path_in_repo="weights/leak.bin", repo_id="alice/other")
commits = len(api.list_repo_commits("alice/m"))
files = list(api.list_lfs_files("alice/m"))
print("listed", sorted(f.filename for f in files))
api.permanently_delete_lfs_files("alice/m", [f for f in files if f.filename == "weights/leak.bin"])
print("after", sorted(f.filename for f in api.list_lfs_files("alice/m")))
for rev in ["main", "v1", "dev"]:
    print(rev, sorted(api.list_repo_files("alice/m", revision=rev)))
print("commits", len(api.list_repo_commits("alice/m")) == commits)
try:
    hf_hub_download("alice/m", "weights/leak.bin", revision=leaked)
    print("old commit: served")
except EntryNotFoundError:
    print("old commit: EntryNotFoundError")
print("other", open(hf_hub_download("alice/other", "weights/leak.bin"), "rb").read() == open("{leak_p}", "rb").read())
# Without rewriting history: the pointer stays, the content is gone from the repo.
api.permanently_delete_lfs_files("alice/m", [f for f in api.list_lfs_files("alice/m") if f.filename == "weights/old.bin"], rewrite_history=False)
print("main", sorted(api.list_repo_files("alice/m")))
try:
    hf_hub_download("alice/m", "weights/old.bin")
    print("old.bin: served")
except EntryNotFoundError:
    print("old.bin: EntryNotFoundError")
"#
        ),
    );
    let expected = "listed ['weights/keep.bin', 'weights/leak.bin', 'weights/old.bin']\n\
        after ['weights/keep.bin', 'weights/old.bin']\n\
        main ['.gitattributes', 'weights/keep.bin', 'weights/old.bin']\n\
        v1 ['.gitattributes', 'weights/keep.bin', 'weights/old.bin']\n\
        dev ['.gitattributes', 'weights/keep.bin', 'weights/old.bin']\n\
        commits True\n\
        old commit: EntryNotFoundError\n\
        other True\n\
        main ['.gitattributes', 'weights/keep.bin', 'weights/old.bin']\n\
        old.bin: EntryNotFoundError";
    assert_eq!(said.trim(), expected);

    // No commit of any ref holds the file; the rest reads back whole.
    // (old.bin's content is gone from the repo, so only keep.bin is fetched.)
    let w = lfs_work(&s, &token);
    w.git_ok(".", &["lfs", "install", "--skip-repo", "--skip-smudge"]);
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "m"]);
    w.git_ok("m", &["lfs", "pull", "--include", "weights/keep.bin"]);
    w.git_ok("m", &["fetch", "-q", "origin", "+refs/tags/*:refs/tags/*"]);
    assert_eq!(
        w.git_ok(
            "m",
            &["log", "--all", "--format=%H", "--", "weights/leak.bin"]
        ),
        ""
    );
    assert!(std::fs::read(w.path("m/weights/keep.bin")).unwrap() == keep);

    // The bytes stay while another repo reaches them; they go once none does.
    next_second();
    let leak_oid = sha256_hex(&leak);
    gc(&s, &["--grace", "0"]);
    assert!(stored_oids(&s).contains(&leak_oid));
    delete_repo(&s, &token, "alice/other");
    next_second();
    gc(&s, &["--grace", "0"]);
    let stored = stored_oids(&s);
    assert!(!stored.contains(&leak_oid));
    assert!(stored.contains(&sha256_hex(&keep)));
}
