//! Stored identities: a default identity's settings (one per address, `is_default`) and
//! the extra identities a user creates. Every change is logged (object type Identity).

use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::model::{ChangeOp, ObjectType};
use crate::{Result, Store, StoreError, now};

#[derive(Clone, Debug, Default, PartialEq, Eq, FromQueryResult)]
pub struct IdentityRow {
    pub id: i64,
    pub account_id: i64,
    pub email: String,
    pub is_default: bool,
    pub name: String,
    /// JSON list of {name, email}, or null.
    pub reply_to: Option<String>,
    pub bcc: Option<String>,
    pub text_signature: String,
    pub html_signature: String,
}

const COLUMNS: &str =
    "id, account_id, email, is_default, name, reply_to, bcc, text_signature, html_signature";

impl Store {
    /// Logs the default identity of `email` as created or destroyed for the account (its
    /// sender addresses changed), storing the identity's row first if it has none: the log
    /// names a default identity by its row id negated, and the row is kept after the
    /// address goes, so the id can still be named as destroyed.
    pub(crate) async fn log_default_identity(
        &self,
        tx: &sea_orm::DatabaseTransaction,
        account_id: i64,
        email: &str,
        op: ChangeOp,
    ) -> Result<()> {
        let existing = tx
            .query_one_raw(self.stmt(
                "SELECT id FROM identities WHERE account_id = ? AND email = ? AND is_default = ?",
                vec![account_id.into(), email.into(), true.into()],
            ))
            .await?
            .map(|r| r.try_get_by_index::<i64>(0))
            .transpose()?;
        let id = match existing {
            Some(id) => id,
            None => tx
                .query_one_raw(self.stmt(
                    "INSERT INTO identities (account_id, email, is_default, created_at, name, reply_to, \
                     bcc, text_signature, html_signature) VALUES (?, ?, ?, ?, '', NULL, NULL, '', '') \
                     RETURNING id",
                    vec![account_id.into(), email.into(), true.into(), now().into()],
                ))
                .await?
                .ok_or_else(|| StoreError::Corrupt("insert returned no row".into()))?
                .try_get_by_index::<i64>(0)?,
        };
        let seq = crate::update::reserve_seqs(tx, account_id, 1).await?;
        crate::update::log_one(tx, account_id, seq, ObjectType::Identity, -id, op).await
    }

    pub async fn identities(&self, account_id: i64) -> Result<Vec<IdentityRow>> {
        Ok(IdentityRow::find_by_statement(self.stmt(
            &format!("SELECT {COLUMNS} FROM identities WHERE account_id = ? ORDER BY id"),
            vec![account_id.into()],
        ))
        .all(&self.db)
        .await?)
    }

    /// Inserts (`row.id` 0) or replaces the settings of one identity; returns the row and
    /// the new state.
    pub async fn identity_save(&self, row: &IdentityRow) -> Result<(IdentityRow, i64)> {
        let tx = self.begin_write().await?;
        let seq = crate::update::reserve_seqs(&tx, row.account_id, 1).await?;
        let values = |first: Vec<Value>| -> Vec<Value> {
            let mut v = first;
            v.extend([
                row.name.clone().into(),
                row.reply_to.clone().into(),
                row.bcc.clone().into(),
                row.text_signature.clone().into(),
                row.html_signature.clone().into(),
            ]);
            v
        };
        let (saved, op) = if row.id == 0 {
            let r = IdentityRow::find_by_statement(self.stmt(
                &format!(
                    "INSERT INTO identities (account_id, email, is_default, created_at, name, reply_to, \
                     bcc, text_signature, html_signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     RETURNING {COLUMNS}"
                ),
                values(vec![
                    row.account_id.into(),
                    row.email.clone().into(),
                    row.is_default.into(),
                    now().into(),
                ]),
            ))
            .one(&*tx)
            .await?
            .ok_or_else(|| StoreError::Corrupt("insert returned no row".into()))?;
            (r, ChangeOp::Created)
        } else {
            let mut v = values(vec![]);
            v.extend([row.id.into(), row.account_id.into()]);
            let r = IdentityRow::find_by_statement(self.stmt(
                &format!(
                    "UPDATE identities SET name = ?, reply_to = ?, bcc = ?, text_signature = ?, \
                     html_signature = ? WHERE id = ? AND account_id = ? RETURNING {COLUMNS}"
                ),
                v,
            ))
            .one(&*tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("identity {}", row.id)))?;
            (r, ChangeOp::Updated)
        };
        // A default identity has its id (derived from the address) before it is ever stored,
        // so storing it is an update, logged under the row's id negated (see the jmap ids).
        let (object, op) = if saved.is_default {
            (-saved.id, ChangeOp::Updated)
        } else {
            (saved.id, op)
        };
        crate::update::log_one(&tx, row.account_id, seq, ObjectType::Identity, object, op).await?;
        tx.commit().await?;
        Ok((saved, seq))
    }

    /// Removes a created (not default) identity; returns the new state, `None` if absent.
    pub async fn identity_remove(&self, account_id: i64, id: i64) -> Result<Option<i64>> {
        let tx = self.begin_write().await?;
        let n = tx
            .execute_raw(self.stmt(
                "DELETE FROM identities WHERE id = ? AND account_id = ? AND is_default = ?",
                vec![id.into(), account_id.into(), false.into()],
            ))
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        let seq = crate::update::reserve_seqs(&tx, account_id, 1).await?;
        crate::update::log_one(
            &tx,
            account_id,
            seq,
            ObjectType::Identity,
            id,
            ChangeOp::Destroyed,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(seq))
    }
}
