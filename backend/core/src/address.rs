//! Email addresses as mailroom stores them: `local@domain`, domain lowercased, IDNA left to
//! the client (SMTPUTF8 addresses are kept in UTF-8).

use crate::{Error, Result};

/// A syntactically valid address, normalised: lowercase, no surrounding `<>` or spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    full: String,
    at: usize,
}

impl Address {
    pub fn parse(s: &str) -> Result<Address> {
        let s = s.trim().trim_start_matches('<').trim_end_matches('>');
        let at = s
            .rfind('@')
            .ok_or_else(|| Error::Invalid(format!("{s:?} is not an address (no @)")))?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        if local.is_empty() || local.len() > 64 {
            return Err(Error::Invalid(format!(
                "{s:?}: the part before @ must be 1 to 64 characters"
            )));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
        {
            return Err(Error::Invalid(format!(
                "{s:?}: the part before @ has characters that need quoting"
            )));
        }
        let domain = validate_domain(domain)?;
        // Lowercase throughout, and `example.test.` is `example.test`.
        let full = format!("{}@{domain}", local.to_lowercase());
        Ok(Address {
            at: full.len() - domain.len() - 1,
            full,
        })
    }

    pub fn local(&self) -> &str {
        &self.full[..self.at]
    }

    pub fn domain(&self) -> &str {
        &self.full[self.at + 1..]
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// `user+tag@d` → `user@d` (RFC 5233 subaddressing); `None` without a tag.
    pub fn without_tag(&self) -> Option<Address> {
        let plus = self.local().find('+')?;
        if plus == 0 {
            return None;
        }
        let full = format!("{}@{}", &self.local()[..plus], self.domain());
        Some(Address { at: plus, full })
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.full)
    }
}

/// Whether `s` is usable as an SMTP reverse-path (MAIL FROM): looser than [`Address::parse`]
/// because real senders use long VERP bounce addresses (`bounces+1234-user=example.com@…`)
/// whose local part passes 64 characters. Only what cannot be an address is refused.
pub fn plausible_sender(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
                && validate_domain(domain).is_ok()
        }
        None => false,
    }
}

/// A domain name: labels of letters, digits, hyphens (or UTF-8), dot-separated.
pub fn validate_domain(domain: &str) -> Result<String> {
    let d = domain.trim().trim_end_matches('.').to_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if ok {
        Ok(d)
    } else {
        Err(Error::Invalid(format!(
            "{domain:?} is not a valid domain name"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let a = Address::parse(" <Bob+News@Example.TEST> ").unwrap();
        assert_eq!(a.as_str(), "bob+news@example.test");
        assert_eq!(a.local(), "bob+news");
        assert_eq!(a.domain(), "example.test");
        assert_eq!(a.without_tag().unwrap().as_str(), "bob@example.test");
        assert!(
            Address::parse("bob@example.test")
                .unwrap()
                .without_tag()
                .is_none()
        );
    }

    #[test]
    fn senders_are_judged_leniently() {
        let verp = format!(
            "bounces+{}-bob=example.com@mail.sender.test",
            "x".repeat(80)
        );
        assert!(plausible_sender(&verp));
        assert!(!plausible_sender("no-at-sign"));
        assert!(!plausible_sender("a b@x.test"));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "bob",
            "@x.test",
            "bob@",
            "bo b@x.test",
            "bob@-x.test",
            "bob@x..test",
            "a\"b@x.test",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
