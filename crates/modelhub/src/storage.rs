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
    #[arg(long, env = "MODELHUB_S3_UPLOAD_MEMORY", default_value_t = 64)]
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
            s3_upload_memory: num("MODELHUB_S3_UPLOAD_MEMORY", 64),
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
