//! The trace fields a final-delivery MTA adds (RFC 5321 §4.4): Return-Path and Received.

use super::session::{Session, Transaction};

pub(super) fn headers(s: &Session, tx: &Transaction, id: &str) -> Vec<u8> {
    let helo = s
        .helo
        .as_ref()
        .map(|h| sanitize(&h.name))
        .unwrap_or_default();
    // RFC 3848 / RFC 6531 §3.7.3: S for TLS, A for an authenticated client.
    let base = match (tx.smtputf8, s.helo.as_ref().is_some_and(|h| h.extended)) {
        (true, _) => "UTF8SMTP",
        (false, true) => "ESMTP",
        (false, false) => "SMTP",
    };
    let with = format!(
        "{base}{}{}",
        if s.tls { "S" } else { "" },
        if s.user.is_some() { "A" } else { "" }
    );
    // Name the recipient only when there is one: listing them all would disclose Bcc.
    let rcpt = match tx.rcpts.as_slice() {
        [one] => format!("\r\n\tfor <{}>", sanitize(one)),
        _ => String::new(),
    };
    let date = chrono::Utc::now().to_rfc2822();
    format!(
        "Return-Path: <{}>\r\nReceived: from {helo} ({ip})\r\n\tby {host} (mailroom) with {with} id {id}{rcpt};\r\n\t{date}\r\n",
        sanitize(&tx.from),
        ip = s.peer.ip(),
        host = s.shared.config.hostname,
    )
    .into_bytes()
}

/// Keeps client-supplied text from breaking the header: no controls, no angle brackets.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && *c != '<' && *c != '>')
        .take(255)
        .collect()
}
