//! The content store's promises, checked on both backends: local disk, and a real S3 server
//! (SeaweedFS, started on free ports by s3-testkit).

use std::io::{self, Read};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use content_store::{
    Backend, ByteRange, ByteStream, LocalBackend, S3Backend, S3Config, StoreError,
};
use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

/// One S3 server for the whole test binary; each backend gets a prefix of its own.
fn weed() -> &'static s3_testkit::Weed {
    static WEED: OnceLock<s3_testkit::Weed> = OnceLock::new();
    WEED.get_or_init(|| {
        let w = s3_testkit::Weed::start();
        w.create_bucket("store");
        w
    })
}

fn s3_config(url: &str) -> S3Config {
    let mut cfg = S3Config::from_url(url).unwrap();
    cfg.endpoint = Some(weed().endpoint.clone());
    cfg.credentials = Some((s3_testkit::ACCESS_KEY.into(), s3_testkit::SECRET_KEY.into()));
    cfg
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Both backends, fresh, each with the temp dir it spools to.
fn backends(rt: &tokio::runtime::Runtime) -> Vec<(Arc<dyn Backend>, tempfile::TempDir)> {
    let local = tempfile::tempdir().unwrap();
    let l: Arc<dyn Backend> = Arc::new(LocalBackend::open(local.path()).unwrap());
    let s3dir = tempfile::tempdir().unwrap();
    let mut cfg = s3_config(&format!("s3://store/t{:016x}", rand_u64()));
    cfg.part_size = 5 << 20;
    let s: Arc<dyn Backend> = {
        let _g = rt.enter();
        Arc::new(S3Backend::new(cfg, &s3dir.path().join("tmp")).unwrap())
    };
    rt.block_on(s.check()).unwrap();
    vec![(l, local), (s, s3dir)]
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn body(chunks: Vec<io::Result<Bytes>>) -> ByteStream {
    Box::pin(futures_util::stream::iter(chunks))
}

fn chunked(data: &[u8], n: usize) -> ByteStream {
    body(
        data.chunks(n)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect(),
    )
}

async fn read_all(s: ByteStream) -> Vec<u8> {
    let chunks: Vec<Bytes> = s.try_collect().await.unwrap();
    chunks.concat()
}

fn tmp_empty(b: &dyn Backend) -> bool {
    std::fs::read_dir(b.tmp_dir()).unwrap().count() == 0
}

#[test]
fn put_checks_hash_and_size_and_leaves_nothing_on_error() {
    let rt = rt();
    for (store, _dir) in backends(&rt) {
        rt.block_on(async {
            let what = store.describe();
            let data = b"hello weights".repeat(1000);
            let (key, sum, n) = ("lfs/objects/aa/bb/x1", sha(&data), data.len() as u64);
            let half = Bytes::copy_from_slice(&data[..100]);

            let short = store
                .put_verified(key, n, &sum, body(vec![Ok(half.clone())]))
                .await;
            assert!(
                matches!(short, Err(StoreError::SizeMismatch { got: 100, .. })),
                "{what}: {short:?}"
            );
            let mut wrong = data.clone();
            wrong[5] ^= 1;
            let bad = store
                .put_verified(key, n, &sum, chunked(&wrong, 1000))
                .await;
            assert!(
                matches!(bad, Err(StoreError::HashMismatch { .. })),
                "{what}: {bad:?}"
            );
            let long = store
                .put_verified(key, 10, &sum, chunked(&data, 1000))
                .await;
            assert!(
                matches!(long, Err(StoreError::SizeMismatch { .. })),
                "{what}: {long:?}"
            );
            let broken = body(vec![Ok(half), Err(io::Error::other("reset"))]);
            let broken = store.put_verified(key, n, &sum, broken).await;
            assert!(
                matches!(broken, Err(StoreError::Body(_))),
                "{what}: {broken:?}"
            );
            assert_eq!(store.size(key).await.unwrap(), None, "{what}");
            assert!(tmp_empty(store.as_ref()), "{what}");

            store
                .put_verified(key, n, &sum, chunked(&data, 777))
                .await
                .unwrap();
            assert_eq!(store.size(key).await.unwrap(), Some(n), "{what}");
            assert_eq!(
                read_all(store.get(key, None).await.unwrap()).await,
                data,
                "{what}"
            );
            let r = ByteRange { start: 10, end: 19 };
            assert_eq!(
                read_all(store.get(key, Some(r)).await.unwrap()).await,
                &data[10..20]
            );
            let past = ByteRange { start: 0, end: n };
            let e = store.get(key, Some(past)).await.err();
            assert!(
                matches!(e, Some(StoreError::BadRange { .. })),
                "{what}: {e:?}"
            );
            // Storing it again checks the bytes and keeps the copy.
            let again = store
                .put_verified(key, n, &sum, chunked(&wrong, 1000))
                .await;
            assert!(
                matches!(again, Err(StoreError::HashMismatch { .. })),
                "{what}"
            );
            store
                .put_verified(key, n, &sum, chunked(&data, 4096))
                .await
                .unwrap();
            assert_eq!(
                read_all(store.get(key, None).await.unwrap()).await,
                data,
                "{what}"
            );
            assert!(tmp_empty(store.as_ref()), "{what}");

            store.delete(key).await.unwrap();
            store.delete(key).await.unwrap();
            let gone = store.get(key, None).await.err();
            assert!(
                matches!(gone, Some(StoreError::NotFound(_))),
                "{what}: {gone:?}"
            );
        });
    }
}

/// An object of several parts: nothing under its key until every byte checked out, and a
/// bad last byte leaves nothing at all.
#[test]
fn multipart_puts_are_all_or_nothing() {
    let rt = rt();
    for (store, _dir) in backends(&rt) {
        rt.block_on(async {
            let what = store.describe();
            let data: Vec<u8> = (0..(12u32 << 20) / 4)
                .flat_map(|i| i.to_le_bytes())
                .collect();
            let (key, sum, n) = ("lfs/objects/cc/dd/big", sha(&data), data.len() as u64);
            let mut bad = data.clone();
            *bad.last_mut().unwrap() ^= 1;
            let r = store
                .put_verified(key, n, &sum, chunked(&bad, 1 << 16))
                .await;
            assert!(
                matches!(r, Err(StoreError::HashMismatch { .. })),
                "{what}: {r:?}"
            );
            assert_eq!(store.size(key).await.unwrap(), None, "{what}");

            store
                .put_verified(key, n, &sum, chunked(&data, 100_000))
                .await
                .unwrap();
            assert_eq!(
                read_all(store.get(key, None).await.unwrap()).await,
                data,
                "{what}"
            );
            let r = ByteRange {
                start: (5 << 20) - 3,
                end: (5 << 20) + 2,
            };
            let got = read_all(store.get(key, Some(r)).await.unwrap()).await;
            assert_eq!(got, &data[(5 << 20) - 3..(5 << 20) + 3], "{what}");
        });
    }
}

#[test]
fn concurrent_puts_of_one_object_agree() {
    let rt = rt();
    for (store, _dir) in backends(&rt) {
        rt.block_on(async {
            let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_be_bytes()).collect();
            let (key, sum) = ("lfs/objects/ee/ff/same", sha(&data));
            let puts = (0..6)
                .map(|_| store.put_verified(key, data.len() as u64, &sum, chunked(&data, 4096)));
            for r in futures_util::future::join_all(puts).await {
                r.unwrap();
            }
            assert_eq!(read_all(store.get(key, None).await.unwrap()).await, data);
            assert!(tmp_empty(store.as_ref()));
        });
    }
}

/// Spooled files are stored create-only; small objects are written and read back whole, from
/// blocking threads as the Xet store does; listings name what is stored.
#[test]
fn files_metadata_and_listings() {
    let rt = rt();
    for (store, _dir) in backends(&rt) {
        let what = store.describe();
        let s = store.clone();
        rt.block_on(async move {
            tokio::task::spawn_blocking(move || {
                use std::io::Write;
                let mut f = s.spool().unwrap();
                f.write_all(b"xorb bytes").unwrap();
                assert!(s.put_file_blocking("xet/xorbs/ab/one", f).unwrap());
                let mut f = s.spool().unwrap();
                f.write_all(b"other").unwrap();
                assert!(!s.put_file_blocking("xet/xorbs/ab/one", f).unwrap());
                let mut back = String::new();
                let r = Some(ByteRange { start: 5, end: 9 });
                let mut reader = s.open_blocking("xet/xorbs/ab/one", r).unwrap();
                reader.read_to_string(&mut back).unwrap();
                assert_eq!(back, "bytes");
                // Reads past the end answer 0 again, as `Read` allows (found by gc on S3).
                assert_eq!(reader.read(&mut [0u8; 8]).unwrap(), 0);
                assert_eq!(reader.read(&mut [0u8; 8]).unwrap(), 0);
                s.write_blocking("xet/files/cd/rec", b"{\"a\":1}").unwrap();
                s.write_blocking("xet/files/cd/rec", b"{\"a\":2}").unwrap();
                assert_eq!(
                    s.read_blocking("xet/files/cd/rec", 100).unwrap().unwrap(),
                    b"{\"a\":2}"
                );
                assert!(s.read_blocking("xet/files/cd/rec", 3).is_err());
                assert_eq!(s.read_blocking("xet/files/cd/none", 100).unwrap(), None);
                assert_eq!(s.size_blocking("xet/xorbs/ab/one").unwrap(), Some(10));
                assert!(tmp_empty(s.as_ref()));
            })
            .await
            .unwrap();
            let mut keys: Vec<(String, u64)> = store
                .list("xet/")
                .map(|l| l.map(|l| (l.key, l.size)))
                .try_collect()
                .await
                .unwrap();
            keys.sort();
            assert_eq!(
                keys,
                vec![
                    ("xet/files/cd/rec".into(), 7),
                    ("xet/xorbs/ab/one".into(), 10)
                ],
                "{what}"
            );
        });
    }
}

/// A start-up check of a store that cannot be used names the reason on one line.
#[test]
fn check_names_why_a_bucket_cannot_be_used() {
    let rt = rt();
    weed();
    let dir = tempfile::tempdir().unwrap();
    let _g = rt.enter();
    let missing = S3Backend::new(s3_config("s3://no-such-bucket"), dir.path()).unwrap();
    let e = rt.block_on(missing.check()).unwrap_err().to_string();
    assert!(e.contains("NoSuchBucket"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}
