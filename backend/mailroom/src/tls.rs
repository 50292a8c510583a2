//! One rustls configuration for the listeners: the certificate and key from `[tls] cert` and
//! `[tls] key` (PEM files); with `[tls.acme]`, the certificate the ACME task keeps in
//! `<data_dir>/acme/`; or, when neither is configured, a self-signed certificate for the
//! host name generated into the data directory on first run, so a fresh install is
//! encrypted at once. ACME starts with that self-signed one too, until its first certificate
//! is issued, so the listeners never wait for the CA. aws-lc-rs is the only crypto provider;
//! TLS 1.2 and 1.3 only.
//!
//! The files are checked every few seconds and, when they change (a renewal by certbot or
//! similar, or by the ACME task), read again: new handshakes get the new certificate,
//! connections in progress keep theirs, and files that do not load (half-written, key and
//! certificate not matching) are logged and the previous certificate stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::Config;

/// The server configuration and where its certificate came from.
pub struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    /// The certificate file served now.
    pub cert: PathBuf,
    pub origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `[tls] cert` and `key`.
    Files,
    /// Made by us, none being configured.
    SelfSigned,
    /// `[tls.acme]`; `issued`: false while the self-signed one stands in.
    Acme { issued: bool },
}

pub fn load(config: &Config) -> Result<Tls> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // The files watched for changes, and what is served until they change.
    let (watched, current, cert, origin) = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => {
            let pair = read_pair(c, k, &provider)?;
            ((c.clone(), k.clone()), pair, c.clone(), Origin::Files)
        }
        (None, None) => match &config.acme {
            Some(_) => {
                let acme = crate::acme::Files::new(&config.data_dir);
                let (c, k) = (acme.cert, acme.key);
                match read_pair(&c, &k, &provider) {
                    Ok(pair) => ((c.clone(), k), pair, c, Origin::Acme { issued: true }),
                    Err(e) => {
                        if c.exists() {
                            tracing::warn!(
                                error = format!("{e:#}"),
                                "tls: the ACME certificate does not load; the self-signed one stands in until a new one is issued"
                            );
                        }
                        let (sc, sk) = self_signed(config)?;
                        let pair = read_pair(&sc, &sk, &provider)?;
                        ((c, k), pair, sc, Origin::Acme { issued: false })
                    }
                }
            }
            None => {
                let (c, k) = self_signed(config)?;
                let pair = read_pair(&c, &k, &provider)?;
                ((c.clone(), k), pair, c, Origin::SelfSigned)
            }
        },
        _ => bail!("tls: give both cert and key, or neither (a self-signed one is made)"),
    };
    let resolver = Arc::new(Reloading {
        current: RwLock::new(Arc::new(current)),
    });
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("tls: protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    let (c, k) = watched;
    tokio::spawn(async move {
        let mut seen = stamps(&c, &k);
        loop {
            tokio::time::sleep(RELOAD_CHECK).await;
            let now = stamps(&c, &k);
            if now == seen {
                continue;
            }
            seen = now;
            match read_pair(&c, &k, &provider) {
                Ok(pair) => {
                    *resolver.current.write().expect("tls lock") = Arc::new(pair);
                    tracing::info!(cert = %c.display(), "tls: certificate reloaded");
                }
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "tls: changed files not loaded; keeping the previous certificate"
                    )
                }
            }
        }
    });
    Ok(Tls {
        config: Arc::new(server),
        cert,
        origin,
    })
}

/// The generated certificate and key in `<data_dir>/tls/`, made on first use.
fn self_signed(config: &Config) -> Result<(PathBuf, PathBuf)> {
    let dir = config.data_dir.join("tls");
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !c.exists() || !k.exists() {
        generate(&dir, &c, &k, &config.smtp.hostname)?;
    }
    Ok((c, k))
}

/// How often the certificate files are checked for a change.
const RELOAD_CHECK: Duration = Duration::from_secs(5);

/// The certificate every new handshake gets; replaced when the files change.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("tls lock").clone())
    }
}

/// The files' modification times and sizes: a change in either means "read again".
fn stamps(cert: &Path, key: &Path) -> [Option<(SystemTime, u64)>; 2] {
    [cert, key].map(|p| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
}

/// The chain and key as rustls serves them; fails when the key does not match.
pub(crate) fn read_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("tls.cert: cannot read certificates from {}", cert.display()))?;
    if certs.is_empty() {
        bail!("tls.cert: no certificate in {}", cert.display());
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls.key: cannot read a private key from {}", key.display()))?;
    CertifiedKey::from_der(certs, private, provider)
        .context("tls: the key does not match the certificate")
}

fn generate(dir: &Path, cert: &Path, key: &Path, hostname: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let made = rcgen::generate_simple_self_signed(vec![hostname.to_string()])
        .context("cannot generate a self-signed certificate")?;
    // The key first, owner-only, so a certificate never exists without its key.
    write_private(key, made.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert, made.cert.pem())
        .with_context(|| format!("cannot write {}", cert.display()))?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
