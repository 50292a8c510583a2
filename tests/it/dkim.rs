//! DKIM signatures made with the domain's keys verify with an independent verifier (Python's
//! dkimpy), given the TXT records `mailroom dns` prints.

use std::process::Command;

use crate::harness::{Backend, TestServer};

pub(crate) const VERIFY: &str = r#"
import sys, dkim
records = {}
for line in open(sys.argv[1]).read().splitlines():
    name, _ttl, _in, kind, value = line.split(" ", 4)
    if kind == "TXT" and "._domainkey." in name:
        records[name.encode()] = value.replace('" "', "").strip('"').encode()
msg = open(sys.argv[2], "rb").read()
def dns(name, timeout=5):
    return records.get(name if name.endswith(b".") else name + b".")
d = dkim.DKIM(msg)
n = msg.count(b"DKIM-Signature:")
assert n == 2, n
for i in range(n):
    assert d.verify(idx=i, dnsfunc=dns), f"signature {i} fails"
# A changed body no longer verifies.
bad = dkim.DKIM(msg.replace(b"the body", b"a forged body"))
try:
    forged = bad.verify(idx=0, dnsfunc=dns)
except dkim.ValidationError:
    forged = False
assert not forged, "a forged body verified"
print("ok")
"#;

#[tokio::test]
async fn signatures_verify_with_dkimpy() {
    let have = Command::new("python3")
        .args(["-c", "import dkim, nacl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!(
            "skipped: python3 with dkimpy and PyNaCl is not installed (pip install dkimpy pynacl)"
        );
        return;
    }
    let s = TestServer::start(Backend::Sqlite).await;
    s.setup_accounts();
    let core = s.core().await;
    let keys = core.dkim_keys("example.test").await.unwrap();
    let message = "From: Alice <alice@example.test>\r\nTo: bob@example.net\r\nSubject: signed\r\n\
                   Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <s1@example.test>\r\n\r\n\
                   the body\r\n";
    let mut signed = mailroom_smtp::dkim::sign("example.test", &keys, message.as_bytes()).unwrap();
    signed.extend_from_slice(message.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("zone");
    let msg = dir.path().join("msg");
    std::fs::write(&zone, s.ok(&["dns", "example.test"])).unwrap();
    std::fs::write(&msg, &signed).unwrap();
    let out = Command::new("python3")
        .args(["-c", VERIFY])
        .arg(&zone)
        .arg(&msg)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&signed)
    );
}
