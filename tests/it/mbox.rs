//! `mailroom mbox import|export` on a real mailing-list archive, checked with Python's
//! mailbox module and by a round trip.

use std::process::Command;

use crate::backends;
use crate::corpus::corpus_dir;
use crate::harness::{Backend, PASSWORD, TestServer, have, mailbox_messages};

backends!(import_export_round_trip);
async fn import_export_round_trip(b: Backend) {
    let Some(dir) = corpus_dir("mailbox") else {
        return;
    };
    let src = dir.join("openbmc-2024.mbox");
    let mut s = TestServer::start(b).await;
    s.setup_accounts();
    let out = s.ok(&[
        "mbox",
        "import",
        "alice@example.test",
        src.to_str().unwrap(),
    ]);
    let _ = out;
    if s.db_url.starts_with("postgres") {
        // A bulk import ends with the planner's statistics brought up to date.
        use sea_orm::{ConnectionTrait, Database};
        let db = Database::connect(&s.db_url).await.unwrap();
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'emails'",
            ))
            .await
            .unwrap()
            .unwrap();
        assert!(row.try_get_by_index::<bool>(0).unwrap(), "emails analyzed");
    }
    let core = s.core().await;
    let first = mailbox_messages(&core, "alice@example.test", "INBOX").await;
    assert_eq!(first.len(), 1622, "the README counts 1,622 messages");
    imported_items_are_the_derived_ones(&mut s).await;
    // Stored in RFC 5322 form: CRLF only.
    assert!(
        first
            .iter()
            .all(|(_, m)| !m.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'))
    );

    // Export, and let an independent reader count it.
    let exported = s.dir.path().join("out.mbox");
    s.ok(&[
        "mbox",
        "export",
        "alice@example.test",
        "--out",
        exported.to_str().unwrap(),
    ]);
    if crate::harness::have("python3") {
        let py = Command::new("python3")
            .arg("-c")
            .arg("import mailbox,sys; print(len(mailbox.mbox(sys.argv[1])))")
            .arg(&exported)
            .output()
            .expect("python3");
        assert_eq!(String::from_utf8_lossy(&py.stdout).trim(), "1622");
    }

    // Import the export into another mailbox: byte-identical messages, same order.
    s.ok(&[
        "mbox",
        "import",
        "bob@example.test",
        "--mailbox",
        "Archive",
        exported.to_str().unwrap(),
    ]);
    let second = mailbox_messages(&core, "bob@example.test", "Archive").await;
    assert_eq!(second.len(), first.len());
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        assert!(a.1 == b.1, "message {i} changed in the round trip");
    }
    // Standard output works too, and an unknown mailbox is an error.
    let stdout = s.ok(&["mbox", "export", "bob@example.test", "--mailbox", "Archive"]);
    assert!(stdout.starts_with("From "));
    let bad = s.cli(&["mbox", "export", "bob@example.test", "--mailbox", "Nope"]);
    assert!(!bad.status.success());
}

/// The import keeps every message's ENVELOPE and BODYSTRUCTURE (so the first listing after
/// it reads no message); what IMAP answers from them is what it answers once they are
/// gone and it derives them again from the bytes (a restart empties its memory of them).
async fn imported_items_are_the_derived_ones(s: &mut TestServer) {
    use sea_orm::{ConnectionTrait, Database, Statement};
    if !have("python3") {
        eprintln!("skipped the IMAP part: python3 is not installed");
        return;
    }
    let db = Database::connect(&s.db_url).await.unwrap();
    let one = |sql: &str| Statement::from_string(db.get_database_backend(), sql.to_string());
    let count = |sql: &'static str| {
        let db = &db;
        let st = one(sql);
        async move {
            let row = db.query_one_raw(st).await.unwrap().unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    let kept = count("SELECT COUNT(*) FROM derived WHERE kind IN (1, 2)").await;
    let blobs = count("SELECT COUNT(DISTINCT blob_id) FROM emails").await;
    assert_eq!(
        kept,
        2 * blobs,
        "ENVELOPE and BODYSTRUCTURE kept for each message"
    );
    let fetch = |imap: std::net::SocketAddr| {
        let out = Command::new("python3")
            .arg("-c")
            .arg(
                "import imaplib,sys\n\
                 m = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))\n\
                 m.login('alice@example.test', sys.argv[3])\n\
                 m.select('INBOX', readonly=True)\n\
                 typ, data = m.fetch('1:*', '(ENVELOPE BODYSTRUCTURE)')\n\
                 assert typ == 'OK', typ\n\
                 print(len(data)); print(repr(data))\n",
            )
            .arg(imap.ip().to_string())
            .arg(imap.port().to_string())
            .arg(PASSWORD)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let from_kept = fetch(s.imap);
    assert!(
        from_kept.contains("BODYSTRUCTURE ("),
        "{}",
        &from_kept[..200]
    );
    db.execute_raw(one("DELETE FROM derived")).await.unwrap();
    s.kill();
    s.spawn();
    let derived_again = fetch(s.imap);
    assert!(
        from_kept == derived_again,
        "the kept items differ from those derived again"
    );
}
