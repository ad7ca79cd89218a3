//! `modelhub serve`: wiring the libraries into one server.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use http_api::{AppState, Config};
use lfs_store::LfsStore;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::admin::DataDir;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "MODELHUB_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The URL clients use to reach this server (behind a proxy, the proxy's), for absolute links.
    #[arg(long, env = "MODELHUB_PUBLIC_URL")]
    public_url: Option<String>,
    /// Concurrent clones, fetches and pushes allowed per repo; more wait, then get a "busy" message.
    #[arg(long, env = "MODELHUB_MAX_PACK_OPS_PER_REPO", default_value_t = 8)]
    max_pack_ops_per_repo: usize,
    /// Seconds a clone, fetch or push waits for a free slot before it is turned away.
    #[arg(long, env = "MODELHUB_PACK_QUEUE_WAIT", default_value_t = 30)]
    pack_queue_wait: u64,
    /// Seconds of silence from a client or from git after which a transfer is aborted.
    #[arg(long, env = "MODELHUB_IO_TIMEOUT", default_value_t = 600)]
    io_timeout: u64,
    /// Largest Git LFS object accepted, in bytes (the Hub's hard limit: 500 GB).
    #[arg(
        long,
        env = "MODELHUB_MAX_LFS_OBJECT_SIZE",
        default_value_t = 500_000_000_000
    )]
    max_lfs_object_size: u64,
    /// MiB of memory for plain (non-LFS) files being served at once: git gives a file only
    /// whole, so each download holds up to 10 MiB; more wait for others to be sent.
    #[arg(long, env = "MODELHUB_PLAIN_FILE_MEMORY", default_value_t = 128)]
    plain_file_memory: u64,
    /// Entries per page of API listings (repos, tree entries), as the Hub's 1000.
    #[arg(long, env = "MODELHUB_API_PAGE_SIZE", default_value_t = 1000)]
    api_page_size: usize,
    /// Seconds a client has to send a request's headers, and the longest a kept-alive
    /// connection may sit idle between requests.
    #[arg(long, env = "MODELHUB_HEADER_TIMEOUT", default_value_t = 30)]
    header_timeout: u64,
    /// Connections served at once (more wait in the kernel's queue); default: from the
    /// process's open-file limit.
    #[arg(long, env = "MODELHUB_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Seconds requests in flight get to finish after SIGTERM or Ctrl-C before they are cut.
    #[arg(long, env = "MODELHUB_SHUTDOWN_GRACE", default_value_t = 30)]
    shutdown_grace: u64,
    #[command(flatten)]
    storage: crate::storage::StorageArgs,
    /// Hand clients short-lived presigned URLs to download straight from the object store
    /// (LFS batch downloads, `resolve` of LFS files, Xet xorb ranges), after the access check;
    /// needs S3 storage.
    #[arg(long, env = "MODELHUB_S3_DIRECT_DOWNLOADS")]
    s3_direct_downloads: bool,
    /// Seconds a presigned download URL stays valid.
    #[arg(long, env = "MODELHUB_S3_URL_TTL", default_value_t = 600)]
    s3_url_ttl: u64,
    /// Addresses or networks (comma-separated, e.g. `10.0.0.0/8,127.0.0.1`) allowed to read
    /// `GET /metrics`; to others it does not exist.
    #[arg(
        long,
        env = "MODELHUB_METRICS_ALLOW",
        default_value = "127.0.0.1,::1",
        value_delimiter = ','
    )]
    metrics_allow: Vec<String>,
    /// Seconds between sweeps of day-old push quarantines and commit scratch repos from the
    /// repos folder (once per cluster on a shared database); 0: never.
    #[arg(long, env = "MODELHUB_SWEEP_INTERVAL", default_value_t = 3600)]
    sweep_interval: u64,
    /// Seconds between garbage collections (`modelhub gc`, once per cluster on a shared
    /// database); 0: never.
    #[arg(long, env = "MODELHUB_GC_INTERVAL", default_value_t = 0)]
    gc_interval: u64,
    /// Hours the periodic garbage collection keeps what was used (see `modelhub gc --grace`).
    #[arg(long, env = "MODELHUB_GC_GRACE", default_value_t = 24.0, value_parser = crate::gc::hours)]
    gc_grace: f64,
    /// Networks webhooks may not reach (comma-separated; every address a host resolves to
    /// is checked, and redirects are not followed): by default this host, private and shared
    /// ranges, link-local addresses (cloud metadata services) and the unspecified address.
    #[arg(
        long,
        env = "MODELHUB_WEBHOOK_DENY",
        default_value = http_api::DEFAULT_WEBHOOK_DENY,
        value_delimiter = ','
    )]
    webhook_deny: Vec<String>,
    /// Let webhooks reach any address, this host and private networks included (receivers
    /// on premises); overrides `--webhook-deny`.
    #[arg(long, env = "MODELHUB_WEBHOOK_ALLOW_PRIVATE")]
    webhook_allow_private: bool,
    /// Seconds before the first retry of a failed webhook delivery (doubled per attempt, at
    /// most an hour, with jitter).
    #[arg(long, env = "MODELHUB_WEBHOOK_RETRY_BASE", default_value_t = 10.0)]
    webhook_retry_base: f64,
    /// Seconds a failed webhook delivery is retried, and a webhook may fail on every
    /// delivery before it is disabled (a day).
    #[arg(long, env = "MODELHUB_WEBHOOK_RETRY_FOR", default_value_t = 86400.0)]
    webhook_retry_for: f64,
    /// Seconds between syncs of every mirror from its upstream (`modelhub mirror`), once
    /// per cluster on a shared database; 0: never (then only `modelhub mirror sync`).
    #[arg(long, env = "MODELHUB_MIRROR_SYNC_INTERVAL", default_value_t = 6 * 3600)]
    mirror_sync_interval: u64,
    /// Make this hub a pull-through cache of another Hub-compatible server (e.g.
    /// https://huggingface.co): a read of a public repo this hub does not have imports it
    /// from there first, as `modelhub mirror add` does; it is served from here after.
    #[arg(long, env = "MODELHUB_UPSTREAM")]
    upstream: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "MODELHUB_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

pub async fn run(
    data_dir: PathBuf,
    db: &crate::database::SharedArgs,
    args: ServeArgs,
) -> Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if args.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }

    let data = DataDir::new(&data_dir)?;
    // Held until the server exits; the kernel drops it however the process ends.
    let _owner = crate::leftovers::claim(data.root())?;
    let cleaned = crate::leftovers::clean(data.root(), db.repos_dir.as_deref())
        .context("cannot remove what an earlier run left behind")?;
    if cleaned.entries > 0 {
        tracing::info!(
            entries = cleaned.entries,
            bytes = cleaned.bytes,
            "removed partial uploads, quarantines and scratch repos an earlier run left"
        );
    }
    let hub = data.hub(db).await?;
    hub.repos
        .install_hooks()
        .context("cannot install the git hooks")?;

    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let exe = std::env::current_exe().context("cannot find the modelhub binary's own path")?;
    // Every node of a shared database signs with the same key, so a transfer link or Xet
    // token one node made is honoured by another; one server alone keeps it in its data dir.
    let key = if hub.accounts.is_shared() {
        let mut proposed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut proposed);
        let agreed = hub
            .accounts
            .agreed_setting("signing_key", &hex::encode(proposed))
            .await
            .context("cannot read or store the signing key in the database")?;
        hex::decode(agreed.trim()).context("the database's signing key is not hex")?
    } else {
        data.signing_key()
            .context("cannot read or create the signing key")?
    };
    let idle = Duration::from_secs(args.io_timeout.max(1));
    let blobs = args.storage.open(data.root(), idle).await?;
    if args.s3_direct_downloads && args.storage.s3()?.is_none() {
        anyhow::bail!("--s3-direct-downloads needs --storage s3://BUCKET");
    }
    let mut config = Config::new(data.root().to_owned(), exe, key);
    config.public_url = args.public_url.map(|u| u.trim_end_matches('/').to_owned());
    config.max_pack_ops_per_repo = args.max_pack_ops_per_repo.max(1);
    config.pack_queue_wait = Duration::from_secs(args.pack_queue_wait);
    config.io_timeout = Duration::from_secs(args.io_timeout.max(1));
    config.max_lfs_object_size = args.max_lfs_object_size;
    config.api_page_size = args.api_page_size.max(1);
    config.plain_file_memory = args.plain_file_memory.clamp(16, 1 << 20) << 20;
    config.direct_downloads = args.s3_direct_downloads;
    config.direct_url_ttl = Duration::from_secs(args.s3_url_ttl.clamp(1, 7 * 24 * 3600));
    config.hook_env = args.storage.env();
    config.hook_env.extend(db.env());
    config.metrics_allow = networks("--metrics-allow", &args.metrics_allow)?;
    config.listen_url = Some(format!("http://{addr}"));
    config.webhook_deny = if args.webhook_allow_private {
        Vec::new()
    } else {
        networks("--webhook-deny", &args.webhook_deny)?
    };
    config.webhook_retry_base =
        Duration::from_secs_f64(args.webhook_retry_base.clamp(0.01, 3600.0));
    config.webhook_retry_for =
        Duration::from_secs_f64(args.webhook_retry_for.clamp(1.0, 30.0 * 24.0 * 3600.0));
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| "(from each request's Host)".into());
    let xet = Arc::new(
        xet_store::XetStore::new(blobs.clone())
            .with_max_file_size(args.max_lfs_object_size)
            .with_claims(Arc::new(http_api::StoreClaims::new(
                hub.accounts.clone(),
                tokio::runtime::Handle::current(),
            ))),
    );
    let storage = blobs.describe();
    let store = LfsStore::new(blobs.clone(), xet).with_idle_timeout(idle);
    let (mirror_hub, mirror_store, mirror_hook_env) =
        (hub.clone(), store.clone(), config.hook_env.clone());
    let accounts = hub.accounts.clone();
    let webhook_accounts = hub.accounts.clone();
    let gc_hub = hub.clone();
    let state = AppState::new(hub, store, config);

    if args.gc_interval > 0 {
        let grace = Duration::from_secs_f64(args.gc_grace * 3600.0);
        crate::periodic::spawn(
            accounts.clone(),
            format!("{addr} pid {}", std::process::id()),
            "gc",
            Duration::from_secs(args.gc_interval),
            move || {
                let (hub, blobs) = (gc_hub.clone(), blobs.clone());
                async move {
                    let opts = crate::gc::Options {
                        grace,
                        dry_run: false,
                        progress: false,
                        dedup: true,
                        pause_in: None,
                    };
                    let report = crate::gc::collect(&hub, blobs, &opts).await?;
                    Ok(report.summary())
                }
            },
        );
    }

    if args.sweep_interval > 0 {
        let repos = db.repos(data.root());
        crate::periodic::spawn(
            accounts,
            format!("{addr} pid {}", std::process::id()),
            "sweep",
            Duration::from_secs(args.sweep_interval),
            move || {
                let repos = repos.clone();
                async move {
                    let done = tokio::task::spawn_blocking(move || crate::leftovers::sweep(&repos))
                        .await??;
                    Ok(format!(
                        "removed {} day-old quarantines and scratch repos ({} bytes)",
                        done.entries, done.bytes
                    ))
                }
            },
        );
    }
    // Pushes' webhook events a stopped node left tentative, and old events: once per
    // cluster, every half minute.
    {
        let state = state.clone();
        crate::periodic::spawn(
            webhook_accounts,
            format!("{addr} pid {}", std::process::id()),
            "webhooks",
            Duration::from_secs(30),
            move || {
                let state = state.clone();
                async move { Ok(http_api::sweep_webhooks(&state).await?) }
            },
        );
    }
    let mirrors = Arc::new(crate::mirror::Mirrors {
        hub: mirror_hub,
        store: mirror_store,
        data_dir: data.root().to_owned(),
        hook_env: mirror_hook_env,
        client: crate::mirror::Mirrors::client()?,
        progress: false,
    });
    if let Some(upstream) = &args.upstream {
        let endpoint = upstream.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.username().is_empty())
            .with_context(|| {
                format!("--upstream: {endpoint:?} is not an http(s) URL without credentials")
            })?;
        state.set_pull_through(crate::mirror::pull_through(mirrors.clone(), endpoint));
    }
    if args.mirror_sync_interval > 0 {
        let state = state.clone();
        crate::periodic::spawn(
            mirrors.hub.accounts.clone(),
            format!("{addr} pid {}", std::process::id()),
            "mirror-sync",
            Duration::from_secs(args.mirror_sync_interval),
            move || {
                let (mirrors, state) = (mirrors.clone(), state.clone());
                async move { crate::mirror::sync_all(&mirrors, &state).await }
            },
        );
    }
    let database = db.database(data.root())?.describe();
    tracing::info!(data_dir = %data.root().display(), %public_url, %storage, %database, "modelhub serving");
    // Tests and scripts read the bound address from this line.
    println!("modelhub listening on http://{addr}");
    let limits = http_api::Limits {
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        max_connections: args
            .max_connections
            .unwrap_or_else(http_api::default_max_connections)
            .max(1),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    };
    http_api::serve(listener, state, limits, shutdown_signal())
        .await
        .context("server error")?;
    tracing::info!("modelhub stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Addresses and networks from a comma-separated flag (`flag` names it in errors); empty
/// entries are skipped.
fn networks(flag: &str, given: &[String]) -> Result<Vec<ipnet::IpNet>> {
    given
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse::<ipnet::IpNet>()
                .or_else(|_| a.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .with_context(|| format!("{flag}: {a:?} is not an address or a network"))
        })
        .collect()
}
