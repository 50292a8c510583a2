//! Sending: a user's message goes to its recipients and a copy to their Sent mailbox, in one
//! transaction, and a submission records what happened to each recipient.
//!
//! Local recipients are delivered through the same path as SMTP. Remote recipients are put
//! in the outbound queue in the transaction that records the submission, after the message
//! bytes are durable; the queue worker (in the SMTP crate) sends them and reports back.

use bytes::Bytes;
use mailroom_store::queue::NewQueued;
pub use mailroom_store::submission::Idempotency;
use mailroom_store::submission::{NewSubmission, Submission};
use serde_json::json;

use crate::address::Address;
use crate::delivery::{Folder, Incoming, Recipient, Sending};
use crate::notify::StateChange;
use crate::{Account, Core, Error, Result};

/// The most recipients one submission may have.
pub const MAX_RECIPIENTS: usize = 100;

/// A message ready to send, with its envelope.
pub struct Outgoing {
    /// What recipients get.
    pub raw: Bytes,
    /// What the sender keeps: a new copy filed in Sent (it may differ from `raw` by a Bcc
    /// header), or an email of theirs that already holds the message (JMAP submits a draft,
    /// and moves it itself).
    pub sent_copy: SentCopy,
    /// The envelope sender (MAIL FROM).
    pub mail_from: Address,
    pub recipients: Vec<Address>,
}

/// Why a message was not sent (nothing was).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NoRecipients,
    TooManyRecipients,
    /// The envelope sender is not the user's.
    ForbiddenMailFrom(Address),
    /// A From: address is not the user's.
    ForbiddenFrom(Address),
    /// The message has no usable From: header.
    NoFrom(String),
    /// Addresses on our domains that reach nobody.
    UnknownRecipients(Vec<String>),
    /// Addresses on other domains, which need the outbound queue.
    RemoteRecipients(Vec<String>),
    /// The account sent its hourly allowance; try again after this long.
    RateLimited(std::time::Duration),
}

impl Refusal {
    pub fn into_error(self) -> Error {
        match self {
            Refusal::NoRecipients => Error::Invalid("no recipients".into()),
            Refusal::TooManyRecipients => {
                Error::Invalid(format!("at most {MAX_RECIPIENTS} recipients per message"))
            }
            Refusal::ForbiddenMailFrom(a) => {
                Error::Forbidden(format!("{a} is not one of your addresses"))
            }
            Refusal::ForbiddenFrom(a) => {
                Error::Forbidden(format!("From: {a} is not one of your addresses"))
            }
            Refusal::NoFrom(d) => Error::Invalid(d),
            Refusal::UnknownRecipients(v) => {
                Error::Invalid(format!("{}: no such local mailbox", v.join(", ")))
            }
            Refusal::RemoteRecipients(v) => Error::Invalid(format!(
                "cannot send to {}: delivery to other domains needs the outbound queue, \
                 which this server does not have yet; nothing was sent",
                v.join(", ")
            )),
            Refusal::RateLimited(wait) => Error::RateLimited(wait),
        }
    }
}

pub enum SentCopy {
    File(Bytes),
    /// The email's id and thread.
    Existing {
        email_id: i64,
        thread_id: i64,
    },
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
    /// Cached briefly like recipients (see `cache.rs`): an alias removed from another process
    /// stops being usable within seconds, at once from this one.
    pub async fn sender_addresses(&self, account: &Account) -> Result<Vec<String>> {
        if let Some(v) = self.caches().senders(account.id) {
            return Ok(v);
        }
        let mut v = vec![account.address.clone()];
        v.extend(self.store().aliases_of(account.id).await?);
        self.caches().put_senders(account.id, v.clone());
        Ok(v)
    }

    /// Whether `addr` (with or without a `+tag`) is one of the account's addresses.
    pub async fn may_send_as(&self, account: &Account, addr: &Address) -> Result<bool> {
        let own = self.sender_addresses(account).await?;
        let plain = addr.without_tag().unwrap_or_else(|| addr.clone());
        Ok(own
            .iter()
            .any(|a| a == addr.as_str() || a == plain.as_str()))
    }

    /// Sends `out` as `account`: checks the sender (envelope and every From: address must be
    /// the account's), delivers to local recipients and files the Sent copy (one transaction),
    /// then records the submission. A refusal is an `Invalid` or `Forbidden` error.
    pub async fn send(&self, account: &Account, out: Outgoing) -> Result<SendResult> {
        self.send_checked(account, out)
            .await?
            .map_err(Refusal::into_error)
    }

    /// Like [`send`](Self::send), with the reason for a refusal kept apart from failures.
    pub async fn send_checked(
        &self,
        account: &Account,
        out: Outgoing,
    ) -> Result<std::result::Result<SendResult, Refusal>> {
        if out.recipients.is_empty() {
            return Ok(Err(Refusal::NoRecipients));
        }
        if out.recipients.len() > MAX_RECIPIENTS {
            return Ok(Err(Refusal::TooManyRecipients));
        }
        if !self.may_send_as(account, &out.mail_from).await? {
            return Ok(Err(Refusal::ForbiddenMailFrom(out.mail_from)));
        }
        let froms = match header_from(&out.raw) {
            Ok(f) => f,
            Err(Error::Invalid(d)) => return Ok(Err(Refusal::NoFrom(d))),
            Err(e) => return Err(e),
        };
        for from in froms {
            if !self.may_send_as(account, &from).await? {
                return Ok(Err(Refusal::ForbiddenFrom(from)));
            }
        }
        let mut local_accounts = Vec::new();
        let (mut remote, mut unknown) = (Vec::new(), Vec::new());
        for r in &out.recipients {
            match self.resolve_recipient(r.as_str()).await {
                Ok(Recipient::Local(accounts)) => local_accounts.extend(accounts),
                Ok(Recipient::Remote) => remote.push(r.as_str().to_string()),
                Err(Error::NotFound(_)) => unknown.push(r.as_str().to_string()),
                Err(e) => return Err(e),
            }
        }
        if !unknown.is_empty() {
            return Ok(Err(Refusal::UnknownRecipients(unknown)));
        }
        if !remote.is_empty() && !self.inner.remote_delivery {
            return Ok(Err(Refusal::RemoteRecipients(remote)));
        }
        // Counted last, so a refused message does not use up the allowance.
        if let Err(wait) = self.sends().take(account.id) {
            return Ok(Err(Refusal::RateLimited(wait)));
        }
        self.deliver_sent(account, out, local_accounts, remote)
            .await
            .map(Ok)
    }

    async fn deliver_sent(
        &self,
        account: &Account,
        out: Outgoing,
        local_accounts: Vec<i64>,
        remote: Vec<String>,
    ) -> Result<SendResult> {
        // Written with the batch that records the submission, before its queue rows.
        let queued_blob = (!remote.is_empty()).then(|| mailroom_store::BlobId::of(&out.raw));
        let sent = match self.caches().sent(account.id) {
            Some(id) => id,
            None => {
                let id = self
                    .store()
                    .mailbox_by_role(account.id, "sent")
                    .await?
                    .ok_or_else(|| Error::Internal(format!("account {} has no Sent", account.id)))?
                    .id;
                self.caches().put_sent(account.id, id);
                id
            }
        };
        let mut batch = Vec::new();
        if !local_accounts.is_empty() {
            batch.push(Incoming {
                raw: out.raw.clone(),
                accounts: local_accounts,
                folder: Folder::Inbox,
                keywords: Vec::new(),
                received_at: None,
                derived: Vec::new(),
            });
        }
        let existing = match &out.sent_copy {
            SentCopy::File(copy) => {
                batch.push(Incoming {
                    raw: copy.clone(),
                    accounts: vec![account.id],
                    folder: Folder::Mailbox(sent),
                    keywords: vec!["$seen".into()],
                    received_at: None,
                    derived: Vec::new(),
                });
                None
            }
            SentCopy::Existing {
                email_id,
                thread_id,
            } => Some((*email_id, *thread_id)),
        };
        let status: serde_json::Map<String, serde_json::Value> = out
            .recipients
            .iter()
            .map(|r| {
                let status = if remote.iter().any(|x| x == r.as_str()) {
                    json!({"smtpReply": "queued for delivery", "delivered": "queued", "displayed": "unknown"})
                } else {
                    json!({"smtpReply": "250 2.0.0 delivered locally", "delivered": "yes", "displayed": "unknown"})
                };
                (r.as_str().to_string(), status)
            })
            .collect();
        let rcpts: Vec<&str> = out.recipients.iter().map(Address::as_str).collect();
        let submission = NewSubmission {
            account_id: account.id,
            email_id: existing.map(|(email_id, _)| email_id),
            mail_from: out.mail_from.as_str().to_string(),
            rcpt_to: json!(rcpts).to_string(),
            undo_status: "final".into(),
            delivery_status: serde_json::Value::Object(status).to_string(),
            queue: queued_blob.as_ref().map(|blob| NewQueued {
                blob_id: blob.as_str().to_string(),
                mail_from: out.mail_from.as_str().to_string(),
                account_id: Some(account.id),
                size: out.raw.len() as i64,
                recipients: remote.clone(),
            }),
        };
        // When recipients get exactly the Sent copy's bytes (no Bcc), the copy's delivery
        // makes them durable under the same id.
        let queued = queued_blob
            .filter(|_| !matches!(&out.sent_copy, SentCopy::File(copy) if *copy == out.raw))
            .map(|id| (id, out.raw.clone()));
        let (submission, email_id, thread_id) = match existing {
            // The Sent copy, the local recipients' copies and the submission with its queued
            // recipients: one transaction.
            None => {
                let filed = self
                    .deliver_sending(batch, false, Some(Sending { submission, queued }))
                    .await?;
                let copy = filed
                    .delivered
                    .last()
                    .and_then(|v| v.first())
                    .ok_or_else(|| Error::Internal("the Sent copy was not filed".into()))?;
                let (email_id, thread_id) = (copy.email_id, copy.thread_id);
                let (submission, _seq) = filed
                    .submissions
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Internal("the submission was not recorded".into()))?;
                (submission, email_id, thread_id)
            }
            // An email that exists already (JMAP EmailSubmission): its local recipients' copies,
            // then the submission.
            Some((email_id, thread_id)) => {
                if !batch.is_empty() {
                    self.deliver_many(batch).await?;
                }
                let pending = PendingSubmission {
                    blob: queued,
                    submission,
                };
                let (submission, _seq) = self.inner.submissions.call(pending).await?;
                (submission, email_id, thread_id)
            }
        };
        Ok(SendResult {
            submission,
            email_id,
            thread_id,
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

/// A submission record waiting for its batch: its queued recipients' bytes are made durable
/// before the transaction that names them commits.
pub(crate) struct PendingSubmission {
    blob: Option<(mailroom_store::BlobId, Bytes)>,
    submission: NewSubmission,
}

pub(crate) fn submission_batcher(
    store: mailroom_store::Store,
    notifier: crate::notify::Notifier,
    wake: std::sync::Arc<tokio::sync::Notify>,
) -> crate::batch::Batcher<PendingSubmission, (Submission, i64)> {
    crate::batch::Batcher::start(256, move |items: Vec<PendingSubmission>| {
        let (store, notifier, wake) = (store.clone(), notifier.clone(), wake.clone());
        async move {
            let blobs: Vec<_> = items.iter().filter_map(|p| p.blob.clone()).collect();
            let queued = items.iter().any(|p| p.submission.queue.is_some());
            if !blobs.is_empty()
                && let Err(e) = store.blobs().put_many(blobs).await
            {
                let msg = Error::from(e).to_string();
                return items
                    .iter()
                    .map(|_| Err(Error::Unavailable(msg.clone())))
                    .collect();
            }
            let subs: Vec<NewSubmission> = items.into_iter().map(|p| p.submission).collect();
            let results = crate::batch::each_on_failure(subs, |s| {
                let store = store.clone();
                async move {
                    let r = store.submission_insert_many(&s).await;
                    (s, r)
                }
            })
            .await;
            for (s, seq) in results.iter().flatten() {
                notifier.publish(StateChange {
                    account_id: s.account_id,
                    seq: *seq,
                });
            }
            if queued {
                wake.notify_one();
            }
            results
        }
    })
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

impl Core {
    /// Sends one of the account's emails as it is stored (JMAP EmailSubmission): the
    /// envelope is the one given, or From's address and every To/Cc/Bcc address; recipients
    /// get the message without its Bcc header; the email itself stays where it is. `NotFound`
    /// if the email is not the account's.
    pub async fn submit_email(
        &self,
        account: &Account,
        email_id: i64,
        mail_from: Option<Address>,
        recipients: Option<Vec<Address>>,
    ) -> Result<std::result::Result<SendResult, Refusal>> {
        let email = self
            .emails(account.id, &[email_id])
            .await?
            .pop()
            .ok_or_else(|| Error::NotFound(format!("email {email_id}")))?;
        let raw = self.message_bytes(&email.row.blob_id).await?;
        let mail_from = match mail_from {
            Some(a) => a,
            None => match header_from(&raw) {
                Ok(v) => v.into_iter().next().expect("header_from is never empty"),
                Err(Error::Invalid(d)) => return Ok(Err(Refusal::NoFrom(d))),
                Err(e) => return Err(e),
            },
        };
        let recipients = match recipients {
            Some(r) => r,
            None => match header_recipients(&raw) {
                Ok(r) => r,
                Err(Error::Invalid(d)) => return Ok(Err(Refusal::UnknownRecipients(vec![d]))),
                Err(e) => return Err(e),
            },
        };
        self.send_checked(
            account,
            Outgoing {
                raw: strip_bcc(&raw),
                sent_copy: SentCopy::Existing {
                    email_id,
                    thread_id: email.row.thread_id,
                },
                mail_from,
                recipients,
            },
        )
        .await
    }
}

/// Every To, Cc and Bcc address of a message, once each.
pub fn header_recipients(raw: &[u8]) -> Result<Vec<Address>> {
    let msg = mail_parser::MessageParser::default()
        .parse_headers(raw)
        .ok_or_else(|| Error::Invalid("the message has no headers".into()))?;
    let mut out: Vec<Address> = Vec::new();
    for list in [msg.to(), msg.cc(), msg.bcc()].into_iter().flatten() {
        for a in list.iter().filter_map(|a| a.address()) {
            let a = Address::parse(a)?;
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// The message without its Bcc header field (folded lines included); the body untouched.
pub fn strip_bcc(raw: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(raw.len());
    let mut in_bcc = false;
    let mut rest = raw;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        if line == b"\r\n" || line == b"\n" {
            // End of the header section: the rest is the body.
            out.extend_from_slice(rest);
            break;
        }
        let continuation = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if !continuation {
            in_bcc = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"bcc:");
        }
        if !in_bcc {
            out.extend_from_slice(line);
        }
        rest = tail;
    }
    Bytes::from(out)
}

/// The message with a Date and a Message-ID (on `domain`) added at the top when it has none,
/// as a submission server does for its users (RFC 6409 §8.2, §8.3).
pub fn complete_headers(raw: &[u8], domain: &str) -> Bytes {
    let (mut date, mut id) = (false, false);
    for line in raw.split(|&b| b == b'\n') {
        if line == b"\r" || line.is_empty() {
            break;
        }
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        date |= name.eq_ignore_ascii_case(b"date");
        id |= name.eq_ignore_ascii_case(b"message-id");
    }
    if date && id {
        return Bytes::copy_from_slice(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + 128);
    if !date {
        out.extend_from_slice(format!("Date: {}\r\n", chrono::Utc::now().to_rfc2822()).as_bytes());
    }
    if !id {
        let id = format!("<{}@{}>", crate::compose::random_id(), domain);
        out.extend_from_slice(format!("Message-ID: {id}\r\n").as_bytes());
    }
    out.extend_from_slice(raw);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn complete_headers_adds_only_what_is_missing() {
        let whole = b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <a@b>\r\n\r\nx\r\n";
        assert_eq!(&super::complete_headers(whole, "example.test")[..], whole);
        let bare = b"From: a@example.test\r\n\r\nDate: in the body\r\n";
        let done = super::complete_headers(bare, "example.test");
        let text = std::str::from_utf8(&done).unwrap();
        assert!(text.starts_with("Date: "), "{text}");
        assert!(text.contains("\r\nMessage-ID: <"), "{text}");
        assert!(
            text.contains("@example.test>\r\nFrom: a@example.test\r\n\r\n"),
            "{text}"
        );
    }

    #[test]
    fn strip_bcc_keeps_everything_else() {
        let raw =
            b"From: a@x\r\nBcc: b@x,\r\n c@x\r\nTo: d@x\r\nSubject: s\r\n\r\nBcc: in body\r\n";
        assert_eq!(
            &super::strip_bcc(raw)[..],
            b"From: a@x\r\nTo: d@x\r\nSubject: s\r\n\r\nBcc: in body\r\n"
        );
        let recipients = super::header_recipients(raw).unwrap();
        let r: Vec<&str> = recipients.iter().map(|a| a.as_str()).collect();
        assert_eq!(r, ["d@x", "b@x", "c@x"]);
    }
}
