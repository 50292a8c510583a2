//! STARTTLS, LOGIN and AUTHENTICATE PLAIN (RFC 4616, with SASL-IR). A password is accepted
//! only on a secure connection (TLS, or loopback when configured): elsewhere LOGIN answers
//! `[PRIVACYREQUIRED]` and the capability list says LOGINDISABLED. Failures count against
//! the client's address and the account in core's limiter, which SMTP and HTTP share.

use std::borrow::Cow;

use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::secret::Secret;

use crate::reply::{Handled, Reply, code};
use crate::session::{Next, Session};

impl Session {
    /// Checks STARTTLS may start; the caller answers OK in plain text, then the handshake.
    pub(crate) fn starttls(&mut self) -> Result<(), Reply> {
        if self.tls {
            return Err(Reply::Bad(None, "TLS is active already".into()));
        }
        if self.shared.config.tls.is_none() || self.shared.implicit_tls {
            return Err(Reply::Bad(None, "STARTTLS is not available".into()));
        }
        Ok(())
    }

    pub(crate) async fn login(
        &mut self,
        username: AString<'static>,
        password: Secret<AString<'static>>,
    ) -> Handled {
        if !self.secure() {
            return Err(Reply::No(
                Some(code("PRIVACYREQUIRED")),
                "LOGIN is disabled until STARTTLS".into(),
            ));
        }
        let user = String::from_utf8_lossy(username.as_ref()).into_owned();
        let password = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
        self.check(&user, &password).await
    }

    pub(crate) async fn authenticate(
        &mut self,
        tag: &imap_codec::imap_types::core::Tag<'static>,
        mechanism: AuthMechanism<'static>,
        initial: Option<Secret<Cow<'static, [u8]>>>,
    ) -> Handled {
        if mechanism != AuthMechanism::Plain {
            return Err(Reply::No(
                Some(code("CANNOT")),
                "unsupported mechanism; use PLAIN".into(),
            ));
        }
        if !self.secure() {
            return Err(Reply::No(
                Some(code("PRIVACYREQUIRED")),
                "authentication is disabled until STARTTLS".into(),
            ));
        }
        match initial {
            Some(ir) => self.plain(ir.declassify()).await,
            None => {
                // An empty challenge: "+ " then the client's response.
                self.send(
                    &imap_codec::imap_types::response::Response::CommandContinuationRequest(
                        imap_codec::imap_types::response::CommandContinuationRequest::base64(
                            Cow::Borrowed(&b""[..]),
                        ),
                    ),
                );
                Ok(Reply::Then(Next::Sasl(tag.clone(), mechanism)))
            }
        }
    }

    pub(crate) async fn sasl_response(
        &mut self,
        _mechanism: AuthMechanism<'static>,
        data: AuthenticateData<'static>,
    ) -> Reply {
        match data {
            AuthenticateData::Cancel => Reply::Bad(None, "authentication cancelled".into()),
            AuthenticateData::Continue(d) => match self.plain(d.declassify()).await {
                Ok(r) | Err(r) => r,
            },
        }
    }

    /// `authzid NUL authcid NUL password`; acting as another user is not offered.
    async fn plain(&mut self, response: &[u8]) -> Handled {
        let mut parts = response.split(|&b| b == 0);
        let (Some(authz), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Reply::Bad(None, "malformed PLAIN response".into()));
        };
        let (Ok(authz), Ok(user), Ok(password)) = (
            std::str::from_utf8(authz),
            std::str::from_utf8(user),
            std::str::from_utf8(password),
        ) else {
            return Err(Reply::Bad(None, "malformed PLAIN response".into()));
        };
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(user) {
            return Err(Reply::No(
                Some(code("AUTHORIZATIONFAILED")),
                "acting as another user is not allowed".into(),
            ));
        }
        self.check(user, password).await
    }

    async fn check(&mut self, user: &str, password: &str) -> Handled {
        let ip = Some(self.peer.ip());
        let core = self.shared.core.clone();
        let limiter = core.login_failures();
        if limiter.blocked(ip, user).is_some() {
            return Err(Reply::No(
                Some(code("UNAVAILABLE")),
                "too many failed logins; try again later".into(),
            ));
        }
        match core.authenticate(user, password).await {
            Ok(Some(account)) => {
                limiter.succeeded(user);
                tracing::info!(user = %account.address, peer = %self.peer, "imap login");
                self.user = Some(account);
                let caps = self.capabilities();
                Ok(Reply::Ok(Some(Code::Capability(caps)), "logged in".into()))
            }
            Ok(None) => {
                limiter.failed(ip, user);
                tracing::info!(user = %user, peer = %self.peer, "failed IMAP login");
                Err(Reply::No(
                    Some(code("AUTHENTICATIONFAILED")),
                    "invalid credentials".into(),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }
}
