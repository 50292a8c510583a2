//! MTA-STS (RFC 8461) for outgoing mail: a domain that publishes a policy says which MX
//! hosts are its own and that they must be reached over TLS with a certificate valid for
//! their name. Without it, TLS to an MX is opportunistic and an attacker on the path can
//! strip it or answer in its place.
//!
//! The `_mta-sts` TXT record names the current policy's id; the policy itself comes from
//! `https://mta-sts.DOMAIN/.well-known/mta-sts.txt` (certificate verified, no redirects) and
//! is kept for its `max_age`. It is fetched again only when the TXT record announces a new
//! id; when the TXT record or the fetch fails, a policy still in its lifetime keeps
//! applying, so removing the record does not switch protection off (§5.1). Policies are
//! stored through core as well, so that stays true across a restart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailroom_core::Core;
use mailroom_core::queue::StoredMtaSts;

use super::route::Dns;

/// What a policy asks of senders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Only the listed MX hosts, only over verified TLS.
    Enforce,
    /// Deliver as usual; failures are only reported (logged here).
    Testing,
    /// The domain withdrew its policy.
    None,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The id of the TXT record it was fetched for.
    pub id: String,
    pub mode: Mode,
    /// Host patterns: a name, or `*.` and a name (one more label, leftmost).
    pub mx: Vec<String>,
    pub max_age: Duration,
}

impl Policy {
    /// Whether the MX host `host` is one the policy names.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => host == *p,
        })
    }
}

/// Longest a policy is kept, whatever it says (RFC 8461 §3.2: max_age at most 31557600).
const MAX_AGE: u64 = 31_557_600;
/// Policy bodies longer than this are refused (§3.3 suggests 64 KiB).
const MAX_BODY: usize = 64 * 1024;

/// The policy id announced by `_mta-sts.DOMAIN`'s TXT records: exactly one record must
/// start with `v=STSv1` (§3.1); anything else is no policy record.
pub fn txt_id(records: &[String]) -> Option<String> {
    let mut found = records.iter().filter(|r| r.starts_with("v=STSv1"));
    let record = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let mut fields = record.split(';').map(str::trim).filter(|f| !f.is_empty());
    if fields.next() != Some("v=STSv1") {
        return None;
    }
    fields.find_map(|f| {
        let id = f.strip_prefix("id=")?;
        (!id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| id.to_string())
    })
}

/// Parses a policy body (§3.2): `version: STSv1`, `mode`, `max_age`, and `mx` lines (needed
/// unless the mode is none). Unknown keys are ignored.
pub fn parse(id: &str, text: &str) -> Result<Policy, String> {
    let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = Some(value.to_string()),
            "mode" => mode = Some(Mode::parse(value).ok_or(format!("unknown mode {value:?}"))?),
            "max_age" => {
                let secs: u64 = value
                    .parse()
                    .map_err(|_| format!("max_age {value:?} is not a number"))?;
                max_age = Some(secs.min(MAX_AGE));
            }
            "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
            _ => {}
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("no \"version: STSv1\"".into());
    }
    let mode = mode.ok_or("no mode")?;
    let max_age = max_age.ok_or("no max_age")?;
    if mode != Mode::None && mx.is_empty() {
        return Err("no mx".into());
    }
    Ok(Policy {
        id: id.to_string(),
        mode,
        mx,
        max_age: Duration::from_secs(max_age),
    })
}

impl Mode {
    fn parse(word: &str) -> Option<Mode> {
        match word {
            "enforce" => Some(Mode::Enforce),
            "testing" => Some(Mode::Testing),
            "none" => Some(Mode::None),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// Fetches and keeps policies.
pub struct MtaSts {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Arc<Policy>, Instant)>>,
    /// Where policies are stored across restarts (none in unit tests).
    core: Option<Core>,
    /// Domains whose stored policy was looked for already: the database is asked once per
    /// domain, not on every delivery to the many domains that publish none.
    consulted: Mutex<std::collections::HashSet<String>>,
}

impl MtaSts {
    /// `tls` verifies the policy hosts' certificates; `resolve` pins host names to addresses
    /// (tests reach a loopback server that way).
    pub fn new(
        tls: rustls::ClientConfig,
        resolve: &[(String, SocketAddr)],
        core: Option<Core>,
    ) -> Result<MtaSts, String> {
        let mut b = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .timeout(Duration::from_secs(60))
            .user_agent("mailroom MTA-STS");
        for (host, addr) in resolve {
            b = b.resolve(host, *addr);
        }
        Ok(MtaSts {
            http: b.build().map_err(|e| format!("HTTP client: {e}"))?,
            cache: Mutex::default(),
            core,
            consulted: Mutex::default(),
        })
    }

    /// The stored policy of `domain`, into the memory cache.
    async fn load(&self, domain: &str) -> Option<Arc<Policy>> {
        let core = self.core.as_ref()?;
        {
            let mut seen = self.consulted.lock().expect("mta-sts consulted");
            if seen.len() > 100_000 {
                seen.clear();
            }
            if !seen.insert(domain.to_string()) {
                return None;
            }
        }
        let row = match core.mta_sts_policy(domain).await {
            Ok(r) => r?,
            Err(e) => {
                tracing::warn!(%domain, error = %e, "MTA-STS: cannot read the stored policy");
                return None;
            }
        };
        let left = (row.expires_at - chrono::Utc::now().timestamp()).max(0) as u64;
        let p = Arc::new(Policy {
            id: row.id,
            mode: Mode::parse(&row.mode).unwrap_or(Mode::None),
            mx: row.mx,
            max_age: Duration::from_secs(left),
        });
        self.cache
            .lock()
            .expect("mta-sts cache")
            .insert(domain.to_string(), (p.clone(), Instant::now() + p.max_age));
        Some(p)
    }

    /// Keeps a fetched policy in memory and in the database.
    async fn keep(&self, domain: &str, p: Arc<Policy>) {
        self.cache
            .lock()
            .expect("mta-sts cache")
            .insert(domain.to_string(), (p.clone(), Instant::now() + p.max_age));
        let Some(core) = &self.core else { return };
        let stored = StoredMtaSts {
            id: p.id.clone(),
            mode: p.mode.as_str().to_string(),
            mx: p.mx.clone(),
            expires_at: chrono::Utc::now().timestamp() + p.max_age.as_secs() as i64,
        };
        if let Err(e) = core.mta_sts_remember(domain, &stored).await {
            tracing::warn!(%domain, error = %e, "MTA-STS: cannot store the policy");
        }
    }

    /// The policy that applies to `domain` now, if any.
    pub async fn policy(&self, dns: &Dns, domain: &str) -> Option<Arc<Policy>> {
        let domain = domain.to_ascii_lowercase();
        let cached = {
            let mut cache = self.cache.lock().expect("mta-sts cache");
            match cache.get(&domain) {
                Some((p, until)) if Instant::now() < *until => Some(p.clone()),
                Some(_) => {
                    cache.remove(&domain);
                    None
                }
                None => None,
            }
        };
        let cached = match cached {
            Some(p) => Some(p),
            None => self.load(&domain).await,
        };
        let id = match dns.txt(&format!("_mta-sts.{domain}")).await {
            Ok(records) => txt_id(&records),
            Err(e) => {
                tracing::info!(%domain, error = %e.0, "MTA-STS: TXT lookup failed");
                None
            }
        };
        let id = match (id, &cached) {
            (None, _) => return cached,
            (Some(id), Some(p)) if p.id == id => return cached,
            (Some(id), _) => id,
        };
        match self.fetch(&domain, &id).await {
            Ok(p) => {
                let p = Arc::new(p);
                self.keep(&domain, p.clone()).await;
                Some(p)
            }
            Err(e) => {
                tracing::warn!(%domain, error = %e, "MTA-STS: policy fetch failed");
                cached
            }
        }
    }

    async fn fetch(&self, domain: &str, id: &str) -> Result<Policy, String> {
        let url = format!("https://mta-sts.{domain}/.well-known/mta-sts.txt");
        let mut r = self.http.get(&url).send().await.map_err(|e| {
            // The cause chain says which step failed (DNS, TLS, refused).
            let mut s = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(c) = src {
                s.push_str(&format!(": {c}"));
                src = c.source();
            }
            s
        })?;
        if r.status() != reqwest::StatusCode::OK {
            return Err(format!("{url}: HTTP {}", r.status()));
        }
        let plain = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/plain"));
        if !plain {
            return Err(format!("{url}: not text/plain"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err(format!("{url}: longer than {MAX_BODY} bytes"));
            }
        }
        let text = String::from_utf8(body).map_err(|_| format!("{url}: not UTF-8"))?;
        parse(id, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_records() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            txt_id(&r(&["v=STSv1; id=20160831085700Z;"])).as_deref(),
            Some("20160831085700Z")
        );
        assert_eq!(
            txt_id(&r(&["v=spf1 -all", "v=STSv1;id=abc"])).as_deref(),
            Some("abc")
        );
        assert_eq!(txt_id(&r(&["v=STSv1; id=a", "v=STSv1; id=b"])), None);
        assert_eq!(txt_id(&r(&["v=STSv1; id=not-alnum"])), None);
        assert_eq!(txt_id(&r(&["v=STSv1;"])), None);
        assert_eq!(txt_id(&r(&[])), None);
    }

    #[test]
    fn policies() {
        let p = parse(
            "x",
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n\
             max_age: 86400\r\nextension: ignored\r\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, Duration::from_secs(86400));
        assert!(p.allows("mail.example.com"));
        assert!(p.allows("MAIL.example.com."));
        assert!(p.allows("mx1.example.net"));
        assert!(!p.allows("example.net"), "a wildcard needs a label");
        assert!(!p.allows("a.b.example.net"), "a wildcard is one label");
        assert!(!p.allows("evil.example.com"));
        let huge = parse(
            "x",
            "version: STSv1\nmode: testing\nmx: a.b\nmax_age: 99999999999\n",
        );
        assert_eq!(huge.unwrap().max_age, Duration::from_secs(MAX_AGE));
        assert!(parse("x", "mode: enforce\nmx: a\nmax_age: 1\n").is_err());
        assert!(parse("x", "version: STSv1\nmode: enforce\nmax_age: 1\n").is_err());
        assert!(parse("x", "version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n").is_err());
        assert!(parse("x", "version: STSv1\nmode: none\nmax_age: 1\n").is_ok());
    }
}
