//! MTA-STS end to end on loopback: a policy served over HTTPS by a certificate from a test CA,
//! and SMTP peers with and without STARTTLS, reached by the client in required-TLS mode.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpListener;

use super::client::{Client, Envelope, Failure, Pool, Required, opportunistic_tls, verified_tls};
use super::mta_sts::{Mode, MtaSts};
use super::route::Dns;

/// A fresh test CA and a leaf it issued for `names`: (CA, leaf, the leaf's PKCS#8 key).
pub(super) fn issue(names: &[&str]) -> (CertificateDer<'static>, CertificateDer<'static>, Vec<u8>) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let leaf = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca.der().clone(), leaf.der().clone(), key.serialize_der())
}

/// A server configuration presenting `chain` with `key`.
pub(super) fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
        .unwrap();
    Arc::new(server)
}

/// A test CA and a server configuration with a certificate it issued for `names`.
fn pki(names: &[&str]) -> (CertificateDer<'static>, Arc<rustls::ServerConfig>) {
    let (ca, leaf, key) = issue(names);
    (ca, server_config(vec![leaf], key))
}

/// Serves `body` as the policy over HTTPS; counts the requests.
async fn policy_server(
    tls: Arc<rustls::ServerConfig>,
    body: &'static str,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        while let Ok((tcp, _)) = l.accept().await {
            let (acceptor, counter) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                assert!(req.starts_with(b"GET /.well-known/mta-sts.txt "));
                counter.fetch_add(1, Ordering::SeqCst);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, hits)
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A small SMTP peer; offers STARTTLS when given a TLS configuration. Records each message
/// it takes as "tls" or "plain".
pub(super) async fn smtp_peer(
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let log = got.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let (tls, log) = (tls.clone(), log.clone());
            tokio::spawn(async move {
                let mut s: BufStream<Box<dyn Io>> = BufStream::new(Box::new(tcp));
                let mut secure = false;
                let _ = s.write_all(b"220 peer\r\n").await;
                let _ = s.flush().await;
                let mut line = String::new();
                loop {
                    line.clear();
                    if s.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        if tls.is_some() && !secure {
                            b"250-peer\r\n250 STARTTLS\r\n"
                        } else {
                            b"250 peer\r\n"
                        }
                    } else if cmd == "STARTTLS" {
                        let _ = s.write_all(b"220 go ahead\r\n").await;
                        let _ = s.flush().await;
                        let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone().unwrap());
                        let Ok(t) = acceptor.accept(s.into_inner()).await else {
                            return;
                        };
                        s = BufStream::new(Box::new(t));
                        secure = true;
                        continue;
                    } else if cmd == "DATA" {
                        let _ = s.write_all(b"354 go\r\n").await;
                        let _ = s.flush().await;
                        loop {
                            line.clear();
                            if s.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                        }
                        log.lock()
                            .unwrap()
                            .push(if secure { "tls" } else { "plain" }.to_string());
                        b"250 2.0.0 taken\r\n"
                    } else if cmd == "QUIT" {
                        let _ = s.write_all(b"221 bye\r\n").await;
                        let _ = s.flush().await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = s.write_all(reply).await;
                    let _ = s.flush().await;
                }
            });
        }
    });
    (addr, got)
}

fn dns_with_txt(id: Option<&str>) -> Dns {
    let mut txt = HashMap::new();
    if let Some(id) = id {
        txt.insert(
            "_mta-sts.example.net".to_string(),
            vec![format!("v=STSv1; id={id}")],
        );
    }
    Dns::fixed(HashMap::new(), HashMap::new(), txt)
}

const POLICY: &str = "version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 86400\n";

#[tokio::test]
async fn policy_is_fetched_over_verified_https_and_cached() {
    let (ca, server) = pki(&["mta-sts.example.net"]);
    let (addr, hits) = policy_server(server, POLICY).await;
    let pin = [("mta-sts.example.net".to_string(), addr)];
    let sts = MtaSts::new(verified_tls(vec![ca]).unwrap(), &pin, None).unwrap();

    let p = sts
        .policy(&dns_with_txt(Some("1")), "Example.NET")
        .await
        .unwrap();
    assert_eq!(p.mode, Mode::Enforce);
    assert_eq!(p.mx, ["mx.example.net"]);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The same id: the cached policy, no fetch.
    sts.policy(&dns_with_txt(Some("1")), "example.net")
        .await
        .unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // A new id: fetched again.
    let p = sts
        .policy(&dns_with_txt(Some("2")), "example.net")
        .await
        .unwrap();
    assert_eq!((p.id.as_str(), hits.load(Ordering::SeqCst)), ("2", 2));
    // The TXT record gone: the policy keeps applying until it expires.
    let p = sts
        .policy(&dns_with_txt(None), "example.net")
        .await
        .unwrap();
    assert_eq!(p.id, "2");
    // No record and nothing cached: no policy.
    assert!(sts.policy(&dns_with_txt(None), "other.net").await.is_none());

    // A policy host whose certificate does not verify gives no policy.
    let untrusting = MtaSts::new(verified_tls(Vec::new()).unwrap(), &pin, None).unwrap();
    assert!(
        untrusting
            .policy(&dns_with_txt(Some("1")), "example.net")
            .await
            .is_none()
    );
}

fn client<'p>(pool: &'p Pool, verified: Option<rustls::ClientConfig>) -> Client<'p> {
    Client {
        connect_timeout: std::time::Duration::from_secs(5),
        command_timeout: std::time::Duration::from_secs(5),
        tls: Some(opportunistic_tls()),
        required: verified.map(|v| Required::MtaSts(Arc::new(v))),
        auth: None,
        pool,
    }
}

#[tokio::test]
async fn required_tls_refuses_plain_text_and_wrong_certificates() {
    let (ca, server) = pki(&["mx.example.net"]);
    let rcpts = vec!["someone@example.net".to_string()];
    let env = Envelope {
        helo: "mx.test",
        mail_from: "a@mx.test",
        rcpts: &rcpts,
        message: b"Subject: hi\r\n\r\nhello\r\n",
    };
    let pool = Pool::default();
    let verified = || Some(verified_tls(vec![ca.clone()]).unwrap());

    // A verified certificate for the MX name: delivered over TLS.
    let (addr, got) = smtp_peer(Some(server.clone())).await;
    let r = client(&pool, verified())
        .send(addr, "mx.example.net", &env)
        .await;
    assert!(r.unwrap()[0].is_ok());
    assert_eq!(*got.lock().unwrap(), ["tls"]);

    // The same peer under another name: the certificate does not match; nothing sent.
    let (addr, got) = smtp_peer(Some(server.clone())).await;
    let r = client(&pool, verified())
        .send(addr, "mx2.example.net", &env)
        .await;
    assert!(
        matches!(r, Err(Failure::Required { by: "MTA-STS", .. })),
        "{r:?}"
    );
    assert!(got.lock().unwrap().is_empty());

    // No STARTTLS: required TLS sends nothing; opportunistic TLS sends in plain text.
    let (addr, got) = smtp_peer(None).await;
    let r = client(&pool, verified())
        .send(addr, "mx.example.net", &env)
        .await;
    assert!(
        matches!(&r, Err(Failure::Required { why, .. }) if why.contains("STARTTLS")),
        "{r:?}"
    );
    assert!(got.lock().unwrap().is_empty());
    let r = client(&pool, None).send(addr, "mx.example.net", &env).await;
    assert!(r.unwrap()[0].is_ok());
    assert_eq!(*got.lock().unwrap(), ["plain"]);
}

#[tokio::test]
async fn a_policy_outlives_a_restart() {
    let dir = std::env::temp_dir().join(format!(
        "mailroom-mta-sts-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let core = mailroom_core::Core::open(&mailroom_core::CoreConfig {
        database_url: format!("sqlite://{}/mail.db?mode=rwc", dir.display()),
        blobs: mailroom_core::BlobConfig::Local {
            root: dir.join("blobs"),
            sync: mailroom_core::BlobSync::File,
        },
        max_messages_per_hour: 0,
        remote_delivery: false,
    })
    .await
    .unwrap();
    let (ca, server) = pki(&["mta-sts.example.net"]);
    let (addr, hits) = policy_server(server, POLICY).await;
    let pin = [("mta-sts.example.net".to_string(), addr)];
    let tls = || verified_tls(vec![ca.clone()]).unwrap();
    let first = MtaSts::new(tls(), &pin, Some(core.clone())).unwrap();
    first
        .policy(&dns_with_txt(Some("7")), "example.net")
        .await
        .unwrap();
    // A new process (empty memory) whose DNS answers no record: the stored policy applies.
    let second = MtaSts::new(tls(), &pin, Some(core.clone())).unwrap();
    let p = second
        .policy(&dns_with_txt(None), "example.net")
        .await
        .unwrap();
    assert_eq!((p.id.as_str(), p.mode), ("7", Mode::Enforce));
    assert_eq!(p.mx, ["mx.example.net"]);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "not fetched again");
    let _ = std::fs::remove_dir_all(&dir);
}
