//! `GET /.well-known/mta-sts.txt` on `mta-sts.DOMAIN` (RFC 8461 §3.2): the policy of a local
//! domain, for senders deciding whether to require TLS to us. Reached over HTTPS through
//! whatever terminates TLS for that name (or this listener once it serves HTTPS).

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::problem::Problem;

pub async fn policy(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    // The name without a port, lowercased.
    let host = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let domain = host
        .to_ascii_lowercase()
        .strip_prefix("mta-sts.")
        .map(str::to_string);
    let local = match &domain {
        Some(d) => s.core.domain_is_local(d).await?,
        None => false,
    };
    if !local {
        return Err(mailroom_core::Error::NotFound("MTA-STS policy".into()).into());
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain")],
        mailroom_core::dns::mta_sts_policy(&s.config.hostname),
    )
        .into_response())
}
