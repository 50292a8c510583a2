//! Whether a certificate must be ordered now, and if not, when: now when there is none, it
//! does not load (or its key does not match), another directory issued it (say staging,
//! before production was configured), its names are not the configured ones, or less than
//! `renew_before` of it is left. A certificate whose whole lifetime is shorter than
//! `renew_before` is renewed when a third of it is left instead, so short-lived ones are
//! not ordered again and again.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use x509_parser::extensions::GeneralName;

use super::files::Files;
use crate::config::Acme;

pub enum Due {
    /// Why a new certificate is needed.
    Now(String),
    Later {
        renew_at: SystemTime,
        not_after: SystemTime,
    },
}

/// `issued.json`: the directory that issued the stored certificate.
#[derive(Serialize, Deserialize)]
pub struct Record {
    pub directory: String,
}

/// Reads the files (blocking).
pub fn check(files: &Files, config: &Acme, now: SystemTime) -> Due {
    if !files.cert.exists() {
        return Due::Now("there is no certificate yet".into());
    }
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Err(e) = crate::tls::read_pair(&files.cert, &files.key, &provider) {
        return Due::Now(format!("the stored one does not load ({e:#})"));
    }
    let record = std::fs::read(&files.issued)
        .ok()
        .and_then(|b| serde_json::from_slice::<Record>(&b).ok());
    match record {
        None => return Due::Now("the directory that issued the stored one is unknown".into()),
        Some(r) if r.directory != config.directory => {
            return Due::Now(format!("the stored one is from {}", r.directory));
        }
        Some(_) => {}
    }
    let leaf = match CertificateDer::pem_file_iter(&files.cert)
        .ok()
        .and_then(|mut i| i.next())
    {
        Some(Ok(der)) => der,
        _ => return Due::Now("the stored one does not load".into()),
    };
    let cert = match x509_parser::parse_x509_certificate(&leaf) {
        Ok((_, c)) => c,
        Err(e) => return Due::Now(format!("the stored one does not parse ({e})")),
    };
    let names: BTreeSet<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => BTreeSet::new(),
    };
    let wanted: BTreeSet<String> = config.domains.iter().cloned().collect();
    if names != wanted {
        return Due::Now(format!(
            "the stored one is for {names:?}, the configuration names {wanted:?}"
        ));
    }
    let time = |t: i64| UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
    let validity = cert.validity();
    let (not_before, not_after) = (
        time(validity.not_before.timestamp()),
        time(validity.not_after.timestamp()),
    );
    let renew_at = not_after - margin(config.renew_before, not_before, not_after);
    if now >= renew_at {
        return Due::Now(format!(
            "the stored one expires at {}",
            humantime::format_rfc3339_seconds(not_after)
        ));
    }
    Due::Later {
        renew_at,
        not_after,
    }
}

/// How long before its end a certificate is renewed.
fn margin(renew_before: Duration, not_before: SystemTime, not_after: SystemTime) -> Duration {
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    if renew_before < lifetime {
        renew_before
    } else {
        lifetime / 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86400);

    #[test]
    fn renew_before_unless_the_lifetime_is_shorter() {
        let start = UNIX_EPOCH + 1000 * DAY;
        // Let's Encrypt's 90 days: 30 days before the end.
        assert_eq!(margin(30 * DAY, start, start + 90 * DAY), 30 * DAY);
        // A 6-day certificate: two days before, not at once.
        assert_eq!(margin(30 * DAY, start, start + 6 * DAY), 2 * DAY);
    }
}
