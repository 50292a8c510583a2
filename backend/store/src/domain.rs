//! Domains, aliases and catch-alls: the tables recipient resolution reads.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use crate::entity::{account, alias, domain};
use crate::model::{Alias, ChangeOp, Domain};
use crate::{Result, Store, StoreError, now};

impl From<domain::Model> for Domain {
    fn from(m: domain::Model) -> Domain {
        Domain {
            id: m.id,
            name: m.name,
            catch_all_account_id: m.catch_all_account_id,
        }
    }
}

impl Store {
    pub async fn domain_add(&self, name: &str) -> Result<Domain> {
        let m = domain::ActiveModel {
            name: Set(name.to_string()),
            catch_all_account_id: Set(None),
            created_at: Set(now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(|e| StoreError::from_insert(e, format!("domain {name}")))?;
        Ok(m.into())
    }

    pub async fn domain_get(&self, name: &str) -> Result<Option<Domain>> {
        Ok(domain::Entity::find()
            .filter(domain::Column::Name.eq(name))
            .one(&self.db)
            .await?
            .map(Into::into))
    }

    pub async fn domain_list(&self) -> Result<Vec<Domain>> {
        Ok(domain::Entity::find()
            .order_by_asc(domain::Column::Name)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Removes a domain that has no accounts left.
    pub async fn domain_remove(&self, name: &str) -> Result<()> {
        let d = self
            .domain_get(name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("domain {name}")))?;
        let users = account::Entity::find()
            .filter(account::Column::DomainId.eq(d.id))
            .count(&self.db)
            .await?;
        if users > 0 {
            return Err(StoreError::Conflict(format!(
                "domain {name} still has {users} user(s); remove them first"
            )));
        }
        domain::Entity::delete_by_id(d.id).exec(&self.db).await?;
        Ok(())
    }

    pub async fn domain_set_catch_all(
        &self,
        domain_id: i64,
        account_id: Option<i64>,
    ) -> Result<()> {
        domain::ActiveModel {
            id: Set(domain_id),
            catch_all_account_id: Set(account_id),
            ..Default::default()
        }
        .update(&self.db)
        .await?;
        Ok(())
    }

    pub async fn alias_add(&self, address: &str, account_id: i64) -> Result<()> {
        // With the alias the account gains a sender address, so a default identity: logged
        // as created in the same transaction (JMAP Identity/changes).
        let tx = self.begin_write().await?;
        alias::ActiveModel {
            address: Set(address.to_string()),
            account_id: Set(account_id),
            ..Default::default()
        }
        .insert(&*tx)
        .await
        .map_err(|e| StoreError::from_insert(e, format!("alias {address}")))?;
        self.log_default_identity(&tx, account_id, address, ChangeOp::Created)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `address → account_id`; true if there was one. The default identity of the
    /// address is logged as destroyed.
    pub async fn alias_remove(&self, address: &str, account_id: i64) -> Result<bool> {
        let tx = self.begin_write().await?;
        let r = alias::Entity::delete_many()
            .filter(alias::Column::Address.eq(address))
            .filter(alias::Column::AccountId.eq(account_id))
            .exec(&*tx)
            .await?;
        if r.rows_affected == 0 {
            return Ok(false);
        }
        self.log_default_identity(&tx, account_id, address, ChangeOp::Destroyed)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The accounts an alias address delivers to.
    pub async fn alias_targets(&self, address: &str) -> Result<Vec<i64>> {
        Ok(alias::Entity::find()
            .filter(alias::Column::Address.eq(address))
            .order_by_asc(alias::Column::AccountId)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| a.account_id)
            .collect())
    }

    /// The alias addresses that deliver to the account.
    pub async fn aliases_of(&self, account_id: i64) -> Result<Vec<String>> {
        Ok(alias::Entity::find()
            .filter(alias::Column::AccountId.eq(account_id))
            .order_by_asc(alias::Column::Address)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| a.address)
            .collect())
    }

    pub async fn alias_list(&self) -> Result<Vec<Alias>> {
        let aliases = alias::Entity::find()
            .order_by_asc(alias::Column::Address)
            .all(&self.db)
            .await?;
        let accounts: std::collections::HashMap<i64, String> = account::Entity::find()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| (a.id, a.address))
            .collect();
        Ok(aliases
            .into_iter()
            .map(|a| Alias {
                target: accounts.get(&a.account_id).cloned().unwrap_or_default(),
                address: a.address,
                account_id: a.account_id,
            })
            .collect())
    }
}
