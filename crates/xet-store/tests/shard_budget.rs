//! A 100-byte shard whose file section claims 23 GB of entries (found by `bench/fuzz.sh`,
//! target xet_shard) must be refused without the allocation it asks for. This test binary caps
//! its own address space at 2 GiB, so an attempt to allocate what the header claims aborts
//! it instead of passing unnoticed under overcommit.

use std::io::Write;

use xet_store::{XetError, XetStore};

#[test]
fn a_shard_header_cannot_make_the_server_allocate_what_it_claims() {
    use rustix::process::{setrlimit, Resource, Rlimit};
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(2 << 30),
            maximum: Some(2 << 30),
        },
    )
    .expect("lower the address-space limit");
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    let data = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/xet/fuzz-shard-huge-section.bin"),
    )
    .unwrap();
    let mut spool = store.spool().unwrap();
    spool.write_all(&data).unwrap();
    let err = store.put_shard(spool).unwrap_err();
    assert!(matches!(err, XetError::BadShard(_)), "{err}");
    assert!(err.to_string().contains("not a valid shard"), "{err}");
}
