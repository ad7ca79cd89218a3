//! Reading a request body chunk by chunk: gzip decoded on the fly when the client sent it so,
//! with an inactivity timeout between chunks and a cap on the decoded size where one applies.

use std::io::Write;
use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use bytes::Bytes;
use flate2::write::GzDecoder;
use futures_util::StreamExt;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the client sent nothing for {0:?}")]
    Timeout(Duration),
    #[error("the request body could not be read: {0}")]
    Read(String),
    #[error("the gzip request body is invalid or truncated: {0}")]
    Gzip(std::io::Error),
    #[error("the request is larger than the limit of {0} bytes")]
    TooLarge(usize),
}

pub struct BodyReader {
    stream: BodyDataStream,
    gzip: Option<GzDecoder<Vec<u8>>>,
    timeout: Duration,
    limit: Option<usize>,
    total: usize,
    done: bool,
}

impl BodyReader {
    pub fn new(body: Body, gzip: bool, timeout: Duration, limit: Option<usize>) -> Self {
        BodyReader {
            stream: body.into_data_stream(),
            gzip: gzip.then(|| GzDecoder::new(Vec::new())),
            timeout,
            limit,
            total: 0,
            done: false,
        }
    }

    /// The next decoded chunk, or `None` at the end of the body.
    pub async fn next(&mut self) -> Result<Option<Bytes>, BodyError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let raw = match tokio::time::timeout(self.timeout, self.stream.next()).await {
                Err(_) => return Err(BodyError::Timeout(self.timeout)),
                Ok(Some(Err(e))) => return Err(BodyError::Read(e.to_string())),
                Ok(Some(Ok(chunk))) => Some(chunk),
                Ok(None) => None,
            };
            let out = match (&mut self.gzip, raw) {
                (None, Some(chunk)) => chunk,
                (None, None) => {
                    self.done = true;
                    return Ok(None);
                }
                (Some(dec), Some(chunk)) => {
                    dec.write_all(&chunk).map_err(BodyError::Gzip)?;
                    Bytes::from(std::mem::take(dec.get_mut()))
                }
                (Some(dec), None) => {
                    self.done = true;
                    // Fails when the stream ended before the gzip trailer.
                    dec.try_finish().map_err(BodyError::Gzip)?;
                    Bytes::from(std::mem::take(dec.get_mut()))
                }
            };
            self.total += out.len();
            if let Some(limit) = self.limit.filter(|l| self.total > *l) {
                return Err(BodyError::TooLarge(limit));
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }

    /// Reads the rest of the body into memory (only for bodies with a limit).
    pub async fn read_all(&mut self) -> Result<Vec<u8>, BodyError> {
        let mut buf = Vec::new();
        while let Some(chunk) = self.next().await? {
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    }
}
