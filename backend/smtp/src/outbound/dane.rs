//! DANE for outgoing SMTP (RFC 7672): which MX hosts must be reached over TLS with a
//! certificate their TLSA records vouch for. A destination opts in by DNSSEC alone: a secure
//! MX RRset (or no MX), secure address records for the host, and a secure TLSA RRset at
//! `_25._tcp.HOST`. Since an attacker cannot forge those, DANE resists what defeats
//! opportunistic TLS: a stripped STARTTLS, or a stranger answering in the server's place.
//!
//! DANE applies only to hosts found by MX: a configured route or relay is the
//! administrator's word and carries no DNSSEC-backed name to look TLSA records up for.
//! Certificates are checked in `dane_verify.rs`.

use std::sync::Arc;

use hickory_resolver::proto::rr::rdata::TLSA;
use hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};

use super::route::{Dns, TempFailure};

/// What DANE asks of one MX host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dane {
    /// DANE does not apply: an insecure MX, address or TLSA answer, or no TLSA records.
    None,
    /// A secure TLSA RRset without a usable record: TLS is mandatory, but the certificate
    /// is not checked (RFC 7672 §2.2).
    Encrypt,
    /// STARTTLS is mandatory and the certificate must match one of these (RFC 7672 §3).
    Verify(Arc<DaneRecords>),
}

/// The usable TLSA records of a host and the names a DANE-TA certificate may be issued to.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DaneRecords {
    pub tlsa: Vec<TLSA>,
    /// RFC 7672 §3.2.2: the TLSA base domain (the MX host name; CNAME-expanded names are not
    /// tried), then the destination domain, since the MX RRset was secure.
    pub names: Vec<String>,
}

/// A TLSA record this client can act on: DANE-TA(2) or DANE-EE(3) (RFC 7672 §3.1; PKIX-TA(0)
/// and PKIX-EE(1) are unusable for SMTP, §3.1.3), a known selector, and a known matching
/// type whose data has the digest's length.
pub fn usable(t: &TLSA) -> bool {
    matches!(t.cert_usage, CertUsage::DaneTa | CertUsage::DaneEe)
        && matches!(t.selector, Selector::Full | Selector::Spki)
        && match t.matching {
            Matching::Raw => !t.cert_data.is_empty(),
            Matching::Sha256 => t.cert_data.len() == 32,
            Matching::Sha512 => t.cert_data.len() == 64,
            _ => false,
        }
}

/// What DANE asks of `host`, one of `domain`'s MX hosts, when the route to `domain` was
/// DNSSEC-secure. A failed lookup makes the host unusable for now (RFC 7672 §2.2): a hidden
/// TLSA RRset must not turn into plain text.
pub async fn lookup(dns: &Dns, host: &str, domain: &str) -> Result<Dane, TempFailure> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let fail = |e: TempFailure| TempFailure(format!("DANE: {}", e.0));
    // RFC 7672 §2.2: TLSA records are looked up only for a host whose addresses are secure;
    // unsigned hosting zones often answer TLSA queries badly, and could not sign them anyway.
    if !dns.addresses_secure(&host).await.map_err(fail)? {
        return Ok(Dane::None);
    }
    let Some(records) = dns.tlsa(&host).await.map_err(fail)? else {
        return Ok(Dane::None);
    };
    let tlsa: Vec<TLSA> = records.into_iter().filter(usable).collect();
    if tlsa.is_empty() {
        return Ok(Dane::Encrypt);
    }
    let mut names = vec![host];
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    if !names.contains(&domain) {
        names.push(domain);
    }
    Ok(Dane::Verify(Arc::new(DaneRecords { tlsa, names })))
}
