//! Stored DKIM keys: a domain's signing keys, added with the domain (or on first use for a
//! domain created before keys existed), listed for signing and for its DNS records.

use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::{Result, Store, now};

#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct DkimKeyRow {
    pub id: i64,
    pub domain_id: i64,
    /// The DNS label under `_domainkey`.
    pub selector: String,
    /// `ed25519` or `rsa` (the `k=` tag).
    pub algorithm: String,
    /// PKCS#8 DER, base64. Never logged.
    pub private_key: String,
    /// The `p=` tag's value.
    pub public_key: String,
    pub created_at: i64,
    pub retire_at: Option<i64>,
}

/// A key to store.
#[derive(Clone, Debug)]
pub struct NewDkimKey {
    pub selector: String,
    pub algorithm: String,
    pub private_key: String,
    pub public_key: String,
}

const COLUMNS: &str =
    "id, domain_id, selector, algorithm, private_key, public_key, created_at, retire_at";

impl Store {
    /// The domain's keys, oldest first.
    pub async fn dkim_keys(&self, domain_id: i64) -> Result<Vec<DkimKeyRow>> {
        self.keys_on(&self.db, domain_id).await
    }

    /// Stores keys for the domain, unless it already has some (then they are returned
    /// unchanged: two processes generating at once keep one set).
    pub async fn dkim_keys_add_if_none(
        &self,
        domain_id: i64,
        keys: &[NewDkimKey],
    ) -> Result<Vec<DkimKeyRow>> {
        let tx = self.begin_write().await?;
        let existing = self.keys_on(&*tx, domain_id).await?;
        if !existing.is_empty() {
            return Ok(existing);
        }
        self.insert_keys(&*tx, domain_id, keys).await?;
        let rows = self.keys_on(&*tx, domain_id).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Adds the new keys and retires every older key at `retire_at` (or earlier, if it was
    /// set so): from now on the new keys sign, the old ones stay published until then.
    pub async fn dkim_rotate(
        &self,
        domain_id: i64,
        keys: &[NewDkimKey],
        retire_at: i64,
    ) -> Result<Vec<DkimKeyRow>> {
        let tx = self.begin_write().await?;
        // Keys retired earlier go no later than the ones retired now.
        tx.execute_raw(self.stmt(
            "UPDATE dkim_keys SET retire_at = ? WHERE domain_id = ? AND (retire_at IS NULL OR retire_at > ?)",
            vec![retire_at.into(), domain_id.into(), retire_at.into()],
        ))
        .await?;
        self.insert_keys(&*tx, domain_id, keys).await?;
        let rows = self.keys_on(&*tx, domain_id).await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn keys_on(&self, db: &impl ConnectionTrait, domain_id: i64) -> Result<Vec<DkimKeyRow>> {
        Ok(DkimKeyRow::find_by_statement(self.stmt(
            &format!("SELECT {COLUMNS} FROM dkim_keys WHERE domain_id = ? ORDER BY id"),
            vec![domain_id.into()],
        ))
        .all(db)
        .await?)
    }

    async fn insert_keys(
        &self,
        tx: &impl ConnectionTrait,
        domain_id: i64,
        keys: &[NewDkimKey],
    ) -> Result<()> {
        for k in keys {
            let values: Vec<Value> = vec![
                domain_id.into(),
                k.selector.clone().into(),
                k.algorithm.clone().into(),
                k.private_key.clone().into(),
                k.public_key.clone().into(),
                now().into(),
            ];
            tx.execute_raw(self.stmt(
                "INSERT INTO dkim_keys (domain_id, selector, algorithm, private_key, public_key, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                values,
            ))
            .await?;
        }
        Ok(())
    }
}
