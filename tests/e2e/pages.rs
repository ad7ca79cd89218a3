//! The web pages in a real headless Chromium (Debian's), driven by playwright from the test
//! venv: find, open and read a model pushed with git + git-lfs; a hostile card stays inert;
//! private repos show only after signing in. Screenshots go to target/screenshots/.

use std::path::Path;
use std::process::Command;

use crate::harness::*;
use crate::lfs::lfs_work;

/// A 1x1 PNG.
const DOT_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn push_repo(s: &Server, token: &str, id: &str, private: bool, files: &[(&str, &[u8])]) -> Work {
    s.repo(id, private);
    let w = lfs_work(s, token);
    w.git_ok(
        ".",
        &[
            "clone",
            "-q",
            &s.git_url(id, None)
                .replace("http://", &format!("http://hf_user:{token}@")),
            "a",
        ],
    );
    for (p, c) in files {
        w.write(&format!("a/{p}"), c);
    }
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "Add model"]);
    w.git_ok("a", &["push", "-q", "origin", "main"]);
    w
}

#[test]
fn pages_in_a_real_browser() {
    let s = Server::start();
    s.user("alice");
    let write = s.token("alice", "write");
    let read = s.token("alice", "read");
    let fixtures = fixtures();
    let card = "---\nlicense: apache-2.0\nlanguage: en\npipeline_tag: text-generation\nlibrary_name: transformers\n---\n# Good model\n\n| metric | value |\n|---|---|\n| accuracy | 0.91 |\n\n```python\nprint('hello')\n```\n\n![dot](images/dot.png)\n";
    let config = std::fs::read(fixtures.join("weights/config-match.json")).unwrap();
    let weights = std::fs::read(fixtures.join("weights/good.safetensors")).unwrap();
    let good = push_repo(
        &s,
        &write,
        "alice/good",
        false,
        &[
            ("README.md", card.as_bytes()),
            ("config.json", &config),
            ("model.safetensors", &weights),
            ("images/dot.png", DOT_PNG),
        ],
    );
    good.write(
        "a/README.md",
        format!("{card}\nA line added later.\n").as_bytes(),
    );
    good.git_ok("a", &["commit", "-q", "-am", "Tune card"]);
    good.git_ok("a", &["push", "-q", "origin", "main"]);
    let xss = "---\nlicense: mit\n---\n# Hostile\n\n<script>window.__pwned = 1; alert(1)</script>\n<img src=\"nope.png\" onerror=\"window.__pwned = 2\">\n\n[bad](javascript:window.__pwned=3)\n\n<a href=\"javascript:window.__pwned=4\">raw</a>\n";
    push_repo(
        &s,
        &write,
        "alice/xss",
        false,
        &[("README.md", xss.as_bytes())],
    );
    push_repo(
        &s,
        &write,
        "alice/secret",
        true,
        &[("README.md", b"---\nlicense: mit\n---\n# Secret model\n")],
    );

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let python = std::env::var_os("MODELHUB_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    let script = format!(
        r#"
import re
from playwright.sync_api import sync_playwright
base, shots = "{base}", "{shots}"
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"])
    page = b.new_page(viewport={{"width": 1200, "height": 900}})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    # The list: public repos only, searchable and filterable.
    page.goto(base + "/models")
    names = page.locator("ul.repos a.repo").all_inner_texts()
    assert names == ["alice/xss", "alice/good"], names
    page.screenshot(path=shots + "/models-list.png", full_page=True)
    page.fill("header.top input[name=search]", "good")
    page.press("header.top input[name=search]", "Enter")
    page.wait_for_load_state()
    assert page.locator("ul.repos a.repo").all_inner_texts() == ["alice/good"]
    page.goto(base + "/models?library=transformers")
    assert page.locator("ul.repos a.repo").all_inner_texts() == ["alice/good"]
    assert "96 params" in page.locator("ul.repos").inner_text()
    # The model page: the card rendered, the side panel from the weights.
    page.click("text=alice/good")
    page.wait_for_load_state()
    card = page.locator("article.card")
    assert card.locator("table td").first.inner_text() == "accuracy"
    assert "print('hello')" in card.locator("pre code").inner_text()
    img = card.locator("img")
    assert img.get_attribute("src") == "/alice/good/resolve/main/images/dot.png"
    assert img.evaluate("i => i.complete && i.naturalWidth") == 1
    assert page.locator("dd.params").inner_text().startswith("96")
    assert "apache-2.0" in page.locator("aside").inner_text() and "text-generation" in page.locator("aside").inner_text()
    page.screenshot(path=shots + "/model-page.png", full_page=True)
    # Files and versions, a file, the tensor table.
    page.click("text=Files and versions")
    page.wait_for_load_state()
    row = page.locator("table.files tr", has_text="model.safetensors")
    assert "LFS" in row.inner_text() and "Add model" in row.inner_text(), row.inner_text()
    page.click("text=config.json")
    page.wait_for_load_state()
    assert '"model_type": "llama"' in page.locator("pre.file").inner_text()
    # Highlighted with classes (inline styles would break the page's CSP) and their stylesheet.
    assert page.locator("pre.file span[class*=hl-]").count() > 3
    assert ".hl-" in page.request.get(base + "/assets/code.css").text()
    page.goto(base + "/alice/good/blob/main/model.safetensors")
    assert page.locator("table.tensors tbody tr").count() == 4
    assert "lm_head.weight" in page.locator("table.tensors").inner_text()
    # History and a diff.
    page.goto(base + "/alice/good")
    page.click("nav.tabs >> text=Commits")
    page.wait_for_load_state()
    titles = page.locator("ul.commits strong").all_inner_texts()
    assert titles[:2] == ["Tune card", "Add model"], titles
    page.click("text=Tune card")
    page.wait_for_load_state()
    assert "A line added later." in page.locator("pre.diff span.add").all_inner_texts()[-1]
    # A hostile card renders inert.
    page.goto(base + "/alice/xss")
    page.wait_for_timeout(300)
    for link in ["bad", "raw"]:
        page.click("article.card >> text=" + link)
        page.wait_for_timeout(200)
        page.goto(base + "/alice/xss")
    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == [], dialogs
    # Private repos: absent for a visitor, present after signing in, gone after signing out.
    assert page.goto(base + "/alice/secret").status == 404
    page.goto(base + "/alice")
    assert "alice/secret" not in page.inner_text("main")
    page.goto(base + "/login")
    page.fill("input[name=token]", "{read}")
    page.click("form[action='/login'] button")
    page.wait_for_load_state()
    assert page.goto(base + "/alice/secret").status == 200
    assert "Secret model" in page.inner_text("article.card")
    page.goto(base + "/models")
    assert "alice/secret" in page.locator("ul.repos").inner_text()
    cookie = [c for c in page.context.cookies() if c["name"] == "mh_token"][0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    page.click("text=Sign out")
    page.wait_for_load_state()
    assert page.goto(base + "/alice/secret").status == 404
    b.close()
print("OK")
"#,
        base = s.url,
        shots = shots.display(),
        read = read,
    );
    let out = Command::new(python)
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
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    for shot in ["models-list.png", "model-page.png"] {
        assert!(
            std::fs::metadata(shots.join(shot)).unwrap().len() > 1000,
            "{shot}"
        );
    }
}

/// The Community tab in Chromium (and the like button): a reader likes the model, opens a
/// discussion and comments (hostile Markdown
/// stays inert), sees a pull request's diff without a Merge button, and a form without this
/// session's token is refused; a writer merges the pull request from its page.
#[test]
fn community_tab_in_a_real_browser() {
    let (s, alice) = Server::with_alice();
    s.user("bob");
    let bob = s.token("bob", "read");
    let weights = fixtures()
        .join("weights/good.safetensors")
        .display()
        .to_string();
    let config = fixtures()
        .join("weights/config-match.json")
        .display()
        .to_string();
    let script = format!(
        r#"
from huggingface_hub import HfApi, CommitOperationAdd
card = """---
license: mit
model-index:
- name: m
  results:
  - task: {{type: text-classification, name: Text Classification}}
    dataset: {{type: glue, name: GLUE SST-2}}
    metrics:
    - {{type: accuracy, name: Accuracy, value: 0.913, verified: true}}
    - {{type: f1, name: F1, value: 0.9}}
---
# m
"""
api = HfApi()
api.create_commit("alice/m", operations=[CommitOperationAdd("README.md", card.encode()), CommitOperationAdd("model.safetensors", "{weights}"), CommitOperationAdd("config.json", "{config}")], commit_message="card with results")
i = api.model_info("alice/m")
print("model_index", [(m["name"], m["value"]) for m in i.model_index[0]["results"][0]["metrics"]], i.safetensors.parameters)
r = api.create_commit("alice/m", operations=[CommitOperationAdd("notes.txt", b"from the pull request\n")], commit_message="Add notes", create_pr=True)
print("pr", r.pr_num)
"#
    );
    let script = script.as_str();
    let out = crate::hub_api::hub_script(&s, Some(&alice), script);
    assert!(out.contains("pr 1"), "{out}");
    assert!(
        out.contains("model_index [('Accuracy', 0.913), ('F1', 0.9)] {'BF16': 16, 'F32': 80}"),
        "{out}"
    );
    let python = crate::hub_api::python();
    let script = format!(
        r#"
from playwright.sync_api import sync_playwright
base = "{base}"
def sign_in(b, token):
    page = b.new_page()
    page.goto(base + "/login")
    page.fill("input[name=token]", token)
    page.click("form[action='/login'] button")
    page.wait_for_load_state()
    return page
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"])
    dialogs = []
    page = sign_in(b, "{bob}")
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(base + "/alice/m")
    # The evaluation results as a table, and the memory the weights need (80 F32 and 16 BF16
    # parameters: 352 bytes stored; 96 parameters at bf16 192, int8 96, int4 48).
    rows = page.locator("table.evals tbody tr")
    assert rows.count() == 2, rows.count()
    assert rows.nth(0).inner_text().split("\t")[:3] == ["Text Classification", "GLUE SST-2", "Accuracy"], rows.nth(0).inner_text()
    assert "verified" in rows.nth(0).inner_text() and "verified" not in rows.nth(1).inner_text()
    memory = page.inner_text("dd.memory")
    for want in ["stored · 352 B", "bf16 · 192 B", "int8 · 96 B", "int4 · 48 B"]:
        assert want in memory, memory
    # Like, then unlike, from the model page.
    assert page.inner_text("dd.likes").startswith("0")
    page.click("form.like button")
    page.wait_for_load_state()
    assert page.inner_text("dd.likes").startswith("1") and "Unlike" in page.inner_text("dd.likes"), page.inner_text("dd.likes")
    page.click("form.like button")
    page.wait_for_load_state()
    assert page.inner_text("dd.likes").startswith("0")
    page.click("nav.tabs >> text=Community")
    page.wait_for_load_state()
    assert "Add notes" in page.inner_text("ul.discussions"), page.inner_text("main")
    page.fill("form.discussion input[name=title]", "Hello from bob")
    page.fill("form.discussion textarea[name=description]", "**Bold** <script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">")
    page.click("form.discussion button")
    page.wait_for_load_state()
    assert page.url.endswith("/alice/m/discussions/2"), page.url
    assert page.locator("article.comment strong", has_text="Bold").count() == 1
    page.fill("form.comment textarea", "A second word")
    page.click("form.comment button")
    page.wait_for_load_state()
    assert "A second word" in page.inner_text("section.events")
    assert page.locator("button:has-text('Close')").count() == 1
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__pwned") is None and dialogs == [], dialogs
    # The pull request: its diff, and no Merge button for a reader.
    page.goto(base + "/alice/m/discussions/1")
    assert "+from the pull request" in page.inner_text("pre.diff")
    assert "passed the validator" in page.inner_text("p.checks")
    assert page.locator("button:has-text('Merge')").count() == 0
    assert page.locator("button:has-text('Close')").count() == 0
    # A form posted without this session's token (as another site would) is refused.
    r = page.request.post(base + "/alice/m/discussions/2/comment", form={{"comment": "forged", "form_token": "0" * 64}})
    assert r.status == 403, r.status
    r = page.request.post(base + "/alice/m/discussions/1/merge", form={{"form_token": page.locator("form.comment input[name=form_token]").get_attribute("value")}})
    assert r.status == 403, r.status
    # The writer merges it.
    page = sign_in(b, "{alice}")
    page.goto(base + "/alice/m/discussions/1")
    page.click("button:has-text('Merge')")
    page.wait_for_load_state()
    assert "merged" in page.inner_text("h2"), page.inner_text("h2")
    page.goto(base + "/alice/m/discussions?status=closed")
    assert "Add notes" in page.inner_text("ul.discussions")
    b.close()
print("OK")
"#,
        base = s.url,
    );
    let out = Command::new(python)
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
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    let bare = s.bare_repo("models/alice/m.git");
    let files = git_in(&bare, &bare, &["show", "main:notes.txt"]).stdout;
    assert_eq!(files, b"from the pull request\n");
}
