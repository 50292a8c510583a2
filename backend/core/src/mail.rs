//! Reading mail: mailboxes with their counts, listing and fetching emails. Every operation
//! takes the account it acts for; ids of another account's objects are simply not found.

pub use mailroom_store::query::AddressField;
pub use mailroom_store::query::EmailState;
use mailroom_store::query::{EmailRow, MailboxCounts, MessageMeta};

use crate::{Core, Error, Mailbox, Result};

/// A mailbox with the counts JMAP's Mailbox object carries.
#[derive(Clone, Debug)]
pub struct MailboxView {
    pub mailbox: Mailbox,
    pub counts: MailboxCounts,
}

/// An email with its parsed metadata and the mailboxes it is in.
#[derive(Clone, Debug)]
pub struct EmailView {
    pub row: EmailRow,
    pub mailbox_ids: Vec<i64>,
}

impl EmailView {
    /// Keywords as a list (`$seen`, `$flagged`, …).
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.row.keywords.split_whitespace()
    }
}

impl Core {
    /// The mailbox of `account_id` with `name` (top level), or the inbox by its role.
    pub async fn mailbox_find(&self, account_id: i64, name: &str) -> Result<Mailbox> {
        self.store()
            .mailbox_list(account_id)
            .await?
            .into_iter()
            .find(|m| {
                m.parent_id.is_none()
                    && (m.name == name
                        || (name.eq_ignore_ascii_case("inbox")
                            && m.role.as_deref() == Some("inbox")))
            })
            .ok_or_else(|| Error::NotFound(format!("mailbox {name}")))
    }

    pub async fn mailbox_list(&self, account_id: i64) -> Result<Vec<Mailbox>> {
        Ok(self.store().mailbox_list(account_id).await?)
    }

    /// The account's mailboxes for finding one by name or id: their tree as it is (a change
    /// through this process is seen by the next call, another process's within a few
    /// seconds), but not their counters (`uid_next` may be behind); `mailbox_list` reads
    /// those.
    pub async fn mailbox_tree(&self, account_id: i64) -> Result<std::sync::Arc<Vec<Mailbox>>> {
        if let Some(t) = self.caches().tree(account_id) {
            return Ok(t);
        }
        let generation = self.caches().tree_generation();
        let t = std::sync::Arc::new(self.store().mailbox_list(account_id).await?);
        self.caches().put_tree(account_id, t.clone(), generation);
        Ok(t)
    }

    /// `NotFound` unless the mailbox is the account's.
    /// Remembered once seen: a mailbox never changes owner and ids are never reused.
    pub(crate) async fn own_mailbox(&self, account_id: i64, mailbox_id: i64) -> Result<()> {
        if self.caches().owner(mailbox_id) == Some(account_id) {
            return Ok(());
        }
        if self
            .store()
            .mailbox_list(account_id)
            .await?
            .iter()
            .any(|m| m.id == mailbox_id)
        {
            self.caches().put_owner(mailbox_id, account_id);
            Ok(())
        } else {
            Err(Error::NotFound(format!("mailbox {mailbox_id}")))
        }
    }

    /// Number of messages in one of the account's mailboxes.
    pub async fn mailbox_count(&self, account_id: i64, mailbox_id: i64) -> Result<u64> {
        self.own_mailbox(account_id, mailbox_id).await?;
        Ok(self.store().mailbox_count(mailbox_id).await?)
    }

    /// A page of one of the account's mailboxes in UID order, after `after_uid`.
    pub async fn mailbox_entries(
        &self,
        account_id: i64,
        mailbox_id: i64,
        after_uid: u32,
        limit: u64,
    ) -> Result<Vec<crate::MailboxEntry>> {
        self.own_mailbox(account_id, mailbox_id).await?;
        Ok(self
            .store()
            .mailbox_entries(mailbox_id, after_uid, limit)
            .await?)
    }

    /// Like [`mailbox_entries`](Self::mailbox_entries), with each message's raw bytes: the
    /// ownership check is done once for the page, not once per message.
    pub async fn mailbox_messages(
        &self,
        account_id: i64,
        mailbox_id: i64,
        after_uid: u32,
        limit: u64,
    ) -> Result<Vec<(crate::MailboxEntry, bytes::Bytes)>> {
        let entries = self
            .mailbox_entries(account_id, mailbox_id, after_uid, limit)
            .await?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let raw = self.store().blobs().get(&e.blob_id).await?;
            out.push((e, raw));
        }
        Ok(out)
    }

    /// The change log of an account after `since`.
    pub async fn changes_since(
        &self,
        account_id: i64,
        since: i64,
        limit: u64,
    ) -> Result<Vec<crate::Change>> {
        Ok(self.store().changes_since(account_id, since, limit).await?)
    }

    /// Every mailbox of the account, with counts. Counting walks the account's memberships,
    /// so the counts are kept per account state: until something changes, they are reused.
    pub async fn mailboxes(&self, account_id: i64) -> Result<Vec<MailboxView>> {
        let state = self.state(account_id).await?;
        self.mailboxes_at(account_id, state).await
    }

    /// [`mailboxes`](Self::mailboxes) for a caller that has read the account's `state`
    /// already. It must have been read before this call: a change landing meanwhile then
    /// leaves the cached counts labelled older than their data, so the next call counts again.
    pub async fn mailboxes_at(&self, account_id: i64, state: i64) -> Result<Vec<MailboxView>> {
        let counts = match self.caches().counts(account_id, state) {
            Some(c) => c,
            None => {
                let lock = self.caches().counting(account_id);
                let _counting = lock.lock().await;
                match self.caches().counts(account_id, state) {
                    Some(c) => c,
                    None => {
                        let c = std::sync::Arc::new(self.store().mailbox_counts(account_id).await?);
                        self.caches().put_counts(account_id, state, c.clone());
                        c
                    }
                }
            }
        };
        let counts: Vec<MailboxCounts> = counts.as_ref().clone();
        let mut by_id: std::collections::HashMap<i64, MailboxCounts> =
            counts.into_iter().map(|c| (c.mailbox_id, c)).collect();
        Ok(self
            .store()
            .mailbox_list(account_id)
            .await?
            .into_iter()
            .map(|mailbox| {
                let counts = by_id.remove(&mailbox.id).unwrap_or(MailboxCounts {
                    mailbox_id: mailbox.id,
                    ..Default::default()
                });
                MailboxView { mailbox, counts }
            })
            .collect())
    }

    /// The account's emails among `ids`, in the order asked; ids that are not the account's
    /// are left out.
    pub async fn emails(&self, account_id: i64, ids: &[i64]) -> Result<Vec<EmailView>> {
        let states = self.store().email_states(account_id, ids).await?;
        self.email_views(states, ids).await
    }

    /// Emails whose own facts were already read (by the list view, with its page), with
    /// their messages' metadata, in the order of `ids`.
    pub async fn email_views(
        &self,
        states: Vec<(EmailState, Vec<i64>)>,
        ids: &[i64],
    ) -> Result<Vec<EmailView>> {
        // A message's metadata never changes: it is read from the database once, then
        // served from memory.
        let mut metas: std::collections::HashMap<String, std::sync::Arc<MessageMeta>> =
            std::collections::HashMap::with_capacity(states.len());
        let mut missing: Vec<&str> = Vec::new();
        for (e, _) in &states {
            match self.caches().message_meta(&e.blob_id) {
                Some(m) => {
                    metas.insert(e.blob_id.clone(), m);
                }
                None => missing.push(&e.blob_id),
            }
        }
        missing.sort_unstable();
        missing.dedup();
        for m in self.store().message_meta(&missing).await? {
            let m = std::sync::Arc::new(m);
            self.caches().put_message_meta(m.clone());
            metas.insert(m.blob_id.clone(), m);
        }
        let mut by_id: std::collections::HashMap<i64, EmailView> =
            std::collections::HashMap::with_capacity(states.len());
        for (e, mailbox_ids) in states {
            // A message row is never deleted while an email refers to it.
            let Some(meta) = metas.get(e.blob_id.as_str()) else {
                continue;
            };
            let row = EmailRow::new(e, meta.clone());
            by_id.insert(row.id, EmailView { row, mailbox_ids });
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// The account's state: its change sequence number.
    pub async fn state(&self, account_id: i64) -> Result<i64> {
        Ok(self.store().account_state(account_id).await?)
    }
}

impl Core {
    /// Stores an upload durably and lets the account use it (RFC 8620 §6.1); returns its id.
    pub async fn upload(
        &self,
        account_id: i64,
        bytes: bytes::Bytes,
        content_type: &str,
    ) -> Result<crate::BlobId> {
        let id = crate::BlobId::of(&bytes);
        let size = bytes.len() as i64;
        self.store()
            .blobs()
            .put_many(vec![(id.clone(), bytes)])
            .await?;
        self.store()
            .upload_record(account_id, id.as_str(), content_type, size)
            .await?;
        Ok(id)
    }

    /// The bytes of a blob the account may read: the message of one of its emails, an
    /// upload of its own, or one part of such a message ([`part_blob_id`]); `NotFound` for
    /// any other, whether it exists or not.
    pub async fn blob_for(&self, account_id: i64, blob_id: &str) -> Result<bytes::Bytes> {
        if let Some((message, part)) = blob_id.rsplit_once('_') {
            let raw = Box::pin(self.blob_for(account_id, message)).await?;
            let part = part.replace('-', ".");
            return tokio::task::spawn_blocking(move || crate::mime::part_content(&raw, &part))
                .await
                .map_err(|e| Error::Internal(format!("parsing: {e}")))?
                .map(|(_, bytes)| bytes::Bytes::from(bytes))
                .ok_or_else(|| Error::NotFound("blob".into()));
        }
        let id = crate::BlobId::parse(blob_id).ok_or_else(|| Error::NotFound("blob".into()))?;
        if !self
            .store()
            .account_has_blob(account_id, id.as_str())
            .await?
        {
            return Err(Error::NotFound("blob".into()));
        }
        Ok(self.store().blobs().get(&id).await?)
    }
}

/// What changed for one type of object between two states (RFC 8620 §5.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub new_state: i64,
    pub has_more: bool,
    pub created: Vec<i64>,
    pub updated: Vec<i64>,
    pub destroyed: Vec<i64>,
}

impl Core {
    /// Changes of `object_type` after state `since`, at most `max` ids; a page ends at a state
    /// boundary so the client can continue from `new_state`. `since` must be a state this
    /// account has had.
    pub async fn changes(
        &self,
        account_id: i64,
        object_type: crate::ObjectType,
        since: i64,
        max: usize,
    ) -> Result<Changes> {
        let current = self.state(account_id).await?;
        if since < 0 || since > current {
            return Err(Error::Invalid(format!(
                "state {since} is not one this account has had"
            )));
        }
        let limit = (max as u64).saturating_mul(4).max(16);
        let mut rows = self
            .store()
            .changes_of_type(account_id, object_type, since, limit)
            .await?;
        let mut out = Changes {
            new_state: current,
            ..Default::default()
        };
        // A read cut at the limit may end inside one state's rows: leave that state for the
        // next call, so a page always ends on a whole state.
        if rows.len() as u64 == limit {
            let last = rows.last().map(|c| c.seq).unwrap_or(since);
            rows.retain(|c| c.seq < last);
            out.has_more = true;
        }
        let mut seen: std::collections::HashMap<i64, (bool, bool)> =
            std::collections::HashMap::new(); // id -> (created, destroyed)
        let mut order: Vec<i64> = Vec::new();
        let mut last_seq = since;
        let mut i = 0;
        while i < rows.len() {
            // Take all rows of one seq together, so a page ends at a state.
            let seq = rows[i].seq;
            let group: Vec<&crate::Change> =
                rows[i..].iter().take_while(|c| c.seq == seq).collect();
            let new_ids = group
                .iter()
                .filter(|c| !seen.contains_key(&c.object_id))
                .count();
            if order.len() + new_ids > max && !order.is_empty() {
                out.has_more = true;
                rows.truncate(i);
                break;
            }
            for c in &group {
                let e = seen.entry(c.object_id).or_insert_with(|| {
                    order.push(c.object_id);
                    (false, false)
                });
                match c.op {
                    crate::ChangeOp::Created => e.0 = true,
                    crate::ChangeOp::Destroyed => e.1 = true,
                    crate::ChangeOp::Updated => {}
                }
            }
            last_seq = seq;
            i += group.len();
        }
        if out.has_more {
            out.new_state = last_seq;
        }
        for id in order {
            match seen[&id] {
                (true, true) => {}
                (true, false) => out.created.push(id),
                (false, true) => out.destroyed.push(id),
                (false, false) => out.updated.push(id),
            }
        }
        Ok(out)
    }

    /// The emails of each of the account's threads among `ids`, oldest first; threads with
    /// no email of the account are absent.
    pub async fn threads(&self, account_id: i64, ids: &[i64]) -> Result<Vec<(i64, Vec<i64>)>> {
        let mut by_thread: Vec<(i64, Vec<i64>)> = Vec::new();
        let rows = self.store().thread_emails(account_id, ids).await?;
        for &t in ids {
            let emails: Vec<i64> = rows
                .iter()
                .filter(|(th, _)| *th == t)
                .map(|(_, e)| *e)
                .collect();
            if !emails.is_empty() && !by_thread.iter().any(|(x, _)| *x == t) {
                by_thread.push((t, emails));
            }
        }
        Ok(by_thread)
    }
}

impl Core {
    /// A page of a mailbox's emails, newest first, after `cursor` (the `(received_at, id)`
    /// of the last email of the previous page). `NotFound` for a mailbox not the account's.
    pub async fn email_page(
        &self,
        account_id: i64,
        mailbox_id: i64,
        cursor: Option<(i64, i64)>,
        limit: u64,
    ) -> Result<Vec<(i64, i64)>> {
        self.own_mailbox(account_id, mailbox_id).await?;
        Ok(self
            .store()
            .email_page(account_id, mailbox_id, cursor, limit)
            .await?)
    }

    /// The raw message of one of the account's emails.
    pub async fn email_raw(&self, account_id: i64, email_id: i64) -> Result<bytes::Bytes> {
        let (email, _) = self
            .store()
            .email_states(account_id, &[email_id])
            .await?
            .pop()
            .ok_or_else(|| Error::NotFound(format!("email {email_id}")))?;
        self.message_bytes(&email.blob_id).await
    }

    /// The bytes of a stored message by its blob id, for callers that already read the
    /// email's row for the account (so the account may read it).
    pub(crate) async fn message_bytes(&self, blob_id: &str) -> Result<bytes::Bytes> {
        let id = crate::BlobId::parse(blob_id)
            .ok_or_else(|| Error::Internal(format!("bad blob id {blob_id}")))?;
        Ok(self.store().blobs().get(&id).await?)
    }
}

impl Core {
    /// The MIME structure of an email read with [`emails`](Self::emails).
    pub async fn email_structure(&self, e: &EmailView) -> Result<crate::mime::MimePart> {
        parse_structure(self.message_bytes(&e.row.blob_id).await?).await
    }

    /// A blob the account may read, parsed as a message (Email/parse): `None` if it is not one.
    pub async fn blob_parsed(&self, account_id: i64, blob_id: &str) -> Result<Option<ParsedBlob>> {
        let raw = self.blob_for(account_id, blob_id).await?;
        tokio::task::spawn_blocking(move || {
            if !crate::import::starts_with_header_field(&raw) {
                return None;
            }
            let meta = crate::parse::message_meta(&raw);
            Some(ParsedBlob {
                root: crate::mime::structure(&raw),
                size: raw.len() as i64,
                preview: meta.preview,
                has_attachment: meta.has_attachment,
            })
        })
        .await
        .map_err(|e| Error::Internal(format!("parsing: {e}")))
    }
}

/// A blob read as a message.
pub struct ParsedBlob {
    pub root: crate::mime::MimePart,
    pub size: i64,
    pub preview: String,
    pub has_attachment: bool,
}

/// The MIME tree of message bytes, parsed off the async threads.
pub(crate) async fn parse_structure(raw: bytes::Bytes) -> Result<crate::mime::MimePart> {
    tokio::task::spawn_blocking(move || crate::mime::structure(&raw))
        .await
        .map_err(|e| Error::Internal(format!("parsing: {e}")))
}

/// The blob id of one part of a message: the message's blob id and the part's section number
/// (`.` written `-`, since a JMAP id has no dots).
pub fn part_blob_id(message_blob: &str, part_id: &str) -> String {
    format!("{message_blob}_{}", part_id.replace('.', "-"))
}
