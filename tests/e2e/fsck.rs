//! `modelhub fsck` over what real clients stored (git-lfs, and huggingface_hub through Xet):
//! clean, then with a byte flipped in an LFS object and in a xorb, each problem named with
//! the repo and the files it affects, and a non-zero exit.

use std::process::{Command, Output};

use crate::harness::*;
use crate::hub_api::hub_script_xet;
use crate::lfs::lfs_work;

/// `modelhub fsck ARGS` on the server's data dir, database and store.
pub(crate) fn fsck(s: &Server, args: &[&str]) -> Output {
    let (store_args, store_env) = s.storage.args();
    Command::new(env!("CARGO_BIN_EXE_modelhub"))
        .arg("fsck")
        .args(store_args)
        .args(args)
        .env("MODELHUB_DATA_DIR", s.data_dir())
        .envs(s.database.as_deref().map(|d| ("MODELHUB_DATABASE", d)))
        .envs(store_env)
        .output()
        .unwrap()
}

/// Flips one bit of the byte in the middle of the object stored under `key`.
fn flip(s: &Server, key: &str) {
    let mut bytes = s.read_stored(key);
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    s.write_stored(key, &bytes);
}

/// The content-store key of an LFS object stored whole.
fn object_key(oid: &str) -> String {
    format!("lfs/objects/{}/{}/{oid}", &oid[..2], &oid[2..4])
}

#[test]
fn fsck_names_what_a_flipped_byte_in_an_object_or_a_xorb_affects() {
    let (s, token) = Server::with_alice();
    // A weight file pushed with git-lfs (stored whole)...
    let whole = noise(200_000, 3);
    let w = lfs_work(&s, &token);
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "c"]);
    w.commit("c", &[("weights/whole.bin", &whole)], "weights");
    w.git_ok("c", &["push", "-q", "origin", "main"]);
    // ...and one that huggingface_hub uploads through Xet.
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("x.bin"), noise(300_000, 4)).unwrap();
    let script = format!(
        r#"
from huggingface_hub import HfApi
HfApi().upload_file(path_or_fileobj="{x}", path_in_repo="xet/x.bin", repo_id="alice/m")
"#,
        x = src.path().join("x.bin").display()
    );
    hub_script_xet(&s, Some(&token), &script);

    let out = fsck(&s, &[]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}\n{}", stderr(&out));
    assert!(
        said.contains("1 Xet file records, 2 linked objects and 1 repos checked: 0 problems"),
        "{said}"
    );
    let out = fsck(&s, &["--sample", "0"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a percentage"),
        "{}",
        stderr(&out)
    );

    let oid = sha256_hex(&whole);
    flip(&s, &object_key(&oid));
    let xorbs = s.stored("xet/xorbs/");
    assert_eq!(xorbs.len(), 1, "{xorbs:?}");
    let xorb = xorbs[0].0.clone();
    flip(&s, &format!("xet/xorbs/{}/{xorb}", &xorb[..2]));

    let out = fsck(&s, &[]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{said}");
    let lines: Vec<&str> = said.lines().collect();
    let after = |first: &str| {
        let at = lines
            .iter()
            .position(|l| l.starts_with(first))
            .unwrap_or_else(|| panic!("no {first:?} in:\n{said}"));
        lines[at + 1].to_owned()
    };
    assert_eq!(
        after(&format!("LFS object {oid} is corrupt")),
        "  affects alice/m: refs/heads/main:weights/whole.bin"
    );
    assert_eq!(
        after(&format!("xorb {xorb} is damaged")),
        "  affects alice/m: refs/heads/main:xet/x.bin"
    );
    assert!(stderr(&out).contains(": 2 problems"), "{}", stderr(&out));
}

#[test]
fn fsck_repair_removes_only_what_no_repo_needs() {
    let (s, token) = Server::with_alice();
    for r in ["alice/gone", "alice/x"] {
        s.repo(r, false);
    }
    let (keep, gone) = (noise(200_000, 51), noise(210_000, 52));
    let w = lfs_work(&s, &token);
    for (repo, name, bytes) in [("alice/m", "keep", &keep), ("alice/gone", "gone", &gone)] {
        w.git_ok(".", &["clone", "-q", &s.git_url(repo, None), name]);
        w.commit(name, &[(&format!("weights/{name}.bin"), bytes)], name);
        w.git_ok(name, &["push", "-q", "origin", "main"]);
    }
    crate::hub_api::hub_script(
        &s,
        Some(&token),
        "from huggingface_hub import HfApi\nHfApi().delete_repo('alice/gone')\n",
    );
    flip(&s, &object_key(&sha256_hex(&keep)));
    flip(&s, &object_key(&sha256_hex(&gone)));
    let whole = |b: &[u8]| {
        s.stored("lfs/objects/")
            .iter()
            .any(|(name, _)| *name == sha256_hex(b))
    };

    // What no repo reaches goes; what alice/m reaches stays, reported.
    let out = fsck(&s, &["--repair", "--grace", "0"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "repaired: deleted the corrupt LFS object {}: no repo reaches it",
            sha256_hex(&gone)
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!("LFS object {} is corrupt", sha256_hex(&keep))),
        "{said}"
    );
    assert!(
        stderr(&out).contains(": 1 problem left, 1 repaired"),
        "{}",
        stderr(&out)
    );
    assert!(!whole(&gone));
    assert!(whole(&keep));

    // Once the same bytes are stored as a Xet file (uploaded to another repo through hf_xet),
    // the corrupt whole copy is redundant, and goes; alice/m reads back whole.
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("keep.bin"), &keep).unwrap();
    hub_script_xet(
        &s,
        Some(&token),
        &format!(
            "from huggingface_hub import HfApi\nHfApi().upload_file(path_or_fileobj=\"{}\", path_in_repo=\"keep.bin\", repo_id=\"alice/x\")\n",
            src.path().join("keep.bin").display()
        ),
    );
    let out = fsck(&s, &["--repair", "--grace", "0"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}\n{}", stderr(&out));
    assert!(
        said.contains(&format!(
            "repaired: deleted the corrupt whole copy of LFS object {}; its intact Xet file serves it",
            sha256_hex(&keep)
        )),
        "{said}"
    );
    w.git_ok(".", &["clone", "-q", &s.git_url("alice/m", None), "again"]);
    assert!(std::fs::read(w.path("again/weights/keep.bin")).unwrap() == keep);
    let out = fsck(&s, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}
