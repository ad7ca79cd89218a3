//! Webhooks, the server's side: the events in the Hub's payload format (version 3), pushes'
//! tentative events made real once their refs moved, and the worker that delivers them.
//!
//! Every change that tells webhooks writes its event in its own transaction (the accounts
//! crate's `telling`), or, for a push, from the pre-receive hook before git moves the refs;
//! [`settle_pushes`] then keeps the events whose refs did move. Each node runs a worker
//! ([`spawn_worker`]) that claims due deliveries (one node at a time per delivery), POSTs them
//! with the webhook's secret in `X-Webhook-Secret` and the event's id in
//! `X-Webhook-Event-Id` (stable across retries and replays, for receivers to de-duplicate),
//! with a 10 s timeout, and retries failures with exponential backoff and jitter for a day;
//! a webhook failing for a day is disabled with a note. A webhook only ever hears of repos
//! its owner can read at the time of sending.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use accounts::webhooks::{Attempt, Delivery, EventTarget, Outgoing, COMMENT_ID_MARK};
use accounts::Repo;
use git_repos::DEFAULT_BRANCH;
use serde_json::{json, Value};

use crate::AppState;

/// How long one delivery may take, answer included.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a node holds a claimed delivery (past [`SEND_TIMEOUT`] and the recording of the
/// attempt): a node that dies while sending delays that delivery by at most this.
const CLAIM_MS: i64 = 20_000;
/// How often an idle worker looks for due deliveries (retries, and events other nodes
/// wrote; its own wake it at once).
const POLL: Duration = Duration::from_millis(500);
/// Deliveries a node sends at once.
const IN_FLIGHT: usize = 16;
/// Bytes of an answer kept in the log.
const LOG_BYTES: usize = 1024;
/// A push's tentative event whose refs have not moved this long after it was written is
/// dropped (the push failed after its hook passed: a lost race for the ref).
const TENTATIVE_DROP_MS: i64 = 600_000;

/// What webhooks may not reach unless the admin says otherwise (`--webhook-deny`,
/// `--webhook-allow-private`): this host, private and shared ranges, link-local addresses
/// (cloud metadata services) and the unspecified address.
pub const DEFAULT_DENY: &str = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,\
100.64.0.0/10,fc00::/7,169.254.0.0/16,fe80::/10,0.0.0.0/8,::/128";

/// The largest payload sent; a larger one is trimmed (see [`trim`]).
const MAX_PAYLOAD: usize = 1 << 20;

/// Where links in payloads point: the public URL, else the address the server listens on.
fn base(state: &AppState) -> String {
    let c = state.config();
    c.public_url
        .clone()
        .or_else(|| c.listen_url.clone())
        .unwrap_or_else(|| "http://localhost".into())
}

fn repo_urls(state: &AppState, repo: &Repo) -> (String, String) {
    let b = base(state);
    let id = repo.repo_ref().id;
    (
        format!("{b}/{}{id}", repo.repo_type.url_prefix()),
        format!("{b}/api/{}/{id}", repo.repo_type.plural()),
    )
}

fn target<'a>(repo: &'a Repo, domain: &'a str, full_id: &'a str) -> EventTarget<'a> {
    EventTarget {
        domain,
        repo_type: repo.repo_type.as_str(),
        namespace: repo.namespace.as_str(),
        full_id,
    }
}

/// The commit the repo's main branch is at, if it has one.
async fn head_sha(state: &AppState, repo: &Repo) -> Option<String> {
    let path = state.repos().path(&repo.repo_ref());
    crate::hf::with_reader(state, path, |r| Ok(r.resolve(DEFAULT_BRANCH)?.id))
        .await
        .ok()
}

/// The payload's `repo`.
fn repo_json(state: &AppState, repo: &Repo, head: Option<&str>, id: Option<&str>) -> Value {
    let (web, api) = repo_urls(state, repo);
    json!({
        "id": id.map_or_else(|| repo.id.to_string(), str::to_owned),
        "type": repo.repo_type.as_str(),
        "name": repo.repo_ref().id.to_string(),
        "private": repo.private,
        "owner": { "id": repo.namespace.as_str() },
        "url": { "web": web, "api": api },
        "headSha": head,
    })
}

/// An event about `repo` itself (`scope` `repo` or `repo.config`; `action` create, delete,
/// move or update), with `extra` fields beside `event` and `repo`; `new_id` when the repo is
/// being created (its id comes from the transaction).
pub(crate) async fn repo_event(
    state: &AppState,
    repo: &Repo,
    action: &str,
    scope: &str,
    extra: Value,
) -> Outgoing {
    let head = head_sha(state, repo).await;
    let id = (repo.id == 0).then_some(accounts::webhooks::REPO_ID_MARK);
    let mut payload = json!({
        "event": { "action": action, "scope": scope },
        "repo": repo_json(state, repo, head.as_deref(), id),
    });
    if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), extra) {
        p.extend(extra);
    }
    let full = repo.repo_ref().id.to_string();
    Outgoing::new(
        (repo.id != 0).then_some(repo.id),
        &target(repo, "repo", &full),
        payload.to_string(),
    )
}

/// The event of a change of `repo`'s settings (`changed`: the new values; `repo` as it is
/// after).
pub(crate) async fn config_event(state: &AppState, repo: &Repo, changed: Value) -> Outgoing {
    repo_event(
        state,
        repo,
        "update",
        "repo.config",
        json!({ "updatedConfig": changed }),
    )
    .await
}

/// What a discussion event says of the discussion (after the change).
pub(crate) struct DiscussionFacts<'a> {
    pub num: i64,
    pub title: &'a str,
    pub is_pr: bool,
    pub status: &'a str,
    pub author: Option<&'a str>,
    pub base: Option<&'a str>,
    pub merge_commit: Option<&'a str>,
}

/// A comment a discussion event carries: its author, text and whether it is hidden; its id
/// is the first event the change stores unless given.
pub(crate) struct CommentFacts<'a> {
    pub id: Option<&'a str>,
    pub author: &'a str,
    pub content: &'a str,
    pub hidden: bool,
}

/// An event of a discussion of `repo` (`scope` `discussion` or `discussion.comment`).
pub(crate) fn discussion_event(
    state: &AppState,
    repo: &Repo,
    action: &str,
    scope: &str,
    d: &DiscussionFacts<'_>,
    comment: Option<&CommentFacts<'_>>,
) -> Outgoing {
    let (web, api) = repo_urls(state, repo);
    let mut discussion = json!({
        "id": format!("{}-{}", repo.id, d.num),
        "num": d.num,
        "title": d.title,
        "isPullRequest": d.is_pr,
        "status": d.status,
        "author": { "id": d.author.unwrap_or("deleted") },
        "url": {
            "web": format!("{web}/discussions/{}", d.num),
            "api": format!("{api}/discussions/{}", d.num),
        },
    });
    if let Some(base) = d.base {
        discussion["changes"] = json!({ "base": base, "mergeCommitId": d.merge_commit });
    }
    let mut payload = json!({
        "event": { "action": action, "scope": scope },
        "repo": repo_json(state, repo, None, None),
        "discussion": discussion,
    });
    if let Some(c) = comment {
        let id = c.id.unwrap_or(COMMENT_ID_MARK);
        payload["comment"] = json!({
            "id": id,
            "author": { "id": c.author },
            "hidden": c.hidden,
            "content": (!c.hidden).then_some(c.content),
            "url": { "web": format!("{web}/discussions/{}#{id}", d.num) },
        });
    }
    let full = repo.repo_ref().id.to_string();
    Outgoing::new(
        Some(repo.id),
        &target(repo, "discussion", &full),
        payload.to_string(),
    )
}

/// Makes real the tentative events of `repo`'s pushes whose refs moved (run after a push or
/// commit ended); those of pushes still under way are left for later.
pub(crate) async fn settle_pushes(state: &AppState, repo: &Repo) {
    let pending = match state
        .accounts()
        .tentative_events(Some(repo.id), i64::MAX, 100)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(repo = %repo.repo_ref(), error = %e, "cannot read pushes' webhook events; the sweep will");
            return;
        }
    };
    for t in pending {
        settle(state, repo, &t, false).await;
    }
    state.inner.webhook_wake.notify_one();
}

/// Confirms `t` if its refs moved; else drops it when `give_up`.
async fn settle(state: &AppState, repo: &Repo, t: &accounts::webhooks::Tentative, give_up: bool) {
    let refs: Vec<Value> = serde_json::from_str(&t.refs).unwrap_or_default();
    let path = state.repos().path(&repo.repo_ref());
    let check = refs.clone();
    let moved = crate::hf::with_reader(state, path, move |r| {
        for u in &check {
            let name = u["ref"].as_str().unwrap_or_default();
            let new = u["newSha"].as_str().unwrap_or_default();
            let now = r.ref_target(name)?;
            let deleted = new.bytes().all(|b| b == b'0');
            let there = match (&now, deleted) {
                (None, true) => true,
                (Some(now), false) => r.reaches(now, new, 10_000)?,
                _ => false,
            };
            if !there {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await
    .unwrap_or(false);
    let result = if moved {
        let head = head_sha(state, repo).await;
        let updated: Vec<Value> = refs
            .iter()
            .map(|u| {
                let sha = |k: &str| {
                    u[k].as_str()
                        .filter(|s| !s.bytes().all(|b| b == b'0'))
                        .map(str::to_owned)
                };
                json!({ "ref": u["ref"], "oldSha": sha("oldSha"), "newSha": sha("newSha") })
            })
            .collect();
        let payload = json!({
            "event": { "action": "update", "scope": "repo.content" },
            "repo": repo_json(state, repo, head.as_deref(), None),
            "updatedRefs": updated,
        });
        let full = repo.repo_ref().id.to_string();
        state
            .accounts()
            .confirm_event(t.id, &target(repo, "repo", &full), &payload.to_string())
            .await
            .map(drop)
    } else if give_up {
        state.accounts().drop_event(t.id).await
    } else {
        Ok(())
    };
    if let Err(e) = result {
        tracing::warn!(repo = %repo.repo_ref(), error = %e, "cannot settle a push's webhook event; the sweep will");
    }
}

/// Settles pushes' tentative events a node left (it stopped before it could): those whose
/// refs moved are sent, those whose refs never moved are dropped once old; and forgets old
/// events. A one-line summary. Every node runs it when it starts, then once per cluster
/// every half minute.
pub async fn sweep(state: &AppState) -> Result<String, accounts::AccountsError> {
    let now = accounts::now_ms();
    let stale = state.accounts().tentative_events(None, now, 1000).await?;
    let n = stale.len();
    for t in &stale {
        match state.accounts().repo_by_id(t.repo_id).await? {
            Some(repo) => {
                settle(state, &repo, t, now - t.created_ms > TENTATIVE_DROP_MS).await;
            }
            None => state.accounts().drop_event(t.id).await?,
        }
    }
    let pruned = state.accounts().prune_webhook_events(now).await?;
    state.inner.webhook_wake.notify_one();
    Ok(format!(
        "settled {n} pushes' webhook events, forgot {pruned} old events"
    ))
}

/// Starts this node's delivery worker.
pub(crate) fn spawn_worker(state: AppState) {
    let deny = Arc::new(state.config().webhook_deny.clone());
    let client = reqwest::Client::builder()
        .timeout(SEND_TIMEOUT)
        .connect_timeout(SEND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("modelhub-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(Guard { deny: deny.clone() }))
        .build();
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the webhook worker");
            return;
        }
    };
    tokio::spawn(async move {
        // What a stopped node left unsettled is sent now, not at the next sweep.
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = %e, "cannot settle pushes' webhook events yet");
        }
        let mut running = tokio::task::JoinSet::new();
        loop {
            let free = IN_FLIGHT.saturating_sub(running.len());
            let mut claimed = 0;
            if free > 0 {
                match state
                    .accounts()
                    .claim_deliveries(accounts::now_ms(), CLAIM_MS, free as i64)
                    .await
                {
                    Ok(ds) => {
                        claimed = ds.len();
                        for d in ds {
                            let (state, client, deny) =
                                (state.clone(), client.clone(), deny.clone());
                            running.spawn(async move { deliver(&state, &client, &deny, d).await });
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "cannot claim webhook deliveries"),
                }
            }
            if claimed == free && free > 0 {
                // There may be more due at once.
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                () = state.inner.webhook_wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
    });
}

/// Resolves a webhook's host to the addresses it may reach (`--webhook-deny` left out).
struct Guard {
    deny: Arc<Vec<ipnet::IpNet>>,
}

fn denied(deny: &[ipnet::IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    deny.iter().any(|n| n.contains(&ip))
}

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let deny = self.deny.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<std::net::SocketAddr> =
                found.filter(|a| !denied(&deny, a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{host} resolves only to addresses webhooks may not reach (--webhook-deny)"
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why `url` cannot be a webhook's address, if it cannot: only http(s), a host, and no
/// address `--webhook-deny` refuses.
pub(crate) fn check_url(state: &AppState, url: &str) -> Result<(), String> {
    if url.len() > 2048 {
        return Err("the URL is longer than 2048 characters".into());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} is not an http or https URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("put credentials in the secret, not in the URL".into());
    }
    match parsed.host() {
        None => Err(format!("{url:?} names no host")),
        Some(url::Host::Ipv4(ip)) if denied(&state.config().webhook_deny, IpAddr::V4(ip)) => {
            Err(format!("webhooks may not reach {ip} (--webhook-deny)"))
        }
        Some(url::Host::Ipv6(ip)) if denied(&state.config().webhook_deny, IpAddr::V6(ip)) => {
            Err(format!("webhooks may not reach {ip} (--webhook-deny)"))
        }
        Some(_) => Ok(()),
    }
}

/// Whether the webhook's owner may read the event's repo now (as it is, or as the event
/// saw it if it is gone).
async fn owner_reads(state: &AppState, d: &Delivery, payload: &Value) -> bool {
    let db = state.accounts();
    let Ok(Some(owner)) = db.user_by_id(d.owner_id).await else {
        return false;
    };
    let who = accounts::Principal {
        user_id: owner.id,
        name: owner.name,
        is_admin: owner.is_admin,
        token_role: hub_types::Role::Admin,
    };
    let current = match d.repo_id {
        Some(id) => db.repo_by_id(id).await.ok().flatten(),
        None => None,
    };
    if let Some(repo) = current {
        return matches!(db.access(Some(&who), &repo).await, Ok(Some(_)));
    }
    // Deleted: as it was.
    let name = payload["repo"]["name"].as_str().unwrap_or_default();
    let namespace = name.split('/').next().unwrap_or_default();
    let private = payload["repo"]["private"].as_bool().unwrap_or(true);
    let org_role = if who.is_admin || who.name.eq_ignore_ascii_case(namespace) {
        None
    } else {
        db.org_role(who.user_id, namespace).await.ok().flatten()
    };
    accounts::access_to(Some(&who), org_role, namespace, private).is_some()
}

/// Sends one delivery and records what came of it.
async fn deliver(state: &AppState, client: &reqwest::Client, deny: &[ipnet::IpNet], d: Delivery) {
    let mut payload: Value = serde_json::from_str(&d.payload).unwrap_or_else(|_| json!({}));
    let scope = payload["event"]["scope"]
        .as_str()
        .unwrap_or("repo")
        .to_owned();
    let mut attempt = Attempt {
        scope: &scope,
        status: None,
        latency_ms: 0,
        response: "",
        ok: false,
        retry_at: None,
        disable: None,
        skipped: false,
    };
    let said;
    let mut disable = None;
    if !owner_reads(state, &d, &payload).await {
        attempt.skipped = true;
        attempt.response = "not sent: the webhook's owner cannot read this repo";
        if let Err(e) = state.accounts().finish_delivery(&d, &attempt).await {
            tracing::warn!(webhook = %d.webhook_id, error = %e, "cannot record a webhook delivery");
        }
        return;
    }
    payload["webhook"] = json!({ "id": d.webhook_id, "version": 3 });
    payload["event"]["id"] = json!(d.event_uid);
    trim(&mut payload);
    let started = std::time::Instant::now();
    let outcome = send(client, deny, &d, &payload).await;
    attempt.latency_ms = started.elapsed().as_millis() as i64;
    match outcome {
        Ok((status, body)) => {
            attempt.status = Some(i64::from(status));
            attempt.ok = (200..300).contains(&status);
            said = body;
        }
        Err(e) => said = e,
    }
    attempt.response = &said;
    let now = accounts::now_ms();
    let horizon = state.config().webhook_retry_for.as_millis() as i64;
    if !attempt.ok {
        if !d.replay && now - d.created_ms < horizon {
            attempt.retry_at = Some(now + backoff(state, d.attempts));
        }
        let since = state
            .accounts()
            .webhook_failing_since(&d.webhook_id)
            .await
            .ok()
            .flatten();
        if since.is_some_and(|s| now - s >= horizon) {
            attempt.retry_at = None;
            disable = Some(format!(
                "disabled by the server: every delivery failed for {}",
                span(horizon)
            ));
        }
    }
    attempt.disable = disable.as_deref();
    let logged = state.accounts().finish_delivery(&d, &attempt).await;
    if let Err(e) = logged {
        // Its claim runs out and it is sent again: at least once.
        tracing::warn!(webhook = %d.webhook_id, error = %e, "cannot record a webhook delivery");
    }
    tracing::info!(
        webhook = %d.webhook_id,
        event = %d.event_uid,
        status = ?attempt.status,
        latency_ms = attempt.latency_ms,
        ok = attempt.ok,
        "webhook delivery"
    );
}

/// Keeps a payload under [`MAX_PAYLOAD`]: a comment's text is cut to its first KiB, then
/// `updatedRefs` halved until it fits (`updatedRefsTrimmed` says how many were left out).
fn trim(payload: &mut Value) {
    let size = |p: &Value| p.to_string().len();
    if size(payload) <= MAX_PAYLOAD {
        return;
    }
    if let Some(text) = payload["comment"]["content"].as_str() {
        let cut: String = text.chars().take(1024).collect();
        payload["comment"]["content"] = json!(cut);
    }
    let total = payload["updatedRefs"].as_array().map_or(0, Vec::len);
    while size(payload) > MAX_PAYLOAD {
        let Some(refs) = payload["updatedRefs"].as_array_mut() else {
            break;
        };
        if refs.len() <= 1 {
            break;
        }
        let keep = refs.len() / 2;
        refs.truncate(keep);
        payload["updatedRefsTrimmed"] = json!(total - keep);
    }
}

/// `ms` in words: hours when whole, else seconds.
fn span(ms: i64) -> String {
    let secs = ms / 1000;
    match secs {
        86_400 => "a day".into(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        1 => "1 second".into(),
        s => format!("{s} seconds"),
    }
}

/// The wait before attempt `attempts + 1`: the base doubled per attempt, at most an hour,
/// with jitter (between half and all of it).
fn backoff(state: &AppState, attempts: i64) -> i64 {
    use rand::Rng;
    let base = state.config().webhook_retry_base.as_millis() as i64;
    let full = base
        .saturating_mul(1i64 << attempts.clamp(0, 20))
        .clamp(1, 3_600_000);
    rand::rng().random_range(full / 2..=full)
}

/// POSTs the payload; the status and the answer's first KiB, or why nothing answered.
async fn send(
    client: &reqwest::Client,
    deny: &[ipnet::IpNet],
    d: &Delivery,
    payload: &Value,
) -> Result<(u16, String), String> {
    if let Ok(url) = reqwest::Url::parse(&d.url) {
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(|ip| denied(deny, ip)) {
            return Err("not sent: webhooks may not reach this address (--webhook-deny)".into());
        }
    }
    let mut req = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("x-webhook-event-id", &d.event_uid)
        .body(payload.to_string());
    if let Some(secret) = &d.secret {
        req = req.header("x-webhook-secret", secret);
    }
    let mut res = req.send().await.map_err(|e| describe(&e))?;
    let status = res.status().as_u16();
    let mut body = Vec::new();
    while body.len() < LOG_BYTES {
        match res.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                body.extend_from_slice(format!(" [{}]", describe(&e)).as_bytes());
                break;
            }
        }
    }
    body.truncate(LOG_BYTES);
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// An error of reqwest with its causes (which say what went wrong: refused, timed out).
fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_over_a_mebibyte_are_trimmed_and_say_so() {
        let refs: Vec<Value> = (0..20_000)
            .map(|i| json!({ "ref": format!("refs/tags/v{i:0>40}"), "oldSha": null, "newSha": "a".repeat(40) }))
            .collect();
        let mut p = json!({
            "event": { "action": "update", "scope": "repo.content" },
            "comment": { "content": "x".repeat(100_000) },
            "updatedRefs": refs,
        });
        trim(&mut p);
        assert!(p.to_string().len() <= MAX_PAYLOAD);
        let kept = p["updatedRefs"].as_array().unwrap().len();
        assert!(kept > 1000, "{kept}");
        assert_eq!(p["updatedRefsTrimmed"], json!(20_000 - kept));
        assert_eq!(p["comment"]["content"].as_str().unwrap().len(), 1024);
        // Small payloads are left alone.
        let mut small = json!({ "comment": { "content": "hi" } });
        trim(&mut small);
        assert_eq!(small, json!({ "comment": { "content": "hi" } }));
    }

    #[test]
    fn private_loopback_and_mapped_addresses_are_denied_by_default() {
        let deny: Vec<ipnet::IpNet> = DEFAULT_DENY
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "::1",
            "::ffff:127.0.0.1",
            "fd00::1",
            "0.0.0.0",
        ] {
            assert!(denied(&deny, ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2606:4700::1111"] {
            assert!(!denied(&deny, ip.parse().unwrap()), "{ip}");
        }
    }
}
