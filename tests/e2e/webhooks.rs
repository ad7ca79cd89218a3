//! Webhooks with the real huggingface_hub client managing them, real git pushing, and a
//! receiver in the test that records every delivery (and fails on request): the Hub's payload
//! (checked with huggingface_hub's own `WebhookPayload` model), the secret header, retries
//! with a stable event id, replays, a kill -9 between the change and its delivery, access
//! lost, and a webhook that fails for its whole retry window being disabled.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;
use crate::hub_api::hub_script;

/// One request the receiver got, and the status it answered.
#[derive(Clone, Debug)]
pub(crate) struct Got {
    headers: Vec<(String, String)>,
    pub(crate) body: Value,
    pub(crate) status: u16,
}

impl Got {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn scope(&self) -> &str {
        self.body["event"]["scope"].as_str().unwrap_or_default()
    }

    pub(crate) fn event_id(&self) -> String {
        self.header("x-webhook-event-id")
            .unwrap_or_default()
            .to_owned()
    }
}

/// A webhook receiver on 127.0.0.1: records every request; answers 500 while `fail_next` is
/// above zero (counting down) or `failing` is set, else 200.
pub(crate) struct Receiver {
    pub(crate) url: String,
    got: Arc<Mutex<Vec<Got>>>,
    fail_next: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let r = Receiver {
            url,
            got: Default::default(),
            fail_next: Default::default(),
            failing: Default::default(),
        };
        let (got, fail_next, failing) = (r.got.clone(), r.fail_next.clone(), r.failing.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (got, fail_next, failing) = (got.clone(), fail_next.clone(), failing.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &got, &fail_next, &failing);
                });
            }
        });
        r
    }

    fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 60 s) until what was received satisfies `done`.
    pub(crate) fn wait_for(&self, what: &str, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let all = self.all();
            if done(&all) {
                return all;
            }
            assert!(
                Instant::now() < end,
                "never received {what}; got {:#?}",
                all.iter()
                    .map(|g| (
                        g.status,
                        g.scope().to_owned(),
                        g.body["repo"]["name"].clone()
                    ))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn serve(
    stream: TcpStream,
    got: &Mutex<Vec<Got>>,
    fail_next: &AtomicUsize,
    failing: &AtomicBool,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let fail = failing.load(Ordering::SeqCst)
        || fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let status = if fail { 500 } else { 200 };
    got.lock().unwrap().push(Got {
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        status,
    });
    let text = if fail { "boom" } else { "ok" };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    stream.flush()
}

/// Validates every body with huggingface_hub's own `WebhookPayload` model; prints one line
/// per payload: scope, action, repo, and what each scope adds.
fn validated(bodies: &[Value]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payloads.json");
    std::fs::write(&file, serde_json::to_vec(bodies).unwrap()).unwrap();
    let script = format!(
        r##"
import json
from huggingface_hub import WebhookPayload
for b in json.load(open("{}")):
    p = WebhookPayload.model_validate(b)
    extra = ""
    if p.updatedRefs:
        extra = ",".join(f"{{r.ref}}:{{'new' if r.newSha else 'gone'}}" for r in p.updatedRefs)
    if p.discussion:
        extra = f"#{{p.discussion.num}} {{p.discussion.title}} {{p.discussion.status}}"
    if p.comment:
        extra += f" comment={{p.comment.content}}"
    if p.movedTo:
        extra = f"to {{p.movedTo.name}}"
    print(p.event.scope, p.event.action, p.repo.name, p.repo.private, p.webhook.version, extra)
"##,
        file.display()
    );
    let out = std::process::Command::new(crate::hub_api::python())
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The log of webhook `id` through the API (newest first).
fn logs(s: &Server, token: &str, id: &str) -> Vec<Value> {
    let (status, body) = api(
        s,
        "GET",
        &format!("/api/settings/webhooks/{id}/logs"),
        Some(token),
        b"",
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The log of webhook `id` once it holds at least `n` entries (an attempt is logged just after
/// its answer is heard, so a receiver may see it first); waits up to 30 s.
fn logs_when(s: &Server, token: &str, id: &str, n: usize) -> Vec<Value> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let log = logs(s, token, id);
        if log.len() >= n {
            return log;
        }
        assert!(
            Instant::now() < end,
            "the log never held {n} entries: {log:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn create_webhook(s: &Server, token: &str, url: &str, watched: &str) -> String {
    let out = hub_script(
        s,
        Some(token),
        &format!(
            r#"
from huggingface_hub import HfApi
w = HfApi().create_webhook(url="{url}", watched=[{watched}], domains=["repo", "discussion"], secret="s3cret")
print("id", w.id)
"#
        ),
    );
    out.lines()
        .find_map(|l| l.strip_prefix("id "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned()
}

pub(crate) const ALLOW_LOCAL: &str = "--webhook-allow-private";

#[test]
fn webhooks_are_managed_with_huggingface_hub_and_tell_every_change_in_the_hubs_format() {
    let s = Server::start_with(&[ALLOW_LOCAL, "--webhook-retry-base", "0.1"]);
    s.user("alice");
    s.user("bob");
    let alice = s.token("alice", "write");
    let bob = s.token("bob", "write");
    s.repo("alice/m", false);
    s.repo("alice/secret", true);
    let rx = Receiver::start();
    let url = &rx.url;

    // Management, as the client calls it.
    let out = hub_script(
        &s,
        Some(&alice),
        &format!(
            r#"
from huggingface_hub import HfApi, WebhookWatchedItem
from huggingface_hub.errors import HfHubHTTPError
api = HfApi()
w = api.create_webhook(url="{url}", watched=[WebhookWatchedItem(type="user", name="alice")], domains=["repo", "discussion"], secret="s3cret")
print("created", w.secret, w.disabled, [(x.type, x.name) for x in w.watched], w.domains)
print("listed", [x.id for x in api.list_webhooks()] == [w.id])
w = api.update_webhook(w.id, url="{url}", watched=[WebhookWatchedItem(type="user", name="alice"), WebhookWatchedItem(type="model", name="alice/m")], domains=["repo", "discussion"])
print("updated", [(x.type, x.name) for x in w.watched], w.secret)
print("switched", api.disable_webhook(w.id).disabled, api.enable_webhook(w.id).disabled)
print("got", api.get_webhook(w.id).url == "{url}")
for bad in [dict(url="ftp://x/y", watched=[dict(type="user", name="alice")]),
            dict(url="{url}", watched=[dict(type="user", name="nobody")]),
            dict(url="{url}", watched=[dict(type="model", name="alice/missing")]),
            dict(url="{url}", watched=[dict(type="user", name="alice")], domains=["everything"])]:
    try:
        api.create_webhook(**bad)
        print("bad accepted", bad)
    except HfHubHTTPError as e:
        print("refused", e.response.status_code)
"#
        ),
    );
    assert!(
        out.contains("created s3cret False [('user', 'alice')] ['repo', 'discussion']"),
        "{out}"
    );
    assert!(out.contains("listed True"), "{out}");
    assert!(
        out.contains("updated [('model', 'alice/m'), ('user', 'alice')] s3cret"),
        "{out}"
    );
    assert!(out.contains("switched True False"), "{out}");
    assert!(out.contains("got True"), "{out}");
    assert_eq!(out.matches("refused 400").count(), 4, "{out}");
    // Another user's webhook is missing to bob, and his private repo's name is unknown
    // to him when he tries to watch it.
    let id = serde_json::from_str::<Value>(
        &api(&s, "GET", "/api/settings/webhooks", Some(&alice), b"").1,
    )
    .unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api(
            &s,
            "GET",
            &format!("/api/settings/webhooks/{id}"),
            Some(&bob),
            b""
        )
        .0,
        404
    );
    assert_eq!(
        api(
            &s,
            "DELETE",
            &format!("/api/settings/webhooks/{id}"),
            Some(&bob),
            b""
        )
        .0,
        404
    );
    let (status, body) = api(
        &s,
        "POST",
        "/api/settings/webhooks",
        Some(&bob),
        format!(r#"{{"url": "{url}", "watched": [{{"type": "model", "name": "alice/secret"}}]}}"#)
            .as_bytes(),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("model alice/secret not found"), "{body}");

    // Every kind of change, through the client and through git.
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("a.txt"), b"hello").unwrap();
    let out = hub_script(
        &s,
        Some(&alice),
        &format!(
            r#"
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("alice/new")
api.upload_folder(folder_path="{}", repo_id="alice/new")
api.create_branch("alice/new", branch="dev")
api.delete_branch("alice/new", branch="dev")
api.update_repo_settings("alice/new", private=True)
d = api.create_discussion("alice/new", title="Question", description="Why?")
api.comment_discussion("alice/new", d.num, "Because.")
api.move_repo("alice/new", "alice/renamed")
api.delete_repo("alice/renamed")
print("done")
"#,
            folder.path().display()
        ),
    );
    assert!(out.contains("done"), "{out}");
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&alice)), "m"],
    );
    let pushed = w.commit("m", &[("notes.txt", b"pushed with git\n")], "a push");
    w.git_ok("m", &["push", "-q", "origin", "HEAD:main"]);

    let all = rx.wait_for("ten events", |g| g.len() >= 10);
    let bodies: Vec<Value> = all.iter().map(|g| g.body.clone()).collect();
    let lines = validated(&bodies);
    for want in [
        "repo create alice/new False 3",
        "repo.content update alice/new False 3 refs/heads/main:new",
        "repo.content update alice/new False 3 refs/heads/dev:new",
        "repo.content update alice/new False 3 refs/heads/dev:gone",
        "repo.config update alice/new True 3",
        "discussion create alice/new True 3 #1 Question open",
        "discussion.comment create alice/new True 3 #1 Question open comment=Because.",
        "repo move alice/new True 3 to alice/renamed",
        "repo delete alice/renamed True 3",
        "repo.content update alice/m False 3 refs/heads/main:new",
    ] {
        assert!(
            lines.lines().any(|l| l.trim_end() == want),
            "no {want:?} in:\n{lines}"
        );
    }
    // One delivery per event (alice/m is watched twice: by name and through alice), each
    // with the secret and its own event id.
    assert_eq!(lines.lines().count(), 10, "{lines}");
    let mut ids: Vec<String> = all.iter().map(Got::event_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
    assert!(all
        .iter()
        .all(|g| g.header("x-webhook-secret") == Some("s3cret")));
    let push = all
        .iter()
        .find(|g| g.body["repo"]["name"] == "alice/m")
        .unwrap();
    assert_eq!(push.body["updatedRefs"][0]["newSha"], pushed.as_str());
    assert_eq!(push.body["repo"]["headSha"], pushed.as_str());
    assert!(push.body["repo"]["url"]["web"]
        .as_str()
        .unwrap()
        .ends_with("/alice/m"));
    assert_eq!(push.body["webhook"]["id"], id.as_str());
    // The log holds every attempt.
    let log = logs_when(&s, &alice, &id, 10);
    assert_eq!(log.len(), 10);
    assert!(log
        .iter()
        .all(|l| l["status"] == 200 && l["response"] == "ok"));

    // The settings page, in Chromium: the webhook with its deliveries; a replay sends the
    // newest delivery's event again.
    let script = format!(
        r#"
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"])
    page = b.new_page()
    page.goto("{base}/login")
    page.fill("input[name=token]", "{alice}")
    page.click("form[action='/login'] button")
    page.wait_for_load_state()
    page.goto("{base}/settings/webhooks")
    hook = page.locator("section.webhook")
    text = hook.inner_text()
    assert "{url}" in text and "Enabled." in text, text
    print("rows", hook.locator("table.deliveries tbody tr").count())
    hook.locator("table.deliveries tbody tr").first.locator("button:has-text('Replay')").click()
    page.wait_for_load_state()
    print("back at", page.url.split(chr(35))[0].endswith("/settings/webhooks"))
    b.close()
"#,
        base = s.url,
    );
    let out = std::process::Command::new(crate::hub_api::python())
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}\n{}", stderr(&out));
    assert!(
        said.contains("rows 10") && said.contains("back at True"),
        "{said}"
    );
    let newest = log[0]["eventId"].as_str().unwrap().to_owned();
    let all = rx.wait_for("the replay from the page", |g| g.len() == 11);
    assert_eq!(all[10].event_id(), newest);
    assert_eq!(logs_when(&s, &alice, &id, 11)[0]["replay"], true);
}

#[test]
fn deliveries_are_retried_replayed_survive_a_kill_and_stop_when_access_is_lost() {
    let args = [ALLOW_LOCAL, "--webhook-retry-base", "0.1"];
    let mut s = Server::start_with(&args);
    s.user("alice");
    s.user("bob");
    let alice = s.token("alice", "write");
    let bob = s.token("bob", "write");
    s.repo("alice/m", false);
    s.repo("bob/pub", false);
    let rx = Receiver::start();
    let id = create_webhook(&s, &alice, &rx.url, r#"dict(type="model", name="alice/m")"#);
    let bob_rx = Receiver::start();
    let bob_id = create_webhook(
        &s,
        &bob,
        &bob_rx.url,
        r#"dict(type="model", name="alice/m"), dict(type="model", name="bob/pub")"#,
    );

    // Three failures, then the same event (same id) is delivered: four attempts logged.
    rx.fail_next.store(3, Ordering::SeqCst);
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&alice)), "m"],
    );
    w.commit("m", &[("one.txt", b"1\n")], "one");
    w.git_ok("m", &["push", "-q", "origin", "HEAD:main"]);
    let all = rx.wait_for("a delivery after three failures", |g| {
        g.iter().any(|g| g.status == 200)
    });
    assert_eq!(
        all.iter().map(|g| g.status).collect::<Vec<_>>(),
        vec![500, 500, 500, 200]
    );
    let first = all[0].event_id();
    assert!(all.iter().all(|g| g.event_id() == first));
    bob_rx.wait_for("bob's copy", |g| g.len() == 1);
    let log = logs_when(&s, &alice, &id, 4);
    assert_eq!(
        log.iter()
            .map(|l| l["status"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![200, 500, 500, 500]
    );
    assert_eq!(log[1]["response"], "boom");

    // A replay sends that event again, under the same id.
    let (status, body) = api(
        &s,
        "POST",
        &format!(
            "/api/settings/webhooks/{id}/replay/{}",
            log[0]["id"].as_str().unwrap()
        ),
        Some(&alice),
        b"",
    );
    assert_eq!(status, 200, "{body}");
    let all = rx.wait_for("the replay", |g| g.len() == 5);
    assert_eq!(all[4].event_id(), first);
    assert_eq!(
        api(
            &s,
            "POST",
            &format!(
                "/api/settings/webhooks/{id}/replay/{}",
                log[0]["id"].as_str().unwrap()
            ),
            Some(&bob),
            b""
        )
        .0,
        404
    );

    // The receiver is down when a push lands and the server is killed before it could
    // deliver: the event is in the outbox, and the restarted server delivers it.
    rx.failing.store(true, Ordering::SeqCst);
    let second = w.commit("m", &[("two.txt", b"2\n")], "two");
    w.git_ok("m", &["push", "-q", "origin", "HEAD:main"]);
    rx.wait_for("a failed attempt at the second push", |g| {
        g.iter()
            .any(|g| g.body["updatedRefs"][0]["newSha"] == second.as_str())
    });
    // Killed once that attempt is logged (a node killed while sending holds its claim on
    // the delivery a little longer: then another node, or this one restarted, sends it
    // once the claim runs out).
    let end = Instant::now() + Duration::from_secs(30);
    while logs(&s, &alice, &id).len() < 6 {
        assert!(Instant::now() < end, "{:?}", logs(&s, &alice, &id));
        std::thread::sleep(Duration::from_millis(20));
    }
    s.stop();
    rx.failing.store(false, Ordering::SeqCst);
    s.restart_with(&args);
    let all = rx.wait_for("the second push after the restart", |g| {
        g.iter()
            .any(|g| g.status == 200 && g.body["updatedRefs"][0]["newSha"] == second.as_str())
    });
    let delivered: Vec<&Got> = all
        .iter()
        .filter(|g| g.status == 200 && g.body["updatedRefs"][0]["newSha"] == second.as_str())
        .collect();
    assert_eq!(delivered.len(), 1);

    // The hook ran and git moved the ref, but the server died before it could settle the
    // push's event: the restarted server finds the tentative event, sees the ref moved, and
    // sends it.
    let repo_id =
        serde_json::from_str::<Value>(&api(&s, "GET", "/api/models/alice/m", None, b"").1).unwrap()
            ["_id"]
            .as_str()
            .unwrap()
            .to_owned();
    s.stop();
    let behind = w.commit("m", &[("behind.txt", b"b\n")], "behind the server");
    s.push_behind_the_server(&w.path("m"), "alice/m", &repo_id, "main");
    s.restart_with(&args);
    rx.wait_for("the push the server never settled", |g| {
        g.iter()
            .any(|g| g.status == 200 && g.body["updatedRefs"][0]["newSha"] == behind.as_str())
    });

    // alice makes the repo private: bob can no longer read it, so his webhook hears
    // nothing more of it (not even of the change of visibility), while alice's does.
    let before = bob_rx
        .wait_for(
            "bob's copies of the second push and the one behind the server",
            |g| g.len() == 3,
        )
        .len();
    let out = hub_script(
        &s,
        Some(&alice),
        r#"
from huggingface_hub import HfApi
HfApi().update_repo_settings("alice/m", private=True)
print("private")
"#,
    );
    assert!(out.contains("private"), "{out}");
    // The restarted server listens elsewhere.
    w.git_ok(
        "m",
        &[
            "remote",
            "set-url",
            "origin",
            &s.git_url("alice/m", Some(&alice)),
        ],
    );
    let third = w.commit("m", &[("three.txt", b"3\n")], "three");
    w.git_ok("m", &["push", "-q", "origin", "HEAD:main"]);
    rx.wait_for("the private push", |g| {
        g.iter()
            .any(|g| g.body["updatedRefs"][0]["newSha"] == third.as_str())
    });
    // Then bob changes his own repo. A webhook's deliveries go oldest first, one at a time,
    // so once bob hears of that, the two of alice/m before it were settled: bob heard
    // nothing of them, and his log does not even show they existed.
    let logged = logs(&s, &bob, &bob_id).len();
    let out = hub_script(
        &s,
        Some(&bob),
        r#"
from huggingface_hub import HfApi
HfApi().upload_file(path_or_fileobj=b"mine", path_in_repo="mine.txt", repo_id="bob/pub")
print("uploaded")
"#,
    );
    assert!(out.contains("uploaded"), "{out}");
    let heard = bob_rx.wait_for("bob's own change", |g| g.len() > before);
    assert_eq!(heard.len(), before + 1, "bob heard of a private repo");
    assert_eq!(heard[before].body["repo"]["name"], "bob/pub");
    let log = logs_when(&s, &bob, &bob_id, logged + 1);
    assert_eq!(log.len(), logged + 1, "{log:?}");
    assert_eq!(log[0]["eventId"], heard[before].event_id().as_str());
}

#[test]
fn a_webhook_failing_for_its_whole_retry_window_is_disabled_and_local_addresses_are_refused() {
    // The default deny list: this host is off limits.
    let s = Server::start_with(&["--webhook-retry-base", "0.1", "--webhook-retry-for", "2"]);
    s.user("alice");
    let alice = s.token("alice", "write");
    s.repo("alice/m", false);
    let rx = Receiver::start();
    let out = hub_script(
        &s,
        Some(&alice),
        &format!(
            r#"
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
try:
    HfApi().create_webhook(url="{}", watched=[dict(type="user", name="alice")])
except HfHubHTTPError as e:
    print("refused", e.response.status_code, e.server_message)
"#,
            rx.url
        ),
    );
    assert!(
        out.contains("refused 400 webhooks may not reach 127.0.0.1 (--webhook-deny)"),
        "{out}"
    );
    let (status, body) = api(
        &s,
        "POST",
        "/api/settings/webhooks",
        Some(&alice),
        br#"{"url": "http://10.1.2.3/hook", "watched": [{"type": "user", "name": "alice"}]}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("webhooks may not reach 10.1.2.3"), "{body}");
    // A host name is accepted, but every address it resolves to is refused when sending.
    let by_name = rx.url.replace("127.0.0.1", "localhost");
    let id = create_webhook(&s, &alice, &by_name, r#"dict(type="user", name="alice")"#);
    let out = hub_script(
        &s,
        Some(&alice),
        r#"
from huggingface_hub import HfApi
api = HfApi()
for i in range(3):
    api.upload_file(path_or_fileobj=f"{i}".encode(), path_in_repo=f"f{i}.txt", repo_id="alice/m")
print("uploaded")
"#,
    );
    assert!(out.contains("uploaded"), "{out}");
    let end = Instant::now() + Duration::from_secs(60);
    let disabled = loop {
        let (_, body) = api(
            &s,
            "GET",
            &format!("/api/settings/webhooks/{id}"),
            Some(&alice),
            b"",
        );
        let w: Value = serde_json::from_str(&body).unwrap();
        if w["webhook"]["disabled"] == true {
            break w;
        }
        assert!(Instant::now() < end, "never disabled: {w}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        disabled["webhook"]["disabledReason"],
        "disabled by the server: every delivery failed for 2 seconds"
    );
    assert!(rx.all().is_empty(), "a denied address was reached");
    let log = logs(&s, &alice, &id);
    let (notes, attempts): (Vec<&Value>, Vec<&Value>) =
        log.iter().partition(|l| l["scope"] == "webhook");
    assert_eq!(notes.len(), 1, "{log:?}");
    assert_eq!(
        notes[0]["response"],
        "disabled by the server: every delivery failed for 2 seconds"
    );
    assert!(
        attempts.iter().all(|l| l["status"].is_null()
            && l["response"]
                .as_str()
                .unwrap()
                .contains("resolves only to addresses webhooks may not reach")),
        "{log:?}"
    );
}

#[test]
fn a_receiver_that_never_answers_holds_up_only_its_own_webhook() {
    let s = Server::start_with(&[ALLOW_LOCAL]);
    s.user("alice");
    let alice = s.token("alice", "write");
    s.repo("alice/m", false);
    // Takes connections and reads the request, never answers.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_url = format!("http://{}/hook", hang.local_addr().unwrap());
    let taken = Arc::new(AtomicUsize::new(0));
    let counted = taken.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hang.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let rx = Receiver::start();
    create_webhook(&s, &alice, &hang_url, r#"dict(type="user", name="alice")"#);
    create_webhook(&s, &alice, &rx.url, r#"dict(type="user", name="alice")"#);
    let out = hub_script(
        &s,
        Some(&alice),
        r#"
from huggingface_hub import HfApi
api = HfApi()
for i in range(5):
    api.upload_file(path_or_fileobj=f"{i}".encode(), path_in_repo=f"f{i}.txt", repo_id="alice/m")
print("uploaded")
"#,
    );
    assert!(out.contains("uploaded"), "{out}");
    rx.wait_for("five deliveries beside the hanging receiver", |g| {
        g.len() == 5
    });
    // Its own deliveries wait, one at a time, for the first to time out.
    assert_eq!(taken.load(Ordering::SeqCst), 1);
}
