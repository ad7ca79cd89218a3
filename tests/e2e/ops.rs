//! What a load balancer and Prometheus ask: /healthz, /readyz, /metrics.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::harness::*;
use crate::hub_api::python;

/// The metrics text parsed by Prometheus's own Python parser: `name{labels} value` per sample,
/// labels sorted, one a line.
fn parsed_metrics(text: &str) -> String {
    let mut child = Command::new(python())
        .arg("-c")
        .arg(
            "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
             for f in text_string_to_metric_families(sys.stdin.read()):\n\
             \x20   for s in f.samples:\n\
             \x20       labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n\
             \x20       print(f'{s.name}{{{labels}}} {s.value}')",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the metrics: {}\n{text}",
        stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The value of the sample whose line starts with `prefix`.
fn sample(parsed: &str, prefix: &str) -> f64 {
    parsed
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no sample {prefix} in\n{parsed}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn health_readiness_and_metrics_that_move_with_the_traffic() {
    let (s, token) = Server::with_alice();
    assert_eq!(
        raw(&s.addr, &request("GET", "/healthz", &[], b"")).text(),
        "ok\n"
    );
    let r = raw(&s.addr, &request("GET", "/readyz", &[], b""));
    assert_eq!((r.status, r.text().as_str()), (200, "ready\n"));

    // Traffic: a clone, an LFS upload, a push the validator accepts and one it refuses.
    let w = Work::new();
    w.git_ok(
        ".",
        &["clone", "-q", &s.git_url("alice/m", Some(&token)), "a"],
    );
    let data = noise(300_000, 3);
    crate::lfs::upload(&s, "alice/m", &token, &data);
    w.write("a/notes.txt", b"fine\n");
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "notes"]);
    w.git_ok("a", &["push", "-q", "origin", "main"]);
    w.write("a/model.safetensors", &noise(2 << 20, 4));
    w.git_ok("a", &["add", "-A"]);
    w.git_ok("a", &["commit", "-q", "-m", "weights as a plain blob"]);
    assert!(!w
        .git("a", &["push", "-q", "origin", "main"])
        .status
        .success());

    // A made-up method is answered and counted, but never becomes a label of its own.
    raw(&s.addr, &request("FROBNICATE", "/api/models", &[], b""));

    let r = raw(&s.addr, &request("GET", "/metrics", &[], b""));
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("FROBNICATE"), "{}", r.text());
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let m = parsed_metrics(&r.text());
    assert!(
        sample(
            &m,
            "modelhub_http_requests_total{family=git,method=POST,status=200}"
        ) >= 1.0,
        "{m}"
    );
    assert!(
        sample(
            &m,
            "modelhub_http_requests_total{family=lfs,method=PUT,status=200}"
        ) >= 1.0
    );
    assert_eq!(
        sample(&m, "modelhub_content_uploaded_bytes_total{kind=lfs}"),
        data.len() as f64
    );
    assert!(sample(&m, "modelhub_http_request_body_bytes_total{family=lfs}") >= data.len() as f64);
    assert!(sample(&m, "modelhub_http_response_body_bytes_total{family=git}") > 0.0);
    assert!(
        sample(
            &m,
            "modelhub_http_request_duration_seconds_count{family=git}"
        ) >= 2.0
    );
    assert_eq!(
        sample(
            &m,
            "modelhub_git_operations_active{service=git-upload-pack}"
        ),
        0.0
    );
    assert!(sample(&m, "modelhub_db_pool_connections{}") >= 1.0);
    assert_eq!(
        sample(&m, "modelhub_push_validations_total{outcome=accepted}"),
        1.0
    );
    assert_eq!(
        sample(&m, "modelhub_push_validations_total{outcome=refused}"),
        1.0
    );
    assert!(
        sample(
            &m,
            "modelhub_push_findings_total{rule=weights-not-in-lfs,severity=error}"
        ) >= 1.0,
        "{m}"
    );
    // Read once: a second scrape counts the same pushes, not twice.
    let again = raw(&s.addr, &request("GET", "/metrics", &[], b"")).text();
    let again = parsed_metrics(&again);
    assert_eq!(
        sample(&again, "modelhub_push_validations_total{outcome=refused}"),
        1.0
    );
    // The labels name route kinds, never paths or repos.
    assert!(!m.contains("alice"), "{m}");
}

#[test]
fn metrics_are_missing_to_addresses_not_allowed() {
    let s = Server::start_with(&["--metrics-allow", "10.0.0.0/8,192.168.1.7"]);
    let r = raw(&s.addr, &request("GET", "/metrics", &[], b""));
    assert_eq!(r.status, 404);
    assert!(!r.text().contains("modelhub_"));
    // A bad network is refused at start with the reason.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-allow",
            "10.0.0.0/99",
        ])
        .env("MODELHUB_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--metrics-allow: \"10.0.0.0/99\" is not an address or a network")
    );
}

#[test]
fn readiness_fails_while_the_object_store_is_down() {
    if !on_s3() {
        eprintln!("runs in the S3 pass (MODELHUB_TEST_STORAGE=s3)");
        return;
    }
    let mut w = s3_testkit::Weed::start();
    w.create_bucket("modelhub");
    let s = Server::start_on(|dir| Storage::s3_for_dir(dir, &w), &[]);
    assert_eq!(
        raw(&s.addr, &request("GET", "/readyz", &[], b"")).status,
        200
    );
    w.stop();
    let r = raw(&s.addr, &request("GET", "/readyz", &[], b""));
    assert_eq!(
        (r.status, r.text().as_str()),
        (503, "not ready: storage unavailable\n")
    );
    // The process itself is up: the load balancer can tell the two apart.
    assert_eq!(
        raw(&s.addr, &request("GET", "/healthz", &[], b"")).status,
        200
    );
    w.restart();
    assert_eq!(
        raw(&s.addr, &request("GET", "/readyz", &[], b"")).status,
        200
    );
}
