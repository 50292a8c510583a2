//! DNSSEC-validated lookups for DANE (RFC 7672 §2.1): a second resolver, built on first use
//! with `validate = true`, that fetches DS and DNSKEY records itself and checks every
//! answer from the root trust anchor in-process (it does not trust an upstream AD bit, so
//! the system's resolver only has to pass DNSSEC records through). Ordinary lookups keep the
//! plain resolver.
//!
//! A resolver that strips DNSSEC records would make every signed answer look bogus, and a
//! bogus MX or TLSA answer defers mail (RFC 7672 §2.1.1). So validation is first shown to
//! work, by a secure answer for the root zone's SOA; until then (the probe is repeated every
//! few minutes) every answer counts as insecure and DANE is off, as with a pre-DANE sender.
//! Once it has worked it stays on: an attacker who later breaks validation gets deferred
//! mail, not a downgrade.

use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::{DnssecSummary, Proof};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::rdata::TLSA;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::sync::{Mutex, OnceCell};

use super::route::{Dns, TempFailure};

/// The resolvers behind [`Dns::System`].
#[derive(Default)]
pub struct SystemDns {
    /// Ordinary lookups: routing without DANE, MTA-STS TXT records, addresses to connect to.
    pub(super) plain: OnceCell<TokioResolver>,
    validating: OnceCell<TokioResolver>,
    probe: Mutex<Probe>,
}

#[derive(Default)]
enum Probe {
    #[default]
    Untried,
    Works,
    FailedAt(Instant),
}

/// How long a failed probe keeps DANE off before validation is tried again.
const PROBE_AGAIN: Duration = Duration::from_secs(600);

/// How long the probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

impl SystemDns {
    /// The validating resolver, when DNSSEC validation works here.
    pub(super) async fn validating(&self) -> Option<&TokioResolver> {
        // Callers wait here while the probe runs: once at start, then (while validation
        // fails) once every PROBE_AGAIN, for at most PROBE_TIMEOUT.
        let mut probe = self.probe.lock().await;
        match *probe {
            Probe::Works => return self.validating.get(),
            Probe::FailedAt(at) if at.elapsed() < PROBE_AGAIN => return None,
            _ => {}
        }
        let built = self
            .validating
            .get_or_try_init(|| async {
                let mut b = TokioResolver::builder_tokio()?;
                // Trust anchors: hickory's built-in IANA root KSKs.
                b.options_mut().validate = true;
                b.build()
            })
            .await;
        let r = match built {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "DANE: no validating resolver; DANE is off for now");
                *probe = Probe::FailedAt(Instant::now());
                return None;
            }
        };
        let answer =
            tokio::time::timeout(PROBE_TIMEOUT, r.lookup(Name::root(), RecordType::SOA)).await;
        let why = match &answer {
            Ok(Ok(l)) if summary(l.answers(), RecordType::SOA) == DnssecSummary::Secure => {
                tracing::info!("DANE: DNSSEC validation works; DANE is on");
                *probe = Probe::Works;
                return Some(r);
            }
            Ok(Ok(_)) => "the root zone's SOA did not validate".to_string(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no validated answer in time".to_string(),
        };
        tracing::warn!(
            error = %why,
            "DANE: DNSSEC validation does not work (does the system's resolver pass DNSSEC records?); DANE is off for now"
        );
        *probe = Probe::FailedAt(Instant::now());
        None
    }
}

/// The DNSSEC status of the records of type `t` in an answer (and of the CNAMEs that led to
/// them). RRSIGs are skipped; an empty set counts as insecure.
pub(super) fn summary(records: &[Record], t: RecordType) -> DnssecSummary {
    DnssecSummary::from_records(
        records
            .iter()
            .filter(|r| r.record_type() == t || r.record_type() == RecordType::CNAME),
    )
}

/// An answer without records that is not an error.
pub(super) enum Negative {
    NxDomain,
    NoData,
}

/// NXDOMAIN or NODATA, validated or in an unsigned zone; `None` for a failure (timeout,
/// SERVFAIL, bogus, a denial whose proof could not be checked).
pub(super) fn negative(e: &NetError) -> Option<Negative> {
    let code = match e {
        NetError::Dns(DnsError::NoRecordsFound(n)) => n.response_code,
        // A denial proven insecure (an unsigned zone, an NSEC3 opt-out span): no records.
        NetError::Dns(DnsError::Nsec {
            response,
            proof: Proof::Insecure,
            ..
        }) => response.response_code,
        _ => return None,
    };
    Some(match code {
        ResponseCode::NXDomain => Negative::NxDomain,
        _ => Negative::NoData,
    })
}

impl Dns {
    /// Whether `host`'s address records are DNSSEC-secure (either family). A lookup that
    /// fails while no family is secure is a temporary failure: it may be an attacker hiding
    /// the host's signatures (RFC 7672 §2.1.1).
    pub async fn addresses_secure(&self, host: &str) -> Result<bool, TempFailure> {
        match self {
            Dns::Fixed {
                secure, failing, ..
            } => {
                if failing.contains(host) {
                    return Err(TempFailure(format!("address lookup for {host}: SERVFAIL")));
                }
                Ok(secure.contains(host))
            }
            Dns::System(sys) => {
                let Some(r) = sys.validating().await else {
                    return Ok(false);
                };
                let name = format!("{host}.");
                let mut failed = None;
                for t in [RecordType::A, RecordType::AAAA] {
                    match r.lookup(name.as_str(), t).await {
                        Ok(l) => match summary(l.answers(), t) {
                            DnssecSummary::Secure => return Ok(true),
                            DnssecSummary::Bogus => {
                                failed = Some("DNSSEC validation failed".into())
                            }
                            DnssecSummary::Insecure => {}
                        },
                        Err(e) if negative(&e).is_some() => {}
                        Err(e) => failed = Some(e.to_string()),
                    }
                }
                match failed {
                    Some(e) => Err(TempFailure(format!("address lookup for {host}: {e}"))),
                    None => Ok(false),
                }
            }
        }
    }

    /// The TLSA records at `_25._tcp.HOST` (RFC 7672 §2.2.3) when that RRset is
    /// DNSSEC-secure; `None` when it is insecure or there is none (NXDOMAIN, NODATA). Any
    /// other outcome (SERVFAIL, bogus, indeterminate) is a temporary failure.
    pub async fn tlsa(&self, host: &str) -> Result<Option<Vec<TLSA>>, TempFailure> {
        let name = format!("_25._tcp.{}", host.to_ascii_lowercase());
        match self {
            Dns::Fixed {
                tlsa,
                secure,
                failing,
                ..
            } => {
                if failing.contains(&name) {
                    return Err(TempFailure(format!("TLSA lookup for {name}: SERVFAIL")));
                }
                Ok(tlsa.get(&name).filter(|_| secure.contains(&name)).cloned())
            }
            Dns::System(sys) => {
                let Some(r) = sys.validating().await else {
                    return Ok(None);
                };
                match r.lookup(format!("{name}."), RecordType::TLSA).await {
                    Ok(l) => match summary(l.answers(), RecordType::TLSA) {
                        DnssecSummary::Secure => {
                            let records: Vec<TLSA> = l
                                .answers()
                                .iter()
                                .filter_map(|rec| match &rec.data {
                                    RData::TLSA(t) => Some(t.clone()),
                                    _ => None,
                                })
                                .collect();
                            Ok((!records.is_empty()).then_some(records))
                        }
                        DnssecSummary::Insecure => Ok(None),
                        DnssecSummary::Bogus => Err(TempFailure(format!(
                            "TLSA lookup for {name}: DNSSEC validation failed"
                        ))),
                    },
                    Err(e) if negative(&e).is_some() => Ok(None),
                    Err(e) => Err(TempFailure(format!("TLSA lookup for {name}: {e}"))),
                }
            }
        }
    }
}
