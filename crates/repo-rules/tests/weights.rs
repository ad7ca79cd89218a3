//! Table tests of the weights rules over fixtures/weights (made by fixtures/make-weights.py):
//! each file is pushed as an LFS pointer, and the rules read the object through ranged reads
//! that this test counts.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;

use hub_types::RepoType;
use repo_rules::{check_all, ChangedFile, Context, LfsState, Outcome, Severities};

struct Store {
    /// Repo path -> object bytes (pushed as a pointer).
    objects: HashMap<String, Vec<u8>>,
    /// Plain files (config.json, indexes).
    plain: HashMap<String, Vec<u8>>,
    read: Cell<u64>,
    /// The push's inflation budget, when the test gives one.
    inflation: Option<Cell<u64>>,
}

fn oid(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

fn pointer(data: &[u8]) -> Vec<u8> {
    format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n",
        oid(data),
        data.len()
    )
    .into_bytes()
}

impl Context for Store {
    fn repo_type(&self) -> RepoType {
        RepoType::Model
    }
    fn exists(&self, path: &str) -> bool {
        self.objects.contains_key(path) || self.plain.contains_key(path) || path == "README.md"
    }
    fn lfs_object(&self, o: &str) -> Option<LfsState> {
        let size = self
            .objects
            .values()
            .find(|d| oid(d) == o)
            .map(|d| d.len() as u64);
        Some(size.map_or(LfsState::Missing, LfsState::Present))
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.plain
            .get(path)
            .cloned()
            .or_else(|| self.objects.get(path).map(|d| pointer(d)))
    }
    fn lfs_read(&self, o: &str, offset: u64, len: u64) -> Option<Vec<u8>> {
        let d = self.objects.values().find(|d| oid(d) == o)?;
        let end = (offset + len).min(d.len() as u64) as usize;
        self.read
            .set(self.read.get() + (end as u64 - offset.min(end as u64)));
        Some(d.get(offset as usize..end)?.to_vec())
    }
    fn inflation_left(&self) -> Option<&Cell<u64>> {
        self.inflation.as_ref()
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/weights")
            .join(name),
    )
    .unwrap()
}

/// Pushes `weights` (repo path, fixture name) as LFS files and `plain` as regular files.
fn push(weights: &[(&str, &str)], plain: &[(&str, &str)]) -> (Outcome, u64) {
    let (out, read, _) = push_inflating(weights, plain, None);
    (out, read)
}

/// As [`push`], with a push-wide inflation budget; also returns what is left of it.
fn push_inflating(
    weights: &[(&str, &str)],
    plain: &[(&str, &str)],
    budget: Option<u64>,
) -> (Outcome, u64, Option<u64>) {
    let objects: HashMap<String, Vec<u8>> = weights
        .iter()
        .map(|(p, f)| (p.to_string(), fixture(f)))
        .collect();
    let plain: HashMap<String, Vec<u8>> = plain
        .iter()
        .map(|(p, f)| (p.to_string(), fixture(f)))
        .collect();
    let mut changed: Vec<ChangedFile> = objects
        .iter()
        .map(|(p, d)| {
            let content = pointer(d);
            ChangedFile {
                path: p.clone(),
                size: content.len() as u64,
                content,
            }
        })
        .collect();
    changed.extend(plain.iter().map(|(p, d)| ChangedFile {
        path: p.clone(),
        size: d.len() as u64,
        content: d.clone(),
    }));
    let store = Store {
        objects,
        plain,
        read: Cell::new(0),
        inflation: budget.map(Cell::new),
    };
    let out = check_all(&changed, &store, &Severities::default());
    (out, store.read.get(), store.inflation.map(Cell::into_inner))
}

fn rules(o: &Outcome) -> Vec<String> {
    o.findings
        .iter()
        .filter(|f| f.rule != "card-missing")
        .map(|f| format!("{} {}", f.severity, f.rule))
        .collect()
}

fn messages(o: &Outcome) -> String {
    o.findings
        .iter()
        .map(|f| f.message.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn safetensors_headers() {
    let (good, _) = push(&[("model.safetensors", "good.safetensors")], &[]);
    assert!(rules(&good).is_empty(), "{:?}", good.findings);
    let w = &good.weights[0];
    assert_eq!((w.format, w.total), ("safetensors", 96));
    assert_eq!(w.parameters.get("F32"), Some(&80));
    assert_eq!(w.parameters.get("BF16"), Some(&16));
    for (file, says) in [
        (
            "truncated.safetensors",
            "so the file should be 712 bytes, but it is 702",
        ),
        ("overlap.safetensors", "invalid header"),
        ("wrong-length.safetensors", "invalid header"),
        ("header-over-cap.safetensors", "over the 100000000-byte cap"),
        ("duplicate-names.safetensors", "appears twice"),
        ("unknown-dtype.safetensors", "Q4X1"),
    ] {
        let (o, _) = push(&[("model.safetensors", file)], &[]);
        assert_eq!(
            rules(&o),
            ["error safetensors-invalid"],
            "{file}: {:?}",
            o.findings
        );
        assert!(messages(&o).contains(says), "{file}: {}", messages(&o));
        assert!(o.weights.is_empty());
    }
}

#[test]
fn a_1_gib_safetensors_file_is_validated_from_its_header_alone() {
    // One U8 tensor of 1 GiB: the header is all the rules may read.
    let header = format!(
        "{{\"w\":{{\"dtype\":\"U8\",\"shape\":[{}],\"data_offsets\":[0,{}]}}}}",
        1u64 << 30,
        1u64 << 30
    );
    let mut head = (header.len() as u64).to_le_bytes().to_vec();
    head.extend_from_slice(header.as_bytes());
    let size = head.len() as u64 + (1 << 30);
    let o = "1".repeat(64);
    struct Big {
        head: Vec<u8>,
        size: u64,
        oid: String,
        read: Cell<u64>,
    }
    impl Context for Big {
        fn repo_type(&self) -> RepoType {
            RepoType::Model
        }
        fn exists(&self, _: &str) -> bool {
            true
        }
        fn lfs_object(&self, _: &str) -> Option<LfsState> {
            Some(LfsState::Present(self.size))
        }
        fn read(&self, _: &str) -> Option<Vec<u8>> {
            None
        }
        fn lfs_read(&self, o: &str, offset: u64, len: u64) -> Option<Vec<u8>> {
            assert_eq!(o, self.oid);
            assert!(
                offset + len <= self.head.len() as u64,
                "read past the header: {offset}+{len}"
            );
            self.read.set(self.read.get() + len);
            Some(self.head[offset as usize..(offset + len) as usize].to_vec())
        }
    }
    let ctx = Big {
        head: head.clone(),
        size,
        oid: o.clone(),
        read: Cell::new(0),
    };
    let content =
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{o}\nsize {size}\n")
            .into_bytes();
    let changed = [ChangedFile {
        path: "model.safetensors".into(),
        size: content.len() as u64,
        content,
    }];
    let out = check_all(&changed, &ctx, &Severities::default());
    assert!(
        out.findings.iter().all(|f| f.rule == "card-missing"),
        "{:?}",
        out.findings
    );
    assert_eq!(out.weights[0].total, 1 << 30);
    assert_eq!(
        ctx.read.get(),
        head.len() as u64,
        "bytes read from the store"
    );
}

#[test]
fn shard_indexes() {
    let shards = [
        (
            "model-00001-of-00002.safetensors",
            "model-00001-of-00002.safetensors",
        ),
        (
            "model-00002-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
        ),
    ];
    let (ok, _) = push(
        &shards,
        &[(
            "model.safetensors.index.json",
            "model.safetensors.index.json",
        )],
    );
    assert!(rules(&ok).is_empty(), "{:?}", ok.findings);
    assert_eq!(ok.weights.len(), 2);
    let (bad, _) = push(
        &shards,
        &[("model.safetensors.index.json", "bad.safetensors.index.json")],
    );
    assert_eq!(
        rules(&bad),
        ["error shard-index", "error shard-index"],
        "{:?}",
        bad.findings
    );
    let m = messages(&bad);
    assert!(m.contains("weight_map puts \"model.norm.weight\" in model-00002-of-00002.safetensors, but that shard has no such tensor"), "{m}");
    assert!(
        m.contains("metadata.total_size is 353, but the shards' tensors hold 352 bytes"),
        "{m}"
    );
    // A shard outside the repo, by path tricks, and a missing shard.
    let evil = br#"{"metadata":{"total_size":1},"weight_map":{"a":"../../etc/passwd"}}"#;
    let missing =
        br#"{"metadata":{"total_size":1},"weight_map":{"a":"model-00009-of-00009.safetensors"}}"#;
    for (index, says) in [
        (&evil[..], "may not contain '..'"),
        (&missing[..], "is not in the repo"),
    ] {
        let f = ChangedFile {
            path: "model.safetensors.index.json".into(),
            size: index.len() as u64,
            content: index.to_vec(),
        };
        let store = Store {
            objects: HashMap::new(),
            plain: HashMap::new(),
            read: Cell::new(0),
            inflation: None,
        };
        let o = check_all(&[f], &store, &Severities::default());
        assert!(messages(&o).contains(says), "{}", messages(&o));
    }
}

#[test]
fn pickles_and_checkpoints() {
    for clean in ["benign.pkl", "benign.pt"] {
        let (o, _) = push(&[(&format!("weights/{clean}"), clean)], &[]);
        assert!(rules(&o).is_empty(), "{clean}: {:?}", o.findings);
    }
    for (file, at) in [
        ("malicious.pkl", "malicious.pkl"),
        ("malicious.bin", "pytorch_model.bin:archive/data.pkl"),
    ] {
        let path = if file.ends_with(".bin") {
            "pytorch_model.bin"
        } else {
            file
        };
        let (o, _) = push(&[(path, file)], &[]);
        assert_eq!(
            rules(&o),
            ["error pickle-blocked"],
            "{file}: {:?}",
            o.findings
        );
        assert!(
            messages(&o).contains(&format!("{at} imports posix.system when unpickled")),
            "{}",
            messages(&o)
        );
    }
    let (o, _) = push(&[("x.pkl", "unknown-import.pkl")], &[]);
    assert_eq!(rules(&o), ["warning pickle-unknown"]);
    assert!(messages(&o).contains("collections.Counter"));
}

#[test]
fn gguf_headers() {
    let (o, _) = push(&[("model.gguf", "good.gguf")], &[]);
    assert!(rules(&o).is_empty(), "{:?}", o.findings);
    let w = &o.weights[0];
    assert_eq!(
        (w.format, w.architecture.as_deref(), w.total),
        ("gguf", Some("llama"), 32 + 16 + 4)
    );
    assert_eq!(w.quantization.as_deref(), Some("Q4_K"));
    let (o, _) = push(&[("model.gguf", "corrupt.gguf")], &[]);
    assert_eq!(rules(&o), ["error gguf-invalid"]);
}

#[test]
fn config_against_weights() {
    let (o, _) = push(
        &[("model.safetensors", "good.safetensors")],
        &[("config.json", "config-match.json")],
    );
    assert!(rules(&o).is_empty(), "{:?}", o.findings);
    let (o, _) = push(
        &[("model.safetensors", "good.safetensors")],
        &[("config.json", "config-mismatch.json")],
    );
    assert_eq!(
        rules(&o),
        [
            "warning config-weights",
            "warning config-weights",
            "warning config-weights"
        ],
        "{:?}",
        o.findings
    );
    let m = messages(&o);
    assert!(m.contains("config.json says vocab_size 16, but model.safetensors has 8 rows in model.embed_tokens.weight"), "{m}");
    assert!(m.contains("config.json says num_hidden_layers 3, but the weights (model.safetensors) have layers 0 to 1"), "{m}");
    assert!(
        m.contains(
            "sets tie_word_embeddings, but the weights (model.safetensors) have their own lm_head"
        ),
        "{m}"
    );
}

#[test]
fn every_container_that_unpickles_is_looked_into() {
    // fixtures/pickles/containers (fixtures/make-pickles.py): zips in zips, .npy object
    // arrays alone and in .npz, compressed joblib, a pickle under a name no extension list
    // knows, protocol 0 in a .bin, overlapping zip entries, a truncated pickle.
    let expected: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_slice(&fixture("../pickles/containers.json")).unwrap();
    assert!(expected.len() >= 12);
    for (name, want) in &expected {
        let fixture_name = format!("../pickles/containers/{name}");
        let (o, _) = push(&[(name.as_str(), fixture_name.as_str())], &[]);
        assert_eq!(&rules(&o), want, "{name}: {}", messages(&o));
        if want.iter().any(|r| r.ends_with("pickle-blocked")) {
            assert!(
                messages(&o).contains("system when unpickled"),
                "{name}: {}",
                messages(&o)
            );
        }
    }
}

#[test]
fn a_gguf_whose_shapes_overflow_is_refused_not_a_panic() {
    // Found by `bench/fuzz.sh` (gguf target): tensor shapes whose element counts add up past
    // 64 bits panicked the hook (an overflow in debug builds, wrong counts in release).
    let (o, _) = push(&[("model.gguf", "fuzz-gguf-overflow.gguf")], &[]);
    assert_eq!(rules(&o), ["error gguf-invalid"], "{}", messages(&o));
    assert!(
        messages(&o).contains("impossible shape"),
        "{}",
        messages(&o)
    );
}

#[test]
fn a_zip_under_any_name_is_checked_once_its_directory_reads() {
    // torch.load opens any path: a checkpoint named "model.weights" whose entries overlap is
    // refused like one named .pt, not waved through as "some other zip".
    let (o, _) = push(
        &[("model.weights", "../pickles/containers/overlap.pt")],
        &[],
    );
    assert_eq!(rules(&o), ["error pickle-unreadable"], "{}", messages(&o));
    assert!(messages(&o).contains("overlap"), "{}", messages(&o));
    // A zip with a malicious pickle under such a name is blocked too.
    let (o, _) = push(
        &[("model.weights", "../pickles/containers/zip-in-zip.pt")],
        &[],
    );
    assert_eq!(rules(&o), ["error pickle-blocked"], "{}", messages(&o));
}

#[test]
fn inflation_is_budgeted_over_a_whole_push() {
    // A compressed joblib file (this one imports os.system) is inflated whole to be scanned.
    // What one costs:
    let one = [("a.joblib", "../pickles/containers/model-gz.joblib")];
    let (o, _, left) = push_inflating(&one, &[], Some(1 << 30));
    assert_eq!(rules(&o), ["error pickle-blocked"], "{}", messages(&o));
    let cost = (1 << 30) - left.unwrap();
    assert!(cost > 0);
    // With room for one and a half, the second copy in the same push is refused unread,
    // however little each file costs on its own (a push of thousands of refs could otherwise
    // make the hook inflate each one's files again).
    let two = [
        ("a.joblib", "../pickles/containers/model-gz.joblib"),
        ("b.joblib", "../pickles/containers/model-gz.joblib"),
    ];
    let (o, _, _) = push_inflating(&two, &[], Some(cost + cost / 2));
    let mut got = rules(&o);
    got.sort();
    assert_eq!(
        got,
        ["error pickle-blocked", "error pickle-unreadable"],
        "{}",
        messages(&o)
    );
    assert!(messages(&o).contains("MiB per push"), "{}", messages(&o));
    // Without a push budget (a single check), each file has only its own.
    let (o, _, _) = push_inflating(&two, &[], None);
    assert_eq!(
        rules(&o),
        ["error pickle-blocked", "error pickle-blocked"],
        "{}",
        messages(&o)
    );
}
