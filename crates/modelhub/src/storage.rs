//! Where content goes: the `--storage` options shared by `serve`, the hook and `storage
//! migrate`, and the backend they open.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use content_store::{Backend, LocalBackend, S3Backend, S3Config};

#[derive(Args, Clone, Debug)]
pub struct StorageArgs {
    /// Where LFS objects and Xet data are kept: `local` (under the data dir) or
    /// `s3://BUCKET[/PREFIX]` on any S3-compatible store. S3 credentials come from
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    #[arg(long, env = "MODELHUB_STORAGE", default_value = "local")]
    pub storage: String,
    /// The S3 endpoint, for servers other than AWS (SeaweedFS, Ceph RGW, MinIO, Garage);
    /// default: AWS_ENDPOINT_URL, else AWS.
    #[arg(long, env = "MODELHUB_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// The bucket's region; default: AWS_REGION, else us-east-1.
    #[arg(long, env = "MODELHUB_S3_REGION")]
    pub s3_region: Option<String>,
    /// MiB per part of S3 multipart uploads (at least 5).
    #[arg(long, env = "MODELHUB_S3_PART_SIZE", default_value_t = 16)]
    pub s3_part_size: usize,
    /// Parts of one upload sent to S3 at once: an upload holds at most this many parts and
    /// the one being filled in memory.
    #[arg(long, env = "MODELHUB_S3_PARTS_IN_FLIGHT", default_value_t = 2)]
    pub s3_parts_in_flight: usize,
    /// MiB of memory for parts being sent to S3, all uploads together (each part is spooled
    /// to disk first, so a slow client holds disk, not memory; at least one part).
    #[arg(long, env = "MODELHUB_S3_UPLOAD_MEMORY", default_value_t = 48)]
    pub s3_upload_memory: usize,
}

impl StorageArgs {
    /// The storage the server runs on, as the environment names it (what the hook sees: the
    /// server hands it [`StorageArgs::env`]).
    pub fn from_env() -> StorageArgs {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let num = |k: &str, d: usize| var(k).and_then(|v| v.parse().ok()).unwrap_or(d);
        StorageArgs {
            storage: var("MODELHUB_STORAGE").unwrap_or_else(|| "local".into()),
            s3_endpoint: var("MODELHUB_S3_ENDPOINT"),
            s3_region: var("MODELHUB_S3_REGION"),
            s3_part_size: num("MODELHUB_S3_PART_SIZE", 16),
            s3_parts_in_flight: num("MODELHUB_S3_PARTS_IN_FLIGHT", 2),
            s3_upload_memory: num("MODELHUB_S3_UPLOAD_MEMORY", 48),
        }
    }

    /// These options as environment variables, for the processes the server starts.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("MODELHUB_STORAGE".into(), self.storage.clone()),
            (
                "MODELHUB_S3_PART_SIZE".into(),
                self.s3_part_size.to_string(),
            ),
            (
                "MODELHUB_S3_PARTS_IN_FLIGHT".into(),
                self.s3_parts_in_flight.to_string(),
            ),
            (
                "MODELHUB_S3_UPLOAD_MEMORY".into(),
                self.s3_upload_memory.to_string(),
            ),
        ];
        if let Some(e) = &self.s3_endpoint {
            out.push(("MODELHUB_S3_ENDPOINT".into(), e.clone()));
        }
        if let Some(r) = &self.s3_region {
            out.push(("MODELHUB_S3_REGION".into(), r.clone()));
        }
        out
    }

    /// The S3 settings, if the storage is a bucket.
    pub fn s3(&self) -> Result<Option<S3Config>> {
        if self.storage == "local" {
            return Ok(None);
        }
        let Some(mut cfg) = S3Config::from_url(&self.storage) else {
            bail!(
                "--storage must be `local` or `s3://BUCKET[/PREFIX]`, not {:?}",
                self.storage
            );
        };
        if self.s3_part_size < 5 {
            bail!("--s3-part-size must be at least 5 (MiB), as S3 requires");
        }
        cfg.endpoint = self.s3_endpoint.clone();
        cfg.region = self.s3_region.clone();
        cfg.part_size = self.s3_part_size << 20;
        cfg.parts_in_flight = self.s3_parts_in_flight.max(1);
        cfg.upload_memory = self.s3_upload_memory << 20;
        Ok(Some(cfg))
    }

    /// Opens the backend for the data dir `root` without reaching it. Inside the runtime.
    pub fn open_unchecked(&self, root: &Path, idle: Duration) -> Result<Arc<dyn Backend>> {
        Ok(match self.s3()? {
            None => Arc::new(
                LocalBackend::open(root)
                    .with_context(|| format!("cannot open the store in {}", root.display()))?
                    .with_idle_timeout(idle),
            ),
            Some(cfg) => {
                let url = cfg.url();
                Arc::new(
                    S3Backend::new(cfg, &root.join("tmp"))
                        .with_context(|| format!("cannot use the storage {url}"))?
                        .with_idle_timeout(idle),
                )
            }
        })
    }

    /// Opens the backend and checks that it can be written, read and deleted from: a store
    /// that cannot be used stops the caller with a one-line reason.
    pub async fn open(&self, root: &Path, idle: Duration) -> Result<Arc<dyn Backend>> {
        let backend = self.open_unchecked(root, idle)?;
        backend
            .check()
            .await
            .with_context(|| format!("cannot use the storage {}", backend.describe()))?;
        Ok(backend)
    }
}

/// `modelhub storage ...`.
#[derive(clap::Subcommand)]
pub enum StorageCmd {
    /// Copy the data dir's local store (LFS objects and Xet data) into a bucket, checking
    /// every object on the way. Resumable: what the bucket holds already is skipped, so run
    /// it again after an interruption, and once more after stopping the server (to copy what
    /// arrived meanwhile) before restarting it with `--storage s3://...`.
    Migrate(MigrateArgs),
}

#[derive(Args)]
pub struct MigrateArgs {
    /// The bucket to copy into: `s3://BUCKET[/PREFIX]`.
    #[arg(long)]
    to: String,
    /// The S3 endpoint (default: AWS_ENDPOINT_URL, else AWS).
    #[arg(long, env = "MODELHUB_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The bucket's region (default: AWS_REGION, else us-east-1).
    #[arg(long, env = "MODELHUB_S3_REGION")]
    s3_region: Option<String>,
    /// Objects copied at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
}

/// What one object's copy did.
enum Copied {
    Sent(u64),
    Skipped,
}

pub async fn run(root: &Path, cmd: StorageCmd) -> Result<()> {
    let StorageCmd::Migrate(args) = cmd;
    migrate(root, args).await
}

async fn migrate(root: &Path, args: MigrateArgs) -> Result<()> {
    use futures_util::{StreamExt, TryStreamExt};
    let target = StorageArgs {
        storage: args.to.clone(),
        s3_endpoint: args.s3_endpoint,
        s3_region: args.s3_region,
        s3_part_size: 16,
        s3_parts_in_flight: 2,
        s3_upload_memory: 48,
    };
    if target.s3()?.is_none() {
        bail!("--to must be s3://BUCKET[/PREFIX]");
    }
    let idle = Duration::from_secs(600);
    let to = target.open(root, idle).await?;
    let local = Arc::new(LocalBackend::open(root)?);
    let xet = Arc::new(xet_store::XetStore::new(local.clone()));

    // Xorbs before the records that name them, records before the index that points at
    // them: a copy cut off anywhere leaves the bucket consistent.
    let mut items = Vec::new();
    for prefix in [
        "xet/xorbs/",
        "xet/files/",
        "xet/by-xet/",
        "xet/chunks/",
        "lfs/objects/",
    ] {
        let mut listed: Vec<_> = local.list(prefix).try_collect().await?;
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        items.extend(listed);
    }
    let total: u64 = items.iter().map(|l| l.size).sum();
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} {eta} {msg}",
        )
        .expect("a valid template"),
    );
    bar.set_message(format!("to {}", to.describe()));
    let count = items.len();
    let copies = futures_util::stream::iter(items.into_iter().map(|item| {
        let (local, to, xet, bar) = (local.clone(), to.clone(), xet.clone(), bar.clone());
        async move {
            let r = copy_one(&local, &to, &xet, &item.key, item.size).await;
            bar.inc(item.size);
            r.with_context(|| format!("copying {}", item.key))
        }
    }))
    .buffer_unordered(args.jobs.max(1));
    let (mut sent, mut sent_bytes, mut skipped) = (0u64, 0u64, 0u64);
    let mut copies = std::pin::pin!(copies);
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            next = copies.next() => match next {
                Some(Ok(Copied::Sent(n))) => { sent += 1; sent_bytes += n; }
                Some(Ok(Copied::Skipped)) => skipped += 1,
                Some(Err(e)) => {
                    bar.abandon();
                    return Err(e.context(format!(
                        "migration stopped after copying {sent} objects; run it again to resume"
                    )));
                }
                None => break,
            },
            _ = &mut interrupted => {
                bar.abandon();
                bail!(
                    "interrupted after copying {sent} of {count} objects ({}); run it again to resume",
                    human(sent_bytes)
                );
            }
        }
    }
    bar.finish_and_clear();
    println!(
        "migrated {count} objects to {}: {sent} copied ({}), {skipped} already there",
        to.describe(),
        human(sent_bytes)
    );
    Ok(())
}

/// Copies one object unless the target holds it already (at the same size), checking it on
/// the way: LFS objects against their SHA-256 name, xorbs by re-hashing their chunks, and
/// every copy against the SHA-256 of the bytes read.
async fn copy_one(
    local: &Arc<LocalBackend>,
    to: &Arc<dyn Backend>,
    xet: &Arc<xet_store::XetStore>,
    key: &str,
    size: u64,
) -> Result<Copied> {
    use sha2::{Digest, Sha256};
    if to.size(key).await? == Some(size) {
        return Ok(Copied::Skipped);
    }
    let name = key.rsplit('/').next().unwrap_or(key).to_owned();
    let sha256 = if key.starts_with("lfs/objects/") {
        name
    } else {
        if key.starts_with("xet/xorbs/") {
            let hash = xet_store::parse_hash(&name)
                .with_context(|| format!("{key} is not named by a xorb hash"))?;
            let x = xet.clone();
            tokio::task::spawn_blocking(move || x.check_xorb(&hash)).await??;
        }
        let path = local.path(key);
        tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut h = Sha256::new();
            std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
            Ok(hex::encode(h.finalize()))
        })
        .await??
    };
    let body = local.get(key, None).await?;
    to.put_verified(key, size, &sha256, body).await?;
    Ok(Copied::Sent(size))
}

fn human(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}
