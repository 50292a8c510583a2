//! Delivery: who an address reaches, and filing a message durably into mailboxes.

use bytes::Bytes;
use mailroom_store::BlobId;
use mailroom_store::delivery::{Filed, NewDelivery, SentSubmission, Target};

use crate::address::Address;
use crate::{Core, Delivered, Error, Result};

/// What a recipient address resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// Local: delivers to these accounts (one or more, through an alias).
    Local(Vec<i64>),
    /// Not a domain of ours.
    Remote,
}

/// Where a delivered message goes in each account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folder {
    Inbox,
    /// A mailbox by id; it must belong to every target account.
    Mailbox(i64),
}

/// A message to file, with who it is for.
pub struct Incoming {
    pub raw: Bytes,
    pub accounts: Vec<i64>,
    pub folder: Folder,
    /// Keywords the new emails start with (e.g. `$seen` for imported mail).
    pub keywords: Vec<String>,
    /// Unix seconds; now if `None`.
    pub received_at: Option<i64>,
    /// Data a gateway derived from `raw`, kept with it (see [`Core::derived_put`]); a bulk
    /// import brings it so that no client's first look at the mailbox has to read the bytes.
    pub derived: Vec<(i16, Vec<u8>)>,
}

impl Core {
    /// Resolves an address in this order: a user; an alias; the address without its `+tag`
    /// (user, then alias); the domain's catch-all. A local domain with none of these gives
    /// `NotFound`; a domain that is not ours gives [`Recipient::Remote`].
    pub async fn resolve_recipient(&self, address: &str) -> Result<Recipient> {
        let addr = Address::parse(address)?;
        if let Some(accounts) = self.caches().recipient(addr.as_str()) {
            return Ok(Recipient::Local(accounts));
        }
        if self.caches().is_remote(addr.domain()) {
            return Ok(Recipient::Remote);
        }
        let r = self.resolve_uncached(&addr).await?;
        match &r {
            Recipient::Local(accounts) => {
                self.caches().put_recipient(addr.as_str(), accounts.clone())
            }
            Recipient::Remote => self.caches().put_remote(addr.domain()),
        }
        Ok(r)
    }

    async fn resolve_uncached(&self, addr: &Address) -> Result<Recipient> {
        let Some(domain) = self.store().domain_get(addr.domain()).await? else {
            return Ok(Recipient::Remote);
        };
        for candidate in std::iter::once(addr.clone()).chain(addr.without_tag()) {
            if let Some(acc) = self.store().account_by_address(candidate.as_str()).await? {
                return Ok(Recipient::Local(vec![acc.id]));
            }
            let targets = self.store().alias_targets(candidate.as_str()).await?;
            if !targets.is_empty() {
                return Ok(Recipient::Local(targets));
            }
        }
        match domain.catch_all_account_id {
            Some(id) => Ok(Recipient::Local(vec![id])),
            None => Err(Error::NotFound(format!("mailbox {addr}"))),
        }
    }

    /// Stores `incoming` durably and files it; returns once the blob is synced and the
    /// database committed, with one entry per distinct account.
    pub async fn deliver(&self, incoming: Incoming) -> Result<Vec<Delivered>> {
        let mut v = self.deliver_many(vec![incoming]).await?;
        v.pop()
            .ok_or_else(|| Error::Internal("no delivery result".into()))
    }

    /// Files several messages in one transaction, in order (their UIDs follow the order
    /// given), all or none. Blobs are written concurrently first.
    pub async fn deliver_many(&self, incoming: Vec<Incoming>) -> Result<Vec<Vec<Delivered>>> {
        self.deliver_many_with(incoming, false).await
    }

    /// [`deliver_many`](Self::deliver_many); with `quota`, `OverQuota` when the messages do
    /// not fit an account's limit (checked inside the transaction). SMTP checks at RCPT
    /// instead: mail already accepted there is never refused afterwards.
    pub(crate) async fn deliver_many_with(
        &self,
        incoming: Vec<Incoming>,
        quota: bool,
    ) -> Result<Vec<Vec<Delivered>>> {
        Ok(self.deliver_sending(incoming, quota, None).await?.delivered)
    }

    /// [`deliver_many_with`](Self::deliver_many_with), recording a submission in the same
    /// transaction when a message is being sent (its Sent copy the last of `incoming`).
    pub(crate) async fn deliver_sending(
        &self,
        incoming: Vec<Incoming>,
        quota: bool,
        sending: Option<Sending>,
    ) -> Result<Filed> {
        // Mail arriving in an inbox may need a vacation auto-reply once it is stored.
        let answer = self.vacation_candidates(&incoming).await;
        let filed = self.file(incoming, quota, sending).await?;
        for (account_id, raw) in answer {
            let core = self.clone();
            tokio::spawn(async move {
                if let Err(e) = core.auto_reply(account_id, raw).await {
                    tracing::warn!(account_id, error = %e, "vacation auto-reply failed");
                }
            });
        }
        Ok(filed)
    }

    /// [`deliver_many`](Self::deliver_many) without the auto-reply (which uses this to
    /// deliver its own, automatic, message).
    pub(crate) async fn deliver_stored(
        &self,
        incoming: Vec<Incoming>,
    ) -> Result<Vec<Vec<Delivered>>> {
        Ok(self.file(incoming, false, None).await?.delivered)
    }

    async fn file(
        &self,
        incoming: Vec<Incoming>,
        quota: bool,
        sending: Option<Sending>,
    ) -> Result<Filed> {
        let mut prepared = Vec::with_capacity(incoming.len());
        // account → its inbox id, and (negated mailbox id) → owner, both checked once.
        let mut inbox_of = std::collections::HashMap::new();
        for inc in incoming {
            let targets = self.targets(&inc, &mut inbox_of, quota).await?;
            let received_at = inc.received_at.unwrap_or_else(mailroom_store::now);
            prepared.push((inc.raw, targets, received_at, inc.derived));
        }
        // Hashing and MIME parsing are CPU work: microseconds for a typical message, done
        // here; a large one goes to a blocking thread so it cannot stall the reactor.
        let mut parses = tokio::task::JoinSet::new();
        let mut ready: Vec<Option<(NewDelivery, Bytes)>> = Vec::new();
        ready.resize_with(prepared.len(), || None);
        for (i, (raw, targets, received_at, derived)) in prepared.into_iter().enumerate() {
            let small = raw_is_small(&raw);
            let prepare = move || {
                let d = NewDelivery {
                    blob_id: BlobId::of(&raw),
                    meta: crate::parse::message_meta(&raw),
                    received_at,
                    targets,
                    derived,
                };
                (i, d, raw)
            };
            if small {
                let (i, d, raw) = prepare();
                ready[i] = Some((d, raw));
            } else {
                parses.spawn_blocking(prepare);
            }
        }
        while let Some(r) = parses.join_next().await {
            let (i, d, raw) = r.map_err(|e| Error::Internal(format!("parsing: {e}")))?;
            ready[i] = Some((d, raw));
        }
        let (batch, raw): (Vec<NewDelivery>, Vec<Bytes>) = ready
            .into_iter()
            .map(|d| d.expect("every index prepared"))
            .unzip();
        let (extra, submissions) = match sending {
            None => (Vec::new(), Vec::new()),
            Some(s) => (
                s.queued.into_iter().collect(),
                vec![SentSubmission {
                    of: batch.len().saturating_sub(1),
                    submission: s.submission,
                }],
            ),
        };
        self.inner
            .committer
            .commit(batch, raw, extra, submissions)
            .await
    }

    async fn targets(
        &self,
        inc: &Incoming,
        inbox_of: &mut std::collections::HashMap<i64, i64>,
        quota: bool,
    ) -> Result<Vec<Target>> {
        let mut accounts = inc.accounts.clone();
        accounts.sort_unstable();
        accounts.dedup();
        if accounts.is_empty() {
            return Err(Error::Invalid(
                "a delivery needs at least one recipient".into(),
            ));
        }
        let keywords = normalise_keywords(&inc.keywords)?;
        let mut targets = Vec::with_capacity(accounts.len());
        for account_id in accounts {
            let mailbox_id = match inc.folder {
                Folder::Mailbox(id) => {
                    // Authorization lives here, not in the callers: the mailbox must be the
                    // account's own. Checked once and remembered (ownership never changes).
                    if self.caches().owner(id) != Some(account_id) {
                        let owned = self
                            .store()
                            .mailbox_list(account_id)
                            .await?
                            .iter()
                            .any(|m| m.id == id);
                        if !owned {
                            return Err(Error::NotFound(format!("mailbox {id}")));
                        }
                        self.caches().put_owner(id, account_id);
                    }
                    id
                }
                Folder::Inbox => match inbox_of
                    .get(&account_id)
                    .copied()
                    .or_else(|| self.caches().inbox(account_id))
                {
                    Some(id) => id,
                    None => {
                        let id = self
                            .store()
                            .mailbox_by_role(account_id, "inbox")
                            .await?
                            .ok_or_else(|| {
                                Error::Internal(format!("account {account_id} has no inbox"))
                            })?
                            .id;
                        inbox_of.insert(account_id, id);
                        self.caches().put_inbox(account_id, id);
                        id
                    }
                },
            };
            targets.push(Target {
                account_id,
                mailbox_id,
                keywords: keywords.clone(),
                enforce_quota: quota,
            });
        }
        Ok(targets)
    }
}

/// A message being sent: its submission, recorded in the transaction that files its Sent
/// copy, and its recipients' copy when that differs from the Sent copy (a Bcc removed).
pub(crate) struct Sending {
    pub(crate) submission: mailroom_store::submission::NewSubmission,
    pub(crate) queued: Option<(BlobId, Bytes)>,
}

/// Up to this size a message is parsed on the calling task (tens of microseconds).
fn raw_is_small(raw: &[u8]) -> bool {
    raw.len() <= 256 * 1024
}

/// Keywords as stored: lowercase, sorted, space-separated; IMAP system flags map to their JMAP
/// names (`\Seen` → `$seen`).
pub(crate) fn normalise_keywords(kw: &[String]) -> Result<String> {
    let mut out = Vec::with_capacity(kw.len());
    for k in kw {
        let k = match k.to_ascii_lowercase().as_str() {
            "\\seen" => "$seen".to_string(),
            "\\flagged" => "$flagged".to_string(),
            "\\answered" => "$answered".to_string(),
            "\\draft" => "$draft".to_string(),
            "\\deleted" => "$deleted".to_string(),
            other => other.to_string(),
        };
        // RFC 8621 §4.1.1: keywords are IMAP atoms of 1 to 255 characters.
        if k.is_empty()
            || k.len() > 255
            || k.bytes()
                .any(|b| b <= b' ' || b >= 0x7f || b"(){]%*\"\\".contains(&b))
        {
            return Err(Error::Invalid(format!("{k:?} is not a valid keyword")));
        }
        out.push(k);
    }
    out.sort();
    out.dedup();
    Ok(out.join(" "))
}
