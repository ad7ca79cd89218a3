//! A repo's pages: the card with its side panel, files and versions, a file, the history and
//! one commit's diff.

use accounts::Repo;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use git_repos::{EntryKind, DEFAULT_BRANCH};
use hub_types::{LfsOid, RepoType};
use maud::{html, Markup};
use repo_rules::{parse_lfs_pointer, ChangedFile, Severity};
use serde_json::Value;

use super::{human_count, human_size, layout, markdown, trusted, Page, PageError};
use crate::edge::http::{iso_time, page_param, public_base};
use crate::edge::{At, RepoAccess};
use crate::hf::refs::COMMITS_PAGE;
use crate::hf::{self, HfError};
use crate::AppState;

/// Text files shown in full up to this size; larger ones are cut.
const SHOWN_TEXT: usize = 512 << 10;

async fn read<T: Send + 'static>(
    state: &AppState,
    repo: &Repo,
    f: impl FnOnce(&git_repos::Reader) -> Result<T, git_repos::ReadError> + Send + 'static,
) -> Result<T, PageError> {
    let path = state.repos().path(&repo.repo_ref());
    Ok(hf::with_reader(state, path, f).await?)
}

pub(crate) fn tabs(repo: &Repo, rev: &str, on: &str) -> Markup {
    let base = super::repo_url(&repo.repo_ref());
    html! {
        nav.tabs {
            a.on[on == "card"] href=(base) { "Card" }
            a.on[on == "files"] href={ (base) "/tree/" (rev) } { "Files and versions" }
            a.on[on == "commits"] href={ (base) "/commits/" (rev) } { "Commits" }
            a.on[on == "community"] href={ (base) "/discussions" } { "Community" }
        }
    }
}

pub(crate) fn heading(repo: &Repo) -> Markup {
    let r = repo.repo_ref();
    html! {
        h1 {
            @if repo.repo_type != RepoType::Model { span.badge { (repo.repo_type) } " " }
            a href={ "/" (r.id.namespace) } { (r.id.namespace) } " / " a href=(super::repo_url(&r)) { (r.id.name) }
            @if repo.private { " " span.badge { "private" } }
        }
    }
}

pub async fn card(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let role = access.role;
    let (repo, who) = (access.repo, access.who);
    let t = repo.repo_type;
    let path = state.repos().path(&repo.repo_ref());
    let info =
        hf::info::summary(&state, &repo, path, DEFAULT_BRANCH.to_owned(), true, true).await?;
    let form_token = super::form_token(&headers);
    // A gated repo: the box to ask for access, to whoever the gate stops; its writers get a
    // tab for the requests.
    let gate = crate::gate::mode(&state, &repo).await?;
    let request = match (&who, gate.as_str()) {
        (Some(p), "auto" | "manual") => state.accounts().access_status(repo.id, p.user_id).await?,
        _ => None,
    };
    let gate_state = (gate, request);
    let gated_for_viewer = gate_state.0 != "false"
        && role < hub_types::Role::Write
        && gate_state.1.as_deref() != Some("accepted");
    // The training datasets that are dataset repos here (and the viewer may see) are linked.
    let mut here = std::collections::HashSet::new();
    for d in card_list(&info, "datasets").into_iter().take(50) {
        let Ok(id) = hub_types::RepoId::parse(&d) else {
            continue;
        };
        let target = hub_types::RepoRef {
            repo_type: RepoType::Dataset,
            id,
        };
        if crate::edge::access::authorize(&state, who.as_ref(), &target, hub_types::Role::Read)
            .await
            .is_ok()
        {
            here.insert(d);
        }
    }
    // The model tree: this model's children the viewer may see, counted per relation.
    let mut children = Vec::new();
    if t == RepoType::Model {
        let id = repo.repo_ref().id.to_string();
        for relation in ["adapter", "finetune", "merge", "quantized"] {
            let n = hf::info::children_count(&state, who.as_ref(), &id, Some(relation)).await?;
            if n > 0 {
                children.push((
                    relation,
                    n,
                    format!("/models?tag=base_model:{relation}:{id}"),
                ));
            }
        }
    }
    let liked = match &who {
        Some(p) => state.accounts().likes(repo.id, p.user_id).await?,
        None => false,
    };
    let used = hf::info::used_storage(&state, &repo).await?;
    let readme = read(&state, &repo, |r| {
        let c = r.resolve(DEFAULT_BRANCH)?;
        match r.entry(&c, "README.md")? {
            Some(e) if e.kind == EntryKind::File && e.size <= 1 << 20 => Ok(Some(r.blob(&e.oid)?)),
            _ => Ok(None),
        }
    })
    .await?;
    let url = super::repo_url(&repo.repo_ref());
    let url2 = url.clone();
    let (card_html, findings) = super::cpu(move || {
        let card_html = readme
            .as_deref()
            .map(|b| markdown::render(&String::from_utf8_lossy(b), &url2, DEFAULT_BRANCH));
        let findings = match readme {
            Some(b) => {
                let f = ChangedFile {
                    path: "README.md".into(),
                    size: b.len() as u64,
                    content: b,
                };
                repo_rules::check(
                    &[f],
                    &repo_rules::CardOnly(t),
                    &repo_rules::Policy::default().for_repo(None),
                )
            }
            None => Vec::new(),
        };
        (card_html, findings)
    })
    .await?;
    let card = info.get("cardData").cloned().unwrap_or(Value::Null);
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let base = public_base(&state, &headers);
    let rid = repo.repo_ref().id.to_string();
    // A mirror says where it comes from and what the validator found when it was imported.
    let mirror = state.accounts().mirror(repo.id).await?;
    let mirror_findings: Vec<String> = mirror
        .as_ref()
        .and_then(|m| serde_json::from_str(&m.findings).ok())
        .unwrap_or_default();
    let content = html! {
        (heading(&repo))
        div.tags { @for t in info["tags"].as_array().into_iter().flatten().filter_map(Value::as_str) { span.badge { (t) } } }
        (tabs(&repo, DEFAULT_BRANCH, "card"))
        @if let Some(m) = &mirror {
            section.mirror {
                p.muted {
                    "Mirror of " code { (m.upstream) "/" (t.url_prefix()) (m.upstream_repo) }
                    ", last synced " (m.last_sync_at.as_deref().unwrap_or("never"))
                    @if m.last_error.is_some() { " (the last sync failed)" }
                    "; imported with " (mirror_findings.len()) " warnings."
                }
                @if !mirror_findings.is_empty() {
                    ul.findings { @for f in &mirror_findings { li { (f) } } }
                }
            }
        }
        @if gated_for_viewer {
            (super::gated::gate_box(&card, &url, who.is_some(), gate_state.1.as_deref(), form_token.as_deref()))
        }
        @if gate_state.0 != "false" && role >= hub_types::Role::Write {
            p.muted { "This repo is gated (" (gate_state.0) "). " a href={ (url) "/access-requests" } { "Access requests" } }
        } @else if role >= hub_types::Role::Write && who.is_some() {
            p.muted { a href={ (url) "/access-requests" } { "Gate this repo" } }
        }
        div.layout {
            article.card {
                @if !findings.is_empty() {
                    div.findings {
                        strong { "Card checks" }
                        ul { @for f in &findings { li { (if f.severity == Severity::Error { "error" } else { "warning" }) ": " (f.message) } } }
                    }
                }
                @let results = eval_results(&card["model-index"]);
                @if !results.is_empty() {
                    h3 { "Evaluation results" }
                    table.evals {
                        thead { tr { th { "Task" } th { "Dataset" } th { "Metric" } th { "Value" } } }
                        tbody {
                            @for r in &results {
                                tr {
                                    td { (r.task) }
                                    td { (r.dataset) }
                                    td { (r.metric) }
                                    td { (r.value) @if r.verified { " " span.badge.verified title="verified" { "verified" } } }
                                }
                            }
                        }
                    }
                }
                @match &card_html {
                    Some(h) => (trusted(h.clone())),
                    None => p.muted { "This repo has no model card (README.md)." },
                }
            }
            aside {
                dl {
                    @for lic in list(&card["license"]) {
                        dt { "License" }
                        dd { a href={ "https://spdx.org/licenses/" (lic) ".html" } rel="noopener noreferrer" { (lic) } }
                    }
                    @if let Some(task) = info.get("pipeline_tag").and_then(Value::as_str) { dt { "Task" } dd { a href={ "/models?task=" (task) } { (task) } } }
                    @if let Some(lib) = info.get("library_name").and_then(Value::as_str) { dt { "Library" } dd { a href={ "/models?library=" (lib) } { (lib) } } }
                    @let langs = list(&card["language"]);
                    @if !langs.is_empty() { dt { "Languages" } dd { (langs.join(", ")) } }
                    @let datasets = list(&card["datasets"]);
                    @if !datasets.is_empty() {
                        dt { "Datasets" }
                        dd.datasets {
                            @for d in &datasets {
                                @if here.contains(d) { a href={ "/datasets/" (d) } { (d) } } @else { span { (d) } }
                                " "
                            }
                        }
                    }
                    @if let Some(bm) = info.get("baseModels") {
                        dt { "Base model" " (" (bm["relation"].as_str().unwrap_or_default()) ")" }
                        dd.bases { @for b in bm["models"].as_array().into_iter().flatten() { @let id = b["id"].as_str().unwrap_or_default(); a href={ "/" (id) } { (id) } " " } }
                    }
                    @if !children.is_empty() {
                        dt { "Model tree" }
                        dd.tree { @for (relation, n, link) in &children { a href=(link) { (n) " " (tree_label(relation, *n)) } " " } }
                    }
                    @if let Some(st) = info.get("safetensors") {
                        dt { "Parameters" }
                        dd.params { (human_count(st["total"].as_u64().unwrap_or(0))) " (" (st["total"].as_u64().unwrap_or(0)) ")" }
                        dt { "Memory to load" }
                        dd.memory {
                            @for (label, bytes) in memory_needed(st) { span.badge { (label) " · " (human_size(bytes)) } }
                        }
                        dt { "Tensor types" }
                        dd { @for (dtype, n) in st["parameters"].as_object().into_iter().flatten() { span.badge { (dtype) " · " (human_count(n.as_u64().unwrap_or(0))) } } }
                    }
                    dt { "Size" } dd { (human_size(info["usedStorage"].as_u64().unwrap_or(0))) }
                    dt { "Storage used" } dd.storage { (human_size(used)) }
                    dt { "Downloads" } dd { (repo.downloads) }
                    dt { "Likes" }
                    dd.likes {
                        (info["likes"].as_u64().unwrap_or(0))
                        @if let (Some(_), Some(t)) = (&who, &form_token) {
                            form.like method="post" action={ (url) "/like" } {
                                input type="hidden" name="form_token" value=(t);
                                input type="hidden" name="like" value=(if liked { "false" } else { "true" });
                                button type="submit" { @if liked { "Unlike" } @else { "Like" } }
                            }
                        }
                    }
                }
                h3 { "Use it" }
                pre { code { "git clone " (base) "/" (repo.repo_ref()) } }
                pre { code { "HF_ENDPOINT=" (base) " python -c \\\n 'from huggingface_hub import snapshot_download\nprint(snapshot_download(\"" (rid) "\"" @if t != RepoType::Model { ", repo_type=\"" (t) "\"" } "))'" } }
            }
        }
    };
    Ok(layout(&rid, who.as_ref(), content))
}

/// `.../tree/{rev}` and `.../tree/{rev}/{*path}`.
pub async fn tree(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    at: At<Page>,
) -> Result<Response, PageError> {
    let (repo, who) = (access.repo, access.who);
    let (rev, dir) = (at.rev.to_string(), at.path);
    let (rev2, dir2) = (rev.clone(), dir.clone());
    let (entries, refs) = read(&state, &repo, move |r| {
        let c = r.resolve(&rev2)?;
        let Some(list) = r.list(&c, &dir2, false)? else {
            return Ok((None, Vec::new()));
        };
        let paths: Vec<String> = list.iter().take(200).map(|e| e.path.clone()).collect();
        let last = r.last_commits(&c, &paths, 10_000)?;
        let mut rows = Vec::new();
        for e in list {
            let lfs = if e.kind == EntryKind::File && e.size < 1024 {
                parse_lfs_pointer(&r.blob(&e.oid)?).and_then(Result::ok)
            } else {
                None
            };
            let commit = last.get(&e.path).cloned();
            rows.push((e, lfs, commit));
        }
        let mut refs: Vec<String> = r.refs("refs/heads/")?.into_iter().map(|x| x.name).collect();
        refs.extend(r.refs("refs/tags/")?.into_iter().map(|x| x.name));
        Ok((Some(rows), refs))
    })
    .await?;
    let entries = entries.ok_or(PageError::NotFound)?;
    let url = super::repo_url(&repo.repo_ref());
    let parent = dir
        .rsplit_once('/')
        .map(|(p, _)| p.to_owned())
        .unwrap_or_default();
    let content = html! {
        (heading(&repo))
        (tabs(&repo, &rev, "files"))
        details.refs {
            summary { "Revision: " strong { (rev) } }
            ul { @for r in &refs { li { a href={ (url) "/tree/" (super::list::enc(r)) } { (r) } } } }
        }
        @if !dir.is_empty() { p { a href={ (url) "/tree/" (rev) (if parent.is_empty() { String::new() } else { format!("/{parent}") }) } { "↑ up" } " / " (dir) } }
        table.files {
            @for (e, lfs, commit) in &entries {
                @let leaf = e.path.rsplit('/').next().unwrap_or(&e.path);
                tr {
                    td {
                        @if e.kind == EntryKind::Dir { a href={ (url) "/tree/" (rev) "/" (e.path) } { (leaf) "/" } }
                        @else { a href={ (url) "/blob/" (rev) "/" (e.path) } { (leaf) } @if lfs.is_some() { " " span.badge.lfs { "LFS" } } }
                    }
                    td.size { @if e.kind == EntryKind::File { (human_size(lfs.as_ref().map_or(e.size, |p| p.size))) } }
                    td.when { @if let Some(c) = commit { a href={ (url) "/commit/" (c.id) } { (c.title) } " · " (iso_time(c.time).get(..10).unwrap_or_default()) } }
                }
            }
        }
    };
    Ok(layout(
        &format!("{} files", repo.repo_ref().id),
        who.as_ref(),
        content,
    ))
}

pub async fn blob(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    at: At<Page>,
) -> Result<Response, PageError> {
    let (rev, file) = (at.rev.to_string(), at.path);
    // A gated repo shows its card to everyone, its other files to those it lets through.
    if file != "README.md" {
        if let Some(r) =
            crate::gate::blocked(&state, &access.repo, access.who.as_ref(), access.role, "").await?
        {
            return Err(PageError::Refused(
                axum::http::StatusCode::FORBIDDEN,
                r.message,
            ));
        }
    }
    let (repo, who) = (access.repo, access.who);
    let (rev2, file2) = (rev.clone(), file.clone());
    let entry = read(&state, &repo, move |r| {
        let c = r.resolve(&rev2)?;
        Ok(r.entry(&c, &file2)?.filter(|e| e.kind == EntryKind::File))
    })
    .await?
    .ok_or(PageError::NotFound)?;
    // git gives the blob whole: it is read under the server's budget for plain blobs, and
    // only the part shown is kept.
    let (size, share) = (entry.size, state.inner.blobs.take(entry.size).await);
    let data = read(&state, &repo, move |r| {
        let mut data = r.blob(&entry.oid)?;
        data.truncate(SHOWN_TEXT + 1); // one byte more tells that the text was cut
        data.shrink_to_fit();
        Ok(data)
    })
    .await?;
    drop(share);
    let url = super::repo_url(&repo.repo_ref());
    let download = format!("{url}/resolve/{rev}/{file}");
    let pointer = parse_lfs_pointer(&data).and_then(Result::ok);
    let tensors = match &pointer {
        Some(p) if file.ends_with(".safetensors") => {
            safetensors_header(&state, &repo, &p.oid, p.size).await
        }
        _ => None,
    };
    let binary = pointer.is_some() || data.iter().take(8000).any(|b| *b == 0);
    let text = (!binary).then(|| {
        let cut = data.len() > SHOWN_TEXT;
        (
            String::from_utf8_lossy(&data[..data.len().min(SHOWN_TEXT)]).into_owned(),
            cut,
        )
    });
    let highlighted = match &text {
        Some((body, _)) => {
            let (file, body) = (file.clone(), body.clone());
            super::cpu(move || super::highlight::highlight(&file, &body)).await?
        }
        None => None,
    };
    let content = html! {
        (heading(&repo))
        (tabs(&repo, &rev, "files"))
        p { strong { (file) } " · " (human_size(pointer.as_ref().map_or(size, |p| p.size))) @if pointer.is_some() { " " span.badge.lfs { "LFS" } } " · " a href=(download) { "Download" } }
        @if let Some(rows) = &tensors {
            table.grid.tensors {
                thead { tr { th { "Tensor" } th { "dtype" } th { "shape" } } }
                tbody { @for t in rows { tr { td { (t.name) } td { (t.dtype) } td { "[" (t.shape.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")) "]" } } } }
            }
        }
        @match &text {
            Some((body, cut)) => {
                @match &highlighted {
                    Some(h) => pre.file.highlighted { code { (trusted(h.clone())) } },
                    None => pre.file { code { (body) } },
                }
                @if *cut { p.muted { "Shown up to " (human_size(SHOWN_TEXT as u64)) "; download the file for the rest." } }
            }
            None => @if tensors.is_none() { p.muted { "A binary file: use the download link." } },
        }
    };
    Ok(layout(&file, who.as_ref(), content))
}

/// The tensors of a stored safetensors object, from its header alone.
async fn safetensors_header(
    state: &AppState,
    repo: &Repo,
    oid: &str,
    size: u64,
) -> Option<Vec<repo_rules::weights::formats::Tensor>> {
    use futures_util::StreamExt;
    let oid = LfsOid::parse(oid).ok()?;
    state.accounts().linked_object(repo.id, &oid).await.ok()??;
    let read = |start: u64, len: u64| {
        let oid = oid.clone();
        async move {
            if len == 0 {
                return Some(Vec::new());
            }
            let mut s = state
                .store()
                .get(
                    &oid,
                    Some(lfs_store::ByteRange {
                        start,
                        end: start + len - 1,
                    }),
                )
                .await
                .ok()?;
            let mut out = Vec::new();
            while let Some(c) = s.next().await {
                out.extend_from_slice(&c.ok()?);
            }
            Some(out)
        }
    };
    let head = read(0, 8.min(size)).await?;
    let n = u64::from_le_bytes(head.get(..8)?.try_into().ok()?);
    if n > 16 << 20 || 8 + n > size {
        return None;
    }
    let header = read(8, n).await?;
    let mut bytes = head;
    bytes.extend_from_slice(&header);
    let reader = |off: u64, len: u64| {
        bytes
            .get(off as usize..(off + len) as usize)
            .map(<[u8]>::to_vec)
    };
    repo_rules::weights::formats::safetensors(&reader, size)
        .ok()
        .map(|s| s.tensors)
}

pub async fn commits(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    at: At<Page>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let (repo, who) = (access.repo, access.who);
    let rev = at.rev.to_string();
    let page = page_param(&q);
    let rev2 = rev.clone();
    let (list, more) = read(&state, &repo, move |r| {
        let c = r.resolve(&rev2)?;
        r.log(&c, page.saturating_mul(COMMITS_PAGE), COMMITS_PAGE)
    })
    .await?;
    let url = super::repo_url(&repo.repo_ref());
    let content = html! {
        (heading(&repo))
        (tabs(&repo, &rev, "commits"))
        ul.repos.commits {
            @for c in &list {
                li {
                    a href={ (url) "/commit/" (c.id) } { strong { (c.title) } }
                    div.meta { span { (c.author_name) } span { (iso_time(c.time).get(..16).unwrap_or_default().replace('T', " ")) } code { (c.id.get(..10).unwrap_or_default()) } }
                }
            }
        }
        div.pager {
            @if page > 0 { a href={ "?p=" (page - 1) } { "← Newer" } }
            @if more { a href={ "?p=" (page + 1) } { "Older →" } }
        }
    };
    Ok(layout(
        &format!("{} commits", repo.repo_ref().id),
        who.as_ref(),
        content,
    ))
}

/// The `{sha}` of a commit page.
#[derive(serde::Deserialize)]
pub struct CommitPath {
    sha: String,
}

pub async fn commit(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    Path(CommitPath { sha }): Path<CommitPath>,
) -> Result<Response, PageError> {
    // A commit's diff shows its files' contents: a gated repo's only to those it lets through.
    if let Some(r) =
        crate::gate::blocked(&state, &access.repo, access.who.as_ref(), access.role, "").await?
    {
        return Err(PageError::Refused(
            axum::http::StatusCode::FORBIDDEN,
            r.message,
        ));
    }
    let (repo, who) = (access.repo, access.who);
    if sha.len() < 5 || sha.len() > 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PageError::NotFound);
    }
    let sha2 = sha.clone();
    let info = read(&state, &repo, move |r| r.resolve(&sha2)).await?;
    let diff = git_show(&state.repos().path(&repo.repo_ref()), &info.id).await?;
    let content = html! {
        (heading(&repo))
        (tabs(&repo, DEFAULT_BRANCH, "commits"))
        h2 { (info.title) }
        p.muted { (info.author_name) " · " (iso_time(info.time).get(..16).unwrap_or_default().replace('T', " ")) " · " code { (info.id) } }
        @let rest = info.message.lines().skip(1).collect::<Vec<_>>().join("\n");
        @if !rest.trim().is_empty() { pre { (rest.trim()) } }
        pre.diff {
            @for line in diff.lines() {
                @let class = if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff ") || line.starts_with("index ") { "hunk" } else if line.starts_with('+') { "add" } else if line.starts_with('-') { "del" } else if line.starts_with("@@") { "hunk" } else { "" };
                span class=(class) { (line) } "\n"
            }
        }
    };
    Ok(layout(&info.title, who.as_ref(), content))
}

/// The commit's patch against its first parent, as git prints it (capped).
async fn git_show(repo: &std::path::Path, sha: &str) -> Result<String, PageError> {
    let out = git_repos::git_command()
        .current_dir(repo)
        .args([
            "show",
            "--format=",
            "--no-ext-diff",
            "--no-textconv",
            "--patch",
            "--stat",
            "-M",
            sha,
        ])
        .output()
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    if !out.status.success() {
        return Err(HfError::Internal(String::from_utf8_lossy(&out.stderr).into_owned()).into());
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.len() > 1 << 20 {
        text.truncate(1 << 20);
        text.push_str("\n… (diff cut at 1 MB)");
    }
    Ok(text)
}

#[derive(serde::Deserialize)]
pub struct LikeForm {
    form_token: String,
    like: bool,
}

/// `POST {repo}/like`: the signed-in viewer likes or unlikes the repo, then sees it again.
pub async fn like(
    State(state): State<AppState>,
    access: RepoAccess<Page>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<LikeForm>,
) -> Result<Response, PageError> {
    let who = super::form_user(access.who.as_ref(), &headers, Some(&f.form_token))?;
    if f.like {
        state.accounts().like(access.repo.id, who.user_id).await?;
    } else {
        state.accounts().unlike(access.repo.id, who.user_id).await?;
    }
    state.inner.caches.listings.clear();
    use axum::response::IntoResponse;
    Ok(axum::response::Redirect::to(&super::repo_url(&access.repo.repo_ref())).into_response())
}

/// "1 finetune", "2 finetunes", "1 quantization", ...
fn tree_label(relation: &str, n: u64) -> String {
    let one = match relation {
        "quantized" => "quantization",
        other => other,
    };
    if n == 1 {
        one.to_owned()
    } else {
        format!("{one}s")
    }
}

/// The memory needed to load weights counted per dtype: at their stored precision, and at
/// bf16, int8 and int4 (what the Hub's hardware panel estimates), weights only.
fn memory_needed(st: &Value) -> Vec<(&'static str, u64)> {
    let bytes_per = |dtype: &str| -> f64 {
        match dtype {
            "F64" | "I64" | "U64" => 8.0,
            "F32" | "I32" | "U32" => 4.0,
            "F16" | "BF16" | "I16" | "U16" => 2.0,
            "F8_E4M3" | "F8_E5M2" | "I8" | "U8" | "BOOL" => 1.0,
            _ => 2.0,
        }
    };
    let per_dtype = st["parameters"].as_object();
    let total = st["total"].as_u64().unwrap_or(0);
    let stored: f64 = per_dtype
        .into_iter()
        .flatten()
        .map(|(d, n)| n.as_u64().unwrap_or(0) as f64 * bytes_per(d))
        .sum();
    vec![
        ("stored", stored as u64),
        ("bf16", total * 2),
        ("int8", total),
        ("int4", total.div_ceil(2)),
    ]
}

/// One row of a card's evaluation results.
struct EvalRow {
    task: String,
    dataset: String,
    metric: String,
    value: String,
    verified: bool,
}

/// The card's `model-index` as rows (at most 200), skipping what does not follow its schema.
fn eval_results(mi: &Value) -> Vec<EvalRow> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    };
    let mut out = Vec::new();
    for entry in mi.as_array().into_iter().flatten() {
        for result in entry["results"].as_array().into_iter().flatten() {
            let task = result["task"]["name"]
                .as_str()
                .or(result["task"]["type"].as_str())
                .unwrap_or_default();
            let dataset = result["dataset"]["name"]
                .as_str()
                .or(result["dataset"]["type"].as_str())
                .unwrap_or_default();
            for m in result["metrics"].as_array().into_iter().flatten() {
                if out.len() == 200 {
                    return out;
                }
                out.push(EvalRow {
                    task: task.to_owned(),
                    dataset: dataset.to_owned(),
                    metric: m["name"]
                        .as_str()
                        .or(m["type"].as_str())
                        .unwrap_or_default()
                        .to_owned(),
                    value: text(&m["value"]),
                    verified: m["verified"].as_bool() == Some(true),
                });
            }
        }
    }
    out
}

/// A card field that is a string or a list of them (`datasets: glue`), from the summary.
fn card_list(info: &serde_json::Map<String, Value>, key: &str) -> Vec<String> {
    match info.get("cardData").and_then(|c| c.get(key)) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
