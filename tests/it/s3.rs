//! The blob store on S3: an S3-compatible server from PyPI (moto's server mode) on loopback.
//! Skipped with a notice when `moto_server` is not installed (`pip install "moto[server]"`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mailroom_core::{BlobConfig, Core, CoreConfig};

use crate::backends;
use crate::harness::{Backend, Raw, TestServer, expect, strip_trace};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's server on a free port. A port found free can be taken before moto binds it (then
/// moto exits): it is started again on another.
fn start_moto() -> Option<(Moto, u16)> {
    for _ in 0..5 {
        let port = crate::harness::free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!(
                "skipped: S3 blob store test (moto_server not found; pip install \"moto[server]\")"
            );
            return None;
        };
        let mut moto = Moto(child);
        for _ in 0..100 {
            if matches!(moto.0.try_wait(), Ok(Some(_))) {
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some((moto, port));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("moto_server did not start on five free ports");
}

/// Creates the bucket with a plain HTTP PUT (moto does not check signatures for this).
async fn create_bucket(port: u16, bucket: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let req = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "bucket creation failed: {resp}"
    );
}

backends!(messages_live_in_s3);
async fn messages_live_in_s3(b: Backend) {
    let Some((_moto, port)) = start_moto() else {
        return;
    };
    create_bucket(port, "mailroom").await;
    let blobs = format!(
        "[blobs]\nurl = \"s3://mailroom/test-prefix\"\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\n\
         access_key_id = \"testing\"\nsecret_access_key = \"testing\"\nallow_http = true\n"
    );
    let mut s = TestServer::start_with(b, &blobs).await;
    s.setup_accounts();
    let body = b"Subject: to the cloud\r\n\r\nstored in S3\r\n";
    let mut raw = Raw::connect(s.smtp).await;
    expect(&raw.cmd("EHLO client.test").await, "250");
    raw.start_data("carol@remote.test", "alice@example.test")
        .await;
    raw.send(body).await;
    raw.send(".\r\n").await;
    expect(&raw.reply().await, "250");
    // Nothing on local disk; the bytes come back from S3, also after a restart.
    assert!(!s.dir.path().join("blobs").exists());
    s.kill();
    s.spawn();
    let core = Core::open(&CoreConfig {
        database_url: s.db_url.clone(),
        blobs: BlobConfig::S3 {
            bucket: "mailroom".into(),
            prefix: "test-prefix".into(),
            region: Some("us-east-1".into()),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            allow_http: true,
        },
        max_messages_per_hour: 0,
        remote_delivery: false,
    })
    .await
    .unwrap();
    core.ready().await.unwrap();
    let msgs = crate::harness::mailbox_messages(&core, "alice@example.test", "INBOX").await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(strip_trace(&msgs[0].1), body);

    // Destroyed and collected: the object leaves the bucket, trash included.
    let alice = "alice@example.test";
    let (account, mail) = crate::gc::emails(&s, alice);
    let (id, blob, _) = &mail[0];
    assert!(bucket_keys(port).await.contains(blob.as_str()));
    crate::gc::destroy(&s, alice, &account, id);
    let out = s.ok(&["blobs", "gc", "--grace", "0s"]);
    assert!(out.contains("blobs deleted: 1"), "{out}");
    let keys = bucket_keys(port).await;
    assert!(!keys.contains(blob.as_str()), "{keys}");
    assert_eq!(crate::gc::download_status(&s, alice, &account, blob), "404");
}

/// The bucket's listing (S3 ListObjects XML), read with a plain HTTP GET.
async fn bucket_keys(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let req = format!(
        "GET /mailroom?prefix=test-prefix/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "listing failed: {resp}");
    resp
}
