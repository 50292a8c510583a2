//! DKIM signing of outgoing mail (RFC 6376, Ed25519 by RFC 8463): every live key of the
//! sender's domain signs, relaxed/relaxed, over the recommended header set, with From and
//! Subject oversigned so no second one can be added in transit.

use base64::Engine;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use mailroom_core::dkim::DkimKey;

/// Signed when present; From and Subject twice (oversigned).
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "Subject",
    "Subject",
    "To",
    "Cc",
    "Reply-To",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
];

#[derive(Debug, thiserror::Error)]
#[error("DKIM signing with {selector}: {reason}")]
pub struct SignError {
    selector: String,
    reason: String,
}

/// The DKIM-Signature header fields (with CRLFs) to put before `message`: one per signing
/// key of `domain` (the newest of each algorithm; rotated-out keys only stay published).
pub fn sign(domain: &str, keys: &[DkimKey], message: &[u8]) -> Result<Vec<u8>, SignError> {
    Signers::new(domain, keys)?.sign(message)
}

/// A domain's signing keys, parsed once (an RSA key's parse costs as much as a signature),
/// ready to sign any number of messages.
pub struct Signers {
    signers: Vec<(String, Prepared)>,
}

enum Prepared {
    Ed25519(DkimSigner<Ed25519Key, Done>),
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
}

impl Signers {
    pub fn new(domain: &str, keys: &[DkimKey]) -> Result<Signers, SignError> {
        let mut signers = Vec::new();
        for k in mailroom_core::dkim::signing_keys(keys) {
            let fail = |reason: String| SignError {
                selector: k.selector.clone(),
                reason,
            };
            let der = base64::engine::general_purpose::STANDARD
                .decode(&k.private_key)
                .map_err(|e| fail(e.to_string()))?;
            let prepared = match k.algorithm.as_str() {
                "ed25519" => Prepared::Ed25519(configure(
                    Ed25519Key::from_pkcs8_der(&der).map_err(|e| fail(e.to_string()))?,
                    domain,
                    &k.selector,
                )),
                "rsa" => Prepared::Rsa(configure(
                    RsaKey::<Sha256>::from_key_der(rustls_pki_types::PrivateKeyDer::Pkcs8(
                        der.into(),
                    ))
                    .map_err(|e| fail(e.to_string()))?,
                    domain,
                    &k.selector,
                )),
                other => return Err(fail(format!("unknown algorithm {other}"))),
            };
            signers.push((k.selector.clone(), prepared));
        }
        Ok(Signers { signers })
    }

    /// The DKIM-Signature header fields for `message`, one per key.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut out = Vec::new();
        for (selector, p) in &self.signers {
            let header = match p {
                Prepared::Ed25519(s) => s.sign(message),
                Prepared::Rsa(s) => s.sign(message),
            }
            .map_err(|e| SignError {
                selector: selector.clone(),
                reason: e.to_string(),
            })?
            .to_header();
            out.extend_from_slice(header.as_bytes());
        }
        Ok(out)
    }
}

fn configure<T: mail_auth::common::crypto::SigningKey>(
    key: T,
    domain: &str,
    selector: &str,
) -> DkimSigner<T, Done> {
    DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(SIGNED_HEADERS.iter().copied())
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
}
