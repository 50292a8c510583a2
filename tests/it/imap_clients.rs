//! Real IMAP clients against the real binary: mbsync (isync) syncing both ways with the bytes
//! compared, and imapflow (Node) listing, fetching, flagging, searching, moving, appending.
//! Each skips with a notice when its client is not installed (.ci/run installs both).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::backends;
use crate::harness::{Backend, PASSWORD, TestServer, deliver, have, mailbox_messages};

const NODE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/it/node");

fn mbsync(config: &Path) {
    let out = Command::new("mbsync")
        .arg("-c")
        .arg(config)
        .arg("-a")
        .output()
        .expect("mbsync");
    assert!(
        out.status.success(),
        "mbsync failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A message as mbsync keeps it locally: LF line ends (its maildir convention) and no
/// X-TUID header (its own marker for messages it copied).
fn as_local(m: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(m).replace("\r\n", "\n");
    text.split_inclusive('\n')
        .filter(|l| !l.starts_with("X-TUID: "))
        .collect::<String>()
        .into_bytes()
}

/// Every message file of a maildir folder (new and cur), with its name.
fn maildir(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            out.push((p, bytes));
        }
    }
    out
}

backends!(mbsync_syncs_both_ways);
async fn mbsync_syncs_both_ways(b: Backend) {
    if !have("mbsync") {
        eprintln!("skipped: mbsync (isync) is not installed");
        return;
    }
    let s = TestServer::start(b).await;
    s.setup_accounts();
    for subject in ["one", "two", "three"] {
        deliver(s.smtp, "alice@example.test", subject).await;
    }
    let local = s.dir.path().join("maildir");
    std::fs::create_dir_all(&local).unwrap();
    let config = s.dir.path().join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount test\nHost {}\nPort {}\nUser alice@example.test\nPass \"{PASSWORD}\"\n\
             SSLType None\nAuthMechs LOGIN\n\nIMAPStore remote\nAccount test\n\n\
             MaildirStore local\nPath {dir}/\nInbox {dir}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            s.imap.ip(),
            s.imap.port(),
            dir = local.display()
        ),
    )
    .unwrap();

    // Down: the three messages, byte for byte; every mailbox made locally.
    mbsync(&config);
    let core = s.core().await;
    let server: BTreeSet<Vec<u8>> = mailbox_messages(&core, "alice@example.test", "INBOX")
        .await
        .into_iter()
        .map(|(_, m)| as_local(&m))
        .collect();
    let inbox = local.join("INBOX");
    let here: BTreeSet<Vec<u8>> = maildir(&inbox)
        .into_iter()
        .map(|(_, m)| as_local(&m))
        .collect();
    assert_eq!(here.len(), 3);
    assert_eq!(here, server, "maildir and server differ");
    for special in ["Sent", "Trash", "Drafts"] {
        assert!(local.join(special).is_dir(), "{special} not synced");
    }

    // Up: a new message, a flag and a deletion made locally.
    let written = b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: written offline\r\nMessage-ID: <offline-1@example.test>\r\n\r\nDrafted on a train.\r\n".to_vec();
    std::fs::write(inbox.join("new").join("1700000000.offline.local"), &written).unwrap();
    let files = maildir(&inbox);
    let find = |word: &str| {
        files
            .iter()
            .find(|(_, m)| {
                String::from_utf8_lossy(&as_local(m)).contains(&format!("Subject: {word}\n"))
            })
            .unwrap()
            .0
            .clone()
    };
    let (two, three) = (find("two"), find("three"));
    let flagged = three
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("cur")
        .join(format!(
            "{}F",
            three
                .file_name()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('F')
        ));
    std::fs::rename(&three, &flagged).unwrap();
    std::fs::remove_file(&two).unwrap();
    mbsync(&config);

    let alice = core
        .authenticate("alice@example.test", PASSWORD)
        .await
        .unwrap()
        .unwrap();
    let server = mailbox_messages(&core, "alice@example.test", "INBOX").await;
    let texts: Vec<String> = server
        .iter()
        .map(|(_, m)| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert_eq!(server.len(), 3, "{texts:#?}");
    // mbsync adds its X-TUID marker to what it uploads.
    assert!(
        server
            .iter()
            .any(|(_, m)| as_local(m) == as_local(&written)),
        "appended bytes differ: {texts:#?}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("Subject: two\r\n")),
        "deletion not synced"
    );
    let mailbox = core.mailbox_find(alice.id, "INBOX").await.unwrap();
    let members = core.members_since(alice.id, mailbox.id, -1).await.unwrap();
    let three_uid = server
        .iter()
        .find(|(_, m)| String::from_utf8_lossy(m).contains("Subject: three\r\n"))
        .unwrap()
        .0;
    let three_member = members.iter().find(|m| m.uid as u32 == three_uid).unwrap();
    assert!(
        three_member.keywords.contains("$flagged"),
        "flag not synced: {three_member:?}"
    );

    // Down again: a delivery arrives.
    deliver(s.smtp, "alice@example.test", "four").await;
    mbsync(&config);
    let here: Vec<String> = maildir(&inbox)
        .into_iter()
        .map(|(_, m)| String::from_utf8_lossy(&m).into_owned())
        .collect();
    assert_eq!(here.len(), 4, "{here:#?}");
    assert!(
        here.iter().any(|t| t.contains("Subject: four\n")),
        "{here:#?}"
    );
}

backends!(imapflow_lists_fetches_and_files);
async fn imapflow_lists_fetches_and_files(b: Backend) {
    let module = Path::new(NODE_DIR).join("node_modules").join("imapflow");
    if !have("node") || !module.is_dir() {
        eprintln!("skipped: imapflow is not installed (npm install --prefix tests/it/node)");
        return;
    }
    let s = TestServer::start(b).await;
    s.setup_accounts();
    for subject in ["one", "two", "three"] {
        deliver(s.smtp, "alice@example.test", subject).await;
    }
    let out = Command::new("node")
        .arg(Path::new(NODE_DIR).join("imapflow_client.mjs"))
        .arg(s.imap.ip().to_string())
        .arg(s.imap.port().to_string())
        .arg("alice@example.test")
        .arg(PASSWORD)
        .output()
        .expect("node");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "imapflow: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
