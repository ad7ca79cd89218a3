//! Admin commands. They open the same database as a running server (SQLite in WAL mode), so
//! they are safe to use while it serves.

use std::path::{Path, PathBuf};

use crate::database::SharedArgs;
use anyhow::{Context, Result};
use clap::Subcommand;
use git_repos::GitRepos;
use http_api::Hub;
use hub_types::{namespace_name, RepoId, RepoRef, RepoType, Role};

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user.
    Create {
        name: String,
        /// Site admin: full access to every repo.
        #[arg(long)]
        admin: bool,
        /// The name shown beside the user name (whoami, the API, pages).
        #[arg(long)]
        fullname: Option<String>,
    },
    /// Set (or, with "", clear) a user's full name.
    SetFullname { name: String, fullname: String },
}

#[derive(Subcommand)]
pub enum OrgCmd {
    /// Create an organisation, with OWNER as its first admin.
    Create {
        name: String,
        #[arg(long)]
        owner: String,
        /// The name shown beside the organisation's name.
        #[arg(long)]
        fullname: Option<String>,
    },
    /// Set (or, with "", clear) an organisation's full name.
    SetFullname { name: String, fullname: String },
    /// Make repos the organisation creates without saying private or public private (on),
    /// or public (off, the default).
    PrivateByDefault {
        org: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Add a member to an organisation, or change a member's role.
    AddMember {
        org: String,
        user: String,
        #[arg(long, value_parser = ["read", "write", "admin"])]
        role: String,
    },
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create an access token; prints it, alone, on stdout. It is shown only this once.
    Create {
        user: String,
        #[arg(long, value_parser = ["read", "write"])]
        role: String,
        /// A label to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List a user's tokens: id, role, label and creation time (secrets are never stored).
    List { user: String },
    /// Revoke one of a user's tokens by its id (from `token list`); it stops working at once
    /// (on SQLite, within the server's two-second token cache).
    Revoke { user: String, id: i64 },
}

#[derive(Subcommand)]
pub enum RepoCmd {
    /// Create a repo (with an initial commit holding the default .gitattributes).
    Create {
        /// NAMESPACE/NAME, where NAMESPACE is a user or an organisation.
        id: String,
        #[arg(long = "type", default_value = "model", value_parser = ["model", "dataset", "space"])]
        repo_type: String,
        #[arg(long)]
        private: bool,
    },
}

/// The data directory's layout, in one place.
pub struct DataDir(PathBuf);

impl DataDir {
    pub fn new(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the data directory {}", root.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", root.display()))?;
        Ok(DataDir(root))
    }

    pub fn root(&self) -> &Path {
        &self.0
    }

    /// The key that signs LFS transfer links: 32 random bytes made on first start, readable
    /// only by the server's user. Links signed with it stay valid across restarts.
    pub fn signing_key(&self) -> Result<Vec<u8>> {
        let path = self.0.join("signing.key");
        match std::fs::read(&path) {
            Ok(key) if key.len() >= 32 => return Ok(key),
            Ok(_) => anyhow::bail!("{} is shorter than 32 bytes", path.display()),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            Err(_) => {}
        }
        let mut key = vec![0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
        let tmp = self.0.join(".signing.key.tmp");
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(&key)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok(key)
    }

    pub async fn hub(&self, db: &SharedArgs) -> Result<Hub> {
        let accounts = db.open(&self.0).await?;
        let repos = GitRepos::new(db.repos(&self.0), self.0.join("hooks"));
        Ok(Hub { accounts, repos })
    }
}

async fn open(data_dir: &Path, db: &SharedArgs) -> Result<Hub> {
    DataDir::new(data_dir)?.hub(db).await
}

pub async fn user(data_dir: &Path, db: &SharedArgs, cmd: UserCmd) -> Result<()> {
    let hub = open(data_dir, db).await?;
    match cmd {
        UserCmd::Create {
            name,
            admin,
            fullname,
        } => {
            let name =
                namespace_name(&name).with_context(|| format!("invalid user name {name:?}"))?;
            // Checked before the user exists, so a bad full name creates nobody.
            if let Some(f) = &fullname {
                check_fullname(f)?;
            }
            hub.accounts.create_user(&name, admin).await?;
            if let Some(f) = &fullname {
                hub.accounts.set_fullname(&name, f).await?;
            }
            eprintln!("created user {name}{}", if admin { " (admin)" } else { "" });
        }
        UserCmd::SetFullname { name, fullname } => {
            let name =
                namespace_name(&name).with_context(|| format!("invalid user name {name:?}"))?;
            hub.accounts.user(name.as_str()).await?;
            hub.accounts.set_fullname(&name, &fullname).await?;
            eprintln!("{name}'s full name is now {:?}", fullname.trim());
        }
    }
    Ok(())
}

/// A full name's rules, checked before anything is created.
fn check_fullname(f: &str) -> Result<()> {
    let f = f.trim();
    if f.chars().count() > accounts::MAX_FULLNAME || f.chars().any(char::is_control) {
        anyhow::bail!(accounts::AccountsError::BadFullname(
            f.chars().take(200).collect()
        ));
    }
    Ok(())
}

pub async fn org(data_dir: &Path, db: &SharedArgs, cmd: OrgCmd) -> Result<()> {
    let hub = open(data_dir, db).await?;
    match cmd {
        OrgCmd::Create {
            name,
            owner,
            fullname,
        } => {
            let name = namespace_name(&name)
                .with_context(|| format!("invalid organisation name {name:?}"))?;
            if let Some(f) = &fullname {
                check_fullname(f)?;
            }
            hub.accounts.create_org(&name, &owner).await?;
            if let Some(f) = &fullname {
                hub.accounts.set_fullname(&name, f).await?;
            }
            eprintln!("created organisation {name} with {owner} as admin");
        }
        OrgCmd::PrivateByDefault { org, state } => {
            hub.accounts
                .set_private_by_default(&org, state == "on")
                .await?;
            eprintln!(
                "repos {org} creates without saying are now {}",
                if state == "on" { "private" } else { "public" }
            );
        }
        OrgCmd::SetFullname { name, fullname } => {
            let name = namespace_name(&name)
                .with_context(|| format!("invalid organisation name {name:?}"))?;
            hub.accounts.org(name.as_str()).await?;
            hub.accounts.set_fullname(&name, &fullname).await?;
            eprintln!("{name}'s full name is now {:?}", fullname.trim());
        }
        OrgCmd::AddMember { org, user, role } => {
            let role: Role = role.parse()?;
            hub.accounts.set_member(&org, &user, role).await?;
            eprintln!("{user} is now a {role} member of {org}");
        }
    }
    Ok(())
}

pub async fn token(data_dir: &Path, db: &SharedArgs, cmd: TokenCmd) -> Result<()> {
    let hub = open(data_dir, db).await?;
    match cmd {
        TokenCmd::Create { user, role, name } => {
            let role: Role = role.parse()?;
            let (_, secret) = hub.accounts.create_token(&user, role, &name).await?;
            println!("{secret}");
        }
        TokenCmd::List { user } => {
            let tokens = hub.accounts.list_tokens(&user).await?;
            for (t, created) in &tokens {
                println!("{}\t{}\t{}\t{created}", t.id, t.role, t.label);
            }
            eprintln!("{user} has {} token(s)", tokens.len());
        }
        TokenCmd::Revoke { user, id } => {
            if !hub.accounts.revoke_token(&user, id).await? {
                anyhow::bail!("{user} has no token {id} (see `modelhub token list {user}`)");
            }
            eprintln!("revoked token {id} of {user}");
        }
    }
    Ok(())
}

pub async fn repo(data_dir: &Path, db: &SharedArgs, cmd: RepoCmd) -> Result<()> {
    let RepoCmd::Create {
        id,
        repo_type,
        private,
    } = cmd;
    let repo_type: RepoType = repo_type.parse()?;
    let id = RepoId::parse(&id).with_context(|| format!("invalid repo id {id:?}"))?;
    let target = RepoRef { repo_type, id };
    let hub = open(data_dir, db).await?;
    let author = target.id.namespace.to_string();
    let (record, commit) = hub.create_repo(&target, private, &author, None).await?;
    eprintln!(
        "created {} {}repo {} at commit {commit}",
        record.repo_type,
        if private { "private " } else { "" },
        record.repo_ref()
    );
    Ok(())
}
