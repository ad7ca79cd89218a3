//! Gated repos end to end: the owner gates a model; others see its card, files and info but
//! get huggingface_hub's `GatedRepoError` from every download, git and git-lfs refuse with
//! the reason, Xet read tokens are refused; a user asks through the card's form in Chromium,
//! the owner accepts through the API and the same downloads give the same bytes; a rejected
//! user stays out; an `auto` gate accepts at once.

use std::process::Command;

use crate::harness::*;
use crate::hub_api::{hub_script, python};

const CARD: &str = "---\nlicense: mit\nextra_gated_heading: Agree to the terms\nextra_gated_prompt: You agree to **not** misuse this model.\nextra_gated_fields:\n  Company: text\n  Use:\n    type: select\n    options: [research, business]\n  I agree to the terms: checkbox\nextra_gated_button_content: Ask for access\n---\n# Gated model\n";

#[test]
fn a_gated_model_lets_through_only_accepted_requests() {
    let (s, alice) = Server::with_alice();
    for u in ["bob", "carol", "dave", "eve"] {
        s.user(u);
    }
    let bob = s.token("bob", "write");
    let carol = s.token("carol", "write");
    let dave = s.token("dave", "write");
    let eve = s.token("eve", "read");
    let dir = tempfile::tempdir().unwrap();
    let mut w = noise(1 << 20, 91);
    w[0] = 0;
    std::fs::write(dir.path().join("w.dat"), &w).unwrap();
    std::fs::write(dir.path().join("README.md"), CARD).unwrap();
    let script = format!(
        r#"
from huggingface_hub import HfApi
api = HfApi()
api.upload_folder(repo_id="alice/m", folder_path={dir:?}, commit_message="weights")
api.update_repo_settings("alice/m", gated="manual")
api.create_repo("alice/auto")
api.upload_file(path_or_fileobj=b"open sesame\n", path_in_repo="notes.txt", repo_id="alice/auto")
api.update_repo_settings("alice/auto", gated="auto")
print("gated", api.model_info("alice/m").gated, api.model_info("alice/auto").gated)
from huggingface_hub import CommitOperationAdd
pr = api.create_commit("alice/m", operations=[CommitOperationAdd("secret.txt", b"the recipe\n")], commit_message="recipe", create_pr=True)
print("pr", pr.pr_num, "sha", pr.oid)
api.create_repo("alice/open")
print("listed gated", sorted((m.id, m.gated) for m in api.list_models(author="alice", gated=True)))
print("listed open", sorted(m.id for m in api.list_models(author="alice", gated=False)))
"#,
        dir = dir.path().display().to_string()
    );
    let out = hub_script(&s, Some(&alice), &script);
    assert!(out.contains("gated manual auto"), "{out}");
    let pr_sha = out
        .lines()
        .find_map(|l| l.strip_prefix("pr 1 sha "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();

    assert!(
        out.contains("listed gated [('alice/auto', 'auto'), ('alice/m', 'manual')]")
            && out.contains("listed open ['alice/open']"),
        "{out}"
    );

    let check = |token: Option<&str>| {
        let script = format!(
            r#"
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError
api = HfApi()
print("info", api.model_info("alice/m").gated, sorted(api.list_repo_files("alice/m")))
for name, call in [("file", lambda: hf_hub_download("alice/m", "w.dat")), ("snapshot", lambda: snapshot_download("alice/m"))]:
    try:
        p = call()
        print(name, "ok", open(p, "rb").read() == open({w:?}, "rb").read() if name == "file" else "")
    except GatedRepoError as e:
        print(name, "gated", e.response.status_code, str(e).replace(chr(10), " "))
"#,
            w = dir.path().join("w.dat").display().to_string()
        );
        hub_script(&s, token, &script)
    };
    let out = check(Some(&bob));
    assert!(
        out.contains("info manual ['.gitattributes', 'README.md', 'w.dat']"),
        "{out}"
    );
    assert!(
        out.contains("file gated 403") && out.contains("snapshot gated 403"),
        "{out}"
    );
    assert!(
        out.contains("is restricted and you are not in the authorized list. Visit"),
        "{out}"
    );
    // Diffs are contents: a pull request's diff and a commit page are gated too.
    let diff = hub_script(
        &s,
        Some(&bob),
        "from huggingface_hub import HfApi\nprint('diff', HfApi().get_discussion_details('alice/m', 1).diff)",
    );
    assert!(diff.contains("diff None"), "{diff}");
    let page = raw(
        &s.addr,
        &request("GET", &format!("/alice/m/commit/{pr_sha}"), &[], b""),
    );
    assert_eq!(page.status, 403);
    assert!(!page.text().contains("the recipe"));
    let anon = check(None);
    assert!(
        anon.contains("file gated 401") && anon.contains("Please log in"),
        "{anon}"
    );

    // git and git-lfs say why; Xet gives no read token.
    let work = Work::new();
    let clone = work.git(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&bob)), "c"],
    );
    assert!(!clone.status.success());
    assert!(
        stderr(&clone).contains("is restricted"),
        "{}",
        stderr(&clone)
    );
    let oid = sha256_hex(&w);
    let body = serde_json::json!({ "operation": "download", "objects": [{ "oid": oid, "size": w.len() }] });
    let (status, v, _) = json_request(
        &s.addr,
        "POST",
        "/alice/m.git/info/lfs/objects/batch",
        Some(&bob),
        &body,
    );
    assert_eq!(status, 403, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is restricted"),
        "{v}"
    );
    let r = raw(
        &s.addr,
        &request(
            "GET",
            "/api/models/alice/m/xet-read-token/main",
            &[("Authorization", &format!("Bearer {bob}"))],
            b"",
        ),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-error-code").as_deref(), Some("GatedRepo"));

    // bob asks through the card's form in Chromium.
    let script = format!(
        r#"
from playwright.sync_api import sync_playwright
base = "{base}"
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"])
    page = b.new_page()
    page.goto(base + "/login")
    page.fill("input[name=token]", "{bob}")
    page.click("form[action='/login'] button")
    page.wait_for_load_state()
    page.goto(base + "/alice/m")
    gate = page.locator("section.gate")
    assert "Agree to the terms" in gate.inner_text() and "not" in gate.locator("strong").inner_text(), gate.inner_text()
    page.fill("form.gate input[name=Company]", "Bob Labs")
    page.select_option("form.gate select", "research")
    page.check("form.gate input[type=checkbox]")
    page.click("form.gate button")
    page.wait_for_load_state()
    assert "awaiting a review" in page.inner_text("section.gate"), page.inner_text("main")
    b.close()
print("OK")
"#,
        base = s.url,
    );
    let out = Command::new(python())
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );

    // carol's request through the API misses a field, then is made and rejected; the owner
    // accepts bob's; dave asks the auto-gated repo and gets in; eve is granted access.
    let script = format!(
        r#"
from huggingface_hub import HfApi
from huggingface_hub.utils import get_session, build_hf_headers
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
ask = lambda token, repo, fields: get_session().post(f"{{api.endpoint}}/api/models/{{repo}}/ask-access", json={{"fields": fields}}, headers=build_hf_headers(token=token))
r = ask("{carol}", "alice/m", {{"Company": "C"}})
print("missing field", r.status_code, "must be" in r.text or "required" in r.text)
print("carol asks", ask("{carol}", "alice/m", {{"Company": "C", "Use": "business", "I agree to the terms": True}}).json())
print("dave asks", ask("{dave}", "alice/auto", {{}}).json())
pending = list(api.list_pending_access_requests("alice/m"))
print("pending", sorted((r.username, r.fields.get("Company")) for r in pending))
api.accept_access_request("alice/m", "bob")
api.reject_access_request("alice/m", "carol", rejection_reason="not now")
api.grant_access("alice/m", "eve")
print("accepted", sorted(r.username for r in api.list_accepted_access_requests("alice/m")))
print("rejected", [r.username for r in api.list_rejected_access_requests("alice/m")])
try:
    api.accept_access_request("alice/m", "nobody")
except HfHubHTTPError as e:
    print("no such request", e.response.status_code)
try:
    list(HfApi(token="{bob}").list_pending_access_requests("alice/m"))
except HfHubHTTPError as e:
    print("bob manages", e.response.status_code)
print("anonymous asks", ask(False, "alice/m", {{"Company": "X"}}).status_code)
# Cancelled: carol's request goes back to pending.
api.cancel_access_request("alice/m", "carol")
print("after cancel", sorted(r.username for r in api.list_pending_access_requests("alice/m")))
api.reject_access_request("alice/m", "carol", rejection_reason="still no")
# The owner is never gated.
from huggingface_hub import hf_hub_download
print("owner", len(open(hf_hub_download("alice/m", "w.dat"), "rb").read()))
"#
    );
    let out = hub_script(&s, Some(&alice), &script);
    for want in [
        "missing field 400 True",
        "carol asks {'status': 'pending'}",
        "dave asks {'status': 'accepted'}",
        "pending [('bob', 'Bob Labs'), ('carol', 'C')]",
        "accepted ['bob', 'eve']",
        "rejected ['carol']",
        "no such request 404",
        "bob manages 403",
        "anonymous asks 401",
        "after cancel ['carol']",
        "owner 1048576",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    for (token, through) in [(&bob, true), (&eve, true), (&carol, false)] {
        let out = check(Some(token));
        if through {
            assert!(
                out.contains("file ok True") && out.contains("snapshot ok"),
                "{out}"
            );
        } else {
            assert!(out.contains("file gated 403"), "{out}");
        }
    }
    let clone = work.git(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&bob)), "c"],
    );
    assert!(clone.status.success(), "{}", stderr(&clone));
    // bob's Xet read token now: short-lived on a gated repo (hf_xet asks again, and the gate
    // is checked again).
    let r = raw(
        &s.addr,
        &request(
            "GET",
            "/api/models/alice/m/xet-read-token/main",
            &[("Authorization", &format!("Bearer {bob}"))],
            b"",
        ),
    );
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(v["exp"].as_u64().unwrap() <= now + 61, "{v}");
    let script = r#"
from huggingface_hub import hf_hub_download
print("auto", open(hf_hub_download("alice/auto", "notes.txt")).read().strip())
"#;
    assert!(hub_script(&s, Some(&dave), script).contains("auto open sesame"));
}

/// The repo's admins open or gate it from its page; a writer who is not an admin may not,
/// and a form without the session's token is refused.
#[test]
fn admins_gate_a_repo_from_its_page() {
    let (s, alice) = Server::with_alice();
    let cookie = format!("mh_token={alice}");
    let mut token_input = b"modelhub form token\0".to_vec();
    token_input.extend_from_slice(alice.as_bytes());
    let form_token = sha256_hex(&token_input);
    let page = raw(
        &s.addr,
        &request(
            "GET",
            "/alice/m/access-requests",
            &[("Cookie", &cookie)],
            b"",
        ),
    );
    assert_eq!(page.status, 200);
    assert!(page.text().contains("name=\"gated\""), "{}", page.text());
    let post = |body: String| {
        raw(
            &s.addr,
            &request(
                "POST",
                "/alice/m/access-requests/gate",
                &[
                    ("Cookie", &cookie),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                body.as_bytes(),
            ),
        )
    };
    assert_eq!(
        post(format!("form_token={}&gated=manual", "0".repeat(64))).status,
        403
    );
    assert_eq!(
        post(format!("form_token={form_token}&gated=sometimes")).status,
        400
    );
    assert_eq!(
        post(format!("form_token={form_token}&gated=manual")).status,
        303
    );
    let (_, info, _) = json_request(
        &s.addr,
        "GET",
        "/api/models/alice/m",
        None,
        &serde_json::Value::Null,
    );
    assert_eq!(info["gated"], "manual", "{info}");
}
