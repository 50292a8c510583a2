//! ACME (RFC 8555) against pebble, Let's Encrypt's test CA, validating for real: pebble's VA
//! resolves the name through pebble-challtestsrv (a DNS stub on loopback answering
//! 127.0.0.1 for every name, so nothing reaches the system resolver) and fetches the
//! HTTP-01 answer from mailroom's `[listen] http`. The certificate is then checked by an
//! independent client (Python's ssl, trusting pebble's root only) on the imaps listener. If
//! the answer is not served, pebble refuses the authorization and no certificate comes.
//! Skipped with a notice without the pebble binaries (Debian package `pebble`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Backend, TestServer, free_port, have};

const NAME: &str = "mail.acme.test";

/// pebble and pebble-challtestsrv, killed when dropped (also when the test panics).
struct Pebble {
    children: Vec<Child>,
    dir: tempfile::TempDir,
    /// The CA of pebble's own HTTPS (ACME and management), to trust as `ca_cert`.
    https_ca: PathBuf,
    acme: u16,
    management: u16,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Pebble {
    /// Starts both, pebble validating HTTP-01 on `http_port` of whatever name it is given.
    fn start(http_port: u16) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        let [dns, acme, management, tls, cts] = [(); 5].map(|_| free_port());
        // pebble ships no certificate for its HTTPS: a CA and a leaf for 127.0.0.1.
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // Names of their own: with rcgen's one default name for both, OpenSSL takes the leaf
        // for self-signed.
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "pebble HTTPS test CA");
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut leaf =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "pebble HTTPS");
        let leaf = leaf.signed_by(&key, &ca).unwrap();
        let https_ca = dir.path().join("https-ca.pem");
        std::fs::write(&https_ca, ca.pem()).unwrap();
        let (cert, key_path) = (dir.path().join("https.pem"), dir.path().join("https.key"));
        std::fs::write(&cert, leaf.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let config = dir.path().join("pebble.json");
        let json = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": cert,
            "privateKey": key_path,
            "httpPort": http_port,
            "tlsPort": tls,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        std::fs::write(&config, json.to_string()).unwrap();
        let logs = dir.path().to_path_buf();
        let log = move |name: &str| std::fs::File::create(logs.join(name)).unwrap();
        let mut p = Pebble {
            children: Vec::new(),
            https_ca,
            acme,
            management,
            dir,
        };
        // Every A query answers 127.0.0.1, AAAA nothing (else pebble dials ::1 first); its
        // own challenge servers off.
        let dns_addr = format!("127.0.0.1:{dns}");
        p.children.push(
            Command::new("pebble-challtestsrv")
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
                .args(["-dns01", &dns_addr, "-http01", "", "-https01", ""])
                .args(["-tlsalpn01", "", "-management"])
                .arg(format!("127.0.0.1:{cts}"))
                .stdout(Stdio::null())
                .stderr(log("challtestsrv.log"))
                .spawn()
                .expect("start pebble-challtestsrv"),
        );
        wait_for_port(dns);
        p.children.push(
            Command::new("pebble")
                .arg("-config")
                .arg(&config)
                .args(["-dnsserver", &dns_addr])
                // No random sleeps before validating; no good nonces refused.
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .stdout(log("pebble.log"))
                .stderr(log("pebble.err"))
                .spawn()
                .expect("start pebble"),
        );
        wait_for_port(acme);
        wait_for_port(management);
        p
    }

    fn log(&self) -> String {
        ["pebble.log", "pebble.err"]
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .concat()
    }
}

/// Fetches `/roots/0` (the root pebble issues under; made anew at every start) into a file.
const FETCH_ROOT: &str = r#"
import http.client, ssl, sys
port, https_ca, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                context=ssl.create_default_context(cafile=https_ca))
c.request("GET", "/roots/0")
r = c.getresponse()
body = r.read()
assert r.status == 200, (r.status, body)
open(out, "wb").write(body)
"#;

/// Connects with SNI `name`, trusting `root` only, checking the name; prints the issuer.
const CHECK_CERT: &str = r#"
import socket, ssl, sys
port, root, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=root)
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=name) as t:
        cert = t.getpeercert()
        print(dict(x[0] for x in cert["issuer"]).get("commonName"), cert["subjectAltName"])
"#;

/// GET `path` on plain HTTP; the status.
const STATUS: &str = r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", sys.argv[2], headers={"Host": sys.argv[3]})
print(c.getresponse().status)
"#;

fn python(script: &str, args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_from_pebble_over_http01() {
    if !have("pebble") || !have("pebble-challtestsrv") {
        eprintln!(
            "skipped: the ACME test needs pebble and pebble-challtestsrv (apt-get install pebble)"
        );
        return;
    }
    // pebble validates on one fixed port: the one our HTTP listener will bind.
    let http_port = free_port();
    let pebble = Pebble::start(http_port);
    let extra = format!(
        "[tls.acme]\ndirectory = \"https://127.0.0.1:{}/dir\"\ncontact = [\"mailto:postmaster@acme.test\"]\nca_cert = \"{}\"\n",
        pebble.acme,
        pebble.https_ca.display()
    );
    let mut s = TestServer::prepare(Backend::Sqlite, &extra).await;
    // `domains` defaults to the host name.
    s.env.push(("MAILROOM_HOSTNAME".into(), NAME.into()));
    s.env.push((
        "MAILROOM_LISTEN__HTTP".into(),
        format!("127.0.0.1:{http_port}"),
    ));
    s.spawn();
    assert_eq!(s.http.port(), http_port);

    let root = pebble.dir.path().join("root.pem");
    let out = python(
        FETCH_ROOT,
        &[
            &pebble.management.to_string(),
            &pebble.https_ca.to_string_lossy(),
            &root.to_string_lossy(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Only what the map holds is served.
    let out = python(
        STATUS,
        &[
            &http_port.to_string(),
            "/.well-known/acme-challenge/unknown",
            NAME,
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "404");

    // The self-signed certificate first, pebble's once issued and picked up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let port = s.imaps.port().to_string();
    let shown = loop {
        let out = python(CHECK_CERT, &[&port, &root.to_string_lossy(), NAME]);
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no certificate from pebble within 60 s; last client error:\n{}\nserver log:\n{}\npebble log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            s.log(),
            pebble.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(shown.contains("Pebble Intermediate"), "{shown}");
    assert!(shown.contains(NAME), "{shown}");
    assert!(
        pebble.log().contains("Attempting to validate w/ HTTP"),
        "pebble validated over HTTP:\n{}",
        pebble.log()
    );

    // Secrets owner-only, and never in the log.
    let acme = s.dir.path().join("acme");
    for f in ["account.json", "key.pem"] {
        check_private(&acme.join(f));
    }
    let account: serde_json::Value =
        serde_json::from_slice(&std::fs::read(acme.join("account.json")).unwrap()).unwrap();
    let key = account["credentials"]["key_pkcs8"].as_str().unwrap();
    assert!(!s.log().contains(key), "the account key is in the log");
    let cert_key = std::fs::read_to_string(acme.join("key.pem")).unwrap();
    let line = cert_key.lines().nth(1).unwrap();
    assert!(!s.log().contains(line), "the certificate key is in the log");
}

#[cfg(unix)]
fn check_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}

#[cfg(not(unix))]
fn check_private(_: &Path) {}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
