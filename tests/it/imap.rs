//! IMAP with independent clients: Python's imaplib (tests/it/imap_client.py) against the real
//! binary — login and AUTHENTICATE, mailboxes, APPEND, FETCH sections / ENVELOPE /
//! BODYSTRUCTURE, SEARCH, STORE, COPY, MOVE, EXPUNGE, bad input; IDLE hearing SMTP and JMAP
//! changes and JMAP seeing an IMAP move; STARTTLS and implicit TLS.

use std::process::Command;

use crate::backends;
use crate::harness::{Backend, PASSWORD, TestServer, deliver, have};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/it/imap_client.py");

fn run(s: &TestServer, scenario: &str) -> String {
    let cert = s.dir.path().join("tls").join("cert.pem");
    let out = Command::new("python3")
        .arg(SCRIPT)
        .arg(scenario)
        .arg(s.imap.to_string())
        .arg(s.imaps.to_string())
        .arg(&cert)
        .arg(PASSWORD)
        .arg(s.smtp.to_string())
        .arg(s.http.to_string())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.trim().ends_with("ok"),
        "{scenario}: {stdout}{}\nserver errors:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("WARN"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

async fn with_mail(b: Backend, extra: &str) -> Option<TestServer> {
    if !have("python3") {
        eprintln!("skipped: python3 is not installed");
        return None;
    }
    let s = TestServer::start_with(b, extra).await;
    s.setup_accounts();
    for subject in ["one", "two", "three"] {
        deliver(s.smtp, "alice@example.test", subject).await;
    }
    Some(s)
}

/// The service layer on the server's storage, and alice's account.
async fn alice(s: &TestServer) -> (mailroom_core::Core, mailroom_core::Account) {
    let core = s.core().await;
    let alice = core
        .authenticate("alice@example.test", PASSWORD)
        .await
        .unwrap()
        .unwrap();
    (core, alice)
}

async fn mailbox_names(core: &mailroom_core::Core, account: i64) -> Vec<String> {
    core.mailbox_list(account)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect()
}

backends!(imap_session_with_imaplib);
async fn imap_session_with_imaplib(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "session");
    // What IMAP stored is what the service layer (and so JMAP) sees.
    let (core, alice) = alice(&s).await;
    let names = mailbox_names(&core, alice.id).await;
    assert!(names.contains(&"Entwürfe".to_string()), "{names:?}");
    assert!(!names.contains(&"Done".to_string()), "{names:?}");
    let inbox = core.mailbox_find(alice.id, "INBOX").await.unwrap();
    let left = core.members_since(alice.id, inbox.id, -1).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].keywords, "$flagged");
    // ENVELOPE and BODYSTRUCTURE fetched were kept in the database, for the next process.
    let db = sea_orm::Database::connect(&s.db_url).await.unwrap();
    let kept = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM derived WHERE kind IN (1, 2)",
        ),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index::<i64>(0)
    .unwrap();
    assert!(kept >= 2, "{kept} derived rows");
}

backends!(imap_idle_and_cross_protocol);
async fn imap_idle_and_cross_protocol(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "idle");
}

backends!(imap_two_sessions_see_each_other);
async fn imap_two_sessions_see_each_other(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "two_sessions");
}

backends!(imap_condstore);
async fn imap_condstore(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "condstore");
}

backends!(imap4rev2_esearch_searchres_list_extended);
async fn imap4rev2_esearch_searchres_list_extended(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "rev2");
}

backends!(quota_reported_and_enforced);
async fn quota_reported_and_enforced(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    let (core, alice) = alice(&s).await;
    let used = core.quota(alice.id).await.unwrap().used;
    assert!(used > 0, "three messages use bytes");
    core.user_set_quota(&alice.address, Some(used + 4096))
        .await
        .unwrap();
    run(&s, "quota");
    core.user_set_quota(&alice.address, Some(used))
        .await
        .unwrap();
    run(&s, "quota_full");
    // Lifted: mail flows again.
    core.user_set_quota(&alice.address, None).await.unwrap();
    deliver(s.smtp, "alice@example.test", "after").await;
    // The kept count is the emails' sizes, after deliveries, APPENDs, an EXPUNGE and a JMAP
    // destroy.
    let inbox = core.mailbox_find(alice.id, "INBOX").await.unwrap();
    let ids = core.members_since(alice.id, inbox.id, -1).await.unwrap();
    core.destroy_emails(alice.id, &[ids[0].email_id])
        .await
        .unwrap();
    let db = sea_orm::Database::connect(&s.db_url).await.unwrap();
    let row = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT a.used_bytes, CAST((SELECT COALESCE(SUM(size), 0) FROM emails e WHERE e.account_id = a.id) AS BIGINT) \
             FROM accounts a WHERE a.address = 'alice@example.test'",
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let kept: i64 = row.try_get_by_index(0).unwrap();
    let summed: i64 = row.try_get_by_index(1).unwrap();
    assert_eq!(kept, summed);
    assert_eq!(core.quota(alice.id).await.unwrap().used, summed);
}

backends!(imap_search_text_index);
/// SEARCH FROM/TO/CC/SUBJECT (and JMAP's from) through the text index find what the exact
/// check finds (encoded words, the Kelvin sign, quotes, needles too short for the index, an
/// expunged message gone): while new emails' text waits to enter SQLite's index, once the
/// indexer has moved it there, and on a database from before the index, filled on upgrade.
async fn imap_search_text_index(b: Backend) {
    let sqlite = matches!(b, Backend::Sqlite);
    let Some(mut s) = with_mail(b, "").await else {
        return;
    };
    // SQLite: new text waits (in `email_text_pending`) as long as the indexer is held off.
    s.kill();
    s.env
        .push(("MAILROOM_INDEX_DELAY_MS".into(), "600000".into()));
    s.spawn();
    run(&s, "text_index_fill");
    if sqlite {
        assert!(
            text_waiting(&s.db_url).await >= 3,
            "the appended emails' text waits"
        );
    }
    // A restart's indexer moves what waits at once.
    s.kill();
    s.env.clear();
    s.spawn();
    if sqlite {
        let t = std::time::Instant::now();
        while text_waiting(&s.db_url).await > 0 {
            assert!(t.elapsed().as_secs() < 20, "waiting text was not indexed");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    run(&s, "text_index_check");
    s.kill();
    // The schema as the release before the index left it; the restart migrates again.
    use mailroom_migration::MigratorTrait;
    let db = sea_orm::Database::connect(&s.db_url).await.unwrap();
    let since_index = mailroom_migration::Migrator::get_applied_migrations(&db)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.name() >= "m0013_email_text")
        .count() as u32;
    mailroom_migration::Migrator::down(&db, Some(since_index))
        .await
        .unwrap();
    db.close().await.unwrap();
    s.spawn();
    run(&s, "text_index_check");
}

/// How many emails' text waits to enter SQLite's text index.
async fn text_waiting(db_url: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(db_url).await.unwrap();
    let n = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM email_text_pending",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    db.close().await.unwrap();
    n
}

backends!(imap_recent_survives_a_restart);
async fn imap_recent_survives_a_restart(b: Backend) {
    let Some(mut s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "recent_before");
    s.kill();
    s.spawn();
    run(&s, "recent_after");
}

backends!(idle_hears_another_process);
/// Mail another process files (a CLI import beside the server) reaches an IDLE session
/// without a command from it: the server's one watcher of the database publishes it.
async fn idle_hears_another_process(b: Backend) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let s = TestServer::start(b).await;
    s.setup_accounts();
    let stream = tokio::net::TcpStream::connect(s.imap).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    async fn line(r: &mut (impl AsyncBufReadExt + Unpin)) -> String {
        let mut l = String::new();
        assert!(r.read_line(&mut l).await.unwrap() > 0, "closed");
        l
    }
    async fn until(r: &mut (impl AsyncBufReadExt + Unpin), start: &str) -> String {
        loop {
            let l = line(r).await;
            if l.starts_with(start) {
                return l;
            }
        }
    }
    line(&mut r).await;
    w.write_all(
        format!("a LOGIN alice@example.test \"{PASSWORD}\"\r\nb SELECT INBOX\r\nc IDLE\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    assert!(until(&mut r, "b ").await.starts_with("b OK"));
    until(&mut r, "+ ").await;
    let mbox = s.dir.path().join("one.mbox");
    std::fs::write(
        &mbox,
        "From sender@example.org Thu Dec  3 10:00:00 2026\nFrom: sender@example.org\n\
         To: alice@example.test\nSubject: imported beside the server\n\nbody\n",
    )
    .unwrap();
    s.ok(&[
        "mbox",
        "import",
        "alice@example.test",
        mbox.to_str().unwrap(),
    ]);
    let seen = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        until(&mut r, "* 1 EXISTS"),
    )
    .await;
    assert!(
        seen.is_ok(),
        "the IDLE session did not hear of the imported message"
    );
    w.write_all(b"DONE\r\nd LOGOUT\r\n").await.unwrap();
    assert!(until(&mut r, "c ").await.starts_with("c OK"));
}

backends!(fetch_shows_what_is_left_when_bytes_are_gone);
/// A session still shows a message another client removed (its numbers may not move during
/// FETCH), but the bytes may be collected meanwhile: FETCH answers the others, not none.
async fn fetch_shows_what_is_left_when_bytes_are_gone(b: Backend) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    let stream = tokio::net::TcpStream::connect(s.imap).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    // The untagged FETCH lines up to the tagged answer, which must be OK.
    async fn until(r: &mut (impl AsyncBufReadExt + Unpin), tag: &str) -> Vec<String> {
        let (lines, done) = answer(r, tag).await;
        assert!(done.starts_with(&format!("{tag} OK")), "{done}");
        lines
            .into_iter()
            .filter(|l| l.starts_with("* ") && l.contains(" FETCH "))
            .collect()
    }
    let mut greeting = String::new();
    r.read_line(&mut greeting).await.unwrap();
    w.write_all(
        format!("a LOGIN alice@example.test \"{PASSWORD}\"\r\nb SELECT INBOX\r\n").as_bytes(),
    )
    .await
    .unwrap();
    until(&mut r, "a").await;
    until(&mut r, "b").await;
    let (core, alice) = alice(&s).await;
    let inbox = core.mailbox_find(alice.id, "INBOX").await.unwrap();
    let members = core.members_since(alice.id, inbox.id, -1).await.unwrap();
    let second = members.iter().find(|m| m.uid == 2).unwrap().email_id;
    core.destroy_emails(alice.id, &[second]).await.unwrap();
    let out = s.ok(&["blobs", "gc", "--grace", "0s"]);
    assert!(out.contains("blobs deleted: 1"), "{out}");
    for (tag, items) in [
        ("c", "ENVELOPE"),
        ("d", "BODY.PEEK[]"),
        ("e", "(UID BODY[HEADER])"),
    ] {
        w.write_all(format!("{tag} FETCH 1:3 {items}\r\n").as_bytes())
            .await
            .unwrap();
        let got = until(&mut r, tag).await;
        assert_eq!(got.len(), 2, "{items}: {got:?}");
        assert!(
            got[0].starts_with("* 1 FETCH") && got[1].starts_with("* 3 FETCH"),
            "{got:?}"
        );
    }
}

/// The lines up to the tagged answer, and that answer.
async fn answer(
    r: &mut (impl tokio::io::AsyncBufReadExt + Unpin),
    tag: &str,
) -> (Vec<String>, String) {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).await.unwrap() > 0, "closed");
        if line.starts_with(&format!("{tag} ")) {
            return (lines, line);
        }
        lines.push(line);
    }
}

backends!(append_refused_when_its_file_cannot_be_written);
/// An APPEND whose message file cannot be written is refused with NO, files nothing (the
/// transaction waiting for the file is rolled back), and the session goes on: the same
/// message is appended once the disk takes it again.
async fn append_refused_when_its_file_cannot_be_written(b: Backend) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    // A message whose blob folder does not exist yet; a plain file takes its place.
    let blobs = s.dir.path().join("blobs");
    let (message, folder) = (0..)
        .map(|n| {
            let m = format!("From: x@example.test\r\nSubject: blocked {n}\r\n\r\nbody\r\n");
            let id = mailroom_core::BlobId::of(m.as_bytes()).to_string();
            (m, blobs.join(&id[..2]))
        })
        .find(|(_, folder)| !folder.exists())
        .unwrap();
    std::fs::write(&folder, b"not a folder").unwrap();

    let stream = tokio::net::TcpStream::connect(s.imap).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut greeting = String::new();
    r.read_line(&mut greeting).await.unwrap();
    let append = |tag: &str| format!("{tag} APPEND INBOX {{{}+}}\r\n{message}\r\n", message.len());
    w.write_all(format!("a LOGIN alice@example.test \"{PASSWORD}\"\r\n").as_bytes())
        .await
        .unwrap();
    answer(&mut r, "a").await;
    w.write_all(append("b").as_bytes()).await.unwrap();
    let (_, refused) = answer(&mut r, "b").await;
    assert!(refused.starts_with("b NO "), "{refused}");
    w.write_all(b"c STATUS INBOX (MESSAGES)\r\n").await.unwrap();
    let (status, _) = answer(&mut r, "c").await;
    assert!(status[0].contains("(MESSAGES 3)"), "{status:?}");

    std::fs::remove_file(&folder).unwrap();
    w.write_all(append("d").as_bytes()).await.unwrap();
    let (_, appended) = answer(&mut r, "d").await;
    assert!(appended.starts_with("d OK [APPENDUID "), "{appended}");
    w.write_all(b"e STATUS INBOX (MESSAGES)\r\n").await.unwrap();
    let (status, _) = answer(&mut r, "e").await;
    assert!(status[0].contains("(MESSAGES 4)"), "{status:?}");
}

/// A logged-in IMAP connection sending one command at a time (raw lines).
struct Line {
    r: tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
    n: u32,
}

impl Line {
    async fn login(addr: std::net::SocketAddr) -> Line {
        use tokio::io::AsyncBufReadExt;
        let (r, w) = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap()
            .into_split();
        let mut c = Line {
            r: tokio::io::BufReader::new(r),
            w,
            n: 0,
        };
        let mut greeting = String::new();
        c.r.read_line(&mut greeting).await.unwrap();
        let done = c
            .cmd(&format!("LOGIN alice@example.test \"{PASSWORD}\""))
            .await;
        assert!(done.contains(" OK "), "{done}");
        c
    }

    /// The tagged answer to `command`, with the tag cut off.
    async fn cmd(&mut self, command: &str) -> String {
        use tokio::io::AsyncWriteExt;
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.w
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .unwrap();
        let (_, done) = answer(&mut self.r, &tag).await;
        done[tag.len()..].to_string()
    }
}

backends!(delete_while_messages_move);
/// DELETE of a mailbox while other sessions move messages into and out of it: every command
/// succeeds or is refused for the mailbox being gone, none fails (on Postgres the destroy
/// once locked the mailbox and the account before the emails a MOVE had locked: deadlock).
async fn delete_while_messages_move(b: Backend) {
    use mailroom_core::delivery::{Folder, Incoming};
    let s = TestServer::start(b).await;
    s.setup_accounts();
    let (core, alice) = alice(&s).await;
    let mut admin = Line::login(s.imap).await;
    assert!(admin.cmd("CREATE B").await.starts_with(" OK"));
    for round in 0..6 {
        assert!(admin.cmd("CREATE A").await.starts_with(" OK"));
        let a = core.mailbox_find(alice.id, "A").await.unwrap().id;
        let mail = (0..40)
            .map(|i| Incoming {
                raw: format!("From: x@example.test\r\nSubject: {round} {i}\r\n\r\nhello\r\n")
                    .into_bytes()
                    .into(),
                accounts: vec![alice.id],
                folder: Folder::Mailbox(a),
                keywords: Vec::new(),
                received_at: None,
                derived: Vec::new(),
            })
            .collect();
        core.deliver_many(mail).await.unwrap();
        // Two sessions moving messages one at a time, A to B and B to A.
        let mover = |from: &'static str, to: &'static str| {
            let addr = s.imap;
            tokio::spawn(async move {
                let mut c = Line::login(addr).await;
                let mut answers = vec![c.cmd(&format!("SELECT {from}")).await];
                for _ in 0..30 {
                    // Anything but OK ends it: the mailbox went, or is empty.
                    let a = c.cmd(&format!("MOVE 1 {to}")).await;
                    let done = !a.starts_with(" OK");
                    answers.push(a);
                    if done {
                        break;
                    }
                }
                answers
            })
        };
        let movers = [mover("A", "B"), mover("B", "A")];
        tokio::time::sleep(std::time::Duration::from_millis(5 + round * 4)).await;
        let deleted = admin.cmd("DELETE A").await;
        assert!(
            deleted.starts_with(" OK"),
            "round {round}: DELETE A: {deleted}"
        );
        for m in movers {
            for a in m.await.unwrap() {
                assert!(
                    !a.contains("SERVERBUG") && !a.contains("UNAVAILABLE"),
                    "round {round}: {a}"
                );
            }
        }
    }
    assert!(!s.log().contains("deadlock"), "{}", s.log());
}

backends!(imap_qresync);
async fn imap_qresync(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "qresync");
}

backends!(imap_sort_and_thread);
async fn imap_sort_and_thread(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "sort_thread");
}

backends!(imap_compress_deflate);
async fn imap_compress_deflate(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "compress");
}

backends!(imap_fetch_in_several_batches);
async fn imap_fetch_in_several_batches(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "many");
}

backends!(imap_binary);
async fn imap_binary(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "binary");
}

backends!(imap_login_limits_and_timeout);
async fn imap_login_limits_and_timeout(b: Backend) {
    let Some(s) = with_mail(b, "[imap]\nlogin_timeout_secs = 1\n").await else {
        return;
    };
    run(&s, "limits");
    // The lockout is the account's, over HTTP too.
    let http = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-u"])
        .arg(format!("bob@example.test:{PASSWORD}"))
        .arg(format!("http://{}/jmap/session", s.http))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&http.stdout), "429");
}

backends!(imap_utf8_accept);
async fn imap_utf8_accept(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "utf8");
    let (core, alice) = alice(&s).await;
    let names = mailbox_names(&core, alice.id).await;
    assert!(
        names.contains(&"Überweisungen".to_string()) && names.contains(&"A&B".to_string()),
        "{names:?}"
    );
}

backends!(imap_concurrent_changes_all_stay);
async fn imap_concurrent_changes_all_stay(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "concurrent_store");
}

backends!(deeply_nested_mime_crashes_nothing);
async fn deeply_nested_mime_crashes_nothing(b: Backend) {
    let Some(s) = with_mail(b, "").await else {
        return;
    };
    run(&s, "deep_mime");
}

backends!(imap_tls_and_logindisabled);
async fn imap_tls_and_logindisabled(b: Backend) {
    let Some(s) = with_mail(b, "[imap]\nloopback_is_secure = false\n").await else {
        return;
    };
    run(&s, "tls");
}
