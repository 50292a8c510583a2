//! Delivery over SMTP with the mail-send client crate: users, aliases, catch-all,
//! plus-addressing, several recipients, 8-bit and UTF-8, a 10 MB message, threads, UIDs and
//! the change log.

use mail_send::SmtpClientBuilder;
use mail_send::smtp::message::Message;
use mailroom_core::{ChangeOp, ObjectType};

use crate::backends;
use crate::harness::{Backend, Raw, TestServer, expect, mailbox_messages, strip_trace};

async fn send(s: &TestServer, from: &str, to: &[&str], body: &[u8]) -> mail_send::Result<()> {
    let mut client = SmtpClientBuilder::new("127.0.0.1".to_string(), s.smtp.port())
        .unwrap()
        .implicit_tls(false)
        .helo_host("client.test")
        .connect_plain()
        .await?;
    let msg = Message::new(from, to.to_vec(), body.to_vec());
    client.send(msg).await?;
    client.quit().await
}

fn message(subject: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "From: Carol <carol@remote.test>\r\nTo: someone@example.test\r\nSubject: {subject}\r\n{extra_headers}\r\nHello there.\r\n"
    )
    .into_bytes()
}

backends!(routes_to_user_alias_catch_all_and_plus);
async fn routes_to_user_alias_catch_all_and_plus(b: Backend) {
    let s = TestServer::start(b).await;
    s.setup_accounts();
    send(
        &s,
        "carol@remote.test",
        &["alice@example.test"],
        &message("direct", ""),
    )
    .await
    .unwrap();
    send(
        &s,
        "carol@remote.test",
        &["alice+lists@example.test"],
        &message("plus", ""),
    )
    .await
    .unwrap();
    send(
        &s,
        "carol@remote.test",
        &["team@example.test"],
        &message("alias", ""),
    )
    .await
    .unwrap();
    send(
        &s,
        "carol@remote.test",
        &["whoever@other.test"],
        &message("catch-all", ""),
    )
    .await
    .unwrap();
    // One message to alice twice (directly and through the alias) and to bob: one copy each.
    send(
        &s,
        "",
        &["alice@example.test", "team@example.test"],
        &message("both", ""),
    )
    .await
    .unwrap();

    let core = s.core().await;
    let subjects = |msgs: Vec<(u32, Vec<u8>)>| {
        msgs.into_iter()
            .map(|(_, raw)| {
                let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
                m.subject().unwrap().to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        subjects(mailbox_messages(&core, "alice@example.test", "INBOX").await),
        ["direct", "plus", "alias", "both"]
    );
    assert_eq!(
        subjects(mailbox_messages(&core, "bob@example.test", "INBOX").await),
        ["alias", "catch-all", "both"]
    );
    // The null sender is kept as such, and the trace fields come first.
    let alice = mailbox_messages(&core, "alice@example.test", "INBOX").await;
    assert!(
        alice[3].1.starts_with(
            b"Return-Path: <>\r\nReceived: from client.test (127.0.0.1)\r\n\tby mx.test"
        )
    );
    // The same bytes for two accounts are one blob.
    let blobs = std::fs::read_dir(s.dir.path().join("blobs"))
        .unwrap()
        .count();
    assert!(blobs > 0);

    // Unknown local user and a foreign domain are refused with the right codes.
    let err = send(
        &s,
        "carol@remote.test",
        &["nobody@example.test"],
        &message("x", ""),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("550"), "{err}");
    let mut raw = Raw::connect(s.smtp).await;
    expect(&raw.cmd("EHLO client.test").await, "250");
    expect(&raw.cmd("MAIL FROM:<carol@remote.test>").await, "250 2.1.0");
    expect(&raw.cmd("RCPT TO:<nobody@example.test>").await, "550 5.1.1");
    expect(
        &raw.cmd("RCPT TO:<someone@gmail.example>").await,
        "550 5.7.1",
    );
    expect(&raw.cmd("RCPT TO:<not an address>").await, "501");
    expect(&raw.cmd("DATA").await, "503");
    expect(&raw.cmd("QUIT").await, "221");
}

backends!(multi_recipient_with_one_unknown);
async fn multi_recipient_with_one_unknown(b: Backend) {
    let s = TestServer::start(b).await;
    s.setup_accounts();
    let mut raw = Raw::connect(s.smtp).await;
    expect(&raw.cmd("EHLO client.test").await, "250");
    expect(&raw.cmd("MAIL FROM:<carol@remote.test>").await, "250");
    expect(&raw.cmd("RCPT TO:<alice@example.test>").await, "250 2.1.5");
    expect(&raw.cmd("RCPT TO:<ghost@example.test>").await, "550 5.1.1");
    expect(&raw.cmd("RCPT TO:<bob@example.test>").await, "250 2.1.5");
    expect(&raw.cmd("DATA").await, "354");
    raw.send("Subject: to two of three\r\n\r\nbody\r\n.\r\n")
        .await;
    expect(&raw.reply().await, "250 2.0.0");
    expect(&raw.cmd("QUIT").await, "221");
    let core = s.core().await;
    assert_eq!(
        mailbox_messages(&core, "alice@example.test", "INBOX")
            .await
            .len(),
        1
    );
    assert_eq!(
        mailbox_messages(&core, "bob@example.test", "INBOX")
            .await
            .len(),
        1
    );
    // Two recipients: the Received field must not name them (Bcc privacy).
    let stored = &mailbox_messages(&core, "bob@example.test", "INBOX").await[0].1;
    assert!(!String::from_utf8_lossy(stored).contains("for <"));
}

backends!(eight_bit_utf8_and_ten_megabytes);
async fn eight_bit_utf8_and_ten_megabytes(b: Backend) {
    let s = TestServer::start(b).await;
    s.setup_accounts();
    s.ok(&["alias", "add", "josé@example.test", "alice@example.test"]);
    // RFC 6531: a UTF-8 address with SMTPUTF8, UTF-8 headers, an 8-bit body.
    let utf8 =
        "From: Zoë <zoë@remote.test>\r\nSubject: Grüße 😀\r\n\r\nČeský text, 8-bit: \u{00ff}\r\n"
            .as_bytes()
            .to_vec();
    let mut raw = Raw::connect(s.smtp).await;
    expect(&raw.cmd("EHLO client.test").await, "250");
    expect(
        &raw.cmd("MAIL FROM:<zoë@remote.test> SMTPUTF8 BODY=8BITMIME")
            .await,
        "250",
    );
    expect(&raw.cmd("RCPT TO:<josé@example.test>").await, "250");
    expect(&raw.cmd("DATA").await, "354");
    raw.send(&utf8).await;
    raw.send(".\r\n").await;
    expect(&raw.reply().await, "250");
    // Without SMTPUTF8 a non-ASCII address is refused (RFC 6531 §3.4).
    expect(&raw.cmd("MAIL FROM:<zoë@remote.test>").await, "553 5.6.7");
    expect(&raw.cmd("QUIT").await, "221");

    // 10 MB with 8-bit bytes in every line, through the client crate.
    let mut big = b"Subject: big\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    let line: Vec<u8> = (0..998u32)
        .map(|i| b'!' + (i % 90) as u8)
        .chain([0xe9, b'\r', b'\n'])
        .collect();
    while big.len() < 10 * 1024 * 1024 {
        big.extend_from_slice(&line);
    }
    send(&s, "carol@remote.test", &["alice@example.test"], &big)
        .await
        .unwrap();
    // mail-send always ends DATA with CRLF.CRLF, so a message already ending in CRLF arrives
    // with one more empty line; that is what SMTP carried.
    big.extend_from_slice(b"\r\n");

    let core = s.core().await;
    let msgs = mailbox_messages(&core, "alice@example.test", "INBOX").await;
    assert_eq!(msgs.len(), 2);
    assert!(String::from_utf8_lossy(&msgs[0].1).contains("with UTF8SMTP"));
    assert_eq!(strip_trace(&msgs[0].1), &utf8[..]);
    let got = strip_trace(&msgs[1].1);
    let first_diff = got.iter().zip(&big).position(|(a, b)| a != b);
    assert!(
        got == &big[..],
        "10 MB message differs: {} vs {} bytes, first difference at {first_diff:?}",
        got.len(),
        big.len()
    );
}

backends!(uids_threads_and_change_log);
async fn uids_threads_and_change_log(b: Backend) {
    let s = TestServer::start(b).await;
    s.setup_accounts();
    // A reply that arrives before its parent still joins the parent's thread.
    let root = message("Plans", "Message-ID: <root@remote.test>\r\n");
    let reply = message(
        "Re: Plans",
        "Message-ID: <r1@remote.test>\r\nIn-Reply-To: <root@remote.test>\r\n",
    );
    let reply2 = message(
        "Re: Plans",
        "Message-ID: <r2@remote.test>\r\nReferences: <root@remote.test> <r1@remote.test>\r\n",
    );
    let other = message("Unrelated", "Message-ID: <u@remote.test>\r\n");
    for m in [&reply, &root, &other, &reply2] {
        send(&s, "carol@remote.test", &["alice@example.test"], m)
            .await
            .unwrap();
    }
    let core = s.core().await;
    let acc = core.user_get("alice@example.test").await.unwrap();
    let inbox = core.mailbox_find(acc.id, "INBOX").await.unwrap();
    let entries = core
        .mailbox_entries(acc.id, inbox.id, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        entries.iter().map(|e| e.uid).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(entries.windows(2).all(|w| w[0].modseq < w[1].modseq));
    let changes = core.changes_since(acc.id, 0, 1000).await.unwrap();
    let created: Vec<_> = changes
        .iter()
        .filter(|c| c.object_type == ObjectType::Email && c.op == ChangeOp::Created)
        .map(|c| c.object_id)
        .collect();
    assert_eq!(
        created,
        entries.iter().map(|e| e.email_id).collect::<Vec<_>>()
    );
    let threads: Vec<_> = changes
        .iter()
        .filter(|c| c.object_type == ObjectType::Thread)
        .map(|c| (c.object_id, c.op))
        .collect();
    // reply (new thread), root (same thread), other (new), reply2 (same as the first).
    assert_eq!(threads[0].1, ChangeOp::Created);
    assert_eq!(threads[1], (threads[0].0, ChangeOp::Updated));
    assert_eq!(threads[2].1, ChangeOp::Created);
    assert_ne!(threads[2].0, threads[0].0);
    assert_eq!(threads[3], (threads[0].0, ChangeOp::Updated));
    // Same capitalised subject, no references, not a reply: separate threads.
    let digest = message("Weekly Digest", "");
    send(&s, "list@remote.test", &["alice@example.test"], &digest)
        .await
        .unwrap();
    send(&s, "list@remote.test", &["alice@example.test"], &digest)
        .await
        .unwrap();
    let later = core
        .changes_since(acc.id, entries[3].modseq, 1000)
        .await
        .unwrap();
    let digest_threads: Vec<_> = later
        .iter()
        .filter(|c| c.object_type == ObjectType::Thread)
        .map(|c| (c.object_id, c.op))
        .collect();
    assert_eq!(digest_threads.len(), 2);
    assert!(
        digest_threads
            .iter()
            .all(|(_, op)| *op == ChangeOp::Created),
        "{digest_threads:?}"
    );
    assert_ne!(digest_threads[0].0, digest_threads[1].0);
    // Since a state, only what came after it: here the last of the four, then the digests.
    let tail = core
        .changes_since(acc.id, entries[2].modseq, 1000)
        .await
        .unwrap();
    assert!(tail.iter().all(|c| c.seq > entries[2].modseq));
    assert_eq!(
        tail.iter()
            .filter(|c| c.object_type == ObjectType::Email)
            .count(),
        3
    );
    // The service layer refuses another account's mailbox and message bytes, whoever asks.
    let bob_acc = core.user_get("bob@example.test").await.unwrap();
    assert!(matches!(
        core.mailbox_entries(bob_acc.id, inbox.id, 0, 10).await,
        Err(mailroom_core::Error::NotFound(_))
    ));
    assert!(matches!(
        core.mailbox_count(bob_acc.id, inbox.id).await,
        Err(mailroom_core::Error::NotFound(_))
    ));
    assert!(matches!(
        core.blob_for(bob_acc.id, entries[0].blob_id.as_str()).await,
        Err(mailroom_core::Error::NotFound(_))
    ));
    assert!(
        core.blob_for(acc.id, entries[0].blob_id.as_str())
            .await
            .is_ok()
    );
    // Bob's log is his own: none of Alice's mail, only the identity his alias gave him.
    let bob = core.user_get("bob@example.test").await.unwrap();
    let bob_log = core.changes_since(bob.id, 0, 10).await.unwrap();
    assert!(
        bob_log
            .iter()
            .all(|c| c.object_type == ObjectType::Identity),
        "{bob_log:?}"
    );
}
