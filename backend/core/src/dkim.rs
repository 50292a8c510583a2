//! DKIM keys (RFC 6376): every domain gets an Ed25519 key (RFC 8463) and an RSA-2048 key,
//! with selectors named by the date they were made; rotation adds new ones and keeps the
//! old published for a while.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
pub use mailroom_store::dkim::DkimKeyRow as DkimKey;
use mailroom_store::dkim::{DkimKeyRow, NewDkimKey};

use crate::{Core, Domain, Error, Result};

/// A fresh key pair of each algorithm, selectors `YYYYMMDDe` (Ed25519) and `YYYYMMDDr` (RSA).
pub fn generate_keys(today: chrono::NaiveDate) -> Result<Vec<NewDkimKey>> {
    generate_keys_named(&today.format("%Y%m%d").to_string())
}

/// The keys that sign now: the newest unretired key of each algorithm (older ones are kept
/// published until their `retire_at`, for mail still in flight).
pub fn signing_keys(keys: &[DkimKey]) -> Vec<&DkimKey> {
    let mut out: Vec<&DkimKey> = Vec::new();
    for k in keys.iter().filter(|k| k.retire_at.is_none()) {
        match out.iter_mut().find(|o| o.algorithm == k.algorithm) {
            Some(o) if o.id < k.id => *o = k,
            Some(_) => {}
            None => out.push(k),
        }
    }
    out
}

fn generate_keys_named(day: &str) -> Result<Vec<NewDkimKey>> {
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

impl Core {
    /// The domain's DKIM keys; a domain made before keys existed gets them now.
    pub async fn dkim_keys(&self, domain: &str) -> Result<Vec<DkimKeyRow>> {
        let d = self.local_domain(domain).await?;
        self.dkim_keys_of(&d).await
    }

    pub(crate) async fn dkim_keys_of(&self, d: &Domain) -> Result<Vec<DkimKeyRow>> {
        let keys = self.store().dkim_keys(d.id).await?;
        if !keys.is_empty() {
            return Ok(keys);
        }
        let new = generate_keys(chrono::Utc::now().date_naive())?;
        Ok(self.store().dkim_keys_add_if_none(d.id, &new).await?)
    }

    /// New keys for the domain: they sign from now on; the current ones stay published for
    /// `keep_old_for` (mail signed with them may still be on its way), then are dropped
    /// from the records. Selectors are named by the day, with a suffix on a second rotation
    /// the same day.
    pub async fn dkim_rotate(
        &self,
        domain: &str,
        keep_old_for: std::time::Duration,
    ) -> Result<Vec<DkimKey>> {
        let d = self.local_domain(domain).await?;
        let existing = self.dkim_keys_of(&d).await?;
        let day = chrono::Utc::now().format("%Y%m%d").to_string();
        let taken = |name: &str| existing.iter().any(|k| k.selector == name);
        let name = (1..)
            .map(|n| {
                if n == 1 {
                    day.clone()
                } else {
                    format!("{day}-{n}")
                }
            })
            .find(|n| !taken(&format!("{n}e")) && !taken(&format!("{n}r")))
            .expect("a free selector");
        let keys = generate_keys_named(&name)?;
        let retire_at = chrono::Utc::now().timestamp() + keep_old_for.as_secs() as i64;
        Ok(self.store().dkim_rotate(d.id, &keys, retire_at).await?)
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
    fn the_newest_unretired_key_of_each_algorithm_signs() {
        let key = |id, algorithm: &str, retire_at| DkimKey {
            id,
            domain_id: 1,
            selector: format!("s{id}"),
            algorithm: algorithm.into(),
            private_key: String::new(),
            public_key: String::new(),
            created_at: 0,
            retire_at,
        };
        let keys = [
            key(1, "ed25519", Some(10)),
            key(2, "rsa", Some(10)),
            key(3, "ed25519", None),
            key(4, "rsa", None),
            key(5, "ed25519", None),
        ];
        let ids: Vec<i64> = signing_keys(&keys).iter().map(|k| k.id).collect();
        assert_eq!(ids, [5, 4]);
    }
}
