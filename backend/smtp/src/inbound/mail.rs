//! MAIL FROM (RFC 5321 §4.1.1.2), with SIZE (RFC 1870), BODY (RFC 6152) and SMTPUTF8 (RFC 6531).

use smtp_proto::{MAIL_SMTPUTF8, MailFrom};

use super::session::{Session, Transaction};
use crate::reply;

impl Session {
    pub(super) fn mail(&mut self, from: MailFrom<String>) {
        if self.helo.is_none() {
            return self.error(reply::HELO_FIRST);
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
        self.tx = Some(Transaction {
            from: from.address,
            smtputf8,
            ..Default::default()
        });
        self.reply(reply::SENDER_OK);
    }
}
