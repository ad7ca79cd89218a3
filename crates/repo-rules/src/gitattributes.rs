//! Which paths `.gitattributes` sends to Git LFS (`filter=lfs`), matched as git matches: a
//! pattern without `/` matches a file name at any depth; one with `/` matches from the root.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

pub struct LfsPatterns {
    set: GlobSet,
}

impl LfsPatterns {
    pub fn parse(gitattributes: &str) -> Self {
        let mut set = GlobSetBuilder::new();
        for line in gitattributes.lines() {
            let mut parts = line.split_whitespace();
            let Some(pattern) = parts.next().filter(|p| !p.starts_with('#')) else {
                continue;
            };
            if !parts.any(|a| a == "filter=lfs") {
                continue;
            }
            let glob = if pattern.contains('/') {
                pattern.trim_start_matches('/').to_owned()
            } else {
                format!("**/{pattern}")
            };
            if let Ok(g) = GlobBuilder::new(&glob).literal_separator(true).build() {
                set.add(g);
            }
        }
        LfsPatterns {
            set: set.build().unwrap_or_else(|_| GlobSet::empty()),
        }
    }

    pub fn is_lfs(&self, path: &str) -> bool {
        self.set.is_match(path)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns() {
        let p = super::LfsPatterns::parse("*.bin filter=lfs diff=lfs\nsaved_model/**/* filter=lfs\n*tfevents* filter=lfs\n# c\n*.txt text\n");
        assert!(
            p.is_lfs("a.bin")
                && p.is_lfs("x/y/a.bin")
                && p.is_lfs("saved_model/v/w")
                && p.is_lfs("logs/events.out.tfevents.1")
        );
        assert!(!p.is_lfs("a.txt") && !p.is_lfs("other/saved_model_x"));
    }
}
