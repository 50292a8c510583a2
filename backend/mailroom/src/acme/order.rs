//! One certificate order (RFC 8555 §7.4) with HTTP-01 challenges (§8.3): each pending
//! authorization's key authorization goes into the shared [`AcmeChallenges`] map, which the
//! HTTP router serves, then the CA is told to validate; once the order is ready, a new key
//! and CSR are made (instant-acme with rcgen: ECDSA P-256) and the chain is fetched.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, Order, OrderStatus,
    RetryPolicy,
};
use mailroom_api::acme_challenge::AcmeChallenges;

/// How long the CA may take to validate every name (Let's Encrypt: seconds, from several
/// places at once).
const VALIDATION_WAIT: Duration = Duration::from_secs(120);
/// How long it may take to issue after the CSR.
const ISSUE_WAIT: Duration = Duration::from_secs(120);

/// A new certificate: the PEM chain (leaf first) and its PEM private key.
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

/// Answers placed in the map, taken out again however the order ends (also when the attempt
/// is cancelled by its deadline or by shutdown).
struct Placed<'a> {
    answers: &'a AcmeChallenges,
    tokens: Vec<String>,
}

impl Drop for Placed<'_> {
    fn drop(&mut self) {
        for t in &self.tokens {
            self.answers.remove(t);
        }
    }
}

pub async fn order(
    account: &Account,
    domains: &[String],
    answers: &AcmeChallenges,
) -> Result<Issued> {
    let ids: Vec<Identifier> = domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .context("acme: new order")?;
    let mut placed = Placed {
        answers,
        tokens: Vec::new(),
    };
    {
        let mut authorizations = order.authorizations();
        while let Some(a) = authorizations.next().await {
            let mut a = a.context("acme: authorization")?;
            let name = a.identifier().to_string();
            match a.status {
                AuthorizationStatus::Pending => {}
                // Validated recently for this account: nothing to prove.
                AuthorizationStatus::Valid => continue,
                s => bail!("acme: {name}: the authorization is {s:?}"),
            }
            let mut challenge = a
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| anyhow!("acme: {name}: the CA offers no http-01 challenge"))?;
            let token = challenge.token.clone();
            answers.insert(
                token.clone(),
                challenge.key_authorization().as_str().to_owned(),
            );
            placed.tokens.push(token);
            challenge
                .set_ready()
                .await
                .with_context(|| format!("acme: {name}: http-01 challenge"))?;
            tracing::debug!(
                name,
                "acme: http-01 challenge answered; the CA is validating"
            );
        }
    }
    let ready = order
        .poll_ready(&RetryPolicy::new().timeout(VALIDATION_WAIT))
        .await;
    match ready {
        Ok(OrderStatus::Ready) => {}
        Ok(status) => bail!(
            "acme: the order is {status:?}: {}",
            why_invalid(&mut order)
                .await
                .unwrap_or_else(|| "no reason given".into())
        ),
        // The order's own error usually repeats the challenge's; the latter names the name.
        Err(e) => bail!(
            "acme: validation failed: {}",
            why_invalid(&mut order)
                .await
                .unwrap_or_else(|| e.to_string())
        ),
    }
    drop(placed);
    let key_pem = order
        .finalize()
        .await
        .context("acme: finalizing the order")?;
    let chain_pem = order
        .poll_certificate(&RetryPolicy::new().timeout(ISSUE_WAIT))
        .await
        .context("acme: fetching the certificate")?;
    Ok(Issued { chain_pem, key_pem })
}

/// What the CA said about each failed challenge (e.g. "connection refused" when port 80 does
/// not reach us), for the log.
async fn why_invalid(order: &mut Order) -> Option<String> {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut a)) = authorizations.next().await {
        if a.refresh().await.is_err() {
            continue;
        }
        let name = a.identifier().to_string();
        for c in a.challenges.iter().filter_map(|c| c.error.as_ref()) {
            reasons.push(format!("{name}: {c}"));
        }
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}
