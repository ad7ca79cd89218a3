//! Signed transfer links: an HMAC-SHA256 over what the link may do (operation, repo, object,
//! size) and until when, with a key only the server has. A link works for exactly one object
//! of one repo, for one operation, until it expires.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a signed link allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Download,
    Upload,
    Verify,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Download => "download",
            Op::Upload => "upload",
            Op::Verify => "verify",
        }
    }
}

#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    pub fn new(key: &[u8]) -> Self {
        Signer { key: key.to_vec() }
    }

    fn mac(&self, message: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(message.as_bytes());
        mac
    }

    fn link(op: Op, repo_id: i64, oid: &str, size: u64, exp: u64) -> String {
        format!("{}\n{repo_id}\n{oid}\n{size}\n{exp}", op.as_str())
    }

    pub fn sign(&self, op: Op, repo_id: i64, oid: &str, size: u64, exp: u64) -> String {
        self.sign_message(&Self::link(op, repo_id, oid, size, exp))
    }

    /// Whether `sig` was made by [`Signer::sign`] with these values (compared in constant time).
    pub fn verify(&self, op: Op, repo_id: i64, oid: &str, size: u64, exp: u64, sig: &str) -> bool {
        self.verify_message(&Self::link(op, repo_id, oid, size, exp), sig)
    }

    /// The signature of any message; callers put a distinct first line in theirs (what the
    /// signature allows), so one kind of signature never passes for another.
    pub fn sign_message(&self, message: &str) -> String {
        hex::encode(self.mac(message).finalize().into_bytes())
    }

    /// Whether `sig` was made by [`Signer::sign_message`] for `message` (constant time).
    pub fn verify_message(&self, message: &str, sig: &str) -> bool {
        let Ok(raw) = hex::decode(sig) else {
            return false;
        };
        self.mac(message).verify_slice(&raw).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_bound_to_everything_it_names() {
        let s = Signer::new(b"k");
        let sig = s.sign(Op::Upload, 1, "ab", 10, 99);
        assert!(s.verify(Op::Upload, 1, "ab", 10, 99, &sig));
        assert!(!s.verify(Op::Download, 1, "ab", 10, 99, &sig));
        assert!(!s.verify(Op::Upload, 2, "ab", 10, 99, &sig));
        assert!(!s.verify(Op::Upload, 1, "ac", 10, 99, &sig));
        assert!(!s.verify(Op::Upload, 1, "ab", 11, 99, &sig));
        assert!(!s.verify(Op::Upload, 1, "ab", 10, 100, &sig));
        assert!(!Signer::new(b"other").verify(Op::Upload, 1, "ab", 10, 99, &sig));
        assert!(!s.verify(Op::Upload, 1, "ab", 10, 99, "zz"));
    }
}
