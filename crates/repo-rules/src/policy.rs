//! The server's validation policy: each rule's severity (error, warning, off), set globally,
//! per namespace and per repo in a TOML file that lives with the server, never in a repo.
//!
//! ```toml
//! [rules]
//! card-license-missing = "error"
//!
//! [namespaces.acme.rules]
//! card-library = "off"
//!
//! [repos."acme/llama-7b".rules]
//! large-file = "warning"
//!
//! # repos imported from another hub (`modelhub mirror`): by default every error is a
//! # warning there, except malicious pickles and lying weights headers
//! [import.rules]
//! card-license = "error"
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{default_severity, Severities, Severity, RULES};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("policy: unknown rule {0:?} (see `modelhub policy show` for the rule ids)")]
    UnknownRule(String),
    #[error("policy: severity {1:?} for rule {0:?} must be error, warning or off")]
    BadSeverity(String, String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scope {
    #[serde(default)]
    rules: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rules: BTreeMap<String, String>,
    #[serde(default)]
    namespaces: BTreeMap<String, Scope>,
    #[serde(default)]
    repos: BTreeMap<String, Scope>,
    #[serde(default)]
    import: Scope,
}

type Overrides = Vec<(String, Severity)>;

/// A parsed, validated policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    global: Overrides,
    namespaces: BTreeMap<String, Overrides>,
    repos: BTreeMap<String, Overrides>,
    /// `[import.rules]`, over the import defaults.
    import: Overrides,
}

/// Rules that refuse imported content too (see [`Policy::for_import`]): code a pickle would
/// run, weights whose header lies, and pointers to content that is not there.
pub const IMPORT_BLOCKING: &[&str] = &[
    "pickle-blocked",
    "safetensors-invalid",
    "lfs-missing",
    "lfs-pointer",
];

fn parse_rules(rules: BTreeMap<String, String>) -> Result<Overrides, PolicyError> {
    rules
        .into_iter()
        .map(|(rule, sev)| {
            if default_severity(&rule).is_none() {
                return Err(PolicyError::UnknownRule(rule));
            }
            let s = match sev.as_str() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                "off" => Severity::Off,
                _ => return Err(PolicyError::BadSeverity(rule, sev)),
            };
            Ok((rule, s))
        })
        .collect()
}

impl Policy {
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let f: File = toml::from_str(text)?;
        let scoped =
            |m: BTreeMap<String, Scope>| -> Result<BTreeMap<String, Overrides>, PolicyError> {
                m.into_iter()
                    .map(|(k, s)| Ok((k.to_ascii_lowercase(), parse_rules(s.rules)?)))
                    .collect()
            };
        Ok(Policy {
            global: parse_rules(f.rules)?,
            namespaces: scoped(f.namespaces)?,
            repos: scoped(f.repos)?,
            import: parse_rules(f.import.rules)?,
        })
    }

    /// Reads the policy file; a missing file means every rule at its default severity.
    pub fn load(path: &std::path::Path) -> Result<Self, PolicyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Policy::parse(&text),
            Err(_) if !path.exists() => Ok(Policy::default()),
            Err(e) => Err(PolicyError::BadSeverity(
                path.display().to_string(),
                e.to_string(),
            )),
        }
    }

    /// The severities for one repo (`ns/name`): repo settings over namespace settings over
    /// global ones over the defaults.
    pub fn for_repo(&self, repo: Option<&str>) -> Severities {
        let mut overrides = self.global.clone();
        if let Some(repo) = repo.map(str::to_ascii_lowercase) {
            let ns = repo.split('/').next().unwrap_or_default();
            overrides.extend(self.namespaces.get(ns).cloned().unwrap_or_default());
            overrides.extend(self.repos.get(&repo).cloned().unwrap_or_default());
        }
        Severities { overrides }
    }

    /// The severities for content imported from another hub: each rule as the global
    /// settings have it, errors made warnings (the content exists upstream; a team wants to
    /// see what it carries, not to be refused it) except [`IMPORT_BLOCKING`]'s; then
    /// `[import.rules]`.
    pub fn for_import(&self) -> Severities {
        let global = self.for_repo(None);
        let mut overrides: Overrides = RULES
            .iter()
            .filter(|(id, _, _)| {
                global.severity(id) == Severity::Error && !IMPORT_BLOCKING.contains(id)
            })
            .map(|(id, _, _)| ((*id).to_owned(), Severity::Warning))
            .collect();
        overrides.extend(self.import.iter().cloned());
        Severities { overrides }
    }

    /// Every rule with its effective severity for `repo`, and what it checks.
    pub fn table(&self, repo: Option<&str>) -> Vec<(&'static str, Severity, &'static str)> {
        let s = self.for_repo(repo);
        RULES
            .iter()
            .map(|(id, _, what)| (*id, s.severity(id), *what))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_warn_where_pushes_fail_except_for_what_is_dangerous() {
        let p = Policy::parse("[import.rules]\ncard-license = \"error\"\n").unwrap();
        let s = p.for_import();
        assert_eq!(s.severity("large-file"), Severity::Warning);
        assert_eq!(s.severity("card-license"), Severity::Error);
        assert_eq!(s.severity("pickle-blocked"), Severity::Error);
        assert_eq!(s.severity("safetensors-invalid"), Severity::Error);
        assert_eq!(p.for_repo(None).severity("large-file"), Severity::Error);
        assert!(Policy::parse("[import.rules]\nnope = \"error\"\n").is_err());
    }

    #[test]
    fn scopes_override_in_order() {
        let p = Policy::parse(
            r#"
            [rules]
            card-library = "error"
            [namespaces.acme.rules]
            card-library = "off"
            [repos."acme/special".rules]
            card-library = "warning"
            "#,
        )
        .unwrap();
        assert_eq!(p.for_repo(None).severity("card-library"), Severity::Error);
        assert_eq!(
            p.for_repo(Some("bob/x")).severity("card-library"),
            Severity::Error
        );
        assert_eq!(
            p.for_repo(Some("acme/x")).severity("card-library"),
            Severity::Off
        );
        assert_eq!(
            p.for_repo(Some("ACME/Special")).severity("card-library"),
            Severity::Warning
        );
        assert_eq!(
            p.for_repo(Some("acme/x")).severity("large-file"),
            Severity::Error
        );
        assert!(matches!(
            Policy::parse("[rules]\nnope = \"off\""),
            Err(PolicyError::UnknownRule(_))
        ));
        assert!(matches!(
            Policy::parse("[rules]\nlarge-file = \"loud\""),
            Err(PolicyError::BadSeverity(..))
        ));
        assert!(Policy::parse("[other]\n").is_err());
    }
}
