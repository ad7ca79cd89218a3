//! The permission rule, as one pure function so every surface (git, LFS, API, pages) asks the
//! same question and gets the same answer.

use hub_types::Role;

use crate::Repo;

/// Who is making a request: a user, authenticated by one of their tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub name: String,
    pub is_admin: bool,
    /// The role of the token used; it caps what the user could otherwise do.
    pub token_role: Role,
}

/// What `who` may do with `repo`, or `None` when they may not even know it exists.
/// `org_role` is `who`'s role in the organisation that owns the repo, if any.
///
/// - Anyone may read a public repo.
/// - A site admin, the user who owns the namespace, or a member of the owning organisation get
///   their role (owner and admin: `Admin`), capped by the token's role.
pub fn access(who: Option<&Principal>, org_role: Option<Role>, repo: &Repo) -> Option<Role> {
    access_to(who, org_role, repo.namespace.as_str(), repo.private)
}

/// [`access`] for anything a namespace owns that is public or private (a repo, a collection).
pub fn access_to(
    who: Option<&Principal>,
    org_role: Option<Role>,
    namespace: &str,
    private: bool,
) -> Option<Role> {
    let public = (!private).then_some(Role::Read);
    let Some(p) = who else { return public };
    let own = if p.is_admin || p.name.eq_ignore_ascii_case(namespace) {
        Some(Role::Admin)
    } else {
        org_role
    };
    let capped = own.map(|r| r.min(p.token_role));
    capped.max(public)
}

/// Whether `who` administers `repo` whatever their token: a site admin, the user who owns the
/// namespace, or an admin of the owning organisation (`org_role`, `who`'s role in it).
pub fn owns(who: &Principal, org_role: Option<Role>, repo: &Repo) -> bool {
    who.is_admin
        || who.name.eq_ignore_ascii_case(repo.namespace.as_str())
        || org_role == Some(Role::Admin)
}

/// Whether what `who` may do with `repo` depends on their role in its namespace's
/// organisation (else [`access`] and [`owns`] need no such role).
pub fn needs_org_role(who: &Principal, repo: &Repo) -> bool {
    !who.is_admin && !who.name.eq_ignore_ascii_case(repo.namespace.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_types::{Name, RepoType};

    fn repo(ns: &str, private: bool) -> Repo {
        Repo {
            id: 1,
            repo_type: RepoType::Model,
            namespace: Name::parse(ns).unwrap(),
            name: Name::parse("m").unwrap(),
            private,
            created_at: String::new(),
            downloads: 0,
        }
    }

    fn user(name: &str, token_role: Role) -> Principal {
        Principal {
            user_id: 7,
            name: name.into(),
            is_admin: false,
            token_role,
        }
    }

    #[test]
    fn matrix() {
        let public = repo("alice", false);
        let private = repo("alice", true);
        assert_eq!(access(None, None, &public), Some(Role::Read));
        assert_eq!(access(None, None, &private), None);
        let alice_w = user("alice", Role::Write);
        let alice_r = user("alice", Role::Read);
        assert_eq!(access(Some(&alice_w), None, &private), Some(Role::Write));
        assert_eq!(access(Some(&alice_r), None, &private), Some(Role::Read));
        let bob = user("bob", Role::Write);
        assert_eq!(access(Some(&bob), None, &private), None);
        assert_eq!(access(Some(&bob), None, &public), Some(Role::Read));
        let acme = repo("acme", true);
        assert_eq!(
            access(Some(&bob), Some(Role::Read), &acme),
            Some(Role::Read)
        );
        assert_eq!(
            access(Some(&bob), Some(Role::Admin), &acme),
            Some(Role::Write)
        );
        let bob_r = user("bob", Role::Read);
        assert_eq!(
            access(Some(&bob_r), Some(Role::Admin), &acme),
            Some(Role::Read)
        );
        let admin = Principal {
            is_admin: true,
            ..user("root", Role::Write)
        };
        assert_eq!(access(Some(&admin), None, &private), Some(Role::Write));
    }
}
