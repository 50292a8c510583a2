//! A mailbox seen as its members in UID order — what a session that keeps a mailbox open
//! (IMAP's selected state) reads and follows — and filing emails into and out of a mailbox:
//! copy (one more mailbox), move (from one to another) and expunge (out of one; an email in
//! no other mailbox is destroyed).

pub use mailroom_store::members::Member;
pub use mailroom_store::query::EmailState;

use crate::update::EmailUpdate;
use crate::{Core, Error, Result};

impl Core {
    /// The mailbox's members changed or added after `since` (a change seq), in UID order.
    pub async fn members_since(
        &self,
        account_id: i64,
        mailbox_id: i64,
        since: i64,
    ) -> Result<Vec<Member>> {
        self.own_mailbox(account_id, mailbox_id).await?;
        Ok(self.store().members_since(mailbox_id, since).await?)
    }

    /// Every UID of one of the account's mailboxes, ascending.
    pub async fn member_uids(&self, account_id: i64, mailbox_id: i64) -> Result<Vec<u32>> {
        self.own_mailbox(account_id, mailbox_id).await?;
        Ok(self.store().member_uids(mailbox_id).await?)
    }

    /// The modseq (seq of the last change) of each of the account's emails among `ids`.
    pub async fn email_modseqs(
        &self,
        account_id: i64,
        ids: &[i64],
    ) -> Result<std::collections::HashMap<i64, i64>> {
        Ok(self
            .store()
            .email_modseqs(account_id, ids)
            .await?
            .into_iter()
            .collect())
    }

    /// Data a gateway derived from message bytes and kept (`kind` is the gateway's own
    /// number), for the blobs among `blob_ids` that have some. Blob ids come from rows the
    /// caller read for the account.
    pub async fn derived_get(
        &self,
        kind: i16,
        blob_ids: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self.store().derived_get(kind, blob_ids).await?)
    }

    /// Keeps derived data (rebuildable: losing it costs only the work of deriving again).
    pub async fn derived_put(&self, kind: i16, rows: Vec<(String, Vec<u8>)>) -> Result<()> {
        Ok(self.store().derived_put(kind, rows).await?)
    }

    /// The total size of one of the account's mailboxes' messages, in octets.
    pub async fn mailbox_size(&self, account_id: i64, mailbox_id: i64) -> Result<u64> {
        self.own_mailbox(account_id, mailbox_id).await?;
        Ok(self.store().member_size(mailbox_id).await?)
    }

    /// `(email id, uid)` for those of `email_ids` in the mailbox.
    pub async fn member_uids_of(
        &self,
        account_id: i64,
        mailbox_id: i64,
        email_ids: &[i64],
    ) -> Result<Vec<(i64, u32)>> {
        self.own_mailbox(account_id, mailbox_id).await?;
        Ok(self.store().member_uids_of(mailbox_id, email_ids).await?)
    }

    /// The account's emails among `ids` (their own facts and mailboxes), in no set order.
    pub async fn email_states(
        &self,
        account_id: i64,
        ids: &[i64],
    ) -> Result<Vec<(EmailState, Vec<i64>)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            out.extend(self.store().email_states(account_id, chunk).await?);
        }
        Ok(out)
    }

    /// The bytes of the account's email whose row was read with [`email_states`](Self::email_states).
    pub async fn email_bytes(&self, e: &EmailState) -> Result<bytes::Bytes> {
        self.message_bytes(&e.blob_id).await
    }

    /// The bytes of several emails (blob ids of rows read with
    /// [`email_states`](Self::email_states), so the account may read them), in order,
    /// in one batch (see `BlobStore::get_many`); `None` for bytes gone meanwhile (the email
    /// was removed and its blob collected).
    pub async fn emails_bytes(&self, blob_ids: Vec<String>) -> Result<Vec<Option<bytes::Bytes>>> {
        let ids = blob_ids
            .iter()
            .map(|b| {
                crate::BlobId::parse(b).ok_or_else(|| Error::Internal(format!("bad blob id {b}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.store().blobs().get_many(&ids).await?)
    }

    /// Files the account's emails among `ids` into `to` as well (IMAP COPY within an
    /// account: one email in one more mailbox, its keywords shared). Returns `(email id,
    /// uid in to)` for each, including those already there.
    pub async fn copy_emails(
        &self,
        account_id: i64,
        ids: &[i64],
        to: i64,
    ) -> Result<Vec<(i64, u32)>> {
        self.refile(account_id, ids, None, to).await
    }

    /// Moves the account's emails among `ids` from `from` into `to` (IMAP MOVE); returns
    /// `(email id, uid in to)` for each.
    pub async fn move_emails(
        &self,
        account_id: i64,
        ids: &[i64],
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, u32)>> {
        self.refile(account_id, ids, Some(from), to).await
    }

    async fn refile(
        &self,
        account_id: i64,
        ids: &[i64],
        from: Option<i64>,
        to: i64,
    ) -> Result<Vec<(i64, u32)>> {
        self.own_mailbox(account_id, to).await?;
        // Additions and removals, applied to each email as the write finds it: a move racing
        // another client's copy keeps both effects.
        self.update_existing(account_id, ids, |email_id| EmailUpdate {
            email_id,
            add_mailboxes: vec![to],
            remove_mailboxes: from.into_iter().collect(),
            ..EmailUpdate::default()
        })
        .await?;
        let mut placed = self.store().member_uids_of(to, ids).await?;
        // In the order asked, as COPYUID pairs them.
        let order: std::collections::HashMap<i64, usize> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        placed.sort_by_key(|(id, _)| order.get(id).copied().unwrap_or(usize::MAX));
        Ok(placed)
    }

    /// Takes the account's emails among `ids` out of `mailbox` (IMAP EXPUNGE): an email in
    /// other mailboxes stays there, one in no other is destroyed — decided in the write's
    /// transaction, so a copy made meanwhile is never destroyed with it.
    pub async fn expunge(&self, account_id: i64, mailbox_id: i64, ids: &[i64]) -> Result<()> {
        self.own_mailbox(account_id, mailbox_id).await?;
        self.update_existing(account_id, ids, |email_id| EmailUpdate {
            email_id,
            remove_mailboxes: vec![mailbox_id],
            destroy_if_unfiled: true,
            ..EmailUpdate::default()
        })
        .await
    }

    /// Applies `update(id)` to those of `ids` that are the account's emails, a thousand at a
    /// time; an email destroyed meanwhile is no error (there is nothing left to change).
    async fn update_existing(
        &self,
        account_id: i64,
        ids: &[i64],
        update: impl Fn(i64) -> EmailUpdate,
    ) -> Result<()> {
        // `update_emails` answers NotFound for an id that is not (or no longer) the account's.
        let updates: Vec<EmailUpdate> = ids.iter().map(|&id| update(id)).collect();
        for chunk in updates.chunks(1000) {
            for r in self.update_emails(account_id, chunk.to_vec()).await? {
                match r {
                    Ok(()) | Err(Error::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Adds and removes keywords of the account's emails, each applied to the email as the
    /// write finds it (IMAP STORE +FLAGS / -FLAGS); one result each: `Error::Modified` for
    /// an email changed after `unchanged_since`, left as it was.
    pub async fn change_keywords(
        &self,
        account_id: i64,
        ids: &[i64],
        add: &[String],
        remove: &[String],
        unchanged_since: Option<i64>,
    ) -> Result<Vec<Result<()>>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let updates = chunk
                .iter()
                .map(|&email_id| EmailUpdate {
                    email_id,
                    add_keywords: add.to_vec(),
                    remove_keywords: remove.to_vec(),
                    unchanged_since,
                    ..EmailUpdate::default()
                })
                .collect();
            out.extend(self.update_emails(account_id, updates).await?);
        }
        Ok(out)
    }

    /// Sets the keywords of the account's emails (each a complete set); one result each:
    /// `Error::Modified` for an email changed after `unchanged_since`, left as it was.
    pub async fn set_keywords(
        &self,
        account_id: i64,
        changes: Vec<(i64, Vec<String>)>,
        unchanged_since: Option<i64>,
    ) -> Result<Vec<Result<()>>> {
        let mut out = Vec::with_capacity(changes.len());
        for chunk in changes.chunks(1000) {
            let updates = chunk
                .iter()
                .map(|(id, k)| EmailUpdate {
                    email_id: *id,
                    keywords: Some(k.clone()),
                    unchanged_since,
                    ..EmailUpdate::default()
                })
                .collect();
            out.extend(self.update_emails(account_id, updates).await?);
        }
        Ok(out)
    }
}
