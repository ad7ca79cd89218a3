//! Table tests: every fixture repo under fixtures/repos gives exactly the findings listed in
//! fixtures/expected.toml; plus the rules whose inputs are too big to commit, and hostile input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hub_types::RepoType;
use repo_rules::{check, ChangedFile, Context, LfsState, Policy, Severities};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A repo as a first push: every file is changed.
struct Repo {
    files: Vec<ChangedFile>,
    lfs: Option<BTreeMap<String, u64>>,
    repo_type: RepoType,
}

impl Context for Repo {
    fn repo_type(&self) -> RepoType {
        self.repo_type
    }
    fn exists(&self, path: &str) -> bool {
        self.files.iter().any(|f| f.path == path)
    }
    fn lfs_object(&self, oid: &str) -> Option<LfsState> {
        let lfs = self.lfs.as_ref()?;
        Some(
            lfs.get(oid)
                .map_or(LfsState::Missing, |s| LfsState::Present(*s)),
        )
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.content.clone())
    }
    fn lfs_read(&self, _: &str, _: u64, _: u64) -> Option<Vec<u8>> {
        None
    }
}

fn load(dir: &Path) -> Vec<ChangedFile> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let content = std::fs::read(e.path()).unwrap();
            ChangedFile {
                path: e
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
                size: content.len() as u64,
                content,
            }
        })
        .collect()
}

fn run(files: Vec<ChangedFile>, lfs: Option<BTreeMap<String, u64>>) -> Vec<repo_rules::Finding> {
    let repo = Repo {
        files,
        lfs,
        repo_type: RepoType::Model,
    };
    check(&repo.files, &repo, &Severities::default())
}

#[test]
fn every_fixture_gives_its_expected_findings() {
    let expected: toml::Table =
        toml::from_str(&std::fs::read_to_string(fixtures().join("expected.toml")).unwrap())
            .unwrap();
    let messages = expected["messages"].as_table().unwrap();
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(fixtures().join("repos")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        seen.insert(name.clone());
        let want: Vec<String> = expected
            .get(&name)
            .unwrap_or_else(|| panic!("fixtures/expected.toml has no entry for {name}"))
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let findings = run(load(&dir), None);
        let got: Vec<String> = findings
            .iter()
            .map(|f| format!("{} {} {}", f.severity, f.rule, f.path))
            .collect();
        assert_eq!(got, want, "{name}: {findings:#?}");
        if let Some(m) = messages.get(&name) {
            let m = m.as_str().unwrap();
            assert!(
                findings.iter().any(|f| f.message.contains(m)),
                "{name}: no message with {m:?} in {findings:#?}"
            );
        }
        assert!(
            findings.iter().all(|f| !f.hint.is_empty()),
            "{name}: a finding without a hint"
        );
    }
    for key in expected.keys().filter(|k| *k != "messages") {
        assert!(
            seen.contains(key),
            "expected.toml names {key}, which has no folder"
        );
    }
}

#[test]
fn large_and_binary_files_outside_lfs() {
    let file = |path: &str, content: Vec<u8>| ChangedFile {
        path: path.into(),
        size: content.len() as u64,
        content,
    };
    let mut card = load(&fixtures().join("repos/good-other-license"));
    card.push(file("big.txt", vec![b'a'; (10 << 20) + 1]));
    card.push(file("blob.dat", vec![0u8; (1 << 20) + 1]));
    card.push(file("small.dat", vec![0u8; 1000]));
    card.push(file("notes.txt", vec![b'a'; 5 << 20]));
    let got: Vec<(&str, String)> = run(card, None)
        .iter()
        .map(|f| (f.rule, f.path.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("large-file", "big.txt".into()),
            ("binary-file", "blob.dat".into())
        ]
    );
}

#[test]
fn lfs_objects_must_be_in_this_repos_store_at_the_pointers_size() {
    let files = load(&fixtures().join("repos/good-model"));
    let oid = "288045e974f02f65f38de5a24c768a6520fb5b8988b732e4ceb26f808b70e5e6".to_owned();
    assert!(run(files.clone(), Some([(oid.clone(), 712)].into())).is_empty());
    let missing = run(files.clone(), Some(BTreeMap::new()));
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].rule, "lfs-missing");
    assert!(missing[0].message.contains(&oid));
    let wrong_size = run(files, Some([(oid, 5)].into()));
    assert_eq!(wrong_size[0].rule, "lfs-missing");
}

#[test]
fn hostile_input_gives_findings_not_crashes() {
    let card = |text: Vec<u8>| {
        let f = ChangedFile {
            path: "README.md".into(),
            size: text.len() as u64,
            content: text,
        };
        run(vec![f], None)
    };
    // A billion-laughs alias bomb.
    let mut bomb = String::from(
        "---\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (name, p) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        bomb.push_str(&format!(
            "{name}: &{name} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        ));
    }
    bomb.push_str("---\n");
    let t = std::time::Instant::now();
    let f = card(bomb.into_bytes());
    assert!(f.iter().any(|f| f.rule == "card-yaml"), "{f:#?}");
    assert!(t.elapsed().as_secs() < 10);
    // 5 MB of front matter.
    let mut big = String::from("---\n");
    while big.len() < 5_000_000 {
        big.push_str("key_with_some_length: a value that fills the front matter up\n");
    }
    big.push_str("---\n");
    let f = card(big.into_bytes());
    assert!(
        f.iter()
            .any(|f| f.rule == "card-yaml" && f.message.contains("at most")),
        "{f:#?}"
    );
    // Deep nesting in YAML and in JSON.
    let deep_yaml = format!(
        "---\na: {}1{}\n---\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(card(deep_yaml.into_bytes())
        .iter()
        .any(|f| f.rule == "card-yaml"));
    let deep_json = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let f = run(
        vec![ChangedFile {
            path: "config.json".into(),
            size: deep_json.len() as u64,
            content: deep_json,
        }],
        None,
    );
    assert!(f.iter().any(|f| f.rule == "json-invalid"), "{f:#?}");
    // Invalid UTF-8, and a README with no closing ---.
    assert!(card(b"---\nlicense: \xff\xfe\n---\n".to_vec())
        .iter()
        .any(|f| f.rule == "card-yaml"));
    assert!(card(b"---\nlicense: mit\n".to_vec())
        .iter()
        .any(|f| f.rule == "card-yaml"));
}

#[test]
fn policy_changes_severities() {
    let policy = Policy::parse("[rules]\ncard-license-missing = \"error\"\n[namespaces.acme.rules]\ncard-license-missing = \"off\"\n").unwrap();
    let files = load(&fixtures().join("repos/warn-no-license"));
    let repo = Repo {
        files,
        lfs: None,
        repo_type: RepoType::Model,
    };
    let bob = check(&repo.files, &repo, &policy.for_repo(Some("bob/m")));
    assert_eq!(bob[0].severity, repo_rules::Severity::Error);
    assert!(check(&repo.files, &repo, &policy.for_repo(Some("acme/m"))).is_empty());
}
