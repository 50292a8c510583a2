//! Message submission (RFC 6409, RFC 8314) with Python's smtplib as the client: AUTH is not
//! offered or accepted before STARTTLS; PLAIN and LOGIN work inside TLS; wrong passwords get
//! 535 5.7.8 and, repeated, lock the account out for every protocol; a user cannot send as
//! another (envelope or From:); Date and Message-ID are added; recipients get no Bcc while
//! the Sent copy keeps it; port 465's role speaks TLS from the first byte; the hourly send
//! limit holds.

use std::process::Command;

use crate::backends;
use crate::harness::{Backend, PASSWORD, TestServer, mailbox_messages};

const CLIENT: &str = r#"
import base64, smtplib, ssl, sys
host, port, port465, cert, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=cert)
ctx.check_hostname = False  # the certificate names the configured host name, not 127.0.0.1
b64 = lambda s: base64.b64encode(s.encode()).decode()

def expect(got, code, enhanced=None):
    c, msg = got
    assert c == code, (got, code)
    if enhanced:
        assert msg.decode().startswith(enhanced), (got, enhanced)

# Before TLS: no AUTH offered, none accepted, no mail without it.
s = smtplib.SMTP(host, port, timeout=10)
s.ehlo("client.test")
assert s.has_extn("starttls") and not s.has_extn("auth"), s.esmtp_features
expect(s.docmd("AUTH", "PLAIN " + b64("\0alice@example.test\0" + password)), 538, "5.7.11")
expect(s.docmd("MAIL", "FROM:<alice@example.test>"), 530, "5.7.0")
s.starttls(context=ctx)
s.ehlo("client.test")
assert "PLAIN" in s.esmtp_features.get("auth", "") and "LOGIN" in s.esmtp_features["auth"], s.esmtp_features
# Inside TLS, still no mail before AUTH.
expect(s.docmd("MAIL", "FROM:<alice@example.test>"), 530, "5.7.0")
# Wrong password, unknown mechanism, cancelled and undecodable exchanges.
expect(s.docmd("AUTH", "PLAIN " + b64("\0alice@example.test\0wrong password")), 535, "5.7.8")
expect(s.docmd("AUTH", "CRAM-MD5"), 504)
expect(s.docmd("AUTH", "LOGIN"), 334)
expect(s.docmd("*"), 501)
expect(s.docmd("AUTH", "PLAIN"), 334)
expect(s.docmd("not base64!"), 501)
# Acting as someone else (an authorization identity that differs) is refused.
expect(s.docmd("AUTH", "PLAIN " + b64("bob@example.test\0alice@example.test\0" + password)), 535, "5.7.8")
# LOGIN, step by step.
expect(s.docmd("AUTH", "LOGIN"), 334)
expect(s.docmd(b64("alice@example.test")), 334)
expect(s.docmd(b64(password)), 235, "2.7.0")
expect(s.docmd("AUTH", "PLAIN"), 503)
# No sending as another user: envelope at MAIL, header at the end of DATA.
expect(s.docmd("MAIL", "FROM:<bob@example.test>"), 553, "5.7.1")
try:
    s.sendmail("alice@example.test", ["bob@example.test"], b"From: bob@example.test\r\nSubject: spoof\r\n\r\nx\r\n")
    raise AssertionError("spoofed From: accepted")
except smtplib.SMTPDataError as e:
    assert e.smtp_code == 553 and b"5.7.1" in e.smtp_error, e
# A real message: no Date or Message-ID, a Bcc; sent as a +tag of alice's address.
s.sendmail("alice+lists@example.test", ["bob@example.test", "team@example.test"],
           b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nBcc: team@example.test\r\n"
           b"Subject: submitted\r\n\r\nhello from submission\r\n")
s.quit()

# Port 465's role: TLS from the first byte; smtplib's login (PLAIN with an initial response).
s = smtplib.SMTP_SSL(host, port465, timeout=10, context=ctx)
s.ehlo("client.test")
assert not s.has_extn("starttls"), s.esmtp_features
s.login("alice@example.test", password)
s.sendmail("alice@example.test", ["bob@example.test"], b"From: alice@example.test\r\nSubject: implicit tls\r\n\r\nover 465\r\n")
# The third message of the hour is the limit in this test's configuration.
s.sendmail("alice@example.test", ["bob@example.test"], b"From: alice@example.test\r\nSubject: third\r\n\r\n3\r\n")
try:
    s.sendmail("alice@example.test", ["bob@example.test"], b"From: alice@example.test\r\nSubject: fourth\r\n\r\n4\r\n")
    raise AssertionError("the hourly limit was not enforced")
except smtplib.SMTPDataError as e:
    assert e.smtp_code == 451 and b"4.7.1" in e.smtp_error, e
s.quit()

# Guessing locks the account, for the right password too, over SMTP and HTTP alike.
s = smtplib.SMTP_SSL(host, port465, timeout=10, context=ctx)
s.ehlo("client.test")
for _ in range(10):
    expect(s.docmd("AUTH", "PLAIN " + b64("\0carol@example.test\0guess")), 535, "5.7.8")
expect(s.docmd("AUTH", "PLAIN " + b64("\0carol@example.test\0" + password)), 454, "4.7.0")
s.quit()
print("ok")
"#;

backends!(submission_with_smtplib);
async fn submission_with_smtplib(b: Backend) {
    let s = TestServer::start_with(b, "[submission]\nmax_messages_per_hour = 3\n").await;
    s.setup_accounts();
    s.ok(&["user", "add", "carol@example.test", "--password-stdin"]);
    let cert = s.dir.path().join("tls").join("cert.pem");
    let out = Command::new("python3")
        .args(["-c", CLIENT])
        .arg(s.submission.ip().to_string())
        .arg(s.submission.port().to_string())
        .arg(s.submissions.port().to_string())
        .arg(&cert)
        .arg(PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );

    // Carol is locked out over HTTP too, with her right password.
    let http = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-u"])
        .arg(format!("carol@example.test:{PASSWORD}"))
        .arg(format!("http://{}/jmap/session", s.http))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&http.stdout), "429");

    let core = s.core().await;
    let text = |m: &(u32, Vec<u8>)| String::from_utf8_lossy(&m.1).into_owned();
    let bob: Vec<String> = mailbox_messages(&core, "bob@example.test", "INBOX")
        .await
        .iter()
        .map(text)
        .collect();
    // "submitted" (once, though addressed directly and through team@), "implicit tls", "third".
    assert_eq!(bob.len(), 3, "{bob:#?}");
    let submitted = bob
        .iter()
        .find(|m| m.contains("hello from submission"))
        .unwrap();
    assert!(
        !submitted.contains("Bcc:"),
        "recipients never see Bcc:\n{submitted}"
    );
    assert!(submitted.contains("\r\nMessage-ID: <"), "{submitted}");
    assert!(submitted.contains("\r\nDate: "), "{submitted}");
    assert!(submitted.contains("with ESMTPSA"), "{submitted}");
    assert!(!submitted.contains("Return-Path:"), "{submitted}");
    let alice_inbox = mailbox_messages(&core, "alice@example.test", "INBOX").await;
    assert_eq!(alice_inbox.len(), 1, "alice is in team@");
    let sent: Vec<String> = mailbox_messages(&core, "alice@example.test", "Sent")
        .await
        .iter()
        .map(text)
        .collect();
    assert_eq!(sent.len(), 3, "{sent:#?}");
    let copy = sent
        .iter()
        .find(|m| m.contains("hello from submission"))
        .unwrap();
    assert!(copy.contains("Bcc: team@example.test"), "{copy}");
    // The same Message-ID in both copies: it was added once, before sending.
    let id = |m: &str| {
        m.split("\r\n")
            .find(|l| l.starts_with("Message-ID:"))
            .map(str::to_string)
    };
    assert_eq!(id(submitted), id(copy));
}
