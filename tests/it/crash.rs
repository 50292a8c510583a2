//! Kill -9 while clients send: after a restart, every message that got a 250 is there, whole.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::backends;
use crate::harness::{Backend, TestServer, mailbox_messages, strip_trace};

/// Sends messages until the server goes away; returns the bodies that were acknowledged.
async fn sender(addr: std::net::SocketAddr, worker: usize, acked: Arc<Mutex<Vec<Vec<u8>>>>) {
    for i in 0.. {
        let body = format!(
            "Subject: crash {worker}.{i}\r\nMessage-ID: <{worker}.{i}@crash.test>\r\n\r\n{}\r\n",
            format!("worker {worker} message {i} ").repeat(40)
        )
        .into_bytes();
        match one(addr, &body).await {
            Ok(true) => acked.lock().unwrap().push(body),
            Ok(false) | Err(_) => return,
        }
    }
}

async fn one(addr: std::net::SocketAddr, body: &[u8]) -> std::io::Result<bool> {
    let s = tokio::net::TcpStream::connect(addr).await?;
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    read(&mut r).await?;
    w.write_all(
        b"EHLO crash.test\r\nMAIL FROM:<c@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n",
    )
    .await?;
    for _ in 0..4 {
        read(&mut r).await?;
    }
    w.write_all(body).await?;
    w.write_all(b".\r\n").await?;
    let reply = read(&mut r).await?;
    Ok(reply.starts_with("250 "))
}

/// One whole reply, or "" if the connection closed.
async fn read(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<String> {
    let mut all = String::new();
    loop {
        let mut one = String::new();
        if r.read_line(&mut one).await? == 0 {
            return Ok(String::new());
        }
        all.push_str(&one);
        if one.len() < 4 || one.as_bytes()[3] == b' ' {
            return Ok(all);
        }
    }
}

backends!(acknowledged_mail_survives_sigkill);
async fn acknowledged_mail_survives_sigkill(b: Backend) {
    kill_while_sending(b, "").await
}

backends!(acknowledged_mail_survives_sigkill_with_file_sync);
async fn acknowledged_mail_survives_sigkill_with_file_sync(b: Backend) {
    kill_while_sending(b, "[blobs]\nsync = \"file\"\n").await
}

backends!(journaled_mail_survives_a_power_cut);
/// Small messages' files are written without a sync, their bytes journaled in the commit
/// (store/src/journal.rs). With the flusher held off, a power cut is simulated by emptying
/// every blob file after the kill: the restart must rewrite them all from the journal.
async fn journaled_mail_survives_a_power_cut(b: Backend) {
    let mut s = TestServer::prepare(b, "").await;
    s.env
        .push(("MAILROOM_JOURNAL_FLUSH_MS".into(), "600000".into()));
    s.spawn();
    kill_while_sending_to(s, true).await
}

async fn kill_while_sending(b: Backend, config: &str) {
    kill_while_sending_to(TestServer::start_with(b, config).await, false).await
}

/// Every blob file under the data folder (not the trash), emptied.
fn empty_blob_files(root: &std::path::Path) -> usize {
    let mut n = 0;
    for shard in std::fs::read_dir(root).unwrap() {
        let shard = shard.unwrap().path();
        if !shard.is_dir() || shard.file_name().is_some_and(|f| f.len() != 2) {
            continue;
        }
        for f in std::fs::read_dir(&shard).unwrap() {
            let f = f.unwrap().path();
            std::fs::File::create(&f).unwrap();
            n += 1;
        }
    }
    n
}

async fn kill_while_sending_to(mut s: TestServer, power_cut: bool) {
    s.setup_accounts();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..16 {
        tasks.push(tokio::spawn(sender(s.smtp, w, acked.clone())));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.kill();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "too few messages before the kill ({}) to prove anything",
        acked.len()
    );
    if power_cut {
        let emptied = empty_blob_files(&s.dir.path().join("blobs"));
        assert!(emptied >= acked.len(), "{emptied} blob files emptied");
    }
    s.spawn();
    let core = s.core().await;
    let stored: Vec<Vec<u8>> = mailbox_messages(&core, "alice@example.test", "INBOX")
        .await
        .into_iter()
        .map(|(_, raw)| strip_trace(&raw).to_vec())
        .collect();
    let stored: std::collections::HashSet<Vec<u8>> = stored.into_iter().collect();
    let lost = acked.iter().filter(|m| !stored.contains(*m)).count();
    assert_eq!(
        lost,
        0,
        "{lost} of {} acknowledged messages lost or damaged",
        acked.len()
    );
    // The restarted server takes mail again.
    assert!(
        one(s.smtp, b"Subject: after\r\n\r\nafter\r\n")
            .await
            .unwrap()
    );
}
