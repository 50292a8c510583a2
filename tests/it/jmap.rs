//! JMAP over real HTTP with independent clients: Python's http.client (tests/it/jmap_client.py)
//! and the jmapc library.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::backends;
use crate::harness::{Backend, PASSWORD, TestServer, deliver, have};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/it/jmap_client.py");

fn run(s: &TestServer, scenario: &str, extra: &[&str]) -> String {
    let out = Command::new("python3")
        .args([SCRIPT, scenario, &s.http.to_string(), PASSWORD, PASSWORD])
        .args(extra)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{scenario}: {}{}\nserver errors:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log()
            .lines()
            .filter(|l| l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn with_mail(b: Backend) -> Option<TestServer> {
    if !have("python3") {
        return None;
    }
    let s = TestServer::start(b).await;
    s.setup_accounts();
    for subject in ["one", "two", "three"] {
        deliver(s.smtp, "alice@example.test", subject).await;
    }
    Some(s)
}

backends!(jmap_protocol_and_errors);
async fn jmap_protocol_and_errors(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    // Same second, so newest first means highest id first.
    assert_eq!(
        run(&s, "protocol", &[r#"["three", "two", "one"]"#]).trim(),
        "ok"
    );
}

backends!(jmap_isolation_between_users);
async fn jmap_isolation_between_users(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    deliver(s.smtp, "bob@example.test", "bob's own").await;
    assert_eq!(run(&s, "isolation", &[]).trim(), "ok");
}

backends!(jmap_event_source_hears_an_smtp_delivery);
async fn jmap_event_source_hears_an_smtp_delivery(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    let mut child = Command::new("python3")
        .args([
            SCRIPT,
            "eventsource",
            &s.http.to_string(),
            PASSWORD,
            PASSWORD,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "listening");
    let t = Instant::now();
    deliver(s.smtp, "alice@example.test", "pushed").await;
    let got = tokio::task::spawn_blocking(move || lines.next().map(|l| l.unwrap()))
        .await
        .unwrap();
    let elapsed = t.elapsed();
    assert_eq!(got.as_deref(), Some("state"));
    assert!(child.wait().unwrap().success());
    assert!(elapsed < Duration::from_secs(1), "push took {elapsed:?}");
}

backends!(jmapc_library_lists_the_inbox);
async fn jmapc_library_lists_the_inbox(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    let probe = Command::new("python3")
        .args(["-c", "import jmapc"])
        .output()
        .unwrap();
    if !probe.status.success() {
        eprintln!("skipped: jmapc is not installed (pip install jmapc)");
        return;
    }
    let out: serde_json::Value = serde_json::from_str(run(&s, "jmapc", &[]).trim()).unwrap();
    assert_eq!(out["inbox_total"], 3);
    assert_eq!(out["subjects"], serde_json::json!(["three", "two", "one"]));
}

backends!(jmap_changes_and_threads);
async fn jmap_changes_and_threads(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    assert_eq!(run(&s, "changes", &[&s.smtp.to_string()]).trim(), "ok");
}

backends!(jmap_email_set_updates_and_destroys);
async fn jmap_email_set_updates_and_destroys(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    assert_eq!(run(&s, "set", &[]).trim(), "ok");
    // The move gave the email a UID in Archive; INBOX's UIDs are untouched (IMAP relies on it).
    let core = s.core().await;
    let alice = core.user_get("alice@example.test").await.unwrap();
    let archive = core.mailbox_find(alice.id, "Archive").await.unwrap();
    let inbox = core.mailbox_find(alice.id, "INBOX").await.unwrap();
    let a = core
        .mailbox_entries(alice.id, archive.id, 0, 10)
        .await
        .unwrap();
    let i = core
        .mailbox_entries(alice.id, inbox.id, 0, 10)
        .await
        .unwrap();
    assert_eq!(
        a.iter().map(|e| e.uid).collect::<Vec<_>>(),
        [1],
        "first UID in Archive"
    );
    assert_eq!(
        i.iter().map(|e| e.uid).collect::<Vec<_>>(),
        [3],
        "the newest stayed, with its UID"
    );
    // MODSEQ follows each change: the deliveries were 1..=3; the move came next, the
    // keyword changes of the one left in INBOX after it.
    assert!(
        a[0].modseq > 3,
        "moved membership has the move's modseq: {}",
        a[0].modseq
    );
    assert!(
        i[0].modseq > a[0].modseq,
        "INBOX entry changed last: {} vs {}",
        i[0].modseq,
        a[0].modseq
    );
}

backends!(login_issues_bearer_tokens);
async fn login_issues_bearer_tokens(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    assert_eq!(run(&s, "login", &[]).trim(), "ok");
    // The signing key was generated on first run, readable by its owner only.
    let key = s.dir.path().join("jwt.key");
    let meta = std::fs::metadata(&key).expect("jwt.key in the data directory");
    assert_eq!(meta.len(), 32);
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
}

backends!(failed_logins_are_rate_limited);
async fn failed_logins_are_rate_limited(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    assert_eq!(run(&s, "ratelimit", &[]).trim(), "ok");
}

backends!(jmap_upload_and_email_import);
async fn jmap_upload_and_email_import(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    assert_eq!(run(&s, "import", &[]).trim(), "ok");
}

backends!(jmap_email_submission_sends_and_files);
async fn jmap_email_submission_sends_and_files(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    assert_eq!(run(&s, "submission", &[]).trim(), "ok");
}

backends!(jmap_body_properties_header_forms_and_email_parse);
async fn jmap_body_properties_header_forms_and_email_parse(b: Backend) {
    let Some(corpus) = crate::corpus::corpus_dir("mime") else {
        return;
    };
    let Some(s) = with_mail(b).await else { return };
    let out = run(&s, "bodies", &[corpus.to_str().unwrap()]);
    assert!(out.starts_with("ok "), "{out}");
}

backends!(jmap_email_query_filters_sorts_threads_and_windows);
async fn jmap_email_query_filters_sorts_threads_and_windows(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    assert_eq!(run(&s, "query", &[]).trim(), "ok");
}

backends!(jmap_query_changes_splice_into_fresh_results);
async fn jmap_query_changes_splice_into_fresh_results(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    assert_eq!(run(&s, "querychanges", &[]).trim(), "ok");
}

backends!(jmap_mailbox_set_and_query);
async fn jmap_mailbox_set_and_query(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    assert_eq!(run(&s, "mailboxes", &[]).trim(), "ok");
}

backends!(jmap_email_create_and_send_by_creation_id);
async fn jmap_email_create_and_send_by_creation_id(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    assert_eq!(run(&s, "create", &[]).trim(), "ok");
}

backends!(jmap_vacation_response_and_auto_reply);
async fn jmap_vacation_response_and_auto_reply(b: Backend) {
    let Some(s) = with_mail(b).await else { return };
    assert_eq!(run(&s, "vacation", &[&s.smtp.to_string()]).trim(), "ok");
}

/// Logs in with curl; the access token.
fn login(s: &TestServer) -> String {
    let out = Command::new("curl")
        .args(["-sf", "-H", "Content-Type: application/json", "-d"])
        .arg(format!(
            r#"{{"address":"alice@example.test","password":"{PASSWORD}"}}"#
        ))
        .arg(format!("http://{}/api/v1/auth/login", s.http))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// The HTTP status of the JMAP session resource with a bearer token.
fn session_status(s: &TestServer, token: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("http://{}/jmap/session", s.http))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// `mailroom token-key rotate` on a running server: tokens signed before keep working, new
// ones are signed with the new key (shown by restarting without the previous key).
backends!(token_key_rotation);
async fn token_key_rotation(b: Backend) {
    let mut s = TestServer::start(b).await;
    s.setup_accounts();
    let before = login(&s);
    assert_eq!(session_status(&s, &before), "200");
    let out = s.ok(&["token-key", "rotate"]);
    assert!(out.contains("new token signing key"), "{out}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        session_status(&s, &before),
        "200",
        "the previous key still verifies"
    );
    let after = login(&s);
    assert_eq!(session_status(&s, &after), "200");
    // Without the previous key, only tokens of the new one are valid.
    s.kill();
    std::fs::remove_file(s.dir.path().join("jwt.key.prev")).unwrap();
    s.spawn();
    assert_eq!(session_status(&s, &before), "401");
    assert_eq!(session_status(&s, &after), "200");
}
