//! Stored MTA-STS policies of the domains mail is sent to (the outbound queue keeps them in
//! memory too; this makes them outlive a restart).

use sea_orm::{ConnectionTrait, FromQueryResult};

use crate::{Result, Store, now};

#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct MtaStsRow {
    pub domain: String,
    pub policy_id: String,
    /// `enforce`, `testing` or `none`.
    pub mode: String,
    /// MX patterns, one per line.
    pub mx: String,
    pub expires_at: i64,
}

impl Store {
    /// The domain's policy, unless it has expired.
    pub async fn mta_sts_get(&self, domain: &str) -> Result<Option<MtaStsRow>> {
        Ok(MtaStsRow::find_by_statement(self.stmt(
            "SELECT domain, policy_id, mode, mx, expires_at FROM mta_sts_policies \
             WHERE domain = ? AND expires_at > ?",
            vec![domain.into(), now().into()],
        ))
        .one(&self.db)
        .await?)
    }

    /// Stores (or replaces) the domain's policy.
    pub async fn mta_sts_put(&self, row: &MtaStsRow) -> Result<()> {
        self.db
            .execute_raw(self.stmt(
                "INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, expires_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (domain) DO UPDATE SET \
                 policy_id = excluded.policy_id, mode = excluded.mode, mx = excluded.mx, \
                 expires_at = excluded.expires_at",
                vec![
                    row.domain.clone().into(),
                    row.policy_id.clone().into(),
                    row.mode.clone().into(),
                    row.mx.clone().into(),
                    row.expires_at.into(),
                ],
            ))
            .await?;
        Ok(())
    }
}
