//! A mailbox's members in UID order, for sessions that keep a mailbox open and follow its
//! changes (IMAP's selected state): the members changed after a modseq, the UIDs present, and
//! the UIDs some emails have in a mailbox.

use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::{Result, Store};

/// One message of a mailbox: its UID there, the email, the seq of its last change, and the
/// email's keywords, received time and size.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct Member {
    pub uid: i64,
    pub email_id: i64,
    pub modseq: i64,
    pub keywords: String,
    pub received_at: i64,
    pub size: i64,
    pub blob_id: String,
}

impl Store {
    /// The mailbox's members changed (or added) after `since`, in UID order.
    pub async fn members_since(&self, mailbox_id: i64, since: i64) -> Result<Vec<Member>> {
        let sql = "SELECT x.uid, x.email_id, x.modseq, e.keywords, e.received_at, e.size, e.blob_id FROM mailbox_emails x \
                   JOIN emails e ON e.id = x.email_id \
                   WHERE x.mailbox_id = ? AND x.modseq > ? ORDER BY x.uid";
        let rows = self
            .db
            .query_all_raw(self.stmt(sql, vec![mailbox_id.into(), since.into()]))
            .await?;
        rows.iter()
            .map(|r| Ok(Member::from_query_result(r, "")?))
            .collect()
    }

    /// Every UID of the mailbox, ascending.
    pub async fn member_uids(&self, mailbox_id: i64) -> Result<Vec<u32>> {
        let sql = "SELECT uid FROM mailbox_emails WHERE mailbox_id = ? ORDER BY uid";
        let rows = self
            .db
            .query_all_raw(self.stmt(sql, vec![mailbox_id.into()]))
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get_by_index::<i64>(0)? as u32))
            .collect()
    }

    /// `(email id, uid)` of those of `email_ids` that are in the mailbox.
    pub async fn member_uids_of(
        &self,
        mailbox_id: i64,
        email_ids: &[i64],
    ) -> Result<Vec<(i64, u32)>> {
        let mut out = Vec::with_capacity(email_ids.len());
        for chunk in email_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT email_id, uid FROM mailbox_emails WHERE mailbox_id = ? AND email_id IN ({marks})"
            );
            let mut values: Vec<Value> = vec![mailbox_id.into()];
            values.extend(chunk.iter().map(|&i| Value::from(i)));
            for r in self.db.query_all_raw(self.stmt(&sql, values)).await? {
                out.push((
                    r.try_get_by_index::<i64>(0)?,
                    r.try_get_by_index::<i64>(1)? as u32,
                ));
            }
        }
        Ok(out)
    }

    /// `(email id, modseq)` of the account's emails among `ids`.
    pub async fn email_modseqs(&self, account_id: i64, ids: &[i64]) -> Result<Vec<(i64, i64)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql =
                format!("SELECT id, modseq FROM emails WHERE account_id = ? AND id IN ({marks})");
            let mut values: Vec<Value> = vec![account_id.into()];
            values.extend(chunk.iter().map(|&i| Value::from(i)));
            for r in self.db.query_all_raw(self.stmt(&sql, values)).await? {
                out.push((r.try_get_by_index::<i64>(0)?, r.try_get_by_index::<i64>(1)?));
            }
        }
        Ok(out)
    }

    /// The total size of the mailbox's messages, in octets.
    pub async fn member_size(&self, mailbox_id: i64) -> Result<u64> {
        let sql = "SELECT CAST(COALESCE(SUM(e.size), 0) AS BIGINT) FROM mailbox_emails x \
                   JOIN emails e ON e.id = x.email_id WHERE x.mailbox_id = ?";
        let n: i64 = self
            .db
            .query_one_raw(self.stmt(sql, vec![mailbox_id.into()]))
            .await?
            .map(|r| r.try_get_by_index(0))
            .transpose()?
            .unwrap_or(0);
        Ok(n as u64)
    }
}
