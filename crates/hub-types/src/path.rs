//! Paths of files inside a repo, as a write may name them: relative, `/`-separated, no empty,
//! `.` or `..` component, no control character or backslash, and nothing a checkout would treat as the
//! repository's own `.git` folder on any file system (git's `verify_path` with both
//! `core.protectNTFS` and `core.protectHFS`: `.GIT`, `.git.`, `.git ` and `.git::$DATA` on
//! Windows, the 8.3 short name `git~1`, and `.git` with invisible Unicode characters on macOS).

/// The longest path accepted, in bytes (git's own limit on most systems is 4096).
pub const MAX_PATH_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is empty")]
    Empty,
    #[error("{0:?} is absolute; paths in a repo are relative to its root")]
    Absolute(String),
    #[error("the path is over {MAX_PATH_BYTES} bytes")]
    TooLong,
    #[error("{0:?} has an empty, `.` or `..` component")]
    BadComponent(String),
    #[error("{0:?} contains a control character")]
    ControlChar(String),
    #[error("{0:?} contains a backslash; paths in a repo are separated by /")]
    Backslash(String),
    #[error("{path:?}: {component:?} names the repository's .git folder on some file systems")]
    DotGit { path: String, component: String },
}

/// Checks a path a write names (a pushed tree entry, a commit operation, a copy target).
pub fn check_repo_path(path: &str) -> Result<(), PathError> {
    let shown = || path.chars().take(200).collect::<String>();
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute(shown()));
    }
    if path.chars().any(char::is_control) {
        return Err(PathError::ControlChar(shown()));
    }
    // A backslash is a separator on Windows: `..\x` would climb out of a checkout there.
    if path.contains('\\') {
        return Err(PathError::Backslash(shown()));
    }
    for c in path.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return Err(PathError::BadComponent(shown()));
        }
        if is_dot_git(c) {
            return Err(PathError::DotGit {
                path: shown(),
                component: c.to_owned(),
            });
        }
    }
    Ok(())
}

/// Whether a path component would be the `.git` folder on Windows, macOS or Linux.
pub fn is_dot_git(component: &str) -> bool {
    // HFS+ ignores these code points in names (git's is_hfs_dotgit).
    let visible: String = component
        .chars()
        .filter(|c| {
            !matches!(*c as u32,
                0x200C..=0x200F | 0x202A..=0x202E | 0x206A..=0x206F | 0xFEFF)
        })
        .collect();
    // NTFS drops trailing dots and spaces and reads `name:stream` as `name`.
    let base = visible.split(':').next().unwrap_or("");
    let trimmed = base.trim_end_matches(['.', ' ']);
    trimmed.eq_ignore_ascii_case(".git") || trimmed.eq_ignore_ascii_case("git~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_git_in_every_spelling_is_refused() {
        for bad in [
            ".git/config",
            ".GIT/config",
            "a/.Git/hooks/post-checkout",
            "git~1/config",
            "GIT~1/config",
            ".git./config",
            ".git /config",
            ".git::$INDEX_ALLOCATION/config",
            ".g\u{200c}it/config",
            "\u{feff}.git/config",
        ] {
            assert!(
                matches!(check_repo_path(bad), Err(PathError::DotGit { .. })),
                "{bad:?}"
            );
        }
        for ok in [
            ".gitattributes",
            ".github/workflows/ci.yml",
            "dir/.gitignore",
            "git~2/x",
            "my.git/x",
            "README.md",
        ] {
            assert_eq!(check_repo_path(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn other_bad_paths() {
        assert_eq!(check_repo_path(""), Err(PathError::Empty));
        assert!(matches!(
            check_repo_path("/etc/x"),
            Err(PathError::Absolute(_))
        ));
        for bad in ["a//b", "a/./b", "../x", "a/"] {
            assert!(
                matches!(check_repo_path(bad), Err(PathError::BadComponent(_))),
                "{bad}"
            );
        }
        for bad in ["a\0b", "a\nb", "a\u{1b}[31m"] {
            assert!(
                matches!(check_repo_path(bad), Err(PathError::ControlChar(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_repo_path(&"a".repeat(MAX_PATH_BYTES + 1)),
            Err(PathError::TooLong)
        );
    }
}
