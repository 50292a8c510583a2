//! Mailboxes and their contents.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::{email, mailbox, mailbox_email};
use crate::model::{Mailbox, MailboxEntry};
use crate::{BlobId, Result, Store, StoreError};

impl From<mailbox::Model> for Mailbox {
    fn from(m: mailbox::Model) -> Mailbox {
        Mailbox {
            id: m.id,
            account_id: m.account_id,
            parent_id: m.parent_id,
            name: m.name,
            role: m.role,
            sort_order: m.sort_order,
            uid_validity: m.uid_validity as u32,
            uid_next: m.uid_next as u32,
            subscribed: m.subscribed,
        }
    }
}

impl Store {
    pub async fn mailbox_list(&self, account_id: i64) -> Result<Vec<Mailbox>> {
        Ok(mailbox::Entity::find()
            .filter(mailbox::Column::AccountId.eq(account_id))
            .order_by_asc(mailbox::Column::SortOrder)
            .order_by_asc(mailbox::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    pub async fn mailbox_by_role(&self, account_id: i64, role: &str) -> Result<Option<Mailbox>> {
        Ok(mailbox::Entity::find()
            .filter(mailbox::Column::AccountId.eq(account_id))
            .filter(mailbox::Column::Role.eq(role))
            .one(&self.db)
            .await?
            .map(Into::into))
    }

    /// Number of messages in a mailbox.
    /// IMAP \Recent: the UID from which the mailbox's messages were shown to no session.
    pub async fn mailbox_recent_mark(&self, mailbox_id: i64) -> Result<u32> {
        let row = mailbox::Entity::find_by_id(mailbox_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox_id}")))?;
        Ok(row.recent_uid.clamp(0, u32::MAX as i64) as u32)
    }

    /// Claims the UIDs from the mailbox's mark up to `upto` (exclusive) as recent to the
    /// caller: moves the mark, and returns where it was when it moved. A compare-and-set, so
    /// of two processes claiming at once only one gets a UID.
    pub async fn mailbox_claim_recent(&self, mailbox_id: i64, upto: u32) -> Result<Option<u32>> {
        use sea_orm::sea_query::{Expr, ExprTrait};
        for _ in 0..8 {
            let mark = self.mailbox_recent_mark(mailbox_id).await?;
            if mark >= upto {
                return Ok(None);
            }
            let done = mailbox::Entity::update_many()
                .col_expr(mailbox::Column::RecentUid, Expr::value(upto as i64))
                .filter(mailbox::Column::Id.eq(mailbox_id))
                .filter(Expr::col(mailbox::Column::RecentUid).eq(mark as i64))
                .exec(&self.db)
                .await?;
            if done.rows_affected == 1 {
                return Ok(Some(mark));
            }
        }
        // Claimed by others all along: nothing is this caller's.
        Ok(None)
    }

    pub async fn mailbox_count(&self, mailbox_id: i64) -> Result<u64> {
        Ok(mailbox_email::Entity::find()
            .filter(mailbox_email::Column::MailboxId.eq(mailbox_id))
            .count(&self.db)
            .await?)
    }

    /// Up to `limit` messages of a mailbox with a UID above `after_uid`, in UID order: a page
    /// of a walk that holds one page in memory, whatever the mailbox size.
    pub async fn mailbox_entries(
        &self,
        mailbox_id: i64,
        after_uid: u32,
        limit: u64,
    ) -> Result<Vec<MailboxEntry>> {
        let rows = mailbox_email::Entity::find()
            .filter(mailbox_email::Column::MailboxId.eq(mailbox_id))
            .filter(mailbox_email::Column::Uid.gt(after_uid as i64))
            .order_by_asc(mailbox_email::Column::Uid)
            .limit(limit)
            .all(&self.db)
            .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.email_id).collect();
        let emails: std::collections::HashMap<i64, email::Model> = email::Entity::find()
            .filter(email::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        rows.into_iter()
            .map(|r| {
                let e = emails
                    .get(&r.email_id)
                    .ok_or_else(|| StoreError::Corrupt(format!("email {} missing", r.email_id)))?;
                Ok(MailboxEntry {
                    uid: r.uid as u32,
                    email_id: r.email_id,
                    blob_id: BlobId::parse(&e.blob_id)
                        .ok_or_else(|| StoreError::Corrupt(format!("blob id of email {}", e.id)))?,
                    received_at: e.received_at,
                    size: e.size,
                    keywords: e.keywords.clone(),
                    modseq: r.modseq,
                })
            })
            .collect()
    }
}
