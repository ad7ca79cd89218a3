//! Xet with a stock huggingface_hub 2.4.0 + hf_xet (no `HF_HUB_DISABLE_XET`): uploads go
//! through the server's CAS, and every other door (hf_xet downloads, plain `resolve`, git-lfs,
//! the validator) reads the same bytes. Dedup is measured on the server's disk.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::*;
use crate::hub_api::{hub_script, hub_script_xet};
use crate::lfs::lfs_work;

/// Rows of the embedding: with a hidden size of 1024 in F32, 100 MiB of weights.
const VOCAB: usize = 25_600;
const HIDDEN: usize = 1024;

/// A valid safetensors file: a 100 MiB embedding (noise from `seed`) and a small layer.
fn safetensors(seed: u64) -> Vec<u8> {
    let emb = VOCAB * HIDDEN * 4;
    let layer = HIDDEN * 4 * 4;
    let header = format!(
        r#"{{"__metadata__":{{"format":"pt"}},"model.embed_tokens.weight":{{"dtype":"F32","shape":[{VOCAB},{HIDDEN}],"data_offsets":[0,{emb}]}},"model.layers.0.mlp.weight":{{"dtype":"F32","shape":[4,{HIDDEN}],"data_offsets":[{emb},{}]}}}}"#,
        emb + layer
    );
    let mut header = header.into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&noise(emb + layer, seed));
    out
}

fn config() -> String {
    format!(
        r#"{{"model_type": "llama", "vocab_size": {VOCAB}, "hidden_size": {HIDDEN}, "num_attention_heads": 8, "num_hidden_layers": 1, "tie_word_embeddings": true}}"#
    )
}

/// A model folder: card, config, tokenizer config and the 100 MiB safetensors file.
fn model_folder(dir: &Path, weights: &[u8]) -> PathBuf {
    let folder = dir.join("model");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        fixtures().join("repos/good-model/README.md"),
        folder.join("README.md"),
    )
    .unwrap();
    std::fs::write(folder.join("config.json"), config()).unwrap();
    std::fs::write(
        folder.join("tokenizer_config.json"),
        b"{\"model_max_length\": 4096}\n",
    )
    .unwrap();
    std::fs::write(folder.join("model.safetensors"), weights).unwrap();
    folder
}

/// Bytes of xorbs in the server's store.
fn xorb_bytes(s: &Server) -> u64 {
    s.stored("xet/xorbs/").iter().map(|(_, n)| n).sum()
}

/// Objects in the whole-object LFS store.
fn lfs_objects(s: &Server) -> usize {
    s.stored("lfs/objects/").len()
}

fn upload_folder(s: &Server, token: &str, repo: &str, folder: &Path, message: &str) -> String {
    hub_script_xet(
        s,
        Some(token),
        &format!(
            "from huggingface_hub import HfApi\nprint(HfApi().upload_folder(folder_path={folder:?}, repo_id={repo:?}, commit_message={message:?}).oid)",
            folder = folder.display().to_string()
        ),
    )
    .0
    .trim()
    .to_owned()
}

#[test]
fn a_stock_client_uploads_through_xet_and_every_door_reads_the_same_bytes() {
    let (s, token) = Server::with_alice();
    let src = tempfile::tempdir().unwrap();
    let weights = safetensors(1);
    let folder = model_folder(src.path(), &weights);

    let commit = upload_folder(&s, &token, "alice/m", &folder, "Upload model");
    assert_eq!(commit.len(), 40, "{commit}");
    let log = s.log();
    assert!(
        log.contains("path=/xet-cas/v1/xorbs/default/"),
        "no xorb upload:\n{log}"
    );
    assert!(log.contains("path=/xet-cas/v1/shards"), "no shard upload");
    assert!(
        !log.contains("objects/batch"),
        "the upload used the LFS batch API"
    );
    assert_eq!(
        lfs_objects(&s),
        0,
        "a whole object was stored besides the chunks"
    );
    let stored = xorb_bytes(&s);
    assert!(
        stored >= weights.len() as u64 && stored < weights.len() as u64 * 11 / 10,
        "xorbs hold {stored} bytes for a {} byte file",
        weights.len()
    );

    // hf_xet downloads chunk-wise; a client without Xet reads resolve; both get the bytes.
    let dl = tempfile::tempdir().unwrap();
    let script = |dir: &str| {
        format!(
            "from huggingface_hub import snapshot_download, HfApi\nsnapshot_download('alice/m', local_dir={dir:?})\nm = HfApi().get_safetensors_metadata('alice/m')\nprint('params', m.parameter_count)\nprint('recorded', HfApi().model_info('alice/m').safetensors.total)"
        )
    };
    let with_xet = dl.path().join("xet").display().to_string();
    let (out, _) = hub_script_xet(&s, Some(&token), &script(&with_xet));
    let plain = dl.path().join("plain").display().to_string();
    let out_plain = hub_script(&s, Some(&token), &script(&plain));
    let params = VOCAB * HIDDEN + 4 * HIDDEN;
    for (o, dir) in [(&out, &with_xet), (&out_plain, &plain)] {
        let got = std::fs::read(Path::new(dir).join("model.safetensors")).unwrap();
        assert!(got == weights, "{dir}: model.safetensors differs");
        for f in ["README.md", "config.json", "tokenizer_config.json"] {
            assert_eq!(
                std::fs::read(Path::new(dir).join(f)).unwrap(),
                std::fs::read(folder.join(f)).unwrap(),
                "{dir}: {f} differs"
            );
        }
        // The header read (a ranged GET) and the validator's count at commit both come from
        // the Xet-stored bytes.
        assert!(o.contains(&format!("params {{'F32': {params}}}")), "{o}");
        assert!(o.contains(&format!("recorded {params}")), "{o}");
    }
    let log = s.log();
    assert!(
        log.contains("path=/xet-cas/v2/reconstructions/") && log.contains("path=/xet-cas/xorb/"),
        "hf_xet did not download through the CAS:\n{log}"
    );

    // git + git-lfs: the file is an LFS pointer in git and its bytes come back whole.
    let w = lfs_work(&s, &token);
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "c"]);
    assert!(std::fs::read(w.path("c/model.safetensors")).unwrap() == weights);
    let pointer = w.git_ok("c", &["show", "HEAD:model.safetensors"]);
    assert!(
        pointer.contains(&format!("oid sha256:{}", sha256_hex(&weights))),
        "{pointer}"
    );
    assert_eq!(
        w.git_ok("c", &["log", "--format=%an|%s"]).lines().next(),
        Some("alice|Upload model")
    );
}

#[test]
fn chunks_are_stored_once_across_revisions_and_repos() {
    let (s, token) = Server::with_alice();
    s.repo("alice/copy", false);
    let src = tempfile::tempdir().unwrap();
    let v1 = safetensors(2);
    let folder = model_folder(src.path(), &v1);
    upload_folder(&s, &token, "alice/m", &folder, "v1");
    let after_v1 = xorb_bytes(&s);

    // Revision 2: 2% of the bytes change, in ten places through the tensor data (the header,
    // in the file's first chunk, stays: a hf_xet client finds what the server has by asking
    // for a file's first chunk and for the one chunk in ~1024 that xet-core marks as a key).
    let mut v2 = v1.clone();
    let span = v1.len() / 50 / 10;
    for i in 0..10 {
        let at = (1 << 20) + i * (v1.len() - (2 << 20)) / 10;
        for (k, b) in v2[at..at + span].iter_mut().enumerate() {
            *b = b.wrapping_add(1 + (k % 7) as u8);
        }
    }
    std::fs::write(folder.join("model.safetensors"), &v2).unwrap();
    upload_folder(&s, &token, "alice/m", &folder, "v2");
    let after_v2 = xorb_bytes(&s);
    let new_v2 = after_v2 - after_v1;
    println!(
        "v1 stored {after_v1} bytes; v2 (2% changed) added {new_v2} bytes = {:.1}% of the file",
        new_v2 as f64 * 100.0 / v1.len() as f64
    );
    assert!(new_v2 > 0, "the changed chunks were not stored");
    assert!(
        new_v2 < v1.len() as u64 / 10,
        "v2 stored {new_v2} new bytes for a 2% change of {} bytes",
        v1.len()
    );

    // The same file in another repo: nothing new is stored, and that repo serves it.
    std::fs::write(folder.join("model.safetensors"), &v1).unwrap();
    upload_folder(&s, &token, "alice/copy", &folder, "copy");
    assert_eq!(
        xorb_bytes(&s),
        after_v2,
        "a file already stored was stored again"
    );
    let dl = tempfile::tempdir().unwrap();
    let dir = dl.path().display().to_string();
    hub_script(
        &s,
        Some(&token),
        &format!("from huggingface_hub import hf_hub_download\nhf_hub_download('alice/copy', 'model.safetensors', local_dir={dir:?})\nhf_hub_download('alice/m', 'model.safetensors', local_dir={dir:?} + '/m')"),
    );
    assert!(std::fs::read(dl.path().join("model.safetensors")).unwrap() == v1);
    assert!(std::fs::read(dl.path().join("m/model.safetensors")).unwrap() == v2);
}

#[test]
fn xet_uploads_are_validated_like_pushes() {
    let (s, token) = Server::with_alice();
    let bare = s.bare_repo("models/alice/m.git");
    let head = || git_in(&bare, &bare, &["rev-parse", "main"]).stdout;
    let before = head();
    let malicious = fixtures()
        .join("weights/malicious.bin")
        .display()
        .to_string();
    let src = tempfile::tempdir().unwrap();
    let folder = model_folder(src.path(), &safetensors(3));
    std::fs::write(
        folder.join("README.md"),
        "---\nlicense: apache2\n---\n# m\n",
    )
    .unwrap();
    let (out, _) = hub_script_xet(
        &s,
        Some(&token),
        &format!(
            r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
try:
    api.upload_file(path_or_fileobj={malicious:?}, path_in_repo="pytorch_model.bin", repo_id="alice/m")
    raise SystemExit("a malicious pickle was accepted")
except HfHubHTTPError as e:
    print("pickle", e.response.status_code, str(e).replace(chr(10), " | "))
try:
    api.upload_folder(folder_path={folder:?}, repo_id="alice/m")
    raise SystemExit("a bad card was accepted")
except (ValueError, HfHubHTTPError) as e:
    print("card", str(e).replace(chr(10), " | "))
"#,
            folder = folder.display().to_string()
        ),
    );
    assert!(
        s.log().contains("path=/xet-cas/v1/shards"),
        "the pickle did not go through Xet"
    );
    assert!(
        out.contains("pickle 400")
            && out
                .contains("pytorch_model.bin:archive/data.pkl imports posix.system when unpickled"),
        "{out}"
    );
    assert!(
        out.contains("\"license\" \"apache2\" is not a Hub license id"),
        "{out}"
    );
    assert_eq!(head(), before, "a refused upload moved main");
    assert_fsck_clean(&bare);
}

/// A GET with a bearer token; the body as JSON when it is JSON.
fn get(s: &Server, path: &str, token: &str, extra: &[(&str, &str)]) -> RawResponse {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    raw(&s.addr, &request("GET", path, &headers, b""))
}

fn post(s: &Server, path: &str, token: &str, body: &[u8]) -> RawResponse {
    let auth = format!("Bearer {token}");
    raw(
        &s.addr,
        &request("POST", path, &[("Authorization", auth.as_str())], body),
    )
}

fn json(r: &RawResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

/// A Xet token for `repo` through the Hub API.
fn xet_token(s: &Server, hub_token: &str, repo: &str, kind: &str) -> (u16, String) {
    let r = get(
        s,
        &format!("/api/models/{repo}/xet-{kind}-token/main"),
        hub_token,
        &[],
    );
    let t = json(&r)["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if r.status == 200 {
        assert_eq!(r.header("x-xet-access-token").as_deref(), Some(t.as_str()));
        assert!(json(&r)["casUrl"].as_str().unwrap().ends_with("/xet-cas"));
    }
    (r.status, t)
}

#[test]
fn xet_tokens_are_scoped_to_one_repo_and_uploads_are_verified() {
    let s = Server::start();
    s.user("alice");
    s.user("bob");
    let alice = s.token("alice", "write");
    let bob = s.token("bob", "write");
    s.repo("alice/a", true);
    s.repo("alice/b", false);
    let data = noise(3 << 20, 11);
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("w.bin.gz"), &data).unwrap();
    hub_script_xet(
        &s,
        Some(&alice),
        &format!(
            "from huggingface_hub import HfApi\nHfApi().upload_file(path_or_fileobj={:?}, path_in_repo='w.bin.gz', repo_id='alice/a')",
            src.path().join("w.bin.gz").display().to_string()
        ),
    );
    let head = get(&s, "/alice/a/resolve/main/w.bin.gz", &alice, &[]);
    let file = head
        .header("x-xet-hash")
        .expect("resolve names the Xet hash");
    assert!(head
        .header("link")
        .unwrap()
        .contains("/api/models/alice/a/xet-read-token/"));
    let recon = format!("/xet-cas/v2/reconstructions/{file}");

    // Tokens follow the Hub roles: bob cannot see alice's private repo; on her public one a
    // write token of his may upload for a pull request (the commit decides where it lands),
    // a read token may not.
    assert_eq!(xet_token(&s, &bob, "alice/a", "read").0, 404);
    assert_eq!(xet_token(&s, &bob, "alice/a", "write").0, 404);
    assert_eq!(xet_token(&s, &bob, "alice/b", "write").0, 200);
    let bob_read = s.token("bob", "read");
    assert_eq!(xet_token(&s, &bob_read, "alice/b", "write").0, 403);
    let (_, read_a) = xet_token(&s, &alice, "alice/a", "read");
    let (_, write_b) = xet_token(&s, &alice, "alice/b", "write");
    let (_, read_b) = xet_token(&s, &bob, "alice/b", "read");

    // A's token reads A's file; B's tokens (even alice's write token) do not see it.
    let ok = get(&s, &recon, &read_a, &[]);
    assert_eq!(ok.status, 200, "{}", ok.text());
    for t in [&write_b, &read_b] {
        assert_eq!(get(&s, &recon, t, &[]).status, 404);
    }
    // v1 with a Range: the terms cover the range, each with a fetch entry whose chunk range
    // encloses it; a range past the end is 416.
    let v1 = get(
        &s,
        &format!("/xet-cas/v1/reconstructions/{file}"),
        &read_a,
        &[("Range", "bytes=1000000-1999999")],
    );
    assert_eq!(v1.status, 200, "{}", v1.text());
    let v1 = json(&v1);
    let offset = v1["offset_into_first_range"].as_u64().unwrap();
    let terms = v1["terms"].as_array().unwrap();
    let covered: u64 = terms
        .iter()
        .map(|t| t["unpacked_length"].as_u64().unwrap())
        .sum();
    assert!(offset > 0 && covered >= offset + 1_000_000, "{v1}");
    for t in terms {
        let (s0, e0) = (t["range"]["start"].as_u64(), t["range"]["end"].as_u64());
        let fetch = v1["fetch_info"][t["hash"].as_str().unwrap()]
            .as_array()
            .unwrap();
        assert!(fetch.iter().any(|f| f["range"]["start"].as_u64() <= s0
            && f["range"]["end"].as_u64() >= e0
            && f["url_range"]["end"].as_u64() > f["url_range"]["start"].as_u64()));
    }
    let past = format!("bytes={}-", data.len());
    assert_eq!(
        get(&s, &recon, &read_a, &[("Range", past.as_str())]).status,
        416
    );

    // Tokens edited to another repo or a wider scope (same signature), and no token, fail.
    let parts: Vec<&str> = read_a.split('.').collect();
    let b_id = write_b.split('.').nth(2).unwrap();
    let other_repo = format!("{}.{}.{b_id}.{}.{}", parts[0], parts[1], parts[3], parts[4]);
    let widened = format!("{}.write.{}.{}.{}", parts[0], parts[2], parts[3], parts[4]);
    for t in [&other_repo, &widened] {
        assert_eq!(get(&s, &recon, t, &[]).status, 401);
    }
    assert_eq!(raw(&s.addr, &request("GET", &recon, &[], b"")).status, 401);
    // Read tokens cannot upload.
    assert_eq!(
        post(
            &s,
            &format!("/xet-cas/v1/xorbs/default/{file}"),
            &read_a,
            b"x"
        )
        .status,
        403
    );

    // The xorb links are signed for exactly their range.
    let body = json(&ok);
    let (xorb, fetches) = body["xorbs"].as_object().unwrap().iter().next().unwrap();
    let fetch = &fetches[0];
    let url = fetch["url"].as_str().unwrap();
    let path = &url[url.find("/xet-cas/").unwrap()..];
    let (a, b) = (
        fetch["ranges"][0]["bytes"]["start"].as_u64().unwrap(),
        fetch["ranges"][0]["bytes"]["end"].as_u64().unwrap(),
    );
    let range = format!("bytes={a}-{b}");
    let r = raw(&s.addr, &request("GET", path, &[("Range", &range)], b""));
    assert_eq!((r.status, r.body.len() as u64), (206, b - a + 1));
    let wider = format!("bytes={a}-{}", b + 1);
    assert_eq!(
        raw(&s.addr, &request("GET", path, &[("Range", &wider)], b"")).status,
        403
    );
    let other = path.replace(&format!("r={a}-{b}"), &format!("r={a}-{}", b + 1));
    assert_eq!(
        raw(&s.addr, &request("GET", &other, &[("Range", &wider)], b"")).status,
        403
    );
    assert!(xorb.len() == 64);

    // Corrupt uploads are refused with the reason and stored nowhere.
    let before = xorb_bytes(&s);
    let name = s.stored("xet/xorbs/")[0].0.clone();
    let stored = format!("xet/xorbs/{}/{name}", &name[..2]);
    let original = s.read_stored(&stored);
    let mut corrupt = original.clone();
    corrupt[100] ^= 1;
    // Another repo's write token cannot replace a stored xorb: its hash names its content.
    let r = post(
        &s,
        &format!("/xet-cas/v1/xorbs/default/{name}"),
        &write_b,
        &corrupt,
    );
    assert_eq!(
        (r.status, json(&r)["was_inserted"].as_bool()),
        (200, Some(false))
    );
    assert!(s.read_stored(&stored) == original);
    let fake = "ab".repeat(32);
    let r = post(
        &s,
        &format!("/xet-cas/v1/xorbs/default/{fake}"),
        &write_b,
        &corrupt,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = post(&s, "/xet-cas/v1/shards", &write_b, b"not a shard");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("not a valid shard"), "{}", r.text());
    assert_eq!(xorb_bytes(&s), before);

    // A deleted repo's token dies with it, even when a new repo is given the same id.
    s.repo("alice/gone", false);
    let (_, gone) = xet_token(&s, &alice, "alice/gone", "read");
    hub_script(
        &s,
        Some(&alice),
        "from huggingface_hub import HfApi\nHfApi().delete_repo('alice/gone')",
    );
    s.repo("alice/next", false);
    let (_, next) = xet_token(&s, &alice, "alice/next", "read");
    // SQLite gives the freed id again (the case this guards against); PostgreSQL never
    // does.
    if !on_postgres() {
        assert_eq!(
            gone.split('.').nth(2),
            next.split('.').nth(2),
            "the id was not reused"
        );
    }
    assert_eq!(get(&s, &recon, &gone, &[]).status, 401);
    assert_eq!(s.tmp_leftovers(), 0);
}

#[test]
fn tree_entries_carry_xet_hashes_and_lfs_files_copy_across_repos_without_moving_bytes() {
    let (s, alice) = Server::with_alice();
    s.repo("alice/src", false);
    s.repo("alice/priv", true);
    s.user("bob");
    s.repo("bob/dst", false);
    let bob = s.token("bob", "write");
    let src = tempfile::tempdir().unwrap();
    let mut w = noise(2 << 20, 61);
    w[0] = 0; // not a pickle's first byte (the validator sniffs content)
    std::fs::write(src.path().join("w.dat"), &w).unwrap();
    let wp = src.path().join("w.dat").display().to_string();
    let script = format!(
        r#"
from huggingface_hub import HfApi
api = HfApi()
for repo in ["alice/src", "alice/priv"]:
    api.upload_file(path_or_fileobj="{wp}", path_in_repo="w.dat", repo_id=repo)
f = [e for e in api.list_repo_tree("alice/src") if e.path == "w.dat"][0]
print("xet", f.xet_hash is not None and len(f.xet_hash) == 64)
p = api.get_paths_info("alice/src", ["w.dat"])[0]
print("paths-info", p.xet_hash == f.xet_hash)
"#
    );
    let (out, _) = hub_script_xet(&s, Some(&alice), &script);
    assert!(
        out.contains("xet True") && out.contains("paths-info True"),
        "{out}"
    );
    // With the tree's xetHash, snapshot_download fetches the Xet file without a HEAD on
    // resolve; files kept in git still get one.
    let script = r#"
from huggingface_hub import snapshot_download
import os
d = snapshot_download("alice/src")
print("snapshot", sorted(os.listdir(d)))
"#;
    let (out, _) = hub_script_xet(&s, Some(&alice), script);
    assert!(
        out.contains("snapshot ['.gitattributes', 'w.dat']"),
        "{out}"
    );
    let head = |file: &str| {
        s.log()
            .lines()
            .filter(|l| l.contains("method=HEAD") && l.contains("/resolve/") && l.contains(file))
            .count()
    };
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while head(".gitattributes") == 0 {
        assert!(
            std::time::Instant::now() < end,
            "no HEAD for .gitattributes:\n{}",
            s.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(head("w.dat"), 0, "{}", s.log());
    let stored_before = s.stored("xet/xorbs/");
    let script = format!(
        r#"
from huggingface_hub import HfApi, CommitOperationCopy, hf_hub_download
from huggingface_hub.errors import RepositoryNotFoundError, HfHubHTTPError
from huggingface_hub.utils import get_session, build_hf_headers
from huggingface_hub import constants
api = HfApi()
api.create_commit("bob/dst", operations=[CommitOperationCopy("w.dat", "copied/w.dat", src_repo_id="alice/src", src_repo_type="model")], commit_message="copy")
print("copied", open(hf_hub_download("bob/dst", "copied/w.dat"), "rb").read() == open("{wp}", "rb").read())
try:
    api.create_commit("bob/dst", operations=[CommitOperationCopy("w.dat", "stolen.bin", src_repo_id="alice/priv", src_repo_type="model")], commit_message="steal")
    print("private: copied")
except RepositoryNotFoundError:
    print("private: RepositoryNotFoundError")
# Straight to the endpoint: an object alice/src does not hold, and a target bob cannot write.
url = f"{{constants.ENDPOINT}}/api/models/alice/src/lfs-files/duplicate"
r = get_session().post(url, json={{"target": {{"type": "model", "name": "bob/dst"}}, "files": [{{"sha256": "ab" * 32, "xetHash": "cd" * 32}}]}}, headers=build_hf_headers())
print("unheld", r.status_code, r.json()["failed"][0]["error"])
r = get_session().post(url, json={{"target": {{"type": "model", "name": "alice/src"}}, "files": []}}, headers=build_hf_headers())
print("not writable", r.status_code)
"#
    );
    let (out, err) = hub_script_xet(&s, Some(&bob), &script);
    assert!(out.contains("copied True"), "{out}\n{err}");
    assert!(out.contains("private: RepositoryNotFoundError"), "{out}");
    assert!(
        out.contains("unheld 200 alice/src does not hold this object"),
        "{out}"
    );
    assert!(out.contains("not writable 403"), "{out}");
    // No byte moved: the copy is the same xorbs.
    assert_eq!(s.stored("xet/xorbs/"), stored_before);
}
