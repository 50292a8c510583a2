//! The end of a submitted message (RFC 6409): completed, then sent as the authenticated user
//! by core — recipients get it without its Bcc header, the user's Sent mailbox gets it whole.

use mailroom_core::Account;
use mailroom_core::address::Address;
use mailroom_core::submit::{Outgoing, Refusal, SentCopy, complete_headers, strip_bcc};

use super::session::{Session, Transaction};
use crate::reply;

impl Session {
    pub(super) async fn submit(&mut self, user: Account, tx: Transaction, id: &str) {
        let domain = user
            .address
            .rsplit_once('@')
            .map_or(self.shared.config.hostname.as_str(), |(_, d)| d)
            .to_string();
        let mut raw = super::trace::received(self, &tx, id);
        raw.extend_from_slice(&complete_headers(&tx.body, &domain));
        let parsed: Result<Vec<Address>, _> = tx.rcpts.iter().map(|r| Address::parse(r)).collect();
        let (Ok(mail_from), Ok(recipients)) = (Address::parse(&tx.from), parsed) else {
            return self.error(reply::BAD_RECIPIENT);
        };
        let out = Outgoing {
            raw: strip_bcc(&raw),
            sent_copy: SentCopy::File(raw.into()),
            mail_from,
            recipients,
        };
        match self.shared.core.send_checked(&user, out).await {
            Ok(Ok(sent)) => {
                tracing::info!(id, user = %user.address, rcpts = tx.rcpts.len(), submission = sent.submission.id, "submitted");
                self.reply(&reply::accepted(id));
            }
            Ok(Err(refusal)) => {
                tracing::info!(id, user = %user.address, ?refusal, "submission refused");
                let line = match refusal {
                    Refusal::ForbiddenMailFrom(_) => reply::SENDER_NOT_OWNED.to_string(),
                    Refusal::ForbiddenFrom(a) => reply::from_not_owned(a.as_str()),
                    Refusal::NoFrom(why) => reply::no_from(&why),
                    Refusal::UnknownRecipients(_) => reply::UNKNOWN_USER.to_string(),
                    Refusal::RemoteRecipients(_) => reply::REMOTE_NOT_AVAILABLE.to_string(),
                    Refusal::NoRecipients => reply::RCPT_FIRST.to_string(),
                    Refusal::TooManyRecipients => reply::TOO_MANY_RECIPIENTS.to_string(),
                    Refusal::RateLimited(_) => reply::SEND_RATE_LIMITED.to_string(),
                };
                self.error(&line);
            }
            Err(e) => {
                tracing::error!(id, error = %e, "sending failed");
                self.reply(reply::STORAGE_FAILED);
            }
        }
    }
}
