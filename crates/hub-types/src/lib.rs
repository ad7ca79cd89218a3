//! Shared vocabulary of modelhub: names, repo ids, repo types, roles, ref names a push may
//! write, and the paths a write may name inside a repo.
//!
//! Everything here parses and validates; nothing does I/O. Every other crate depends on this
//! one and this one depends on no other crate of the workspace.
#![forbid(unsafe_code)]

mod path;
mod revision;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use path::{check_repo_path, is_dot_git, PathError, MAX_PATH_BYTES};
pub use revision::{Revision, RevisionError, RevisionKind, MAX_REVISION_BYTES};

/// The longest name the Hub accepts for a user, an organisation or a repo.
pub const MAX_NAME_LEN: usize = 96;

/// Why a name was refused. Each variant names the broken rule, and its message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name is {0} characters long; at most {MAX_NAME_LEN} are allowed")]
    TooLong(usize),
    #[error("name contains {0:?}; only letters, digits, '-', '_' and '.' are allowed")]
    ForbiddenChar(char),
    #[error("name contains '--' or '..', which are not allowed")]
    DoubledSeparator,
    #[error("name must not start or end with '-' or '.'")]
    BadEdge,
    #[error("name must not end with '.git'")]
    GitSuffix,
    #[error("{0:?} is reserved for the server's own pages and cannot name a user or organisation")]
    Reserved(String),
}

/// First path segments the server uses itself: no user or organisation may take them, or
/// their repos' URLs would collide with the server's routes.
pub const RESERVED_NAMESPACES: &[&str] = &[
    "api",
    "assets",
    "collections",
    "datasets",
    "docs",
    "login",
    "logout",
    "models",
    "new",
    "organizations",
    "settings",
    "spaces",
    "static",
    "status",
    "healthz",
    // The Xet CAS, and where hf_xet posts its telemetry.
    "xet-cas",
    "v1",
];

/// Checks a user or organisation name: a valid [`Name`] that is not reserved.
pub fn namespace_name(s: &str) -> Result<Name, NameError> {
    let name = Name::parse(s)?;
    if RESERVED_NAMESPACES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(s))
    {
        return Err(NameError::Reserved(s.to_owned()));
    }
    Ok(name)
}

/// A validated user, organisation or repo name, following the Hub's rules: ASCII letters,
/// digits, `-`, `_` and `.`; no `--` or `..`; not starting or ending with `-` or `.`;
/// at most 96 characters. These rules also make a name safe as one path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        let chars = s.chars().count();
        if chars > MAX_NAME_LEN {
            return Err(NameError::TooLong(chars));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(NameError::ForbiddenChar(c));
        }
        if s.contains("--") || s.contains("..") {
            return Err(NameError::DoubledSeparator);
        }
        if s.starts_with(['-', '.']) || s.ends_with(['-', '.']) {
            return Err(NameError::BadEdge);
        }
        if s.to_ascii_lowercase().ends_with(".git") {
            // `acme/model.git` in a URL means the repo `acme/model`; a repo named `model.git`
            // could never be addressed.
            return Err(NameError::GitSuffix);
        }
        Ok(Name(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::parse(s)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Name::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The three kinds of repo the Hub has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoType {
    Model,
    Dataset,
    Space,
}

impl RepoType {
    pub const ALL: [RepoType; 3] = [RepoType::Model, RepoType::Dataset, RepoType::Space];

    pub fn as_str(self) -> &'static str {
        match self {
            RepoType::Model => "model",
            RepoType::Dataset => "dataset",
            RepoType::Space => "space",
        }
    }

    /// The plural used in URLs and on disk: `models`, `datasets`, `spaces`.
    pub fn plural(self) -> &'static str {
        match self {
            RepoType::Model => "models",
            RepoType::Dataset => "datasets",
            RepoType::Space => "spaces",
        }
    }

    /// The type a plural names (`models` in `/api/models/...`).
    pub fn from_plural(s: &str) -> Option<RepoType> {
        RepoType::ALL.into_iter().find(|t| t.plural() == s)
    }

    /// The prefix of this type's web and git URLs: empty for models, `datasets/` or `spaces/`.
    pub fn url_prefix(self) -> &'static str {
        match self {
            RepoType::Model => "",
            RepoType::Dataset => "datasets/",
            RepoType::Space => "spaces/",
        }
    }
}

impl fmt::Display for RepoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown repo type {0:?}; expected model, dataset or space")]
pub struct UnknownRepoType(pub String);

impl FromStr for RepoType {
    type Err = UnknownRepoType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "model" | "models" => Ok(RepoType::Model),
            "dataset" | "datasets" => Ok(RepoType::Dataset),
            "space" | "spaces" => Ok(RepoType::Space),
            other => Err(UnknownRepoType(other.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoIdError {
    #[error("repo id {0:?} must have the form NAMESPACE/NAME")]
    Shape(String),
    #[error("namespace: {0}")]
    Namespace(NameError),
    #[error("repo name: {0}")]
    Name(NameError),
}

/// `namespace/name`: the namespace is a user or an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoId {
    pub namespace: Name,
    pub name: Name,
}

impl RepoId {
    pub fn parse(s: &str) -> Result<Self, RepoIdError> {
        let (ns, name) = s
            .split_once('/')
            .ok_or_else(|| RepoIdError::Shape(s.to_owned()))?;
        Self::from_parts(ns, name)
    }

    pub fn from_parts(ns: &str, name: &str) -> Result<Self, RepoIdError> {
        Ok(RepoId {
            namespace: Name::parse(ns).map_err(RepoIdError::Namespace)?,
            name: Name::parse(name).map_err(RepoIdError::Name)?,
        })
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl FromStr for RepoId {
    type Err = RepoIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RepoId::parse(s)
    }
}

/// A repo together with its type: what a URL or a hook names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoRef {
    pub repo_type: RepoType,
    pub id: RepoId,
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.repo_type.url_prefix(), self.id)
    }
}

/// What someone may do with a repo, in increasing order. Token roles use `Read` and `Write`;
/// organisation members and repo owners can also be `Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; expected read, write or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

/// Whether a ref name may be created or updated by a push. Branches and tags are open to
/// pushes; `refs/pr/N` is written by the server's pull-request API only, and anything else
/// (notes, custom namespaces) is refused so a repo holds only what the Hub shows.
pub fn pushable_ref(name: &str) -> Result<(), RefError> {
    let rest = if let Some(r) = name.strip_prefix("refs/heads/") {
        r
    } else if let Some(r) = name.strip_prefix("refs/tags/") {
        r
    } else if name.starts_with("refs/pr/") {
        return Err(RefError::PullRequestRef(name.to_owned()));
    } else {
        return Err(RefError::Namespace(name.to_owned()));
    };
    if rest.is_empty() {
        return Err(RefError::Namespace(name.to_owned()));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("{0}: only branches (refs/heads/*) and tags (refs/tags/*) can be pushed")]
    Namespace(String),
    #[error("{0}: pull-request refs are created through the API, not by a push")]
    PullRequestRef(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_hub_rules() {
        for ok in ["a", "bert-base", "llama_7b", "v1.2", "A9", &"x".repeat(96)] {
            assert!(Name::parse(ok).is_ok(), "{ok}");
        }
        let cases: [(&str, NameError); 10] = [
            ("", NameError::Empty),
            (&"x".repeat(97), NameError::TooLong(97)),
            ("a/b", NameError::ForbiddenChar('/')),
            ("a b", NameError::ForbiddenChar(' ')),
            ("a\0b", NameError::ForbiddenChar('\0')),
            ("é", NameError::ForbiddenChar('é')),
            ("a--b", NameError::DoubledSeparator),
            ("..", NameError::DoubledSeparator),
            ("-a", NameError::BadEdge),
            ("model.git", NameError::GitSuffix),
        ];
        for (bad, err) in cases {
            assert_eq!(Name::parse(bad), Err(err), "{bad:?}");
        }
        assert_eq!(Name::parse("."), Err(NameError::BadEdge));
        assert_eq!(
            namespace_name("Datasets"),
            Err(NameError::Reserved("Datasets".into()))
        );
        assert!(namespace_name("acme").is_ok());
    }

    #[test]
    fn repo_ids_need_two_valid_parts() {
        let id = RepoId::parse("acme/llama-7b").unwrap();
        assert_eq!(id.to_string(), "acme/llama-7b");
        assert!(matches!(RepoId::parse("acme"), Err(RepoIdError::Shape(_))));
        assert!(matches!(
            RepoId::parse("acme/a/b"),
            Err(RepoIdError::Name(NameError::ForbiddenChar('/')))
        ));
        assert!(matches!(
            RepoId::parse("../x"),
            Err(RepoIdError::Namespace(_))
        ));
    }

    #[test]
    fn only_branches_and_tags_are_pushable() {
        assert!(pushable_ref("refs/heads/main").is_ok());
        assert!(pushable_ref("refs/tags/v1").is_ok());
        assert!(pushable_ref("refs/pr/1").is_err());
        assert!(pushable_ref("refs/notes/x").is_err());
        assert!(pushable_ref("refs/heads/").is_err());
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Read < Role::Write && Role::Write < Role::Admin);
        assert_eq!("write".parse::<Role>().unwrap(), Role::Write);
        assert!("owner".parse::<Role>().is_err());
    }
}

/// A Git LFS object id: the SHA-256 of the content, as 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct LfsOid(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid object id {0:?}: expected 64 lowercase hex characters (a SHA-256)")]
pub struct LfsOidError(pub String);

impl LfsOid {
    pub fn parse(s: &str) -> Result<Self, LfsOidError> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(LfsOid(s.to_owned()))
        } else {
            let shown: String = s.chars().take(80).collect();
            Err(LfsOidError(shown))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LfsOid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The LFS object ids a small blob names, if it looks like a pointer: every `sha256:` id in
/// it, so that even a malformed pointer keeps what it names.
pub fn lfs_pointer_oids(bytes: &[u8]) -> impl Iterator<Item = &str> {
    let text = if bytes.starts_with(b"version https://") {
        std::str::from_utf8(bytes).unwrap_or("")
    } else {
        ""
    };
    text.match_indices("sha256:").filter_map(move |(i, _)| {
        let id = text.get(i + 7..i + 7 + 64)?;
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            .then_some(id)
    })
}

#[cfg(test)]
mod lfs_tests {
    use super::*;

    #[test]
    fn pointers_name_their_objects_even_when_malformed() {
        let oid = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";
        let good =
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 12345\n");
        assert_eq!(lfs_pointer_oids(good.as_bytes()).collect::<Vec<_>>(), [oid]);
        let odd = format!("version https://git-lfs.github.com/spec/v1\r\noid sha256:{oid}");
        assert_eq!(lfs_pointer_oids(odd.as_bytes()).collect::<Vec<_>>(), [oid]);
        assert_eq!(lfs_pointer_oids(b"just text sha256:abc").count(), 0);
        let not_pointer = format!("see sha256:{oid}");
        assert_eq!(lfs_pointer_oids(not_pointer.as_bytes()).count(), 0);
    }

    #[test]
    fn oids_are_64_lowercase_hex() {
        let ok = "a".repeat(64);
        assert!(LfsOid::parse(&ok).is_ok());
        for bad in [
            "",
            &"a".repeat(63),
            &"a".repeat(65),
            &"A".repeat(64),
            &"g".repeat(64),
        ] {
            assert!(LfsOid::parse(bad).is_err(), "{bad}");
        }
        assert!(LfsOid::parse(&format!("../{}", "a".repeat(61))).is_err());
    }
}
