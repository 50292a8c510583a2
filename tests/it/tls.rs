//! STARTTLS on the inbound listener (RFC 3207) with Python's smtplib and ssl as the client:
//! offered before, not after; mail sent inside TLS is delivered; plain text pipelined after
//! STARTTLS is never executed; the certificate is the one generated into the data dir.

use std::process::Command;

use crate::backends;
use crate::harness::{Backend, TestServer, mailbox_messages};

const CLIENT: &str = r#"
import smtplib, socket, ssl, sys
host, port, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=cert)
ctx.check_hostname = False  # the certificate names the configured host name, not 127.0.0.1
s = smtplib.SMTP(host, port, timeout=10)
s.ehlo("client.test")
assert s.has_extn("starttls"), s.esmtp_features
code, _ = s.starttls(context=ctx)
assert code == 220, code
s.ehlo("client.test")
assert not s.has_extn("starttls"), "STARTTLS offered inside TLS"
assert s.sock.version() in ("TLSv1.2", "TLSv1.3"), s.sock.version()
code, msg = s.docmd("STARTTLS")
assert code == 503, (code, msg)
s.sendmail("carol@remote.test", ["alice@example.test"], b"Subject: over tls\r\n\r\nsecret body\r\n")
s.quit()

# Plain text pipelined after STARTTLS must be dropped, not run inside TLS (RFC 3207 sec. 5).
raw = socket.create_connection((host, port), timeout=10)
f = raw.makefile("rb")
def reply(f):
    lines = []
    while True:
        line = f.readline()
        lines.append(line)
        if line[3:4] != b"-":
            return b"".join(lines)
reply(f)
raw.sendall(b"EHLO client.test\r\n")
reply(f)
raw.sendall(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
assert reply(f).startswith(b"220"), "220 to STARTTLS"
t = ctx.wrap_socket(raw, server_hostname="ignored")
tf = t.makefile("rb")
t.sendall(b"MAIL FROM:<after@remote.test>\r\n")
r = reply(tf)
# Had the injected MAIL run, its 250 would have come before the handshake and broken it;
# the new session starts from nothing: no EHLO yet, so MAIL is refused.
assert r.startswith(b"503"), r
t.sendall(b"QUIT\r\n")
print("ok")
"#;

backends!(starttls_with_smtplib);
async fn starttls_with_smtplib(b: Backend) {
    let s = TestServer::start(b).await;
    s.setup_accounts();
    let cert = s.dir.path().join("tls").join("cert.pem");
    assert!(cert.exists(), "a self-signed certificate is generated");
    let out = Command::new("python3")
        .args(["-c", CLIENT])
        .arg(s.smtp.ip().to_string())
        .arg(s.smtp.port().to_string())
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let core = s.core().await;
    let inbox = mailbox_messages(&core, "alice@example.test", "INBOX").await;
    assert_eq!(inbox.len(), 1);
    assert!(String::from_utf8_lossy(&inbox[0].1).contains("secret body"));
}

/// The certificate a TLS client is shown on `port` (implicit TLS), as DER, hex.
const PEER_CERT: &str = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as raw:
    with ctx.wrap_socket(raw) as t:
        print(t.getpeercert(binary_form=True).hex())
"#;

fn peer_cert(port: u16) -> String {
    let out = Command::new("python3")
        .args(["-c", PEER_CERT, &port.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A new self-signed certificate for `cn` into `dir/{cert,key}.pem`; its DER as hex.
fn make_cert(dir: &std::path::Path, cn: &str) -> String {
    let (cert, key) = (dir.join(format!("{cn}.crt")), dir.join(format!("{cn}.key")));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let der = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert)
        .output()
        .unwrap()
        .stdout;
    der.iter().map(|b| format!("{b:02x}")).collect()
}

/// `[tls] cert` and `key` are read again when they change (a renewal), without a restart;
/// files that do not load leave the previous certificate in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_reloads_when_the_files_change() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let first = make_cert(certs.path(), "one.test");
    let second = make_cert(certs.path(), "two.test");
    let install = |cn: &str| {
        std::fs::copy(certs.path().join(format!("{cn}.key")), &key).unwrap();
        std::fs::copy(certs.path().join(format!("{cn}.crt")), &cert).unwrap();
    };
    install("one.test");
    let extra = format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let s = TestServer::start_with(Backend::Sqlite, &extra).await;
    let port = s.submissions.port();
    assert_eq!(peer_cert(port), first);

    // A half-written renewal (a key that is not PEM) is refused; the old certificate stays.
    std::fs::write(&key, "not a key").unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    assert_eq!(peer_cert(port), first, "{}", s.log());
    assert!(
        s.log().contains("keeping the previous certificate"),
        "{}",
        s.log()
    );

    install("two.test");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let now = peer_cert(port);
        if now == second {
            break;
        }
        assert_eq!(now, first);
        assert!(
            std::time::Instant::now() < deadline,
            "not reloaded:\n{}",
            s.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

// `[listen] https`: the same API over implicit TLS with the configured (here generated)
// certificate, verified by curl against it; the JMAP session hands out https URLs there and
// http URLs on the plain listener.
backends!(https_listener_with_curl);
async fn https_listener_with_curl(b: Backend) {
    let s = TestServer::start(b).await;
    s.setup_accounts();
    let cert = s.dir.path().join("tls").join("cert.pem");
    let session = |url: String, extra: &[String]| {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "-u"])
            .arg(format!("alice@example.test:{}", crate::harness::PASSWORD))
            .args(extra)
            .arg(url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            s.log()
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    // The certificate names the host name (mx.test): resolve it to the listener.
    let port = s.https.port();
    let v = session(
        format!("https://mx.test:{port}/jmap/session"),
        &[
            "--resolve".into(),
            format!("mx.test:{port}:127.0.0.1"),
            "--cacert".into(),
            cert.display().to_string(),
        ],
    );
    assert_eq!(v["apiUrl"], format!("https://mx.test:{port}/jmap/api"));
    let v = session(format!("http://{}/jmap/session", s.http), &[]);
    assert_eq!(v["apiUrl"], format!("http://{}/jmap/api", s.http));
}
