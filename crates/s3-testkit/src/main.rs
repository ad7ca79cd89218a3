//! `s3-testkit BUCKET...`: starts a SeaweedFS S3 server with these buckets for a benchmark,
//! prints `endpoint http://127.0.0.1:PORT`, and stops it when its stdin closes.

use std::io::Read;

fn main() {
    let weed = s3_testkit::Weed::start();
    for bucket in std::env::args().skip(1) {
        weed.create_bucket(&bucket);
    }
    println!("endpoint {}", weed.endpoint);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
