//! Subscribed names that name no mailbox (migration `m0015_subscriptions`): kept as the
//! client gave them, per account. A mailbox's own subscription is its `subscribed` column.

use sea_orm::ConnectionTrait;

use crate::{Result, Store};

impl Store {
    /// The account's subscribed names that name no mailbox, sorted.
    pub async fn subscribed_names(&self, account_id: i64) -> Result<Vec<String>> {
        let rows = self
            .db
            .query_all_raw(self.stmt(
                "SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name",
                vec![account_id.into()],
            ))
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get_by_index::<String>(0).ok())
            .collect())
    }

    /// Adds (`on`) or removes a subscribed name; whether the list changed.
    pub async fn subscribe_name(&self, account_id: i64, name: &str, on: bool) -> Result<bool> {
        let sql = if on {
            "INSERT INTO subscriptions (account_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM subscriptions WHERE account_id = ? AND name = ?"
        };
        let mut m = crate::multi::Multi::new(self.kind);
        m.push_sql(sql, vec![account_id.into(), name.into()]);
        Ok(self.write_multi(m).await? > 0)
    }
}
