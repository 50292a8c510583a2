//! Checking a server's certificate chain against its TLSA records (RFC 7672 §3, RFC 7671
//! §5), as a rustls verifier. DANE-EE(3): the leaf certificate (selector 0) or its public key
//! (selector 1) is the record's data or its SHA-256/SHA-512 digest; names and dates are not
//! checked, the DNS has already said which key is the server's. DANE-TA(2): a certificate
//! the server sent matches, becomes the only trust anchor, and the leaf must chain to it and
//! carry one of the reference names. The handshake signature is checked either way, so the
//! peer holds the key it presented.

use std::sync::{Arc, Mutex};

use hickory_resolver::proto::rr::rdata::TLSA;
use hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, SignatureVerificationAlgorithm, UnixTime};
use sha2::{Digest, Sha256, Sha512};

use super::dane::DaneRecords;

/// Why a certificate chain did not authenticate by DANE.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DaneError {
    #[error("the certificate matches no TLSA record")]
    NoMatch,
    #[error("a DANE-TA record matches the chain, but the certificate does not chain to it: {0}")]
    Chain(String),
    #[error("a DANE-TA record matches the chain, but the certificate is not issued to {0}")]
    Name(String),
}

/// Which record authenticated the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    DaneEe,
    DaneTa,
}

/// Whether `cert` is what `t` describes (RFC 6698 §2.1.2, §2.1.3).
pub fn matches(t: &TLSA, cert: &CertificateDer<'_>) -> bool {
    let spki;
    let data: &[u8] = match t.selector {
        Selector::Full => cert.as_ref(),
        Selector::Spki => match rustls::server::ParsedCertificate::try_from(cert) {
            Ok(parsed) => {
                spki = parsed.subject_public_key_info();
                spki.as_ref()
            }
            Err(_) => return false,
        },
        _ => return false,
    };
    match t.matching {
        Matching::Raw => data == t.cert_data.as_slice(),
        Matching::Sha256 => Sha256::digest(data).as_slice() == t.cert_data.as_slice(),
        Matching::Sha512 => Sha512::digest(data).as_slice() == t.cert_data.as_slice(),
        _ => false,
    }
}

/// Authenticates the chain `leaf` + `chain` (as the server sent it) by `records`.
pub fn verify(
    records: &DaneRecords,
    leaf: &CertificateDer<'_>,
    chain: &[CertificateDer<'_>],
    now: UnixTime,
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> Result<Matched, DaneError> {
    let of = |usage: CertUsage| records.tlsa.iter().filter(move |t| t.cert_usage == usage);
    // RFC 7672 §3.1.1: DANE-EE ignores names and validity dates.
    if of(CertUsage::DaneEe).any(|t| matches(t, leaf)) {
        return Ok(Matched::DaneEe);
    }
    // RFC 7672 §3.1.2: the server must send the trust anchor's certificate in its chain.
    let mut error = DaneError::NoMatch;
    let anchors = chain
        .iter()
        .filter(|c| of(CertUsage::DaneTa).any(|t| matches(t, c)));
    for anchor in anchors {
        let parsed = rustls::server::ParsedCertificate::try_from(leaf)
            .map_err(|e| DaneError::Chain(e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        if let Err(e) = roots.add(anchor.clone().into_owned()) {
            error = DaneError::Chain(e.to_string());
            continue;
        }
        if let Err(e) = rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed, &roots, chain, now, algs,
        ) {
            error = DaneError::Chain(e.to_string());
            continue;
        }
        // RFC 7672 §3.2.1: without a name check, any certificate the anchor ever issued
        // (to anyone) would do.
        let named = records.names.iter().any(|n| {
            ServerName::try_from(n.as_str())
                .is_ok_and(|name| rustls::client::verify_server_name(&parsed, &name).is_ok())
        });
        if named {
            return Ok(Matched::DaneTa);
        }
        error = DaneError::Name(records.names.join(" or "));
    }
    Err(error)
}

/// A rustls verifier for one connection; it keeps its verdict, so the client can say why a
/// handshake failed and log how it succeeded.
#[derive(Debug)]
pub struct DaneVerifier {
    records: Arc<DaneRecords>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    outcome: Mutex<Option<Result<Matched, DaneError>>>,
}

impl DaneVerifier {
    /// A verifier and a client configuration that uses it. Session resumption is off: a
    /// resumed session is not verified again, and its ticket may have been issued under
    /// other records.
    pub fn config(records: Arc<DaneRecords>) -> (Arc<Self>, Arc<rustls::ClientConfig>) {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(DaneVerifier {
            records,
            provider: provider.clone(),
            outcome: Mutex::new(None),
        });
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        (verifier, Arc::new(config))
    }

    /// The verdict on the certificate, once the handshake got that far.
    pub fn outcome(&self) -> Option<Result<Matched, DaneError>> {
        self.outcome.lock().expect("DANE outcome").clone()
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let r = verify(
            &self.records,
            end_entity,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        );
        *self.outcome.lock().expect("DANE outcome") = Some(r.clone());
        match r {
            Ok(_) => Ok(ServerCertVerified::assertion()),
            Err(DaneError::Name(_)) => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            )),
            Err(_) => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::super::dane::usable;
    use super::*;

    /// A CA, and a leaf it issued for `names`: (leaf, CA certificate).
    fn issued(names: &[&str]) -> (CertificateDer<'static>, CertificateDer<'static>) {
        let (ca, leaf, _) = super::super::tls_tests::issue(names);
        (leaf, ca)
    }

    fn spki(cert: &CertificateDer<'_>) -> Vec<u8> {
        rustls::server::ParsedCertificate::try_from(cert)
            .unwrap()
            .subject_public_key_info()
            .as_ref()
            .to_vec()
    }

    fn record(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> TLSA {
        TLSA::new(usage.into(), selector.into(), matching.into(), data)
    }

    fn records(tlsa: Vec<TLSA>) -> DaneRecords {
        DaneRecords {
            tlsa,
            names: vec!["mx.example.net".into(), "example.net".into()],
        }
    }

    fn check(
        r: &DaneRecords,
        leaf: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
    ) -> Result<Matched, DaneError> {
        let algs = rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .all;
        verify(r, leaf, chain, UnixTime::now(), algs)
    }

    #[test]
    fn dane_ee_matches_the_key_or_the_certificate_whatever_its_name() {
        // The leaf is named for somewhere else entirely: DANE-EE does not care.
        let (leaf, ca) = issued(&["elsewhere.test"]);
        let (other, _) = issued(&["mx.example.net"]);
        let sha256 = |b: &[u8]| Sha256::digest(b).to_vec();
        let sha512 = |b: &[u8]| Sha512::digest(b).to_vec();
        let cases = [
            ("3 1 1", record(3, 1, 1, sha256(&spki(&leaf)))),
            ("3 0 1", record(3, 0, 1, sha256(leaf.as_ref()))),
            ("3 1 2", record(3, 1, 2, sha512(&spki(&leaf)))),
            ("3 1 0", record(3, 1, 0, spki(&leaf))),
            ("3 0 0", record(3, 0, 0, leaf.to_vec())),
        ];
        for (what, t) in cases {
            assert!(usable(&t), "{what}");
            assert_eq!(
                check(&records(vec![t.clone()]), &leaf, std::slice::from_ref(&ca)),
                Ok(Matched::DaneEe),
                "{what}"
            );
            // The same record does not vouch for another server's certificate.
            assert_eq!(
                check(&records(vec![t]), &other, &[]),
                Err(DaneError::NoMatch),
                "{what}"
            );
        }
        // A digest of something else; the right digest under the wrong selector.
        let mut wrong = sha256(&spki(&leaf));
        wrong[0] ^= 1;
        for t in [
            record(3, 1, 1, wrong),
            record(3, 0, 1, sha256(&spki(&leaf))),
        ] {
            assert_eq!(
                check(&records(vec![t]), &leaf, std::slice::from_ref(&ca)),
                Err(DaneError::NoMatch)
            );
        }
    }

    #[test]
    fn dane_ta_needs_the_anchor_in_the_chain_and_the_right_name() {
        let sha256 = |b: &[u8]| Sha256::digest(b).to_vec();
        let (leaf, ca) = issued(&["mx.example.net"]);
        for t in [
            record(2, 0, 1, sha256(ca.as_ref())),
            record(2, 1, 1, sha256(&spki(&ca))),
            record(2, 1, 2, Sha512::digest(spki(&ca)).to_vec()),
        ] {
            let r = records(vec![t]);
            assert_eq!(
                check(&r, &leaf, std::slice::from_ref(&ca)),
                Ok(Matched::DaneTa)
            );
            // The anchor must be sent: a bare leaf matches nothing.
            assert_eq!(check(&r, &leaf, &[]), Err(DaneError::NoMatch));
        }
        // Issued by the anchor, but to another name.
        let (misnamed, misnamed_ca) = issued(&["www.example.org"]);
        let r2 = records(vec![record(2, 1, 1, sha256(&spki(&misnamed_ca)))]);
        assert_eq!(
            check(&r2, &misnamed, std::slice::from_ref(&misnamed_ca)),
            Err(DaneError::Name("mx.example.net or example.net".into()))
        );
        // The destination domain is a reference name too (RFC 7672 §3.2.2).
        let (for_domain, domain_ca) = issued(&["example.net"]);
        let r3 = records(vec![record(2, 0, 1, sha256(domain_ca.as_ref()))]);
        assert_eq!(check(&r3, &for_domain, &[domain_ca]), Ok(Matched::DaneTa));
        // A leaf of another CA, sent along with the anchor, does not chain to it.
        let r = records(vec![record(2, 1, 1, sha256(&spki(&ca)))]);
        let (stranger, stranger_ca) = issued(&["mx.example.net"]);
        assert!(matches!(
            check(&r, &stranger, &[ca.clone(), stranger_ca]),
            Err(DaneError::Chain(_))
        ));
    }

    #[test]
    fn pkix_and_unknown_usages_are_not_usable() {
        let (leaf, ca) = issued(&["mx.example.net"]);
        let digest = Sha256::digest(spki(&leaf)).to_vec();
        for t in [
            record(0, 1, 1, Sha256::digest(spki(&ca)).to_vec()),
            record(1, 1, 1, digest.clone()),
            record(4, 1, 1, digest.clone()),
            record(3, 2, 1, digest.clone()),
            record(3, 1, 3, digest.clone()),
            record(3, 1, 2, digest.clone()), // SHA-512 needs 64 bytes
            record(3, 1, 0, Vec::new()),
        ] {
            assert!(!usable(&t), "{t:?}");
        }
        // Unusable records never authenticate, even when their data matches.
        let r = records(vec![
            record(1, 1, 1, digest),
            record(0, 0, 1, Sha256::digest(ca.as_ref()).to_vec()),
        ]);
        assert_eq!(check(&r, &leaf, &[ca]), Err(DaneError::NoMatch));
    }
}
