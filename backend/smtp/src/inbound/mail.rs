//! MAIL FROM (RFC 5321 §4.1.1.2), with SIZE (RFC 1870), BODY (RFC 6152) and SMTPUTF8 (RFC 6531).

use mailroom_core::address::Address;
use smtp_proto::{MAIL_SMTPUTF8, MailFrom};

use super::session::{Session, Transaction};
use crate::reply;

impl Session {
    pub(super) async fn mail(&mut self, from: MailFrom<String>) {
        if self.helo.is_none() {
            return self.error(reply::HELO_FIRST);
        }
        if self.shared.submission() && self.user.is_none() {
            return self.error(reply::AUTH_REQUIRED);
        }
        if self.tx.is_some() {
            return self.error(reply::NESTED_MAIL);
        }
        // RFC 1870 §6.2: refuse at MAIL when the declared size is already too big.
        if from.size > self.shared.config.max_message_size {
            return self.error(reply::TOO_BIG);
        }
        let smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
        if !smtputf8 && !from.address.is_ascii() {
            return self.error(reply::NOT_UTF8_ENABLED);
        }
        // The null reverse-path <> (bounces) is allowed; anything else must be an address.
        if !from.address.is_empty() && !mailroom_core::address::plausible_sender(&from.address) {
            return self.error(reply::BAD_SENDER);
        }
        if let Some(user) = &self.user {
            // Submission: the envelope sender must be the user's (RFC 6409 §6.1), so no user
            // can send as another.
            if from.address.is_empty() {
                return self.error(reply::NULL_SENDER_SUBMISSION);
            }
            let owned = match Address::parse(&from.address) {
                Ok(a) => self.shared.core.may_send_as(user, &a).await,
                Err(_) => return self.error(reply::BAD_SENDER),
            };
            match owned {
                Ok(true) => {}
                Ok(false) => return self.error(reply::SENDER_NOT_OWNED),
                Err(e) => {
                    tracing::warn!(error = %e, "sender check failed");
                    return self.reply(reply::TEMP_LOOKUP_FAILED);
                }
            }
        }
        self.tx = Some(Transaction {
            from: from.address,
            smtputf8,
            ..Default::default()
        });
        self.reply(reply::SENDER_OK);
    }
}
