//! The CA's HTTPS client and our account with it. The account's credentials (its id and
//! private key) are kept in `acme/account.json`, owner-only and never logged, and reused for
//! every order from the same directory; a new directory (say staging → production) gets a
//! new account. Creating one agrees to the CA's terms of service, as configuring
//! `[tls.acme]` says.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{Account, AccountBuilder, AccountCredentials, BodyWrapper, NewAccount};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use super::files::{self, Files};
use crate::config::Acme;

type Http = HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>;

/// How long connecting to the CA may take (each request as a whole is bounded by the
/// renewal attempt's deadline).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What ordering needs: the configuration, where files go, and the HTTPS client.
pub struct Client {
    pub config: Acme,
    pub files: Files,
    http: Http,
}

/// `account.json`: the credentials and what they were made for.
#[derive(Serialize, Deserialize)]
struct Stored {
    directory: String,
    contact: Vec<String>,
    /// instant-acme's `AccountCredentials`, kept as JSON: the type is neither `Clone` nor
    /// inspectable.
    credentials: serde_json::Value,
}

impl Client {
    /// Fails, naming `tls.acme.ca_cert`, when that file does not load: a start-up error.
    pub fn new(config: &Acme, data_dir: &Path) -> Result<Client> {
        let extra_roots = match &config.ca_cert {
            Some(path) => read_roots(path)?,
            None => Vec::new(),
        };
        // The system's roots (plus the extra one), verified with aws-lc-rs like every other
        // TLS client of ours.
        let tls = mailroom_smtp::outbound::verified_tls(extra_roots).map_err(anyhow::Error::msg)?;
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(Client {
            config: config.clone(),
            files: Files::new(data_dir),
            http: HyperClient::builder(TokioExecutor::new()).build(https),
        })
    }

    fn builder(&self) -> AccountBuilder {
        Account::builder_with_http(Box::new(self.http.clone()))
    }

    /// The stored account for the configured directory, or a new one (stored at once).
    pub async fn account(&self) -> Result<Account> {
        let c = &self.config;
        let contact: Vec<&str> = c.contact.iter().map(String::as_str).collect();
        let path = self.files.account.clone();
        let stored = tokio::task::spawn_blocking(move || read_stored(&path)).await??;
        if let Some(s) = stored.filter(|s| s.directory == c.directory) {
            let creds: AccountCredentials = serde_json::from_value(s.credentials.clone())
                .context("acme: account.json holds no account credentials")?;
            let account = self
                .builder()
                .from_credentials(creds)
                .await
                .with_context(|| format!("acme: directory {}", c.directory))?;
            if s.contact != c.contact {
                account
                    .update_contacts(&contact)
                    .await
                    .context("acme: updating the account's contact")?;
                self.save(Stored {
                    contact: c.contact.clone(),
                    ..s
                })
                .await?;
                tracing::info!(contact = ?c.contact, "acme: account contact updated");
            }
            return Ok(account);
        }
        let (account, creds) = self
            .builder()
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                c.directory.clone(),
                None,
            )
            .await
            .with_context(|| format!("acme: creating an account at {}", c.directory))?;
        self.save(Stored {
            directory: c.directory.clone(),
            contact: c.contact.clone(),
            credentials: serde_json::to_value(&creds)?,
        })
        .await?;
        tracing::info!(account = account.id(), directory = %c.directory, "acme: account created");
        Ok(account)
    }

    /// Sets the stored account aside (the CA no longer knows it); the next order makes a
    /// new one.
    pub async fn forget_account(&self) {
        let aside = self.files.account.with_extension("json.forgotten");
        if tokio::fs::rename(&self.files.account, &aside).await.is_ok() {
            tracing::warn!(
                kept = %aside.display(),
                "acme: the CA does not know the stored account; a new one will be created"
            );
        }
    }

    async fn save(&self, stored: Stored) -> Result<()> {
        let files = self.files.clone();
        let json = serde_json::to_vec_pretty(&stored)?;
        tokio::task::spawn_blocking(move || {
            files.create_dir()?;
            files::write(&files.account, &json, true)
        })
        .await?
    }
}

/// The stored account, if any. One that does not parse is set aside, not fatal: a new
/// account is as good.
fn read_stored(path: &Path) -> Result<Option<Stored>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    match serde_json::from_slice::<Stored>(&bytes) {
        Ok(s) => Ok(Some(s)),
        Err(e) => {
            let aside = path.with_extension("json.unreadable");
            std::fs::rename(path, &aside)
                .with_context(|| format!("cannot rename {}", path.display()))?;
            // Only the parser's position, never the contents: they hold the key.
            tracing::warn!(
                line = e.line(),
                kept = %aside.display(),
                "acme: account.json does not parse; a new account will be created"
            );
            Ok(None)
        }
    }
}

fn read_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let roots = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "tls.acme.ca_cert: cannot read certificates from {}",
                path.display()
            )
        })?;
    if roots.is_empty() {
        bail!("tls.acme.ca_cert: no certificate in {}", path.display());
    }
    Ok(roots)
}
