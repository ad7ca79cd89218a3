//! The modelhub binary: `serve`, the admin commands, and the git hooks the server installs.
//! Configuration and wiring live here; everything else is in the library crates.

mod admin;
mod database;
mod fsck;
mod gc;
mod hook;
mod hook_git;
mod hook_server;
mod leftovers;
mod mirror;
mod periodic;
mod serve;
mod storage;
mod usage;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "modelhub",
    version,
    about = "A self-hosted, git-based hub for machine-learning models"
)]
struct Cli {
    /// Where modelhub keeps its database, repos and objects.
    #[arg(
        long,
        global = true,
        env = "MODELHUB_DATA_DIR",
        default_value = "./modelhub-data"
    )]
    data_dir: PathBuf,
    #[command(flatten)]
    db: database::SharedArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<serve::ServeArgs>),
    /// Manage users.
    #[command(subcommand)]
    User(admin::UserCmd),
    /// Manage organisations.
    #[command(subcommand)]
    Org(admin::OrgCmd),
    /// Manage access tokens.
    #[command(subcommand)]
    Token(admin::TokenCmd),
    /// Manage repos.
    #[command(subcommand)]
    Repo(admin::RepoCmd),
    /// Check a local folder with the push rules before pushing it (exit 1 on errors).
    Validate(validate::ValidateArgs),
    /// Show the validation policy.
    #[command(subcommand)]
    Policy(validate::PolicyCmd),
    /// Manage where content is stored.
    #[command(subcommand)]
    Storage(storage::StorageCmd),
    /// Check what is stored: re-hash LFS objects and xorbs, check Xet records, the
    /// registry's links and every repo (`git fsck`); exit 1 on any problem.
    Fsck(fsck::FsckArgs),
    /// Delete stored content no repo reaches any more (LFS objects, Xet files and xorbs)
    /// unless used within the grace period, and repo folders without a repo; safe while the
    /// server serves.
    Gc(gc::GcArgs),
    /// What each user and organisation stores (LFS objects and git data), largest first.
    Usage,
    /// Limit what users and organisations may store.
    #[command(subcommand)]
    Quota(usage::QuotaCmd),
    /// Import repos from another hub and keep them mirrored.
    #[command(subcommand)]
    Mirror(mirror::MirrorCmd),
    /// Entry points for git hooks (run by git, not by people).
    #[command(subcommand)]
    Hook(hook::HookCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hook(cmd) => hook::run(cmd),
        Command::Validate(args) => match validate::run(args) {
            Ok(true) => return ExitCode::FAILURE,
            other => other.map(|_| ()),
        },
        Command::Policy(cmd) => validate::policy(&cli.data_dir, cmd),
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime can be built");
            runtime.block_on(async move {
                match command {
                    Command::Serve(args) => serve::run(cli.data_dir, &cli.db, *args).await,
                    Command::User(c) => admin::user(&cli.data_dir, &cli.db, c).await,
                    Command::Org(c) => admin::org(&cli.data_dir, &cli.db, c).await,
                    Command::Token(c) => admin::token(&cli.data_dir, &cli.db, c).await,
                    Command::Repo(c) => admin::repo(&cli.data_dir, &cli.db, c).await,
                    Command::Storage(c) => storage::run(&cli.data_dir, c).await,
                    Command::Fsck(args) => fsck::run(&cli.data_dir, &cli.db, args).await,
                    Command::Gc(args) => gc::run(&cli.data_dir, &cli.db, args).await,
                    Command::Usage => usage::run(&cli.data_dir, &cli.db).await,
                    Command::Quota(c) => usage::quota(&cli.data_dir, &cli.db, c).await,
                    Command::Mirror(c) => mirror::run(&cli.data_dir, &cli.db, c).await,
                    Command::Hook(_) | Command::Validate(_) | Command::Policy(_) => {
                        unreachable!("handled without a runtime")
                    }
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
