//! Repo ids, names, ref names, revisions and paths in a repo, as URLs and pushes give them.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = hub_types::RepoId::parse(s) {
        // What parses prints back to something that parses to the same id.
        assert_eq!(hub_types::RepoId::parse(&id.to_string()).ok(), Some(id));
    }
    let _ = hub_types::namespace_name(s);
    let _ = hub_types::pushable_ref(s);
    let _ = hub_types::check_repo_path(s);
    let _ = git_repos::valid_ref_name(s);
    let _ = git_repos::check_revision(s);
});
