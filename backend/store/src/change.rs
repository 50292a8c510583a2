//! Reading the per-account change log.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::change;
use crate::model::{Change, ChangeOp, ObjectType};
use crate::{Result, Store, StoreError};

impl Store {
    /// Up to `limit` changes of an account after sequence number `since`, oldest first.
    pub async fn changes_since(
        &self,
        account_id: i64,
        since: i64,
        limit: u64,
    ) -> Result<Vec<Change>> {
        self.changes_since_filtered(account_id, since, limit, None)
            .await
    }
}

impl Store {
    /// Changes of one object type after `since`, oldest first, up to `limit` rows.
    pub async fn changes_of_type(
        &self,
        account_id: i64,
        object_type: ObjectType,
        since: i64,
        limit: u64,
    ) -> Result<Vec<Change>> {
        self.changes_since_filtered(account_id, since, limit, Some(object_type))
            .await
    }

    async fn changes_since_filtered(
        &self,
        account_id: i64,
        since: i64,
        limit: u64,
        object_type: Option<ObjectType>,
    ) -> Result<Vec<Change>> {
        let mut q = change::Entity::find()
            .filter(change::Column::AccountId.eq(account_id))
            .filter(change::Column::Seq.gt(since));
        if let Some(t) = object_type {
            q = q.filter(change::Column::ObjectType.eq(t as i16));
        }
        q.order_by_asc(change::Column::Seq)
            .order_by_asc(change::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| {
                Ok(Change {
                    seq: c.seq,
                    object_type: ObjectType::from_i16(c.object_type)
                        .ok_or_else(|| StoreError::Corrupt(format!("change {} type", c.id)))?,
                    object_id: c.object_id,
                    op: ChangeOp::from_i16(c.op)
                        .ok_or_else(|| StoreError::Corrupt(format!("change {} op", c.id)))?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Whether the mailbox was logged as changed (members, their keywords, or the mailbox
    /// itself) after `since`.
    pub async fn mailbox_changed_since(
        &self,
        account_id: i64,
        mailbox_id: i64,
        since: i64,
    ) -> Result<bool> {
        let sql = "SELECT 1 FROM changes WHERE account_id = ? AND seq > ? AND object_type = ? \
                   AND object_id = ? LIMIT 1";
        let row = sea_orm::ConnectionTrait::query_one_raw(
            &self.db,
            self.stmt(
                sql,
                vec![
                    account_id.into(),
                    since.into(),
                    (crate::model::ObjectType::Mailbox as i16).into(),
                    mailbox_id.into(),
                ],
            ),
        )
        .await?;
        Ok(row.is_some())
    }
}
