//! Where mail for a domain goes (RFC 5321 §5.1): a static route or the relay from the
//! configuration, else the domain's MX hosts by preference (a random order among equal
//! preferences), else the domain itself (implicit MX); a null MX (RFC 7505) means the domain
//! takes no mail. The DNS is behind [`Dns`] so tests can serve fixed records and never touch
//! the system resolver.
//!
//! When DNSSEC validation works (`dnssec.rs`), the MX lookup is validated, and a route says
//! whether DANE may apply to its hosts: a secure MX RRset, or no MX at all (then each host's
//! own address and TLSA records decide, RFC 7672 §2.2). A bogus MX answer is a temporary
//! failure, never a fallback to an unvalidated one (§2.1.1).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::dnssec::DnssecSummary;
use hickory_resolver::proto::rr::rdata::TLSA;
use hickory_resolver::proto::rr::{RData, RecordType};
use tokio::sync::OnceCell;

use super::dnssec::{Negative, SystemDns, negative, summary};

/// The name service the queue asks.
// One per process; boxing the test variant's maps would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Dns {
    /// The system's resolver configuration, read on first use; a second, validating
    /// resolver for DANE.
    System(Box<SystemDns>),
    /// Fixed answers: MX records (preference, exchange), addresses, TXT and TLSA records, by
    /// lowercase name. A name absent from the MX and address maps does not exist.
    Fixed {
        mx: HashMap<String, Vec<(u16, String)>>,
        ip: HashMap<String, Vec<IpAddr>>,
        txt: HashMap<String, Vec<String>>,
        /// By owner name: `_25._tcp.mx.example.net`.
        tlsa: HashMap<String, Vec<TLSA>>,
        /// Names whose answers (records or their absence) are DNSSEC-secure; every other
        /// answer is insecure, as from an unsigned zone.
        secure: HashSet<String>,
        /// Names whose every lookup fails (SERVFAIL, or a bogus answer).
        failing: HashSet<String>,
    },
}

/// What the DNS says about a domain's mail.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Hosts (name, port) to try in order; `dnssec` when DANE may apply to them (a secure MX
    /// RRset, or the implicit MX with validation working).
    Hosts {
        hosts: Vec<(String, u16)>,
        dnssec: bool,
    },
    /// RFC 7505: the domain accepts no mail. Permanent.
    NullMx,
    /// The domain does not exist. Permanent.
    NoSuchDomain,
}

/// A lookup that failed for now (timeout, SERVFAIL): try again later.
#[derive(Debug)]
pub struct TempFailure(pub String);

/// A domain's MX records, and whether they are DNSSEC-secure (for no records: whether
/// validation works, so the implicit MX's own records can decide).
struct Mx {
    records: Vec<(u16, String)>,
    secure: bool,
}

impl Dns {
    pub fn system() -> Dns {
        Dns::System(Box::default())
    }

    /// Fixed answers with no TLSA records and nothing secure or failing.
    pub fn fixed(
        mx: HashMap<String, Vec<(u16, String)>>,
        ip: HashMap<String, Vec<IpAddr>>,
        txt: HashMap<String, Vec<String>>,
    ) -> Dns {
        Dns::Fixed {
            mx,
            ip,
            txt,
            tlsa: HashMap::new(),
            secure: HashSet::new(),
            failing: HashSet::new(),
        }
    }

    async fn resolver(cell: &OnceCell<TokioResolver>) -> Result<&TokioResolver, TempFailure> {
        cell.get_or_try_init(|| async {
            TokioResolver::builder_tokio()
                .map(|b| b.build())
                .map_err(|e| TempFailure(format!("no DNS resolver: {e}")))?
                .map_err(|e| TempFailure(format!("no DNS resolver: {e}")))
        })
        .await
    }

    /// MX records of `domain`; `Ok(None)` when the name does not exist.
    async fn mx(&self, domain: &str) -> Result<Option<Mx>, TempFailure> {
        match self {
            Dns::Fixed {
                mx,
                ip,
                secure,
                failing,
                ..
            } => {
                if failing.contains(domain) {
                    return Err(TempFailure(format!("MX lookup for {domain}: SERVFAIL")));
                }
                let records = match mx.get(domain) {
                    Some(v) => v.clone(),
                    None if ip.contains_key(domain) => Vec::new(),
                    None => return Ok(None),
                };
                Ok(Some(Mx {
                    secure: records.is_empty() || secure.contains(domain),
                    records,
                }))
            }
            Dns::System(sys) => {
                let name = format!("{domain}.");
                let Some(v) = sys.validating().await else {
                    let r = Self::resolver(&sys.plain).await?;
                    return match r.mx_lookup(name).await {
                        Ok(l) => Ok(Some(Mx {
                            records: mx_records(l.answers()),
                            secure: false,
                        })),
                        Err(e) if e.is_nx_domain() => Ok(None),
                        Err(e) if e.is_no_records_found() => Ok(Some(Mx {
                            records: Vec::new(),
                            secure: false,
                        })),
                        Err(e) => Err(TempFailure(format!("MX lookup for {domain}: {e}"))),
                    };
                };
                match v.mx_lookup(name).await {
                    Ok(l) => match summary(l.answers(), RecordType::MX) {
                        DnssecSummary::Bogus => Err(TempFailure(format!(
                            "MX lookup for {domain}: DNSSEC validation failed"
                        ))),
                        s => Ok(Some(Mx {
                            records: mx_records(l.answers()),
                            secure: s == DnssecSummary::Secure,
                        })),
                    },
                    Err(e) => match negative(&e) {
                        Some(Negative::NxDomain) => Ok(None),
                        Some(Negative::NoData) => Ok(Some(Mx {
                            records: Vec::new(),
                            secure: true,
                        })),
                        // RFC 7672 §2.1.1: bogus or indeterminate is a lookup failure.
                        None => Err(TempFailure(format!("MX lookup for {domain}: {e}"))),
                    },
                }
            }
        }
    }

    /// The addresses of `host` (IPv6 and IPv4 as the resolver orders them).
    pub async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, TempFailure> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        match self {
            Dns::Fixed { ip, failing, .. } => {
                if failing.contains(host) {
                    return Err(TempFailure(format!("address lookup for {host}: SERVFAIL")));
                }
                Ok(ip.get(host).cloned().unwrap_or_default())
            }
            Dns::System(sys) => {
                let r = Self::resolver(&sys.plain).await?;
                match r.lookup_ip(format!("{host}.")).await {
                    Ok(l) => Ok(l.iter().collect()),
                    Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
                    Err(e) => Err(TempFailure(format!("address lookup for {host}: {e}"))),
                }
            }
        }
    }

    /// The TXT records of `name`, each one's strings joined; none when it does not exist.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, TempFailure> {
        let name = name.to_ascii_lowercase();
        match self {
            Dns::Fixed { txt, failing, .. } => {
                if failing.contains(&name) {
                    return Err(TempFailure(format!("TXT lookup for {name}: SERVFAIL")));
                }
                Ok(txt.get(&name).cloned().unwrap_or_default())
            }
            Dns::System(sys) => {
                let r = Self::resolver(&sys.plain).await?;
                match r.txt_lookup(format!("{name}.")).await {
                    Ok(l) => Ok(l
                        .answers()
                        .iter()
                        .filter_map(|rec| match &rec.data {
                            RData::TXT(t) => Some(
                                t.txt_data
                                    .iter()
                                    .map(|part| String::from_utf8_lossy(part))
                                    .collect::<String>(),
                            ),
                            _ => None,
                        })
                        .collect()),
                    Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
                    Err(e) => Err(TempFailure(format!("TXT lookup for {name}: {e}"))),
                }
            }
        }
    }

    /// The route to `domain` by DNS.
    pub async fn route(&self, domain: &str) -> Result<Route, TempFailure> {
        let domain = domain.to_ascii_lowercase();
        let Some(Mx {
            mut records,
            secure,
        }) = self.mx(&domain).await?
        else {
            return Ok(Route::NoSuchDomain);
        };
        if records.is_empty() {
            // RFC 5321 §5.1: no MX, the domain's own address is the implicit MX. RFC 7672
            // §2.2.2: DANE then applies when its address records are secure.
            return Ok(Route::Hosts {
                hosts: vec![(domain, 25)],
                dnssec: secure,
            });
        }
        // RFC 7505 §3: a single MX with an empty exchange ("." ) is a null MX.
        if records.iter().any(|(_, h)| h.is_empty() || h == ".") {
            return Ok(Route::NullMx);
        }
        // Random order among equal preferences spreads load (§5.1), then by preference.
        records.sort_by_cached_key(|(pref, _)| (*pref, getrandom::u32().unwrap_or(0)));
        Ok(Route::Hosts {
            hosts: records.into_iter().map(|(_, h)| (h, 25)).collect(),
            dnssec: secure,
        })
    }
}

/// The (preference, exchange) pairs of an MX answer, exchange lowercase without the root dot.
fn mx_records(answers: &[hickory_resolver::proto::rr::Record]) -> Vec<(u16, String)> {
    answers
        .iter()
        .filter_map(|rec| match &rec.data {
            RData::MX(mx) => Some((
                mx.preference,
                mx.exchange
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_ascii_lowercase(),
            )),
            _ => None,
        })
        .collect()
}

/// A configured `host:port` (a static route or the relay) as a host and port.
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some((a.ip().to_string(), a.port()));
    }
    let (h, p) = s.rsplit_once(':')?;
    Some((h.to_string(), p.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed() -> Dns {
        let mut mx = HashMap::new();
        mx.insert(
            "multi.test".to_string(),
            vec![
                (20, "backup.multi.test".to_string()),
                (10, "a.multi.test".to_string()),
                (10, "b.multi.test".to_string()),
            ],
        );
        mx.insert("null.test".to_string(), vec![(0, ".".to_string())]);
        mx.insert(
            "signed.test".to_string(),
            vec![(5, "MX.Signed.test".to_string())],
        );
        mx.insert(
            "broken.test".to_string(),
            vec![(5, "mx.broken.test".to_string())],
        );
        let mut ip = HashMap::new();
        ip.insert("bare.test".to_string(), vec!["192.0.2.7".parse().unwrap()]);
        let mut dns = Dns::fixed(mx, ip, HashMap::new());
        if let Dns::Fixed {
            secure, failing, ..
        } = &mut dns
        {
            secure.insert("signed.test".to_string());
            failing.insert("broken.test".to_string());
        }
        dns
    }

    #[tokio::test]
    async fn routes_by_preference_with_null_and_implicit_mx() {
        let dns = fixed();
        let mut seen_first = std::collections::HashSet::new();
        for _ in 0..64 {
            let Route::Hosts { hosts: h, dnssec } = dns.route("MULTI.test").await.unwrap() else {
                panic!("hosts expected")
            };
            assert_eq!(h.len(), 3);
            assert!(!dnssec, "an MX RRset not marked secure");
            assert_eq!(h[2], ("backup.multi.test".to_string(), 25));
            seen_first.insert(h[0].0.clone());
        }
        assert_eq!(seen_first.len(), 2, "equal preferences are shuffled");
        assert_eq!(dns.route("null.test").await.unwrap(), Route::NullMx);
        assert_eq!(
            dns.route("bare.test").await.unwrap(),
            Route::Hosts {
                hosts: vec![("bare.test".to_string(), 25)],
                dnssec: true,
            },
            "the implicit MX: its own address records decide"
        );
        assert_eq!(
            dns.route("nowhere.test").await.unwrap(),
            Route::NoSuchDomain
        );
        assert_eq!(
            split_host_port("127.0.0.1:12999"),
            Some(("127.0.0.1".to_string(), 12999))
        );
        assert_eq!(split_host_port("[::1]:25"), Some(("::1".to_string(), 25)));
        assert_eq!(
            split_host_port("smtp.example.test:587"),
            Some(("smtp.example.test".to_string(), 587))
        );
    }

    #[tokio::test]
    async fn a_route_knows_whether_its_mx_was_secure() {
        let dns = fixed();
        assert_eq!(
            dns.route("signed.test").await.unwrap(),
            Route::Hosts {
                hosts: vec![("MX.Signed.test".to_string(), 25)],
                dnssec: true,
            }
        );
        // A failing (SERVFAIL, bogus) MX lookup is temporary, not a route without DANE.
        let e = dns.route("broken.test").await.unwrap_err();
        assert!(e.0.contains("broken.test"), "{e:?}");
    }
}
