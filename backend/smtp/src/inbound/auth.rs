//! AUTH (RFC 4954) on the submission listener: SASL PLAIN (RFC 4616) and LOGIN, with or
//! without an initial response. Offered only inside TLS, so a password never crosses the
//! network in the clear; failures count against the client's address and the account in
//! core's limiter, which every protocol shares.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};

use super::session::{Session, State};
use crate::reply;

/// Where a SASL exchange stands: the next line from the client is a response, not a command.
pub(super) enum AuthStep {
    /// PLAIN sent without an initial response: waiting for it.
    Plain,
    /// LOGIN: waiting for the user name, then for the password.
    LoginUser,
    LoginPassword(String),
}

/// The longest SASL response line accepted (RFC 4954 §4 allows 12,288 octets).
pub(super) const MAX_AUTH_LINE: usize = 12_288;

impl Session {
    pub(super) async fn auth(&mut self, mechanism: u64, initial: String) {
        if !self.shared.submission() {
            return self.error(reply::NO_AUTH_ON_MX);
        }
        if !self.tls {
            return self.error(reply::ENCRYPTION_REQUIRED);
        }
        if self.helo.is_none() {
            return self.error(reply::HELO_FIRST);
        }
        if self.user.is_some() {
            return self.error(reply::ALREADY_AUTHENTICATED);
        }
        if self.tx.is_some() {
            return self.error(reply::AUTH_IN_TRANSACTION);
        }
        // RFC 4954 §4: "=" is an empty initial response; nothing means "ask for it".
        match (mechanism, initial.as_str()) {
            (AUTH_PLAIN, "") => self.challenge(AuthStep::Plain, ""),
            (AUTH_PLAIN, r) => self.plain(r).await,
            (AUTH_LOGIN, "") => self.challenge(AuthStep::LoginUser, "VXNlcm5hbWU6"),
            (AUTH_LOGIN, r) => match decode(r) {
                Some(user) => self.challenge(AuthStep::LoginPassword(user), "UGFzc3dvcmQ6"),
                None => self.error(reply::AUTH_BAD_BASE64),
            },
            _ => self.error(reply::AUTH_MECHANISM),
        }
    }

    /// One line of a SASL exchange, CRLF removed.
    pub(super) async fn auth_response(&mut self, step: AuthStep, line: &str) {
        self.state = State::Command;
        // RFC 4954 §4: "*" cancels the exchange.
        if line == "*" {
            return self.error(reply::AUTH_CANCELLED);
        }
        match step {
            AuthStep::Plain => self.plain(line).await,
            AuthStep::LoginUser => match decode(line) {
                Some(user) => self.challenge(AuthStep::LoginPassword(user), "UGFzc3dvcmQ6"),
                None => self.error(reply::AUTH_BAD_BASE64),
            },
            AuthStep::LoginPassword(user) => match decode(line) {
                Some(password) => self.check(&user, &password).await,
                None => self.error(reply::AUTH_BAD_BASE64),
            },
        }
    }

    fn challenge(&mut self, step: AuthStep, text: &str) {
        self.reply(&format!("334 {text}\r\n"));
        self.state = State::Auth(step, Vec::new());
    }

    /// `authzid NUL authcid NUL password`; acting as another user (an authzid that differs)
    /// is not offered.
    async fn plain(&mut self, response: &str) {
        let Some(bytes) = decode_bytes(response) else {
            return self.error(reply::AUTH_BAD_BASE64);
        };
        let mut parts = bytes.split(|&b| b == 0);
        let (Some(authz), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.error(reply::AUTH_MALFORMED);
        };
        let (Ok(authz), Ok(user), Ok(password)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(user),
            std::str::from_utf8(password),
        ) else {
            return self.error(reply::AUTH_MALFORMED);
        };
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(user) {
            return self.error(reply::AUTH_INVALID);
        }
        self.check(user, password).await;
    }

    async fn check(&mut self, user: &str, password: &str) {
        let ip = Some(self.peer.ip());
        let core = self.shared.core.clone();
        let limiter = core.login_failures();
        if limiter.blocked(ip, user).is_some() {
            return self.error(reply::AUTH_TOO_MANY_FAILURES);
        }
        match core.authenticate(user, password).await {
            Ok(Some(account)) => {
                limiter.succeeded(user);
                tracing::info!(user = %account.address, "authenticated");
                self.user = Some(account);
                self.reply(reply::AUTH_OK);
            }
            Ok(None) => {
                limiter.failed(ip, user);
                tracing::info!(user = %user, "failed SMTP login");
                self.error(reply::AUTH_INVALID);
            }
            Err(e) => {
                tracing::warn!(error = %e, "authentication failed to run");
                self.reply(reply::AUTH_TEMPORARY);
            }
        }
    }
}

fn decode_bytes(s: &str) -> Option<Vec<u8>> {
    match s.trim() {
        "=" => Some(Vec::new()),
        s => B64.decode(s).ok(),
    }
}

fn decode(s: &str) -> Option<String> {
    String::from_utf8(decode_bytes(s)?).ok()
}
