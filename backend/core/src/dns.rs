//! The DNS records a domain publishes (`mailroom dns DOMAIN`) and the MTA-STS policy the
//! HTTP listener serves for it (RFC 8461).

use sha2::{Digest, Sha256};

use crate::{Core, Result};

/// Time to live of the printed records.
const TTL: u32 = 3600;

/// The MTA-STS policy of every local domain: mail for it goes to `hostname`. Mode
/// `testing`: `enforce` makes senders refuse to deliver unless our STARTTLS certificate is
/// one they can validate, which the generated self-signed one is not. (A switch for
/// servers with a CA-issued certificate is still to come.)
pub fn mta_sts_policy(hostname: &str) -> String {
    format!("version: STSv1\r\nmode: testing\r\nmx: {hostname}\r\nmax_age: 604800\r\n")
}

/// The policy's id for the `_mta-sts` record: changes whenever the policy does.
fn mta_sts_id(hostname: &str) -> String {
    hex::encode(&Sha256::digest(mta_sts_policy(hostname).as_bytes())[..8])
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
    /// The records `domain` should publish, one per line in zone-file form
    /// (`NAME. TTL IN TYPE VALUE`); lines starting with `;` are hints. `hostname` is this
    /// server's name (MX target and SRV targets).
    pub async fn dns_records(&self, domain: &str, hostname: &str) -> Result<Vec<String>> {
        let domain = self.local_domain(domain).await?;
        let keys = self.dkim_keys_of(&domain).await?;
        let d = domain.name;
        let now = chrono::Utc::now().timestamp();
        let policy_id = mta_sts_id(hostname);
        let mut out = Vec::new();
        if !hostname.contains('.') {
            // The machine's name is the default; other servers cannot reach a bare one.
            out.push(format!(
                "; {hostname:?} is not a fully qualified name: set `hostname` in the configuration"
            ));
        }
        out.extend([
            format!("{d}. {TTL} IN MX 10 {hostname}."),
            format!("; {hostname}. {TTL} IN A <this server's public IPv4 address>"),
            format!("; {hostname}. {TTL} IN AAAA <this server's public IPv6 address>"),
            format!("{d}. {TTL} IN TXT {}", txt("v=spf1 mx -all")),
        ]);
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
            // RFC 8461: the policy is served by our HTTP listener under this name.
            format!("mta-sts.{d}. {TTL} IN CNAME {hostname}."),
            format!(
                "_mta-sts.{d}. {TTL} IN TXT {}",
                txt(&format!("v=STSv1; id={policy_id}"))
            ),
            format!(
                "_smtp._tls.{d}. {TTL} IN TXT {}",
                txt(&format!("v=TLSRPTv1; rua=mailto:postmaster@{d}"))
            ),
            // RFC 6186 (mail clients) and RFC 8620 §2.2 (JMAP).
            format!("_submissions._tcp.{d}. {TTL} IN SRV 0 1 465 {hostname}."),
            format!("_submission._tcp.{d}. {TTL} IN SRV 0 1 587 {hostname}."),
            format!("_imaps._tcp.{d}. {TTL} IN SRV 0 1 993 {hostname}."),
            format!("_imap._tcp.{d}. {TTL} IN SRV 0 1 143 {hostname}."),
            // Thunderbird's and Outlook's autoconfiguration, served by our HTTP listener.
            format!("autoconfig.{d}. {TTL} IN CNAME {hostname}."),
            format!("autodiscover.{d}. {TTL} IN CNAME {hostname}."),
            format!("_jmap._tcp.{d}. {TTL} IN SRV 0 1 443 {hostname}."),
        ]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_txt_values_are_split() {
        let v = "x".repeat(600);
        let t = txt(&v);
        assert_eq!(t.matches('"').count(), 6);
        assert_eq!(t.replace(['"', ' '], ""), v);
    }

    #[test]
    fn the_policy_id_follows_the_policy() {
        assert_ne!(mta_sts_id("a.example"), mta_sts_id("b.example"));
        assert!(mta_sts_policy("mx.example").contains("mx: mx.example\r\n"));
    }
}
