//! One rustls configuration for the listeners: the certificate and key from `[tls] cert` and
//! `[tls] key` (PEM files), or, when none is configured, a self-signed certificate for the
//! host name generated into the data directory on first run, so a fresh install is
//! encrypted at once. aws-lc-rs is the only crypto provider; TLS 1.2 and 1.3 only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// The server configuration and where its certificate came from.
pub struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    pub cert: PathBuf,
    /// Made by us (self-signed), not configured.
    pub generated: bool,
}

pub fn load(config: &Config) -> Result<Tls> {
    let (cert, key, generated) = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone(), false),
        (None, None) => {
            let dir = config.data_dir.join("tls");
            let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
            if !c.exists() || !k.exists() {
                generate(&dir, &c, &k, &config.smtp.hostname)?;
            }
            (c, k, true)
        }
        _ => bail!("tls: give both cert and key, or neither (a self-signed one is made)"),
    };
    let certs = CertificateDer::pem_file_iter(&cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("tls.cert: cannot read certificates from {}", cert.display()))?;
    if certs.is_empty() {
        bail!("tls.cert: no certificate in {}", cert.display());
    }
    let private = PrivateKeyDer::from_pem_file(&key)
        .with_context(|| format!("tls.key: cannot read a private key from {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("tls: protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .context("tls: the key does not match the certificate")?;
    Ok(Tls {
        config: Arc::new(server),
        cert,
        generated,
    })
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
