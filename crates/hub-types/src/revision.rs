//! A revision as the Hub's URLs name one: a branch, a tag, a full or short commit id, or a
//! pull-request ref `refs/pr/N`. Parsed at the edge, so nothing past it sees a string git
//! would read as something else (a revspec such as `main~1` or `@{-1}`, a range, an option).

use std::fmt;

/// Longest revision accepted, in bytes (git allows longer ref names; no client sends them).
pub const MAX_REVISION_BYTES: usize = 255;

/// A revision that is safe to look up: see [`Revision::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Revision(String);

/// What a revision names, as far as its spelling tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionKind {
    /// 40 hex digits: one commit, forever.
    Commit,
    /// `refs/pr/N`.
    PullRequest(u64),
    /// A branch, a tag, or a short commit id (5 to 39 hex digits), looked up in that order.
    Named,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid revision {0:?}")]
pub struct RevisionError(pub String);

impl Revision {
    /// Accepts what names a ref or a commit and nothing git would parse as more: 1 to 255
    /// bytes, no control characters, none of `~^:?*[\` or space, no `..`, no `@{`, not
    /// starting with `-` or `/`, not ending with `/` or `.lock`.
    pub fn parse(s: &str) -> Result<Revision, RevisionError> {
        let bad = s.is_empty()
            || s.len() > MAX_REVISION_BYTES
            || s.contains("..")
            || s.contains("@{")
            || s.contains("//")
            || s.starts_with(['-', '/'])
            || s.ends_with('/')
            || s.ends_with(".lock")
            || s.bytes()
                .any(|b| b < 0x20 || b == 0x7f || b"~^:?*[\\ ".contains(&b));
        if bad {
            return Err(RevisionError(s.chars().take(80).collect()));
        }
        Ok(Revision(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> RevisionKind {
        let s = self.0.as_str();
        if s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return RevisionKind::Commit;
        }
        match s.strip_prefix("refs/pr/").map(str::parse::<u64>) {
            Some(Ok(n)) if n > 0 => RevisionKind::PullRequest(n),
            _ => RevisionKind::Named,
        }
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Revision {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_names_a_ref_or_commit_and_nothing_more() {
        for ok in [
            "main",
            "v1.0",
            "refs/pr/3",
            "feature/x",
            "0123abc",
            "release-2026.01",
        ] {
            assert!(Revision::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "main~1", "main^", "@{-1}", "a..b", "-n", "/x", "x/", "a//b", "x.lock", "a b",
            "a\0b", "a\nb", "a:b", "*", "[x", "a\\b",
        ] {
            assert!(Revision::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Revision::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn kinds() {
        let k = |s: &str| Revision::parse(s).unwrap().kind();
        assert_eq!(k(&"a".repeat(40)), RevisionKind::Commit);
        assert_eq!(k("refs/pr/12"), RevisionKind::PullRequest(12));
        assert_eq!(k("refs/pr/0"), RevisionKind::Named);
        assert_eq!(k("main"), RevisionKind::Named);
        assert_eq!(k(&"A".repeat(40)), RevisionKind::Named); // ids are lowercase
    }
}
