//! The trace fields (RFC 5321 §4.4): Received, which every hop adds, and Return-Path, which
//! only final delivery adds (so submission, which relays, adds Received alone).

use super::session::{Session, Transaction};

/// Return-Path and Received, for a message delivered here.
pub(super) fn headers(s: &Session, tx: &Transaction, id: &str) -> Vec<u8> {
    let mut out = format!("Return-Path: <{}>\r\n", sanitize(&tx.from)).into_bytes();
    out.extend_from_slice(&received(s, tx, id));
    out
}

/// The Received field for this hop.
pub(super) fn received(s: &Session, tx: &Transaction, id: &str) -> Vec<u8> {
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
        "Received: from {helo} ({ip})\r\n\tby {host} (mailroom) with {with} id {id}{rcpt};\r\n\t{date}\r\n",
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
