//! Accounts (the CLI's "users") and their default mailboxes.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::entity::{account, mailbox};
use crate::model::Account;
use crate::{Result, Store, StoreError, now};

impl From<account::Model> for Account {
    fn from(m: account::Model) -> Account {
        Account {
            id: m.id,
            address: m.address,
            domain_id: m.domain_id,
            password_hash: m.password_hash,
            change_seq: m.change_seq,
            is_admin: m.is_admin,
            quota_bytes: m.quota_bytes,
        }
    }
}

/// A mailbox an account starts with: its name and special-use role.
pub struct DefaultMailbox<'a> {
    pub name: &'a str,
    pub role: Option<&'a str>,
}

impl Store {
    /// Creates an account and its default mailboxes in one transaction.
    pub async fn account_create(
        &self,
        address: &str,
        domain_id: i64,
        password_hash: &str,
        mailboxes: &[DefaultMailbox<'_>],
    ) -> Result<Account> {
        let tx = self.begin_write().await?;
        let acc = account::ActiveModel {
            address: Set(address.to_string()),
            domain_id: Set(domain_id),
            password_hash: Set(password_hash.to_string()),
            change_seq: Set(0),
            created_at: Set(now()),
            is_admin: Set(false),
            quota_bytes: Set(None),
            used_bytes: Set(0),
            ..Default::default()
        }
        .insert(&*tx)
        .await
        .map_err(|e| StoreError::from_insert(e, format!("user {address}")))?;
        let mut validity = next_uid_validity(&*tx).await?;
        for (i, mb) in mailboxes.iter().enumerate() {
            mailbox::ActiveModel {
                account_id: Set(acc.id),
                parent_id: Set(None),
                name: Set(mb.name.to_string()),
                role: Set(mb.role.map(str::to_string)),
                sort_order: Set(i as i32),
                uid_validity: Set(validity),
                uid_next: Set(1),
                subscribed: Set(true),
                created_at: Set(now()),
                ..Default::default()
            }
            .insert(&*tx)
            .await?;
            validity += 1;
        }
        tx.commit().await?;
        Ok(acc.into())
    }

    pub async fn account_by_address(&self, address: &str) -> Result<Option<Account>> {
        Ok(account::Entity::find()
            .filter(account::Column::Address.eq(address))
            .one(&self.db)
            .await?
            .map(Into::into))
    }

    pub async fn account_by_id(&self, id: i64) -> Result<Option<Account>> {
        Ok(account::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(Into::into))
    }

    pub async fn account_list(&self) -> Result<Vec<Account>> {
        Ok(account::Entity::find()
            .order_by_asc(account::Column::Address)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Every account with the bytes its emails use, in one read.
    pub async fn account_list_with_usage(&self) -> Result<Vec<(Account, i64)>> {
        Ok(account::Entity::find()
            .order_by_asc(account::Column::Address)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                let used = m.used_bytes;
                (m.into(), used)
            })
            .collect())
    }

    pub async fn account_set_password(&self, id: i64, password_hash: &str) -> Result<()> {
        account::ActiveModel {
            id: Set(id),
            password_hash: Set(password_hash.to_string()),
            ..Default::default()
        }
        .update(&self.db)
        .await?;
        Ok(())
    }

    /// Sets the account's storage limit in bytes (`None`: unlimited).
    pub async fn account_set_quota(&self, id: i64, quota_bytes: Option<i64>) -> Result<()> {
        account::ActiveModel {
            id: Set(id),
            quota_bytes: Set(quota_bytes),
            ..Default::default()
        }
        .update(&self.db)
        .await?;
        Ok(())
    }

    /// The bytes the account's emails use, and its limit.
    pub async fn account_usage(&self, id: i64) -> Result<(i64, Option<i64>)> {
        let row = account::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("account {id}")))?;
        Ok((row.used_bytes, row.quota_bytes))
    }

    /// Sets the account's used bytes to the sum of its emails' sizes.
    pub async fn account_recount_usage(&self, id: i64) -> Result<()> {
        let sql = "UPDATE accounts SET used_bytes = \
                   (SELECT COALESCE(SUM(size), 0) FROM emails WHERE emails.account_id = accounts.id) \
                   WHERE id = $1";
        let sql = match self.kind {
            crate::DbKind::Sqlite => sql.replace("$1", "?"),
            crate::DbKind::Postgres => sql.to_string(),
        };
        self.db
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                [id.into()],
            ))
            .await?;
        Ok(())
    }

    /// Whether any of the accounts has a limit its emails reach.
    pub async fn accounts_full(&self, ids: &[i64]) -> Result<bool> {
        let full = account::Entity::find()
            .filter(account::Column::Id.is_in(ids.iter().copied()))
            .filter(account::Column::QuotaBytes.is_not_null())
            .filter(
                Expr::col(account::Column::UsedBytes).gte(Expr::col(account::Column::QuotaBytes)),
            )
            .one(&self.db)
            .await?;
        Ok(full.is_some())
    }

    /// Removes the account with its mailboxes, emails and aliases (cascading foreign keys),
    /// and clears it as any domain's catch-all. Message blobs shared with other accounts stay.
    pub async fn account_remove(&self, id: i64) -> Result<()> {
        let tx = self.begin_write().await?;
        tx.execute(
            Query::update()
                .table(crate::entity::domain::Entity)
                .value(
                    crate::entity::domain::Column::CatchAllAccountId,
                    Option::<i64>::None,
                )
                .and_where(Expr::col(crate::entity::domain::Column::CatchAllAccountId).eq(id)),
        )
        .await?;
        account::Entity::delete_by_id(id).exec(&*tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// UIDVALIDITY for a new mailbox: the current time in seconds, or one more than any mailbox
/// has, so a mailbox deleted and re-created (even within a second) never repeats a value a
/// client may have cached (RFC 9051 §2.3.1.1).
pub(crate) async fn next_uid_validity(db: &impl ConnectionTrait) -> Result<i64> {
    let max: Option<i64> = mailbox::Entity::find()
        .select_only()
        .column_as(mailbox::Column::UidValidity.max(), "m")
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    Ok(Ord::max(now(), max.unwrap_or(0) + 1) & 0xFFFF_FFFF)
}

/// Adds `delta` (negative when emails go) to the account's used bytes, inside the
/// transaction that adds or deletes the emails.
pub(crate) async fn add_used_bytes(
    tx: &impl ConnectionTrait,
    account_id: i64,
    delta: i64,
) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    tx.execute(
        Query::update()
            .table(account::Entity)
            .value(
                account::Column::UsedBytes,
                Expr::col(account::Column::UsedBytes).add(delta),
            )
            .and_where(Expr::col(account::Column::Id).eq(account_id)),
    )
    .await?;
    Ok(())
}
