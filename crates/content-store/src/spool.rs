//! Writing an upload's body to a local temp file without holding a thread.

use std::io::{self, Write};

use bytes::BytesMut;
use tempfile::NamedTempFile;

/// Bytes gathered from an upload's body before each write.
const WRITE_BATCH: usize = 1 << 20;

/// The disk side of a put: the body's bytes gathered into large writes, each made on the
/// blocking pool while the next one is gathered. An upload waiting for its client holds a
/// task and at most two batches, never a thread: slow uploads cannot starve the pool. A
/// dropped writer drops (deletes) its temp file.
pub(crate) struct Writer {
    /// The temp file, when no write is under way.
    file: Option<NamedTempFile>,
    /// The write under way, which hands the file back.
    pending: Option<tokio::task::JoinHandle<io::Result<NamedTempFile>>>,
    batch: BytesMut,
}

impl Writer {
    pub(crate) fn new(file: NamedTempFile) -> Self {
        Writer {
            file: Some(file),
            pending: None,
            batch: BytesMut::with_capacity(WRITE_BATCH),
        }
    }

    pub(crate) async fn push(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.batch.extend_from_slice(bytes);
        if self.batch.len() >= WRITE_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Starts writing the gathered bytes, once the write before has finished.
    async fn flush(&mut self) -> io::Result<()> {
        if let Some(p) = self.pending.take() {
            self.file = Some(p.await.map_err(io::Error::other)??);
        }
        let data = self.batch.split().freeze();
        let mut file = self.file.take().expect("the file is back");
        self.pending = Some(tokio::task::spawn_blocking(move || {
            file.write_all(&data)?;
            Ok(file)
        }));
        Ok(())
    }

    /// Writes what is left and hands back the file.
    pub(crate) async fn finish(mut self) -> io::Result<NamedTempFile> {
        if !self.batch.is_empty() {
            self.flush().await?;
        }
        if let Some(p) = self.pending.take() {
            self.file = Some(p.await.map_err(io::Error::other)??);
        }
        Ok(self.file.take().expect("the file is back"))
    }
}
