//! Configuration: one TOML file plus `MAILROOM_…` environment overrides (figment).
//!
//! [`RawConfig`] is what the user wrote, every key optional and unknown keys refused;
//! [`Config::resolve`] validates it once, naming the bad key, and derives defaults, so the
//! rest of the program sees plain values. Nested keys in the environment use `__`:
//! `MAILROOM_DATABASE__URL`, `MAILROOM_LISTEN__SMTP`, `MAILROOM_SMTP__MAX_MESSAGE_SIZE`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use mailroom_api::{HttpConfig, Registration};
use mailroom_core::{BlobConfig, BlobSync, CoreConfig};
use mailroom_smtp::SmtpConfig;
use serde::Deserialize;

/// Default listen addresses, used only when there is no configuration file at all.
pub const DEFAULT_SMTP: &str = "127.0.0.1:2525";
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
pub const DEFAULT_SUBMISSION: &str = "127.0.0.1:5587";
pub const DEFAULT_SUBMISSIONS: &str = "127.0.0.1:5465";
pub const DEFAULT_IMAP: &str = "127.0.0.1:1143";
pub const DEFAULT_IMAPS: &str = "127.0.0.1:1993";

/// The top-level keys, as the environment overlay spells them (lowercased by figment).
const ROOT_KEYS: &[&str] = &[
    "hostname",
    "data_dir",
    "database",
    "blobs",
    "listen",
    "smtp",
    "imap",
    "submission",
    "delivery",
    "http",
    "tls",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub hostname: Option<String>,
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub blobs: RawBlobs,
    #[serde(default)]
    pub listen: RawListen,
    #[serde(default)]
    pub smtp: RawSmtp,
    #[serde(default)]
    pub imap: RawImap,
    #[serde(default)]
    pub submission: RawSubmission,
    #[serde(default)]
    pub delivery: RawDelivery,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub tls: RawTls,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelivery {
    /// Destinations served at once.
    pub concurrency: Option<usize>,
    /// humantime durations: the waits after each failed attempt, the last one repeating.
    pub retry_intervals: Option<Vec<String>>,
    pub give_up_after: Option<String>,
    pub delay_notice_after: Option<String>,
    pub connect_timeout: Option<String>,
    pub command_timeout: Option<String>,
    /// Every remote domain's mail through this "host:port" instead of by MX.
    pub relay: Option<String>,
    /// The relay's login (both or neither).
    pub relay_username: Option<String>,
    pub relay_password: Option<String>,
    /// Per-domain "host:port", before the relay and MX.
    pub routes: Option<std::collections::HashMap<String, String>>,
}

/// The validated `[delivery]` section (the worker's TLS and DNS are added at start).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub concurrency: usize,
    pub retry_intervals: Vec<Duration>,
    pub give_up_after: Duration,
    pub delay_notice_after: Duration,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub relay: Option<String>,
    pub relay_auth: Option<RelayAuth>,
    pub routes: std::collections::HashMap<String, String>,
}

/// The relay's user name and password; the password never shows in debug output.
#[derive(Clone)]
pub struct RelayAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RelayAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RelayAuth({:?}, password hidden)", self.username)
    }
}

fn delivery(raw: RawDelivery) -> Result<Delivery> {
    let dur = |key: &str, v: Option<&String>, default: &str| duration("delivery", key, v, default);
    let retry_intervals = match &raw.retry_intervals {
        Some(v) if v.is_empty() => bail!("delivery.retry_intervals: give at least one duration"),
        Some(v) => v
            .iter()
            .map(|s| dur("retry_intervals", Some(s), ""))
            .collect::<Result<Vec<_>>>()?,
        None => ["1m", "5m", "15m", "1h", "2h", "4h"]
            .iter()
            .map(|s| humantime::parse_duration(s).expect("valid default"))
            .collect(),
    };
    // Validated by the parser the delivery worker uses, so what passes here routes there.
    let check_target = |key: String, t: &str| -> Result<()> {
        match mailroom_smtp::outbound::route::split_host_port(t) {
            Some((h, _)) if !h.is_empty() => Ok(()),
            _ => bail!("{key}: {t:?} is not host:port"),
        }
    };
    let mut routes = std::collections::HashMap::new();
    for (domain, target) in raw.routes.unwrap_or_default() {
        check_target(format!("delivery.routes.{domain}"), &target)?;
        routes.insert(domain.to_ascii_lowercase(), target);
    }
    if let Some(r) = &raw.relay {
        check_target("delivery.relay".into(), r)?;
    }
    let relay_auth = match (raw.relay_username, raw.relay_password) {
        (Some(username), Some(password)) if raw.relay.is_some() => {
            Some(RelayAuth { username, password })
        }
        (None, None) => None,
        (Some(_), Some(_)) => bail!("delivery.relay_username: there is no delivery.relay"),
        _ => bail!("delivery.relay_username and delivery.relay_password go together"),
    };
    let concurrency = raw.concurrency.unwrap_or(16);
    if concurrency == 0 {
        bail!("delivery.concurrency must be at least 1");
    }
    Ok(Delivery {
        concurrency,
        retry_intervals,
        give_up_after: dur("give_up_after", raw.give_up_after.as_ref(), "5d")?,
        delay_notice_after: dur("delay_notice_after", raw.delay_notice_after.as_ref(), "4h")?,
        connect_timeout: dur("connect_timeout", raw.connect_timeout.as_ref(), "30s")?,
        command_timeout: dur("command_timeout", raw.command_timeout.as_ref(), "5m")?,
        relay: raw.relay,
        relay_auth,
        routes,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubmission {
    /// Messages one user may send per hour, over any protocol (0: no limit).
    pub max_messages_per_hour: Option<u32>,
}

/// Default for `[submission] max_messages_per_hour`: generous for a person, a brake on a
/// stolen password.
const DEFAULT_MESSAGES_PER_HOUR: u32 = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// PEM certificate chain; with `key`. Neither: a self-signed one in the data dir.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Certificates from an ACME CA instead of files (`[tls.acme]`).
    pub acme: Option<RawAcme>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAcme {
    /// The CA's directory URL; required.
    pub directory: Option<String>,
    /// `mailto:` URLs the CA may write to (expiry warnings, policy changes).
    pub contact: Option<Vec<String>>,
    /// Names the certificate is for; default: `hostname`.
    pub domains: Option<Vec<String>>,
    /// PEM file with an extra root for the directory's HTTPS (a test CA such as pebble's).
    pub ca_cert: Option<PathBuf>,
    /// humantime: renew when less than this is left ("30d").
    pub renew_before: Option<String>,
}

/// The validated `[tls.acme]` section.
#[derive(Debug, Clone)]
pub struct Acme {
    pub directory: String,
    pub contact: Vec<String>,
    /// Lowercased, without duplicates, in the order given.
    pub domains: Vec<String>,
    pub ca_cert: Option<PathBuf>,
    pub renew_before: Duration,
}

/// Let's Encrypt's production directory, named in messages.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

fn acme(raw: RawAcme, hostname: &str) -> Result<Acme> {
    let directory = raw.directory.ok_or_else(|| {
        anyhow!("tls.acme.directory: required to use ACME (Let's Encrypt: {LETS_ENCRYPT:?})")
    })?;
    // RFC 8555 §6.1: ACME runs over HTTPS only.
    let host = directory.strip_prefix("https://").unwrap_or("");
    if host.is_empty() || host.starts_with('/') || directory.contains(char::is_whitespace) {
        bail!("tls.acme.directory: {directory:?} is not an https:// URL");
    }
    let contact = raw.contact.unwrap_or_default();
    for c in &contact {
        let ok = c
            .strip_prefix("mailto:")
            .and_then(|a| a.split_once('@'))
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
            && !c.contains(char::is_whitespace);
        if !ok {
            bail!("tls.acme.contact: {c:?} is not a mailto: URL (\"mailto:admin@example.com\")");
        }
    }
    let mut domains: Vec<String> = Vec::new();
    for d in raw.domains.unwrap_or_else(|| vec![hostname.to_string()]) {
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        if d.starts_with("*.") {
            bail!("tls.acme.domains: {d:?}: HTTP-01 cannot validate wildcard names");
        }
        if !is_dns_name(&d) {
            bail!(
                "tls.acme.domains: {d:?} is not a fully qualified domain name (the default is `hostname`)"
            );
        }
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    if domains.is_empty() {
        bail!("tls.acme.domains: give at least one name");
    }
    let renew_before = duration("tls.acme", "renew_before", raw.renew_before.as_ref(), "30d")?;
    if renew_before.is_zero() {
        bail!("tls.acme.renew_before: must be more than 0s");
    }
    Ok(Acme {
        directory,
        contact,
        domains,
        ca_cert: raw.ca_cert,
        renew_before,
    })
}

/// A lowercase DNS name of two labels or more (letters, digits, hyphens), not an address.
fn is_dns_name(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && d.parse::<std::net::IpAddr>().is_err()
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// "closed" (default), "open" or "invite".
    pub registration: Option<String>,
    pub cors_origins: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBlobs {
    pub url: Option<String>,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: Option<bool>,
    /// "batch" (default) or "file": how local blobs are synced.
    pub sync: Option<String>,
    /// How often `serve` collects unused blobs ("1h"; "0s": never).
    pub gc_interval: Option<String>,
    /// How long a blob must be old, and then unused, before it is deleted ("1h").
    pub gc_grace: Option<String>,
}

/// Garbage collection of blobs, from `[blobs]`.
#[derive(Clone, Copy, Debug)]
pub struct Gc {
    /// `None`: `serve` never collects (`mailroom blobs gc` still does).
    pub interval: Option<Duration>,
    pub grace: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListen {
    pub smtp: Option<String>,
    /// Message submission with STARTTLS (port 587's role, RFC 6409).
    pub submission: Option<String>,
    /// Message submission over implicit TLS (port 465's role, RFC 8314).
    pub submissions: Option<String>,
    /// IMAP with STARTTLS (port 143's role).
    pub imap: Option<String>,
    /// IMAP over implicit TLS (port 993's role).
    pub imaps: Option<String>,
    pub http: Option<String>,
    /// HTTP over implicit TLS (443's role): JMAP, the API and the webmail.
    pub https: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImap {
    /// Connections from loopback addresses may log in without TLS (default true, as Dovecot).
    pub loopback_is_secure: Option<bool>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    /// Seconds a session that has not logged in may stay silent.
    pub login_timeout_secs: Option<u64>,
    /// Minutes a logged-in session may stay silent (at least 30, RFC 9051 §5.4).
    pub idle_timeout_mins: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub max_message_size: Option<usize>,
    pub max_recipients: Option<usize>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    pub command_timeout_secs: Option<u64>,
    pub data_timeout_secs: Option<u64>,
    pub max_errors: Option<u32>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub core: CoreConfig,
    /// `None`: the listener is off.
    pub listen_smtp: Option<SocketAddr>,
    pub listen_http: Option<SocketAddr>,
    pub listen_https: Option<SocketAddr>,
    pub listen_submission: Option<SocketAddr>,
    pub listen_submissions: Option<SocketAddr>,
    pub listen_imap: Option<SocketAddr>,
    pub listen_imaps: Option<SocketAddr>,
    pub smtp: SmtpConfig,
    /// Without TLS: `serve` adds the listeners' TLS configuration.
    pub imap: mailroom_imap::ImapConfig,
    pub delivery: Delivery,
    pub gc: Gc,
    pub http: HttpConfig,
    /// `[tls] cert` and `[tls] key`.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `[tls.acme]`: certificates from an ACME CA (never together with `tls_cert`).
    pub acme: Option<Acme>,
    /// Where the configuration came from, for the start-up message.
    pub file: Option<PathBuf>,
}

impl Config {
    /// Reads `file` (if any) and the environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut fig = Figment::new();
        if let Some(f) = file {
            if !f.exists() {
                bail!("configuration file {} does not exist", f.display());
            }
            fig = fig.merge(Toml::file_exact(f));
        }
        // Only variables that name a configuration key: MAILROOM_LOG, MAILROOM_CONFIG and other
        // tools' MAILROOM_* variables are not configuration. Inside a section, unknown keys
        // are still refused.
        let env = Env::prefixed("MAILROOM_")
            .filter(|k| {
                let root = k.as_str().to_ascii_lowercase();
                ROOT_KEYS.contains(&root.split("__").next().unwrap_or(""))
            })
            .split("__");
        fig = fig.merge(env);
        let raw: RawConfig = fig.extract().map_err(|e| anyhow!("configuration: {e}"))?;
        Config::resolve(raw, file)
    }

    pub fn resolve(raw: RawConfig, file: Option<&Path>) -> Result<Config> {
        let data_dir = raw
            .data_dir
            .unwrap_or_else(|| PathBuf::from("./mailroom-data"));
        let data_dir = absolute(&data_dir)?;
        let database_url = match raw.database.url {
            Some(u) => u,
            None => format!("sqlite://{}?mode=rwc", data_dir.join("mail.db").display()),
        };
        let blobs = blob_config(&raw.blobs, &data_dir)?;
        let hostname = raw.hostname.unwrap_or_else(default_hostname);
        if hostname.is_empty()
            || hostname
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            bail!("hostname: {hostname:?} is not a host name");
        }
        // No file at all: every implemented listener on its loopback default.
        let listener =
            |key: &str, value: Option<&str>, default: &'static str| -> Result<Option<SocketAddr>> {
                value
                    .or(file.is_none().then_some(default))
                    .map(|a| {
                        a.parse::<SocketAddr>()
                            .with_context(|| format!("{key}: {a:?} is not an address:port"))
                    })
                    .transpose()
            };
        let listen_smtp = listener("listen.smtp", raw.listen.smtp.as_deref(), DEFAULT_SMTP)?;
        let listen_http = listener("listen.http", raw.listen.http.as_deref(), DEFAULT_HTTP)?;
        // Off unless configured, also without a file: a browser warns about the generated
        // certificate, and plain HTTP on loopback is what a first try needs.
        let listen_https = raw
            .listen
            .https
            .as_deref()
            .map(|a| {
                a.parse::<SocketAddr>()
                    .with_context(|| format!("listen.https: {a:?} is not an address:port"))
            })
            .transpose()?;
        let listen_submission = listener(
            "listen.submission",
            raw.listen.submission.as_deref(),
            DEFAULT_SUBMISSION,
        )?;
        let listen_submissions = listener(
            "listen.submissions",
            raw.listen.submissions.as_deref(),
            DEFAULT_SUBMISSIONS,
        )?;
        let listen_imap = listener("listen.imap", raw.listen.imap.as_deref(), DEFAULT_IMAP)?;
        let listen_imaps = listener("listen.imaps", raw.listen.imaps.as_deref(), DEFAULT_IMAPS)?;
        let di = mailroom_imap::ImapConfig::default();
        let i = raw.imap;
        let imap = mailroom_imap::ImapConfig {
            loopback_is_secure: i.loopback_is_secure.unwrap_or(di.loopback_is_secure),
            max_connections: i.max_connections.unwrap_or(di.max_connections),
            max_connections_per_ip: i
                .max_connections_per_ip
                .unwrap_or(di.max_connections_per_ip),
            login_timeout: i
                .login_timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(di.login_timeout),
            idle_timeout: match i.idle_timeout_mins {
                Some(m) if m < 30 => bail!("imap.idle_timeout_mins: at least 30 (RFC 9051 §5.4)"),
                Some(m) => Duration::from_secs(m * 60),
                None => di.idle_timeout,
            },
            ..di
        };
        let d = SmtpConfig::default();
        let s = raw.smtp;
        let smtp = SmtpConfig {
            hostname: hostname.clone(),
            max_message_size: s.max_message_size.unwrap_or(d.max_message_size),
            max_recipients: s.max_recipients.unwrap_or(d.max_recipients),
            max_connections: s.max_connections.unwrap_or(d.max_connections),
            max_connections_per_ip: s.max_connections_per_ip.unwrap_or(d.max_connections_per_ip),
            command_timeout: s
                .command_timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(d.command_timeout),
            data_timeout: s
                .data_timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(d.data_timeout),
            max_errors: s.max_errors.unwrap_or(d.max_errors),
            tls: None,
        };
        for (key, v) in [
            ("smtp.max_message_size", smtp.max_message_size),
            ("smtp.max_recipients", smtp.max_recipients),
            ("smtp.max_connections", smtp.max_connections),
            ("smtp.max_connections_per_ip", smtp.max_connections_per_ip),
        ] {
            if v == 0 {
                bail!("{key} must be at least 1");
            }
        }
        let registration = match raw.http.registration.as_deref() {
            None | Some("closed") => Registration::Closed,
            Some("open") => Registration::Open,
            Some("invite") => Registration::Invite,
            Some(other) => {
                bail!("http.registration: {other:?} must be \"closed\", \"open\" or \"invite\"")
            }
        };
        if raw.tls.acme.is_some() {
            if raw.tls.cert.is_some() || raw.tls.key.is_some() {
                bail!(
                    "tls.acme: cannot be combined with tls.cert and tls.key (ACME keeps its certificate in the data directory); remove one"
                );
            }
            // HTTP-01 (RFC 8555 §8.3): the CA fetches the answer over plain HTTP.
            if listen_http.is_none() {
                bail!(
                    "tls.acme: needs [listen] http for the CA's HTTP-01 challenges (in production reachable from the internet on port 80)"
                );
            }
        }
        let acme = raw.tls.acme.map(|a| acme(a, &hostname)).transpose()?;
        let cors_origins = raw.http.cors_origins.unwrap_or_default();
        for o in &cors_origins {
            let ok = (o.starts_with("https://") || o.starts_with("http://"))
                && !o
                    .trim_end_matches('/')
                    .contains(|c: char| c.is_whitespace())
                && o.matches('/').count() == 2;
            if !ok {
                bail!("http.cors_origins: {o:?} is not an origin (scheme://host[:port])");
            }
        }
        Ok(Config {
            http: HttpConfig {
                hostname: hostname.clone(),
                registration,
                cors_origins,
                // `serve` fills in the ports it bound and the ACME task's answers.
                mail_ports: Default::default(),
                acme_challenges: Default::default(),
            },
            data_dir,
            core: CoreConfig {
                database_url,
                blobs,
                max_messages_per_hour: raw
                    .submission
                    .max_messages_per_hour
                    .unwrap_or(DEFAULT_MESSAGES_PER_HOUR),
                remote_delivery: true,
            },
            listen_smtp,
            listen_http,
            listen_https,
            listen_submission,
            listen_submissions,
            listen_imap,
            listen_imaps,
            smtp,
            imap,
            delivery: delivery(raw.delivery)?,
            gc: gc(&raw.blobs)?,
            tls_cert: raw.tls.cert,
            tls_key: raw.tls.key,
            acme,
            file: file.map(Path::to_path_buf),
        })
    }
}

fn gc(raw: &RawBlobs) -> Result<Gc> {
    let dur = |key: &str, v: Option<&String>, default: &str| duration("blobs", key, v, default);
    let interval = dur("gc_interval", raw.gc_interval.as_ref(), "1h")?;
    Ok(Gc {
        interval: (!interval.is_zero()).then_some(interval),
        grace: dur("gc_grace", raw.gc_grace.as_ref(), "1h")?,
    })
}

/// `[section] key`, a humantime duration, or `default` when unset.
fn duration(section: &str, key: &str, v: Option<&String>, default: &str) -> Result<Duration> {
    let s = v.map_or(default, String::as_str);
    humantime::parse_duration(s)
        .with_context(|| format!("{section}.{key}: {s:?} is not a duration (e.g. \"15m\")"))
}

fn blob_config(raw: &RawBlobs, data_dir: &Path) -> Result<BlobConfig> {
    let sync = match raw.sync.as_deref() {
        None | Some("batch") => BlobSync::Batch,
        Some("file") => BlobSync::File,
        Some(other) => bail!("blobs.sync: {other:?} must be \"batch\" or \"file\""),
    };
    let Some(url) = raw.url.as_deref() else {
        return Ok(BlobConfig::Local {
            root: data_dir.join("blobs"),
            sync,
        });
    };
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            bail!("blobs.url: {url:?} must be an absolute file:///path");
        }
        return Ok(BlobConfig::Local {
            root: PathBuf::from(path),
            sync,
        });
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("blobs.url: {url:?} names no bucket (s3://bucket/prefix)");
        }
        return Ok(BlobConfig::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            region: raw.region.clone(),
            endpoint: raw.endpoint.clone(),
            access_key_id: raw.access_key_id.clone(),
            secret_access_key: raw.secret_access_key.clone(),
            allow_http: raw.allow_http.unwrap_or(false),
        });
    }
    bail!("blobs.url: {url:?} must start with file:// or s3://")
}

/// `p` made absolute, without `.` components (messages show `/srv/mailroom-data`, not
/// `/srv/./mailroom-data`).
fn absolute(p: &Path) -> Result<PathBuf> {
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .context("current directory")?
            .join(p)
    };
    Ok(full
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect())
}

fn default_hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_default_listeners_and_local_storage() {
        let c = Config::resolve(RawConfig::default(), None).unwrap();
        assert_eq!(c.listen_smtp, Some(DEFAULT_SMTP.parse().unwrap()));
        assert_eq!(c.listen_http, Some(DEFAULT_HTTP.parse().unwrap()));
        assert!(c.core.database_url.starts_with("sqlite:///"));
        assert!(matches!(c.core.blobs, BlobConfig::Local { .. }));
    }

    #[test]
    fn a_file_without_the_key_turns_the_listener_off() {
        let c = Config::resolve(RawConfig::default(), Some(Path::new("/x.toml"))).unwrap();
        assert_eq!(c.listen_smtp, None);
    }

    #[test]
    fn bad_values_name_their_key() {
        let raw = RawConfig {
            listen: RawListen {
                smtp: Some("nope".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = Config::resolve(raw, None).unwrap_err().to_string();
        assert!(e.contains("listen.smtp"), "{e}");
        let raw = RawConfig {
            blobs: RawBlobs {
                url: Some("s3:///x".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(
            Config::resolve(raw, None)
                .unwrap_err()
                .to_string()
                .contains("blobs.url")
        );
    }

    fn from_toml(toml: &str) -> Result<Config> {
        let raw: RawConfig = Figment::from(Toml::string(toml))
            .extract()
            .map_err(|e| anyhow!("{e}"))?;
        Config::resolve(raw, Some(Path::new("/x.toml")))
    }

    #[test]
    fn acme_defaults_to_the_host_name() {
        let c = from_toml(
            "hostname = \"Mail.Example.com\"\n[listen]\nhttp = \"0.0.0.0:80\"\n[tls.acme]\ndirectory = \"https://acme.test/dir\"\n",
        )
        .unwrap();
        let a = c.acme.unwrap();
        assert_eq!(a.domains, ["mail.example.com"]);
        assert_eq!(a.renew_before, Duration::from_secs(30 * 86400));
        assert!(a.contact.is_empty() && a.ca_cert.is_none());
    }

    #[test]
    fn acme_refusals_name_their_key() {
        let http = "hostname = \"mail.example.com\"\n[listen]\nhttp = \"0.0.0.0:80\"\n";
        let dir = "directory = \"https://acme.test/dir\"\n";
        for (toml, key) in [
            (
                format!("{http}[tls]\ncert = \"/c\"\nkey = \"/k\"\n[tls.acme]\n{dir}"),
                "tls.acme: cannot be combined",
            ),
            (format!("[tls.acme]\n{dir}"), "[listen] http"),
            (
                format!("{http}[tls.acme]\ncontact = []\n"),
                "tls.acme.directory",
            ),
            (
                format!("{http}[tls.acme]\ndirectory = \"http://acme.test/dir\"\n"),
                "tls.acme.directory",
            ),
            (
                format!("{http}[tls.acme]\n{dir}contact = [\"admin@example.com\"]\n"),
                "tls.acme.contact",
            ),
            (
                format!("{http}[tls.acme]\n{dir}domains = [\"*.example.com\"]\n"),
                "tls.acme.domains",
            ),
            (
                format!("{http}[tls.acme]\n{dir}domains = [\"localhost\"]\n"),
                "tls.acme.domains",
            ),
            (
                format!("{http}[tls.acme]\n{dir}renew_before = \"soon\"\n"),
                "tls.acme.renew_before",
            ),
            (format!("{http}[tls.acme]\n{dir}typo = 1\n"), "typo"),
        ] {
            let e = format!("{:#}", from_toml(&toml).unwrap_err());
            assert!(e.contains(key), "{toml}: {e}");
        }
    }
}
