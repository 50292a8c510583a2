//! RCPT TO (RFC 5321 §4.1.1.3): on the MX, local recipients only, never an open relay; on
//! submission, anyone (other domains once the outbound queue exists).

use mailroom_core::delivery::Recipient;
use smtp_proto::RcptTo;

use super::session::Session;
use crate::reply;

impl Session {
    pub(super) async fn rcpt(&mut self, to: RcptTo<String>) {
        let Some(tx) = &self.tx else {
            return self.error(reply::MAIL_FIRST);
        };
        if !tx.smtputf8 && !to.address.is_ascii() {
            return self.error(reply::NOT_UTF8_ENABLED);
        }
        if tx.rcpts.len() >= self.shared.config.max_recipients {
            // RFC 5321 §4.5.3.1.10: 452, and the client sends the rest in another transaction.
            return self.reply(reply::TOO_MANY_RECIPIENTS);
        }
        match self.shared.core.resolve_recipient(&to.address).await {
            Ok(Recipient::Local(accounts)) => {
                match self.shared.core.any_full(&accounts).await {
                    Ok(false) => {}
                    Ok(true) => return self.error(reply::MAILBOX_FULL),
                    Err(e) => {
                        tracing::warn!(error = %e, "quota lookup failed");
                        return self.error(reply::TEMP_LOOKUP_FAILED);
                    }
                }
                let tx = self.tx.as_mut().expect("checked above");
                tx.rcpts.push(to.address);
                tx.accounts.extend(accounts);
                self.reply(reply::RECIPIENT_OK);
            }
            // Submission sends anywhere: core queues it for the delivery worker.
            Ok(Recipient::Remote) if self.shared.submission() => {
                let tx = self.tx.as_mut().expect("checked above");
                tx.rcpts.push(to.address);
                self.reply(reply::RECIPIENT_OK);
            }
            // Authenticated submission relays; the MX does not.
            Ok(Recipient::Remote) => self.error(reply::RELAY_DENIED),
            Err(e) => {
                if matches!(
                    e,
                    mailroom_core::Error::Unavailable(_) | mailroom_core::Error::Internal(_)
                ) {
                    tracing::warn!(error = %e, "recipient lookup failed");
                }
                self.error(reply::for_recipient_error(&e));
            }
        }
    }
}
