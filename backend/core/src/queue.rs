//! The outbound queue as the service layer offers it: to the SMTP crate's delivery worker
//! (claim, record outcomes, deliver reports to senders) and to administrators (list, retry,
//! remove). Messages get here through sending ([`crate::submit`]).

use bytes::Bytes;
pub use mailroom_store::queue::{Outcome, QueuedMessage, QueuedRecipient};

use crate::delivery::{Folder, Incoming};
use crate::notify::StateChange;
use crate::{Core, Result};

/// One recipient's outcome, to record.
pub type Record = (QueuedMessage, QueuedRecipient, Outcome);

pub(crate) fn record_batcher(
    store: mailroom_store::Store,
    notifier: crate::notify::Notifier,
) -> crate::batch::Batcher<Record, ()> {
    crate::batch::Batcher::start(256, move |items: Vec<Record>| {
        let (store, notifier) = (store.clone(), notifier.clone());
        async move {
            crate::batch::each_on_failure(items, |batch| {
                let (store, notifier) = (store.clone(), notifier.clone());
                async move {
                    let r = store.queue_record_many(&batch).await.map(|changed| {
                        for (account_id, seq) in changed {
                            notifier.publish(StateChange { account_id, seq });
                        }
                        vec![(); batch.len()]
                    });
                    (batch, r)
                }
            })
            .await
        }
    })
}

/// One queued message with its recipients, for listings.
#[derive(Clone, Debug)]
pub struct QueueEntry {
    pub message: QueuedMessage,
    pub recipients: Vec<QueuedRecipient>,
}

impl Core {
    /// Queues a message of `account`'s that is not a submission (an auto-reply) for remote
    /// `recipients`: bytes made durable first, then the queue rows; the worker is woken.
    pub(crate) async fn enqueue(
        &self,
        raw: Bytes,
        mail_from: &str,
        account_id: i64,
        recipients: Vec<String>,
    ) -> Result<i64> {
        let id = mailroom_store::BlobId::of(&raw);
        let size = raw.len() as i64;
        self.store()
            .blobs()
            .put_many(vec![(id.clone(), raw)])
            .await?;
        let queued = self
            .store()
            .queue_insert(mailroom_store::queue::NewQueued {
                blob_id: id.as_str().to_string(),
                mail_from: mail_from.to_string(),
                account_id: Some(account_id),
                size,
                recipients,
            })
            .await?;
        self.inner.queue_wake.notify_one();
        Ok(queued)
    }

    /// Waits until something is queued (or a retry is asked for).
    pub async fn queue_wait(&self) {
        self.inner.queue_wake.notified().await
    }

    /// Claims due recipients until `lease_until` (unix seconds), grouped by message.
    pub async fn queue_claim(
        &self,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<(QueuedMessage, Vec<QueuedRecipient>)>> {
        Ok(self.store().queue_claim(lease_until, limit).await?)
    }

    /// Extends the claims on recipients still being tried (id, attempts when claimed).
    pub async fn queue_extend(&self, claims: &[(i64, i32)], lease_until: i64) -> Result<()> {
        Ok(self.store().queue_extend(claims, lease_until).await?)
    }

    /// Records one recipient's attempt (batched with others' into one transaction); JMAP
    /// sees the submission's new delivery status.
    pub async fn queue_record(
        &self,
        message: &QueuedMessage,
        rcpt: &QueuedRecipient,
        outcome: Outcome,
    ) -> Result<()> {
        self.inner
            .queue_records
            .call((message.clone(), rcpt.clone(), outcome))
            .await
    }

    /// Records several outcomes together (one transaction when nothing else is waiting).
    pub async fn queue_record_many(&self, records: Vec<Record>) -> Result<()> {
        for r in self.inner.queue_records.call_many(records).await {
            r?;
        }
        Ok(())
    }

    pub async fn queue_delay_notified(&self, rcpt_ids: &[i64]) -> Result<()> {
        Ok(self.store().queue_delay_notified(rcpt_ids).await?)
    }

    /// When the next recipient is due (unix seconds), if any is queued.
    pub async fn queue_next_due(&self) -> Result<Option<i64>> {
        Ok(self.store().queue_next_due().await?)
    }

    /// The bytes of a queued message.
    pub async fn queue_bytes(&self, message: &QueuedMessage) -> Result<Bytes> {
        self.message_bytes(&message.blob_id).await
    }

    /// A delivery report (bounce or delay notice) filed in the sender's INBOX.
    pub async fn deliver_report(&self, account_id: i64, raw: Vec<u8>) -> Result<()> {
        self.deliver(Incoming {
            raw: raw.into(),
            accounts: vec![account_id],
            folder: Folder::Inbox,
            keywords: Vec::new(),
            received_at: None,
            derived: Vec::new(),
        })
        .await?;
        Ok(())
    }

    /// Every queued message with its recipients, oldest first.
    pub async fn queue_list(&self) -> Result<Vec<QueueEntry>> {
        let messages = self.store().queue_messages(None).await?;
        let mut by_message: std::collections::HashMap<i64, Vec<QueuedRecipient>> =
            std::collections::HashMap::new();
        for r in self.store().queue_recipients(None).await? {
            by_message.entry(r.message_id).or_default().push(r);
        }
        Ok(messages
            .into_iter()
            .map(|m| QueueEntry {
                recipients: by_message.remove(&m.id).unwrap_or_default(),
                message: m,
            })
            .collect())
    }

    /// Makes one message's (or every message's) waiting recipients due now; how many.
    pub async fn queue_retry(&self, message: Option<i64>) -> Result<u64> {
        let n = self.store().queue_retry(message).await?;
        self.inner.queue_wake.notify_one();
        Ok(n)
    }

    /// Drops a queued message: it will not be sent, and no bounce is made.
    pub async fn queue_remove(&self, message: i64) -> Result<()> {
        Ok(self.store().queue_remove(message).await?)
    }
}

/// A destination domain's MTA-STS policy as kept across restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMtaSts {
    pub id: String,
    /// The policy's own word: `enforce`, `testing` or `none`.
    pub mode: String,
    pub mx: Vec<String>,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

impl Core {
    /// The stored MTA-STS policy of a destination domain, unless it has expired.
    pub async fn mta_sts_policy(&self, domain: &str) -> Result<Option<StoredMtaSts>> {
        Ok(self
            .store()
            .mta_sts_get(domain)
            .await?
            .map(|r| StoredMtaSts {
                id: r.policy_id,
                mode: r.mode,
                mx: r.mx.lines().map(str::to_string).collect(),
                expires_at: r.expires_at,
            }))
    }

    /// Remembers a destination domain's MTA-STS policy across restarts.
    pub async fn mta_sts_remember(&self, domain: &str, p: &StoredMtaSts) -> Result<()> {
        let row = mailroom_store::mta_sts::MtaStsRow {
            domain: domain.to_string(),
            policy_id: p.id.clone(),
            mode: p.mode.clone(),
            mx: p.mx.join("\n"),
            expires_at: p.expires_at,
        };
        Ok(self.store().mta_sts_put(&row).await?)
    }
}
