//! SMTP edge cases as raw transcripts: pipelining, limits, smuggling, dot-stuffing, BDAT,
//! malformed commands, timeouts and connection limits.

use std::time::Duration;

use crate::backends;
use crate::harness::{Backend, Raw, TestServer, expect, mailbox_messages, strip_trace};

const LIMITS: &str = "[smtp]\nmax_message_size = 100000\nmax_recipients = 3\ncommand_timeout_secs = 2\n\
                      max_connections_per_ip = 4\nmax_errors = 10\n";

async fn ehlo(s: &TestServer) -> Raw {
    let mut raw = Raw::connect(s.smtp).await;
    let r = raw.cmd("EHLO client.test").await;
    for ext in [
        "PIPELINING",
        "8BITMIME",
        "SMTPUTF8",
        "SIZE 100000",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
    ] {
        assert!(r.contains(ext), "EHLO lacks {ext}: {r}");
    }
    raw
}

backends!(pipelining_answers_every_command_in_order);
async fn pipelining_answers_every_command_in_order(b: Backend) {
    let s = TestServer::start_with(b, LIMITS).await;
    s.setup_accounts();
    let mut raw = ehlo(&s).await;
    // RFC 2920: the whole transaction in one write, DATA last; then the message.
    raw.send("MAIL FROM:<carol@remote.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<ghost@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n").await;
    expect(&raw.reply().await, "250 2.1.0");
    expect(&raw.reply().await, "250 2.1.5");
    expect(&raw.reply().await, "550 5.1.1");
    expect(&raw.reply().await, "250 2.1.5");
    expect(&raw.reply().await, "354");
    // The message and the next transaction's commands in one write as well.
    raw.send("Subject: one\r\n\r\n1\r\n.\r\nRSET\r\nMAIL FROM:<carol@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n").await;
    expect(&raw.reply().await, "250 2.0.0");
    expect(&raw.reply().await, "250 2.0.0");
    expect(&raw.reply().await, "250 2.1.0");
    expect(&raw.reply().await, "250 2.1.5");
    expect(&raw.reply().await, "354");
    raw.send("Subject: two\r\n\r\n2\r\n.\r\nNOOP\r\nQUIT\r\n")
        .await;
    expect(&raw.reply().await, "250 2.0.0");
    expect(&raw.reply().await, "250 2.0.0");
    expect(&raw.reply().await, "221");
    let core = s.core().await;
    assert_eq!(
        mailbox_messages(&core, "alice@example.test", "INBOX")
            .await
            .len(),
        2
    );
    assert_eq!(
        mailbox_messages(&core, "bob@example.test", "INBOX")
            .await
            .len(),
        1
    );
}

backends!(size_and_recipient_limits);
async fn size_and_recipient_limits(b: Backend) {
    let s = TestServer::start_with(b, LIMITS).await;
    s.setup_accounts();
    let mut raw = ehlo(&s).await;
    // Declared too big: refused at MAIL (RFC 1870).
    expect(
        &raw.cmd("MAIL FROM:<carol@remote.test> SIZE=200000").await,
        "552 5.3.4",
    );
    // Not declared, but too big: read to the end, then refused; the session goes on.
    raw.start_data("carol@remote.test", "alice@example.test")
        .await;
    let line = format!("{}\r\n", "x".repeat(998));
    for _ in 0..150 {
        raw.send(&line).await;
    }
    raw.send(".\r\n").await;
    expect(&raw.reply().await, "552 5.3.4");
    expect(&raw.cmd("NOOP").await, "250");
    // Recipients past the limit get 452 4.5.3; those before it are kept.
    expect(&raw.cmd("MAIL FROM:<carol@remote.test>").await, "250");
    for _ in 0..3 {
        expect(&raw.cmd("RCPT TO:<alice@example.test>").await, "250");
    }
    expect(&raw.cmd("RCPT TO:<bob@example.test>").await, "452 4.5.3");
    expect(&raw.cmd("DATA").await, "354");
    raw.send("Subject: limited\r\n\r\nx\r\n.\r\n").await;
    expect(&raw.reply().await, "250");
    // BDAT over the limit is read and refused too.
    expect(&raw.cmd("MAIL FROM:<carol@remote.test>").await, "250");
    expect(&raw.cmd("RCPT TO:<alice@example.test>").await, "250");
    raw.send(format!("BDAT 150000 LAST\r\n{}", "y".repeat(150000)))
        .await;
    expect(&raw.reply().await, "552 5.3.4");
    expect(&raw.cmd("QUIT").await, "221");
    let core = s.core().await;
    assert_eq!(
        mailbox_messages(&core, "alice@example.test", "INBOX")
            .await
            .len(),
        1
    );
    assert!(
        mailbox_messages(&core, "bob@example.test", "INBOX")
            .await
            .is_empty()
    );
}

backends!(smuggling_never_makes_a_second_message);
async fn smuggling_never_makes_a_second_message(b: Backend) {
    let s = TestServer::start_with(b, LIMITS).await;
    s.setup_accounts();
    // Each probe hides an end-of-data look-alike followed by a second transaction to bob.
    let hidden = "MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n";
    for fake_end in [
        "\n.\n",
        "\n.\r\n",
        "\r\n.\n",
        "\r.\r\n",
        "\r\n.\r",
        "\n.",
        "\r\n\n.\n\r\n",
        "\r\n.\r\r\n",
    ] {
        let mut raw = ehlo(&s).await;
        raw.start_data("carol@remote.test", "alice@example.test")
            .await;
        raw.send(format!(
            "Subject: probe\r\n\r\nbefore{fake_end}{hidden}.\r\n"
        ))
        .await;
        // One reply for the whole thing: refused for its bare line ending.
        expect(&raw.reply().await, "550 5.6.0");
        // In step: the next command gets its own answer.
        expect(&raw.cmd("NOOP").await, "250");
        expect(&raw.cmd("QUIT").await, "221");
    }
    let core = s.core().await;
    assert!(
        mailbox_messages(&core, "bob@example.test", "INBOX")
            .await
            .is_empty()
    );
    assert!(
        mailbox_messages(&core, "alice@example.test", "INBOX")
            .await
            .is_empty()
    );
}

backends!(dot_stuffing_is_undone);
async fn dot_stuffing_is_undone(b: Backend) {
    let s = TestServer::start(b).await;
    s.setup_accounts();
    let mut raw = ehlo_plain(&s).await;
    raw.start_data("carol@remote.test", "alice@example.test")
        .await;
    raw.send("Subject: dots\r\n\r\n..\r\n...leading\r\n.x\r\nmiddle . dot\r\n..\r\n.\r\n")
        .await;
    expect(&raw.reply().await, "250");
    // The first line counts as a line start too: stuffed there, and a lone dot ends an
    // empty message at once.
    raw.start_data("carol@remote.test", "alice@example.test")
        .await;
    raw.send("..first: line\r\n\r\nbody\r\n.\r\n").await;
    expect(&raw.reply().await, "250");
    raw.start_data("carol@remote.test", "alice@example.test")
        .await;
    expect(&raw.cmd(".").await, "250");
    let core = s.core().await;
    let msgs = mailbox_messages(&core, "alice@example.test", "INBOX").await;
    assert_eq!(
        strip_trace(&msgs[0].1),
        b"Subject: dots\r\n\r\n.\r\n..leading\r\nx\r\nmiddle . dot\r\n.\r\n"
    );
    assert_eq!(strip_trace(&msgs[1].1), b".first: line\r\n\r\nbody\r\n");
    assert_eq!(strip_trace(&msgs[2].1), b"");
}

async fn ehlo_plain(s: &TestServer) -> Raw {
    let mut raw = Raw::connect(s.smtp).await;
    expect(&raw.cmd("EHLO client.test").await, "250");
    raw
}

backends!(bdat_chunks);
async fn bdat_chunks(b: Backend) {
    let s = TestServer::start(b).await;
    s.setup_accounts();
    let mut raw = ehlo_plain(&s).await;
    // BDAT before a recipient: the chunk is read anyway, then refused; the session goes on.
    expect(&raw.cmd("MAIL FROM:<carol@remote.test>").await, "250");
    raw.send("BDAT 5\r\nhello").await;
    expect(&raw.reply().await, "503");
    expect(&raw.cmd("MAIL FROM:<carol@remote.test>").await, "250");
    expect(&raw.cmd("RCPT TO:<alice@example.test>").await, "250");
    // BDAT carries bytes verbatim: a line that is a lone dot stays.
    raw.send("BDAT 19\r\nSubject: chunky\r\n\r\n").await;
    expect(&raw.reply().await, "250 2.0.0 19 octets");
    expect(&raw.cmd("DATA").await, "503");
    raw.send("BDAT 5\r\n.\r\nab").await;
    expect(&raw.reply().await, "250");
    raw.send("BDAT 2 LAST\r\n\r\n").await;
    expect(&raw.reply().await, "250 2.0.0 Message accepted");
    expect(&raw.cmd("QUIT").await, "221");
    let core = s.core().await;
    let msgs = mailbox_messages(&core, "alice@example.test", "INBOX").await;
    assert_eq!(
        strip_trace(&msgs[0].1),
        b"Subject: chunky\r\n\r\n.\r\nab\r\n"
    );
}

backends!(bad_commands_get_errors_and_the_session_goes_on);
async fn bad_commands_get_errors_and_the_session_goes_on(b: Backend) {
    let s = TestServer::start_with(b, LIMITS).await;
    s.setup_accounts();
    let mut raw = Raw::connect(s.smtp).await;
    expect(&raw.cmd("MAIL FROM:<carol@remote.test>").await, "503 5.5.1");
    expect(&raw.cmd("EHLO client.test").await, "250");
    expect(&raw.cmd("FROB nicate").await, "500 5.5.2");
    expect(&raw.cmd("MAIL TO:<x@y.test>").await, "501");
    expect(&raw.cmd("RCPT TO:<alice@example.test>").await, "503 5.5.1");
    expect(
        &raw.cmd(&format!("NOOP {}", "z".repeat(5000))).await,
        "500 5.5.2",
    );
    expect(
        &raw.cmd("MAIL FROM:<carol@remote.test> FROBBLE=1").await,
        "555",
    );
    expect(&raw.cmd("VRFY alice").await, "252");
    expect(&raw.cmd("HELP").await, "214");
    expect(&raw.cmd("EXPN staff").await, "502 5.5.1");
    expect(&raw.cmd("AUTH PLAIN AGFsaWNlAHg=").await, "503 5.5.1");
    // Still in step after all that: a good transaction works.
    expect(&raw.cmd("MAIL FROM:<carol@remote.test>").await, "250");
    expect(&raw.cmd("MAIL FROM:<carol@remote.test>").await, "503 5.5.1");
    expect(&raw.cmd("RCPT TO:<alice@example.test>").await, "250");
    expect(&raw.cmd("DATA").await, "354");
    raw.send("Subject: ok\r\n\r\nok\r\n.\r\n").await;
    expect(&raw.reply().await, "250");
    // Nine mistakes so far; the tenth (max_errors = 10) gets its reply, then 421, then close.
    expect(&raw.cmd("FROB").await, "500 5.5.2");
    expect(&raw.reply().await, "421 4.7.0");
    assert_eq!(raw.reply().await, "", "connection should be closed");
}

backends!(timeouts_and_connection_limits);
async fn timeouts_and_connection_limits(b: Backend) {
    let s = TestServer::start_with(b, LIMITS).await;
    // An idle client is told 421 4.4.2 and dropped (command_timeout_secs = 2).
    let mut idle = Raw::connect(s.smtp).await;
    let t = std::time::Instant::now();
    expect(&idle.reply().await, "421 4.4.2");
    assert!(t.elapsed() >= Duration::from_millis(1500));
    assert_eq!(idle.reply().await, "");
    // Four connections from one address are allowed; the fifth is refused at once.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(Raw::connect(s.smtp).await);
    }
    let over = tokio::net::TcpStream::connect(s.smtp).await.unwrap();
    let mut r = tokio::io::BufReader::new(over);
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut r, &mut line)
        .await
        .unwrap();
    expect(&line, "421 4.7.0");
    // Closing one frees its slot.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = Raw::connect(s.smtp).await;
    expect(&again.cmd("NOOP").await, "250");
}

backends!(storage_failure_is_451_and_leaves_nothing);
async fn storage_failure_is_451_and_leaves_nothing(b: Backend) {
    let s = TestServer::start(b).await;
    s.setup_accounts();
    // Break the blob store under the running server: its folder becomes a plain file.
    let blobs = s.dir.path().join("blobs");
    std::fs::remove_dir_all(&blobs).unwrap();
    std::fs::write(&blobs, b"not a folder").unwrap();
    let mut raw = ehlo_plain(&s).await;
    raw.start_data("carol@remote.test", "alice@example.test")
        .await;
    raw.send("Subject: lost?\r\n\r\nmust not be half-stored\r\n.\r\n")
        .await;
    expect(&raw.reply().await, "451 4.3.0");
    // Repair the store; nothing was filed meanwhile: no email, no change recorded.
    std::fs::remove_file(&blobs).unwrap();
    std::fs::create_dir(&blobs).unwrap();
    let core = s.core().await;
    let acc = core.user_get("alice@example.test").await.unwrap();
    assert!(
        mailbox_messages(&core, "alice@example.test", "INBOX")
            .await
            .is_empty()
    );
    // (The fixture's alias gave alice an identity; that is the only change.)
    let log = core.changes_since(acc.id, 0, 10).await.unwrap();
    assert!(
        log.iter()
            .all(|c| c.object_type == mailroom_core::ObjectType::Identity),
        "{log:?}"
    );
    // The same session delivers again.
    raw.start_data("carol@remote.test", "alice@example.test")
        .await;
    raw.send("Subject: retried\r\n\r\nnow stored\r\n.\r\n")
        .await;
    expect(&raw.reply().await, "250");
    let msgs = mailbox_messages(&core, "alice@example.test", "INBOX").await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].0, 1, "the failed delivery must not have used a UID");
}

backends!(data_timeout_closes_a_stalled_transfer);
async fn data_timeout_closes_a_stalled_transfer(b: Backend) {
    let s = TestServer::start_with(b, "[smtp]\ndata_timeout_secs = 1\n").await;
    s.setup_accounts();
    let mut raw = ehlo_plain(&s).await;
    raw.start_data("carol@remote.test", "alice@example.test")
        .await;
    raw.send("Subject: stalled\r\n\r\nhalf a mess").await;
    expect(&raw.reply().await, "421 4.4.2");
    let core = s.core().await;
    assert!(
        mailbox_messages(&core, "alice@example.test", "INBOX")
            .await
            .is_empty()
    );
}

backends!(shutdown_says_421_and_exits_cleanly);
async fn shutdown_says_421_and_exits_cleanly(b: Backend) {
    let mut s = TestServer::start(b).await;
    s.setup_accounts();
    let mut raw = ehlo_plain(&s).await;
    expect(&raw.cmd("MAIL FROM:<carol@remote.test>").await, "250");
    let exited = tokio::task::spawn_blocking(move || {
        let ok = s.terminate();
        (ok, s)
    });
    expect(&raw.reply().await, "421 4.3.2");
    assert_eq!(raw.reply().await, "", "connection should be closed");
    let (ok, _s) = exited.await.unwrap();
    assert!(ok, "mailroom serve should exit 0 on SIGTERM");
}
