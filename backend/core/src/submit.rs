//! Sending: a user's message goes to its recipients and a copy to their Sent mailbox, in one
//! transaction, and a submission records what happened to each recipient.
//!
//! Local recipients are delivered through the same path as SMTP. Remote recipients need the
//! outbound queue (the sending issue); until it exists they are refused before anything is
//! sent, rather than accepted and never delivered.

use bytes::Bytes;
pub use mailroom_store::submission::Idempotency;
use mailroom_store::submission::{NewSubmission, Submission};
use serde_json::json;

use crate::address::Address;
use crate::delivery::{Folder, Incoming, Recipient};
use crate::notify::StateChange;
use crate::{Account, Core, Error, Result};

/// The most recipients one submission may have.
pub const MAX_RECIPIENTS: usize = 100;

/// A message ready to send, with its envelope.
pub struct Outgoing {
    /// What recipients get.
    pub raw: Bytes,
    /// What the sender keeps in Sent (may differ from `raw` by a Bcc header).
    pub sent_copy: Bytes,
    /// The envelope sender (MAIL FROM).
    pub mail_from: Address,
    pub recipients: Vec<Address>,
}

/// What a sent message became.
#[derive(Clone, Debug)]
pub struct SendResult {
    pub submission: Submission,
    /// The copy in the sender's Sent mailbox.
    pub email_id: i64,
    pub thread_id: i64,
}

impl Core {
    /// The addresses the account may send as: its own (with any `+tag`) and its aliases.
    pub async fn sender_addresses(&self, account: &Account) -> Result<Vec<String>> {
        let mut v = vec![account.address.clone()];
        v.extend(self.store().aliases_of(account.id).await?);
        Ok(v)
    }

    async fn may_send_as(&self, account: &Account, addr: &Address) -> Result<bool> {
        let own = self.sender_addresses(account).await?;
        let plain = addr.without_tag().unwrap_or_else(|| addr.clone());
        Ok(own
            .iter()
            .any(|a| a == addr.as_str() || a == plain.as_str()))
    }

    /// Sends `out` as `account`: checks the sender (envelope and every From: address must be
    /// the account's), delivers to local recipients and files the Sent copy (one transaction),
    /// then records the submission.
    pub async fn send(&self, account: &Account, out: Outgoing) -> Result<SendResult> {
        if out.recipients.is_empty() {
            return Err(Error::Invalid("no recipients".into()));
        }
        if out.recipients.len() > MAX_RECIPIENTS {
            return Err(Error::Invalid(format!(
                "at most {MAX_RECIPIENTS} recipients per message"
            )));
        }
        if !self.may_send_as(account, &out.mail_from).await? {
            return Err(Error::Forbidden(format!(
                "{} is not one of your addresses",
                out.mail_from
            )));
        }
        for from in header_from(&out.raw)? {
            if !self.may_send_as(account, &from).await? {
                return Err(Error::Forbidden(format!(
                    "From: {from} is not one of your addresses"
                )));
            }
        }
        let mut local_accounts = Vec::new();
        let mut remote = Vec::new();
        for r in &out.recipients {
            match self.resolve_recipient(r.as_str()).await {
                Ok(Recipient::Local(accounts)) => local_accounts.extend(accounts),
                Ok(Recipient::Remote) => remote.push(r.as_str().to_string()),
                Err(Error::NotFound(_)) => {
                    return Err(Error::Invalid(format!("{r}: no such local mailbox")));
                }
                Err(e) => return Err(e),
            }
        }
        if !remote.is_empty() {
            return Err(Error::Invalid(format!(
                "cannot send to {}: delivery to other domains needs the outbound queue, \
                 which this server does not have yet; nothing was sent",
                remote.join(", ")
            )));
        }
        let sent = self
            .store()
            .mailbox_by_role(account.id, "sent")
            .await?
            .ok_or_else(|| Error::Internal(format!("account {} has no Sent", account.id)))?;
        let mut batch = Vec::new();
        if !local_accounts.is_empty() {
            batch.push(Incoming {
                raw: out.raw.clone(),
                accounts: local_accounts,
                folder: Folder::Inbox,
                keywords: Vec::new(),
                received_at: None,
            });
        }
        batch.push(Incoming {
            raw: out.sent_copy.clone(),
            accounts: vec![account.id],
            folder: Folder::Mailbox(sent.id),
            keywords: vec!["$seen".into()],
            received_at: None,
        });
        let delivered = self.deliver_many(batch).await?;
        let copy = delivered
            .last()
            .and_then(|v| v.first())
            .ok_or_else(|| Error::Internal("the Sent copy was not filed".into()))?;
        let status: serde_json::Map<String, serde_json::Value> = out
            .recipients
            .iter()
            .map(|r| {
                (
                    r.as_str().to_string(),
                    json!({"smtpReply": "250 2.0.0 delivered locally", "delivered": "yes", "displayed": "unknown"}),
                )
            })
            .collect();
        let rcpts: Vec<&str> = out.recipients.iter().map(Address::as_str).collect();
        let (submission, seq) = self
            .store()
            .submission_insert(NewSubmission {
                account_id: account.id,
                email_id: Some(copy.email_id),
                mail_from: out.mail_from.as_str(),
                rcpt_to: &json!(rcpts).to_string(),
                undo_status: "final",
                delivery_status: &serde_json::Value::Object(status).to_string(),
            })
            .await?;
        self.inner.notifier.publish(StateChange {
            account_id: account.id,
            seq,
        });
        Ok(SendResult {
            submission,
            email_id: copy.email_id,
            thread_id: copy.thread_id,
        })
    }

    pub async fn submissions(
        &self,
        account_id: i64,
        ids: Option<&[i64]>,
    ) -> Result<Vec<Submission>> {
        Ok(self.store().submissions(account_id, ids).await?)
    }

    /// Claims an idempotency key (see [`Idempotency`]).
    pub async fn idempotency_begin(
        &self,
        account_id: i64,
        key: &str,
        request_hash: &str,
    ) -> Result<Idempotency> {
        if key.is_empty() || key.len() > 255 || key.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "an Idempotency-Key is 1 to 255 printable characters".into(),
            ));
        }
        Ok(self
            .store()
            .idempotency_begin(account_id, key, request_hash)
            .await?)
    }

    pub async fn idempotency_finish(
        &self,
        account_id: i64,
        key: &str,
        response: Option<&str>,
    ) -> Result<()> {
        Ok(self
            .store()
            .idempotency_finish(account_id, key, response)
            .await?)
    }
}

/// The addresses of the message's From: header; a message without one is refused.
fn header_from(raw: &[u8]) -> Result<Vec<Address>> {
    let msg = mail_parser::MessageParser::default()
        .parse_headers(raw)
        .ok_or_else(|| Error::Invalid("the message has no headers".into()))?;
    let from = msg
        .from()
        .ok_or_else(|| Error::Invalid("the message has no From: header".into()))?;
    let v: Vec<Address> = from
        .iter()
        .filter_map(|a| a.address())
        .map(Address::parse)
        .collect::<Result<_>>()?;
    if v.is_empty() {
        return Err(Error::Invalid("the From: header has no address".into()));
    }
    Ok(v)
}
