//! The model tree: `base_model` and `base_model_relation` read from each card (the relation
//! inferred as the Hub does when absent), `model_info(expand=["baseModels",
//! "childrenModelCount"])`, the listings' `base_model:` filters, the model page's tree, and
//! the validator's warning for a base that is not on this hub.

use crate::harness::*;
use crate::hub_api::hub_script;

#[test]
fn a_base_model_with_fine_tunes_an_adapter_and_a_quantization() {
    let (s, token) = Server::with_alice();
    let gguf = fixtures().join("weights/good.gguf").display().to_string();
    let script = r#"
from huggingface_hub import HfApi, CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
api.create_repo("alice/base")
api.create_repo("alice/secret-child", private=True)
def card(extra):
    return ("---\nlicense: mit\n" + extra + "---\n# model\n").encode()
for repo, files in [
    ("alice/base", {"README.md": card("")}),
    ("alice/ft1", {"README.md": card("base_model: alice/base\n")}),
    ("alice/ft2", {"README.md": card("base_model:\n- alice/base\nbase_model_relation: finetune\n")}),
    ("alice/lora", {"README.md": card("base_model: alice/base\n"), "adapter_config.json": b'{"peft_type": "LORA"}'}),
    ("alice/q4", {"README.md": card("base_model: alice/base\n"), "model.gguf": "GGUF_PATH"}),
    ("alice/secret-child", {"README.md": card("base_model: alice/base\n")}),
]:
    if repo not in ("alice/base", "alice/secret-child"):
        api.create_repo(repo)
    ops = [CommitOperationAdd(p, c) for p, c in files.items()]
    try:
        api.create_commit(repo, operations=ops, commit_message="card")
    except HfHubHTTPError as e:
        print("refused", repo, str(e).replace("\n", " | "))
i = api.model_info("alice/lora", expand=["baseModels"])
print("lora", i.base_models)
print("q4", api.model_info("alice/q4", expand=["baseModels"]).base_models["relation"])
anon = HfApi(token=False)
print("children anon", anon.model_info("alice/base", expand=["childrenModelCount"]).children_model_count)
print("children alice", api.model_info("alice/base", expand=["childrenModelCount"]).children_model_count)
print("finetunes", sorted(m.id for m in anon.list_models(filter="base_model:finetune:alice/base")))
print("all", sorted(m.id for m in anon.list_models(filter="base_model:alice/base")))
print("adapters", [m.id for m in anon.list_models(filter="base_model:adapter:alice/base")])
"#;
    let out = hub_script(&s, Some(&token), &script.replace("GGUF_PATH", &gguf));
    for want in [
        "lora {'models': [{'id': 'alice/base'}], 'relation': 'adapter'}",
        "q4 quantized",
        "children anon 4",
        "children alice 5",
        "finetunes ['alice/ft1', 'alice/ft2']",
        "all ['alice/ft1', 'alice/ft2', 'alice/lora', 'alice/q4']",
        "adapters ['alice/lora']",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains("refused"), "{out}");

    // The page shows the tree to a visitor: its own children, counted per relation.
    let page = raw(&s.addr, &request("GET", "/alice/base", &[], b"")).text();
    for want in [
        "href=\"/models?tag=base_model:finetune:alice/base\">2 finetunes</a>",
        "href=\"/models?tag=base_model:adapter:alice/base\">1 adapter</a>",
        "href=\"/models?tag=base_model:quantized:alice/base\">1 quantization</a>",
    ] {
        assert!(page.contains(want), "missing {want} in the page");
    }
    let child = raw(&s.addr, &request("GET", "/alice/lora", &[], b"")).text();
    assert!(child.contains("Base model (adapter)"), "{child}");

    // A base that is not here is a warning, not an error; a private one is "not here" to
    // whoever may not see it.
    s.user("bob");
    let bob = s.token("bob", "write");
    s.repo("bob/m", false);
    let w = Work::new();
    w.git_ok(".", &["clone", "-q", &s.git_url("bob/m", Some(&bob)), "a"]);
    for (base, warned) in [
        ("meta-llama/Llama-3.1-8B", true),
        ("alice/secret-child", true),
        ("alice/base", false),
    ] {
        w.write(
            "a/README.md",
            format!("---\nlicense: mit\nbase_model: {base}\n---\n# m\n").as_bytes(),
        );
        w.git_ok("a", &["add", "-A"]);
        w.git_ok("a", &["commit", "-q", "-m", base]);
        let out = w.git("a", &["push", "origin", "main"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stderr(&out).contains("[card-base-model-unknown]"),
            warned,
            "{base}: {}",
            stderr(&out)
        );
    }
}

/// The facts a list filters by: parameter ranges (`num_parameters`) and training datasets
/// (`dataset:`), through the API and on the models page.
#[test]
fn listings_filter_by_parameters_and_datasets() {
    let (s, token) = Server::with_alice();
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
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
api.create_repo("alice/small")
api.create_repo("alice/data", repo_type="dataset")
api.create_commit("alice/small", operations=[CommitOperationAdd("README.md", b"---\nlicense: mit\ndatasets: [glue, alice/data]\n---\n# s\n"), CommitOperationAdd("model.safetensors", "{weights}"), CommitOperationAdd("config.json", "{config}")], commit_message="weights")
ids = lambda **kw: sorted(m.id for m in HfApi(token=False).list_models(author="alice", **kw))
print("50-100", ids(num_parameters="min:50,max:100"))
print("over 1K", ids(num_parameters="min:1K"))
print("under 96", ids(num_parameters="max:95"))
print("glue", ids(filter="dataset:glue"))
try:
    ids(num_parameters="lots")
    print("bad range taken")
except HfHubHTTPError as e:
    print("bad range", e.response.status_code)
"#
    );
    let out = hub_script(&s, Some(&token), &script);
    for want in [
        "50-100 ['alice/small']",
        "over 1K []",
        "under 96 []",
        "glue ['alice/small']",
        "bad range 400",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let page = raw(
        &s.addr,
        &request(
            "GET",
            "/models?num_parameters=min:50&dataset=glue",
            &[],
            b"",
        ),
    )
    .text();
    assert!(page.contains("alice/small"), "{page}");
    let none = raw(
        &s.addr,
        &request("GET", "/models?num_parameters=min:1B", &[], b""),
    )
    .text();
    assert!(!none.contains("alice/small"));
    // The model page links the training datasets that are dataset repos here.
    let model = raw(&s.addr, &request("GET", "/alice/small", &[], b"")).text();
    assert!(model.contains("href=\"/datasets/alice/data\""), "{model}");
    assert!(
        !model.contains("href=\"/datasets/glue\"") && model.contains("<span>glue</span>"),
        "{model}"
    );
}
