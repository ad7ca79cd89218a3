//! Collections end to end: huggingface_hub 2.4.0's collection calls and the `hf collections`
//! commands against the real server, private repos and collections hidden from those who may
//! not read them, and the pages that show them.

use crate::harness::*;
use crate::hub_api::hub_script;

#[test]
fn collections_round_trip_through_the_api_the_cli_and_the_pages() {
    let (s, token) = Server::with_alice();
    s.repo("alice/secret", true);
    s.cli_ok(&["org", "create", "acme", "--owner", "alice"]);
    s.user("bob");
    let bob = s.token("bob", "write");
    let script = format!(
        r#"
import json, os, subprocess, sys
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
bob = HfApi(token="{bob}")
anon = HfApi(token=False)
def status(call):
    try:
        call()
        return "ok"
    except HfHubHTTPError as e:
        return e.response.status_code
api.create_repo("alice/set", repo_type="dataset")
c = api.create_collection("Favourite models: v1!", description="what we build on")
print("slug", c.slug, c.url.endswith("/collections/" + c.slug), c.position, c.owner["name"], c.private)
print("again", api.create_collection("Favourite models: v1!", exists_ok=True).slug == c.slug)
print("conflict", status(lambda: api.create_collection("Favourite models: v1!")))
inner = api.create_collection("Internal", namespace="acme", private=True)
print("inner", inner.slug.startswith("acme/internal-"), inner.private)
api.add_collection_item(c.slug, "alice/m", "model", note="the base")
api.add_collection_item(c.slug, "alice/set", "dataset")
api.add_collection_item(c.slug, "alice/secret", "model")
api.add_collection_item(c.slug, "2311.12983", "paper")
api.add_collection_item(c.slug, inner.slug, "collection")
print("dup", status(lambda: api.add_collection_item(c.slug, "alice/m", "model")))
print("dup ok", len(api.add_collection_item(c.slug, "alice/m", "model", exists_ok=True).items))
print("missing repo", status(lambda: api.add_collection_item(c.slug, "alice/nope", "model")))
print("bad paper", status(lambda: api.add_collection_item(c.slug, "not-a-paper", "paper")))
full = api.get_collection(c.slug)
print("items", [(i.item_type, i.item_id, i.position, i.note) for i in full.items])
paper = [i for i in full.items if i.item_type == "paper"][0]
api.update_collection_item(c.slug, paper.item_object_id, position=0, note="read first")
data = [i for i in api.get_collection(c.slug).items if i.item_type == "dataset"][0]
api.delete_collection_item(c.slug, data.item_object_id)
api.delete_collection_item(c.slug, data.item_object_id, missing_ok=True)
print("after", [(i.item_type, i.item_id, i.position, i.note) for i in api.get_collection(c.slug).items])
# What others see: no private repo, no private collection, and no way to change it.
print("bob sees", [i.item_id for i in bob.get_collection(c.slug).items])
print("bob adds", status(lambda: bob.add_collection_item(c.slug, "alice/set", "dataset")))
print("bob reads inner", status(lambda: bob.get_collection(inner.slug)), status(lambda: anon.get_collection(inner.slug)))
print("no such", status(lambda: anon.get_collection("alice/x-0123456789abcdef01234567")))
print("bob lists acme", [x.slug for x in bob.list_collections(owner="acme")])
print("alice lists acme", [x.slug for x in api.list_collections(owner="acme")] == [inner.slug])
print("by item", [x.slug for x in anon.list_collections(item="models/alice/m")] == [c.slug])
print("by private item", [x.slug for x in anon.list_collections(item="models/alice/secret")])
listed = [x for x in api.list_collections(owner="alice")][0]
print("listed", listed.slug == c.slug, len(listed.items))
# A new title makes a new slug; the old one still works.
new = api.update_collection_metadata(c.slug, title="Renamed", theme="green", private=True)
print("renamed", new.slug.startswith("alice/renamed-"), new.slug.split("-")[-1] == c.slug.split("-")[-1], new.theme, new.private)
print("old slug", api.get_collection(c.slug).title, status(lambda: bob.get_collection(new.slug)))
print("bad theme", status(lambda: api.update_collection_metadata(new.slug, theme="plaid")))
hf = os.path.join(os.path.dirname(sys.executable), "hf")
cli = subprocess.run([hf, "collections", "info", new.slug, "--json"], capture_output=True, text=True)
print("cli", cli.returncode, json.loads(cli.stdout)["title"] if cli.returncode == 0 else cli.stderr)
print("slug for pages", new.slug)
"#
    );
    let out = hub_script(&s, Some(&token), &script);
    let slug = out
        .lines()
        .find_map(|l| l.strip_prefix("slug for pages "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    for want in [
        "True 0 alice False",
        "again True",
        "conflict 409",
        "inner True True",
        "dup 409",
        "dup ok 5",
        "missing repo 404",
        "bad paper 400",
        "items [('model', 'alice/m', 0, 'the base'), ('dataset', 'alice/set', 1, None), ('model', 'alice/secret', 2, None), ('paper', '2311.12983', 3, None), ('collection', '",
        "after [('paper', '2311.12983', 0, 'read first'), ('model', 'alice/m', 1, 'the base'), ('model', 'alice/secret', 2, None), ('collection', '",
        "bob sees ['2311.12983', 'alice/m']",
        "bob adds 403",
        "bob reads inner 404 404",
        "no such 404",
        "bob lists acme []",
        "alice lists acme True",
        "by item True",
        "by private item []",
        "listed True 4",
        "renamed True True green True",
        "old slug Renamed 404",
        "bad theme 400",
        "cli 0 Renamed",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(out.contains("slug alice/favourite-models-v1-"), "{out}");

    // The pages: the collection's own, and the owner's page listing it; private items and
    // private collections only for those who may read them.
    let page = |path: &str, token: Option<&str>| {
        let cookie = token.map(|t| format!("mh_token={t}"));
        let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
        raw(&s.addr, &request("GET", path, &headers, b""))
    };
    let own = page(&format!("/collections/{slug}"), Some(&token));
    assert_eq!(own.status, 200);
    let html = own.text();
    for want in [
        "Renamed",
        "alice/m",
        "the base",
        "alice/secret",
        "Internal",
        "arxiv.org/abs/2311.12983",
    ] {
        assert!(html.contains(want), "missing {want} on the page:\n{html}");
    }
    assert_eq!(
        page(&format!("/collections/{slug}"), Some(&bob)).status,
        404
    );
    assert_eq!(page(&format!("/collections/{slug}"), None).status, 404);
    let alice_page = page("/alice", Some(&token)).text();
    assert!(
        alice_page.contains(&format!("/collections/{slug}")),
        "{alice_page}"
    );
    assert!(!page("/alice", None).text().contains("Renamed"));
    let acme = page("/collections/acme", Some(&token)).text();
    assert!(acme.contains("Internal"), "{acme}");
    assert!(!page("/collections/acme", Some(&bob))
        .text()
        .contains("Internal"));
}
