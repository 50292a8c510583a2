//! `mailroom mbox import|export` on a real mailing-list archive, checked with Python's
//! mailbox module and by a round trip.

use std::process::Command;

use crate::backends;
use crate::corpus::corpus_dir;
use crate::harness::{Backend, TestServer, mailbox_messages};

backends!(import_export_round_trip);
async fn import_export_round_trip(b: Backend) {
    let Some(dir) = corpus_dir("mailbox") else {
        return;
    };
    let src = dir.join("openbmc-2024.mbox");
    let s = TestServer::start(b).await;
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
