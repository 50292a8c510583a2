//! DKIM keys (RFC 6376) and the DNS records a domain publishes: every domain gets an
//! Ed25519 key (RFC 8463) and an RSA-2048 key, with selectors named by the date they were
//! made, and `mailroom dns DOMAIN` prints what to put in the zone.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
pub use mailroom_store::dkim::DkimKeyRow as DkimKey;
use mailroom_store::dkim::{DkimKeyRow, NewDkimKey};

use crate::{Core, Error, Result};

/// Time to live of the printed records.
const TTL: u32 = 3600;

/// A fresh key pair of each algorithm, selectors `YYYYMMDDe` (Ed25519) and `YYYYMMDDr` (RSA).
pub fn generate_keys(today: chrono::NaiveDate) -> Result<Vec<NewDkimKey>> {
    let day = today.format("%Y%m%d");
    let failed = |what: &str| Error::Internal(format!("DKIM key generation failed: {what}"));
    let ed = aws_lc_rs::signature::Ed25519KeyPair::generate().map_err(|_| failed("ed25519"))?;
    let ed_private = ed.to_pkcs8().map_err(|_| failed("ed25519 pkcs8"))?;
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|_| failed("rsa"))?;
    let rsa_private: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
        rsa.as_der().map_err(|_| failed("rsa pkcs8"))?;
    let rsa_public: aws_lc_rs::encoding::PublicKeyX509Der<'_> = rsa
        .public_key()
        .as_der()
        .map_err(|_| failed("rsa public"))?;
    Ok(vec![
        NewDkimKey {
            selector: format!("{day}e"),
            algorithm: "ed25519".into(),
            private_key: B64.encode(ed_private.as_ref()),
            // RFC 8463 §4.2: the raw 32-byte public key.
            public_key: B64.encode(ed.public_key().as_ref()),
        },
        NewDkimKey {
            selector: format!("{day}r"),
            algorithm: "rsa".into(),
            private_key: B64.encode(rsa_private.as_ref()),
            // RFC 6376 §3.6.1: the SubjectPublicKeyInfo DER.
            public_key: B64.encode(rsa_public.as_ref()),
        },
    ])
}

/// A TXT record's value as quoted strings of at most 255 bytes each (RFC 1035 §3.3.14).
fn txt(value: &str) -> String {
    value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Core {
    /// The domain's DKIM keys; a domain made before keys existed gets them now.
    pub async fn dkim_keys(&self, domain: &str) -> Result<Vec<DkimKeyRow>> {
        let d = self.local_domain(domain).await?;
        let keys = self.store().dkim_keys(d.id).await?;
        if !keys.is_empty() {
            return Ok(keys);
        }
        let new = generate_keys(chrono::Utc::now().date_naive())?;
        Ok(self.store().dkim_keys_add_if_none(d.id, &new).await?)
    }

    /// The records `domain` should publish, one per line in zone-file form
    /// (`NAME. TTL IN TYPE VALUE`); lines starting with `;` are hints. `hostname` is this
    /// server's name (MX target and SRV targets).
    pub async fn dns_records(&self, domain: &str, hostname: &str) -> Result<Vec<String>> {
        let keys = self.dkim_keys(domain).await?;
        let d = self.local_domain(domain).await?.name;
        let now = chrono::Utc::now().timestamp();
        let mut out = vec![
            format!("{d}. {TTL} IN MX 10 {hostname}."),
            format!("; {hostname}. {TTL} IN A <this server's public IPv4 address>"),
            format!("; {hostname}. {TTL} IN AAAA <this server's public IPv6 address>"),
            format!("{d}. {TTL} IN TXT {}", txt("v=spf1 mx -all")),
        ];
        for k in keys.iter().filter(|k| k.retire_at.is_none_or(|t| t > now)) {
            out.push(format!(
                "{}._domainkey.{d}. {TTL} IN TXT {}",
                k.selector,
                txt(&format!("v=DKIM1; k={}; p={}", k.algorithm, k.public_key))
            ));
        }
        out.extend([
            format!(
                "_dmarc.{d}. {TTL} IN TXT {}",
                txt(&format!(
                    "v=DMARC1; p=quarantine; rua=mailto:postmaster@{d}"
                ))
            ),
            format!(
                "_smtp._tls.{d}. {TTL} IN TXT {}",
                txt(&format!("v=TLSRPTv1; rua=mailto:postmaster@{d}"))
            ),
            // RFC 6186 (mail clients) and RFC 8620 §2.2 (JMAP).
            format!("_submissions._tcp.{d}. {TTL} IN SRV 0 1 465 {hostname}."),
            format!("_submission._tcp.{d}. {TTL} IN SRV 0 1 587 {hostname}."),
            format!("_imaps._tcp.{d}. {TTL} IN SRV 0 1 993 {hostname}."),
            format!("_jmap._tcp.{d}. {TTL} IN SRV 0 1 443 {hostname}."),
        ]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_published_forms() {
        let keys = generate_keys(chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()).unwrap();
        assert_eq!(keys[0].selector, "20261124e");
        assert_eq!(B64.decode(&keys[0].public_key).unwrap().len(), 32);
        // The private keys load back.
        let ed = B64.decode(&keys[0].private_key).unwrap();
        assert!(aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&ed).is_ok());
        let rsa = B64.decode(&keys[1].private_key).unwrap();
        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&rsa).unwrap();
        assert_eq!(pair.public_modulus_len(), 256);
        assert_eq!(keys[1].selector, "20261124r");
    }

    #[test]
    fn long_txt_values_are_split() {
        let v = "x".repeat(600);
        let t = txt(&v);
        assert_eq!(t.matches('"').count(), 6);
        assert_eq!(t.replace(['"', ' '], ""), v);
    }
}
