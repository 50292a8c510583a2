//! The ACME task: look at the stored certificate at start-up and then every 12 hours (or
//! sooner, when it falls due), and order a new one when `due.rs` says so. A failed attempt
//! is logged and tried again after 5 minutes, then 10, 20, … up to 12 hours, which stays
//! within Let's Encrypt's limit of 5 failed validations per name and hour.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use mailroom_api::acme_challenge::AcmeChallenges;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::account::Client;
use super::due::{self, Due, Record};

/// The longest wait between two looks at the certificate.
const CHECK_EVERY: Duration = Duration::from_secs(12 * 3600);
/// The first wait after a failure; doubled after each further one, up to `CHECK_EVERY`.
const FIRST_RETRY: Duration = Duration::from_secs(5 * 60);
/// Deadline of one attempt, every request to the CA included.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(5 * 60);

/// Runs until `stop` turns true. The certificate it writes is picked up by `tls.rs`.
pub fn spawn(
    client: Client,
    answers: AcmeChallenges,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let client = Arc::new(client);
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            let attempt = tokio::time::timeout(ATTEMPT_LIMIT, renew_if_due(&client, &answers));
            let outcome = tokio::select! {
                r = attempt => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            let wait = match outcome.unwrap_or_else(|_| Err(anyhow::anyhow!("acme: timed out"))) {
                Ok(renew_at) => {
                    failures = 0;
                    let until = renew_at
                        .duration_since(SystemTime::now())
                        .unwrap_or_default();
                    until.clamp(Duration::from_secs(60), CHECK_EVERY)
                }
                Err(e) => {
                    failures += 1;
                    let wait = FIRST_RETRY
                        .saturating_mul(1 << (failures - 1).min(16))
                        .min(CHECK_EVERY);
                    if is_unknown_account(&e) {
                        client.forget_account().await;
                    }
                    tracing::warn!(
                        error = format!("{e:#}"),
                        failures,
                        retry_in = %humantime::format_duration(wait),
                        "acme: no new certificate"
                    );
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })
}

/// Orders a certificate if one is due; returns when the next is due.
async fn renew_if_due(client: &Client, answers: &AcmeChallenges) -> Result<SystemTime> {
    let c = &client.config;
    let why = match look(client).await? {
        Due::Later { renew_at, .. } => {
            tracing::debug!(
                renew_at = %humantime::format_rfc3339_seconds(renew_at),
                "acme: certificate current"
            );
            return Ok(renew_at);
        }
        Due::Now(why) => why,
    };
    tracing::info!(domains = ?c.domains, directory = %c.directory, reason = %why, "acme: ordering a certificate");
    let account = client.account().await?;
    let issued = super::order::order(&account, &c.domains, answers).await?;
    let files = client.files.clone();
    let record = serde_json::to_vec_pretty(&Record {
        directory: c.directory.clone(),
    })?;
    tokio::task::spawn_blocking(move || files.store(&issued.chain_pem, &issued.key_pem, &record))
        .await?
        .context("acme: storing the certificate")?;
    match look(client).await? {
        Due::Later {
            renew_at,
            not_after,
        } => {
            tracing::info!(
                domains = ?c.domains,
                cert = %client.files.cert.display(),
                not_after = %humantime::format_rfc3339_seconds(not_after),
                renew_at = %humantime::format_rfc3339_seconds(renew_at),
                "acme: certificate issued"
            );
            Ok(renew_at)
        }
        // Not retried soon: each order issues a certificate, and a CA limits duplicates (Let's
        // Encrypt: 5 a week).
        Due::Now(why) => {
            tracing::error!(reason = %why, "acme: the new certificate is not usable; next look in 12 h");
            Ok(SystemTime::now() + CHECK_EVERY)
        }
    }
}

async fn look(client: &Client) -> Result<Due> {
    let (files, config) = (client.files.clone(), client.config.clone());
    Ok(tokio::task::spawn_blocking(move || due::check(&files, &config, SystemTime::now())).await?)
}

/// RFC 8555 §7.3.1: the CA answers accountDoesNotExist for an account it has forgotten
/// (a test CA restarted, an account deactivated elsewhere).
fn is_unknown_account(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<instant_acme::Error>()
            .is_some_and(|e| match e {
                instant_acme::Error::Api(p) => p
                    .r#type
                    .as_deref()
                    .is_some_and(|t| t.ends_with(":accountDoesNotExist")),
                _ => false,
            })
    })
}
