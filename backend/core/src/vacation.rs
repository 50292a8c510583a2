//! Vacation responses (JMAP VacationResponse) and the auto-reply they send: once per sender
//! per period, never to lists, bulk or automatic mail, never to a null sender, and only when
//! the user was addressed directly (RFC 3834 §2). The reply itself is automatic mail
//! (`Auto-Submitted: auto-replied`, null envelope sender, RFC 3834 §3).

use std::collections::HashSet;

use bytes::Bytes;
pub use mailroom_store::vacation::Vacation;

use crate::address::Address;
use crate::delivery::{Folder, Incoming, Recipient};
use crate::notify::StateChange;
use crate::{Core, Error, Result};

/// A sender is answered again after this long within one period (RFC 3834 §2 suggests 7 days).
pub const RESEND_AFTER_SECS: i64 = 7 * 24 * 3600;

/// The most text a vacation response may carry, per body.
const MAX_BODY: usize = 64 * 1024;

impl Core {
    /// The account's vacation response (disabled and empty if never set).
    pub async fn vacation(&self, account_id: i64) -> Result<Vacation> {
        Ok(self
            .store()
            .vacation_get(account_id)
            .await?
            .unwrap_or_default())
    }

    /// Stores the response; a new period begins, so every sender may be answered again.
    pub async fn vacation_set(&self, account_id: i64, v: &Vacation) -> Result<()> {
        if v.subject
            .as_deref()
            .is_some_and(|s| s.contains(['\r', '\n']))
        {
            return Err(Error::Invalid(
                "the subject may not contain line breaks".into(),
            ));
        }
        if [&v.text_body, &v.html_body]
            .iter()
            .any(|b| b.as_ref().is_some_and(|b| b.len() > MAX_BODY))
        {
            return Err(Error::Invalid(format!(
                "a body is at most {MAX_BODY} bytes"
            )));
        }
        if let (Some(f), Some(t)) = (v.from_date, v.to_date)
            && t <= f
        {
            return Err(Error::Invalid("toDate must be after fromDate".into()));
        }
        let seq = self.store().vacation_set(account_id, v).await?;
        self.caches().put_vacation(None);
        self.inner.notifier.publish(StateChange { account_id, seq });
        Ok(())
    }

    /// (account, message) pairs among incoming inbox mail whose account has a response on.
    pub(crate) async fn vacation_candidates(&self, incoming: &[Incoming]) -> Vec<(i64, Bytes)> {
        if !incoming.iter().any(|i| matches!(i.folder, Folder::Inbox)) {
            return Vec::new();
        }
        let on = match self.caches().vacation() {
            Some(on) => on,
            None => match self.store().vacation_enabled().await {
                Ok(v) => {
                    let set: HashSet<i64> = v.into_iter().collect();
                    self.caches().put_vacation(Some(set.clone()));
                    set
                }
                // Delivery matters more than the auto-reply: go on without it.
                Err(e) => {
                    tracing::warn!(error = %e, "reading vacation responses failed");
                    return Vec::new();
                }
            },
        };
        if on.is_empty() {
            return Vec::new();
        }
        incoming
            .iter()
            .filter(|i| matches!(i.folder, Folder::Inbox))
            .flat_map(|i| {
                i.accounts
                    .iter()
                    .filter(|a| on.contains(a))
                    .map(|a| (*a, i.raw.clone()))
            })
            .collect()
    }

    /// Answers one stored message for the account if the rules allow.
    pub(crate) async fn auto_reply(&self, account_id: i64, raw: Bytes) -> Result<()> {
        let v = self.vacation(account_id).await?;
        let now = mailroom_store::now();
        if !v.is_enabled
            || v.from_date.is_some_and(|f| now < f)
            || v.to_date.is_some_and(|t| now >= t)
        {
            return Ok(());
        }
        let Some(account) = self.store().account_by_id(account_id).await? else {
            return Ok(());
        };
        let own = self.sender_addresses(&account).await?;
        let Some(incoming) = should_answer(&raw, &own) else {
            return Ok(());
        };
        let since = v.updated_at.max(now - RESEND_AFTER_SECS);
        if !self
            .store()
            .vacation_claim(account_id, incoming.sender.as_str(), since)
            .await?
        {
            return Ok(());
        }
        let reply = compose_reply(&account.address, &incoming, &v)?;
        match self.resolve_recipient(incoming.sender.as_str()).await {
            Ok(Recipient::Local(accounts)) => {
                self.deliver_stored(vec![Incoming {
                    raw: Bytes::from(reply),
                    accounts,
                    folder: Folder::Inbox,
                    keywords: Vec::new(),
                    received_at: None,
                    derived: Vec::new(),
                }])
                .await?;
            }
            // Through the outbound queue, from the null sender (RFC 3834 §3.3: nothing
            // answers or bounces an auto-reply), signed by the user's domain.
            Ok(Recipient::Remote) if self.inner.remote_delivery => {
                self.enqueue(
                    Bytes::from(reply),
                    "",
                    account_id,
                    vec![incoming.sender.as_str().to_string()],
                )
                .await?;
            }
            Ok(Recipient::Remote) => tracing::info!(
                account_id,
                "no delivery worker in this process; vacation auto-reply to a remote sender not sent"
            ),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// What the reply needs from the message it answers.
struct Answerable {
    sender: Address,
    subject: Option<String>,
    message_id: Option<String>,
}

/// The message's sender if RFC 3834 §2 allows answering it; `None` otherwise.
fn should_answer(raw: &[u8], own: &[String]) -> Option<Answerable> {
    let msg = mail_parser::MessageParser::default().parse_headers(raw)?;
    let header = |n: &str| msg.header_raw(n).map(|v| v.trim().to_ascii_lowercase());
    if header("Auto-Submitted").is_some_and(|v| v != "no")
        || header("Precedence").is_some_and(|v| ["bulk", "list", "junk"].contains(&v.as_str()))
        || header("List-Id").is_some()
        || header("List-Unsubscribe").is_some()
        || header("X-Auto-Response-Suppress")
            .is_some_and(|v| v.contains("oof") || v.contains("all"))
    {
        return None;
    }
    // Reply to the envelope sender (Return-Path); a null one must never be answered.
    let sender = match msg.header_raw("Return-Path") {
        Some(rp) => {
            let rp = rp
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim();
            if rp.is_empty() {
                return None;
            }
            rp.to_string()
        }
        None => msg.from()?.first()?.address()?.to_string(),
    };
    let sender = Address::parse(&sender).ok()?;
    let local = sender.as_str().split('@').next().unwrap_or_default();
    if own.iter().any(|a| a == sender.as_str())
        || [
            "mailer-daemon",
            "postmaster",
            "noreply",
            "no-reply",
            "donotreply",
            "do-not-reply",
        ]
        .contains(&local)
        || local.starts_with("owner-")
        || local.ends_with("-request")
    {
        return None;
    }
    // Only mail addressed to the user directly (not Bcc, not via a list).
    let addressed = [msg.to(), msg.cc()]
        .into_iter()
        .flatten()
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .any(|a| own.iter().any(|o| o.eq_ignore_ascii_case(a)));
    if !addressed {
        return None;
    }
    Some(Answerable {
        sender,
        subject: msg.subject().map(str::to_string),
        message_id: msg.message_id().map(str::to_string),
    })
}

fn compose_reply(from: &str, to: &Answerable, v: &Vacation) -> Result<Vec<u8>> {
    use crate::build::{FieldValue, Leaf, NamedAddress, Node, build};
    let subject = v
        .subject
        .clone()
        .unwrap_or_else(|| format!("Auto: {}", to.subject.as_deref().unwrap_or("(no subject)")));
    let mut fields = vec![
        (
            "From".to_string(),
            FieldValue::Addresses(vec![NamedAddress {
                name: None,
                email: from.to_string(),
            }]),
        ),
        (
            "To".to_string(),
            FieldValue::Addresses(vec![NamedAddress {
                name: None,
                email: to.sender.as_str().to_string(),
            }]),
        ),
        ("Subject".to_string(), FieldValue::Text(subject)),
        (
            "Auto-Submitted".to_string(),
            FieldValue::Raw("auto-replied".into()),
        ),
    ];
    if let Some(id) = &to.message_id {
        fields.push((
            "In-Reply-To".into(),
            FieldValue::MessageIds(vec![id.clone()]),
        ));
        fields.push((
            "References".into(),
            FieldValue::MessageIds(vec![id.clone()]),
        ));
    }
    let text = |t: &str, body: &str| {
        Node::Leaf(Leaf {
            media_type: t.into(),
            content: body.as_bytes().to_vec(),
            ..Leaf::default()
        })
    };
    let body = match (&v.text_body, &v.html_body) {
        (Some(t), Some(h)) => Node::Multipart {
            subtype: "alternative".into(),
            parts: vec![text("text/plain", t), text("text/html", h)],
        },
        (None, Some(h)) => text("text/html", h),
        (t, None) => text("text/plain", t.as_deref().unwrap_or("")),
    };
    build(&fields, &body)
}
