//! The REST API over real HTTP, driven by curl (sending, as the README shows) and Python's
//! http.client (tests/it/rest_client.py), on SQLite and Postgres; and the OpenAPI document
//! served, browsable, and identical to the committed `openapi/openapi.json`.

use std::process::Command;

use crate::backends;
use crate::harness::{Backend, PASSWORD, TestServer, deliver, have};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/it/rest_client.py");

fn run(s: &TestServer, scenario: &str) {
    let out = Command::new("python3")
        .args([SCRIPT, scenario, &s.http.to_string(), PASSWORD])
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "{scenario}: {stdout}{}\nserver errors:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
            .lines()
            .filter(|l| l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

async fn server(b: Backend, extra: &str) -> Option<TestServer> {
    if !have("python3") || !have("curl") {
        eprintln!("skipped: REST tests need python3 and curl");
        return None;
    }
    let s = TestServer::start_with(b, extra).await;
    s.setup_accounts();
    s.ok(&[
        "user",
        "add",
        "root@example.test",
        "--password-stdin",
        "--admin",
    ]);
    Some(s)
}

backends!(rest_send_json_and_form_then_read);
async fn rest_send_json_and_form_then_read(b: Backend) {
    let Some(s) = server(b, "").await else { return };
    run(&s, "send");
}

backends!(rest_flags_move_delete_and_isolation);
async fn rest_flags_move_delete_and_isolation(b: Backend) {
    let Some(s) = server(b, "").await else { return };
    for subject in ["one", "two"] {
        deliver(s.smtp, "alice@example.test", subject).await;
    }
    run(&s, "manage");
}

backends!(rest_api_tokens_and_scopes);
async fn rest_api_tokens_and_scopes(b: Backend) {
    let Some(s) = server(b, "").await else { return };
    run(&s, "tokens");
}

backends!(rest_refresh_logout_and_cookie);
async fn rest_refresh_logout_and_cookie(b: Backend) {
    let Some(s) = server(b, "").await else { return };
    run(&s, "sessions");
}

backends!(rest_admin_endpoints);
async fn rest_admin_endpoints(b: Backend) {
    let Some(s) = server(b, "").await else { return };
    run(&s, "admin");
}

backends!(rest_registration_by_invite);
async fn rest_registration_by_invite(b: Backend) {
    let Some(s) = server(b, "[http]\nregistration = \"invite\"\n").await else {
        return;
    };
    run(&s, "register");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_middleware_cors_compression_docs() {
    let Some(s) = server(
        Backend::Sqlite,
        "[http]\ncors_origins = [\"https://mail.example.test\"]\n",
    )
    .await
    else {
        return;
    };
    run(&s, "middleware");
}

/// The served document is the committed one: regenerate with
/// `cargo run -- openapi > openapi/openapi.json` after changing the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_committed_matches_served() {
    let s = TestServer::start(Backend::Sqlite).await;
    let served: serde_json::Value = {
        let mut c = tokio::net::TcpStream::connect(s.http).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        c.write_all(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        c.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8(buf).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        serde_json::from_str(body).unwrap()
    };
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        served == committed,
        "openapi/openapi.json is out of date: run `cargo run -- openapi > openapi/openapi.json`"
    );
    assert_eq!(served["openapi"], "3.1.0");
    for p in [
        "/api/v1/auth/login",
        "/api/v1/messages/send",
        "/api/v1/mailboxes",
    ] {
        assert!(served["paths"].get(p).is_some(), "{p} undocumented");
    }
}

backends!(rest_search_messages);
async fn rest_search_messages(b: Backend) {
    let Some(s) = server(b, "").await else { return };
    run(&s, "search");
}
