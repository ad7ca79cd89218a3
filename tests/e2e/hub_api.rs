//! The Hugging Face Hub API with the real `huggingface_hub` client (2.4.0, in the venv that
//! tests/run.sh creates), against content pushed with real git + git-lfs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;
use crate::lfs::lfs_work;

pub(crate) fn python() -> PathBuf {
    let p = std::env::var_os("MODELHUB_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    assert!(
        p.exists(),
        "no Python with huggingface_hub at {}: run ./tests/run.sh, which creates it",
        p.display()
    );
    p
}

/// Runs a Python script with huggingface_hub pointed at the server; returns its stdout.
/// Uploads take the legacy LFS path (`HF_HUB_DISABLE_XET=1`); see [`hub_script_xet`].
pub(crate) fn hub_script(s: &Server, token: Option<&str>, script: &str) -> String {
    run_hub_script(s, token, script, false).0
}

/// As [`hub_script`], with a stock install's defaults: hf_xet uploads and downloads through
/// the server's Xet CAS. Returns stdout and stderr (where a refused upload's error lands).
pub(crate) fn hub_script_xet(s: &Server, token: Option<&str>, script: &str) -> (String, String) {
    run_hub_script(s, token, script, true)
}

fn run_hub_script(s: &Server, token: Option<&str>, script: &str, xet: bool) -> (String, String) {
    hub_script_at(&s.url, token, script, xet)
}

/// Runs a Python script with huggingface_hub pointed at `endpoint` (a server, or a load
/// balancer in front of several), with hf_xet transfers if `xet`; returns stdout and stderr.
pub(crate) fn hub_script_at(
    endpoint: &str,
    token: Option<&str>,
    script: &str,
    xet: bool,
) -> (String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(python());
    cmd.arg("-c")
        .arg(script)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", home.path().join("hf"))
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env("HOME", home.path())
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_DISABLE_XET");
    if !xet {
        cmd.env("HF_HUB_DISABLE_XET", "1");
    }
    if let Some(t) = token {
        cmd.env("HF_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        stderr(&out)
    );
    (stdout, stderr(&out))
}

/// alice/m with a card, a config, a 50 MiB LFS weights file and a small safetensors file,
/// a tag v1, a second commit, and a pull-request ref.
fn seeded() -> (Server, String, Work, String) {
    let (s, token) = Server::with_alice();
    let w = lfs_work(&s, &token);
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "a"]);
    let fixtures = fixtures();
    std::fs::copy(
        fixtures.join("repos/good-model/README.md"),
        w.path("a/README.md"),
    )
    .unwrap();
    std::fs::copy(
        fixtures.join("weights/config-match.json"),
        w.path("a/config.json"),
    )
    .unwrap();
    std::fs::copy(
        fixtures.join("weights/good.safetensors"),
        w.path("a/model.safetensors"),
    )
    .unwrap();
    w.write("a/big/weights.bin.gz", &noise(50 << 20, 9));
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "Add model"]);
    let first = w.git_ok("a", &["rev-parse", "HEAD"]);
    w.git_ok("a", &["tag", "v1"]);
    w.write("a/notes.txt", b"second commit\n");
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "Add notes"]);
    let out = w.git("a", &["push", "origin", "main", "v1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A pull-request ref (pushes may not create one; the API will).
    let bare = s.bare_repo("models/alice/m.git");
    git_in(&bare, &bare, &["update-ref", "refs/pr/1", &first]);
    (s, token, w, first)
}

#[test]
fn downloads_by_every_kind_of_revision_keep_bytes() {
    let (s, _token, w, first) = seeded();
    let head = w.git_ok("a", &["rev-parse", "HEAD"]);
    let script = format!(
        r#"
import hashlib, os
from huggingface_hub import snapshot_download, hf_hub_download, HfApi
def sha(p): return hashlib.sha256(open(p, "rb").read()).hexdigest()
root = snapshot_download("alice/m")
assert os.path.basename(root) == "{head}", root
for f in ["README.md", "config.json", "model.safetensors", "big/weights.bin.gz", "notes.txt"]:
    print(f, sha(os.path.join(root, f)))
for rev in ["main", "v1", "{first}", "{first}"[:7], "refs/pr/1"]:
    p = hf_hub_download("alice/m", "config.json", revision=rev)
    print("rev", rev, p.split("/snapshots/")[1].split("/")[0])
meta = HfApi().get_safetensors_metadata("alice/m")
print("safetensors", sorted(meta.files_metadata["model.safetensors"].tensors))
"#
    );
    let out = hub_script(&s, None, &script);
    for f in [
        "README.md",
        "config.json",
        "model.safetensors",
        "big/weights.bin.gz",
        "notes.txt",
    ] {
        let expected = sha256_hex(&std::fs::read(w.path(&format!("a/{f}"))).unwrap());
        assert!(
            out.contains(&format!("{f} {expected}")),
            "{f} differs:\n{out}"
        );
    }
    assert!(out.contains(&format!("rev main {head}")), "{out}");
    for rev in [
        "v1".to_owned(),
        first.clone(),
        first[..7].to_owned(),
        "refs/pr/1".to_owned(),
    ] {
        assert!(out.contains(&format!("rev {rev} {first}")), "{rev}:\n{out}");
    }
    assert!(out.contains("safetensors ['lm_head.weight', 'model.embed_tokens.weight', 'model.layers.0.mlp.weight', 'model.layers.1.mlp.weight']"), "{out}");
}

#[test]
fn info_listings_refs_commits_whoami_and_errors() {
    let (s, token, _w, first) = seeded();
    s.repo("alice/secret", true);
    let script = format!(
        r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError
from huggingface_hub import hf_hub_download
api = HfApi()
i = api.model_info("alice/m")
assert i.id == "alice/m" and len(i.sha) == 40 and i.private is False, i
assert i.safetensors.total == 96 and i.safetensors.parameters == {{"F32": 80, "BF16": 16}}, i.safetensors
assert "license:apache-2.0" in i.tags and "transformers" in i.tags and i.pipeline_tag == "text-generation", i.tags
assert i.card_data.license == "apache-2.0"
assert i.config == {{"model_type": "llama"}}, i.config
assert i.last_modified is not None and i.created_at is not None
assert all(s.size is None for s in i.siblings)
full = api.model_info("alice/m", files_metadata=True)
big = [s for s in full.siblings if s.rfilename == "big/weights.bin.gz"][0]
assert big.size == 50 * 1024 * 1024 and big.lfs.size == big.size and len(big.lfs.sha256) == 64, big
old = api.model_info("alice/m", revision="v1")
assert old.sha == "{first}", old.sha
assert sorted(api.list_repo_files("alice/m")) == [".gitattributes", "README.md", "big/weights.bin.gz", "config.json", "model.safetensors", "notes.txt"]
tree = list(api.list_repo_tree("alice/m", path_in_repo="big"))
assert [t.path for t in tree] == ["big/weights.bin.gz"] and tree[0].lfs.size == 50 * 1024 * 1024, tree
top = [t.path for t in api.list_repo_tree("alice/m")]
assert top == [".gitattributes", "README.md", "big", "config.json", "model.safetensors", "notes.txt"], top
last = {{t.path: t.last_commit.title for t in api.list_repo_tree("alice/m", expand=True)}}
assert last == {{".gitattributes": "initial commit", "README.md": "Add model", "big": "Add model", "config.json": "Add model", "model.safetensors": "Add model", "notes.txt": "Add notes"}}, last
refs = api.list_repo_refs("alice/m", include_pull_requests=True)
assert [b.name for b in refs.branches] == ["main"] and [t.name for t in refs.tags] == ["v1"], refs
assert [p.ref for p in refs.pull_requests] == ["refs/pr/1"], refs
commits = api.list_repo_commits("alice/m")
assert [c.title for c in commits] == ["Add notes", "Add model", "initial commit"], commits
assert commits[1].commit_id == "{first}" and commits[0].authors == ["Test Author"], commits
assert api.repo_exists("alice/m") and not api.repo_exists("alice/nope")
assert api.revision_exists("alice/m", "v1") and not api.revision_exists("alice/m", "v9")
assert api.file_exists("alice/m", "big/weights.bin.gz") and not api.file_exists("alice/m", "nope.bin")
for call, exc in [
    (lambda: api.model_info("alice/nope"), RepositoryNotFoundError),
    (lambda: api.model_info("alice/m", revision="nope"), RevisionNotFoundError),
    (lambda: hf_hub_download("alice/m", "nope.txt"), EntryNotFoundError),
    (lambda: hf_hub_download("alice/m", "config.json", revision="nope"), RevisionNotFoundError),
    (lambda: hf_hub_download("alice/nope", "config.json"), RepositoryNotFoundError),
]:
    try:
        call()
        raise SystemExit(f"no {{exc.__name__}}")
    except exc:
        pass
# Private: invisible without a token, readable with the owner's.
assert not api.repo_exists("alice/secret")
assert HfApi(token="{token}").repo_exists("alice/secret")
me = HfApi(token="{token}").whoami()
assert me["name"] == "alice" and me["auth"]["accessToken"]["role"] == "write", me
print("OK")
"#
    );
    assert_eq!(hub_script(&s, None, &script).trim(), "OK");
}

#[test]
fn tree_listings_page_with_absolute_links() {
    let s = Server::start();
    s.user("alice");
    let token = s.token("alice", "write");
    s.repo("alice/many", false);
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/many", Some(&token)), "a"],
    );
    for i in 0..1100 {
        w.write(&format!("a/files/f{i:04}.txt"), format!("{i}\n").as_bytes());
    }
    w.write("a/README.md", b"---\nlicense: mit\n---\n# many\n");
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "many"]);
    w.git_ok("a", &["push", "-q", "origin", "main"]);
    // The raw API: a first page of 1000 and an absolute Link to the rest.
    let r = raw(
        &s.addr,
        &request("GET", "/api/models/alice/many/tree/main/files", &[], b""),
    );
    let page: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1000);
    let link = r.header("link").expect("a Link header");
    assert!(
        link.starts_with("<http://") && link.ends_with("rel=\"next\""),
        "{link}"
    );
    let out = hub_script(
        &s,
        None,
        "from huggingface_hub import HfApi\nprint(len(HfApi().list_repo_files('alice/many')))",
    );
    assert_eq!(out.trim(), "1102");
}

#[test]
fn repo_management_through_the_client() {
    let s = Server::start();
    s.user("alice");
    s.user("bob");
    s.cli_ok(&["org", "create", "acme", "--owner", "alice"]);
    let alice = s.token("alice", "write");
    let bob = s.token("bob", "write");
    let script = format!(
        r#"
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
api = HfApi(token="{alice}")
url = api.create_repo("alice/new")
assert url.repo_id == "alice/new" and url.endpoint == api.endpoint, url
assert api.create_repo("alice/new", exist_ok=True).repo_id == "alice/new"
try:
    api.create_repo("alice/new")
    raise SystemExit("a second create_repo succeeded")
except HfHubHTTPError as e:
    assert e.response.status_code == 409, e
assert api.create_repo("acme/org-model", private=True).repo_id == "acme/org-model"
assert api.create_repo("data", repo_type="dataset").repo_id == "alice/data"
assert api.dataset_info("alice/data").id == "alice/data"
assert [d.id for d in api.list_datasets()] == ["alice/data"]
assert "filter=lfs" in open(hf_hub_download("alice/data", ".gitattributes", repo_type="dataset")).read()
assert api.create_repo("app", repo_type="space", space_sdk="static").repo_id == "alice/app"
assert api.space_info("alice/app").id == "alice/app"
anon = HfApi(token=False)
assert not anon.repo_exists("acme/org-model") and api.repo_exists("acme/org-model")
api.update_repo_settings("alice/new", private=True)
assert api.model_info("alice/new").private is True and not anon.repo_exists("alice/new")
api.update_repo_settings("alice/new", private=False)
assert anon.repo_exists("alice/new")
api.create_branch("alice/new", branch="dev")
api.create_branch("alice/new", branch="dev", exist_ok=True)
api.create_tag("alice/new", tag="v1", tag_message="first release")
api.create_tag("alice/new", tag="v0", revision="dev")
refs = api.list_repo_refs("alice/new")
assert sorted(b.name for b in refs.branches) == ["dev", "main"] and sorted(t.name for t in refs.tags) == ["v0", "v1"], refs
api.delete_tag("alice/new", tag="v0")
api.delete_branch("alice/new", branch="dev")
refs = api.list_repo_refs("alice/new")
assert [b.name for b in refs.branches] == ["main"] and [t.name for t in refs.tags] == ["v1"], refs
try:
    HfApi(token="{bob}").delete_repo("alice/new")
    raise SystemExit("bob deleted alice's repo")
except HfHubHTTPError:
    pass
api.move_repo("alice/new", "alice/renamed")
# The old name redirects to the new one, as on the Hub.
assert api.repo_exists("alice/renamed") and api.model_info("alice/new").id == "alice/renamed"
assert api.model_info("alice/renamed", revision="v1").sha
api.delete_repo("alice/renamed")
assert not api.repo_exists("alice/renamed")
api.delete_repo("alice/renamed", missing_ok=True)
print("OK")
"#
    );
    assert_eq!(hub_script(&s, None, &script).trim(), "OK");
    // What the API created is a real git repo.
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("datasets/alice/data", None), "d"],
    );
    assert!(w.path("d/.gitattributes").exists());
    assert!(
        !s.bare_repo("models/alice/renamed.git").exists(),
        "the deleted repo stayed on disk"
    );
}

/// Creates `id` with a card and pushes it (as alice).
fn repo_with_card(s: &Server, token: &str, id: &str, card: &str) {
    s.repo(id, false);
    let w = Work::new();
    w.git_ok(".", &["clone", "-q", &s.git_url(id, Some(token)), "a"]);
    w.write("a/README.md", card.as_bytes());
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "card"]);
    w.git_ok("a", &["push", "-q", "origin", "main"]);
}

#[test]
fn listing_search_filters_sort_pages_and_downloads() {
    // Pages of 2 repos, so the client has to follow the Link header to see all three.
    let s = Server::start_with(&["--api-page-size", "2"]);
    s.user("alice");
    s.user("bob");
    let alice = s.token("alice", "write");
    let bob = s.token("bob", "write");
    repo_with_card(
        &s,
        &alice,
        "alice/alpha",
        "---\nlicense: mit\ntags: [nlp]\npipeline_tag: text-classification\n---\n",
    );
    repo_with_card(
        &s,
        &alice,
        "alice/beta",
        "---\nlicense: apache-2.0\ntags: [vision]\n---\n",
    );
    s.repo("bob/gamma", true);
    s.repo("alice/delta", false);
    let script = format!(
        r#"
from huggingface_hub import HfApi, hf_hub_download
import tempfile
api = HfApi(token=False)
ids = lambda it: [m.id for m in it]
assert ids(api.list_models()) == ["alice/alpha", "alice/beta", "alice/delta"], ids(api.list_models())
assert ids(api.list_models(author="alice", search="alp")) == ["alice/alpha"]
assert ids(api.list_models(filter="vision")) == ["alice/beta"]
assert ids(api.list_models(filter=["license:mit", "nlp"])) == ["alice/alpha"]
assert ids(api.list_models(pipeline_tag="text-classification")) == ["alice/alpha"]
# The test pushes carry a fixed 2026-01-01 date; delta's initial commit is from now.
assert ids(api.list_models(sort="lastModified"))[0] == "alice/delta", ids(api.list_models(sort="lastModified"))
assert ids(api.list_models(sort="createdAt")) == ["alice/delta", "alice/beta", "alice/alpha"], ids(api.list_models(sort="createdAt"))
assert len(ids(api.list_models(limit=1))) == 1
assert "bob/gamma" in ids(HfApi(token="{bob}").list_models())
assert "bob/gamma" not in ids(HfApi(token="{alice}").list_models())
full = list(api.list_models(search="alpha", full=True, cardData=True))[0]
assert full.card_data.license == "mit" and [s.rfilename for s in full.siblings] == [".gitattributes", "README.md"], full
for _ in range(3):
    hf_hub_download("alice/beta", "README.md", cache_dir=tempfile.mkdtemp())
print("OK")
"#
    );
    assert_eq!(hub_script(&s, None, &script).trim(), "OK");
    // Pages: an absolute Link that carries every parameter.
    let r = raw(
        &s.addr,
        &request("GET", "/api/models?author=alice&limit=1", &[], b""),
    );
    let page: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    let link = r.header("link").expect("Link");
    // Built from the request's Host (this raw request says `localhost`).
    assert_eq!(
        link,
        "<http://localhost/api/models?author=alice&limit=1&cursor=1>; rel=\"next\""
    );
}

#[test]
fn downloads_are_counted_per_config_fetch_and_cards_validate() {
    let (s, _token, _w, _) = seeded();
    let script = r#"
import tempfile
from huggingface_hub import HfApi, hf_hub_download, ModelCard
for _ in range(3):
    hf_hub_download("alice/m", "config.json", cache_dir=tempfile.mkdtemp())
hf_hub_download("alice/m", "README.md", cache_dir=tempfile.mkdtemp())
api = HfApi()
import time
for _ in range(50):  # counts are written once a second
    if api.model_info("alice/m").downloads == 3:
        break
    time.sleep(0.1)
assert api.model_info("alice/m").downloads == 3, api.model_info("alice/m").downloads
ModelCard.load("alice/m").validate()
try:
    ModelCard("---\nlicense: apache2\n---\n# x\n").validate()
    raise SystemExit("a bad card validated")
except ValueError as e:  # the client raises the server's JSON answer
    assert "the closest is" in str(e) and "apache-2.0" in str(e), e
print("OK")
"#;
    assert_eq!(hub_script(&s, None, script).trim(), "OK");
}

#[test]
fn transformers_loads_config_and_tokenizer() {
    let (s, token, w, _) = seeded();
    // A tiny tokenizer, made by the tokenizers library itself, pushed with git.
    let dir = w.path("a");
    hub_script(
        &s,
        None,
        &format!(
            r#"
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
tok = Tokenizer(models.WordLevel({{"[UNK]": 0, "hello": 1, "world": 2}}, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained("{}")
"#,
            dir.display()
        ),
    );
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "Add tokenizer"]);
    let out = w.git("a", &["push", &s.git_url("alice/m", Some(&token)), "main"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = r#"
from transformers import AutoConfig, AutoTokenizer
config = AutoConfig.from_pretrained("alice/m")
assert config.model_type == "llama" and config.vocab_size == 8, config
tok = AutoTokenizer.from_pretrained("alice/m")
assert tok("hello world")["input_ids"] == [1, 2], tok("hello world")
print("OK")
"#;
    assert_eq!(hub_script(&s, None, script).trim(), "OK");
}

#[test]
fn a_push_is_visible_to_the_api_at_once() {
    let (s, token, w, _) = seeded();
    let fetch = r#"
import tempfile
from huggingface_hub import hf_hub_download
print(open(hf_hub_download("alice/m", "notes.txt", cache_dir=tempfile.mkdtemp())).read().strip())
"#;
    assert_eq!(hub_script(&s, None, fetch).trim(), "second commit");
    w.write("a/notes.txt", b"third commit\n");
    w.git_ok("a", &["commit", "-q", "-am", "third"]);
    w.git_ok(
        "a",
        &["push", "-q", &s.git_url("alice/m", Some(&token)), "main"],
    );
    // No waiting: the push itself drops what the API had cached about `main`.
    assert_eq!(hub_script(&s, None, fetch).trim(), "third commit");
}

#[test]
fn errors_carry_a_request_id_that_the_server_log_names_and_unknown_api_paths_answer_json() {
    let (s, token) = Server::with_alice();
    let script = r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError
api = HfApi()
print("exists", api.repo_exists("some-name"), api.repo_exists("alice/missing"), api.repo_exists("alice/m"))
try:
    api.model_info("alice/missing")
except RepositoryNotFoundError as e:
    print("id", e.request_id, ("Request ID: " + e.request_id) in str(e))
"#;
    let out = hub_script(&s, Some(&token), script);
    assert!(out.contains("exists False False True"), "{out}");
    let id_line = out
        .lines()
        .find(|l| l.starts_with("id "))
        .unwrap_or_else(|| panic!("{out}"));
    let parts: Vec<&str> = id_line.split(' ').collect();
    assert_eq!(parts.len(), 3, "{id_line}");
    assert_eq!(parts[2], "True", "{id_line}");
    let id = parts[1];
    assert_eq!(id.len(), 32, "{id}");
    // The server's log line for that request names it.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !s.log().contains(&format!("request_id={id}")) {
        assert!(
            std::time::Instant::now() < end,
            "{id} not in the log:\n{}",
            s.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A path under /api/ that no route serves: a Hub API error, JSON with its headers.
    let res = raw(
        &s.addr,
        format!(
            "GET /api/nonsense/at/all HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            s.addr
        )
        .as_bytes(),
    );
    assert_eq!(res.status, 404);
    assert!(res.text().contains("\"error\""), "{}", res.text());
    assert!(res.header("x-error-message").is_some());
    assert_eq!(res.header("x-request-id").map(|v| v.len()), Some(32));
}

#[test]
fn ref_and_move_errors_use_the_hubs_words_and_exceptions() {
    let (s, token) = Server::with_alice();
    s.repo("alice/other", false);
    let script = r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError
api = HfApi()
api.create_branch("alice/m", branch="dev")
api.create_tag("alice/m", tag="v1")
for name, call in [
    ("branch", lambda: api.create_branch("alice/m", branch="dev")),
    ("tag", lambda: api.create_tag("alice/m", tag="v1")),
    ("main", lambda: api.delete_branch("alice/m", branch="main")),
    ("missing", lambda: api.delete_branch("alice/m", branch="nope")),
    ("missing-tag", lambda: api.delete_tag("alice/m", tag="nope")),
    ("move", lambda: api.move_repo("alice/m", "alice/other")),
]:
    try:
        call()
        print(name, "accepted")
    except HfHubHTTPError as e:
        print(name, type(e).__name__, e.response.status_code, e.server_message)
"#;
    let out = hub_script(&s, Some(&token), script);
    let want = [
        "branch HfHubHTTPError 409 Reference refs/heads/dev already exists",
        "tag HfHubHTTPError 409 Reference refs/tags/v1 already exists",
        "main HfHubHTTPError 403 Cannot delete refs/heads/main",
        "missing RevisionNotFoundError 404 Invalid rev id: nope",
        "missing-tag RevisionNotFoundError 404 Invalid rev id: nope",
        "move HfHubHTTPError 409 A model repository called alice/other already exists",
    ];
    for w in want {
        assert!(out.lines().any(|l| l == w), "{w}\n{out}");
    }
}

#[test]
fn auth_check_and_formatted_commits_answer_as_the_hub() {
    let (s, token) = Server::with_alice();
    s.repo("alice/p", true);
    s.user("bob");
    let bob = s.token("bob", "write");
    let read = s.token("alice", "read");
    let script = format!(
        r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError, HfHubHTTPError
api = HfApi()
api.upload_file(path_or_fileobj=b"one\n", path_in_repo="notes.txt", repo_id="alice/p",
                commit_message="Fix <b>bold</b> & co", commit_description="first para\nsecond line\n\nnext para")
c = api.list_repo_commits("alice/p", formatted=True)[0]
print("title", c.formatted_title)
print("message", c.formatted_message)
print("plain", api.list_repo_commits("alice/p")[0].formatted_title)
for who, tok, write in [("alice", None, False), ("alice", None, True), ("reader", "{read}", False),
                        ("reader", "{read}", True), ("bob", "{bob}", False), ("anonymous", False, False)]:
    try:
        HfApi(token=tok).auth_check("alice/p", write=write)
        print(who, write, "ok")
    except RepositoryNotFoundError:
        print(who, write, "RepositoryNotFoundError")
    except HfHubHTTPError as e:
        print(who, write, e.response.status_code)
"#
    );
    let out = hub_script(&s, Some(&token), &script);
    let want = [
        "title Fix &lt;b&gt;bold&lt;/b&gt; &amp; co",
        "message <p>first para<br>second line</p><p>next para</p>",
        "plain None",
        "alice False ok",
        "alice True ok",
        "reader False ok",
        "reader True 403",
        "bob False RepositoryNotFoundError",
        "anonymous False RepositoryNotFoundError",
    ];
    for w in want {
        assert!(out.lines().any(|l| l == w), "{w}\n{out}");
    }
}

#[test]
fn users_and_organisations_have_full_names_in_whoami_overviews_and_pages() {
    let s = Server::start();
    s.cli_ok(&["user", "create", "carol", "--fullname", "Carol Smith"]);
    s.cli_ok(&[
        "org",
        "create",
        "acme",
        "--owner",
        "carol",
        "--fullname",
        "Acme Corp",
    ]);
    s.repo("carol/public", false);
    s.repo("carol/hidden", true);
    let out = s.cli(&["user", "create", "dave", "--fullname", "bad\u{1b}[2J"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("a full name has at most 100 characters and no control characters"),
        "{}",
        stderr(&out)
    );
    assert!(
        !s.cli(&["user", "set-fullname", "dave", "Dave"])
            .status
            .success(),
        "dave was created"
    );
    let token = s.token("carol", "read");
    let script = r#"
from huggingface_hub import HfApi
api = HfApi()
me = api.whoami()
print("whoami", me["fullname"], [o["fullname"] for o in me["orgs"]])
u = api.get_user_overview("carol")
print("user", u.username, u.fullname, u.num_models)
o = api.get_organization_overview("acme")
print("org", o.name, o.fullname, o.num_users)
"#;
    let out = hub_script(&s, Some(&token), script);
    assert!(out.contains("whoami Carol Smith ['Acme Corp']"), "{out}");
    assert!(out.contains("user carol Carol Smith 1"), "{out}");
    assert!(out.contains("org acme Acme Corp 1"), "{out}");
    s.cli_ok(&["user", "set-fullname", "carol", "Carol S."]);
    let page = raw(
        &s.addr,
        format!(
            "GET /carol HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            s.addr
        )
        .as_bytes(),
    );
    assert!(page.text().contains("Carol S."), "{}", page.text());
}

#[test]
fn a_moved_repos_old_name_redirects_everywhere_until_a_repo_takes_it() {
    let (s, token) = Server::with_alice();
    s.repo("alice/p", true);
    s.user("bob");
    let bob = s.token("bob", "read");
    let script = r#"
import os
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
api = HfApi()
api.upload_file(path_or_fileobj=b"hello\n", path_in_repo="hello.txt", repo_id="alice/m")
api.upload_file(path_or_fileobj=b"secret\n", path_in_repo="s.txt", repo_id="alice/p")
api.move_repo("alice/m", "alice/renamed")
api.move_repo("alice/p", "alice/p2")
print("info", api.model_info("alice/m").id)
print("file", open(hf_hub_download("alice/m", "hello.txt"), "rb").read())
print("snapshot", sorted(os.listdir(snapshot_download("alice/m"))))
print("private", api.model_info("alice/p").id)
"#;
    let out = hub_script(&s, Some(&token), script);
    assert!(out.contains("info alice/renamed"), "{out}");
    assert!(out.contains("file b'hello\\n'"), "{out}");
    assert!(out.contains("'hello.txt'"), "{out}");
    assert!(out.contains("private alice/p2"), "{out}");
    // git follows the redirect of its first request.
    let w = crate::lfs::lfs_work(&s, &token);
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "c"]);
    assert_eq!(std::fs::read(w.path("c/hello.txt")).unwrap(), b"hello\n");
    // The page sends the browser on.
    let page = raw(
        &s.addr,
        format!(
            "GET /alice/m/tree/main HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            s.addr
        )
        .as_bytes(),
    );
    assert_eq!(page.status, 307);
    assert_eq!(
        page.header("location").as_deref(),
        Some("/alice/renamed/tree/main")
    );
    // Someone who may not see the private repo learns nothing of its new name.
    let script = r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError
try:
    HfApi().model_info("alice/p")
    print("bob sees it")
except RepositoryNotFoundError:
    print("bob RepositoryNotFoundError")
"#;
    let out = hub_script(&s, Some(&bob), script);
    assert_eq!(out.trim(), "bob RepositoryNotFoundError");
    // A new repo under the old name takes it back.
    let script = r#"
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("alice/m")
print("info", api.model_info("alice/m").id, sorted(api.list_repo_files("alice/m")))
"#;
    let out = hub_script(&s, Some(&token), script);
    assert!(out.contains("info alice/m ['.gitattributes']"), "{out}");
}

#[test]
fn an_organisation_can_make_its_new_repos_private_by_default() {
    let (s, token) = Server::with_alice();
    s.cli_ok(&["org", "create", "acme", "--owner", "alice"]);
    s.cli_ok(&["org", "private-by-default", "acme", "on"]);
    let script = r#"
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("acme/quiet")
api.create_repo("acme/open", private=False)
api.create_repo("alice/mine")
for r in ["acme/quiet", "acme/open", "alice/mine"]:
    print(r, api.model_info(r).private)
"#;
    let out = hub_script(&s, Some(&token), script);
    assert_eq!(
        out.trim(),
        "acme/quiet True\nacme/open False\nalice/mine False",
        "{out}"
    );
}
