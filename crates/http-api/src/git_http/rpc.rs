//! Running one git service for one request and streaming its output as the response body.
//!
//! The response status is decided when git writes its first byte: until then a failure of the
//! request body (truncated gzip, a client gone quiet) still answers with a clear 4xx, because
//! git only answers once it has read the whole request. After that, bytes flow through with a
//! 64 KiB buffer and an inactivity timeout on both sides.

use std::path::Path;
use std::time::Duration;

use accounts::{Principal, Repo};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::{stream, StreamExt};
use git_repos::{Service, ServiceEnv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::OwnedSemaphorePermit;

use super::{git_response, service_env, GitError};
use crate::body::{BodyError, BodyReader};
use crate::{pktline, AppState};

/// Read size for git's output: large buffers move packs at near disk speed.
const CHUNK: usize = 256 * 1024;
/// Capacity asked for git's stdout pipe (Linux allows up to /proc/sys/fs/pipe-max-size).
const PIPE_SIZE: usize = 1 << 20;
/// The largest receive-pack command list (ref updates before the pack) read into memory.
const MAX_COMMAND_LIST: usize = 32 << 20;
/// Most ref updates in one push: each costs the hook a few git calls, so this bounds a push's
/// validation time (a mirror with more refs pushes them in batches).
const MAX_REF_UPDATES: usize = 5_000;

/// What git reads on stdin.
pub enum Input {
    /// Ref discovery: nothing.
    Advertise,
    /// An upload-pack request, read whole and checked.
    Buffered(Vec<u8>),
    /// A push: its command list, already read and checked, then the rest of the body.
    Streamed(Vec<u8>, Box<BodyReader>),
}

/// `POST .../git-upload-pack` and `POST .../git-receive-pack`.
pub async fn handle(
    State(state): State<AppState>,
    repo: Repo,
    who: Option<Principal>,
    headers: HeaderMap,
    body: Body,
    service: Service,
    contributor: bool,
) -> Result<Response, GitError> {
    let expected = format!("application/x-{}-request", service.name());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if content_type != Some(expected.as_str()) {
        return Err(GitError::UnsupportedMediaType(format!(
            "expected Content-Type {expected}"
        )));
    }
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?"))
    {
        None | Some("identity") => false,
        Some("gzip" | "x-gzip") => true,
        Some(other) => {
            return Err(GitError::UnsupportedMediaType(format!(
                "Content-Encoding {other:?} is not supported; use gzip or none"
            )))
        }
    };
    let cfg = state.config();
    let input = match service {
        Service::UploadPack => {
            let mut reader =
                BodyReader::new(body, gzip, cfg.io_timeout, Some(cfg.max_request_buffer));
            let request = reader.read_all().await?;
            pktline::check_request(&request)?;
            Input::Buffered(request)
        }
        Service::ReceivePack => {
            let mut reader = BodyReader::new(body, gzip, cfg.io_timeout, None);
            let commands = read_command_list(&mut reader).await?;
            Input::Streamed(commands, Box::new(reader))
        }
    };
    let mut env = service_env(&state, &repo, who.as_ref(), &headers);
    if contributor {
        // Set by the server only: the hook keeps this push to the pusher's own open pull
        // requests.
        env.vars
            .push(("MODELHUB_PUSH_CONTRIBUTOR".into(), "1".into()));
    }
    let path = state.repos().path(&repo.repo_ref());
    let body = match service {
        Service::UploadPack => run(&state, &repo, service, &path, &env, input, None).await?,
        // A push runs in a task of its own: if the connection is dropped (a reset, a server
        // cutting off an idle client), the request's future is dropped with it, and a git
        // killed then could be holding ref locks or have moved some refs and not others.
        // Dropping stdin is what stops a push whose body never arrived; one that arrived
        // finishes, and its caches are dropped when git exits.
        Service::ReceivePack => {
            let state = state.clone();
            tokio::spawn(async move { run(&state, &repo, service, &path, &env, input, None).await })
                .await
                .map_err(GitError::internal)??
        }
    };
    Ok(git_response(
        format!("application/x-{}-result", service.name()),
        body,
    ))
}

/// Reads a push up to the end of its command list (the first flush packet), checking its
/// framing; returns those bytes and whatever followed them in the same chunk.
async fn read_command_list(reader: &mut BodyReader) -> Result<Vec<u8>, GitError> {
    let mut buf = Vec::new();
    let mut list = pktline::CommandList::default();
    loop {
        let end = list.end(&buf)?;
        if list.commands() > MAX_REF_UPDATES {
            return Err(GitError::TooLarge(format!(
                "a push may update at most {MAX_REF_UPDATES} refs; push them in several pushes"
            )));
        }
        if end.is_some() {
            return Ok(buf);
        }
        if buf.len() > MAX_COMMAND_LIST {
            return Err(GitError::TooLarge(format!(
                "the list of ref updates is over {MAX_COMMAND_LIST} bytes"
            )));
        }
        match reader.next().await? {
            Some(chunk) => buf.extend_from_slice(&chunk),
            None if buf.is_empty() => return Err(pktline::PktError::Empty.into()),
            None => return Err(pktline::PktError::Truncated.into()),
        }
    }
}

/// Spawns `service` on the repo at `path`, feeds it `input`, and returns its output as a
/// streaming body, behind `preamble` if given.
pub async fn run(
    state: &AppState,
    repo: &Repo,
    service: Service,
    path: &Path,
    env: &ServiceEnv,
    input: Input,
    preamble: Option<Bytes>,
) -> Result<Body, GitError> {
    let advertise = matches!(input, Input::Advertise);
    // Advertisements take a slot too: each spawns git, so a flood of `info/refs` would
    // otherwise fork without bound.
    let permit = match state.inner.limiter.acquire(repo.id).await {
        Ok(p) => Some(p),
        Err(_) => return Ok(busy(state, repo, input).await),
    };
    let mut child = state
        .repos()
        .spawn(service, path, advertise, env)
        .map_err(GitError::internal)?;
    let running = state.inner.metrics.git_running(service.name());
    let stdin = child.stdin.take().expect("stdin is piped");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    // A 1 MiB pipe lets git write a pack in fewer, larger pieces: fewer wake-ups and
    // syscalls on both sides. Best effort: the default size still works.
    let _ = rustix::pipe::fcntl_setpipe_size(&stdout, PIPE_SIZE);
    let stderr = child.stderr.take().expect("stderr is piped");
    let label = format!("{} {}", service.name(), repo.repo_ref());
    tokio::spawn(log_stderr(stderr, label.clone()));
    let mut pump = tokio::spawn(pump(stdin, input));
    let timeout = state.config().io_timeout;

    let mut first = BytesMut::with_capacity(CHUNK);
    let mut pumped = false;
    let read = loop {
        tokio::select! {
            r = tokio::time::timeout(timeout, stdout.read_buf(&mut first)) => {
                // While the request is still coming in, git's silence is the client's; the
                // body reader has its own timeout for that.
                if r.is_err() && !pumped {
                    continue;
                }
                break r;
            }
            res = &mut pump, if !pumped => {
                pumped = true;
                if let Ok(Err((e, _stdin))) = res {
                    let _ = child.start_kill();
                    return Err(e.into());
                }
            }
        }
    };
    let n = match read {
        Err(_) => {
            let _ = child.start_kill();
            return Err(GitError::internal(format!(
                "{label}: git was silent for {timeout:?}"
            )));
        }
        Ok(Err(e)) => return Err(GitError::internal(format!("{label}: {e}"))),
        Ok(Ok(n)) => n,
    };
    if n == 0 {
        // Git ended without a word (git's `0000` probe does that): if the body failed, say so.
        if !pumped {
            if let Ok(Err((e, _stdin))) = pump.await {
                let _ = child.start_kill();
                return Err(e.into());
            }
        }
        reap(&mut child, &label).await;
        return Ok(Body::from(preamble.unwrap_or_default()));
    }
    let head = preamble.into_iter().chain([first.freeze()]).map(Ok);
    let out = Output {
        stdout: Some(stdout),
        child: Some(child),
        _permit: permit,
        running: Some(running),
        timeout,
        label,
        finished: false,
        // A push moves refs: what the Hub API cached about revisions is stale once it ends.
        on_end: (service == Service::ReceivePack).then(|| (state.clone(), repo.clone())),
    };
    Ok(Body::from_stream(
        stream::iter(head).chain(stream::unfold(out, Output::next)),
    ))
}

/// Git's output still to be sent, with what must live as long as it: the child and the slot.
struct Output {
    /// Taken by `drop` for a push, to be read to the end.
    stdout: Option<ChildStdout>,
    child: Option<Child>,
    _permit: Option<OwnedSemaphorePermit>,
    /// Counts git as running (in the metrics) until it has exited.
    running: Option<crate::ops::Running>,
    timeout: Duration,
    label: String,
    finished: bool,
    /// For a push: whose revisions to drop once git has exited.
    on_end: Option<(AppState, Repo)>,
}

impl Drop for Output {
    fn drop(&mut self) {
        // A push whose client went away, or whose output failed, may still move refs: git's
        // output is read to the end and thrown away (closing the pipe would kill git with
        // SIGPIPE halfway through its hook or its ref updates), and the repo's revisions are
        // dropped when git exits, however the response ended.
        let (Some((state, repo)), Some(mut child)) = (self.on_end.take(), self.child.take()) else {
            return;
        };
        let label = std::mem::take(&mut self.label);
        let (stdout, timeout) = (self.stdout.take(), self.timeout);
        let running = self.running.take();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _running = running;
                if let Some(mut out) = stdout {
                    let mut buf = vec![0; 8192];
                    loop {
                        match tokio::time::timeout(timeout, out.read(&mut buf)).await {
                            Ok(Ok(0)) => break,
                            Ok(Ok(_)) => {}
                            // Silent for the I/O timeout, as a push with a client would be.
                            _ => {
                                let _ = child.start_kill();
                                break;
                            }
                        }
                    }
                }
                reap(&mut child, &label).await;
                state.refs_moved(&repo).await;
            });
        } else {
            state.drop_revisions(&crate::repo_key(&repo));
        }
    }
}

impl Output {
    async fn next(mut self) -> Option<(std::io::Result<Bytes>, Self)> {
        if self.finished {
            return None;
        }
        let mut buf = BytesMut::with_capacity(CHUNK);
        let stdout = self.stdout.as_mut().expect("only drop takes stdout");
        match tokio::time::timeout(self.timeout, stdout.read_buf(&mut buf)).await {
            Ok(Ok(0)) => {
                if let Some(child) = self.child.as_mut() {
                    reap(child, &self.label).await;
                }
                if let Some((state, repo)) = self.on_end.take() {
                    state.refs_moved(&repo).await;
                }
                None
            }
            Ok(Ok(_)) => Some((Ok(buf.freeze()), self)),
            Ok(Err(e)) => {
                self.finished = true;
                if let Some(c) = self.child.as_mut() {
                    let _ = c.start_kill();
                }
                Some((Err(e), self))
            }
            Err(_) => {
                self.finished = true;
                if let Some(c) = self.child.as_mut() {
                    let _ = c.start_kill();
                }
                tracing::warn!(git = %self.label, "git was silent for {:?}; aborted", self.timeout);
                let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "git went silent");
                Some((Err(e), self))
            }
        }
    }
}

async fn reap(child: &mut Child, label: &str) {
    match child.wait().await {
        Ok(status) if !status.success() => tracing::info!(git = %label, %status, "git exited"),
        Err(e) => tracing::warn!(git = %label, error = %e, "could not reap git"),
        Ok(_) => {}
    }
}

/// Writes the request into git. A body failure hands stdin back unclosed, so git never sees
/// a clean end of input and the caller can kill it before it answers.
async fn pump(mut stdin: ChildStdin, input: Input) -> Result<(), (BodyError, ChildStdin)> {
    match input {
        Input::Advertise => {}
        Input::Buffered(request) => {
            // A write error means git exited early; its output and exit status tell why.
            let _ = stdin.write_all(&request).await;
        }
        Input::Streamed(head, mut reader) => {
            if stdin.write_all(&head).await.is_err() {
                return Ok(());
            }
            loop {
                match reader.next().await {
                    Ok(Some(chunk)) => {
                        if stdin.write_all(&chunk).await.is_err() {
                            return Ok(());
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Err((e, stdin)),
                }
            }
        }
    }
    Ok(())
}

/// The answer when a repo has no free slot: a message git prints, in the form each service's
/// client reads (an `ERR` packet for fetches; a failed unpack plus a sideband message for
/// pushes, whose body is read to the end first so the client gets to read the answer).
async fn busy(state: &AppState, repo: &Repo, input: Input) -> Body {
    let msg = format!(
        "modelhub: {} is busy ({} transfers running); try again in a minute",
        repo.repo_ref(),
        state.config().max_pack_ops_per_repo
    );
    tracing::warn!(repo = %repo.repo_ref(), "pack operation turned away: busy");
    let Input::Streamed(head, mut reader) = input else {
        return Body::from(pktline::encode(format!("ERR {msg}\n").as_bytes()));
    };
    while let Ok(Some(_)) = reader.next().await {}
    let mut report = pktline::encode(b"unpack server is busy\n");
    report.extend_from_slice(b"0000");
    if !String::from_utf8_lossy(&head).contains("side-band-64k") {
        return Body::from(report);
    }
    let mut out = pktline::encode(&[&[1u8][..], &report].concat());
    out.extend(pktline::encode(format!("\x02{msg}\n").as_bytes()));
    out.extend_from_slice(b"0000");
    Body::from(out)
}

async fn log_stderr(mut stderr: ChildStderr, label: String) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if kept.len() < 8192 {
            kept.extend_from_slice(&buf[..n]);
        }
    }
    if !kept.is_empty() {
        let text = String::from_utf8_lossy(&kept);
        tracing::warn!(git = %label, stderr = %text.trim(), "git wrote to stderr");
    }
}
