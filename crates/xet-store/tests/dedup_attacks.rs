//! An outsider who holds a public chunk asks global dedup for it and tries to turn the answer
//! into a read capability for the private chunks that share a file with it: by naming the
//! xorbs the answer lists and guessing raw chunk hashes from every clear hash it holds. Every
//! attempt must be refused, and no answer may carry a raw hash of a chunk the asker lacks.

use std::io::{Cursor, Write};

use sha2::{Digest, Sha256};
use xet_core_structures::merklehash::{compute_data_hash, file_hash, xorb_hash, MerkleHash};
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
use xet_core_structures::xorb_object::{serialize_chunk, CompressionScheme};
use xet_store::XetStore;

/// Deterministic pseudo-random bytes (xorshift), so every run builds the same chunks.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

/// A chunk whose hash xet-core marks as a global dedup key (one in ~1,024).
fn key_chunk(from_seed: u64) -> Vec<u8> {
    (from_seed..)
        .map(|s| bytes(s, 3000))
        .find(|d| hash_is_global_dedup_eligible(&compute_data_hash(d)))
        .expect("a key chunk exists")
}

struct Xorb {
    hash: MerkleHash,
    chunks: Vec<Vec<u8>>,
}

impl Xorb {
    fn new(chunks: Vec<Vec<u8>>) -> Xorb {
        let pairs: Vec<(MerkleHash, u64)> = chunks
            .iter()
            .map(|c| (compute_data_hash(c), c.len() as u64))
            .collect();
        Xorb {
            hash: xorb_hash(&pairs),
            chunks,
        }
    }

    fn hashes(&self) -> Vec<MerkleHash> {
        self.chunks.iter().map(|c| compute_data_hash(c)).collect()
    }

    fn upload(&self, store: &XetStore) {
        let mut body = Vec::new();
        for c in &self.chunks {
            serialize_chunk(c, &mut body, CompressionScheme::None).unwrap();
        }
        store.put_xorb(&self.hash, &mut &body[..]).unwrap();
    }

    fn block(&self) -> MDBXorbInfo {
        let mut offset = 0;
        let chunks: Vec<XorbChunkSequenceEntry> = self
            .chunks
            .iter()
            .map(|c| {
                let e = XorbChunkSequenceEntry::new(compute_data_hash(c), c.len() as u32, offset);
                offset += c.len() as u32;
                e
            })
            .collect();
        MDBXorbInfo {
            metadata: XorbChunkSequenceHeader::new(self.hash, chunks.len(), offset),
            chunks,
        }
    }
}

/// An honest upload of a file made of `terms` (xorb, chunk range), as hf_xet builds it.
fn register(store: &XetStore, uploaded: &[&Xorb], terms: &[(&Xorb, std::ops::Range<usize>)]) {
    let mut shard = MDBInMemoryShard::default();
    for x in uploaded {
        shard.add_xorb_block(x.block()).unwrap();
    }
    let (mut pairs, mut data, mut segments, mut verification) = (vec![], vec![], vec![], vec![]);
    for (x, r) in terms {
        let hs = x.hashes();
        let mut len = 0;
        for i in r.clone() {
            pairs.push((hs[i], x.chunks[i].len() as u64));
            data.extend_from_slice(&x.chunks[i]);
            len += x.chunks[i].len() as u32;
        }
        segments.push(FileDataSequenceEntry::new(
            x.hash,
            len,
            r.start as u32,
            r.end as u32,
        ));
        verification.push(FileVerificationEntry::new(range_hash_from_chunks(
            &hs[r.clone()],
        )));
    }
    let sha: [u8; 32] = Sha256::digest(&data).into();
    shard
        .add_file_reconstruction_info(MDBFileInfo {
            metadata: FileDataSequenceHeader::new(file_hash(&pairs), segments.len(), true, true),
            segments,
            verification,
            metadata_ext: Some(FileMetadataExt::new(MerkleHash::from(sha))),
        })
        .unwrap();
    store
        .put_shard(spool(store, &shard.to_bytes().unwrap()))
        .unwrap();
}

fn spool(store: &XetStore, b: &[u8]) -> tempfile::NamedTempFile {
    let mut t = store.spool().unwrap();
    t.write_all(b).unwrap();
    t
}

/// Everything the attacker can try with an answer: for every chunk listed that is not one
/// of his, a one-chunk file naming it, with every clear 32-byte value he knows (each listed
/// xorb hash, and the hashes of his own chunks) as the guess for its raw hash. Returns how
/// many attempts the store accepted.
fn forge_from(store: &XetStore, answer: &[u8], mine: &[Vec<u8>]) -> usize {
    let info = MDBShardInfo::load_from_reader(&mut Cursor::new(answer)).unwrap();
    let key = info
        .chunk_hmac_key()
        .expect("the answer's chunk hashes are keyed");
    let listed = info
        .read_all_xorb_blocks_full(&mut Cursor::new(answer))
        .unwrap();
    let my_hashes: Vec<MerkleHash> = mine.iter().map(|c| compute_data_hash(c)).collect();
    let mut guesses: Vec<MerkleHash> = listed.iter().map(|x| x.metadata.xorb_hash).collect();
    guesses.extend(&my_hashes);
    let mut accepted = 0;
    for x in &listed {
        for (i, c) in x.chunks.iter().enumerate() {
            if my_hashes.iter().any(|h| h.hmac(key) == c.chunk_hash) {
                continue;
            }
            for g in &guesses {
                let pairs = [(*g, u64::from(c.unpacked_segment_bytes))];
                let mut shard = MDBInMemoryShard::default();
                shard
                    .add_file_reconstruction_info(MDBFileInfo {
                        metadata: FileDataSequenceHeader::new(file_hash(&pairs), 1, true, false),
                        segments: vec![FileDataSequenceEntry::new(
                            x.metadata.xorb_hash,
                            c.unpacked_segment_bytes,
                            i as u32,
                            i as u32 + 1,
                        )],
                        verification: vec![FileVerificationEntry::new(range_hash_from_chunks(&[
                            *g,
                        ]))],
                        metadata_ext: None,
                    })
                    .unwrap();
                if store
                    .put_shard(spool(store, &shard.to_bytes().unwrap()))
                    .is_ok()
                {
                    accepted += 1;
                }
            }
        }
    }
    accepted
}

/// The raw hash of a chunk the asker does not hold appears nowhere in the answer's bytes.
fn assert_no_raw_hash(answer: &[u8], secret: &[&[u8]]) {
    for c in secret {
        let h = compute_data_hash(c);
        assert!(
            !answer.windows(32).any(|w| w == h.as_bytes()),
            "the dedup answer carries the raw hash of a private chunk"
        );
    }
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[test]
fn a_private_chunk_after_a_public_first_chunk_cannot_be_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    let (a, c, b) = (bytes(1, 4000), bytes(2, 5000), bytes(3, 6000));
    // Public file P = [a, c]; the private file Q = [a, b] dedups a against P's xorb and puts
    // b, new and small, alone in a xorb of one chunk (what hf_xet does with a file's tail).
    let xp = Xorb::new(vec![a.clone(), c.clone()]);
    let xb = Xorb::new(vec![b.clone()]);
    xp.upload(&store);
    register(&store, &[&xp], &[(&xp, 0..2)]);
    xb.upload(&store);
    register(&store, &[&xb], &[(&xp, 0..1), (&xb, 0..1)]);

    // The outsider holds P and asks for its first chunk: the answer still serves dedup
    // against P's xorb...
    let answer = store
        .dedup_shard(&compute_data_hash(&a))
        .unwrap()
        .expect("a is a dedup key");
    let info = MDBShardInfo::load_from_reader(&mut Cursor::new(&answer)).unwrap();
    let listed = info
        .read_all_xorb_blocks_full(&mut Cursor::new(&answer))
        .unwrap();
    assert!(listed.iter().any(|x| x.metadata.xorb_hash == xp.hash));
    // ...but reveals nothing about b, and nothing in it claims b.
    assert_no_raw_hash(&answer, &[&b]);
    assert_eq!(forge_from(&store, &answer, &[a.clone(), c.clone()]), 0);
    assert!(store.file_by_sha256(&sha_hex(&b)).unwrap().is_none());
}

#[test]
fn private_chunks_in_a_shared_multi_chunk_xorb_cannot_be_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    let (a, b1, b2, b3) = (
        bytes(11, 4000),
        bytes(12, 5000),
        bytes(13, 3000),
        bytes(14, 7000),
    );
    // One upload packs the public file [a] and the private file [b1, b2, b3] in one xorb.
    let x = Xorb::new(vec![a.clone(), b1.clone(), b2.clone(), b3.clone()]);
    x.upload(&store);
    register(&store, &[&x], &[(&x, 0..1)]);
    register(&store, &[], &[(&x, 1..4)]);
    let answer = store.dedup_shard(&compute_data_hash(&a)).unwrap().unwrap();
    assert_no_raw_hash(&answer, &[&b1, &b2, &b3]);
    assert_eq!(forge_from(&store, &answer, std::slice::from_ref(&a)), 0);
    for secret in [&b1, &b2, &b3] {
        assert!(store.file_by_sha256(&sha_hex(secret)).unwrap().is_none());
    }
}

#[test]
fn a_key_chunk_in_the_middle_of_a_private_file_opens_nothing_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = XetStore::open(dir.path()).unwrap();
    let k = key_chunk(1000);
    let (d, b0, b1, b2) = (
        bytes(21, 4000),
        bytes(22, 5000),
        bytes(23, 6000),
        bytes(24, 2000),
    );
    // Public P = [k, d]. Private Q = [b0, k, b1, b2]: b0 alone in a one-chunk xorb, k deduped
    // against P, b1 and b2 in a xorb of their own.
    let xp = Xorb::new(vec![k.clone(), d.clone()]);
    let x0 = Xorb::new(vec![b0.clone()]);
    let x12 = Xorb::new(vec![b1.clone(), b2.clone()]);
    xp.upload(&store);
    register(&store, &[&xp], &[(&xp, 0..2)]);
    x0.upload(&store);
    x12.upload(&store);
    register(
        &store,
        &[&x0, &x12],
        &[(&x0, 0..1), (&xp, 0..1), (&x12, 0..2)],
    );
    // Both of P's dedup keys (its first chunk, k) and Q's first chunk b0 were indexed; the
    // outsider can ask for k, which he holds.
    let answer = store.dedup_shard(&compute_data_hash(&k)).unwrap().unwrap();
    assert_no_raw_hash(&answer, &[&b0, &b1, &b2]);
    assert_eq!(forge_from(&store, &answer, &[k.clone(), d.clone()]), 0);
    for secret in [&b0, &b1, &b2] {
        assert!(store.file_by_sha256(&sha_hex(secret)).unwrap().is_none());
    }
}
