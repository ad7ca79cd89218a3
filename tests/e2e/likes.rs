//! Likes with huggingface_hub 2.4.0: like (its endpoint) and `unlike`, `list_repo_likers`,
//! `list_liked_repos`, the `likes` count in `model_info` and listings, `sort=likes`; one like
//! per user per repo; a private repo one cannot read answers as missing.

use crate::harness::*;
use crate::hub_api::hub_script;

#[test]
fn likes_count_once_per_user_sort_listings_and_respect_privacy() {
    let (s, alice) = Server::with_alice();
    s.user("bob");
    let bob = s.token("bob", "write");
    s.repo("alice/second", false);
    s.repo("alice/secret", true);
    let script = format!(
        r#"
from huggingface_hub import HfApi
from huggingface_hub.utils import get_session, build_hf_headers
from huggingface_hub.errors import HfHubHTTPError
alice, bob, anon = HfApi(token="{alice}"), HfApi(token="{bob}"), HfApi(token=False)
def like(token, repo):
    r = get_session().post(f"{{alice.endpoint}}/api/models/{{repo}}/like", headers=build_hf_headers(token=token))
    return r.status_code
print("likes", like("{bob}", "alice/second"), like("{bob}", "alice/second"), like("{alice}", "alice/second"), like("{bob}", "alice/m"), like("{alice}", "alice/secret"))
print("stranger on private", like("{bob}", "alice/secret"), "anonymous", like(False, "alice/m"))
print("count", alice.model_info("alice/second").likes, alice.model_info("alice/m").likes)
print("likers", sorted(u.username for u in alice.list_repo_likers("alice/second")))
print("sorted", [m.id for m in anon.list_models(author="alice", sort="likes")])
print("listed", {{m.id: m.likes for m in anon.list_models(author="alice")}})
print("bob liked", sorted(bob.list_liked_repos("bob").models))
print("alice liked, as bob sees", sorted(bob.list_liked_repos("alice").models), "as alice", sorted(alice.list_liked_repos("alice").models))
bob.unlike("alice/second")
bob.unlike("alice/second")
print("after unlike", alice.model_info("alice/second").likes)
try:
    list(bob.list_repo_likers("alice/secret"))
    print("private likers shown")
except HfHubHTTPError as e:
    print("private likers", e.response.status_code)
"#
    );
    let out = hub_script(&s, None, &script);
    for want in [
        "likes 200 200 200 200 200",
        "stranger on private 404 anonymous 401",
        "count 2 1",
        "likers ['alice', 'bob']",
        "sorted ['alice/second', 'alice/m']",
        "'alice/second': 2",
        "'alice/m': 1",
        "bob liked ['alice/m', 'alice/second']",
        "alice liked, as bob sees ['alice/second'] as alice ['alice/second', 'alice/secret']",
        "after unlike 1",
        "private likers 404",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}
