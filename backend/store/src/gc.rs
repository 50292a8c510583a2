//! Garbage collection's database side: which blobs rows still name, message facts no email
//! uses any more, and uploads past their time. The procedure is `mailroom_core::gc`.

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, Value};

use crate::multi::Multi;
use crate::{Result, Store};

/// Blob ids checked against the tables per statement (three placeholders each).
const CHUNK: usize = 300;

impl Store {
    /// Drops upload records made before `before` (seconds). RFC 8620 §6 lets a server forget
    /// an unused upload after an hour; an email made from one has its own reference.
    pub async fn expire_uploads(&self, before: i64) -> Result<u64> {
        let r = self
            .db
            .execute_raw(self.stmt(
                "DELETE FROM uploads WHERE created_at < ?",
                vec![before.into()],
            ))
            .await?;
        Ok(r.rows_affected())
    }

    /// Deletes message facts (the `messages` row of a blob) that no email uses, a few hundred
    /// per transaction; returns their blob ids.
    ///
    /// On SQLite writers take turns, so a delivery of the same bytes either commits first (and
    /// the row is kept) or inserts the row anew after. On Postgres a delivery that found the
    /// row just before this deleted it fails its foreign key and is retried (SMTP answers
    /// 451, nothing accepted is lost); a delivery that committed first makes this chunk fail
    /// its own foreign key check, and the next collection tries again.
    pub async fn forget_unused_messages(&self) -> Result<Vec<String>> {
        let mut forgotten = Vec::new();
        let mut last = String::new();
        loop {
            let rows = self
                .db
                .query_all_raw(self.stmt(
                    &format!(
                        "SELECT blob_id FROM messages m WHERE blob_id > ? AND NOT EXISTS \
                         (SELECT 1 FROM emails e WHERE e.blob_id = m.blob_id) \
                         ORDER BY blob_id LIMIT {CHUNK}"
                    ),
                    vec![last.clone().into()],
                ))
                .await?;
            let ids = rows
                .iter()
                .map(|r| r.try_get_by_index::<String>(0))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let Some(end) = ids.last() else {
                return Ok(forgotten);
            };
            last = end.clone();
            let sql = format!(
                "DELETE FROM messages WHERE blob_id IN ({}) AND NOT EXISTS \
                 (SELECT 1 FROM emails e WHERE e.blob_id = messages.blob_id)",
                vec!["?"; ids.len()].join(",")
            );
            let values = ids.iter().map(|i| Value::from(i.as_str())).collect();
            // The derived data goes with the facts, in the same transaction (only where
            // the facts did go: a message in use again keeps both).
            let mut m = Multi::new(self.kind);
            m.push_sql(&sql, values);
            m.push_sql(
                &format!(
                    "DELETE FROM derived WHERE blob_id IN ({}) AND NOT EXISTS \
                     (SELECT 1 FROM messages m WHERE m.blob_id = derived.blob_id)",
                    vec!["?"; ids.len()].join(",")
                ),
                ids.iter().map(|i| Value::from(i.as_str())).collect(),
            );
            match self.write_multi(m).await {
                Ok(_) => forgotten.extend(ids),
                Err(e) => tracing::info!(error = %e, "message facts in use again; kept"),
            }
        }
    }

    /// Which of `ids` an email, an upload or a queued message still names.
    pub async fn referenced_blobs(&self, ids: &[String]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(CHUNK) {
            let list = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT blob_id FROM emails WHERE blob_id IN ({list}) \
                 UNION SELECT blob_id FROM uploads WHERE blob_id IN ({list}) \
                 UNION SELECT blob_id FROM queue_messages WHERE blob_id IN ({list})"
            );
            let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 3);
            for _ in 0..3 {
                values.extend(chunk.iter().map(|i| Value::from(i.as_str())));
            }
            for row in self.db.query_all_raw(self.stmt(&sql, values)).await? {
                found.insert(row.try_get_by_index::<String>(0)?);
            }
        }
        Ok(found)
    }
}
