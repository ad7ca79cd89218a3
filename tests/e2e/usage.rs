//! What repos and namespaces store: `usedStorage` in `model_info(expand=["usedStorage"])` and
//! `modelhub usage`, after uploads through huggingface_hub.

use std::path::Path;

use crate::harness::*;
use crate::hub_api::hub_script;

/// Bytes of the files under `dir`, as `du --apparent-size -b` counts them.
fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                bytes_under(&e.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[test]
fn used_storage_and_usage_count_an_object_once_per_namespace() {
    let (s, token) = Server::with_alice();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("shared.bin"), noise(3 << 20, 8)).unwrap();
    std::fs::write(src.path().join("own.bin"), noise(1 << 20, 9)).unwrap();
    let script = format!(
        r#"
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("alice/n")
api.upload_file(path_or_fileobj="{d}/shared.bin", path_in_repo="w.bin", repo_id="alice/m")
api.upload_file(path_or_fileobj="{d}/shared.bin", path_in_repo="w.bin", repo_id="alice/n")
api.upload_file(path_or_fileobj="{d}/own.bin", path_in_repo="own.bin", repo_id="alice/n")
print("m", api.model_info("alice/m", expand=["usedStorage"]).used_storage)
print("n", api.model_info("alice/n", expand=["usedStorage"]).used_storage)
print("plain", api.model_info("alice/m").used_storage)
"#,
        d = src.path().display()
    );
    let out = hub_script(&s, Some(&token), &script);
    let value = |name: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {out}"))
            .to_owned()
    };
    let git_m = bytes_under(&s.bare_repo("models/alice/m.git"));
    let git_n = bytes_under(&s.bare_repo("models/alice/n.git"));
    // Each repo: its LFS objects plus its git data.
    assert_eq!(value("m"), (git_m + (3 << 20)).to_string());
    assert_eq!(value("n"), (git_n + (4 << 20)).to_string());
    // Reckoned only when asked for, as the Hub does.
    assert_eq!(value("plain"), "None");

    // The namespace counts the object both repos hold once.
    let listed = s.cli_ok(&["usage"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines[0], "namespace\ttotal\tlfs\tgit\trepos");
    let alice = lines
        .iter()
        .find(|l| l.starts_with("alice\t"))
        .unwrap_or_else(|| panic!("{listed}"));
    let (lfs, git) = (4u64 << 20, git_m + git_n);
    assert_eq!(*alice, format!("alice\t{}\t{lfs}\t{git}\t2", lfs + git));
}
