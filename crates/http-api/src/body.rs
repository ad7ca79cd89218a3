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
    /// Compressed bytes not yet fed to the decoder.
    pending: Bytes,
    timeout: Duration,
    limit: Option<usize>,
    total: usize,
    done: bool,
}

/// Compressed bytes fed to the decoder per step. Deflate expands at most about 1,032:1, so a
/// step yields at most about 1 MiB: a gzip bomb costs time, never memory.
const GZIP_STEP: usize = 1024;
/// Decoded bytes gathered before a chunk is handed on.
const GZIP_CHUNK: usize = 64 << 10;

impl BodyReader {
    pub fn new(body: Body, gzip: bool, timeout: Duration, limit: Option<usize>) -> Self {
        BodyReader {
            stream: body.into_data_stream(),
            gzip: gzip.then(|| GzDecoder::new(Vec::new())),
            pending: Bytes::new(),
            timeout,
            limit,
            total: 0,
            done: false,
        }
    }

    /// The next raw chunk of the body, or `None` at its end.
    async fn raw(&mut self) -> Result<Option<Bytes>, BodyError> {
        match tokio::time::timeout(self.timeout, self.stream.next()).await {
            Err(_) => Err(BodyError::Timeout(self.timeout)),
            Ok(Some(Err(e))) => Err(BodyError::Read(e.to_string())),
            Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
            Ok(None) => Ok(None),
        }
    }

    /// The next decoded chunk, or `None` at the end of the body.
    pub async fn next(&mut self) -> Result<Option<Bytes>, BodyError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let out = match self.gzip.is_some() {
                false => match self.raw().await? {
                    Some(chunk) => chunk,
                    None => {
                        self.done = true;
                        return Ok(None);
                    }
                },
                true => match self.inflate().await? {
                    Some(chunk) => chunk,
                    None => return Ok(None),
                },
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

    /// Decodes up to about [`GZIP_CHUNK`] bytes, feeding the decoder [`GZIP_STEP`] bytes at a
    /// time; `None` once the body and the decoder are done.
    async fn inflate(&mut self) -> Result<Option<Bytes>, BodyError> {
        loop {
            let dec = self.gzip.as_mut().expect("a gzip body has a decoder");
            if dec.get_ref().len() >= GZIP_CHUNK {
                return Ok(Some(Bytes::from(std::mem::take(dec.get_mut()))));
            }
            if !self.pending.is_empty() {
                let step = self.pending.split_to(GZIP_STEP.min(self.pending.len()));
                dec.write_all(&step).map_err(BodyError::Gzip)?;
                continue;
            }
            match self.raw().await? {
                Some(chunk) => self.pending = chunk,
                None => {
                    self.done = true;
                    let dec = self.gzip.as_mut().expect("a gzip body has a decoder");
                    // Fails when the stream ended before the gzip trailer.
                    dec.try_finish().map_err(BodyError::Gzip)?;
                    let rest = std::mem::take(dec.get_mut());
                    return Ok((!rest.is_empty()).then(|| Bytes::from(rest)));
                }
            }
        }
    }

    /// The rest of the body as a stream of chunks, for readers that take one (a body error
    /// becomes an I/O error with the same message; a timeout keeps its kind).
    pub fn into_stream(self) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
        futures_util::stream::unfold(self, |mut r| async move {
            match r.next().await {
                Ok(Some(chunk)) => Some((Ok(chunk), r)),
                Ok(None) => None,
                Err(e) => {
                    let kind = match e {
                        BodyError::Timeout(_) => std::io::ErrorKind::TimedOut,
                        _ => std::io::ErrorKind::Other,
                    };
                    r.done = true;
                    Some((Err(std::io::Error::new(kind, e.to_string())), r))
                }
            }
        })
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
