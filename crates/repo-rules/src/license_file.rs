//! A `LICENSE` file whose text is clearly another license than the card declares. The text is
//! matched with the SPDX license detector of the `spdx` crate (askalono's algorithm, with the
//! SPDX license texts built in), never with hand-written patterns.

use std::sync::OnceLock;

use spdx::detection::{Store, TextData};

use crate::card::declared_licenses;
use crate::{finding, ChangedFile, Context, Finding};

const LICENSE_FILES: &[&str] = &["LICENSE", "LICENSE.md", "LICENSE.txt"];
/// Below this score the file is not clearly any one license, and nothing is said.
const CONFIDENT: f32 = 0.9;
/// License texts longer than this are not compared (real ones are under 100 KiB).
const MAX_LICENSE: usize = 512 << 10;

fn store() -> Option<&'static Store> {
    static STORE: OnceLock<Option<Store>> = OnceLock::new();
    STORE.get_or_init(|| Store::load_inline().ok()).as_ref()
}

/// `gpl-3.0` and `GPL-3.0-only` name the same license; so do the Hub's family ids (`gpl`,
/// `bsd`, `cc`, `lgpl`, `gfdl`) and any of their versions.
fn same_license(declared: &str, spdx_id: &str) -> bool {
    let spdx = spdx_id.to_ascii_lowercase();
    let spdx = spdx.trim_end_matches("-only").trim_end_matches("-or-later");
    let d = declared.to_ascii_lowercase();
    d == spdx
        || (["gpl", "lgpl", "agpl", "bsd", "cc", "gfdl"].contains(&d.as_str())
            && spdx.starts_with(&format!("{d}-")))
}

/// Whether a Hub id has an SPDX text to compare against (llama3, openrail, ... do not).
fn comparable(declared: &str) -> bool {
    let d = declared.to_ascii_lowercase();
    ["gpl", "lgpl", "agpl", "bsd", "cc", "gfdl"].contains(&d.as_str())
        || spdx::imprecise_license_id(&d).is_some_and(|(l, _)| same_license(&d, l.name))
}

pub fn check(changed: &[ChangedFile], ctx: &dyn Context, out: &mut Vec<Finding>) {
    let Some(file) = changed
        .iter()
        .find(|f| LICENSE_FILES.contains(&f.path.as_str()))
    else {
        return;
    };
    let card = match changed.iter().find(|f| f.path == "README.md") {
        Some(c) => c.clone(),
        None => match ctx.read("README.md") {
            Some(content) => ChangedFile {
                path: "README.md".into(),
                size: content.len() as u64,
                content,
            },
            None => return,
        },
    };
    let declared = declared_licenses(&card);
    if declared.is_empty() || !declared.iter().all(|d| comparable(d)) {
        return;
    }
    let Ok(text) = std::str::from_utf8(&file.content) else {
        return;
    };
    if !file.complete() || text.len() > MAX_LICENSE || text.trim().is_empty() {
        return;
    }
    let Some(store) = store() else { return };
    let found = store.analyze(&TextData::new(text));
    if found.score < CONFIDENT || declared.iter().any(|d| same_license(d, found.name)) {
        return;
    }
    out.push(finding(
        "license-file-mismatch",
        &file.path,
        format!(
            "{} reads as the {} license ({:.0}% match), but the card declares {}",
            file.path,
            found.name,
            found.score * 100.0,
            declared.join(", ")
        ),
        "make the card's license and the LICENSE file agree",
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(same_license("gpl-3.0", "GPL-3.0-only"));
        assert!(same_license("apache-2.0", "Apache-2.0"));
        assert!(same_license("bsd", "BSD-3-Clause"));
        assert!(!same_license("mit", "Apache-2.0"));
        assert!(comparable("mit") && comparable("apache-2.0") && comparable("gpl-3.0"));
        assert!(!comparable("llama3") && !comparable("openrail") && !comparable("other"));
    }
}
