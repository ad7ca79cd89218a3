//! Files stored whole, re-stored as Xet files: read back byte for byte, and a second revision
//! that rewrote a tenth of the first stores only about that tenth anew.

use std::io::Read;

use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use xet_store::{XetError, XetStore};

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn convert(store: &XetStore, bytes: &[u8]) -> Result<Option<xet_store::Converted>, XetError> {
    let owned = bytes.to_vec();
    store.convert(&sha(bytes), &move || {
        Ok(Box::new(std::io::Cursor::new(owned.clone())) as Box<dyn Read + Send>)
    })
}

fn read_back(store: &XetStore, bytes: &[u8]) -> Vec<u8> {
    let rec = store.file_by_sha256(&sha(bytes)).unwrap().unwrap();
    let mut out = Vec::new();
    store
        .read_range(&rec, 0, rec.size, &mut |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn a_revision_that_rewrites_a_tenth_stores_about_a_tenth() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    // Twenty "tensors" of 1 MiB; the second revision rewrites two of them.
    let tensors: Vec<Vec<u8>> = (0..20).map(|i| noise(1 << 20, i)).collect();
    let v1: Vec<u8> = tensors.concat();
    let mut second = tensors.clone();
    second[3] = noise(1 << 20, 100);
    second[14] = noise(1 << 20, 101);
    let v2: Vec<u8> = second.concat();

    let one = convert(&store, &v1).unwrap().unwrap();
    assert_eq!(one.reused, 0);
    assert!(one.stored >= v1.len() as u64, "{}", one.stored);
    let two = convert(&store, &v2).unwrap().unwrap();
    // Two tensors of twenty are new, plus a chunk or so at each edge.
    assert!(
        two.reused >= (v2.len() as u64) * 8 / 10,
        "reused {}",
        two.reused
    );
    assert!(
        two.stored <= (v2.len() as u64) * 2 / 10 + (1 << 20),
        "stored {}",
        two.stored
    );
    assert_eq!(read_back(&store, &v1), v1);
    assert_eq!(read_back(&store, &v2), v2);
    // Once stored, it is not stored again.
    assert!(convert(&store, &v2).unwrap().is_none());
}

#[test]
fn bytes_that_do_not_hash_to_their_name_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    let bytes = noise(300_000, 7);
    let other = noise(300_000, 8);
    let err = store
        .convert(&sha(&bytes), &move || {
            Ok(Box::new(std::io::Cursor::new(other.clone())) as Box<dyn Read + Send>)
        })
        .unwrap_err();
    assert!(err.to_string().contains("hashes to"), "{err}");
    assert!(store.file_by_sha256(&sha(&bytes)).unwrap().is_none());
    assert!(!dir.path().join("xet/xorbs").exists());
}
