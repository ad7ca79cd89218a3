//! Xorbs and shards as hf_xet would send them, built with xet-core's own serializers: good ones
//! are stored and read back byte for byte; corrupt or unproven ones are refused and leave
//! nothing behind.

use std::io::Write;

use sha2::{Digest, Sha256};
use xet_core_structures::merklehash::{file_hash, MerkleHash};
use xet_core_structures::metadata_shard::chunk_verification::range_hash_from_chunks;
use xet_core_structures::metadata_shard::file_structs::{
    FileDataSequenceEntry, FileDataSequenceHeader, FileMetadataExt, FileVerificationEntry,
    MDBFileInfo,
};
use xet_core_structures::metadata_shard::shard_in_memory::MDBInMemoryShard;
use xet_core_structures::metadata_shard::xorb_structs::{
    MDBXorbInfo, XorbChunkSequenceEntry, XorbChunkSequenceHeader,
};
use xet_core_structures::metadata_shard::{hash_is_global_dedup_eligible, MDBShardInfo};
use xet_core_structures::xorb_object::xorb_format_test_utils::{build_xorb_object, ChunkSize};
use xet_core_structures::xorb_object::{CompressionScheme, XorbObject};
use xet_store::{XetError, XetStore};

struct Xorb {
    hash: MerkleHash,
    body: Vec<u8>,
    raw: Vec<u8>,
    chunks: Vec<(MerkleHash, u32)>,
}

fn xorb(n: u32, scheme: CompressionScheme) -> Xorb {
    let (obj, body, raw, bounds) = build_xorb_object(n, ChunkSize::Random(1000, 20_000), scheme);
    // bounds hold cumulative unpacked ends; turn them into per-chunk sizes.
    let mut prev = 0;
    let chunks = bounds
        .into_iter()
        .map(|(h, end)| {
            let size = end - prev;
            prev = end;
            (h, size)
        })
        .collect();
    Xorb {
        hash: obj.info.xorb_hash,
        body,
        raw,
        chunks,
    }
}

fn spool(store: &XetStore, bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut t = store.spool().unwrap();
    t.write_all(bytes).unwrap();
    t
}

fn tmp_is_empty(store: &XetStore) -> bool {
    std::fs::read_dir(store.tmp_dir()).unwrap().count() == 0
}

/// A shard describing one file made of chunks `range` of `x`, with verification and SHA-256.
fn shard_for(x: &Xorb, range: std::ops::Range<usize>, verification: Option<MerkleHash>) -> Vec<u8> {
    let chunks = &x.chunks[range.clone()];
    let pairs: Vec<(MerkleHash, u64)> = chunks.iter().map(|(h, s)| (*h, u64::from(*s))).collect();
    let bytes: u32 = chunks.iter().map(|c| c.1).sum();
    let start: u32 = x.chunks[..range.start].iter().map(|c| c.1).sum();
    let data = &x.raw[start as usize..(start + bytes) as usize];
    let hashes: Vec<MerkleHash> = chunks.iter().map(|c| c.0).collect();
    let mut shard = MDBInMemoryShard::default();
    let mut offset = 0u32;
    let entries = x
        .chunks
        .iter()
        .map(|(h, s)| {
            let e = XorbChunkSequenceEntry::new(*h, *s, offset);
            offset += *s;
            e
        })
        .collect::<Vec<_>>();
    shard
        .add_xorb_block(MDBXorbInfo {
            metadata: XorbChunkSequenceHeader::new(x.hash, entries.len(), offset),
            chunks: entries,
        })
        .unwrap();
    let sha: [u8; 32] = Sha256::digest(data).into();
    shard
        .add_file_reconstruction_info(MDBFileInfo {
            metadata: FileDataSequenceHeader::new(file_hash(&pairs), 1, true, true),
            segments: vec![FileDataSequenceEntry::new(
                x.hash,
                bytes,
                range.start as u32,
                range.end as u32,
            )],
            verification: vec![FileVerificationEntry::new(
                verification.unwrap_or_else(|| range_hash_from_chunks(&hashes)),
            )],
            metadata_ext: Some(FileMetadataExt::new(MerkleHash::from(sha))),
        })
        .unwrap();
    shard.to_bytes().unwrap()
}

#[test]
fn a_good_xorb_is_stored_once_and_its_file_reads_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    for scheme in [
        CompressionScheme::None,
        CompressionScheme::LZ4,
        CompressionScheme::ByteGrouping4LZ4,
    ] {
        let x = xorb(40, scheme);
        assert!(store.put_xorb(&x.hash, &mut &x.body[..]).unwrap());
        assert!(
            !store.put_xorb(&x.hash, &mut &x.body[..]).unwrap(),
            "second upload is a no-op"
        );
        let footer = store.footer(&x.hash).unwrap().unwrap();
        assert_eq!(footer.len(), 40);

        let reg = store
            .put_shard(spool(&store, &shard_for(&x, 3..17, None)))
            .unwrap();
        assert_eq!(reg.len(), 1);
        let rec = reg[0].record.clone();
        let start: u32 = x.chunks[..3].iter().map(|c| c.1).sum();
        let want = &x.raw[start as usize..start as usize + rec.size as usize];
        assert_eq!(rec.sha256, hex::encode(Sha256::digest(want)));
        assert_eq!(
            store.file_by_sha256(&rec.sha256).unwrap().unwrap().as_ref(),
            rec.as_ref()
        );

        // Whole file and an arbitrary inner range.
        let mut got = Vec::new();
        store
            .read_range(&rec, 0, rec.size, &mut |b| {
                got.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        assert!(got == want, "reconstructed bytes differ");
        let (a, b) = (1234u64, rec.size - 777);
        let mut part = Vec::new();
        store
            .read_range(&rec, a, b, &mut |d| {
                part.extend_from_slice(d);
                Ok(())
            })
            .unwrap();
        assert!(part == want[a as usize..b as usize]);
        let plan = store.plan(&rec, a, b).unwrap();
        assert!(plan.offset_into_first_range < 20_000 && !plan.terms.is_empty());
        assert!(matches!(
            store.plan(&rec, rec.size, rec.size + 5),
            Err(XetError::Range { .. })
        ));
    }
    assert!(tmp_is_empty(&store));
}

#[test]
fn a_xorb_sent_with_its_footer_is_accepted_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    let x = xorb(8, CompressionScheme::LZ4);
    let mut with_footer = x.body.clone();
    let info = {
        let (o, _, _, _) = build_xorb_object(1, ChunkSize::Fixed(10), CompressionScheme::None);
        o.info
    };
    // A footer from another xorb must not matter: ours is rebuilt from the chunks.
    XorbObject::serialize_given_info(&mut with_footer, info).unwrap();
    assert!(store.put_xorb(&x.hash, &mut &with_footer[..]).unwrap());
    assert_eq!(store.footer(&x.hash).unwrap().unwrap().len(), 8);
}

#[test]
fn corrupt_or_misnamed_xorbs_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    let x = xorb(10, CompressionScheme::None);
    let mut flipped = x.body.clone();
    flipped[500] ^= 0x40;
    let other = xorb(3, CompressionScheme::None);
    for (name, body, hash) in [
        ("a flipped byte", flipped, x.hash),
        (
            "a truncated body",
            x.body[..x.body.len() - 100].to_vec(),
            x.hash,
        ),
        ("another xorb's hash", x.body.clone(), other.hash),
        ("garbage", b"not a xorb at all, just words".to_vec(), x.hash),
        ("nothing", Vec::new(), x.hash),
    ] {
        let err = store.put_xorb(&hash, &mut &body[..]).unwrap_err();
        assert!(matches!(err, XetError::BadXorb(_)), "{name}: {err}");
        assert!(!store.has_xorb(&hash).unwrap(), "{name} was stored");
    }
    assert!(!dir.path().join("xet/xorbs").exists(), "a xorb was stored");
    assert!(tmp_is_empty(&store));
}

#[test]
fn shards_naming_missing_xorbs_or_lacking_proof_are_refused_and_register_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    let x = xorb(12, CompressionScheme::None);
    // The xorb was never uploaded.
    let err = store
        .put_shard(spool(&store, &shard_for(&x, 0..12, None)))
        .unwrap_err();
    assert!(err.to_string().contains("never uploaded"), "{err}");

    store.put_xorb(&x.hash, &mut &x.body[..]).unwrap();
    // A verification hash that does not match the chunks: the uploader did not prove it has them.
    let forged = shard_for(&x, 0..12, Some(MerkleHash::from([7u8; 32])));
    let err = store.put_shard(spool(&store, &forged)).unwrap_err();
    assert!(
        err.to_string().contains("verification hash does not match"),
        "{err}"
    );
    assert!(store
        .file_by_sha256(&hex::encode(Sha256::digest(&x.raw)))
        .unwrap()
        .is_none());

    let err = store
        .put_shard(spool(&store, b"garbage, not a shard"))
        .unwrap_err();
    assert!(matches!(err, XetError::BadShard(_)), "{err}");

    // And the honest one goes through, with its chunks indexed for dedup.
    let reg = store
        .put_shard(spool(&store, &shard_for(&x, 0..12, None)))
        .unwrap();
    assert_eq!(reg[0].record.sha256, hex::encode(Sha256::digest(&x.raw)));
    // A file's first chunk is a dedup key; the answer lists the xorb with keyed chunk hashes.
    let answer = store
        .dedup_shard(&x.chunks[0].0)
        .unwrap()
        .expect("first chunk indexed");
    let info = MDBShardInfo::load_from_reader(&mut std::io::Cursor::new(&answer)).unwrap();
    let key = info.chunk_hmac_key().expect("the chunk hashes are keyed");
    let listed = info
        .read_all_xorb_blocks_full(&mut std::io::Cursor::new(&answer))
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].metadata.xorb_hash, x.hash);
    let keyed: Vec<MerkleHash> = listed[0].chunks.iter().map(|c| c.chunk_hash).collect();
    let want: Vec<MerkleHash> = x.chunks.iter().map(|c| c.0.hmac(key)).collect();
    assert_eq!(keyed, want);
    assert!(keyed[0] != x.chunks[0].0, "a raw chunk hash leaked");
    // A chunk that is not a dedup key has no answer.
    let plain = x
        .chunks
        .iter()
        .skip(1)
        .find(|c| !hash_is_global_dedup_eligible(&c.0))
        .unwrap();
    assert!(store.dedup_shard(&plain.0).unwrap().is_none());
    assert!(tmp_is_empty(&store));
}

#[test]
fn any_byte_range_of_a_file_spanning_xorbs_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    let (a, b) = (
        xorb(25, CompressionScheme::LZ4),
        xorb(15, CompressionScheme::None),
    );
    for x in [&a, &b] {
        store.put_xorb(&x.hash, &mut &x.body[..]).unwrap();
    }
    // The file: chunks 3..20 of a, all of b, then chunks 0..5 of a again (a repeated range, as
    // dedup makes them).
    let parts: [(&Xorb, std::ops::Range<usize>); 3] = [(&a, 3..20), (&b, 0..15), (&a, 0..5)];
    let mut want = Vec::new();
    let mut segments = Vec::new();
    for (x, r) in parts {
        let start: u32 = x.chunks[..r.start].iter().map(|c| c.1).sum();
        let len: u32 = x.chunks[r.clone()].iter().map(|c| c.1).sum();
        want.extend_from_slice(&x.raw[start as usize..(start + len) as usize]);
        segments.push(xet_store::Segment {
            xorb: x.hash.hex(),
            start: r.start as u32,
            end: r.end as u32,
            bytes: len,
        });
    }
    let rec = xet_store::FileRecord {
        file_hash: String::new(),
        sha256: String::new(),
        size: want.len() as u64,
        segments,
    };
    let n = want.len() as u64;
    let mut seed = 7u64;
    let mut next = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    let mut ranges = vec![(0, n), (0, 1), (n - 1, n), (0, n - 1)];
    for _ in 0..200 {
        let s = next(n);
        ranges.push((s, s + 1 + next(n - s)));
    }
    for (s, e) in ranges {
        let mut got = Vec::new();
        store
            .read_range(&rec, s, e, &mut |d| {
                got.extend_from_slice(d);
                Ok(())
            })
            .unwrap();
        assert!(got == want[s as usize..e as usize], "range {s}..{e} of {n}");
        // The plan's terms cover the range from offset_into_first_range on.
        let plan = store.plan(&rec, s, e).unwrap();
        let covered: u64 = plan.terms.iter().map(|t| u64::from(t.unpacked)).sum();
        assert!(
            covered >= plan.offset_into_first_range + (e - s),
            "plan for {s}..{e}"
        );
    }
}

#[test]
fn a_shard_cannot_register_a_file_over_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap().with_max_file_size(5000);
    let x = xorb(12, CompressionScheme::None);
    store.put_xorb(&x.hash, &mut &x.body[..]).unwrap();
    // Twelve chunks of 1,000 to 20,000 bytes: over the 5,000-byte limit, refused before
    // anything is rebuilt or hashed.
    let err = store
        .put_shard(spool(&store, &shard_for(&x, 0..12, None)))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the largest file this server accepts"),
        "{err}"
    );
    assert!(store
        .file_by_sha256(&hex::encode(Sha256::digest(&x.raw)))
        .unwrap()
        .is_none());
    assert!(tmp_is_empty(&store));
}

/// A stored xorb whose bytes rotted on disk is found out by `check_xorb` (what `storage
/// migrate` runs before copying one), and a sound one passes.
#[test]
fn check_xorb_finds_a_damaged_stored_xorb() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    let x = xorb(8, CompressionScheme::None);
    assert!(store.put_xorb(&x.hash, &mut &x.body[..]).unwrap());
    store.check_xorb(&x.hash).unwrap();
    let hex = x.hash.hex();
    let path = dir.path().join("xet/xorbs").join(&hex[..2]).join(&hex);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = store.check_xorb(&x.hash).unwrap_err();
    assert!(matches!(err, XetError::BadXorb(_)), "{err}");
    assert!(err.to_string().contains("damaged"), "{err}");
}
