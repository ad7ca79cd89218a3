//! Findings as people read them: in a `git push` (each line becomes `remote: ...`, and git
//! colours lines that start with `error`, `warning` and `hint`), and in `modelhub validate`.

use std::fmt::Write;

use crate::{Finding, Severity};

const RULE: &str = "-------------------------------------------------------------------------";

/// The findings of one pushed ref.
pub struct RefFindings<'a> {
    pub ref_name: &'a str,
    pub findings: &'a [Finding],
}

/// Counts of errors and warnings.
pub fn counts(findings: &[Finding]) -> (usize, usize) {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    (errors, findings.len() - errors)
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The text a pusher sees: errors first with their hints, then warnings; files over 10 MiB in
/// the Hub's own words, unknown LFS objects as GitHub words them; then a one-line summary.
pub fn push_report(repo: &str, refs: &[RefFindings<'_>]) -> String {
    let mut out = String::new();
    let all: Vec<(&str, &Finding)> = refs
        .iter()
        .flat_map(|r| r.findings.iter().map(move |f| (r.ref_name, f)))
        .collect();
    let is = |f: &Finding, rule: &str, sev: Severity| f.rule == rule && f.severity == sev;
    for sev in [Severity::Error, Severity::Warning] {
        let large: Vec<_> = all
            .iter()
            .filter(|(_, f)| is(f, "large-file", sev))
            .collect();
        if !large.is_empty() {
            let _ = writeln!(out, "{RULE}");
            let _ = writeln!(
                out,
                "Your push was rejected because it contains files larger than 10 MiB."
            );
            let _ = writeln!(
                out,
                "Please use https://git-lfs.github.com/ to store large files."
            );
            let _ = writeln!(out);
            let _ = writeln!(out, "Offending files:");
            for (r, f) in &large {
                let _ = writeln!(out, "  - {} (ref: {r})", f.path);
            }
            let _ = writeln!(out, "{RULE}");
        }
        let missing: Vec<_> = all
            .iter()
            .filter(|(_, f)| is(f, "lfs-missing", sev))
            .collect();
        if !missing.is_empty() {
            let _ = writeln!(
                out,
                "{sev}: Your push referenced {} that this repo's LFS store does not hold:",
                plural(missing.len(), "Git LFS object")
            );
            for (_, f) in &missing {
                let _ = writeln!(out, "    {}: {}", f.path, f.message);
            }
            let _ = writeln!(
                out,
                "hint: Try to push them with 'git lfs push --all origin', then push again."
            );
        }
        for (r, f) in all.iter().filter(|(_, f)| f.severity == sev) {
            if f.rule == "large-file" || f.rule == "lfs-missing" {
                continue;
            }
            let at = if refs.len() > 1 {
                format!(" ({r})")
            } else {
                String::new()
            };
            let _ = writeln!(out, "{sev}: {}: {} [{}]{at}", f.path, f.message, f.rule);
            let _ = writeln!(out, "hint:   {}", f.hint);
        }
    }
    let findings: Vec<Finding> = all.iter().map(|(_, f)| (*f).clone()).collect();
    let (errors, warnings) = counts(&findings);
    if errors > 0 {
        let _ = writeln!(
            out,
            "modelhub rejected the push to {repo}: {}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    } else if warnings > 0 {
        let _ = writeln!(
            out,
            "modelhub accepted the push to {repo} with {}",
            plural(warnings, "warning")
        );
    }
    out
}

/// A linter's view for `modelhub validate`: `path: severity: message [rule]` and a hint.
pub fn lint_report(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(
            out,
            "{}: {}: {} [{}]",
            f.path, f.severity, f.message, f.rule
        );
        let _ = writeln!(out, "    hint: {}", f.hint);
    }
    let (errors, warnings) = counts(findings);
    let _ = writeln!(
        out,
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    out
}
