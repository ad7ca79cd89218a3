//! Discussions and pull requests end to end with huggingface_hub 2.4.0: the community calls,
//! pull requests opened by `create_commit(create_pr=True)` and `upload_folder(create_pr=True)`
//! (through LFS and through Xet), merges validated like pushes, conflicts named, and who may
//! do what.

use crate::harness::*;
use crate::hub_api::{hub_script, hub_script_xet, python};

#[test]
fn discussions_and_pull_requests_round_trip_through_the_client() {
    let (s, token) = Server::with_alice();
    s.user("bob");
    let bob = s.token("bob", "write");
    let bare = s.bare_repo("models/alice/m.git");
    let script = format!(
        r#"
from huggingface_hub import HfApi, CommitOperationAdd, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
bob = HfApi(token="{bob}")
def status(call):
    try:
        call()
        return "ok"
    except HfHubHTTPError as e:
        return e.response.status_code
main_before = api.model_info("alice/m").sha
# A discussion by a reader (bob only reads alice/m), commented, edited, hidden.
d = bob.create_discussion("alice/m", "Which license?", description="Is it **MIT**?")
print("discussion", d.num, d.is_pull_request, d.status, d.author, d.events[0].content, "<strong>MIT</strong>" in d.events[0].rendered)
c = api.comment_discussion("alice/m", d.num, "Yes.")
e = api.edit_discussion_comment("alice/m", d.num, c.id, "Yes, MIT.")
print("edited", e.edited, e.content, e.number_of_edits)
print("bob edits alice's", status(lambda: bob.edit_discussion_comment("alice/m", d.num, c.id, "no")))
print("oversized", status(lambda: bob.comment_discussion("alice/m", d.num, "x" * (64 * 1024 + 1))))
x = bob.comment_discussion("alice/m", d.num, "<script>alert(1)</script><img src=x onerror=alert(1)>")
print("inert", "<script" not in x.rendered and "onerror" not in x.rendered)
h = api.hide_discussion_comment("alice/m", d.num, x.id)
print("hidden", h.hidden, h.content)
t = bob.rename_discussion("alice/m", d.num, "Which license is it?")
print("renamed", t.old_title, "->", t.new_title)
st = api.change_discussion_status("alice/m", d.num, "closed", comment="Answered.")
print("closed", st.new_status)
# Locked: only writers comment.
from huggingface_hub.utils import get_session, build_hf_headers
lock = lambda who, locked: get_session().post(f"{{api.endpoint}}/api/models/alice/m/discussions/{{d.num}}/lock", json={{"locked": locked}}, headers=build_hf_headers(token=who))
print("bob locks", lock("{bob}", True).status_code, "alice locks", lock(None, True).status_code)
try:
    bob.comment_discussion("alice/m", d.num, "one more")
    print("locked but commented")
except HfHubHTTPError as e:
    print("locked", e.response.status_code, "is locked: only writers of the repo can comment" in str(e))
api.comment_discussion("alice/m", d.num, "Writers still may.")
# A pull request by a commit, then more commits to it.
r = api.create_commit("alice/m", operations=[CommitOperationAdd("notes.txt", b"v1\n")], commit_message="Add notes", commit_description="First notes", create_pr=True)
n = int(r.pr_num)
api.create_commit("alice/m", operations=[CommitOperationAdd("notes.txt", b"v2\n")], commit_message="Better notes", revision=f"refs/pr/{{n}}")
pr = api.get_discussion_details("alice/m", n)
print("pr", n == d.num + 1, pr.is_pull_request, pr.status, pr.target_branch, pr.conflicting_files, pr.title)
print("pr events", [ev.type for ev in pr.events], [getattr(ev, "summary", None) for ev in pr.events if ev.type == "commit"])
print("pr diff", "+v2" in pr.diff and "notes.txt" in pr.diff)
print("pr file", open(hf_hub_download("alice/m", "notes.txt", revision=f"refs/pr/{{n}}")).read().strip())
print("listed", [(x.num, x.is_pull_request, x.status) for x in api.get_repo_discussions("alice/m")])
print("prs", [x.num for x in api.get_repo_discussions("alice/m", discussion_type="pull_request")])
print("open", [x.num for x in api.get_repo_discussions("alice/m", discussion_status="open")])
print("by bob", [x.num for x in api.get_repo_discussions("alice/m", author="bob")])
print("bob merges", status(lambda: bob.merge_pull_request("alice/m", n)))
print("main untouched", api.model_info("alice/m").sha == main_before)
api.merge_pull_request("alice/m", n, comment="Thanks")
merged = api.get_discussion_details("alice/m", n)
print("merged", merged.status, merged.merge_commit_oid == api.model_info("alice/m").sha)
print("main file", open(hf_hub_download("alice/m", "notes.txt")).read().strip())
print("merge again", status(lambda: api.merge_pull_request("alice/m", n)))
# Two pull requests changing one file: the second merge names the conflict.
a = api.create_commit("alice/m", operations=[CommitOperationAdd("notes.txt", b"from a\n")], commit_message="A", create_pr=True)
b = api.create_commit("alice/m", operations=[CommitOperationAdd("notes.txt", b"from b\n")], commit_message="B", create_pr=True)
api.merge_pull_request("alice/m", int(a.pr_num))
pb = api.get_discussion_details("alice/m", int(b.pr_num))
print("conflicts", pb.conflicting_files)
try:
    api.merge_pull_request("alice/m", int(b.pr_num))
    print("conflict merged")
except HfHubHTTPError as e:
    print("conflict", e.response.status_code, "notes.txt" in str(e))
# A card without a license is only a warning now; the policy will make it an error before
# the merge.
bad = api.create_pull_request("alice/m", "Drop the license")
api.create_commit("alice/m", operations=[CommitOperationAdd("README.md", b"A card with no front matter\n")], commit_message="plain card", revision=f"refs/pr/{{bad.num}}")
print("bad pr", bad.num)
print("missing", status(lambda: api.get_discussion_details("alice/m", 999)))
"#
    );
    let out = hub_script(&s, Some(&token), &script);
    for want in [
        "discussion 1 False open bob Is it **MIT**? True",
        "edited True Yes, MIT. 1",
        "bob edits alice's 403",
        "oversized 400",
        "inert True",
        "hidden True This comment has been hidden",
        "renamed Which license? -> Which license is it?",
        "closed closed",
        "bob locks 403 alice locks 200",
        "locked 403 True",
        "pr True True open refs/heads/main [] Add notes",
        "pr events ['comment', 'commit', 'commit'] ['Add notes', 'Better notes']",
        "pr diff True",
        "pr file v2",
        "listed [(2, True, 'open'), (1, False, 'closed')]",
        "prs [2]",
        "open [2]",
        "by bob [1]",
        "bob merges 403",
        "main untouched True",
        "merged merged True",
        "main file v2",
        "merge again 400",
        "conflicts ['notes.txt']",
        "conflict 409 True",
        "missing 404",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // The policy turns the missing license into an error: the merge is refused with the
    // validator's words, and main stays where it was.
    let bad: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("bad pr "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    std::fs::write(
        s.data_dir().join("policy.toml"),
        "[rules]\ncard-license-missing = \"error\"\n",
    )
    .unwrap();
    let main_before = git_in(&bare, &bare, &["rev-parse", "main"]).stdout;
    let script = format!(
        r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
try:
    api.merge_pull_request("alice/m", {bad})
    print("merged a bad card")
except HfHubHTTPError as e:
    print("refused", e.response.status_code, "card-license-missing" in str(e) or "no license" in str(e))
print("still open", api.get_discussion_details("alice/m", {bad}).status)
"#
    );
    let out = hub_script(&s, Some(&token), &script);
    assert!(out.contains("refused 400 True"), "{out}");
    assert!(out.contains("still open open"), "{out}");
    assert_eq!(
        git_in(&bare, &bare, &["rev-parse", "main"]).stdout,
        main_before
    );
    assert_fsck_clean(&bare);
}

/// `upload_folder(create_pr=True)` through Xet opens the pull request first (the discussions
/// API), then commits to its ref; through LFS the commit opens it. Both are recorded.
#[test]
fn upload_folder_with_create_pr_opens_a_pull_request_through_xet_and_lfs() {
    let (s, token) = Server::with_alice();
    let dir = tempfile::tempdir().unwrap();
    let mut w = noise(1 << 20, 71);
    w[0] = 0;
    std::fs::write(dir.path().join("w.dat"), &w).unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"notes\n").unwrap();
    let script = format!(
        r#"
from huggingface_hub import HfApi, hf_hub_download
api = HfApi()
r = api.upload_folder(repo_id="alice/m", folder_path={dir:?}, commit_message="Folder", create_pr=True)
n = int(r.pr_num)
pr = api.get_discussion_details("alice/m", n)
print("pr", pr.is_pull_request, pr.status, [e.type for e in pr.events if e.type == "commit"], pr.title)
print("bytes", open(hf_hub_download("alice/m", "w.dat", revision=f"refs/pr/{{n}}"), "rb").read() == open({w:?}, "rb").read())
print("main has it", "w.dat" in api.list_repo_files("alice/m"))
"#,
        dir = dir.path().display().to_string(),
        w = dir.path().join("w.dat").display().to_string(),
    );
    let (xet, _) = hub_script_xet(&s, Some(&token), &script);
    let lfs = hub_script(&s, Some(&token), &script);
    for out in [&xet, &lfs] {
        assert!(out.contains("pr True open ['commit']"), "{out}");
        assert!(out.contains("bytes True"), "{out}");
        assert!(out.contains("main has it False"), "{out}");
    }
}

/// A pull request's ref over git: fetched by anyone who reads the repo, moved forward by a
/// writer's push (validated like any push, and listed as the pull request's commits), never
/// created by a push, nor moved once the pull request is closed. The `hf discussions`
/// commands work, and a repo can turn discussions off.
#[test]
fn pull_request_refs_over_git_the_cli_and_disabled_discussions() {
    let (s, token) = Server::with_alice();
    let script = r#"
from huggingface_hub import HfApi
api = HfApi()
pr = api.create_pull_request("alice/m", "Over git")
print("num", pr.num)
"#;
    let out = hub_script(&s, Some(&token), script);
    assert!(out.contains("num 1"), "{out}");
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&token)), "a"],
    );
    w.git_ok("a", &["fetch", "-q", "origin", "refs/pr/1:pr1"]);
    w.git_ok("a", &["checkout", "-q", "pr1"]);
    w.write("a/notes.txt", b"pushed to the pull request\n");
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "Notes over git"]);
    w.git_ok("a", &["push", "-q", "origin", "HEAD:refs/pr/1"]);
    // A bad file on the pull request is refused as on a branch.
    w.write("a/config.json", b"{ not json");
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "bad config"]);
    let refused = w.git("a", &["push", "origin", "HEAD:refs/pr/1"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("config.json"),
        "{}",
        stderr(&refused)
    );
    w.git_ok("a", &["reset", "-q", "--hard", "HEAD~1"]);
    // No push may open a pull request's ref.
    let made = w.git("a", &["push", "origin", "HEAD:refs/pr/7"]);
    assert!(!made.status.success());
    assert!(
        stderr(&made).contains("pull request #7 is not open"),
        "{}",
        stderr(&made)
    );

    let hf = python().parent().unwrap().join("hf");
    let hf_run = |args: &[&str]| {
        let out = std::process::Command::new(&hf)
            .args(args)
            .env("HF_ENDPOINT", &s.url)
            .env("HF_TOKEN", &token)
            .env("HF_HOME", w.path("hf-home"))
            .env_remove("HF_HUB_DISABLE_XET")
            .output()
            .unwrap();
        assert!(out.status.success(), "hf {args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let info = hf_run(&["discussions", "info", "alice/m", "1", "--json"]);
    assert!(info.contains("Notes over git"), "{info}");
    let diff = hf_run(&["discussions", "diff", "alice/m", "1"]);
    assert!(diff.contains("+pushed to the pull request"), "{diff}");
    hf_run(&[
        "discussions",
        "comment",
        "alice/m",
        "1",
        "--body",
        "Looks good",
    ]);
    hf_run(&["discussions", "close", "alice/m", "1", "--yes"]);
    let listed = hf_run(&[
        "discussions",
        "list",
        "alice/m",
        "--status",
        "closed",
        "--json",
    ]);
    assert!(listed.contains("Over git"), "{listed}");
    // Closed: its ref no longer moves.
    w.write("a/more.txt", b"more\n");
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "more"]);
    let closed = w.git("a", &["push", "origin", "HEAD:refs/pr/1"]);
    assert!(!closed.status.success());
    assert!(
        stderr(&closed).contains("pull request #1 is not open"),
        "{}",
        stderr(&closed)
    );

    // Discussions turned off: opening one is refused with the Hub's words.
    let (status, _, _) = json_request(
        &s.addr,
        "PUT",
        "/api/models/alice/m/settings",
        Some(&token),
        &serde_json::json!({ "discussionsDisabled": true }),
    );
    assert_eq!(status, 200);
    let script = r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
try:
    HfApi().create_discussion("alice/m", "Anyone?")
    print("opened")
except HfHubHTTPError as e:
    print("refused", e.response.status_code, "Discussions are disabled for this repo" in str(e))
"#;
    let out = hub_script(&s, Some(&token), script);
    assert!(out.contains("refused 403 True"), "{out}");
}

/// Pull requests are how those who may only read a repo propose changes: with a write token
/// of their own they open one with files (through Xet and through LFS) and add commits to
/// it, but may not commit to a branch or to someone else's pull request.
#[test]
fn readers_with_a_write_token_propose_changes_through_pull_requests() {
    let (s, alice) = Server::with_alice();
    s.user("bob");
    let bob = s.token("bob", "write");
    let bob_read = s.token("bob", "read");
    let dir = tempfile::tempdir().unwrap();
    let mut w = noise(1 << 20, 81);
    w[0] = 0;
    std::fs::write(dir.path().join("w.dat"), &w).unwrap();
    let script = format!(
        r#"
from huggingface_hub import HfApi, CommitOperationAdd, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
def status(call):
    try:
        call()
        return "ok"
    except HfHubHTTPError as e:
        return e.response.status_code
r = api.upload_folder(repo_id="alice/m", folder_path={dir:?}, commit_message="Bob's weights", create_pr=True)
n = int(r.pr_num)
api.create_commit("alice/m", operations=[CommitOperationAdd("bob.txt", b"more\n")], commit_message="More from bob", revision=f"refs/pr/{{n}}")
pr = api.get_discussion_details("alice/m", n)
print("pr", pr.author, [e.summary for e in pr.events if e.type == "commit"])
print("bytes", open(hf_hub_download("alice/m", "w.dat", revision=f"refs/pr/{{n}}"), "rb").read() == open({w:?}, "rb").read())
print("main", status(lambda: api.create_commit("alice/m", operations=[CommitOperationAdd("x.txt", b"x")], commit_message="x")))
mine = HfApi(token="{alice}").create_pull_request("alice/m", "Alice's own")
print("other's pr", status(lambda: api.create_commit("alice/m", operations=[CommitOperationAdd("x.txt", b"x")], commit_message="x", revision=f"refs/pr/{{mine.num}}")))
print("read token", status(lambda: HfApi(token="{bob_read}").create_commit("alice/m", operations=[CommitOperationAdd("x.txt", b"x")], commit_message="x", create_pr=True)))
HfApi(token="{alice}").merge_pull_request("alice/m", n)
print("merged", "w.dat" in HfApi(token="{alice}").list_repo_files("alice/m"))
"#,
        dir = dir.path().display().to_string(),
        w = dir.path().join("w.dat").display().to_string(),
    );
    for xet in [true, false] {
        if !xet {
            // Again through LFS, on a fresh repo.
            s.repo("alice/m2", false);
        }
        let script = if xet {
            script.clone()
        } else {
            script.replace("alice/m\"", "alice/m2\"")
        };
        let out = if xet {
            hub_script_xet(&s, Some(&bob), &script).0
        } else {
            hub_script(&s, Some(&bob), &script)
        };
        for want in [
            "pr bob [\"Bob's weights\", 'More from bob']",
            "bytes True",
            "main 403",
            "other's pr 403",
            "read token 403",
            "merged True",
        ] {
            assert!(out.contains(want), "xet {xet}: missing {want:?} in:\n{out}");
        }
    }
}

/// Over git too: someone who may only read a repo pushes, with a write token, to the open
/// pull request they opened, and nowhere else.
#[test]
fn a_reader_pushes_to_the_pull_request_they_opened() {
    let (s, alice) = Server::with_alice();
    s.user("bob");
    let bob = s.token("bob", "write");
    let bob_read = s.token("bob", "read");
    let script = format!(
        r#"
from huggingface_hub import HfApi
print("bob's", HfApi(token="{bob}").create_pull_request("alice/m", "From bob").num)
print("alice's", HfApi(token="{alice}").create_pull_request("alice/m", "From alice").num)
"#
    );
    let out = hub_script(&s, None, &script);
    assert!(
        out.contains("bob's 1") && out.contains("alice's 2"),
        "{out}"
    );
    let bare = s.bare_repo("models/alice/m.git");
    let main_before = git_in(&bare, &bare, &["rev-parse", "main"]).stdout;
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&bob)), "a"],
    );
    w.git_ok("a", &["fetch", "-q", "origin", "refs/pr/1:pr1"]);
    w.git_ok("a", &["checkout", "-q", "pr1"]);
    w.write("a/bob.txt", b"from bob\n");
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "Bob's change"]);
    w.git_ok("a", &["push", "-q", "origin", "HEAD:refs/pr/1"]);
    for target in ["main", "refs/pr/2"] {
        let out = w.git("a", &["push", "origin", &format!("HEAD:{target}")]);
        assert!(!out.status.success(), "{target}");
        assert!(
            stderr(&out).contains("you may push only to open pull requests you opened"),
            "{target}: {}",
            stderr(&out)
        );
    }
    let read_url = s.git_url("alice/m", Some(&bob_read));
    let out = w.git("a", &["push", &read_url, "HEAD:refs/pr/1"]);
    assert!(!out.status.success());
    assert_eq!(
        git_in(&bare, &bare, &["rev-parse", "main"]).stdout,
        main_before
    );
    let pr = git_in(&bare, &bare, &["log", "-1", "--format=%s", "refs/pr/1"]).stdout;
    assert_eq!(String::from_utf8_lossy(&pr).trim(), "Bob's change");
}
