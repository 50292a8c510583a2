//! Where mail for a domain goes (RFC 5321 §5.1): a static route or the relay from the
//! configuration, else the domain's MX hosts by preference (a random order among equal
//! preferences), else the domain itself (implicit MX); a null MX (RFC 7505) means the domain
//! takes no mail. The DNS is behind [`Dns`] so tests can serve fixed records and never touch
//! the system resolver.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;
use tokio::sync::OnceCell;

/// The name service the queue asks.
pub enum Dns {
    /// The system's resolver configuration, read on first use.
    System(Box<OnceCell<TokioResolver>>),
    /// Fixed answers: MX records (preference, exchange), addresses and TXT records, by
    /// lowercase name. A name absent from the MX and address maps does not exist.
    Fixed {
        mx: HashMap<String, Vec<(u16, String)>>,
        ip: HashMap<String, Vec<IpAddr>>,
        txt: HashMap<String, Vec<String>>,
    },
}

/// What the DNS says about a domain's mail.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Hosts (name, port) to try in order.
    Hosts(Vec<(String, u16)>),
    /// RFC 7505: the domain accepts no mail. Permanent.
    NullMx,
    /// The domain does not exist. Permanent.
    NoSuchDomain,
}

/// A lookup that failed for now (timeout, SERVFAIL): try again later.
#[derive(Debug)]
pub struct TempFailure(pub String);

impl Dns {
    pub fn system() -> Dns {
        Dns::System(Box::default())
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
    async fn mx(&self, domain: &str) -> Result<Option<Vec<(u16, String)>>, TempFailure> {
        match self {
            Dns::Fixed { mx, ip, .. } => Ok(match mx.get(domain) {
                Some(v) => Some(v.clone()),
                None if ip.contains_key(domain) => Some(Vec::new()),
                None => None,
            }),
            Dns::System(cell) => {
                let r = Self::resolver(cell).await?;
                match r.mx_lookup(format!("{domain}.")).await {
                    Ok(l) => Ok(Some(
                        l.answers()
                            .iter()
                            .filter_map(|rec| match &rec.data {
                                RData::MX(mx) => Some((
                                    mx.preference,
                                    mx.exchange.to_ascii().trim_end_matches('.').to_string(),
                                )),
                                _ => None,
                            })
                            .collect(),
                    )),
                    Err(e) if e.is_nx_domain() => Ok(None),
                    Err(e) if e.is_no_records_found() => Ok(Some(Vec::new())),
                    Err(e) => Err(TempFailure(format!("MX lookup for {domain}: {e}"))),
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
            Dns::Fixed { ip, .. } => Ok(ip.get(host).cloned().unwrap_or_default()),
            Dns::System(cell) => {
                let r = Self::resolver(cell).await?;
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
            Dns::Fixed { txt, .. } => Ok(txt.get(&name).cloned().unwrap_or_default()),
            Dns::System(cell) => {
                let r = Self::resolver(cell).await?;
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
        let Some(mut records) = self.mx(&domain).await? else {
            return Ok(Route::NoSuchDomain);
        };
        if records.is_empty() {
            // RFC 5321 §5.1: no MX, the domain's own address is the implicit MX.
            return Ok(Route::Hosts(vec![(domain, 25)]));
        }
        // RFC 7505 §3: a single MX with an empty exchange ("." ) is a null MX.
        if records.iter().any(|(_, h)| h.is_empty() || h == ".") {
            return Ok(Route::NullMx);
        }
        // Random order among equal preferences spreads load (§5.1), then by preference.
        records.sort_by_cached_key(|(pref, _)| (*pref, getrandom::u32().unwrap_or(0)));
        Ok(Route::Hosts(
            records.into_iter().map(|(_, h)| (h, 25)).collect(),
        ))
    }
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
        let mut ip = HashMap::new();
        ip.insert("bare.test".to_string(), vec!["192.0.2.7".parse().unwrap()]);
        Dns::Fixed {
            mx,
            ip,
            txt: HashMap::new(),
        }
    }

    #[tokio::test]
    async fn routes_by_preference_with_null_and_implicit_mx() {
        let dns = fixed();
        let mut seen_first = std::collections::HashSet::new();
        for _ in 0..64 {
            let Route::Hosts(h) = dns.route("MULTI.test").await.unwrap() else {
                panic!("hosts expected")
            };
            assert_eq!(h.len(), 3);
            assert_eq!(h[2], ("backup.multi.test".to_string(), 25));
            seen_first.insert(h[0].0.clone());
        }
        assert_eq!(seen_first.len(), 2, "equal preferences are shuffled");
        assert_eq!(dns.route("null.test").await.unwrap(), Route::NullMx);
        assert_eq!(
            dns.route("bare.test").await.unwrap(),
            Route::Hosts(vec![("bare.test".to_string(), 25)])
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
}
