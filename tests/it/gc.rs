//! Garbage collection of blobs, driven with curl (JMAP) and `mailroom blobs gc`: the bytes
//! of destroyed mail go, bytes another account still holds stay, young blobs and uploads are
//! left alone, and a blob moved aside while something names it comes back.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::backends;
use crate::harness::{Backend, PASSWORD, TestServer};

/// One JMAP request as `who`, with curl over HTTP Basic.
pub(crate) fn jmap(s: &TestServer, who: &str, calls: Value) -> Value {
    let body = json!({
        "using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
        "methodCalls": calls,
    });
    let out = Command::new("curl")
        .args(["-sf", "-u", &format!("{who}:{PASSWORD}")])
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(body.to_string())
        .arg(format!("http://{}/jmap/api", s.http))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl failed: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The HTTP status of downloading `blob` as `who`.
pub(crate) fn download_status(s: &TestServer, who: &str, account: &str, blob: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-u"])
        .arg(format!("{who}:{PASSWORD}"))
        .arg(format!(
            "http://{}/jmap/download/{account}/{blob}/m.eml?accept=message/rfc822",
            s.http
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The account id and `(email id, blob id, subject)` of each of `who`'s emails.
pub(crate) fn emails(s: &TestServer, who: &str) -> (String, Vec<(String, String, String)>) {
    let session = Command::new("curl")
        .args(["-sf", "-u", &format!("{who}:{PASSWORD}")])
        .arg(format!("http://{}/jmap/session", s.http))
        .output()
        .unwrap();
    let session: Value = serde_json::from_slice(&session.stdout).unwrap();
    let account = &session["primaryAccounts"]["urn:ietf:params:jmap:mail"];
    let r = jmap(
        s,
        who,
        json!([
            ["Email/query", {"accountId": account}, "q"],
            ["Email/get", {"accountId": account,
                           "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                           "properties": ["blobId", "subject"]}, "g"]
        ]),
    );
    let get = &r["methodResponses"][1][1];
    let list = get["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["blobId"].as_str().unwrap().to_string(),
                e["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (get["accountId"].as_str().unwrap().to_string(), list)
}

pub(crate) fn destroy(s: &TestServer, who: &str, account: &str, id: &str) {
    let r = jmap(
        s,
        who,
        json!([["Email/set", {"accountId": account, "destroy": [id]}, "d"]]),
    );
    assert_eq!(r["methodResponses"][0][1]["destroyed"], json!([id]), "{r}");
}

fn blob_file(root: &Path, blob: &str) -> PathBuf {
    root.join(&blob[..2]).join(blob)
}

fn gc(s: &TestServer, grace: &str) -> String {
    s.ok(&["blobs", "gc", "--grace", grace])
}

fn mbox(dir: &Path, name: &str, subject: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "From carol@remote.test Mon Nov 23 10:00:00 2026\nFrom: carol@remote.test\n\
             Subject: {subject}\nMessage-ID: <{subject}@remote.test>\n\nAbout {subject}.\n\n"
        ),
    )
    .unwrap();
    path
}

backends!(unused_blobs_are_collected);
async fn unused_blobs_are_collected(b: Backend) {
    let s = TestServer::start(b).await;
    s.setup_accounts();
    let root = s.dir.path().join("blobs");
    let (alice, bob) = ("alice@example.test", "bob@example.test");
    // The same bytes imported into both accounts are one blob; another message only alice's.
    let shared = mbox(s.dir.path(), "shared.mbox", "shared");
    let solo = mbox(s.dir.path(), "solo.mbox", "solo");
    for who in [alice, bob] {
        s.ok(&["mbox", "import", who, shared.to_str().unwrap()]);
    }
    s.ok(&["mbox", "import", alice, solo.to_str().unwrap()]);
    let (a_acc, a_mail) = emails(&s, alice);
    let (b_acc, b_mail) = emails(&s, bob);
    let find = |mail: &[(String, String, String)], subject: &str| {
        mail.iter()
            .find(|e| e.2 == subject)
            .cloned()
            .unwrap_or_else(|| panic!("no {subject} in {mail:?}"))
    };
    let (a_shared, a_solo, b_shared) = (
        find(&a_mail, "shared"),
        find(&a_mail, "solo"),
        find(&b_mail, "shared"),
    );
    assert_eq!(a_shared.1, b_shared.1, "identical bytes share one blob");
    assert!(blob_file(&root, &a_solo.1).exists());

    // Destroyed, but younger than the grace period: kept.
    destroy(&s, alice, &a_acc, &a_solo.0);
    let out = gc(&s, "1h");
    assert!(out.contains("message records forgotten: 1"), "{out}");
    assert!(out.contains("blobs moved to the trash: 0"), "{out}");
    assert!(blob_file(&root, &a_solo.1).exists());

    // Past it: gone from disk and from the API, nothing left in the trash.
    let out = gc(&s, "0s");
    assert!(out.contains("blobs deleted: 1"), "{out}");
    assert!(!blob_file(&root, &a_solo.1).exists());
    assert_eq!(
        std::fs::read_dir(root.join("trash")).unwrap().count(),
        0,
        "trash emptied"
    );
    assert_eq!(download_status(&s, alice, &a_acc, &a_solo.1), "404");

    // Alice's copy of the shared message goes; Bob's keeps the bytes.
    destroy(&s, alice, &a_acc, &a_shared.0);
    let out = gc(&s, "0s");
    assert!(out.contains("blobs deleted: 0"), "{out}");
    assert!(blob_file(&root, &b_shared.1).exists());
    assert_eq!(download_status(&s, bob, &b_acc, &b_shared.1), "200");
    assert_eq!(
        download_status(&s, alice, &a_acc, &b_shared.1),
        "404",
        "alice no longer holds it"
    );

    // A blob moved aside while still named (what a delivery racing the collector can cause)
    // is still readable, and the next collection puts it back.
    std::fs::create_dir_all(root.join("trash")).unwrap();
    std::fs::rename(
        blob_file(&root, &b_shared.1),
        root.join("trash").join(&b_shared.1),
    )
    .unwrap();
    assert_eq!(download_status(&s, bob, &b_acc, &b_shared.1), "200");
    let out = gc(&s, "0s");
    assert!(out.contains("blobs restored from the trash: 1"), "{out}");
    assert!(blob_file(&root, &b_shared.1).exists());

    // An upload no email uses yet is kept while the upload is.
    let up = Command::new("curl")
        .args(["-sf", "-u", &format!("{bob}:{PASSWORD}")])
        .args([
            "-H",
            "Content-Type: text/plain",
            "--data-binary",
            "uploaded bytes",
        ])
        .arg(format!("http://{}/jmap/upload/{b_acc}/", s.http))
        .output()
        .unwrap();
    let up: Value = serde_json::from_slice(&up.stdout).unwrap();
    let up_blob = up["blobId"].as_str().unwrap().to_string();
    gc(&s, "0s");
    assert!(blob_file(&root, &up_blob).exists(), "upload kept");

    // The last holder destroys it: gone.
    destroy(&s, bob, &b_acc, &b_shared.0);
    let out = gc(&s, "0s");
    assert!(out.contains("blobs deleted: 1"), "{out}");
    assert!(!blob_file(&root, &b_shared.1).exists());
    assert_eq!(download_status(&s, bob, &b_acc, &b_shared.1), "404");
}
