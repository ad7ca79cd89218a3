//! Uploads through the Hub API: `preupload` (which files go to LFS), the NDJSON `commit`
//! (`upload_file`, `upload_folder`, `create_commit`, `delete_file`, `delete_folder`,
//! `create_pr`). Files uploaded through Xet arrive as LFS pointers whose objects the Xet
//! store holds.
//!
//! A commit is landed as a push (see `git_repos::commit`): it passes the same validator with
//! the same policy, and the ref moves only if its tip is still the one the commit was made on.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use git_repos::{CommitError, CommitRequest, EntryKind, Op};
use repo_rules::{parse_lfs_pointer, LfsPatterns};
use serde::Deserialize;
use serde_json::{json, Value};

use super::ndjson::{self, Header, Line, MAX_LINE, MAX_LINES};
use super::{with_reader, HfError, Hub};
use crate::body::BodyReader;
use crate::edge::http::public_base;
use crate::edge::{At, RepoAccess};
use crate::AppState;
use futures_util::StreamExt;
use hub_types::Role;
use tokio_util::codec::{FramedRead, LinesCodecError};
use tokio_util::io::StreamReader;

/// Files of 10 MB or more go to LFS, as the Hub decides.
const LFS_THRESHOLD: u64 = 10_000_000;
/// The most a commit request may carry (regular files travel base64 inside it; it is read
/// line by line, so this bounds disk use, not memory).
const MAX_COMMIT_BODY: usize = 16 << 30;

#[derive(Deserialize)]
pub struct PreuploadFile {
    path: String,
    sample: Option<String>,
    size: u64,
}

#[derive(Deserialize)]
pub struct PreuploadRequest {
    files: Vec<PreuploadFile>,
    /// The `.gitignore` the commit brings, if it brings one (else the revision's counts).
    #[serde(rename = "gitIgnore")]
    git_ignore: Option<String>,
}

/// The largest `.gitignore` preupload reads (a request's or the revision's).
const MAX_GITIGNORE: usize = 64 << 10;
/// Patterns of a `.gitignore` preupload compiles at most: each becomes a glob of one matcher,
/// so this bounds what a request can make the server build.
const MAX_GITIGNORE_PATTERNS: usize = 2000;

/// A matcher of `.gitignore` rules at the repo's root, as git applies them; a line that is
/// not a valid pattern is skipped (git ignores it too), and so is every pattern past
/// [`MAX_GITIGNORE_PATTERNS`].
fn gitignore(content: &str) -> ignore::gitignore::Gitignore {
    let mut b = ignore::gitignore::GitignoreBuilder::new("/");
    let patterns = content
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .take(MAX_GITIGNORE_PATTERNS);
    for line in patterns {
        let _ = b.add_line(None, line);
    }
    b.build()
        .unwrap_or_else(|_| ignore::gitignore::Gitignore::empty())
}

/// Whether `.gitignore` rules `rules` ignore the file at repo path `path`.
fn ignored(rules: &ignore::gitignore::Gitignore, path: &str) -> bool {
    let full = std::path::Path::new("/").join(path.trim_start_matches('/'));
    rules.matched_path_or_any_parents(&full, false).is_ignore()
}

/// `POST /api/{type}s/{id}/preupload/{rev}`: for each file, `lfs` or `regular`, the oid of
/// what the revision holds at that path (so unchanged files are skipped by the client), and
/// whether the repo's `.gitignore` (or the one the commit brings) ignores it.
pub async fn preupload(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    at: At<Hub>,
    Query(q): Query<Vec<(String, String)>>,
    Json(req): Json<PreuploadRequest>,
) -> Result<Response, HfError> {
    may_commit(&state, &access, at.rev.as_ref(), create_pr(&q)).await?;
    let (path, rev) = (access.path(&state), at.rev.to_string());
    // A path no repo may hold is refused before anything is uploaded for it.
    for f in &req.files {
        hub_types::check_repo_path(&f.path)
            .map_err(|e| HfError::Unprocessable(format!("invalid path: {e}")))?;
    }
    let paths: Vec<String> = req.files.iter().map(|f| f.path.clone()).collect();
    let sizes: std::collections::HashMap<String, u64> =
        req.files.iter().map(|f| (f.path.clone(), f.size)).collect();
    let (attributes, ignores, existing, same_size) = with_reader(&state, path, move |r| {
        let mut same_size = std::collections::HashSet::new();
        // A new branch (create_pr, or an unborn revision) is judged against main.
        let commit = r
            .resolve(&rev)
            .or_else(|_| r.resolve(git_repos::DEFAULT_BRANCH))?;
        let attributes = match r.entry(&commit, ".gitattributes")? {
            Some(e) if e.kind == EntryKind::File => {
                String::from_utf8_lossy(&r.blob(&e.oid)?).into_owned()
            }
            _ => String::new(),
        };
        let ignores = match r.entry(&commit, ".gitignore")? {
            Some(e) if e.kind == EntryKind::File && e.size <= MAX_GITIGNORE as u64 => {
                String::from_utf8_lossy(&r.blob(&e.oid)?).into_owned()
            }
            _ => String::new(),
        };
        let mut existing = Vec::new();
        for p in &paths {
            let oid = match r.entry(&commit, p)? {
                Some(e) if e.kind == EntryKind::File => {
                    let data = if e.size < 1024 {
                        Some(r.blob(&e.oid)?)
                    } else {
                        None
                    };
                    match data.as_deref().and_then(parse_lfs_pointer) {
                        Some(Ok(ptr)) => {
                            if sizes.get(p) == Some(&ptr.size) {
                                same_size.insert(p.clone());
                            }
                            Some(ptr.oid)
                        }
                        _ => Some(e.oid),
                    }
                }
                _ => None,
            };
            existing.push(oid);
        }
        Ok((attributes, ignores, existing, same_size))
    })
    .await?;
    let lfs = LfsPatterns::parse(&attributes);
    // The commit's own .gitignore if it brings one, else the revision's (as the Hub does).
    let rules = match &req.git_ignore {
        Some(g) if g.len() > MAX_GITIGNORE => {
            return Err(HfError::BadRequest(format!(
                "gitIgnore is over {MAX_GITIGNORE} bytes"
            )))
        }
        Some(g) => gitignore(g),
        None => gitignore(&ignores),
    };
    let files: Vec<(Value, u64)> = req
        .files
        .iter()
        .zip(existing)
        .map(|(f, oid)| {
            let sample = f
                .sample
                .as_deref()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .unwrap_or_default();
            let binary = sample.contains(&0);
            let mode = if f.size > 0 && (f.size >= LFS_THRESHOLD || binary || lfs.is_lfs(&f.path)) {
                "lfs"
            } else {
                "regular"
            };
            // What the upload may add: an LFS file unless the revision holds one of the same
            // size at that path already (the client skips what it already has).
            let skip = ignored(&rules, &f.path);
            let adds = match (&oid, mode) {
                _ if skip => 0,
                (_, "regular") => 0,
                (Some(_), _) if same_size.contains(&f.path) => 0,
                _ => f.size,
            };
            let entry =
                json!({ "path": f.path, "uploadMode": mode, "shouldIgnore": skip, "oid": oid });
            (entry, adds)
        })
        .collect();
    // A namespace with a storage limit: an upload that cannot fit is refused here, where every
    // client shows the message (the LFS batch and the Xet shard check again, exactly).
    let adds: u64 = files.iter().map(|(_, n)| n).sum();
    if adds > 0 {
        if let Some(room) = crate::quota::room(&state, &access.repo).await? {
            if let Some(message) = room.refuses(adds) {
                return Err(HfError::Forbidden(message));
            }
        }
    }
    let files: Vec<Value> = files.into_iter().map(|(v, _)| v).collect();
    Ok(Json(json!({ "files": files })).into_response())
}

/// `POST /api/{type}s/{id}/commit/{rev}[?create_pr=1]` with NDJSON operations, read and
/// applied line by line (file contents go to the object store as they arrive).
/// Whether the request asks to open a pull request (`?create_pr=1`).
fn create_pr(q: &[(String, String)]) -> bool {
    q.iter()
        .any(|(k, v)| k == "create_pr" && (v == "1" || v == "true"))
}

/// Who may commit to `rev`: writers anywhere; others who may contribute (a write token and
/// read access) only to open a pull request, or to the open pull request they opened.
async fn may_commit(
    state: &AppState,
    access: &RepoAccess<Hub>,
    rev: &str,
    create_pr: bool,
) -> Result<(), HfError> {
    if access.role >= Role::Write {
        return Ok(());
    }
    let who = access.user()?;
    if crate::edge::access::may_contribute(Some(who), access.role) {
        if create_pr {
            return Ok(());
        }
        if let Some(n) = rev
            .strip_prefix("refs/pr/")
            .and_then(|n| n.parse::<i64>().ok())
        {
            let own = state
                .accounts()
                .discussion(access.repo.id, n)
                .await?
                .is_some_and(|d| {
                    d.is_pr
                        && d.author_id == Some(who.user_id)
                        && (d.status == "open" || d.status == "draft")
                });
            if own {
                return Ok(());
            }
        }
    }
    access.require(Role::Write)
}

pub async fn commit(
    State(state): State<AppState>,
    access: RepoAccess<Hub>,
    at: At<Hub>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HfError> {
    let (repo, rev) = (&access.repo, at.rev.to_string());
    let create_pr = create_pr(&q);
    may_commit(&state, &access, &rev, create_pr).await?;
    let who = access.user()?.clone();

    let path = state.repos().path(&repo.repo_ref());
    let rev2 = rev.clone();
    let (base, base_attributes, on_branch) = with_reader(&state, path.clone(), move |r| {
        let commit = r.resolve(&rev2)?;
        let attributes = match r.entry(&commit, ".gitattributes")? {
            Some(e) if e.kind == EntryKind::File => Some(r.blob(&e.oid)?),
            _ => None,
        };
        // Commits land on a branch (or an open pull request's ref), never on a tag or a
        // commit id, which would otherwise become a branch of that name.
        let full = if rev2.starts_with("refs/pr/") {
            rev2.clone()
        } else {
            format!("refs/heads/{rev2}")
        };
        let prefix = if rev2.starts_with("refs/pr/") {
            "refs/pr/"
        } else {
            "refs/heads/"
        };
        let on_branch = r.refs(prefix)?.iter().any(|p| p.full == full);
        Ok((commit.id, attributes, on_branch))
    })
    .await?;
    if !on_branch {
        return Err(HfError::RevisionNotFound(format!(
            "{rev} is not a branch; commits (and pull requests) start from a branch"
        )));
    }

    let mut builder = state
        .repos()
        .begin_commit(&repo.repo_ref(), &base)
        .await
        .map_err(commit_error)?;
    let reader = BodyReader::new(
        body,
        false,
        state.config().io_timeout,
        Some(MAX_COMMIT_BODY),
    );
    // Framed with tokio-util's line codec: each byte is looked at once, and no line may grow
    // past MAX_LINE (a body of newlines, or one endless line, costs linear time and bounded
    // memory).
    let mut lines = FramedRead::new(
        StreamReader::new(Box::pin(reader.into_stream())),
        ndjson::codec(),
    );
    let mut parsed = Parsed::default();
    let mut line_no = 0usize;
    while let Some(line) = lines.next().await {
        line_no += 1;
        let line = line.map_err(|e| match e {
            LinesCodecError::MaxLineLengthExceeded => {
                HfError::BadRequest(format!("line {line_no} is over {MAX_LINE} bytes"))
            }
            LinesCodecError::Io(e) => HfError::BadRequest(format!("line {line_no}: {e}")),
        })?;
        if line_no > MAX_LINES {
            return Err(HfError::BadRequest(format!(
                "the commit has more than {MAX_LINES} lines; split it into several commits"
            )));
        }
        if !line.bytes().all(|b| b.is_ascii_whitespace()) {
            apply_line(
                &state,
                repo,
                &mut builder,
                &mut parsed,
                line.as_bytes(),
                line_no,
            )
            .await?;
        }
    }
    let header = parsed
        .header
        .ok_or_else(|| HfError::BadRequest("the commit has no header".into()))?;
    if let Some(parent) = &header.parent_commit {
        if parent.len() < 5 || !base.starts_with(parent.as_str()) {
            return Err(HfError::PreconditionFailed(format!(
                "{STALE} ({rev} is at {base}, not at the parent commit {parent})"
            )));
        }
    }
    let attributes = parsed.attributes.or(base_attributes);
    if let Some(updated) = consistent_gitattributes(&parsed.lfs_paths, attributes) {
        builder
            .apply(Op::Put {
                path: ".gitattributes".into(),
                content: updated,
            })
            .await
            .map_err(commit_error)?;
    }
    // One API change of this repo's refs at a time, on every node of the database, taken
    // only now that the body is in (a slow client holds no lock): the next pull request's
    // number is read under it and stays free until the ref is made; a base that moved since
    // it was read above is caught by git's compare-and-swap on the ref (412).
    let _lock = state
        .accounts()
        .lock_repo(repo.id, state.config().pack_queue_wait)
        .await?;
    let (target_ref, expected, pr) = if create_pr {
        // Above every discussion's number and every pull request's ref.
        let n = super::discussions::next_num(&state, repo).await?;
        (format!("refs/pr/{n}"), None, Some(n))
    } else if rev.starts_with("refs/pr/") {
        (rev.clone(), Some(base.clone()), None)
    } else {
        (format!("refs/heads/{rev}"), Some(base.clone()), None)
    };
    let summary = header.summary.unwrap_or_else(|| "Upload files".into());
    let description = header.description.clone().unwrap_or_default();
    let message = match header.description.filter(|d| !d.is_empty()) {
        Some(d) => format!("{summary}\n\n{d}\n"),
        None => format!("{summary}\n"),
    };
    if !git_repos::valid_message(&message) {
        return Err(HfError::BadRequest(
            "the commit message contains a NUL or control character".into(),
        ));
    }
    let mut env = crate::git_http::push_env(&state, repo, &who);
    // The validator's advice then speaks of the API, not of git commands.
    env.vars.push(("MODELHUB_VIA_API".into(), "1".into()));
    if target_ref.starts_with("refs/pr/") {
        env.vars.push(("MODELHUB_API_PR".into(), "1".into()));
    }
    let request = CommitRequest {
        target_ref: &target_ref,
        expected_tip: expected.as_deref(),
        author: &who.name,
        message: &message,
        env: &env,
    };
    let oid = state
        .repos()
        .finish_commit(&repo.repo_ref(), builder, &request)
        .await
        .map_err(|e| match e {
            CommitError::Stale => {
                HfError::PreconditionFailed(format!("{STALE} ({rev} moved while committing)"))
            }
            other => commit_error(other),
        })?;
    state.refs_moved(repo).await;
    if let Some(n) = pr {
        // The pull request the commit opened, with the commit's words as its title and first
        // comment. Its ref exists already, so its number is never given again even if this
        // record fails.
        let base_ref = format!("refs/heads/{rev}");
        super::discussions::record_pull_request(
            &state,
            repo,
            &who,
            n,
            &summary,
            &description,
            (&base_ref, &base),
        )
        .await?;
    }
    let url = format!("{}/{}", public_base(&state, &headers), repo.repo_ref());
    let mut out = json!({ "commitUrl": format!("{url}/commit/{oid}"), "commitOid": oid, "commitMessage": summary, "success": true });
    if let Some(n) = pr {
        out["pullRequestUrl"] = json!(format!("{url}/discussions/{n}"));
    }
    Ok((StatusCode::OK, Json(out)).into_response())
}

/// The Hub's words for a commit whose base moved: scripts that retry match on them.
const STALE: &str = "A commit has happened since. Please refresh and try again.";

fn commit_error(e: CommitError) -> HfError {
    match e {
        CommitError::Rejected(text) => HfError::BadRequest(text),
        CommitError::Stale => {
            HfError::PreconditionFailed(format!("{STALE} (the branch moved while committing)"))
        }
        e @ CommitError::BadPath(_) => HfError::Unprocessable(e.to_string()),
        e @ CommitError::CopySourceMissing { .. } => HfError::BadRequest(e.to_string()),
        CommitError::Repo(e) => HfError::internal(e),
    }
}

/// What the NDJSON lines said besides the changes themselves.
#[derive(Default)]
struct Parsed {
    header: Option<Header>,
    /// The commit's own `.gitattributes`, if it writes one.
    attributes: Option<Vec<u8>>,
    lfs_paths: Vec<String>,
}

async fn apply_line(
    state: &AppState,
    repo: &accounts::Repo,
    builder: &mut git_repos::CommitBuilder,
    parsed: &mut Parsed,
    line: &[u8],
    n: usize,
) -> Result<(), HfError> {
    let op = match ndjson::parse_line(line, n).map_err(HfError::BadRequest)? {
        Line::Header(h) => {
            parsed.header = Some(h);
            return Ok(());
        }
        Line::File { path, content } => {
            if path == ".gitattributes" {
                parsed.attributes = Some(content.clone());
            }
            Op::Put { path, content }
        }
        Line::LfsFile {
            path,
            oid,
            size: claimed,
        } => {
            // The object must be in the store and linked to this repo (copies omit the size).
            let size = state
                .accounts()
                .linked_object(repo.id, &oid)
                .await?
                .ok_or_else(|| {
                    HfError::BadRequest(format!(
                        "LFS object {oid} has not been uploaded to {}; upload it first",
                        repo.repo_ref()
                    ))
                })?;
            if claimed.is_some_and(|s| s != size) {
                return Err(HfError::BadRequest(format!(
                    "LFS object {oid} has {size} bytes, not {}",
                    claimed.unwrap_or_default()
                )));
            }
            parsed.lfs_paths.push(path.clone());
            let pointer = format!(
                "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
            );
            Op::Put {
                path,
                content: pointer.into_bytes(),
            }
        }
        Line::Deleted(path) => Op::Delete { path },
        Line::DeletedFolder(path) => Op::DeleteFolder { path },
        Line::Copy { from, to, revision } => Op::Copy { from, to, revision },
    };
    builder.apply(op).await.map_err(commit_error)
}

/// LFS files whose paths `.gitattributes` does not send to LFS get a line of their own in it,
/// in the same commit, as the Hub does: otherwise a git clone would check out the pointers.
/// Returns the new `.gitattributes`, or `None` when nothing needs adding.
fn consistent_gitattributes(lfs_paths: &[String], current: Option<Vec<u8>>) -> Option<Vec<u8>> {
    let mut text = String::from_utf8_lossy(&current.unwrap_or_default()).into_owned();
    let patterns = LfsPatterns::parse(&text);
    let missing: Vec<&String> = lfs_paths.iter().filter(|p| !patterns.is_lfs(p)).collect();
    if missing.is_empty() {
        return None;
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for p in missing {
        // Spaces would split the pattern; git's attribute syntax matches them as [[:space:]].
        text.push_str(&format!(
            "{} filter=lfs diff=lfs merge=lfs -text\n",
            p.replace(' ', "[[:space:]]")
        ));
    }
    Some(text.into_bytes())
}
