//! DANE end to end on loopback: routes and TLSA records from a fixed DNS marked secure or
//! not, SMTP peers with and without STARTTLS, and the queue's host loop choosing the TLS
//! each host requires. Only the port is swapped (MX hosts are on port 25).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::proto::rr::rdata::TLSA;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use super::client::{Envelope, opportunistic_tls, verified_tls};
use super::mta_sts::MtaSts;
use super::route::Dns;
use super::tls_tests::{issue, server_config, smtp_peer};
use super::{Attempt, DeliveryConfig, Via, plan, try_hosts};

/// A server certificate for `names`, issued by a fresh test CA: (leaf, CA, configuration
/// sending the leaf and, with `with_ca`, the CA as its chain).
fn pki(
    names: &[&str],
    with_ca: bool,
) -> (
    CertificateDer<'static>,
    CertificateDer<'static>,
    Arc<rustls::ServerConfig>,
) {
    let (ca, leaf, key) = issue(names);
    let mut chain = vec![leaf.clone()];
    if with_ca {
        chain.push(ca.clone());
    }
    (leaf, ca, server_config(chain, key))
}

/// `usage selector=1 matching=1`: the SHA-256 digest of the certificate's public key.
fn spki_sha256(usage: u8, cert: &CertificateDer<'_>) -> TLSA {
    let spki = rustls::server::ParsedCertificate::try_from(cert)
        .unwrap()
        .subject_public_key_info();
    TLSA::new(
        usage.into(),
        1.into(),
        1.into(),
        Sha256::digest(spki.as_ref()).to_vec(),
    )
}

/// The fixed DNS the tests edit: `example.net` with the given MX hosts on loopback.
struct Zone {
    mx: HashMap<String, Vec<(u16, String)>>,
    ip: HashMap<String, Vec<IpAddr>>,
    tlsa: HashMap<String, Vec<TLSA>>,
    secure: HashSet<String>,
    failing: HashSet<String>,
}

impl Zone {
    /// `example.net` with MX `hosts` in order; every name secure when `signed`.
    fn new(hosts: &[&str], signed: bool) -> Zone {
        let mut z = Zone {
            mx: HashMap::new(),
            ip: HashMap::new(),
            tlsa: HashMap::new(),
            secure: HashSet::new(),
            failing: HashSet::new(),
        };
        z.mx.insert(
            "example.net".into(),
            hosts
                .iter()
                .enumerate()
                .map(|(i, h)| (10 * (i as u16 + 1), h.to_string()))
                .collect(),
        );
        if signed {
            z.secure.insert("example.net".into());
        }
        for h in hosts {
            z.ip.insert(h.to_string(), vec!["127.0.0.1".parse().unwrap()]);
            if signed {
                z.secure.insert(h.to_string());
                z.secure.insert(format!("_25._tcp.{h}"));
            }
        }
        z
    }

    fn tlsa(mut self, host: &str, records: Vec<TLSA>) -> Zone {
        self.tlsa.insert(format!("_25._tcp.{host}"), records);
        self
    }

    fn dns(self) -> Dns {
        Dns::Fixed {
            mx: self.mx,
            ip: self.ip,
            txt: HashMap::new(),
            tlsa: self.tlsa,
            secure: self.secure,
            failing: self.failing,
        }
    }
}

fn config(dns: Dns) -> DeliveryConfig {
    let verified = verified_tls(Vec::new()).unwrap();
    DeliveryConfig {
        hostname: "out.test".into(),
        concurrency: 1,
        retry_intervals: vec![Duration::from_secs(60)],
        give_up_after: Duration::from_secs(3600),
        delay_notice_after: Duration::from_secs(3600),
        routes: HashMap::new(),
        relay: None,
        relay_auth: None,
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
        tls: Some(opportunistic_tls()),
        mta_sts: MtaSts::new(verified.clone(), &[], None).unwrap(),
        verified_tls: Arc::new(verified),
        dns,
        signers: Default::default(),
        connections: Default::default(),
    }
}

/// Plans `domain` by the configuration's DNS and tries its hosts, each at the port `ports`
/// gives it: the host that took the message, or the temporary failure.
async fn deliver(
    config: &DeliveryConfig,
    domain: &str,
    ports: &[(&str, u16)],
) -> Result<String, String> {
    let mut plan = plan(config, domain)
        .await
        .map_err(|_| "no plan".to_string())?;
    assert!(plan.via == Via::Mx);
    for (host, port) in &mut plan.hosts {
        *port = ports.iter().find(|(h, _)| h == host).expect("a port").1;
    }
    let rcpts = vec![format!("someone@{domain}")];
    let env = Envelope {
        helo: "out.test",
        mail_from: "a@out.test",
        rcpts: &rcpts,
        message: b"Subject: hi\r\n\r\nhello\r\n",
    };
    match try_hosts(config, domain, plan, &env).await {
        Ok((replies, host)) => {
            assert!(replies[0].is_ok(), "{replies:?}");
            Ok(host)
        }
        Err(Attempt::Temporary(why)) => Err(why),
        Err(Attempt::Permanent(r)) => panic!("permanent: {}", r.line()),
    }
}

const MX: &str = "mx.example.net";

#[tokio::test]
async fn a_matching_dane_ee_record_delivers_over_tls() {
    let (leaf, _, server) = pki(&["not-the-mx.example.org"], false);
    let (addr, got) = smtp_peer(Some(server)).await;
    let dns = Zone::new(&[MX], true)
        .tlsa(MX, vec![spki_sha256(3, &leaf)])
        .dns();
    let r = deliver(&config(dns), "example.net", &[(MX, addr.port())]).await;
    assert_eq!(r.as_deref(), Ok(MX));
    assert_eq!(*got.lock().unwrap(), ["tls"]);
}

#[tokio::test]
async fn a_dane_ta_record_delivers_when_the_leaf_is_named_for_the_host() {
    let (_, ca, server) = pki(&[MX], true);
    let (addr, got) = smtp_peer(Some(server)).await;
    let dns = Zone::new(&[MX], true)
        .tlsa(MX, vec![spki_sha256(2, &ca)])
        .dns();
    let r = deliver(&config(dns), "example.net", &[(MX, addr.port())]).await;
    assert_eq!(r.as_deref(), Ok(MX));
    assert_eq!(*got.lock().unwrap(), ["tls"]);

    // The same anchor, but a leaf named for someone else: refused.
    let (_, ca, server) = pki(&["www.example.org"], true);
    let (addr, got) = smtp_peer(Some(server)).await;
    let dns = Zone::new(&[MX], true)
        .tlsa(MX, vec![spki_sha256(2, &ca)])
        .dns();
    let r = deliver(&config(dns), "example.net", &[(MX, addr.port())]).await;
    let why = r.unwrap_err();
    assert!(why.starts_with("DANE: "), "{why}");
    assert!(why.contains("not issued to"), "{why}");
    assert!(got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_mismatching_record_sends_nothing_and_defers() {
    let (_, _, server) = pki(&[MX], true);
    let (other, _, _) = pki(&[MX], false);
    let (addr, got) = smtp_peer(Some(server)).await;
    let dns = Zone::new(&[MX], true)
        .tlsa(MX, vec![spki_sha256(3, &other)])
        .dns();
    let r = deliver(&config(dns), "example.net", &[(MX, addr.port())]).await;
    let why = r.unwrap_err();
    assert!(why.starts_with("DANE: mx.example.net"), "{why}");
    assert!(why.contains("matches no TLSA record"), "{why}");
    assert!(got.lock().unwrap().is_empty(), "nothing sent at all");
}

#[tokio::test]
async fn a_peer_without_starttls_gets_nothing_when_dane_applies() {
    let (leaf, _, _) = pki(&[MX], false);
    let (addr, got) = smtp_peer(None).await;
    let dns = Zone::new(&[MX], true)
        .tlsa(MX, vec![spki_sha256(3, &leaf)])
        .dns();
    let r = deliver(&config(dns), "example.net", &[(MX, addr.port())]).await;
    let why = r.unwrap_err();
    assert!(why.starts_with("DANE: "), "{why}");
    assert!(why.contains("STARTTLS"), "{why}");
    assert!(got.lock().unwrap().is_empty(), "no plain text fallback");
}

#[tokio::test]
async fn an_insecure_mx_ignores_tlsa_records() {
    // Records that match nothing: were DANE applied, delivery would fail.
    let (_, _, server) = pki(&[MX], false);
    let (other, _, _) = pki(&[MX], false);
    let (addr, got) = smtp_peer(Some(server)).await;
    let mut zone = Zone::new(&[MX], true).tlsa(MX, vec![spki_sha256(3, &other)]);
    zone.secure.remove("example.net");
    let r = deliver(&config(zone.dns()), "example.net", &[(MX, addr.port())]).await;
    assert_eq!(r.as_deref(), Ok(MX));
    assert_eq!(*got.lock().unwrap(), ["tls"], "opportunistic TLS");

    // Nor do TLSA records that are themselves insecure, or those of a host whose address
    // records are.
    for insecure in [format!("_25._tcp.{MX}"), MX.to_string()] {
        let (_, _, server) = pki(&[MX], false);
        let (addr, got) = smtp_peer(Some(server)).await;
        let mut zone = Zone::new(&[MX], true).tlsa(MX, vec![spki_sha256(3, &other)]);
        zone.secure.remove(&insecure);
        let r = deliver(&config(zone.dns()), "example.net", &[(MX, addr.port())]).await;
        assert_eq!(r.as_deref(), Ok(MX), "{insecure}");
        assert_eq!(*got.lock().unwrap(), ["tls"]);
    }
}

#[tokio::test]
async fn pkix_only_records_require_tls_without_authentication() {
    let (leaf, ca, server) = pki(&[MX], true);
    // PKIX-TA and PKIX-EE records that would match: unusable for SMTP, so not checked.
    let records = vec![spki_sha256(0, &ca), spki_sha256(1, &leaf)];
    let (addr, got) = smtp_peer(Some(server)).await;
    let dns = Zone::new(&[MX], true).tlsa(MX, records.clone()).dns();
    let r = deliver(&config(dns), "example.net", &[(MX, addr.port())]).await;
    assert_eq!(r.as_deref(), Ok(MX));
    assert_eq!(*got.lock().unwrap(), ["tls"]);

    // But TLS is mandatory: a peer without STARTTLS gets nothing.
    let (addr, got) = smtp_peer(None).await;
    let dns = Zone::new(&[MX], true).tlsa(MX, records).dns();
    let r = deliver(&config(dns), "example.net", &[(MX, addr.port())]).await;
    let why = r.unwrap_err();
    assert!(
        why.starts_with("DANE: ") && why.contains("STARTTLS"),
        "{why}"
    );
    assert!(got.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_host_failing_dane_is_skipped_for_the_next() {
    let first = "mx1.example.net";
    let second = "mx2.example.net";
    let (_, _, server1) = pki(&[first], false);
    let (leaf2, _, server2) = pki(&[second], false);
    let (unrelated, _, _) = pki(&[first], false);
    let (addr1, got1) = smtp_peer(Some(server1)).await;
    let (addr2, got2) = smtp_peer(Some(server2)).await;
    let dns = Zone::new(&[first, second], true)
        .tlsa(first, vec![spki_sha256(3, &unrelated)])
        .tlsa(second, vec![spki_sha256(3, &leaf2)])
        .dns();
    let ports = [(first, addr1.port()), (second, addr2.port())];
    let r = deliver(&config(dns), "example.net", &ports).await;
    assert_eq!(r.as_deref(), Ok(second));
    assert!(got1.lock().unwrap().is_empty());
    assert_eq!(*got2.lock().unwrap(), ["tls"]);
}

#[tokio::test]
async fn a_failed_tlsa_lookup_skips_the_host() {
    let (leaf, _, server) = pki(&[MX], false);
    let (addr, got) = smtp_peer(Some(server)).await;
    let mut zone = Zone::new(&[MX], true).tlsa(MX, vec![spki_sha256(3, &leaf)]);
    // SERVFAIL (or bogus) where a secure TLSA RRset might be: perhaps an attacker hiding it.
    zone.failing.insert(format!("_25._tcp.{MX}"));
    let r = deliver(&config(zone.dns()), "example.net", &[(MX, addr.port())]).await;
    let why = r.unwrap_err();
    assert!(why.starts_with("DANE: TLSA lookup"), "{why}");
    assert!(got.lock().unwrap().is_empty(), "not even tried");
}

#[tokio::test]
async fn pooled_sessions_do_not_cross_policies() {
    // One peer, reached for an unsigned domain (opportunistic TLS, session pooled), then for
    // a signed one whose TLSA records its certificate does not match.
    let (_, _, server) = pki(&[MX], false);
    let (other, _, _) = pki(&[MX], false);
    let (addr, got) = smtp_peer(Some(server)).await;
    let mut zone = Zone::new(&[MX], true).tlsa(MX, vec![spki_sha256(3, &other)]);
    zone.mx
        .insert("unsigned.test".into(), vec![(10, MX.to_string())]);
    let config = config(zone.dns());
    let ports = [(MX, addr.port())];
    assert_eq!(
        deliver(&config, "unsigned.test", &ports).await.as_deref(),
        Ok(MX)
    );
    assert_eq!(config.connections.len(), 1, "the session waits in the pool");
    let why = deliver(&config, "example.net", &ports).await.unwrap_err();
    assert!(why.starts_with("DANE: "), "{why}");
    assert_eq!(
        *got.lock().unwrap(),
        ["tls"],
        "only the unsigned domain's message"
    );
}
