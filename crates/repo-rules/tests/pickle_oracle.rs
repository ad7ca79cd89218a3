//! The pickle scanner against CPython itself: fixtures/pickles holds crafted pickles (protocol
//! 0 and 1, memo keys as `int()` reads them, POP_MARK, escapes, attribute paths, payloads after
//! a big prefix, several pickles in a row), each labelled by CPython's own unpickler with the
//! imports `pickle.load` makes (fixtures/make-pickles.py). Every one must be reported, and
//! every dangerous one judged so.

use std::collections::BTreeMap;
use std::path::Path;

use repo_rules::weights::pickle::{scan_bytes, verdict, Verdict};

#[derive(serde::Deserialize)]
struct Label {
    imports: Vec<String>,
    loads: bool,
}

#[test]
fn every_import_cpython_makes_is_reported() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pickles");
    let labels: BTreeMap<String, Label> =
        serde_json::from_slice(&std::fs::read(dir.join("labels.json")).unwrap()).unwrap();
    assert!(labels.len() >= 20, "the corpus is there");
    for (name, label) in &labels {
        let data = std::fs::read(dir.join(name)).unwrap();
        let report = scan_bytes(&data, true);
        let found: Vec<String> = report.imports.iter().map(|i| i.to_string()).collect();
        for want in &label.imports {
            assert!(
                found.contains(want),
                "{name}: CPython imports {want}; the scanner found {found:?} ({:?})",
                report.error
            );
        }
        assert!(report.is_pickle, "{name}");
        // A pickle that loads is read to its end; one that fails is reported as failing.
        assert_eq!(
            report.error.is_none(),
            label.loads,
            "{name}: {:?}",
            report.error
        );
        let dangerous = report
            .imports
            .iter()
            .any(|i| verdict(i) == Verdict::Dangerous);
        assert_eq!(dangerous, !name.starts_with("benign"), "{name}: {found:?}");
    }
}
